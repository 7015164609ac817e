import { describe, expect, it } from "@effect/vitest"
import { isRedialError } from "@redial/core"
import { Clock, Data, Effect, Exit, Option, Scope } from "effect"
import * as net from "node:net"
import * as FaultProxy from "../src/FaultProxy.js"

// --- helpers: a real echo server and a small client, both scoped -----------------------------

class SocketError extends Data.TaggedError("SocketError")<{
  readonly code: string | undefined
  readonly cause: unknown
}> {}

interface EchoServer {
  readonly port: number
  /** The connections the server has open right now. */
  readonly connections: Effect.Effect<number>
}

const serverPort = (server: net.Server): number => {
  const address = server.address()
  if (address === null || typeof address === "string") throw new Error("not listening on TCP")
  return address.port
}

const listen = (server: net.Server): Effect.Effect<void> =>
  Effect.async((resume) => {
    server.listen(0, "127.0.0.1", () => resume(Effect.void))
  })

const echoServer: Effect.Effect<EchoServer, never, Scope.Scope> = Effect.gen(function*() {
  const sockets = new Set<net.Socket>()
  const server = net.createServer((socket) => {
    sockets.add(socket)
    socket.on("error", () => {})
    socket.once("close", () => sockets.delete(socket))
    socket.pipe(socket)
  })
  yield* Effect.acquireRelease(listen(server), () =>
    Effect.async((resume) => {
      server.close(() => resume(Effect.void))
      for (const socket of sockets) socket.destroy()
    }))
  return {
    port: serverPort(server),
    connections: Effect.async<number>((resume) => {
      server.getConnections((_, count) => resume(Effect.succeed(count)))
    })
  }
})

/** A port nothing listens on (it was free a moment ago). */
const freePort: Effect.Effect<number> = Effect.gen(function*() {
  const server = net.createServer()
  yield* listen(server)
  const port = serverPort(server)
  yield* Effect.async((resume) => {
    server.close(() => resume(Effect.void))
  })
  return port
})

interface Client {
  readonly socket: net.Socket
  readonly write: (data: string | Uint8Array) => Effect.Effect<void>
  readonly end: Effect.Effect<void>
  /** Waits for the next `bytes` bytes; fails if the socket closes first. */
  readonly read: (bytes: number) => Effect.Effect<Buffer, SocketError>
  /** Waits until the socket is closed; the error code seen before, if any. */
  readonly closed: Effect.Effect<string | undefined>
}

const connect = (port: number): Effect.Effect<Client, SocketError, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.async<Client, SocketError>((resume) => {
      const socket = net.connect({ host: "127.0.0.1", port })
      let chunks: Array<Buffer> = []
      let size = 0
      let isClosed = false
      let error: NodeJS.ErrnoException | undefined
      socket.on("data", (chunk: Buffer) => {
        chunks.push(chunk)
        size += chunk.length
      })
      socket.on("error", (cause: NodeJS.ErrnoException) => {
        error = cause
      })
      socket.once("close", () => {
        isClosed = true
      })
      const take = (bytes: number): Buffer => {
        const all = Buffer.concat(chunks, size)
        chunks = size > bytes ? [all.subarray(bytes)] : []
        size -= bytes
        return all.subarray(0, bytes)
      }
      const client: Client = {
        socket,
        write: (data) =>
          Effect.sync(() => {
            socket.write(data)
          }),
        end: Effect.sync(() => {
          socket.end()
        }),
        read: (bytes) =>
          Effect.async<Buffer, SocketError>((resume) => {
            const check = () => {
              if (size >= bytes) {
                cleanup()
                resume(Effect.succeed(take(bytes)))
              } else if (isClosed) {
                cleanup()
                resume(Effect.fail(new SocketError({ code: error?.code, cause: error })))
              }
            }
            const cleanup = () => {
              socket.off("data", check)
              socket.off("close", check)
            }
            socket.on("data", check)
            socket.on("close", check)
            check()
            return Effect.sync(cleanup)
          }),
        closed: Effect.async<string | undefined>((resume) => {
          if (isClosed) return resume(Effect.succeed(error?.code))
          const onClose = () => resume(Effect.succeed(error?.code))
          socket.once("close", onClose)
          return Effect.sync(() => socket.off("close", onClose))
        })
      }
      const onEarlyClose = () => resume(Effect.fail(new SocketError({ code: error?.code, cause: error })))
      socket.once("close", onEarlyClose)
      socket.once("connect", () => {
        socket.off("close", onEarlyClose)
        resume(Effect.succeed(client))
      })
    }),
    (client) => Effect.sync(() => client.socket.destroy())
  )

const echo = (client: Client, text: string): Effect.Effect<string, SocketError> =>
  Effect.zipRight(client.write(text), client.read(Buffer.byteLength(text))).pipe(
    Effect.map((buffer) => buffer.toString())
  )

/** Connects and waits for the connection to be closed by the other side: the error code, if any. */
const closedAtOnce = (port: number): Effect.Effect<string | undefined> =>
  connect(port).pipe(
    Effect.flatMap((client) => client.closed),
    Effect.catchAll((error) => Effect.succeed(error.code)),
    Effect.scoped
  )

/** Reads `bytes` bytes, or None if nothing complete arrives within 300 ms. */
const silentFor300ms = (client: Client, bytes: number) => client.read(bytes).pipe(Effect.timeoutOption("300 millis"))

/** Polls `self` until `predicate` holds (or fails after 5 seconds). */
const eventually = <A, E>(self: Effect.Effect<A, E>, predicate: (a: A) => boolean) => {
  const loop: Effect.Effect<A, E> = Effect.flatMap(
    self,
    (a) => predicate(a) ? Effect.succeed(a) : Effect.zipRight(Effect.sleep("5 millis"), Effect.suspend(() => loop))
  )
  return Effect.timeout(loop, "5 seconds")
}

const payload = (bytes: number): Buffer => {
  const buffer = Buffer.allocUnsafe(bytes)
  for (let i = 0; i < bytes; i++) buffer[i] = (i * 31 + (i >> 12)) & 0xff
  return buffer
}

const setup = Effect.gen(function*() {
  const server = yield* echoServer
  const proxy = yield* FaultProxy.make({ target: { port: server.port } })
  return { server, proxy }
})

// --- tests -------------------------------------------------------------------------------------

describe("FaultProxy", () => {
  it.scopedLive("forwards data both ways and reports its address", () =>
    Effect.gen(function*() {
      const { proxy } = yield* setup
      expect(proxy.host).toBe("127.0.0.1")
      expect(proxy.port).toBeGreaterThan(0)
      expect(proxy.address).toBe(`127.0.0.1:${proxy.port}`)
      const client = yield* connect(proxy.port)
      expect(yield* echo(client, "hello")).toBe("hello")
      expect(yield* echo(client, "again")).toBe("again")
    }))

  it.scopedLive("carries a 5 MB transfer with backpressure", () =>
    Effect.gen(function*() {
      const { proxy } = yield* setup
      const client = yield* connect(proxy.port)
      const data = payload(5 * 1024 * 1024)
      yield* client.write(data)
      const received = yield* client.read(data.length)
      expect(received.equals(data)).toBe(true)
    }))

  it.scopedLive("passes a half-close on after the data", () =>
    Effect.gen(function*() {
      const { proxy } = yield* setup
      yield* proxy.latency(50)
      const client = yield* connect(proxy.port)
      yield* client.write("last words")
      yield* client.end
      expect((yield* client.read(10)).toString()).toBe("last words")
      expect(yield* client.closed).toBeUndefined()
    }))

  it.scopedLive("cut resets every open connection and accepts new ones", () =>
    Effect.gen(function*() {
      const { proxy, server } = yield* setup
      const a = yield* connect(proxy.port)
      const b = yield* connect(proxy.port)
      expect(yield* echo(a, "a")).toBe("a")
      expect(yield* echo(b, "b")).toBe("b")
      expect(yield* server.connections).toBe(2)

      yield* proxy.cut
      expect(yield* a.closed).toBe("ECONNRESET")
      expect(yield* b.closed).toBe("ECONNRESET")
      expect(yield* eventually(server.connections, (n) => n === 0)).toBe(0)

      const c = yield* connect(proxy.port)
      expect(yield* echo(c, "after the cut")).toBe("after the cut")
      expect(yield* eventually(proxy.connections, (s) => s.open === 1)).toEqual({ open: 1, total: 3 })
    }))

  it.scopedLive("refuse closes new connections at once and leaves open ones alone", () =>
    Effect.gen(function*() {
      const { proxy, server } = yield* setup
      const existing = yield* connect(proxy.port)
      expect(yield* echo(existing, "before")).toBe("before")

      yield* proxy.refuse(true)
      expect(yield* closedAtOnce(proxy.port)).toBe("ECONNRESET")
      expect(yield* closedAtOnce(proxy.port)).toBe("ECONNRESET")
      expect(yield* echo(existing, "still here")).toBe("still here")
      expect(yield* server.connections).toBe(1)
      expect(yield* proxy.connections).toEqual({ open: 1, total: 3 })

      yield* proxy.refuse(false)
      const fresh = yield* connect(proxy.port)
      expect(yield* echo(fresh, "welcome back")).toBe("welcome back")
    }))

  it.scopedLive("blackhole silences new and open connections until turned off", () =>
    Effect.gen(function*() {
      const { proxy, server } = yield* setup
      const existing = yield* connect(proxy.port)
      expect(yield* echo(existing, "ping")).toBe("ping")

      yield* proxy.blackhole(true)
      // TCP connect succeeds, but nothing ever answers.
      const hole = yield* connect(proxy.port)
      yield* hole.write("ping")
      yield* existing.write("lost")
      const [fromHole, fromExisting] = yield* Effect.all(
        [silentFor300ms(hole, 4), silentFor300ms(existing, 4)],
        { concurrency: 2 }
      )
      expect(fromHole).toEqual(Option.none())
      expect(fromExisting).toEqual(Option.none())
      // The black-holed connection never reached the target.
      expect(yield* server.connections).toBe(1)
      expect(yield* eventually(proxy.connections, (s) => s.open === 2)).toEqual({ open: 2, total: 2 })

      yield* proxy.blackhole(false)
      const fresh = yield* connect(proxy.port)
      expect(yield* echo(fresh, "hello")).toBe("hello")
      // What was sent during the black hole is gone; new bytes flow again.
      expect(yield* echo(existing, "pong")).toBe("pong")
      // A connection accepted during the black hole stays one.
      yield* hole.write("ping")
      expect(yield* silentFor300ms(hole, 4)).toEqual(Option.none())
    }))

  it.scopedLive("latency delays each direction and keeps the order", () =>
    Effect.gen(function*() {
      const { proxy } = yield* setup
      const client = yield* connect(proxy.port)
      expect(yield* echo(client, "warm up")).toBe("warm up")

      yield* proxy.latency(200)
      const start = yield* Clock.currentTimeMillis
      expect(yield* echo(client, "slow")).toBe("slow")
      const elapsed = (yield* Clock.currentTimeMillis) - start
      // 200 ms each way; a little slack for timer granularity.
      expect(elapsed).toBeGreaterThanOrEqual(380)

      yield* proxy.latency("20 millis")
      const data = payload(1024 * 1024)
      yield* client.write(data)
      expect((yield* client.read(data.length)).equals(data)).toBe(true)
    }))

  it.scopedLive("restore turns refuse, blackhole and latency off", () =>
    Effect.gen(function*() {
      const { proxy } = yield* setup
      yield* proxy.refuse(true)
      yield* proxy.blackhole(true)
      yield* proxy.latency("10 seconds")
      expect(yield* closedAtOnce(proxy.port)).toBe("ECONNRESET")

      yield* proxy.restore
      const client = yield* connect(proxy.port)
      const answer = yield* echo(client, "back to normal").pipe(Effect.timeout("4 seconds"))
      expect(answer).toBe("back to normal")
    }))

  it.scopedLive("counts open and total connections", () =>
    Effect.gen(function*() {
      const { proxy } = yield* setup
      expect(yield* proxy.connections).toEqual({ open: 0, total: 0 })

      const a = yield* connect(proxy.port)
      expect(yield* echo(a, "a")).toBe("a")
      yield* Effect.scoped(Effect.gen(function*() {
        const b = yield* connect(proxy.port)
        expect(yield* echo(b, "b")).toBe("b")
        expect(yield* proxy.connections).toEqual({ open: 2, total: 2 })
      }))
      expect(yield* eventually(proxy.connections, (s) => s.open === 1)).toEqual({ open: 1, total: 2 })

      yield* proxy.refuse(true)
      yield* closedAtOnce(proxy.port)
      expect(yield* proxy.connections).toEqual({ open: 1, total: 3 })
      yield* proxy.refuse(false)

      yield* Effect.scoped(Effect.gen(function*() {
        const c = yield* connect(proxy.port)
        expect(yield* echo(c, "c")).toBe("c")
        expect(yield* proxy.connections).toEqual({ open: 2, total: 4 })
      }))
      expect(yield* eventually(proxy.connections, (s) => s.open === 1)).toEqual({ open: 1, total: 4 })

      yield* proxy.cut
      expect(yield* a.closed).toBe("ECONNRESET")
      expect(yield* eventually(proxy.connections, (s) => s.open === 0)).toEqual({ open: 0, total: 4 })
    }))

  it.scopedLive("closing the scope closes the server and every connection", () =>
    Effect.gen(function*() {
      const server = yield* echoServer
      const proxyScope = yield* Scope.make()
      const proxy = yield* Scope.extend(FaultProxy.make({ target: { port: server.port } }), proxyScope)
      const a = yield* connect(proxy.port)
      const b = yield* connect(proxy.port)
      expect(yield* echo(a, "a")).toBe("a")
      expect(yield* echo(b, "b")).toBe("b")
      expect(yield* server.connections).toBe(2)

      yield* Scope.close(proxyScope, Exit.void)
      // The clients belong to the test's scope: only the proxy can have closed them.
      yield* a.closed
      yield* b.closed
      const refused = yield* Effect.flip(Effect.scoped(connect(proxy.port)))
      expect(refused.code).toBe("ECONNREFUSED")
      expect(yield* eventually(server.connections, (n) => n === 0)).toBe(0)
    }))

  it.scopedLive("resets the client when the target is down", () =>
    Effect.gen(function*() {
      const port = yield* freePort
      const proxy = yield* FaultProxy.make({ target: { port } })
      expect(yield* closedAtOnce(proxy.port)).toBe("ECONNRESET")
      expect(yield* eventually(proxy.connections, (s) => s.open === 0)).toEqual({ open: 0, total: 1 })
    }))

  it.scopedLive("fails with FaultProxyError when it cannot listen", () =>
    Effect.gen(function*() {
      const server = yield* echoServer
      const error = yield* Effect.flip(FaultProxy.make({ target: { port: 1 }, port: server.port }))
      expect(error._tag).toBe("FaultProxyError")
      expect(error.reason).toBe("Listen")
      expect(error.address).toBe(`127.0.0.1:${server.port}`)
      expect(error.message).toContain(`127.0.0.1:${server.port}`)
      expect(error).toBeInstanceOf(FaultProxy.FaultProxyError)
      expect(isRedialError(error)).toBe(true)
    }))
})
