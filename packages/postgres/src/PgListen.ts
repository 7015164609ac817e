/**
 * PostgreSQL's LISTEN / NOTIFY as Effect `Stream`s that survive reconnects.
 *
 * One connection (a core `Connection` on {@link PgDriver}) carries every stream, on any number of
 * channels:
 *
 * - `LISTEN` is sent when the first stream of a channel starts, `UNLISTEN` when the last one
 *   stops; streams of the same channel share one `LISTEN`.
 * - When the connection is lost (the backend terminated, the network cut, the server restarted)
 *   it reconnects by its policy (at once after a loss, then backing off while attempts fail),
 *   and on every new backend every channel still listened to is LISTENed again, in one statement,
 *   before the connection counts as `Connected` and before its first notification. The streams
 *   go on by themselves: the consumer does nothing.
 * - Channel names are quoted identifiers: any text (upper case, spaces, quotes) is one channel
 *   and never SQL. A name must be 1 to 63 bytes in UTF-8 (PostgreSQL truncates longer
 *   identifiers, and `pg_notify` rejects them), without NUL.
 *
 * **What is lost.** PostgreSQL does not queue notifications for a session that is not listening:
 * those sent while the connection is down (between the loss and the new `LISTEN`) are lost, and
 * nothing can bring them back. A notification also never outlives a stream's buffer: a consumer
 * slower than the notifications loses the oldest ones (see {@link StreamOptions.bufferSize}).
 * Where a gap matters (a cache invalidated by notifications), read {@link PgListen.events}: it
 * marks every place where notifications may be missing (`Missed`), so the consumer can re-read
 * the state it follows. {@link PgListen.changes} gives the connection's status as it changes.
 *
 * @example
 * ```ts
 * import { PgListen } from "@redial/postgres"
 * import { Effect, Stream } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const listener = yield* PgListen.make({
 *     connect: { host: "127.0.0.1", database: "test", user: "postgres", applicationName: "listen-example" }
 *   })
 *   // `events` begins with `Listening` once LISTEN is in effect: a NOTIFY from then on arrives.
 *   const [notification] = yield* listener.events("Order Events").pipe(
 *     Stream.tap((event) => event._tag === "Listening" ? listener.notify("Order Events", "order 42") : Effect.void),
 *     Stream.filter((event): event is PgListen.Notification => event._tag === "Notification"),
 *     Stream.take(1),
 *     Stream.runCollect
 *   )
 *   console.log(notification?.channel, notification?.payload) // Order Events order 42
 * }).pipe(Effect.scoped)
 *
 * Effect.runPromise(program)
 * ```
 *
 * @since 0.1.0
 */
import type { Closed, Connection, InvalidOption, Timeout } from "@redial/core"
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import * as internal from "./internal/listen.js"
import type * as PgDriver from "./PgDriver.js"
import type { PgError } from "./PgError.js"

/**
 * A notification: the channel, the payload (`""` when none was given), and the process id of
 * the backend that sent it.
 *
 * @since 0.1.0
 * @category models
 */
export interface Notification {
  readonly _tag: "Notification"
  readonly channel: string
  readonly payload: string
  readonly processId: number
}

/**
 * The first element of {@link PgListen.events}: `LISTEN` is in effect for the stream, so every
 * notification committed from now on reaches it (or a {@link Missed} says otherwise).
 *
 * @since 0.1.0
 * @category models
 */
export interface Listening {
  readonly _tag: "Listening"
  readonly channel: string
}

/**
 * A gap in {@link PgListen.events}: notifications may be missing between the previous element
 * and the next one.
 *
 * - `reconnected`: the connection was lost and `LISTEN` is in effect again on a new one; the
 *   notifications sent meanwhile are lost (how many is unknown).
 * - `dropped`: how many notifications the stream's full buffer dropped here (the oldest ones).
 *
 * Two gaps in a row are merged into one.
 *
 * @since 0.1.0
 * @category models
 */
export interface Missed {
  readonly _tag: "Missed"
  readonly channel: string
  readonly dropped: number
  readonly reconnected: boolean
}

/**
 * An element of {@link PgListen.events}.
 *
 * @since 0.1.0
 * @category models
 */
export type Event = Notification | Listening | Missed

/**
 * What a stream fails with: `Closed` when the listener closes for good (its scope ended, a fatal
 * connect error, the policy gave up), `PgError` when the server refuses the `LISTEN` (a hot
 * standby cannot listen), `InvalidOption` for a channel name PostgreSQL cannot hold or a bad
 * `bufferSize`.
 *
 * @since 0.1.0
 * @category models
 */
export type ListenError = Closed | PgError | InvalidOption

/**
 * The options of one stream.
 *
 * @since 0.1.0
 * @category models
 */
export interface StreamOptions {
  /**
   * How many notifications the stream holds for a slow consumer (a whole number, at least 1;
   * default the listener's `bufferSize`, 1,024). When it is full the **oldest** is dropped to
   * make room (a sliding buffer; `events` marks the place with `Missed`).
   *
   * Why not backpressure: one socket carries every stream, and the server's notification queue
   * is shared by the whole cluster (when it fills, every `NOTIFY` in the cluster fails). Slowing
   * the socket for one slow consumer would stall every other stream and, at length, the
   * writers. Why the oldest: a notification usually says "this changed"; the newest are the
   * ones worth acting on, and a gap is repaired by re-reading the state anyway.
   */
  readonly bufferSize?: number | undefined
}

/**
 * A listener: streams of notifications over one connection that reconnects.
 *
 * @since 0.1.0
 * @category models
 */
export interface PgListen {
  /** The name in logs, errors and the connection's metrics. */
  readonly name: string
  /**
   * The notifications of `channel`, across reconnects (see the module's doc for what is lost
   * while the connection is down). The stream's start adds it to the channel (sending `LISTEN`
   * if it is the first); its end removes it (`UNLISTEN` if it was the last). A notification sent
   * before `LISTEN` is in effect is not received: to know when it is, use {@link events}.
   */
  listen(channel: string, options?: StreamOptions): Stream.Stream<Notification, ListenError>
  /**
   * {@link listen} with markers: `Listening` first, once `LISTEN` is in effect; then the
   * notifications, with a `Missed` wherever some may be missing (after a reconnect, or dropped
   * by a full buffer).
   */
  events(channel: string, options?: StreamOptions): Stream.Stream<Event, ListenError>
  /**
   * Sends a notification (`SELECT pg_notify($1, $2)`) on the listener's connection, waiting for
   * it while it is down (at most `notifyTimeout`: then `Timeout`). Fails with `PgError` when the
   * server refuses it (a payload of 8,000 bytes or more) or the connection drops during the call
   * (the notification may or may not have been sent), with `Closed` once the listener is closed,
   * with `InvalidOption` for a channel name PostgreSQL cannot hold.
   */
  notify(channel: string, payload?: string): Effect.Effect<void, PgError | Closed | Timeout | InvalidOption>
  /** The channels whose `LISTEN` is in effect on the live connection now (none while down). */
  readonly listening: Effect.Effect<ReadonlyArray<string>>
  /** The connection's status: `Connected` once every channel is LISTENed on it. */
  readonly status: Effect.Effect<Connection.Status>
  /**
   * The status, then every change: `Connected` (every channel LISTENed), `Connecting`, `Backoff`,
   * `Closed`. Between the end of a `Connected` and the next one, notifications are lost.
   */
  readonly changes: Stream.Stream<Connection.Status>
  /**
   * The core connection underneath (an escape hatch: a query on its client bypasses the
   * listener; `invalidate` forces a reconnect, after which every channel is LISTENed again;
   * `close` stops it, the streams waiting, until `connect`).
   */
  readonly connection: Connection.Connection<PgDriver.PgConnection>
}

/**
 * The service tag of a listener provided by {@link layer}.
 *
 * @since 0.1.0
 * @category tags
 */
export const PgListen: Context.Tag<PgListen, PgListen> = Context.GenericTag<PgListen>("@redial/postgres/PgListen")

/**
 * How to make a listener.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Where to connect. */
  readonly connect?: PgDriver.ConnectOptions | undefined
  /** The name in logs, errors and metrics (default `"postgres-listen"`). */
  readonly name?: string | undefined
  /**
   * The reconnect policy, stepped after every failed attempt (a lost connection is retried at
   * once). Default {@link defaultPolicy}: random exponential from 100 ms to 5 s, faster than
   * core's default (1 s to 30 s) because every moment down loses notifications; the randomness
   * keeps many listeners from reconnecting in a herd.
   */
  readonly policy?: Schedule.Schedule<unknown, PgError | Timeout> | undefined
  /** How long one connect attempt may take (default 15 s). */
  readonly connectTimeout?: Duration.DurationInput | undefined
  /**
   * How long a connection must live to count as a successful connect (default 5 s): one
   * dropped sooner counts as a failed attempt, so a flapping server is retried by the policy.
   */
  readonly minUptime?: Duration.DurationInput | undefined
  /** The default {@link StreamOptions.bufferSize} of every stream (default 1,024). */
  readonly bufferSize?: number | undefined
  /**
   * A `SELECT 1` every `interval` (default 30 s) answered within `timeout` (default 10 s), or the
   * connection is taken for lost and replaced; `false` turns it off. A LISTEN connection sends
   * nothing while it waits, so without it a silently broken network (a black hole, a NAT that
   * forgot the connection) would lose every notification until the OS gives up on the socket.
   */
  readonly healthCheck?:
    | { readonly interval: Duration.DurationInput; readonly timeout?: Duration.DurationInput | undefined }
    | false
    | undefined
  /** How long `notify` waits for the connection (default the `connectTimeout`, 15 s). */
  readonly notifyTimeout?: Duration.DurationInput | undefined
}

/**
 * The default reconnect policy: `Reconnect.randomExponential({ min: "100 millis", max: "5 seconds" })`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const defaultPolicy: Schedule.Schedule<Duration.Duration> = internal.defaultPolicy

/**
 * Makes a listener for the current scope; it connects at once, in the background. The scope's
 * end closes its connection and fails its streams with `Closed` (reason `ScopeClosed`). Fails
 * with `InvalidOption` for a bad option.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: (options: Options) => Effect.Effect<PgListen, InvalidOption, Scope.Scope> = internal.make

/**
 * A layer that provides {@link PgListen}, closed when the layer is released.
 *
 * @example
 * ```ts
 * import { PgListen } from "@redial/postgres"
 * import { Effect, Stream } from "effect"
 *
 * const ListenLive = PgListen.layer({
 *   connect: { host: "127.0.0.1", database: "test", user: "postgres", applicationName: "listen-layer-example" }
 * })
 *
 * const program = Effect.gen(function*() {
 *   const listener = yield* PgListen.PgListen
 *   const first = yield* listener.events("jobs").pipe(
 *     Stream.tap((event) => event._tag === "Listening" ? listener.notify("jobs", "run") : Effect.void),
 *     Stream.filter((event) => event._tag === "Notification"),
 *     Stream.runHead
 *   )
 *   console.log(first) // Some({ _tag: "Notification", channel: "jobs", payload: "run", … })
 * })
 *
 * Effect.runPromise(Effect.provide(program, ListenLive))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options): Layer.Layer<PgListen, InvalidOption> => Layer.scoped(PgListen, make(options))
