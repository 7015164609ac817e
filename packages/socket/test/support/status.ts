/**
 * A socket's statuses in tests: a recorder of `changes`, waiting for a status, the cause a status
 * carries. Shared by the TCP and the WebSocket tests.
 */
import type { Connection } from "@redial/core"
import { Deferred, Effect, Exit, Option, Stream } from "effect"
import type { Duration, Scope } from "effect"
import { makeSignal } from "./signal.js"

// --- a socket's statuses --------------------------------------------------------------------------

/** Every status a socket goes through, from the one it has now. */
export interface History {
  readonly all: Effect.Effect<ReadonlyArray<Connection.Status>>
  /**
   * Waits until some status recorded at index `from` or later satisfies `predicate`, and returns
   * the first that does, with its index.
   */
  readonly until: (
    predicate: (status: Connection.Status) => boolean,
    options?: { readonly from?: number; readonly timeout?: Duration.DurationInput }
  ) => Effect.Effect<{ readonly status: Connection.Status; readonly index: number }>
  /** How many statuses are recorded now (an index for `until`'s `from`). */
  readonly length: Effect.Effect<number>
  /** `until`, returning only the status. */
  readonly first: (
    predicate: (status: Connection.Status) => boolean,
    timeout?: Duration.DurationInput
  ) => Effect.Effect<Connection.Status>
}

/** Records `changes` from now on; nothing is missed after it returns. */
export const recordStatuses = (
  self: { readonly changes: Stream.Stream<Connection.Status> }
): Effect.Effect<History, never, Scope.Scope> =>
  Effect.gen(function*() {
    const statuses: Array<Connection.Status> = []
    const signal = makeSignal()
    const subscribed = yield* Deferred.make<void>()
    yield* Effect.forkScoped(Stream.runForEach(self.changes, (status) =>
      Effect.sync(() => {
        statuses.push(status)
        Deferred.unsafeDone(subscribed, Exit.void)
        signal.notify()
      })))
    yield* Deferred.await(subscribed)
    const next = signal.next
    const until: History["until"] = (predicate, options = {}) =>
      Effect.gen(function*() {
        const from = options.from ?? 0
        for (;;) {
          for (let index = from; index < statuses.length; index++) {
            const status = statuses[index]!
            if (predicate(status)) return { status, index }
          }
          yield* next
        }
      }).pipe(
        Effect.timeoutFail({
          duration: options.timeout ?? "10 seconds",
          onTimeout: () => new Error("the awaited status was not recorded in time")
        }),
        Effect.orDie
      )
    return {
      all: Effect.sync(() => [...statuses]),
      length: Effect.sync(() => statuses.length),
      until,
      first: (predicate, timeout) =>
        Effect.map(until(predicate, timeout === undefined ? {} : { timeout }), (found) => found.status)
    }
  })

/** Waits (on `changes`) for the first status, from the current one on, that satisfies `predicate`. */
export const awaitStatus = (
  self: { readonly changes: Stream.Stream<Connection.Status> },
  predicate: (status: Connection.Status) => boolean,
  timeout: Duration.DurationInput = "10 seconds"
): Effect.Effect<Connection.Status> =>
  self.changes.pipe(
    Stream.filter(predicate),
    Stream.runHead,
    Effect.map(Option.getOrThrowWith(() => new Error("changes ended before the awaited status"))),
    Effect.timeoutFail({ duration: timeout, onTimeout: () => new Error("the awaited status did not come in time") }),
    Effect.orDie
  )

/** The cause a Backoff or Closed status carries: the failed attempt's (or the drop's) error. */
export const causeOf = (status: Connection.Status): unknown =>
  status._tag === "Backoff" ? status.error.cause : status._tag === "Closed" ? status.error?.cause : undefined

export const isTag = (tag: Connection.Status["_tag"]) => (status: Connection.Status): boolean => status._tag === tag
