/**
 * `node:net` servers on loopback for the TCP tests, scoped: an echo server and a server that
 * records every byte it receives, per connection. Each counts its open server-side sockets, resets
 * (`destroyAll`) or ends (`endAll`) every open connection, stops listening and listens again on the
 * same port (`restart`). Waiting is on the server's events (`until`), never on a timer.
 *
 * Also here: a polling helper (`eventually`) for state that sends no events and a record of what
 * a socket's `events` stream delivered (statuses: ./status.ts).
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Net from "node:net"
import * as v8 from "node:v8"
import * as vm from "node:vm"
import { makeSignal } from "./signal.js"

// --- the servers ----------------------------------------------------------------------------------

/** One server-side connection. */
export interface ServerConnection {
  /** 1, 2, … in the order the server accepted them (across restarts). */
  readonly id: number
  readonly socket: Net.Socket
  /** Everything received on it so far (empty unless the server records). */
  readonly received: Buffer
  /** Its socket has closed. */
  readonly closed: boolean
}

/** What the server has seen so far. */
export interface Snapshot {
  /** Server-side sockets open now. */
  readonly open: number
  /** Connections accepted since the server was made (across restarts). */
  readonly accepted: number
  readonly listening: boolean
  /** Every connection accepted, in order (`connections[0].id === 1`). */
  readonly connections: ReadonlyArray<ServerConnection>
}

export interface ServerOptions {
  /** Runs on every accepted connection. Default: nothing (the socket is read, and with `record` kept). */
  readonly handler?: ((socket: Net.Socket, connection: number) => void) | undefined
  /** Keep every byte received, per connection. Default false. */
  readonly record?: boolean | undefined
}

export interface TcpServer {
  readonly host: "127.0.0.1"
  readonly port: number
  readonly snapshot: Effect.Effect<Snapshot>
  /** Server-side sockets open now. */
  readonly open: Effect.Effect<number>
  /** Waits (on the server's events) until `predicate` holds; dies after `timeout`. */
  readonly until: (predicate: (s: Snapshot) => boolean, timeout?: Duration.DurationInput) => Effect.Effect<Snapshot>
  /** Waits for connection `id` (1, 2, …) to be accepted. */
  readonly connection: (id: number, timeout?: Duration.DurationInput) => Effect.Effect<ServerConnection>
  /** Resets every open connection (RST: the client sees ECONNRESET). */
  readonly destroyAll: Effect.Effect<void>
  /** Ends every open connection cleanly (FIN: the client sees the end of the stream). */
  readonly endAll: Effect.Effect<void>
  /** Writes to every open connection. */
  readonly broadcast: (data: string | Uint8Array) => Effect.Effect<void>
  /**
   * Stops listening (new connections are refused: ECONNREFUSED); open connections are left as
   * they are (`destroyAll` / `endAll` them).
   */
  readonly stop: Effect.Effect<void>
  /** Listens again on the same port. */
  readonly restart: Effect.Effect<void>
}

interface Tracked {
  readonly id: number
  readonly socket: Net.Socket
  chunks: Array<Buffer>
  closed: boolean
}

const listen = (server: Net.Server, port: number): Effect.Effect<number> =>
  Effect.async<number>((resume) => {
    const onError = (error: Error) => resume(Effect.die(error))
    server.once("error", onError)
    server.listen(port, "127.0.0.1", () => {
      server.off("error", onError)
      resume(Effect.succeed((server.address() as Net.AddressInfo).port))
    })
  })

/** Resets a connected socket (RST), or destroys one that is not connected. */
const reset = (socket: Net.Socket): void => {
  if (socket.destroyed) return
  if (socket.pending) socket.destroy()
  else socket.resetAndDestroy()
}

/** A TCP server on 127.0.0.1 (an ephemeral port); stopped, with every socket destroyed, when the scope ends. */
export const tcpServer = (options: ServerOptions = {}): Effect.Effect<TcpServer, never, Scope.Scope> =>
  Effect.gen(function*() {
    const handler = options.handler
    const record = options.record ?? false
    const all: Array<Tracked> = []
    const openSockets = new Set<Net.Socket>()
    const signal = makeSignal()
    const changed = signal.notify

    const serve = (): Net.Server =>
      Net.createServer((socket) => {
        const tracked: Tracked = { id: all.length + 1, socket, chunks: [], closed: false }
        all.push(tracked)
        openSockets.add(socket)
        socket.on("error", () => {})
        if (record) {
          socket.on("data", (chunk: Buffer) => {
            tracked.chunks.push(Buffer.from(chunk))
            changed()
          })
        } else if (handler === undefined) socket.resume()
        socket.once("close", () => {
          tracked.closed = true
          openSockets.delete(socket)
          changed()
        })
        handler?.(socket, tracked.id)
        changed()
      })

    let server: Net.Server | undefined = serve()
    const port = yield* listen(server, 0)

    const view = (t: Tracked): ServerConnection => {
      if (t.chunks.length > 1) t.chunks = [Buffer.concat(t.chunks)]
      return { id: t.id, socket: t.socket, received: t.chunks[0] ?? Buffer.alloc(0), closed: t.closed }
    }
    const snapshot = Effect.sync((): Snapshot => ({
      open: openSockets.size,
      accepted: all.length,
      listening: server !== undefined,
      connections: all.map(view)
    }))

    const until = (predicate: (s: Snapshot) => boolean, timeout: Duration.DurationInput = "10 seconds") =>
      signal.until(snapshot, predicate, timeout, "the TCP server's awaited state")

    const stop = Effect.sync(() => {
      const current = server
      server = undefined
      // Stops listening at once; its callback would wait for the open connections.
      current?.close()
      changed()
    })

    const restart = Effect.suspend(() => {
      if (server !== undefined) return Effect.void
      const next = serve()
      server = next
      return Effect.zipRight(listen(next, port), Effect.sync(changed))
    })

    yield* Effect.addFinalizer(() =>
      Effect.gen(function*() {
        yield* stop
        for (const socket of openSockets) socket.destroy()
        yield* until((s) => s.open === 0, "5 seconds")
      })
    )

    const self: TcpServer = {
      host: "127.0.0.1",
      port,
      snapshot,
      open: Effect.sync(() => openSockets.size),
      until,
      connection: (id, timeout) => Effect.map(until((s) => s.accepted >= id, timeout), (s) => s.connections[id - 1]!),
      destroyAll: Effect.sync(() => {
        for (const socket of openSockets) reset(socket)
      }),
      endAll: Effect.sync(() => {
        for (const socket of openSockets) socket.end()
      }),
      broadcast: (data) =>
        Effect.sync(() => {
          for (const socket of openSockets) socket.write(data)
        }),
      stop,
      restart
    }
    return self
  })

/** Echoes every byte back on its connection (with backpressure); the client's end ends it. */
export const echoServer = (
  options: Omit<ServerOptions, "handler"> = {}
): Effect.Effect<TcpServer, never, Scope.Scope> => tcpServer({ ...options, handler: (socket) => socket.pipe(socket) })

/** Records every byte received, per connection; sends nothing unless `handler` does. */
export const collectServer = (
  handler?: ServerOptions["handler"]
): Effect.Effect<TcpServer, never, Scope.Scope> => tcpServer({ handler, record: true })

// --- waiting --------------------------------------------------------------------------------------

/**
 * Polls state that sends no events (a socket's counters, a proxy's) every `interval` until
 * `predicate` holds, and returns it; dies after `timeout`.
 */
export const eventually = <A, E = never>(
  self: Effect.Effect<A, E>,
  predicate: (a: A) => boolean,
  timeout: Duration.DurationInput = "10 seconds",
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
    Effect.timeoutFail({
      duration: timeout,
      onTimeout: () => new Error(`the condition did not hold within ${Duration.format(timeout)}`)
    }),
    Effect.orDie
  )

/** `eventually` for a plain condition. */
export const waitUntil = (
  condition: () => boolean,
  timeout: Duration.DurationInput = "10 seconds",
  interval: Duration.DurationInput = "10 millis"
): Effect.Effect<void> => Effect.asVoid(eventually(Effect.sync(condition), (ok) => ok, timeout, interval))

// --- what a socket delivered ----------------------------------------------------------------------

/** An `events` item, as the socket tests read them. */
export type Event<In> =
  | { readonly _tag: "Data"; readonly data: In }
  | { readonly _tag: "Connected"; readonly connection: number; readonly skipped: number; readonly unsent: number }

/** What a socket's one reader got so far. */
export interface Delivered<In> {
  readonly events: Effect.Effect<ReadonlyArray<Event<In>>>
  /** The data that came after the marker of `connection`, as text (UTF-8). */
  readonly textOf: (connection: number) => Effect.Effect<string>
  /** Waits (on the reader's own progress) until `predicate` holds for what was delivered. */
  readonly until: (
    predicate: (events: ReadonlyArray<Event<In>>) => boolean,
    timeout?: Duration.DurationInput
  ) => Effect.Effect<ReadonlyArray<Event<In>>>
  /** How the stream ended, once it has (it fails with `Closed`). */
  readonly ended: Effect.Effect<Option.Option<Exit.Exit<void, unknown>>>
}

const decoder = new TextDecoder()
const text = (data: unknown): string =>
  typeof data === "string" ? data : data instanceof Uint8Array ? decoder.decode(data) : ""

/** Reads a socket's `events` in a fiber of the scope, from now on, keeping everything. */
export const recordEvents = <In, E>(
  self: { readonly events: Stream.Stream<Event<In>, E> }
): Effect.Effect<Delivered<In>, never, Scope.Scope> =>
  Effect.gen(function*() {
    const events: Array<Event<In>> = []
    let end: Option.Option<Exit.Exit<void, unknown>> = Option.none()
    const signal = makeSignal()
    const changed = signal.notify
    yield* Effect.forkScoped(
      Stream.runForEach(self.events, (event) =>
        Effect.sync(() => {
          events.push(event)
          changed()
        })).pipe(
          Effect.exit,
          Effect.flatMap((exit) =>
            Effect.sync(() => {
              end = Option.some(exit)
              changed()
            })
          )
        )
    )
    const textOf = (connection: number) =>
      Effect.sync(() => {
        let mine = false
        let out = ""
        for (const event of events) {
          if (event._tag === "Connected") mine = event.connection === connection
          else if (mine) out += text(event.data)
        }
        return out
      })
    return {
      events: Effect.sync(() => [...events]),
      textOf,
      until: (predicate, timeout = "10 seconds") =>
        signal.until(
          Effect.suspend(() =>
            predicate(events) || Option.isNone(end)
              ? Effect.succeed([...events])
              : Effect.dieMessage("the events stream ended before the awaited state")
          ),
          () => predicate(events),
          timeout,
          "the awaited state of the events stream"
        ),
      ended: Effect.sync(() => end)
    }
  })

/** The text of the data events in `events`, in order. */
export const textOfAll = <In>(events: ReadonlyArray<Event<In>>): string =>
  events.map((e) => e._tag === "Data" ? text(e.data) : "").join("")

// --- memory ---------------------------------------------------------------------------------------

/** `global.gc`, exposed at run time (the test workers are not started with --expose-gc). */
export const exposeGc = (): () => void => {
  v8.setFlagsFromString("--expose-gc")
  return vm.runInNewContext("gc") as () => void
}

/** The heap and the array buffers (where socket data lives) in use after two full collections. */
export const memoryAfterGc = (gc: () => void): Effect.Effect<number> =>
  Effect.sync(() => {
    gc()
    gc()
    const usage = process.memoryUsage()
    return usage.heapUsed + usage.arrayBuffers
  })
