/**
 * One cached RabbitMQ connection for the whole program (Retort's `Retort.Connection`): many
 * channels, one TCP connection. It connects with amqplib (never with amqplib's own `recovery`:
 * redial's policy drives every reconnect), keeps the connection while it lives, reconnects when
 * it is lost, fails over between several URLs, and opens channels on it that come back by
 * themselves, with their setup, after a reconnect or after the broker closes them alone.
 *
 * @example
 * ```ts
 * import { AmqpConnection } from "@redial/amqp"
 * import { Reconnect } from "@redial/core"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const amqp = yield* AmqpConnection.make({
 *     url: "amqp://guest:guest@127.0.0.1:5672",
 *     name: "orders",
 *     policy: Reconnect.exponential({ min: "100 millis", max: "5 seconds" })
 *   })
 *   const channel = yield* amqp.confirmChannel({
 *     setup: (channel) => channel.assertQueue("orders-example", { autoDelete: true })
 *   })
 *   yield* channel.sendToQueue("orders-example", "hello") // completes when the broker confirms it
 *   yield* channel.call((channel) => channel.deleteQueue("orders-example"))
 * }).pipe(Effect.scoped)
 *
 * Effect.runPromise(program)
 * ```
 *
 * @since 0.1.0
 */
import type { Closed, Connection, InvalidOption, NotConnected, Timeout } from "@redial/core"
import type * as amqplib from "amqplib"
import type * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import type * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import type * as tls from "node:tls"
import type * as AmqpChannel from "./AmqpChannel.js"
import type * as AmqpConnectionString from "./AmqpConnectionString.js"
import type { AmqpError } from "./AmqpError.js"
import * as internal from "./internal/amqpConnection.js"
import * as channels from "./internal/channel.js"

/**
 * A URL: an `amqp://` / `amqps://` connection string (plain or `Redacted`, see
 * `AmqpConnectionString`), or one already parsed.
 *
 * @since 0.1.0
 * @category models
 */
export type UrlInput = string | Redacted.Redacted<string> | AmqpConnectionString.Endpoint

/**
 * How to connect.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The broker's URL. Give `url` or `urls`. */
  readonly url?: UrlInput | undefined
  /**
   * Several brokers (a cluster): each attempt goes through them in order, starting with the one
   * that last worked, and tries the next at once when one fails; after a whole round failed,
   * the `policy` says how long to wait before the next round.
   */
  readonly urls?: ReadonlyArray<UrlInput> | undefined
  /**
   * The connection's name: in logs, errors, spans, and as `connection_name` in the client
   * properties, so the management UI and `rabbitmqctl list_connections` show it. Default `"amqp"`.
   */
  readonly name?: string | undefined
  /**
   * One connect attempt's limit, covering the TCP (and TLS) connect **and** the AMQP handshake,
   * so a peer that accepts and never answers ends in `Timeout`. Default 10 seconds. A URL's own
   * `connection_timeout` wins for that URL. Can be changed while running (`update`).
   */
  readonly connectTimeout?: Duration.DurationInput | undefined
  /**
   * The heartbeat to ask for, in seconds (the broker's lower value wins; 0 turns it off). A
   * missed heartbeat is how a half-open connection is found: after 2 to 3 intervals without a
   * byte from the broker the connection is lost. Default 10 (rascal's); a URL's own `heartbeat`
   * wins for that URL.
   */
  readonly heartbeat?: number | undefined
  /** The reconnect policy (any `Schedule`; see `Reconnect`). Default `Reconnect.randomExponential()`. */
  readonly policy?: Schedule.Schedule<unknown, unknown> | undefined
  /** A connection that dies before this lived counts as a failed attempt. Default 5 seconds. */
  readonly minUptime?: Duration.DurationInput | undefined
  /** How long closing the connection may take before its socket is ended. Default 5 seconds. */
  readonly closeTimeout?: Duration.DurationInput | undefined
  /** TLS settings for `amqps://` URLs (a custom CA, a client certificate, `servername` …). */
  readonly tls?:
    | (Omit<tls.ConnectionOptions, "passphrase"> & {
      readonly passphrase?: Redacted.Redacted<string> | undefined
    })
    | undefined
  /** More client properties to send (shown in the management UI). */
  readonly clientProperties?: Record<string, unknown> | undefined
  /** Socket settings: `noDelay` (default true) and `keepAlive` (default true). */
  readonly socket?: { readonly noDelay?: boolean | undefined; readonly keepAlive?: boolean | undefined } | undefined
  /** Default true; with false, nothing connects until `connect`. */
  readonly autoConnect?: boolean | undefined
  /** Wait for the first connection in `make` (see core's `Connection.AwaitConnected`). */
  readonly awaitConnected?: boolean | Connection.AwaitConnected | undefined
}

/**
 * Retort's run-time settings: read with `settings`, changed with `update`; a change applies
 * from the next connect attempt (the live connection is kept).
 *
 * @since 0.1.0
 * @category models
 */
export interface Settings {
  readonly urls: ReadonlyArray<AmqpConnectionString.Endpoint>
  readonly connectTimeout: Duration.Duration
  readonly policy: Schedule.Schedule<unknown, unknown>
}

/**
 * What `update` may change.
 *
 * @since 0.1.0
 * @category models
 */
export interface SettingsUpdate {
  readonly url?: UrlInput | undefined
  readonly urls?: ReadonlyArray<UrlInput> | undefined
  readonly connectTimeout?: Duration.DurationInput | undefined
  readonly policy?: Schedule.Schedule<unknown, unknown> | undefined
}

/**
 * The broker blocked the connection (a memory or disk alarm): it is connected, but the broker
 * reads nothing from it until it sends `unblocked`. Publishers wait meanwhile.
 *
 * @since 0.1.0
 * @category models
 */
export interface Blocked {
  readonly _tag: "Blocked"
  readonly attempt: number
  /** The broker's reason, e.g. `"low on memory"`. */
  readonly reason: string
}

/**
 * The connection's status: core's (`Idle`, `Connecting`, `Connected`, `Backoff`, `Closed`), with
 * `Blocked` in place of `Connected` while the broker blocks the connection.
 *
 * @since 0.1.0
 * @category models
 */
export type Status = Connection.Status | Blocked

/**
 * The cached connection.
 *
 * @since 0.1.0
 * @category models
 */
export interface AmqpConnection {
  readonly name: string
  /** The core connection manager underneath. */
  readonly connection: Connection.Connection<amqplib.ChannelModel>
  /** The live connection now, or `NotConnected` / `Closed` at once (Retort's `get`). */
  readonly get: Effect.Effect<amqplib.ChannelModel, NotConnected | Closed>
  /**
   * Waits for the connection (Retort's `await`): without a `timeout` it waits as long as it
   * takes; with one it fails with `Timeout`. An interrupted waiter leaves nothing behind.
   */
  await(options?: { readonly timeout?: undefined }): Effect.Effect<amqplib.ChannelModel, Closed>
  await(options: { readonly timeout: Duration.DurationInput }): Effect.Effect<amqplib.ChannelModel, Closed | Timeout>
  /** The current status (with `Blocked`). */
  readonly status: Effect.Effect<Status>
  /** The current status, then every change. */
  readonly changes: Stream.Stream<Status>
  /** The broker's reason while it blocks the connection. */
  readonly blocked: Effect.Effect<Option.Option<string>>
  /** Closes the connection and stops reconnecting (channels on it close too). */
  readonly close: Effect.Effect<void>
  /**
   * Starts connecting again after `close` or a fatal error, and with it every channel that closed
   * with the connection (their `await` waits for the new connection once this returns).
   */
  readonly connect: Effect.Effect<void, Closed>
  /** The run-time settings now. */
  readonly settings: Effect.Effect<Settings>
  /** Changes the URL(s), the connect timeout or the policy, from the next attempt on. */
  update(settings: SettingsUpdate): Effect.Effect<void, InvalidOption>
  /**
   * A channel on this connection, for as long as the current scope: opened (and its `setup`
   * run) before anyone uses it, and opened again, with its setup, after a reconnect and after
   * the broker closes it alone (a 404 or 406 closes only the channel).
   */
  channel(options?: AmqpChannel.ChannelOptions): Effect.Effect<AmqpChannel.AmqpChannel, InvalidOption, Scope.Scope>
  /**
   * A confirm channel with a publisher that loses nothing: see `AmqpChannel.AmqpConfirmChannel`.
   * At the end of the scope it waits for outstanding confirms (up to `closeTimeout`), then
   * closes.
   */
  confirmChannel(
    options?: AmqpChannel.ConfirmChannelOptions
  ): Effect.Effect<AmqpChannel.AmqpConfirmChannel, InvalidOption, Scope.Scope>
  /**
   * The deliveries of `queue`, on a channel of their own (with `prefetch`, default 10, and
   * `setup`): see `AmqpChannel.AmqpChannel.consume`.
   */
  consume(
    queue: string,
    options?: AmqpChannel.ConsumeOptions & AmqpChannel.ChannelOptions
  ): Stream.Stream<AmqpChannel.Delivery, AmqpError | InvalidOption | Closed>
}

/**
 * The tag of the program's cached connection.
 *
 * @since 0.1.0
 * @category tags
 */
export const AmqpConnection: Context.Tag<AmqpConnection, AmqpConnection> = Context.GenericTag<AmqpConnection>(
  "@redial/amqp/AmqpConnection"
)

/**
 * Makes the cached connection, for as long as the current scope. Fails with `InvalidOption` for
 * a bad option (a URL that does not parse names `url` or `urls[i]`). Connects in the
 * background; with `awaitConnected`, waits for the first connection.
 *
 * Fatal errors (bad credentials, 403; no such virtual host, 530) close it at once with
 * `Closed` (reason `FatalError`); everything else (320 forced close, refused, timeouts,
 * heartbeat, socket errors) reconnects by the policy.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: (
  options: Options
) => Effect.Effect<AmqpConnection, InvalidOption | Timeout | Closed, Scope.Scope> = (options) =>
  Effect.map(internal.make(options), channels.attach)

/**
 * A layer providing {@link AmqpConnection}.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options): Layer.Layer<AmqpConnection, InvalidOption | Timeout | Closed> =>
  Layer.scoped(AmqpConnection, make(options))

/**
 * A layer providing {@link AmqpConnection} from `Config` (e.g. the URL as `Config.redacted`).
 *
 * @example
 * ```ts
 * import { AmqpConnection } from "@redial/amqp"
 * import { Config, ConfigProvider, Effect, Layer } from "effect"
 *
 * const AmqpLive = AmqpConnection.layerConfig(
 *   Config.all({ url: Config.redacted("AMQP_URL"), name: Config.succeed("billing") })
 * )
 *
 * const program = Effect.gen(function*() {
 *   const amqp = yield* AmqpConnection.AmqpConnection
 *   yield* amqp.await({ timeout: "10 seconds" })
 * }).pipe(
 *   Effect.provide(AmqpLive),
 *   Effect.withConfigProvider(ConfigProvider.fromJson({ AMQP_URL: "amqp://guest:guest@127.0.0.1:5672" }))
 * )
 *
 * Effect.runPromise(program)
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  options: Config.Config<Options>
): Layer.Layer<AmqpConnection, InvalidOption | Timeout | Closed | ConfigError.ConfigError> =>
  Layer.scoped(AmqpConnection, Effect.flatMap(options, make))
