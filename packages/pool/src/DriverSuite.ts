/**
 * The integration cases every `Driver` must pass, written once and framework-agnostic: each case
 * is a scoped `Effect` that makes its own pool on the driver and fails with a
 * {@link DriverSuiteFailure} saying what went wrong. Run them with any test runner, against a
 * fake database (`TestDriver`) or a real server.
 *
 * The cases: connect and ping; a query; transactions that commit, roll back by `rollback(reason)`
 * and roll back on a failed statement (the status idle after each); a nested transaction after an
 * inner failure; prepare / execute / close; cursors read in full and stopped early (nothing left
 * open); a connection broken from outside mid-call (the caller fails typed, the next run succeeds
 * on a new connection, the broken one is never used again); status reads; a raw `BEGIN` left open,
 * caught at check-in; a defect in a callback; a call interrupted mid-call.
 *
 * The suite wraps the harness's driver to watch every callback: once a connection was broken, a
 * callback died or was interrupted on it, any later callback on it but `disconnect` fails the case.
 *
 * @example
 * ```ts
 * import { it } from "@effect/vitest"
 * import { Reconnect } from "@redial/core"
 * import { DriverSuite, TestDriver } from "@redial/pool"
 * import { TestTime } from "@redial/testing"
 * import { Effect } from "effect"
 *
 * const harness = Effect.map(TestDriver.make(), (driver): DriverSuite.Harness<TestDriver.TestTypes> => ({
 *   driver,
 *   options: { policy: Reconnect.fixed("10 millis") },
 *   select: { query: "select 1", check: (result) => result.query === "select 1" },
 *   rows: (n) => `rows:${n}`,
 *   begin: "begin",
 *   failing: "fail",
 *   slow: "sleep:60000",
 *   breakConnection: (connection) => driver.kill(connection.id),
 *   openCursors: () => driver.openCursors,
 *   // `it.scoped` runs on TestClock: move it while a case waits for a slot to reconnect
 *   eventually: (effect) => TestTime.advanceUntilDone(effect, { step: "10 millis", limit: "10 seconds" })
 * }))
 *
 * for (const name of DriverSuite.names) {
 *   it.scoped(name, () => Effect.flatMap(harness, (h) => DriverSuite.run(h, name)))
 * }
 * ```
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"
import type * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import type * as Driver from "./Driver.js"
import * as internal from "./internal/driverSuite.js"
import type * as Pool from "./Pool.js"

/**
 * What the suite needs to know about a driver and its database.
 *
 * @since 0.1.0
 * @category models
 */
export interface Harness<T extends Driver.Types> {
  /** The driver under test. */
  readonly driver: Driver.Driver<T>
  /** Pool options for every case (its config, policy…); `size` and `name` are the suite's. */
  readonly options?: Pool.Options<T>
  /** A trivial query (`select 1`) and a check of its result. */
  readonly select: {
    readonly query: T["query"]
    readonly params?: ReadonlyArray<unknown>
    readonly check: (result: T["result"]) => boolean
  }
  /** A query that returns `n` rows, for cursors. */
  readonly rows: (n: number) => T["query"]
  /** A raw `BEGIN`, run with `query`: it opens a transaction behind the pool's back. */
  readonly begin: T["query"]
  /** A statement that fails with a driver error (not a `Disconnect`), e.g. a syntax error. */
  readonly failing: T["query"]
  /** A query that runs long enough to be broken or interrupted while in flight (`pg_sleep(60)`). */
  readonly slow: T["query"]
  /** Breaks a connection from outside, as a server or network would (PostgreSQL: `pg_terminate_backend`). */
  readonly breakConnection: (connection: T["connection"]) => Effect.Effect<void, unknown>
  /** How many cursors are open on the checkout's connection (PostgreSQL: `pg_cursors`); optional. */
  readonly openCursors?: (conn: Pool.Checkout<T>) => Effect.Effect<number, unknown>
  /** Lets work in flight reach the database before the suite breaks or interrupts it; default: 50 yields. */
  readonly settle?: Effect.Effect<void>
  /**
   * Runs an effect that may wait for a slot to reconnect; default: as it is. On `TestClock`, move
   * the clock until it completes (`TestTime.advanceUntilDone`).
   */
  readonly eventually?: <A, E>(effect: Effect.Effect<A, E>) => Effect.Effect<A, E>
}

/**
 * One case: its name, and a scoped effect that fails with a {@link DriverSuiteFailure} (or the
 * error of an unexpected failure) when the driver does not pass it.
 *
 * @since 0.1.0
 * @category models
 */
export interface Case {
  readonly name: string
  readonly run: Effect.Effect<void, unknown, Scope.Scope>
}

/**
 * A case did not pass: `message` says what was expected and what happened.
 *
 * @since 0.1.0
 * @category errors
 */
export class DriverSuiteFailure extends Data.TaggedError("DriverSuiteFailure")<{
  readonly case: string
  readonly reason: string
}> {
  override get message(): string {
    return `driver suite, "${this.case}": ${this.reason}`
  }
}

/**
 * The names of the cases, in order (the same for every harness).
 *
 * @since 0.1.0
 * @category cases
 */
export const names: ReadonlyArray<string> = internal.names

/**
 * Every case, for a harness.
 *
 * @since 0.1.0
 * @category cases
 */
export const cases: <T extends Driver.Types>(harness: Harness<T>) => ReadonlyArray<Case> = internal.cases

/**
 * Runs the case named `name` (one of {@link names}) for a harness; dies for an unknown name.
 *
 * @since 0.1.0
 * @category cases
 */
export const run: <T extends Driver.Types>(
  harness: Harness<T>,
  name: string
) => Effect.Effect<void, unknown, Scope.Scope> = internal.run
