/** @internal */
import * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Fiber from "effect/Fiber"
import * as FiberId from "effect/FiberId"
import type * as Scope from "effect/Scope"
import type * as Alarm from "../Alarm.js"

/** What the alarm fiber does next, decided in one synchronous step. */
type Next =
  | { readonly _tag: "Fire"; readonly now: number }
  | { readonly _tag: "Sleep"; readonly signal: Deferred.Deferred<void>; readonly millis: number }

/** @internal */
export const make = (
  onFire: (now: number) => Effect.Effect<number>
): Effect.Effect<Alarm.Alarm, never, Scope.Scope> =>
  Effect.gen(function*() {
    const clock = yield* Effect.clock
    // The earliest time asked for (by `wakeBy` or `onFire`'s answer) and not yet served.
    let pending = Infinity
    // Set while the fiber sleeps: completing it wakes the fiber before its sleep ends. It is
    // installed in the same synchronous step that reads `pending` and the time, so no `wakeBy`
    // can fall between the two: one that lowers `pending` afterwards finds the signal.
    let signal: Deferred.Deferred<void> | undefined = undefined

    const wakeBy = (at: number): void => {
      // The hot path: already due by then (also rejects NaN).
      if (!(at < pending)) return
      pending = at
      if (signal !== undefined) {
        const woken = signal
        signal = undefined
        Deferred.unsafeDone(woken, Exit.void)
      }
    }

    const decide = Effect.sync((): Next => {
      const now = clock.unsafeCurrentTimeMillis()
      if (pending <= now) {
        // Taken now: a `wakeBy` while `onFire` runs lowers `pending` from here.
        pending = Infinity
        return { _tag: "Fire", now }
      }
      signal = Deferred.unsafeMake<void>(FiberId.none)
      return { _tag: "Sleep", signal, millis: pending - now }
    })

    const fire = (now: number) =>
      onFire(now).pipe(
        // A defect in `onFire` must not stop the alarm: it is logged and the alarm waits for the
        // next `wakeBy`.
        Effect.catchAllCause((cause) =>
          Cause.isInterruptedOnly(cause)
            ? Effect.failCause(cause)
            : Effect.as(Effect.logError("redial: alarm callback failed", cause), Infinity)
        ),
        Effect.map((next) => {
          if (next < pending) pending = next
        })
      )

    const loop: Effect.Effect<never> = Effect.gen(function*() {
      const self = yield* Effect.fiberId
      while (true) {
        const next = yield* decide
        if (next._tag === "Fire") {
          yield* fire(next.now)
          continue
        }
        let sleeper: Fiber.RuntimeFiber<void> | undefined = undefined
        if (next.millis !== Infinity) {
          // A child of this fiber: interrupted with it when the scope closes.
          sleeper = yield* Effect.fork(
            Effect.zipRight(
              clock.sleep(Duration.millis(next.millis)),
              Effect.sync(() => {
                if (signal === next.signal) signal = undefined
                Deferred.unsafeDone(next.signal, Exit.void)
              })
            )
          )
        }
        yield* Deferred.await(next.signal)
        if (sleeper !== undefined && sleeper.unsafePoll() === null) {
          sleeper.unsafeInterruptAsFork(self)
        }
      }
    })

    yield* Effect.forkScoped(loop)
    return { wakeBy }
  })
