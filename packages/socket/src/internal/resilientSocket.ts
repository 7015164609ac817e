/**
 * A resilient socket: one core `Connection` whose every connection is one `run` of a fresh
 * @effect/platform `Socket`, an `Outbox` for writes and an `Inbox` for reads.
 *
 * One attempt (`acquire`): make the platform socket, fork its `runRaw` in the connection's
 * scope, wait for `onOpen` (or for the run to end first: the attempt fails with the run's error).
 * The run's end, whatever its exit, completes `lost` with a `SocketError`. `afterConnect` runs
 * the user's `onConnect`, then hands the outbox to the new socket, so a hello goes out before
 * anything buffered.
 *
 * Writes go to the live socket itself (`socket.write`, `ws.send`), not through the platform's
 * `writer`: that writer waits on a latch shared by the runs of one Socket, so a write made for a
 * dying connection would go out on the next one, ahead of its `onConnect`, and its wait has no
 * bound. Reads come through the platform's `runRaw`.
 *
 * @internal
 */
import * as NodeSocket from "@effect/platform-node-shared/NodeSocket"
import * as Socket from "@effect/platform/Socket"
import { Closed, Connection, InvalidOption, Options, Timeout } from "@redial/core"
import * as Cause from "effect/Cause"
import * as Chunk from "effect/Chunk"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FiberId from "effect/FiberId"
import * as FiberSet from "effect/FiberSet"
import * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Net from "node:net"
import * as Tls from "node:tls"
import WebSocket from "ws"
import type * as ResilientSocket from "../ResilientSocket.js"
import { SocketError } from "../SocketError.js"
import { ConnectedMarker, type Handler, Inbox, type Item, type Source } from "./inbox.js"
import { Outbox, Sent, type Sink } from "./outbox.js"

// --- options ------------------------------------------------------------------------------------

const DEFAULT_MESSAGES = 10_000
const DEFAULT_BYTES = 16 * 1024 * 1024

/** @internal */
export const DEFAULT_CONNECT_TIMEOUT = Duration.seconds(10)

/** A congested WebSocket: past this many bytes in `bufferedAmount` writes are buffered here. */
const WS_HIGH_WATER = 1024 * 1024

const Plain = Schema.Struct({
  name: Schema.optionalWith(Options.nonEmptyString, { default: () => "socket" }),
  connectTimeout: Schema.optionalWith(Options.duration(), { default: () => DEFAULT_CONNECT_TIMEOUT }),
  writeTimeout: Schema.optional(Options.duration({ finite: false })),
  readBuffer: Schema.optionalWith(Options.integer({ min: 1 }), { default: () => 1024 }),
  closeTimeout: Schema.optionalWith(Options.duration({ min: 0 }), { default: () => Duration.seconds(1) }),
  buffer: Schema.optionalWith(
    Schema.Struct({
      messages: Schema.optionalWith(Options.integer({ min: 1 }), { default: () => DEFAULT_MESSAGES }),
      bytes: Schema.optionalWith(Options.integer({ min: 1 }), { default: () => DEFAULT_BYTES }),
      overflow: Schema.optionalWith(Options.literal("suspend", "fail", "dropOldest"), {
        default: () => "suspend" as const
      })
    }),
    { default: () => ({ messages: DEFAULT_MESSAGES, bytes: DEFAULT_BYTES, overflow: "suspend" as const }) }
  ),
  ping: Schema.optional(Schema.Struct({ interval: Options.duration(), timeout: Schema.optional(Options.duration()) }))
})

// --- one connection -------------------------------------------------------------------------------

/** What a transport knows how to do with its raw socket. */
interface Transport<In, Raw> {
  /** The platform socket of one attempt; `live.adopt` is called with the raw socket it opens. */
  readonly socket: (live: Live<In, Raw>) => Effect.Effect<Socket.Socket>
  readonly sink: (raw: Raw) => Sink
  readonly source: (raw: Raw) => Source
  /** Bytes handed to the raw socket and still in its own buffer. */
  readonly unsent: (raw: Raw) => number
  /** Sends a ping frame and calls `onPong` at its pong; `undefined` when the socket has none. */
  readonly pingFrame: ((raw: Raw, onPong: () => void) => void) | undefined
  /** What the end of a run (its exit) says about the connection. */
  readonly ended: (exit: Exit.Exit<void, unknown>) => SocketError
}

/** One connection: the `A` of the core `Connection`. */
class Live<In, Raw> implements ResilientSocket.SocketConnection<Raw> {
  id = 0
  private rawSocket: Raw | undefined = undefined
  sink: Sink | undefined = undefined
  source: Source | undefined = undefined
  /** Known to be dead (its run ended, or a ping went unanswered): close it without ceremony. */
  dead = false
  /** Waiters for the next sign of life (a ping's answer). */
  private alive: Array<() => void> = []
  /** Open (succeeds) or the run ended first (fails). */
  readonly ready = Deferred.unsafeMake<void, SocketError>(FiberId.none)
  /** The run's end, as a loss. */
  readonly end = Deferred.unsafeMake<SocketError>(FiberId.none)

  constructor(readonly owner: Owner<In, Raw>) {}

  /** The raw socket; set (by `adopt`) before anyone can see this connection. */
  get raw(): Raw {
    return this.rawSocket as Raw
  }

  get adopted(): boolean {
    return this.rawSocket !== undefined
  }

  adopt(raw: Raw): void {
    this.rawSocket = raw
    this.sink = this.owner.transport.sink(raw)
    this.source = this.owner.transport.source(raw)
  }

  /** The socket is open (or its first data came): it gets its number and its marker. */
  opened(): void {
    const source = this.source
    if (this.id !== 0 || source === undefined) return
    this.id = this.owner.opened(source)
    Deferred.unsafeDone(this.ready, Exit.void)
  }

  readonly receive = (data: string | Uint8Array): void => {
    if (this.id === 0) this.opened()
    // any data answers a ping
    if (this.alive.length > 0) this.pong()
    const message = (data instanceof ArrayBuffer ? new Uint8Array(data) : data) as In
    const isPong = this.owner.isPong
    if (isPong !== undefined) {
      let pong: boolean
      try {
        pong = isPong(message)
      } catch (defect) {
        // Called from the socket's data event: a throw must not reach node. It drops this
        // connection, the throw as its cause.
        this.dead = true
        Deferred.unsafeDone(
          this.end,
          Exit.succeed(new SocketError({ socket: this.owner.name, reason: "Read", cause: defect }))
        )
        return
      }
      if (pong) return
    }
    this.owner.inbox.offer(message)
  }

  /** A sign of life (a pong frame, or data): wakes the ping waiting for it. */
  readonly pong = (): void => {
    const alive = this.alive
    this.alive = []
    for (const f of alive) f()
  }

  /** Waits for the next data or pong; the waiter leaves when interrupted. */
  readonly nextSignOfLife: Effect.Effect<void> = Effect.async<void>((resume) => {
    const f = () => resume(Effect.void)
    this.alive.push(f)
    return Effect.sync(() => {
      const i = this.alive.indexOf(f)
      if (i >= 0) this.alive.splice(i, 1)
    })
  })

  ended(exit: Exit.Exit<void, unknown>): void {
    this.dead = true
    const error = this.owner.transport.ended(exit)
    this.owner.closed(this)
    // A defect before the socket opened (the URL effect died, a bug) fails the attempt with it:
    // core calls that fatal. After it opened, whatever ended the run is a loss.
    const defect = Exit.isFailure(exit) ? Cause.dieOption(exit.cause) : Option.none()
    Deferred.unsafeDone(this.ready, Option.isSome(defect) ? Exit.die(defect.value) : Exit.fail(error))
    Deferred.unsafeDone(this.end, Exit.succeed(error))
  }

  write(data: Uint8Array | string): Effect.Effect<void, SocketError> {
    return Effect.suspend(() =>
      this.sink !== undefined && !this.dead && this.sink.send(data) !== Sent.Dead
        ? Effect.void
        : Effect.fail(new SocketError({ socket: this.owner.name, reason: "Write", possiblyDelivered: false }))
    )
  }
}

/** What one socket's connections share. */
class Owner<In, Raw> {
  private connections = 0
  /** What the connections that ended since the last marker left in their buffers. */
  private unsent = 0
  constructor(
    readonly name: string,
    readonly transport: Transport<In, Raw>,
    readonly inbox: Inbox<In>,
    readonly outbox: Outbox,
    readonly isPong: ((data: In) => boolean) | undefined
  ) {}

  opened(source: Source): number {
    const id = ++this.connections
    this.inbox.connected(id, source, this.unsent)
    this.unsent = 0
    return id
  }

  closed(live: Live<In, Raw>): void {
    if (live.sink !== undefined) this.outbox.detach(live.sink)
    if (live.source !== undefined) this.inbox.disconnected(live.source)
    if (live.id !== 0 && live.adopted) this.unsent += this.transport.unsent(live.raw)
  }
}

// --- the socket -----------------------------------------------------------------------------------

interface Made<In, Raw> {
  readonly options: ResilientSocket.Options<In, Raw>
  readonly transport: (settings: typeof Plain.Type) => Transport<In, Raw>
  /** An error in the options that the schema does not see. */
  readonly invalid?: InvalidOption | undefined
  readonly isFatalLoss?: ((error: SocketError) => boolean) | undefined
}

const make = <In, Raw>(
  made: Made<In, Raw>
): Effect.Effect<ResilientSocket.ResilientSocket<In, Raw>, InvalidOption | Timeout | Closed, Scope.Scope> =>
  Effect.gen(function*() {
    const options = made.options
    if (made.invalid) return yield* Effect.fail(made.invalid)
    const plain = yield* Options.decodeEffect(Plain, {
      name: options.name,
      connectTimeout: options.connectTimeout,
      writeTimeout: options.writeTimeout,
      readBuffer: options.readBuffer,
      closeTimeout: options.closeTimeout,
      buffer: options.buffer === undefined ? undefined : {
        messages: options.buffer.messages,
        bytes: options.buffer.bytes,
        overflow: options.buffer.overflow
      },
      ping: options.ping === undefined ? undefined : { interval: options.ping.interval, timeout: options.ping.timeout }
    })
    const name = plain.name
    const transport = made.transport(plain)
    const inbox = new Inbox<In>(plain.readBuffer)
    const outbox = new Outbox(name, plain.buffer, plain.writeTimeout)
    const owner = new Owner(name, transport, inbox, outbox, options.ping?.isPong)
    const onConnect = options.onConnect

    // Closed for good: buffered writes fail, the reader gets Closed after what it has not read.
    const onStatus = (status: Connection.Status) => {
      if (status._tag === "Closed") {
        const error = new Closed({ connection: name, reason: status.reason, error: status.error })
        outbox.close(error)
        inbox.end(error)
      } else {
        outbox.reopen()
        inbox.reopen()
      }
    }
    yield* Effect.addFinalizer(() => Effect.sync(() => onStatus(Connection.Status.Closed({ reason: "ScopeClosed" }))))

    const pingMessage = options.ping?.message
    const pingTimeout = plain.ping === undefined ? Duration.zero : plain.ping.timeout ?? plain.ping.interval
    const pingFrame = transport.pingFrame
    const check = (live: Live<In, Raw>): Effect.Effect<void, Timeout> =>
      Effect.suspend(() => {
        // Paused because the reader is behind: an answer would wait unread in the socket, so no
        // ping can tell anything now (the reader's pace, not the peer, holds the data back).
        if (live.source !== undefined && inbox.isPausing(live.source)) return Effect.void
        const answer = live.nextSignOfLife
        if (pingMessage !== undefined) live.sink?.send(pingMessage)
        else pingFrame?.(live.raw, live.pong)
        return answer
      }).pipe(
        Effect.timeoutFail({
          duration: pingTimeout,
          onTimeout: () => {
            // Unanswered: the socket is not worth a graceful close.
            live.dead = true
            return new Timeout({ connection: name, operation: "ping", duration: pingTimeout })
          }
        })
      )
    const isFatal = options.isFatal
    const isFatalLoss = made.isFatalLoss

    const connection = yield* Connection.make<Live<In, Raw>, unknown>({
      name,
      policy: options.policy,
      minUptime: options.minUptime,
      connectTimeout: plain.connectTimeout,
      autoConnect: options.autoConnect,
      awaitConnected: options.awaitConnected,
      afterConnectTimeout: options.onConnectTimeout,
      // A predicate of the user's that throws says "not fatal": the socket keeps reconnecting.
      isFatal: isFatal === undefined
        ? undefined
        : (error) => (error instanceof SocketError || error instanceof Timeout) && safely(() => isFatal(error)),
      isFatalLoss: isFatalLoss === undefined
        ? undefined
        : (cause) => cause instanceof SocketError && safely(() => isFatalLoss(cause)),
      acquire: Effect.gen(function*() {
        const live = new Live<In, Raw>(owner)
        const socket = yield* transport.socket(live)
        yield* socket.runRaw(live.receive, { onOpen: Effect.sync(() => live.opened()) }).pipe(
          Effect.onExit((exit) => Effect.sync(() => live.ended(exit))),
          Effect.forkScoped
        )
        yield* Deferred.await(live.ready)
        return live
      }),
      lost: (live) => Deferred.await(live.end),
      afterConnect: (live) =>
        (onConnect === undefined ? Effect.void : onConnect(live)).pipe(
          Effect.zipRight(Effect.sync(() => {
            if (!live.dead && live.sink !== undefined) outbox.attach(live.sink)
          }))
        ),
      healthCheck: plain.ping === undefined ? undefined : {
        interval: plain.ping.interval,
        // a backstop: the check times out on its own first
        timeout: Duration.sum(pingTimeout, Duration.seconds(1)),
        check
      }
    })

    // Acts on the status as it is when the change is seen, never on a stale one (this fiber may
    // lag behind: a late "Connected" must not reopen an outbox that `close` has since closed).
    const current = Effect.flatMap(connection.status, (status) => Effect.sync(() => onStatus(status)))
    yield* connection.changes.pipe(Stream.runForEach(() => current), Effect.forkScoped)

    const events: Stream.Stream<ResilientSocket.Event<In>, Closed> = Stream.repeatEffectChunk(
      Effect.map(inbox.take, Chunk.map(toEvent))
    )
    const messages: Stream.Stream<In, Closed> = Stream.repeatEffectChunk(inbox.takeData)

    const run = <E, R>(
      handler: (data: In) => Effect.Effect<unknown, E, R> | void,
      runOptions?: { readonly onConnected?: ((marker: ResilientSocket.Connected) => void) | undefined }
    ): Effect.Effect<never, Closed | E, R> =>
      Effect.scoped(Effect.gen(function*() {
        const fibers = yield* FiberSet.make<unknown, Closed | E>()
        const runFork = yield* FiberSet.runtime(fibers)<R>()
        const fail = (exit: Exit.Exit<never, Closed | E>) => Deferred.unsafeDone(fibers.deferred, exit)
        const onConnected = runOptions?.onConnected
        // Called from the socket's event handlers: a throw must end this run, not the process.
        const guarded = <A>(f: (a: A) => void) => (a: A) => {
          try {
            f(a)
          } catch (defect) {
            fail(Exit.die(defect))
          }
        }
        const attached: Handler<In> = {
          data: guarded((data: In) => {
            const effect = handler(data)
            if (effect !== undefined) runFork(effect)
          }),
          connected: guarded((marker: ConnectedMarker) => onConnected?.(toConnected(marker))),
          end: (error) => fail(Exit.fail(error))
        }
        yield* Effect.acquireRelease(
          Effect.sync(() => inbox.attach(attached)),
          () => Effect.sync(() => inbox.detach(attached))
        )
        yield* FiberSet.join(fibers)
        return yield* Effect.never
      }))

    const socket: ResilientSocket.ResilientSocket<In, Raw> = {
      name,
      get: connection.get,
      await: connection.await as ResilientSocket.ResilientSocket<In, Raw>["await"],
      status: connection.status,
      changes: connection.changes,
      close: Effect.zipRight(connection.close, current),
      connect: Effect.zipRight(Effect.sync(() => outbox.reopen()), connection.connect),
      write: outbox.write,
      messages,
      events,
      run,
      pending: Effect.sync(() => outbox.pending)
    }
    return socket
  })

/** A user's predicate, false when it throws. */
const safely = (predicate: () => boolean): boolean => {
  try {
    return predicate()
  } catch {
    return false
  }
}

const toConnected = (marker: ConnectedMarker): ResilientSocket.Connected => ({
  _tag: "Connected",
  connection: marker.connection,
  skipped: marker.skipped,
  unsent: marker.unsent
})

const toEvent = <In>(item: Item<In>): ResilientSocket.Event<In> =>
  item instanceof ConnectedMarker ? toConnected(item) : { _tag: "Data", data: item }

// --- TCP ------------------------------------------------------------------------------------------

const noop = () => {}

/** The `net.connect` options of `NetOptions`: everything that is not one of ours. */
const OWN_KEYS = new Set([
  "name",
  "policy",
  "connectTimeout",
  "minUptime",
  "autoConnect",
  "awaitConnected",
  "isFatal",
  "buffer",
  "writeTimeout",
  "readBuffer",
  "onConnect",
  "onConnectTimeout",
  "ping",
  "closeTimeout",
  "tls"
])

/** Reads what a platform run's end says, for either kind of socket. */
const endedWith = (name: string) => (exit: Exit.Exit<void, unknown>): SocketError => {
  if (Exit.isSuccess(exit)) return new SocketError({ socket: name, reason: "End" })
  const failure = Cause.failureOption(exit.cause)
  if (Option.isNone(failure)) {
    return new SocketError({ socket: name, reason: "Read", cause: Cause.squash(exit.cause) })
  }
  const error = failure.value
  if (Socket.SocketCloseError.is(error)) {
    return new SocketError({ socket: name, reason: "Close", code: error.code, closeReason: error.closeReason })
  }
  if (Socket.isSocketError(error) && error.reason !== "Close") {
    return new SocketError({
      socket: name,
      reason: error.reason === "Open" || error.reason === "OpenTimeout"
        ? "Open"
        : error.reason === "Write"
        ? "Write"
        : "Read",
      cause: error.cause
    })
  }
  return new SocketError({ socket: name, reason: "Read", cause: error })
}

/** Waits up to `timeout` for `event` on an emitter, then runs `after`. */
const waitFor = (
  emitter: { once(event: string, f: () => void): unknown; off(event: string, f: () => void): unknown },
  event: string,
  timeout: Duration.Duration,
  after: () => void
): Effect.Effect<void> =>
  Effect.async<void>((resume) => {
    const f = () => resume(Effect.void)
    emitter.once(event, f)
    return Effect.sync(() => emitter.off(event, f))
  }).pipe(
    // it runs in a release, which is uninterruptible: the wait itself must be, or no timeout cuts it
    Effect.interruptible,
    Effect.timeoutOption(timeout),
    Effect.ensuring(Effect.sync(after)),
    Effect.asVoid
  )

const netTransport = (
  name: string,
  connect: Net.NetConnectOpts,
  secure: Tls.ConnectionOptions | undefined,
  closeTimeout: Duration.Duration
) => {
  const transport: Transport<Uint8Array, Net.Socket> = {
    socket: (live) =>
      NodeSocket.fromDuplex(
        Effect.acquireRelease(
          // acquireRelease's acquire is uninterruptible: the connect must not be, or the connect
          // timeout cannot end one that never completes (a lookup that never answers).
          Effect.interruptible(Effect.async<Net.Socket, Socket.SocketError>((resume) => {
            const conn: Net.Socket = secure === undefined
              ? Net.createConnection(connect)
              : Tls.connect({ ...(connect as Tls.ConnectionOptions), ...secure })
            const onError = (cause: Error) =>
              resume(Effect.fail(new Socket.SocketGenericError({ reason: "Open", cause })))
            conn.once("error", onError)
            // TLS: open once the handshake is done (a certificate it refuses is an Open error)
            conn.once(secure === undefined ? "connect" : "secureConnect", () => {
              conn.off("error", onError)
              // The platform listens while it runs; a late error after that must not crash the process.
              conn.on("error", noop)
              live.adopt(conn)
              resume(Effect.succeed(conn))
            })
            return Effect.sync(() => {
              conn.on("error", noop)
              conn.destroy()
            })
          })),
          (conn) =>
            Effect.suspend(() => {
              if (conn.destroyed) return Effect.void
              if (live.dead || Duration.toMillis(closeTimeout) === 0) {
                conn.destroy()
                return Effect.void
              }
              // What was handed is flushed, then our FIN; the socket is destroyed after that at most.
              conn.end()
              return waitFor(conn, "finish", closeTimeout, () => conn.destroy())
            })
        )
      ),
    sink: (conn) => ({
      send: (data) => {
        if (conn.destroyed || !conn.writable) return Sent.Dead
        return conn.write(data) ? Sent.Ok : Sent.Congested
      },
      onDrain: (f) => void conn.once("drain", f)
    }),
    source: (conn) => ({ pause: () => conn.pause(), resume: () => conn.resume() }),
    unsent: (conn) => conn.writableLength,
    pingFrame: undefined,
    ended: endedWith(name)
  }
  return transport
}

/** @internal */
export const makeNet = (
  options: ResilientSocket.NetOptions
): Effect.Effect<
  ResilientSocket.ResilientSocket<Uint8Array, Net.Socket>,
  InvalidOption | Timeout | Closed,
  Scope.Scope
> => {
  const connect = Object.fromEntries(
    Object.entries(options).filter(([key]) => !OWN_KEYS.has(key))
  ) as unknown as Net.NetConnectOpts
  return make({
    options,
    transport: (plain) =>
      netTransport(plain.name, connect, options.tls === true ? {} : options.tls || undefined, plain.closeTimeout),
    invalid: options.ping !== undefined && options.ping.message === undefined
      ? new InvalidOption({
        option: "ping.message",
        reason: "Missing",
        detail: "a TCP socket has no ping frame: give the message to send"
      })
      : undefined
  })
}

// --- WebSocket ------------------------------------------------------------------------------------

/** What the `ws` package's WebSocket has beyond the standard one. */
interface WsExtras {
  pause(): void
  resume(): void
  ping(data?: unknown, mask?: boolean, cb?: (error?: Error) => void): void
  terminate(): void
  send(data: unknown, cb?: (error?: Error) => void): void
  once(event: "pong" | "close", f: () => void): unknown
  on(event: "error", f: (error: Error) => void): unknown
  off(event: string, f: () => void): unknown
}

const isWs = (raw: globalThis.WebSocket): raw is globalThis.WebSocket & WsExtras =>
  raw instanceof WebSocket || Predicate.hasProperty(raw, "terminate") && Predicate.hasProperty(raw, "pause")

const OPEN = 1
const CLOSED = 3

const wsTransport = (
  name: string,
  url: Effect.Effect<string>,
  construct: (url: string) => globalThis.WebSocket,
  connectTimeout: Duration.Duration,
  closeTimeout: Duration.Duration
) => {
  const transport: Transport<Uint8Array | string, globalThis.WebSocket> = {
    socket: (live) =>
      Socket.fromWebSocket(
        Effect.acquireRelease(
          Effect.flatMap(url, (url) =>
            Effect.try({
              try: () => {
                const ws = construct(url)
                if (isWs(ws)) ws.on("error", noop)
                else {
                  ws.addEventListener("error", noop)
                  ws.binaryType = "arraybuffer"
                }
                live.adopt(ws)
                return ws
              },
              // e.g. an invalid URL: never quoted (it may carry a token)
              catch: (cause) => new Socket.SocketGenericError({ reason: "Open", cause: withoutUrl(cause) })
            })),
          (ws) =>
            Effect.suspend(() => {
              if (ws.readyState === CLOSED) return Effect.void
              const extras = isWs(ws) ? ws : undefined
              if (ws.readyState !== OPEN || live.dead || Duration.toMillis(closeTimeout) === 0) {
                if (extras) extras.terminate()
                else ws.close()
                return Effect.void
              }
              ws.close(1000)
              if (extras === undefined) return Effect.void
              return waitFor(extras, "close", closeTimeout, () => extras.terminate())
            })
        ),
        { closeCodeIsError: () => true, openTimeout: connectTimeout }
      ),
    sink: (ws) => {
      const extras = isWs(ws) ? ws : undefined
      let drained: (() => void) | undefined = undefined
      const onSent = () => {
        const f = drained
        drained = undefined
        f?.()
      }
      return {
        send: (data) => {
          if (ws.readyState !== OPEN) return Sent.Dead
          if (extras !== undefined && ws.bufferedAmount >= WS_HIGH_WATER) {
            extras.send(data, onSent)
            return Sent.Congested
          }
          ws.send(data)
          return Sent.Ok
        },
        onDrain: (f) => {
          drained = f
        }
      }
    },
    source: (ws) => isWs(ws) ? { pause: () => ws.pause(), resume: () => ws.resume() } : { pause: noop, resume: noop },
    unsent: (ws) => ws.bufferedAmount,
    pingFrame: (ws, onPong) => {
      if (!isWs(ws)) return
      ws.once("pong", onPong)
      ws.ping()
    },
    ended: endedWith(name)
  }
  return transport
}

/** An error from the WebSocket constructor, without the URL it may quote. */
const withoutUrl = (cause: unknown): Error =>
  new Error(
    Predicate.hasProperty(cause, "name") && typeof cause.name === "string"
      ? `${cause.name}: invalid URL`
      : "invalid URL"
  )

/** @internal */
export const makeWebSocket = (
  url: string | Redacted.Redacted<string> | Effect.Effect<string | Redacted.Redacted<string>>,
  options: ResilientSocket.WebSocketOptions = {}
): Effect.Effect<
  ResilientSocket.ResilientSocket<Uint8Array | string, globalThis.WebSocket>,
  InvalidOption | Timeout | Closed,
  Scope.Scope
> =>
  Effect.gen(function*() {
    const fromContext = yield* Effect.serviceOption(Socket.WebSocketConstructor)
    const protocols = options.protocols
    const clientOptions = options.clientOptions
    const custom = options.webSocket
    const construct: (url: string) => globalThis.WebSocket = custom !== undefined
      ? (url) => custom(url, protocols)
      : Option.isSome(fromContext)
      ? (url) => fromContext.value(url, protocols)
      : (url) => new WebSocket(url, protocols, clientOptions) as unknown as globalThis.WebSocket
    const resolved: Effect.Effect<string> = Effect.isEffect(url)
      ? Effect.map(url, (u) => Redacted.isRedacted(u) ? Redacted.value(u) : u)
      : Effect.succeed(Redacted.isRedacted(url) ? Redacted.value(url) : url)
    const shouldReconnect = options.shouldReconnect
    return yield* make<Uint8Array | string, globalThis.WebSocket>({
      options,
      transport: (plain) => wsTransport(plain.name, resolved, construct, plain.connectTimeout, plain.closeTimeout),
      isFatalLoss: shouldReconnect === undefined ?
        undefined :
        (error) =>
          error.reason === "Close" && !shouldReconnect({ code: error.code ?? 1005, reason: error.closeReason ?? "" })
    })
  })
