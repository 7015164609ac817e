/**
 * A managed `@grpc/grpc-js` channel with Chronicle's and Spear's semantics: it connects (now, or
 * on `connect` / the first `await`), knows when it is connected from grpc-js's connectivity
 * states, reconnects by a `Reconnect` policy, cuts a connect that hangs (a peer that accepts TCP
 * but never speaks HTTP/2: grpc-node#2785), and closes when its scope ends.
 *
 * Each connect attempt makes a fresh grpc-js channel and waits for it to be `READY`;
 * `TRANSIENT_FAILURE` fails the attempt (with grpc-js's reason, e.g. `ECONNREFUSED` or a TLS
 * error), and leaving `READY` later counts as a lost connection, replaced at once. grpc-js's own
 * reconnect backoff never runs: the policy is the only one. With several addresses, each failed
 * attempt moves on to the next (failover).
 *
 * @example
 * ```ts
 * import { GrpcChannel } from "@redial/grpc"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const channel = yield* GrpcChannel.GrpcChannel
 *   yield* channel.await({ timeout: "5 seconds" }) // Chronicle's connect(timeout)
 *   console.log(yield* channel.isConnected)
 * }).pipe(
 *   Effect.provide(GrpcChannel.layer({ address: "127.0.0.1:2113", policy: GrpcChannel.spearPolicy }))
 * )
 * ```
 *
 * @since 0.1.0
 */
import type * as grpc from "@grpc/grpc-js"
import type { Closed, Connection, InvalidOption, NotConnected, Timeout } from "@redial/core"
import type * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import type * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Redacted from "effect/Redacted"
import type * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import type * as GrpcConnectionString from "./GrpcConnectionString.js"
import * as internal from "./internal/grpcChannel.js"

/**
 * The live grpc-js objects of a connected channel: the `Channel`, a generic `Client` on it
 * (for making calls), and the address it is connected to.
 *
 * @since 0.1.0
 * @category models
 */
export interface LiveChannel {
  readonly channel: grpc.ChannelInterface
  readonly client: grpc.Client
  readonly address: string
}

/**
 * How to make a channel. `make` decodes the plain values with `@redial/core`'s `Options` and
 * fails with an `InvalidOption` naming the bad one (`address[1]`, `keepAlive.interval`): an
 * address that is not `"host:port"` with a host name, an IPv4 address or a bracketed IPv6
 * address and a port from 1 to 65535 (it is never quoted: a malformed one may hold
 * credentials), an empty `name`, a timeout, deadline or keepalive time that is NaN or below
 * 1 ms, and a keepalive time or `defaultDeadline` above 2^31−1 ms (about 24.8 days: Node fires
 * a longer timer after 1 ms, and grpc-js rejects a far deadline from inside a promise).
 * `keepAlive` times must be finite; an infinite `defaultDeadline` is no deadline.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /**
   * An `esdb://`, `kurrentdb://` or `chronicle://` connection string (or its parsed settings):
   * it gives the addresses (failed over in order), TLS (with `tlsCAFile` / `certificatePath`),
   * the credentials (sent as call credentials: HTTP basic auth for esdb user/password and
   * Chronicle client credentials, the `apiKeyHeader` header for a Chronicle `apiKey`), keepalive
   * and the default deadline. Options given explicitly win over it. Gossip discovery
   * (`+discover`) is not done: the hosts are used as the failover list.
   */
  readonly connectionString?: string | Redacted.Redacted<string> | GrpcConnectionString.Settings | undefined
  /** The metadata key a Chronicle `apiKey` is sent in; default `api-key`, as Cratis' own clients send it. */
  readonly apiKeyHeader?: string | undefined
  /** `"host:port"` (Chronicle's `server_address`), or several to fail over between, in order. */
  readonly address?: string | ReadonlyArray<string> | undefined
  /** Channel credentials; overrides `tls`. Default: insecure (plain HTTP/2). */
  readonly credentials?: grpc.ChannelCredentials | undefined
  /** `true`: TLS with the system's CAs; an object: a custom CA (and client certificate). */
  readonly tls?:
    | boolean
    | {
      readonly ca?: Buffer | undefined
      readonly key?: Buffer | undefined
      readonly cert?: Buffer | undefined
    }
    | undefined
  /** Credentials sent with every call (basic auth, an API key…). */
  readonly callCredentials?: grpc.CallCredentials | undefined
  /**
   * grpc-js channel options, passed through (Chronicle's `grpc_options`, Spear's `opts`), except
   * `grpc.use_local_subchannel_pool`, `grpc.initial_reconnect_backoff_ms` and
   * `grpc.max_reconnect_backoff_ms`: redial owns every reconnect, so it sets these itself.
   */
  readonly channelOptions?: grpc.ChannelOptions | undefined
  /** The reconnect policy: any `Schedule`; default `Reconnect.randomExponential()`. See the presets. */
  readonly policy?: Schedule.Schedule<unknown, unknown> | undefined
  /**
   * How long a connection must stay up to count as a successful connect (core's `minUptime`;
   * default 5 s, zero counts every connection). One dropped sooner (a server that accepts and
   * then resets, a proxy that drops each connection) counts as a failed attempt, so the policy's
   * delay applies before the next one instead of reconnecting at once in a loop.
   */
  readonly minUptime?: Duration.DurationInput | undefined
  /** How long one connect attempt may take to reach READY; default 10 s. */
  readonly connectTimeout?: Duration.DurationInput | undefined
  /** Connect at once (default) or on `connect` / the first `await`. */
  readonly autoConnect?: boolean | undefined
  /**
   * HTTP/2 keepalive pings: a ping after `interval` without data; no answer in `timeout`
   * (default 10 s) = lost. Off by default and with `false`; each time from 1 ms to 2^31−1 ms.
   */
  readonly keepAlive?:
    | { readonly interval: Duration.DurationInput; readonly timeout?: Duration.DurationInput | undefined }
    | false
    | undefined
  /** The timeout of `await()` when none is given; default 10 s (Chronicle's `connect/1`). */
  readonly awaitTimeout?: Duration.DurationInput | undefined
  /** The deadline of calls that set none; default none (as `Duration.infinity`); at most 2^31−1 ms. */
  readonly defaultDeadline?: Duration.DurationInput | undefined
  /** The name in logs, metrics, spans and errors; default `"grpc"`. */
  readonly name?: string | undefined
  /**
   * Whether `make` (and so `layer` / `layerConfig`) waits for the first connection before it
   * returns, as `@effect/sql-pg`'s layer does: `true`, or `{ timeout }` (default the
   * `connectTimeout`, 10 s; `Duration.infinity` waits until connected or closed). Core's
   * `Connection.AwaitConnected`: it fails with `Timeout` (its `cause` the last attempt's
   * `ConnectFailed`, whose `cause` is the `ChannelFailure`, e.g. `ECONNREFUSED`) or with `Closed`
   * (the policy gave up first), and the channel is released, so a layer that fails leaves no
   * connection behind. Default `false`: the layer is built at once and the channel connects in
   * the background, so a program starts while its server is down (calls fail fast with
   * `NotConnected`, or wait with `mode: "wait"`, until it is up).
   */
  readonly awaitConnected?: boolean | Connection.AwaitConnected | undefined
}

/**
 * A managed gRPC channel.
 *
 * @since 0.1.0
 * @category models
 */
export interface GrpcChannel {
  readonly name: string
  /** The addresses it connects to, in failover order. */
  readonly addresses: ReadonlyArray<string>
  /** The core connection manager underneath (status, changes, invalidate…). */
  readonly connection: Connection.Connection<LiveChannel>
  /** Sent with every call. */
  readonly callCredentials: grpc.CallCredentials | undefined
  /** The deadline of calls that set none. */
  readonly defaultDeadline: Duration.Duration | undefined
  /** The live grpc-js channel, or `NotConnected` / `Closed` at once (Chronicle's `channel`). */
  readonly channel: Effect.Effect<grpc.ChannelInterface, NotConnected | Closed>
  /** Waits until connected, up to `timeout` (default: `awaitTimeout`, 10 s) → `Timeout` (Chronicle's `connect(timeout)`). */
  await(
    options?: { readonly timeout?: Duration.DurationInput | undefined }
  ): Effect.Effect<grpc.ChannelInterface, Closed | Timeout>
  /** Whether the channel is connected now (Chronicle's `connected?`). */
  readonly isConnected: Effect.Effect<boolean>
  readonly status: Effect.Effect<Connection.Status>
  readonly changes: Stream.Stream<Connection.Status>
  /** Starts connecting again after `close` / `disconnect` (Spear's `:connect`). */
  readonly connect: Effect.Effect<void, Closed>
  /** Closes the channel and stops reconnecting (Spear's `:close`). */
  readonly close: Effect.Effect<void>
  /** The same as `close` (Chronicle's `disconnect`). */
  readonly disconnect: Effect.Effect<void>
}

/**
 * The service tag of the default channel.
 *
 * @since 0.1.0
 * @category tags
 */
export const GrpcChannel: Context.Tag<GrpcChannel, GrpcChannel> = internal.tag

/**
 * Chronicle's defaults: exponential from 1 s to 10 s, 5 retries, then `Closed`
 * (`PolicyExhausted`).
 *
 * @since 0.1.0
 * @category policies
 */
export const chroniclePolicy: Schedule.Schedule<unknown> = internal.chroniclePolicy

/**
 * Spear's defaults: every 500 ms, forever, no jitter.
 *
 * @since 0.1.0
 * @category policies
 */
export const spearPolicy: Schedule.Schedule<unknown> = internal.spearPolicy

/**
 * Makes a channel that lives as long as the current scope. Returns at once, before anything is
 * connected, unless `awaitConnected` is set: then it waits for the first connection and may
 * also fail with `Timeout` or `Closed`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: {
  (
    options: Options & { readonly awaitConnected?: false | undefined }
  ): Effect.Effect<GrpcChannel, InvalidOption | GrpcConnectionString.GrpcConnectionStringError, Scope.Scope>
  (
    options: Options
  ): Effect.Effect<
    GrpcChannel,
    InvalidOption | GrpcConnectionString.GrpcConnectionStringError | Timeout | Closed,
    Scope.Scope
  >
} = internal.make as typeof make

/**
 * A layer of the default {@link GrpcChannel} tag. Built at once, before anything is connected,
 * unless `awaitConnected` is set: then building it waits for the first connection and fails with
 * `Timeout` or `Closed` when none comes.
 *
 * @example
 * ```ts
 * import { GrpcChannel } from "@redial/grpc"
 * import { Effect } from "effect"
 *
 * // Fails to build (Timeout, with the last connect error as its cause) unless connected in 5 s.
 * const ChannelLive = GrpcChannel.layer({
 *   address: "127.0.0.1:2113",
 *   awaitConnected: { timeout: "5 seconds" }
 * })
 *
 * const program = Effect.gen(function*() {
 *   const channel = yield* GrpcChannel.GrpcChannel
 *   return yield* channel.channel // connected: the layer waited for it
 * }).pipe(Effect.provide(ChannelLive))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: {
  (
    options: Options & { readonly awaitConnected?: false | undefined }
  ): Layer.Layer<GrpcChannel, InvalidOption | GrpcConnectionString.GrpcConnectionStringError>
  (
    options: Options
  ): Layer.Layer<GrpcChannel, InvalidOption | GrpcConnectionString.GrpcConnectionStringError | Timeout | Closed>
} = ((options: Options) => Layer.scoped(GrpcChannel, internal.make(options))) as typeof layer

/**
 * A layer of the default tag whose options are read from `Config`. Read a connection string
 * with `Config.redacted`: it may hold a password.
 *
 * @example
 * ```ts
 * import { GrpcChannel } from "@redial/grpc"
 * import { Config } from "effect"
 *
 * const ChannelLive = GrpcChannel.layerConfig(
 *   Config.all({
 *     connectionString: Config.redacted("ESDB_CONNECTION_STRING"), // esdb://admin:changeit@db:2113?tls=false
 *     connectTimeout: Config.duration("GRPC_CONNECT_TIMEOUT").pipe(Config.withDefault("5 seconds"))
 *   })
 * )
 * ```
 *
 * With `awaitConnected` in the options, building the layer waits for the first connection, as
 * with {@link layer}.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig: {
  (
    options: Config.Config<Options & { readonly awaitConnected?: false | undefined }>
  ): Layer.Layer<GrpcChannel, InvalidOption | GrpcConnectionString.GrpcConnectionStringError | ConfigError.ConfigError>
  (
    options: Config.Config<Options>
  ): Layer.Layer<
    GrpcChannel,
    InvalidOption | GrpcConnectionString.GrpcConnectionStringError | ConfigError.ConfigError | Timeout | Closed
  >
} =
  ((options: Config.Config<Options>) =>
    Layer.scoped(GrpcChannel, Effect.flatMap(options, internal.make))) as typeof layerConfig
