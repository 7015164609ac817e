/**
 * A scripted `acquire` for testing code built on `Connection`: every connect attempt takes the
 * next step of a script (succeed, fail, hang, wait then…, die), the connector counts attempts and
 * records the `Clock` time of each, counts the connections it handed out and released, and can
 * make the live connection "lost" on command. On `TestClock`, reconnect logic is then tested
 * without a server and without waiting.
 *
 * @example
 * ```ts
 * import { Connection, Reconnect } from "@redial/core"
 * import { TestConnector } from "@redial/testing"
 * import { it, expect } from "@effect/vitest"
 * import { Effect, TestClock } from "effect"
 *
 * it.scoped("retries with the policy's delays", () =>
 *   Effect.gen(function*() {
 *     const connector = yield* TestConnector.make({ script: TestConnector.succeedAfter(2) })
 *     const conn = yield* Connection.make({
 *       acquire: connector.acquire,
 *       lost: connector.lost,
 *       policy: Reconnect.fixed("1 second")
 *     })
 *     yield* TestClock.adjust("2 seconds")
 *     yield* conn.get
 *     expect(yield* connector.attemptTimes).toEqual([0, 1000, 2000])
 *   }))
 * ```
 *
 * @since 0.1.0
 */
import { RedialError } from "@redial/core"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as internal from "./internal/testConnector.js"

/**
 * The connection a `TestConnector` hands out: a fresh `id` for every successful attempt, the
 * number of the attempt (counted from 1 over the connector's life) and its `Clock` time.
 *
 * @since 0.1.0
 * @category models
 */
export interface TestConnection {
  readonly id: number
  readonly attempt: number
  readonly connectedAt: number
}

/**
 * The default error of a failing step. It is a redial error (`isRedialError`), as the errors of
 * a real connector built on redial would be.
 *
 * @since 0.1.0
 * @category errors
 */
export class TestConnectError extends RedialError("TestConnectError")<{ readonly reason: string }> {
  override get message(): string {
    return `test connect failed: ${this.reason}`
  }
}

/**
 * What one connect attempt does.
 *
 * @since 0.1.0
 * @category models
 */
export type Step<E = TestConnectError> =
  | { readonly _tag: "Succeed" }
  | { readonly _tag: "Fail"; readonly error: E }
  | { readonly _tag: "Hang" }
  | { readonly _tag: "Delay"; readonly duration: Duration.DurationInput; readonly then: Step<E> }
  | { readonly _tag: "Die"; readonly defect: unknown }

/**
 * A scripted connector.
 *
 * @since 0.1.0
 * @category models
 */
export interface TestConnector<E = TestConnectError> {
  /** One connect attempt: runs the next step of the script (or `otherwise` when it is empty). */
  readonly acquire: Effect.Effect<TestConnection, E, Scope.Scope>
  /** For `Connection`'s `lost` option: completes when `lose` is called for this connection. */
  readonly lost: (connection: TestConnection) => Effect.Effect<unknown>
  /** Replaces the remaining script. */
  readonly script: (...steps: ReadonlyArray<Step<E>>) => Effect.Effect<void>
  /** Sets the step used once the script is empty (initially `succeed`). */
  readonly otherwise: (step: Step<E>) => Effect.Effect<void>
  /**
   * Makes the live connection lost, as a dead socket would; `false` when none is live. It returns
   * before the `Connection` has noticed (it sees the loss on its own fiber, as with a real socket):
   * wait with `awaitNext(previous)`, `TestTime.awaitStatus` or `TestTime.settle()`.
   */
  readonly lose: (cause?: unknown) => Effect.Effect<boolean>
  /** How many attempts have started. */
  readonly attempts: Effect.Effect<number>
  /** The `Clock` time (ms) at which each attempt started. */
  readonly attemptTimes: Effect.Effect<ReadonlyArray<number>>
  /** How many connections were handed out. */
  readonly acquired: Effect.Effect<number>
  /** How many connections were released (their scope closed). */
  readonly released: Effect.Effect<number>
  /** How many times one connection was released (exactly 1 once dropped). */
  readonly releaseCount: (connection: TestConnection) => Effect.Effect<number>
  /** The live connection, if any. */
  readonly live: Effect.Effect<Option.Option<TestConnection>>
}

/**
 * Makes a connector with a script of steps, used in order, then `otherwise` (default: succeed).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: <E = TestConnectError>(
  options?: { readonly script?: ReadonlyArray<Step<E>>; readonly otherwise?: Step<E> }
) => Effect.Effect<TestConnector<E>> = internal.make

/**
 * A step that connects.
 *
 * @since 0.1.0
 * @category steps
 */
export const succeed: Step<never> = { _tag: "Succeed" }

/**
 * A step that fails with `error` (default: a `TestConnectError`).
 *
 * @since 0.1.0
 * @category steps
 */
export const fail: {
  (): Step<TestConnectError>
  <E>(error: E): Step<E>
} = (error?: unknown): Step<never> =>
  ({ _tag: "Fail", error: error ?? new TestConnectError({ reason: "scripted failure" }) }) as Step<never>

/**
 * A step that never completes: the connect timeout is the only way out.
 *
 * @since 0.1.0
 * @category steps
 */
export const hang: Step<never> = { _tag: "Hang" }

/**
 * A step that waits `duration` (on `Clock`) and then does `then`.
 *
 * @since 0.1.0
 * @category steps
 */
export const delay = <E>(duration: Duration.DurationInput, then: Step<E>): Step<E> => ({
  _tag: "Delay",
  duration,
  then
})

/**
 * A step that dies with `defect` (a bug in a driver).
 *
 * @since 0.1.0
 * @category steps
 */
export const die = (defect: unknown): Step<never> => ({ _tag: "Die", defect })

/**
 * A script of `failures` failed steps followed by a success.
 *
 * @since 0.1.0
 * @category steps
 */
export const succeedAfter: {
  (failures: number): ReadonlyArray<Step<TestConnectError>>
  <E>(failures: number, error: E): ReadonlyArray<Step<E>>
} = (failures: number, error?: unknown): ReadonlyArray<Step<never>> => [
  ...Array.from({ length: failures }, () => (fail as (error: unknown) => Step<never>)(error)),
  succeed
]
