/**
 * The connection manager's state: one value, changed by one function.
 *
 * The value holds the status, the live connection (present exactly when the status is
 * `Connected`), the last connect error and the reconnect policy's state; the waiters of `await`
 * are resumed by the same function. `set` is synchronous: it replaces the value, publishes the
 * new status to `changes`, updates the status gauge and resumes the waiters in one step, so
 * `get` (which reads `live`) and `status` can never disagree, and no fiber can run between a
 * connection being dropped and `get` refusing it.
 *
 * @internal
 */
import type * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import type * as Metric from "effect/Metric"
import * as PubSub from "effect/PubSub"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type { Closed, ConnectFailed, Timeout } from "../Errors.js"
import { type Status, statusCode } from "./status.js"
import * as Waiters from "./waiters.js"

/** Why a live connection was dropped. @internal */
export type Drop =
  | { readonly _tag: "Lost"; readonly cause: unknown }
  | { readonly _tag: "Invalidated"; readonly cause: unknown }
  | { readonly _tag: "HealthCheckFailed"; readonly cause: unknown }

/** A live connection: one successful attempt, until it is dropped. @internal */
export interface Live<A> {
  readonly connection: A
  /** The attempt that made it. */
  readonly attempt: number
  /** `Clock` time at which it was handed out, for the minimum uptime. */
  readonly since: number
  /** `get` returns this effect while the connection lives: no allocation on the hot path. */
  readonly succeed: Effect.Effect<A>
  /** Completed once, by whoever drops it: wakes the session that holds its scope. */
  readonly dropped: Deferred.Deferred<Drop>
}

type Connected = Extract<Status, { readonly _tag: "Connected" }>

/** @internal */
export type State<A> =
  | {
    readonly status: Exclude<Status, Connected>
    readonly live: undefined
    readonly lastError: ConnectFailed | undefined
    /** The reconnect policy's state: stepped by failed attempts, reset by a lasting connection. */
    readonly policy: unknown
  }
  | {
    readonly status: Connected
    readonly live: Live<A>
    readonly lastError: undefined
    readonly policy: unknown
  }

/** @internal */
export interface ConnectionState<A> {
  /** The current value. Read it, never keep it: `set` replaces it. */
  readonly state: State<A>
  /** The one writer. */
  readonly set: (next: State<A>) => void
  /**
   * Waits for a connection (`await`, `awaitNext`): `now` is asked at registration, in the same
   * step; the waiter is resumed by the next `set` to `Connected` or `Closed`.
   */
  readonly waiters: Waiters.Waiters<A, Closed | Timeout>
  /** The current status, then every status `set` publishes, in order. */
  readonly changes: Stream.Stream<Status>
}

/** @internal */
export const make = <A>(options: {
  readonly initial: State<A>
  /** The error every waiter gets when the state becomes `Closed`. */
  readonly closed: (status: Extract<Status, { readonly _tag: "Closed" }>) => Closed
  readonly gauge: Metric.Metric.Gauge<number>
}): Effect.Effect<ConnectionState<A>, never, Scope.Scope> =>
  Effect.gen(function*() {
    const waiters = yield* Waiters.make<A, Closed | Timeout>()
    // Every published status carries its version, so a subscriber that reads the current status
    // right after subscribing skips what it already saw.
    const hub = yield* PubSub.unbounded<readonly [number, Status]>()
    let version = 0
    const gauge = options.gauge

    const self: { state: State<A> } & Omit<ConnectionState<A>, "state"> = {
      state: options.initial,
      waiters,
      set: (next: State<A>): void => {
        self.state = next
        version++
        hub.unsafeOffer([version, next.status])
        gauge.unsafeUpdate(statusCode(next.status), [])
        if (next.live !== undefined) waiters.resumeAll(next.live.succeed)
        else if (next.status._tag === "Closed") waiters.resumeAll(Effect.fail(options.closed(next.status)))
      },
      changes: Stream.unwrapScoped(Effect.map(PubSub.subscribe(hub), (queue): Stream.Stream<Status> => {
        const seen = version
        const current: Status = self.state.status
        return Stream.concat(
          Stream.succeed(current),
          Stream.fromQueue(queue).pipe(
            Stream.filter(([v]) => v > seen),
            Stream.map(([, status]) => status)
          )
        )
      }))
    }
    gauge.unsafeUpdate(statusCode(options.initial.status), [])
    return self
  })
