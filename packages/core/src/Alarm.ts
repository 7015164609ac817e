/**
 * One timer fiber that sleeps until the earliest time anyone asked for: the shape of every
 * "expire what is due, then sleep until the next deadline" loop (the waiters of a connection, a
 * pool's checkout deadlines and idle pings).
 *
 * `make(onFire)` forks the fiber in the current `Scope`. `wakeBy(at)` makes sure `onFire` runs no
 * later than `at`; `onFire(now)` does what is due and returns the next time it wants to run. No
 * wake-up is missed: a `wakeBy` made while `onFire` runs, or between its return and the start of
 * the next sleep, is honoured. Time is read from and slept on the `Clock` of the fiber that made
 * the alarm, so `TestClock` drives it.
 *
 * @example
 * ```ts
 * import { Alarm } from "@redial/core"
 * import { Clock, Effect } from "effect"
 *
 * const program = Effect.scoped(Effect.gen(function*() {
 *   const deadlines: Array<number> = []
 *   const alarm = yield* Alarm.make((now) =>
 *     Effect.sync(() => {
 *       while (deadlines.length > 0 && deadlines[0]! <= now) deadlines.shift()
 *       return deadlines[0] ?? Infinity
 *     })
 *   )
 *   // A deadline one second from now: the alarm fires then, or earlier if asked.
 *   const at = (yield* Clock.currentTimeMillis) + 1000
 *   deadlines.push(at)
 *   alarm.wakeBy(at)
 * }))
 * Effect.runPromise(program)
 * ```
 *
 * @since 0.1.0
 */
import type * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as internal from "./internal/alarm.js"

/**
 * A handle on an alarm made by {@link make}.
 *
 * @since 0.1.0
 * @category models
 */
export interface Alarm {
  /**
   * Ensures the alarm fires no later than `at` (milliseconds on the `Clock` the alarm was made
   * with; a time already past fires it at once). Synchronous and safe from any fiber or
   * callback, also while `onFire` runs. When `at` is not earlier than the wake already pending
   * it only compares two numbers, so it may be called on every operation of a hot path.
   */
  readonly wakeBy: (at: number) => void
}

/**
 * Makes an alarm: one fiber, forked in the current `Scope` and interrupted when it closes, runs
 * `onFire(now)` whenever the earliest requested time arrives. `onFire` returns the next time it
 * wants to run (`Infinity`: none, until the next `wakeBy`); a `wakeBy` for an earlier time made
 * while it runs still wins. Between wake-ups the fiber is suspended: it sleeps on the `Clock`
 * until the earliest pending time (through a short-lived child fiber that an earlier `wakeBy`
 * cancels), or waits for a `wakeBy` when none is pending; it never polls. A defect in `onFire`
 * is logged and the alarm stays usable.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: (onFire: (now: number) => Effect.Effect<number>) => Effect.Effect<Alarm, never, Scope.Scope> =
  internal.make
