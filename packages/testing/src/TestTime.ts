/**
 * Helpers for tests on `TestClock`: wait for a connection status, and move the clock forward
 * until an effect completes.
 *
 * @example
 * ```ts
 * import { Connection, Reconnect } from "@redial/core"
 * import { TestConnector, TestTime } from "@redial/testing"
 * import { it } from "@effect/vitest"
 * import { Effect } from "effect"
 *
 * it.scoped("connects after two failures", () =>
 *   Effect.gen(function*() {
 *     const connector = yield* TestConnector.make({ script: TestConnector.succeedAfter(2) })
 *     const conn = yield* Connection.make({ acquire: connector.acquire, policy: Reconnect.fixed("1 second") })
 *     // advances TestClock one second at a time until `await` succeeds
 *     yield* TestTime.advanceUntilDone(conn.await(), { step: "1 second" })
 *   }))
 * ```
 *
 * @since 0.1.0
 */
import type { Connection } from "@redial/core"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"

/**
 * Waits until the connection's status satisfies `predicate` (or has the given tag), and returns
 * that status. Sees the current status first, then every transition.
 *
 * @since 0.1.0
 * @category waiting
 */
export const awaitStatus = <T extends Connection.Status["_tag"]>(
  connection: { readonly changes: Stream.Stream<Connection.Status> },
  predicate: T | ((status: Connection.Status) => boolean)
): Effect.Effect<Connection.Status> =>
  connection.changes.pipe(
    Stream.filter(typeof predicate === "function" ? predicate : (status) => status._tag === predicate),
    Stream.runHead,
    Effect.flatMap(Option.match({
      onNone: () => Effect.dieMessage(`the connection closed before reaching the awaited status`),
      onSome: Effect.succeed
    }))
  )

/**
 * Lets every other ready fiber run until it waits on something: yields `times` times (default
 * 50). Use after forking work on `TestClock`, before asserting on what it did.
 *
 * @since 0.1.0
 * @category waiting
 */
export const settle = (times = 50): Effect.Effect<void> => Effect.repeatN(Effect.yieldNow(), times - 1)

/**
 * Runs `effect` in a fiber and moves `TestClock` forward by `step` (default 1 second) until it
 * completes, up to `limit` of virtual time (default 1 hour); returns its result. Dies if the
 * limit passes first.
 *
 * @since 0.1.0
 * @category time
 */
export const advanceUntilDone = <A, E, R>(
  effect: Effect.Effect<A, E, R>,
  options: { readonly step?: Duration.DurationInput; readonly limit?: Duration.DurationInput } = {}
): Effect.Effect<A, E, R> =>
  Effect.gen(function*() {
    const step = Duration.decode(options.step ?? "1 second")
    const limit = Duration.toMillis(Duration.decode(options.limit ?? "1 hour"))
    const fiber = yield* Effect.fork(effect)
    let elapsed = 0
    while (true) {
      yield* settle()
      const exit = yield* Fiber.poll(fiber)
      if (Option.isSome(exit)) {
        return yield* Exit.matchEffect(exit.value, {
          onFailure: Effect.failCause,
          onSuccess: Effect.succeed
        })
      }
      if (elapsed >= limit) {
        yield* Fiber.interrupt(fiber)
        return yield* Effect.dieMessage(`advanceUntilDone: not done after ${Duration.format(Duration.millis(limit))}`)
      }
      yield* TestClock.adjust(step)
      elapsed += Duration.toMillis(step)
    }
  })
