/**
 * A TCP or WebSocket connection that stays up: `@effect/platform`'s `Socket` under a
 * `@redial/core` `Connection`.
 *
 * Every `run` of the platform socket is one connection of the manager. The end of a run — an
 * error, a close with any code, or a clean end (which `run` reports as a success) — is a loss,
 * and the connection is made again: at once after a connection that lasted `minUptime`, after the
 * policy's delay otherwise.
 *
 * **Writing.** `write(data)` completes when the bytes were handed to an open socket. While no
 * socket is open (or the open one's own buffer is past its high-water mark), writes wait in a
 * bounded buffer (`buffer.messages`, `buffer.bytes`) under an overflow policy: `"suspend"` the
 * writer (default), `"fail"` the new write with `BufferFull`, or `"dropOldest"` (the oldest
 * buffered write fails with `BufferFull`, `dropped: true`). Nothing is ever dropped silently.
 * Buffered writes go out in the order they were made, after `onConnect`, on the next connection.
 * A byte stream cannot tell what the peer received: bytes handed to a socket that then dies may
 * or may not have arrived (the `Connected` marker of `events` reports how many were still in the
 * dead socket's own buffer, surely lost), so a protocol that needs every message resends from its
 * own acknowledgements.
 *
 * **Reading.** `messages` is the data of every connection, in order, as one `Stream`; `events` is
 * the same with a `Connected` marker before the data of each new connection, where a protocol
 * resynchronises. A socket has one reader. Past `readBuffer` unread items the socket is paused, so
 * the peer is held back by TCP instead of memory growing. `run(handler)` reads with a callback, as
 * the platform's `run` does (the cheapest way: no `Stream` step per chunk).
 *
 * **Keepalive.** `ping` sends a WebSocket ping frame (or a message of yours) every `interval`; no
 * pong (or no data at all) within `timeout` drops the connection as lost, so a half-open
 * connection ends instead of hanging.
 *
 * @example
 * ```ts
 * import { ResilientSocket } from "@redial/socket"
 * import { Reconnect } from "@redial/core"
 * import { Effect, Stream } from "effect"
 * import * as net from "node:net"
 *
 * // An echo server on a free port.
 * const server = net.createServer((socket) => socket.pipe(socket)).listen(0)
 * const port = (server.address() as net.AddressInfo).port
 *
 * const program = Effect.gen(function*() {
 *   const socket = yield* ResilientSocket.makeNet({
 *     name: "echo",
 *     host: "127.0.0.1",
 *     port,
 *     policy: Reconnect.exponential({ min: "100 millis", max: "5 seconds" })
 *   })
 *   yield* socket.write("hello\n") // buffered until connected, then sent
 *   const reply = yield* socket.messages.pipe(Stream.decodeText(), Stream.take(1), Stream.runCollect)
 *   console.log([...reply].join("").trim()) // hello
 * }).pipe(Effect.scoped)
 *
 * Effect.runPromise(program).finally(() => server.close())
 * ```
 *
 * @since 0.1.0
 */
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
import type * as Net from "node:net"
import type * as Tls from "node:tls"
import type WebSocket from "ws"
import * as internal from "./internal/resilientSocket.js"
import type { BufferFull, SocketError } from "./SocketError.js"

/**
 * One connection of a socket, as `get`, `await` and `onConnect` see it.
 *
 * @since 0.1.0
 * @category models
 */
export interface SocketConnection<Raw> {
  /** The connection's number: 1 for the first socket opened, then 2, 3, … */
  readonly id: number
  /** The underlying socket (a `net.Socket`, or a WebSocket). */
  readonly raw: Raw
  /**
   * Writes to this connection only, bypassing the buffer (for `onConnect`'s hello): fails with
   * `SocketError` (reason `Write`, not delivered) when this connection is no longer open.
   */
  write(data: Uint8Array | string): Effect.Effect<void, SocketError>
}

/**
 * What `events` carries: the data, and a marker before the data of each new connection.
 *
 * @since 0.1.0
 * @category models
 */
export type Event<In> = Data<In> | Connected

/**
 * Data received.
 *
 * @since 0.1.0
 * @category models
 */
export interface Data<In> {
  readonly _tag: "Data"
  readonly data: In
}

/**
 * What follows comes from connection `connection`: whatever a protocol had under way on an
 * earlier connection (a half-read frame, a request without its reply) is gone.
 *
 * @since 0.1.0
 * @category models
 */
export interface Connected {
  readonly _tag: "Connected"
  readonly connection: number
  /**
   * Earlier connections that opened and ended with nothing read from them since the last marker
   * the reader saw (their markers were folded into this one).
   */
  readonly skipped: number
  /**
   * Bytes that writes had handed to the previous connection(s) and that were still in the
   * socket's own buffer when it ended: surely not delivered. (What the operating system had
   * taken may or may not have arrived.)
   */
  readonly unsent: number
}

/**
 * What a full write buffer does to a new write:
 *
 * - `"suspend"` (default): the writer waits until there is room (backpressure);
 * - `"fail"`: the new write fails at once with `BufferFull`;
 * - `"dropOldest"`: the oldest buffered write fails with `BufferFull` (`dropped: true`) to make
 *   room.
 *
 * @since 0.1.0
 * @category models
 */
export type Overflow = "suspend" | "fail" | "dropOldest"

/**
 * The write buffer: writes made while no socket is open, or while the open one is congested.
 *
 * @since 0.1.0
 * @category models
 */
export interface BufferOptions {
  /** At most this many writes. Default 10,000. */
  readonly messages?: number | undefined
  /**
   * At most this many bytes. Default 16 MiB. A single write larger than this fails with
   * `BufferFull` when it would have to wait (one that goes straight to an open socket is sent).
   */
  readonly bytes?: number | undefined
  /** Default `"suspend"`. */
  readonly overflow?: Overflow | undefined
}

/**
 * The keepalive.
 *
 * @since 0.1.0
 * @category models
 */
export interface PingOptions<In> {
  /** How often to ping a live connection. */
  readonly interval: Duration.DurationInput
  /** How long to wait for the answer; default the interval. No answer: the connection is lost. */
  readonly timeout?: Duration.DurationInput | undefined
  /**
   * What to send. Default: a WebSocket ping frame (answered by a pong frame, as every WebSocket
   * server does); required for TCP. Any data received after it counts as the answer.
   */
  readonly message?: Uint8Array | string | undefined
  /** Data for which this is true is taken as the answer and not delivered to `messages`. */
  readonly isPong?: ((data: In) => boolean) | undefined
}

/**
 * A WebSocket close, as `shouldReconnect` sees it.
 *
 * @since 0.1.0
 * @category models
 */
export interface CloseInfo {
  readonly code: number
  readonly reason: string
}

/**
 * The options both kinds of socket share.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options<In, Raw> {
  /** The name in logs, metrics and errors. Default `"socket"`. */
  readonly name?: string | undefined
  /** The reconnect policy (see core's `Reconnect`). Default `Reconnect.randomExponential()`. */
  readonly policy?: Schedule.Schedule<unknown, unknown> | undefined
  /**
   * How long one attempt may take, from the start of the TCP connect to the end of the TLS and
   * WebSocket handshakes. Default 10 seconds.
   */
  readonly connectTimeout?: Duration.DurationInput | undefined
  /**
   * How long a connection must stay up for the reconnect counter to start again (default 5 s, as
   * reconnecting-websocket's `minUptime`): one that dies sooner counts as a failed attempt, so a
   * server that accepts and drops does not reset the backoff.
   */
  readonly minUptime?: Duration.DurationInput | undefined
  /** Connect at once (default) or at the first `connect` / `await`. */
  readonly autoConnect?: boolean | undefined
  /** Whether `make` waits for the first connection (core's `awaitConnected`). Default false. */
  readonly awaitConnected?: Connection.Options<unknown, unknown, never>["awaitConnected"]
  /** Attempt errors for which retrying cannot help: the socket closes with `FatalError`. */
  readonly isFatal?: ((error: SocketError | Timeout) => boolean) | undefined
  /** The write buffer. */
  readonly buffer?: BufferOptions | undefined
  /**
   * How long a write may wait in the buffer; then it fails with `Timeout` (operation `write`) and
   * leaves the buffer, unsent. Default: no limit.
   */
  readonly writeTimeout?: Duration.DurationInput | undefined
  /** Unread items past which the socket is paused. Default 1,024. */
  readonly readBuffer?: number | undefined
  /**
   * Runs on every new connection before the buffered writes go out and before it is `Connected`:
   * send a hello, authenticate, subscribe again. A failure drops the connection as a failed
   * attempt.
   */
  readonly onConnect?: ((connection: SocketConnection<Raw>) => Effect.Effect<unknown, unknown>) | undefined
  /** How long `onConnect` may take. Default 15 seconds. */
  readonly onConnectTimeout?: Duration.DurationInput | undefined
  /** The keepalive. Default: none. */
  readonly ping?: PingOptions<In> | undefined
  /**
   * How long closing a connection may wait for the graceful close (TCP: what was handed is
   * flushed and the peer closes; WebSocket: the closing handshake) before the socket is
   * destroyed. Default 1 second. A connection that is already dead is destroyed at once.
   */
  readonly closeTimeout?: Duration.DurationInput | undefined
}

/**
 * `makeNet`'s options: node's `net.connect` options and the shared ones, and `tls`.
 *
 * @since 0.1.0
 * @category models
 */
export type NetOptions = Net.NetConnectOpts & Options<Uint8Array, Net.Socket> & {
  /**
   * Connect with TLS (`tls.connect`): `true` with node's defaults (the system's CAs, the host as
   * the server name), or its options (`ca`, `cert`, `key`, `servername`, `rejectUnauthorized` …).
   * The connection is open once the handshake is done, within `connectTimeout`; a certificate it
   * refuses is a failed attempt (`SocketError` `Open`; say `isFatal` to stop retrying).
   */
  readonly tls?: boolean | Tls.ConnectionOptions | undefined
}

/**
 * `makeWebSocket`'s options.
 *
 * @since 0.1.0
 * @category models
 */
export interface WebSocketOptions extends Options<Uint8Array | string, globalThis.WebSocket> {
  /** Sub-protocols to ask for. */
  readonly protocols?: string | Array<string> | undefined
  /**
   * Whether a connection the server closed with this code and reason is made again. Default: every
   * close is. Say no for closes no retry can mend (1008 policy violation, 4001 unauthorised): the
   * socket then closes with reason `FatalError`, its `error` carrying the `SocketError`.
   */
  readonly shouldReconnect?: ((close: CloseInfo) => boolean) | undefined
  /**
   * Makes the WebSocket of each attempt. Default: the `ws` package's (with `clientOptions`), or the
   * `WebSocketConstructor` of `@effect/platform` when the context has one.
   */
  readonly webSocket?:
    | ((url: string, protocols?: string | Array<string> | undefined) => globalThis.WebSocket)
    | undefined
  /** Options for `ws`'s client (headers, TLS, `maxPayload`…), when it makes the socket. */
  readonly clientOptions?: WebSocket.ClientOptions | undefined
}

/**
 * Why a write failed: `BufferFull` (the overflow policy), `Timeout` (operation `write`: it waited
 * past `writeTimeout`), `Closed` (the socket is closed, or closed before the write was sent).
 *
 * @since 0.1.0
 * @category models
 */
export type WriteError = BufferFull | Timeout | Closed

/**
 * What the write buffer holds now.
 *
 * @since 0.1.0
 * @category models
 */
export interface Pending {
  /** Writes buffered, waiting for a socket. */
  readonly writes: number
  /** Their bytes. */
  readonly bytes: number
  /** Writers suspended for room (overflow `"suspend"`), not counted above. */
  readonly waiting: number
}

/**
 * A resilient socket.
 *
 * @since 0.1.0
 * @category models
 */
export interface ResilientSocket<In, Raw> {
  readonly name: string
  /** The live connection now, or `NotConnected` / `Closed`, never waiting. */
  readonly get: Effect.Effect<SocketConnection<Raw>, NotConnected | Closed>
  /** Waits for a live connection (core's `await`). */
  await(options?: { readonly timeout?: undefined }): Effect.Effect<SocketConnection<Raw>, Closed>
  await(options: { readonly timeout: Duration.DurationInput }): Effect.Effect<SocketConnection<Raw>, Closed | Timeout>
  /** The status now (core's). */
  readonly status: Effect.Effect<Connection.Status>
  /** The status, then every transition. */
  readonly changes: Stream.Stream<Connection.Status>
  /** Closes the connection and stops reconnecting; buffered writes fail with `Closed`. */
  readonly close: Effect.Effect<void>
  /** Starts again after `close` (or with `autoConnect: false`). */
  readonly connect: Effect.Effect<void, Closed>
  /** Writes, or buffers while down (see the module's guarantees). */
  write(data: Uint8Array | string): Effect.Effect<void, WriteError>
  /** The data of every connection, in order. Fails with `Closed` once the socket is closed. */
  readonly messages: Stream.Stream<In, Closed>
  /** `messages` with a `Connected` marker before each connection's data. */
  readonly events: Stream.Stream<Event<In>, Closed>
  /**
   * Reads with a handler, as the platform Socket's `run` does: `handler` is called with the data
   * of every connection as it arrives, in order (what was buffered first), and `onConnected` with
   * each new connection's marker. An effect the handler returns is forked (as the platform does);
   * the first one to fail ends the run with its error, and a handler that throws ends it with a
   * defect. The socket is never paused while a handler reads, so it must keep up. Runs until the
   * socket closes for good (`Closed`) or the run is interrupted; meanwhile `messages` and
   * `events` get nothing. The cheapest way to read: no `Stream` step per message.
   */
  run<E = never, R = never>(
    handler: (data: In) => Effect.Effect<unknown, E, R> | void,
    options?: { readonly onConnected?: ((marker: Connected) => void) | undefined }
  ): Effect.Effect<never, Closed | E, R>
  /** What the write buffer holds now. */
  readonly pending: Effect.Effect<Pending>
}

/**
 * A resilient TCP socket (`net.connect` options, or a Unix socket `path`), on
 * `@effect/platform-node`'s `NodeSocket`. Fails with `InvalidOption` for a bad option.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeNet: (
  options: NetOptions
) => Effect.Effect<ResilientSocket<Uint8Array, Net.Socket>, InvalidOption | Timeout | Closed, Scope.Scope> =
  internal.makeNet

/**
 * A resilient WebSocket, on `@effect/platform`'s `Socket.fromWebSocket`. The URL (a string, a
 * `Redacted` one for a URL with a token, or an effect run before every attempt, for a fresh
 * token) is never logged. Fails with `InvalidOption` for a bad option.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeWebSocket: (
  url: string | Redacted.Redacted<string> | Effect.Effect<string | Redacted.Redacted<string>>,
  options?: WebSocketOptions
) => Effect.Effect<
  ResilientSocket<Uint8Array | string, globalThis.WebSocket>,
  InvalidOption | Timeout | Closed,
  Scope.Scope
> = internal.makeWebSocket

/**
 * `makeNet` as a layer, under a tag of yours.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerNet = <I>(
  tag: Context.Tag<I, ResilientSocket<Uint8Array, Net.Socket>>,
  options: NetOptions
): Layer.Layer<I, InvalidOption | Timeout | Closed> => Layer.scoped(tag, makeNet(options))

/**
 * `makeWebSocket` as a layer, under a tag of yours.
 *
 * @example
 * ```ts
 * import { ResilientSocket } from "@redial/socket"
 * import { Context, Effect } from "effect"
 *
 * class Feed extends Context.Tag("Feed")<
 *   Feed,
 *   ResilientSocket.ResilientSocket<Uint8Array | string, globalThis.WebSocket>
 * >() {}
 *
 * const FeedLive = ResilientSocket.layerWebSocket(Feed, "ws://127.0.0.1:1/feed", {
 *   name: "feed",
 *   autoConnect: false,
 *   // a server that says "unauthorised" will not let us in by trying again
 *   shouldReconnect: (close) => close.code !== 4001 && close.code !== 1008
 * })
 *
 * const program = Effect.gen(function*() {
 *   const feed = yield* Feed
 *   return (yield* feed.status)._tag // "Idle": autoConnect is off
 * }).pipe(Effect.provide(FeedLive))
 *
 * Effect.runPromise(program).then(console.log)
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerWebSocket = <I>(
  tag: Context.Tag<I, ResilientSocket<Uint8Array | string, globalThis.WebSocket>>,
  url: string | Redacted.Redacted<string> | Effect.Effect<string | Redacted.Redacted<string>>,
  options?: WebSocketOptions
): Layer.Layer<I, InvalidOption | Timeout | Closed> => Layer.scoped(tag, makeWebSocket(url, options))

/**
 * `makeNet` as a layer whose options (all of them, or only some: `Config.all({ host, port })`
 * merged with the rest by `Config.map`) are read from a `Config`.
 *
 * @example
 * ```ts
 * import { ResilientSocket } from "@redial/socket"
 * import { Config, ConfigProvider, Context, Effect, Layer } from "effect"
 * import type * as net from "node:net"
 *
 * class Cache extends Context.Tag("Cache")<Cache, ResilientSocket.ResilientSocket<Uint8Array, net.Socket>>() {}
 *
 * const CacheLive = ResilientSocket.layerNetConfig(
 *   Cache,
 *   Config.all({ host: Config.string("CACHE_HOST"), port: Config.port("CACHE_PORT") }).pipe(
 *     Config.map((address) => ({ ...address, name: "cache", autoConnect: false }))
 *   )
 * )
 *
 * const program = Effect.gen(function*() {
 *   const cache = yield* Cache
 *   return (yield* cache.status)._tag // "Idle"
 * }).pipe(
 *   Effect.provide(CacheLive),
 *   Effect.withConfigProvider(ConfigProvider.fromJson({ CACHE_HOST: "127.0.0.1", CACHE_PORT: 6379 }))
 * )
 *
 * Effect.runPromise(program).then(console.log)
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerNetConfig = <I>(
  tag: Context.Tag<I, ResilientSocket<Uint8Array, Net.Socket>>,
  config: Config.Config<NetOptions>
): Layer.Layer<I, InvalidOption | Timeout | Closed | ConfigError.ConfigError> =>
  Layer.scoped(tag, Effect.flatMap(config, makeNet))

/**
 * `makeWebSocket` as a layer whose URL is read from a `Config` (use `Config.redacted` for a URL
 * with a token: it stays redacted).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerWebSocketConfig = <I>(
  tag: Context.Tag<I, ResilientSocket<Uint8Array | string, globalThis.WebSocket>>,
  url: Config.Config<string | Redacted.Redacted<string>>,
  options?: WebSocketOptions
): Layer.Layer<I, InvalidOption | Timeout | Closed | ConfigError.ConfigError> =>
  Layer.scoped(tag, Effect.flatMap(url, (url) => makeWebSocket(url, options)))
