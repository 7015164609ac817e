/**
 * `ResilientSocket.makeNet` against real `node:net` servers on loopback: the first connection and
 * its echo, `onConnect` ahead of the buffered writes, read backpressure, what `close` and the end
 * of the scope leave behind, a write made on a socket that just died, and pongs kept out of
 * `messages`.
 */
import { describe, expect, it } from "@effect/vitest"
import { Closed, Reconnect } from "@redial/core"
import type { Connection } from "@redial/core"
import { Deferred, Effect, Either, Exit, Fiber, Logger, LogLevel, Option, Runtime, Stream } from "effect"
import * as Net from "node:net"
import { ResilientSocket } from "../src/index.js"
import {
  collectServer,
  echoServer,
  eventually,
  exposeGc,
  memoryAfterGc,
  recordEvents,
  tcpServer,
  textOfAll,
  waitUntil
} from "./support/servers.js"
import { awaitStatus, causeOf, recordStatuses } from "./support/status.js"

const decoder = new TextDecoder()

/** Reads `messages` as text until at least `length` characters came. */
const readText = <E>(messages: Stream.Stream<Uint8Array, E>, length: number) =>
  messages.pipe(
    Stream.map((chunk) => decoder.decode(chunk)),
    Stream.scan("", (all, part) => all + part),
    Stream.takeUntil((all) => all.length >= length),
    Stream.runLast,
    Effect.map(Option.getOrElse(() => "")),
    Effect.timeoutFail({ duration: "10 seconds", onTimeout: () => new Error("messages did not deliver in time") }),
    Effect.orDie
  )

/** The warnings of every loss, which these tests cause on purpose, kept out of the output. */
const quiet = Logger.withMinimumLogLevel(LogLevel.None)

const fast = { policy: Reconnect.fixed("50 millis"), minUptime: 0 } as const

describe("makeNet: connecting", () => {
  it.scopedLive("a write comes back from an echo server through messages; get and await give connection 1 with its net.Socket", () =>
    Effect.gen(function*() {
      const server = yield* echoServer()
      const socket = yield* ResilientSocket.makeNet({ name: "echo", host: server.host, port: server.port, ...fast })
      const awaited = yield* socket.await({ timeout: "5 seconds" })
      expect(awaited.id).toBe(1)
      expect(awaited.raw).toBeInstanceOf(Net.Socket)
      expect(awaited.raw.remotePort).toBe(server.port)
      expect(yield* socket.get).toBe(awaited)
      expect(yield* socket.status).toMatchObject({ _tag: "Connected", attempt: 1 })
      yield* socket.write("hello\n")
      expect(yield* readText(socket.messages, 6)).toBe("hello\n")
      expect((yield* server.snapshot).accepted).toBe(1)
    }).pipe(quiet))

  it.scopedLive("events: Connected{connection: 1} comes before the first data", () =>
    Effect.gen(function*() {
      const server = yield* echoServer()
      const socket = yield* ResilientSocket.makeNet({ name: "events", host: server.host, port: server.port, ...fast })
      const delivered = yield* recordEvents(socket)
      yield* socket.write("ping?\n")
      const events = yield* delivered.until((es) => textOfAll(es) === "ping?\n")
      expect(events[0]).toEqual({ _tag: "Connected", connection: 1, skipped: 0, unsent: 0 })
      expect(events.slice(1).every((e) => e._tag === "Data")).toBe(true)
    }).pipe(quiet))
})

describe("makeNet: onConnect", () => {
  it.scopedLive("onConnect's hello reaches the server before the writes buffered while down, on every connection", () =>
    Effect.gen(function*() {
      const server = yield* collectServer()
      const socket = yield* ResilientSocket.makeNet({
        name: "hello",
        host: server.host,
        port: server.port,
        autoConnect: false,
        ...fast,
        onConnect: (connection) => connection.write(`hello ${connection.id}\n`)
      })
      // buffered before the first connection
      const w1 = yield* Effect.fork(socket.write("w1\n"))
      yield* eventually(socket.pending, (p) => p.writes === 1)
      const w2 = yield* Effect.fork(socket.write("w2\n"))
      yield* eventually(socket.pending, (p) => p.writes === 2)
      yield* socket.connect
      yield* Fiber.join(w1)
      yield* Fiber.join(w2)
      const first = "hello 1\nw1\nw2\n"
      const s1 = yield* server.until((s) => (s.connections[0]?.received.length ?? 0) >= first.length)
      expect(s1.connections[0]!.received.toString()).toBe(first)

      // buffered while down after a loss
      yield* server.stop
      yield* server.destroyAll
      yield* awaitStatus(socket, (s) => s._tag === "Backoff")
      const w3 = yield* Effect.fork(socket.write("w3\n"))
      yield* eventually(socket.pending, (p) => p.writes === 1)
      yield* server.restart
      yield* Fiber.join(w3)
      const second = "hello 2\nw3\n"
      const s2 = yield* server.until((s) => (s.connections[1]?.received.length ?? 0) >= second.length)
      expect(s2.connections[1]!.received.toString()).toBe(second)
    }).pipe(quiet))

  it.scopedLive("an onConnect failure is a failed attempt (Backoff with its error); nothing buffered goes out on that connection", () =>
    Effect.gen(function*() {
      const server = yield* collectServer()
      const refused = new Error("onConnect says no")
      const socket = yield* ResilientSocket.makeNet({
        name: "hello-fails",
        host: server.host,
        port: server.port,
        autoConnect: false,
        ...fast,
        onConnect: (connection) =>
          Effect.zipRight(
            connection.write(`hello ${connection.id}\n`),
            connection.id === 1 ? Effect.fail(refused) : Effect.void
          )
      })
      const statuses = yield* recordStatuses(socket)
      const w1 = yield* Effect.fork(socket.write("w1\n"))
      yield* eventually(socket.pending, (p) => p.writes === 1)
      const w2 = yield* Effect.fork(socket.write("w2\n"))
      yield* eventually(socket.pending, (p) => p.writes === 2)
      yield* socket.connect

      const { status: backoff } = yield* statuses.until((s) => s._tag === "Backoff")
      expect(backoff).toMatchObject({ _tag: "Backoff", attempt: 1 })
      expect(causeOf(backoff)).toMatchObject({ message: refused.message })
      const { status: connected } = yield* statuses.until((s) => s._tag === "Connected")
      expect(connected).toMatchObject({ _tag: "Connected", attempt: 2 })
      yield* Fiber.join(w1)
      yield* Fiber.join(w2)

      // connection 1 got the hello its onConnect wrote, and nothing else, before it was closed
      const s1 = yield* server.until((s) => s.connections[0]?.closed === true)
      expect(s1.connections[0]!.received.toString()).toBe("hello 1\n")
      const second = "hello 2\nw1\nw2\n"
      const s2 = yield* server.until((s) => (s.connections[1]?.received.length ?? 0) >= second.length)
      expect(s2.connections[1]!.received.toString()).toBe(second)
    }).pipe(quiet))
})

// --- read backpressure ------------------------------------------------------------------------

const TOTAL = 50 * 1024 * 1024
const CHUNK = 64 * 1024
/** The byte at position `i` of the server's stream: a reordered, lost or repeated chunk shows. */
const byteAt = (i: number): number => Math.imul(i, 2654435761) >>> 24

/** Writes TOTAL bytes (made as it goes, so the server holds little) with backpressure, then waits. */
const produce = (socket: Net.Socket): void => {
  let offset = 0
  const pump = (): void => {
    while (offset < TOTAL) {
      const n = Math.min(CHUNK, TOTAL - offset)
      const chunk = Buffer.allocUnsafe(n)
      for (let j = 0; j < n; j++) chunk[j] = byteAt(offset + j)
      offset += n
      if (!socket.write(chunk)) {
        socket.once("drain", pump)
        return
      }
    }
  }
  pump()
}

describe("makeNet: read backpressure", () => {
  it.scopedLive(
    "readBuffer 16 and no reader: the socket is paused, so a server sending 50 MB is held back by TCP (memory stays bounded); then every byte arrives, in order",
    () =>
      Effect.gen(function*() {
        const gc = exposeGc()
        const server = yield* tcpServer({ handler: produce })
        const before = yield* memoryAfterGc(gc)
        const socket = yield* ResilientSocket.makeNet({
          name: "flood",
          host: server.host,
          port: server.port,
          readBuffer: 16,
          ...fast
        })
        const { raw } = yield* socket.await({ timeout: "5 seconds" })
        // wait until the transfer is stuck: bytesRead the same over three readings 100 ms apart
        let last = -1
        let same = 0
        yield* waitUntil(
          () => {
            const now = raw.bytesRead
            same = now === last ? same + 1 : 0
            last = now
            return same >= 3
          },
          "15 seconds",
          "100 millis"
        )
        expect(raw.isPaused()).toBe(true)
        expect(raw.bytesRead).toBeLessThan(8 * 1024 * 1024)
        const held = (yield* memoryAfterGc(gc)) - before
        expect(held).toBeLessThan(24 * 1024 * 1024)

        const read = yield* socket.messages.pipe(
          Stream.runFoldWhile(
            { count: 0, firstBad: -1 },
            (s) => s.count < TOTAL,
            (s, chunk) => {
              let firstBad = s.firstBad
              for (let j = 0; j < chunk.length && firstBad < 0; j++) {
                if (chunk[j] !== byteAt(s.count + j)) firstBad = s.count + j
              }
              return { count: s.count + chunk.length, firstBad }
            }
          ),
          Effect.timeoutFail({ duration: "20 seconds", onTimeout: () => new Error("not every byte came in time") }),
          Effect.orDie
        )
        expect(read).toEqual({ count: TOTAL, firstBad: -1 })
      }).pipe(quiet),
    40_000
  )
})

// --- what is left behind ----------------------------------------------------------------------

describe("makeNet: nothing leaks", () => {
  it.scopedLive(
    "the server counts 0 open connections after the scope ends, also after 50 reconnects caused by destroyAll",
    () =>
      Effect.gen(function*() {
        const server = yield* echoServer()
        yield* Effect.scoped(Effect.gen(function*() {
          const socket = yield* ResilientSocket.makeNet({
            name: "leaks",
            host: server.host,
            port: server.port,
            ...fast
          })
          for (let i = 1; i <= 50; i++) {
            yield* eventually(Effect.option(socket.get), (c) => Option.isSome(c) && c.value.id === i)
            yield* server.until((s) => s.accepted === i && s.open === 1)
            yield* server.destroyAll
          }
          yield* eventually(Effect.option(socket.get), (c) => Option.isSome(c) && c.value.id === 51)
          yield* server.until((s) => s.accepted === 51 && s.open === 1)
        }))
        const after = yield* server.until((s) => s.open === 0, "5 seconds")
        expect(after.accepted).toBe(51)
      }).pipe(quiet),
    30_000
  )

  it.scopedLive("close: Closed(UserClosed), buffered writes fail with Closed and are never sent, messages gives what it held then fails with Closed; connect works again", () =>
    Effect.gen(function*() {
      const server = yield* echoServer({ record: true })
      const socket = yield* ResilientSocket.makeNet({ name: "closing", host: server.host, port: server.port, ...fast })
      const first = yield* socket.await({ timeout: "5 seconds" })
      yield* socket.write("held\n")
      // echoed and in the read buffer, unread
      yield* waitUntil(() => first.raw.bytesRead >= 5)

      yield* server.stop
      yield* server.destroyAll
      yield* awaitStatus(socket, (s) => s._tag === "Backoff")
      const buffered = yield* Effect.fork(socket.write("never sent\n"))
      yield* eventually(socket.pending, (p) => p.writes === 1)

      yield* socket.close
      expect(yield* socket.status).toMatchObject({ _tag: "Closed", reason: "UserClosed" })
      const failed = yield* Fiber.await(buffered).pipe(
        Effect.timeoutFail({ duration: "5 seconds", onTimeout: () => new Error("the buffered write did not fail") }),
        Effect.orDie
      )
      expect(Exit.isFailure(failed)).toBe(true)
      const error = yield* Effect.flip(Fiber.join(buffered))
      expect(error).toBeInstanceOf(Closed)
      expect(error).toMatchObject({ reason: "UserClosed" })
      expect(yield* Effect.flip(socket.write("after close\n"))).toBeInstanceOf(Closed)
      expect(yield* socket.pending).toEqual({ writes: 0, bytes: 0, waiting: 0 })

      const read = yield* socket.messages.pipe(
        Stream.either,
        Stream.runCollect,
        Effect.timeoutFail({ duration: "5 seconds", onTimeout: () => new Error("messages did not end") }),
        Effect.orDie
      )
      const items = [...read]
      const last = items[items.length - 1]!
      expect(Either.isLeft(last) && last.left).toBeInstanceOf(Closed)
      expect(items.slice(0, -1).map((e) => Either.isRight(e) ? decoder.decode(e.right) : "?").join("")).toBe("held\n")

      // started again
      yield* server.restart
      yield* socket.connect
      const again = yield* socket.await({ timeout: "5 seconds" })
      expect(again.id).toBe(2)
      yield* socket.write("again\n")
      expect(yield* readText(socket.messages, 6)).toBe("again\n")
      const seen = yield* server.snapshot
      expect(seen.connections.map((c) => c.received.toString())).toEqual(["held\n", "again\n"])
    }).pipe(quiet))
})

// --- a write on a socket that just died ---------------------------------------------------------

describe("makeNet: a write the dead socket did not take", () => {
  it.scopedLive("a write made after the socket died, before the manager noticed, is buffered and sent on the next connection", () =>
    Effect.gen(function*() {
      const server = yield* echoServer({ record: true })
      const socket = yield* ResilientSocket.makeNet({ name: "late", host: server.host, port: server.port, ...fast })
      const first = yield* socket.await({ timeout: "5 seconds" })
      const runtime = yield* Effect.runtime<never>()
      const late = yield* Deferred.make<{
        readonly status: Connection.Status
        readonly destroyed: boolean
        readonly fiber: Fiber.RuntimeFiber<void, ResilientSocket.WriteError>
      }>()
      // The moment node reports the reset (the socket is destroyed): the manager has not seen it yet.
      first.raw.once("error", () => {
        const status = Effect.runSync(socket.status)
        const fiber = Runtime.runFork(runtime)(socket.write("late\n"))
        Deferred.unsafeDone(late, Exit.succeed({ status, destroyed: first.raw.destroyed, fiber }))
      })
      yield* server.destroyAll
      const { destroyed, fiber, status } = yield* Deferred.await(late)
      expect(status._tag).toBe("Connected")
      expect(destroyed).toBe(true)
      yield* Fiber.join(fiber)
      const seen = yield* server.until((s) => (s.connections[1]?.received.length ?? 0) >= 5)
      expect(seen.connections[1]!.received.toString()).toBe("late\n")
      expect((yield* socket.get).id).toBe(2)
    }).pipe(quiet))
})

// --- pongs ----------------------------------------------------------------------------------------

describe("makeNet: ping with isPong", () => {
  it.scopedLive("pong replies (isPong) are kept out of messages and still count as the ping's answer", () =>
    Effect.gen(function*() {
      let pings = 0
      // Answers every PING with PONG, except the third, answered with data.
      const server = yield* tcpServer({
        handler: (s) =>
          s.on("data", (chunk: Buffer) => {
            const n = chunk.toString().split("PING\n").length - 1
            for (let i = 0; i < n; i++) {
              pings++
              s.write(pings === 3 ? "data\n" : "PONG\n")
            }
          })
      })
      const socket = yield* ResilientSocket.makeNet({
        name: "pong",
        host: server.host,
        port: server.port,
        ...fast,
        ping: {
          interval: "150 millis",
          timeout: "500 millis",
          message: "PING\n",
          isPong: (data) => decoder.decode(data) === "PONG\n"
        }
      })
      expect(yield* readText(socket.messages, 5)).toBe("data\n")
      // more pings, answered by pongs only: the connection stays (each pong was the answer)
      yield* waitUntil(() => pings >= 7)
      expect((yield* socket.get).id).toBe(1)
      expect(yield* socket.status).toMatchObject({ _tag: "Connected", attempt: 1 })
      expect((yield* server.snapshot).accepted).toBe(1)
    }).pipe(quiet))
})

describe("makeNet: ping while the reader is behind", () => {
  it.scopedLive("a live connection paused because the reader is behind (readBuffer) is not dropped by the ping timeout", () =>
    Effect.gen(function*() {
      // answers every ping; nobody reads messages, so the answers fill the read buffer
      const server = yield* echoServer()
      const socket = yield* ResilientSocket.makeNet({
        name: "slow-reader",
        host: server.host,
        port: server.port,
        readBuffer: 4,
        minUptime: "1 hour",
        policy: Reconnect.fixed("50 millis"),
        ping: { interval: "50 millis", timeout: "200 millis", message: "ping\n" }
      })
      const statuses = yield* recordStatuses(socket)
      const { raw } = yield* socket.await({ timeout: "5 seconds" })
      yield* waitUntil(() => raw.isPaused())
      yield* Effect.sleep("1 second") // five ping timeouts
      expect((yield* statuses.all).filter((s) => s._tag === "Backoff").map(causeOf)).toEqual([])
      expect((yield* socket.get).id).toBe(1)
    }).pipe(quiet))
})
