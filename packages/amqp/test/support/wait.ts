/**
 * Waiting in the tests against the broker: on `changes` where there is a stream of events, by
 * polling where the state lives outside this process (the broker's counts, a proxy's), and heap
 * readings after a full GC.
 */
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as v8 from "node:v8"
import * as vm from "node:vm"

/** Waits (on `changes`, never polling) for the first status that satisfies `predicate`. */
export const awaitStatus = <S extends { readonly _tag: string }>(
  self: { readonly changes: Stream.Stream<S> },
  predicate: (status: S) => boolean,
  timeout: Duration.DurationInput = "20 seconds"
): Effect.Effect<S> =>
  self.changes.pipe(
    Stream.filter(predicate),
    Stream.runHead,
    Effect.map(Option.getOrThrowWith(() => new Error("changes ended before the awaited status"))),
    Effect.timeoutFail({ duration: timeout, onTimeout: () => new Error("the awaited status did not come in time") }),
    Effect.orDie
  )

/**
 * Polls state outside this process (the broker, a proxy), which sends no events, every
 * `interval` until `predicate` holds; dies after `timeout`.
 */
export const eventually = <A>(
  self: Effect.Effect<A, unknown>,
  predicate: (a: A) => boolean,
  timeout: Duration.DurationInput = "20 seconds",
  interval: Duration.DurationInput = "10 millis"
): Effect.Effect<A> =>
  Effect.gen(function*() {
    let last = yield* self
    while (!predicate(last)) {
      yield* Effect.sleep(interval)
      last = yield* self
    }
    return last
  }).pipe(
    Effect.timeoutFail({ duration: timeout, onTimeout: () => new Error("the condition did not hold in time") }),
    Effect.orDie
  )

/** `global.gc`, exposed at run time (the test workers are not started with --expose-gc). */
export const exposeGc = (): () => void => {
  v8.setFlagsFromString("--expose-gc")
  return vm.runInNewContext("gc") as () => void
}

/** The heap in use after two full collections. */
export const heapAfterGc = (gc: () => void): Effect.Effect<number> =>
  Effect.sync(() => {
    gc()
    gc()
    return process.memoryUsage().heapUsed
  })
