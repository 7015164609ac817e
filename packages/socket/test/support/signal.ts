/**
 * "Something changed": the event the test helpers wait on instead of a timer. The state's owner
 * calls `notify` after each change; `until` reads the state, and waits for the next change while
 * the predicate does not hold.
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"

export interface Signal {
  readonly notify: () => void
  /** Completes at the next `notify`; an interrupted waiter leaves nothing behind. */
  readonly next: Effect.Effect<void>
  /**
   * Reads `read` until `predicate` holds (again after every change) and returns that reading; dies
   * with "`what` did not … within" after `timeout`.
   */
  readonly until: <S>(
    read: Effect.Effect<S>,
    predicate: (state: S) => boolean,
    timeout: Duration.DurationInput,
    what: string
  ) => Effect.Effect<S>
}

export const makeSignal = (): Signal => {
  let waiters: Array<() => void> = []
  const notify = () => {
    const now = waiters
    waiters = []
    for (const f of now) f()
  }
  const next = Effect.async<void>((resume) => {
    const f = () => resume(Effect.void)
    waiters.push(f)
    return Effect.sync(() => {
      waiters = waiters.filter((g) => g !== f)
    })
  })
  const until = <S>(
    read: Effect.Effect<S>,
    predicate: (state: S) => boolean,
    timeout: Duration.DurationInput,
    what: string
  ): Effect.Effect<S> =>
    Effect.gen(function*() {
      for (;;) {
        const now = yield* read
        if (predicate(now)) return now
        yield* next
      }
    }).pipe(
      Effect.timeoutFail({
        duration: timeout,
        onTimeout: () => new Error(`${what} did not come within ${Duration.format(timeout)}`)
      }),
      Effect.orDie
    )
  return { notify, next, until }
}
