/**
 * `ResilientSocket.makeWebSocket` against a real `ws` 8 server on loopback: frames echo with their
 * type, markers start each connection, the URL (plain, `Redacted`, or an effect run before every
 * attempt) reaches the server and never a log or an error, writes buffered while the server is
 * down go out in order after the hello of `onConnect`, a custom constructor is used, a restart on
 * the same port is reconnected to, and nothing is left on the server once the scope ends.
 */
import { describe, expect, it } from "@effect/vitest"
import { Reconnect } from "@redial/core"
import type { Connection } from "@redial/core"
import { Duration, Effect, Fiber, Logger, LogLevel, Redacted, Stream } from "effect"
import WebSocket from "ws"
import { ResilientSocket, SocketError } from "../src/index.js"
import { awaitStatus, causeOf, isTag, recordStatuses } from "./support/status.js"
import * as WsServer from "./support/wsServer.js"

const fast = { policy: Reconnect.fixed("50 millis"), minUptime: 0 } as const

/** Polls the socket's own counters (state without events) until `predicate` holds. */
const pendingIs = (
  socket: { readonly pending: Effect.Effect<ResilientSocket.Pending> },
  predicate: (pending: ResilientSocket.Pending) => boolean
) =>
  Effect.gen(function*() {
    for (;;) {
      const pending = yield* socket.pending
      if (predicate(pending)) return pending
      yield* Effect.sleep("5 millis")
    }
  }).pipe(Effect.timeoutFail({ duration: "5 seconds", onTimeout: () => new Error("pending") }), Effect.orDie)

const textOf = (data: string | Buffer) => typeof data === "string" ? data : data.toString("utf8")

describe("WebSocket: frames and markers", () => {
  it.scopedLive("a text frame echoes as a string and a binary one as a Uint8Array, after a Connected marker; the protocols reach the server", () =>
    Effect.gen(function*() {
      const server = yield* WsServer.make()
      const socket = yield* ResilientSocket.makeWebSocket(server.url("/echo"), {
        name: "echo",
        protocols: ["feed.v2", "feed.v1"],
        ...fast
      })
      yield* socket.write("héllo")
      yield* socket.write(new Uint8Array([0, 1, 2, 255]))
      const events = [...yield* socket.events.pipe(Stream.take(3), Stream.runCollect, Effect.timeout("5 seconds"))]
      expect(events[0]).toEqual({ _tag: "Connected", connection: 1, skipped: 0, unsent: 0 })
      expect(events[1]).toEqual({ _tag: "Data", data: "héllo" })
      const binary = events[2]
      expect(binary?._tag).toBe("Data")
      const data = binary?._tag === "Data" ? binary.data : undefined
      expect(typeof data).not.toBe("string")
      expect(data).toBeInstanceOf(Uint8Array)
      expect(Array.from(data as Uint8Array)).toEqual([0, 1, 2, 255])

      const seen = yield* server.snapshot
      // what went out kept its frame type on the wire
      expect(seen.received.map((r) => [r.isBinary, r.connection])).toEqual([[false, 1], [true, 1]])
      expect(seen.received[0]?.data).toBe("héllo")
      expect(seen.requests[0]?.url).toBe("/echo")
      expect(seen.requests[0]?.protocols).toBe("feed.v2,feed.v1")
      expect(seen.protocols).toEqual(["feed.v2"])
      expect((yield* socket.get).raw.protocol).toBe("feed.v2")
    }))

  it.scopedLive("messages carries only the data, across a reconnect, in order", () =>
    Effect.gen(function*() {
      const server = yield* WsServer.make()
      const socket = yield* ResilientSocket.makeWebSocket(server.url(), { name: "messages", ...fast })
      const reader = yield* socket.messages.pipe(Stream.take(4), Stream.runCollect, Effect.fork)
      yield* socket.write("one")
      yield* socket.write("two")
      yield* server.until((s) => s.received.length === 2)
      yield* server.closeAll(4000, "again")
      yield* server.until((s) => s.accepted === 2)
      yield* socket.write("three")
      yield* socket.write(new Uint8Array([4]))
      const messages = [...yield* Fiber.join(reader).pipe(Effect.timeout("5 seconds"))]
      expect(messages.slice(0, 3)).toEqual(["one", "two", "three"])
      expect(Array.from(messages[3] as Uint8Array)).toEqual([4])
    }))
})

describe("WebSocket: the URL", () => {
  it.scopedLive("a Redacted URL is opened", () =>
    Effect.gen(function*() {
      const server = yield* WsServer.make()
      const socket = yield* ResilientSocket.makeWebSocket(Redacted.make(server.url("/feed?token=abc")), {
        name: "redacted",
        ...fast
      })
      yield* socket.await({ timeout: "5 seconds" })
      expect((yield* server.snapshot).requests.map((r) => r.url)).toEqual(["/feed?token=abc"])
    }))

  it.scopedLive("an Effect URL is evaluated before every attempt: ?n=1, then ?n=2 after a reconnect", () =>
    Effect.gen(function*() {
      const server = yield* WsServer.make()
      let n = 0
      const url = Effect.sync(() => {
        n += 1
        // a fresh token each time, as a Redacted
        return n % 2 === 0 ? Redacted.make(server.url(`/feed?n=${n}`)) : server.url(`/feed?n=${n}`)
      })
      const socket = yield* ResilientSocket.makeWebSocket(url, { name: "fresh-url", ...fast })
      yield* socket.await({ timeout: "5 seconds" })
      yield* server.closeAll(4000, "again")
      yield* server.until((s) => s.accepted === 2)
      expect((yield* socket.await({ timeout: "5 seconds" })).id).toBe(2)
      expect((yield* server.snapshot).requests.map((r) => r.url)).toEqual(["/feed?n=1", "/feed?n=2"])
      expect(n).toBe(2)
    }))

  it.scopedLive("an invalid URL fails the attempt with a typed SocketError (reason Open), retried, not a defect, and not quoted", () =>
    Effect.gen(function*() {
      const secret = "Zq7-invalid-url-secret"
      const socket = yield* ResilientSocket.makeWebSocket(`ws://127.0.0.1:99999/feed?token=${secret}`, {
        name: "invalid-url",
        ...fast
      })
      const history = yield* recordStatuses(socket)
      const second = yield* history.first((s) => s._tag === "Backoff" && s.attempt >= 2)
      const statuses = yield* history.all
      expect(statuses.some(isTag("Closed"))).toBe(false) // a defect would close it (FatalError)
      const cause = causeOf(second)
      expect(cause).toBeInstanceOf(SocketError)
      expect(cause).toMatchObject({ reason: "Open", socket: "invalid-url" })
      for (const status of statuses) {
        const error = status._tag === "Backoff" ? status.error : undefined
        if (error === undefined) continue
        expect(error.message).not.toContain(secret)
        expect(error.message).not.toContain("99999")
        expect(JSON.stringify(error)).not.toContain(secret)
        expect(String(error.cause)).not.toContain(secret)
      }
    }))

  it.scopedLive("a token in the URL appears in no log line and no status error, through refusals, closes and the end", () =>
    Effect.gen(function*() {
      const secret = "Zq7-log-secret-token"
      const lines: Array<string> = []
      const capture = Logger.make((options) => {
        lines.push(Logger.logfmtLogger.log(options))
        lines.push(Logger.jsonLogger.log(options))
      })
      let upgrades = 0
      const server = yield* WsServer.make({
        // the first two upgrades are refused with 401, the later ones accepted
        verifyClient: (_, done) => {
          upgrades += 1
          if (upgrades <= 2) done(false, 401, "Unauthorized")
          else done(true)
        }
      })
      const statuses: Array<Connection.Status> = []
      yield* Effect.scoped(Effect.gen(function*() {
        const plain = yield* ResilientSocket.makeWebSocket(server.url(`/feed?token=${secret}`), {
          name: "plain",
          policy: Reconnect.fixed("50 millis"),
          minUptime: "1 hour"
        })
        const invalid = yield* ResilientSocket.makeWebSocket(`ws://127.0.0.1:99999/?token=${secret}`, {
          name: "invalid",
          ...fast
        })
        const fromEffect = yield* ResilientSocket.makeWebSocket(
          Effect.sync(() => Redacted.make(`ws://127.0.0.1:${server.port}/x?token=${secret}`)),
          { name: "effect", ...fast }
        )
        const plainHistory = yield* recordStatuses(plain)
        const invalidHistory = yield* recordStatuses(invalid)
        yield* plain.await({ timeout: "5 seconds" })
        yield* fromEffect.await({ timeout: "5 seconds" })
        yield* invalidHistory.first((s) => s._tag === "Backoff" && s.attempt >= 2)
        yield* server.closeAll(4000, "bye")
        yield* plainHistory.first((s) =>
          s._tag === "Backoff" && causeOf(s) instanceof SocketError &&
          (causeOf(s) as SocketError).reason === "Close"
        )
        yield* plain.await({ timeout: "5 seconds" })
        statuses.push(...yield* plainHistory.all, ...yield* invalidHistory.all)
        yield* plain.close
      })).pipe(Effect.provide(Logger.replace(Logger.defaultLogger, capture)), Logger.withMinimumLogLevel(LogLevel.All))
      expect(upgrades).toBeGreaterThanOrEqual(4)
      // the logs did see the failures (so the check below looks at something)
      expect(lines.some((line) => line.includes("401"))).toBe(true)
      expect(lines.some((line) => line.includes("4000"))).toBe(true)
      for (const line of lines) expect(line).not.toContain(secret)
      const errors = statuses.flatMap((s) => s._tag === "Backoff" ? [s.error] : [])
      expect(errors.length).toBeGreaterThanOrEqual(3)
      for (const error of errors) {
        expect(error.message).not.toContain(secret)
        expect(JSON.stringify(error)).not.toContain(secret)
        expect(String(error.cause)).not.toContain(secret)
      }
    }))
})

describe("WebSocket: writes while down, the constructor, restarts", () => {
  it.scopedLive("writes buffered while the server is down go out in order on the restarted server, after onConnect's hello", () =>
    Effect.gen(function*() {
      const server = yield* WsServer.make()
      const socket = yield* ResilientSocket.makeWebSocket(server.url(), {
        name: "buffered",
        ...fast,
        // the hello is late: anything sent before it ends would arrive first
        onConnect: (connection) =>
          Effect.zipRight(Effect.sleep("50 millis"), connection.write(`hello ${connection.id}`))
      })
      yield* socket.await({ timeout: "5 seconds" })
      yield* server.until((s) => s.received.length === 1)
      yield* server.stop
      yield* awaitStatus(socket, (s) => s._tag !== "Connected")
      const writes: Array<Fiber.RuntimeFiber<void, ResilientSocket.WriteError>> = []
      for (const [i, message] of ["a", "b", "c"].entries()) {
        writes.push(yield* Effect.fork(socket.write(message)))
        yield* pendingIs(socket, (p) => p.writes === i + 1)
      }
      expect(yield* socket.pending).toEqual({ writes: 3, bytes: 3, waiting: 0 })
      // none of them completes while nothing is open
      expect(writes.every((f) => f.unsafePoll() === null)).toBe(true)
      yield* server.start
      for (const write of writes) yield* Fiber.join(write)
      const seen = yield* server.until((s) => s.received.filter((r) => r.connection === 2).length >= 4)
      expect(seen.received.map((r) => [r.connection, textOf(r.data)])).toEqual([
        [1, "hello 1"],
        [2, "hello 2"],
        [2, "a"],
        [2, "b"],
        [2, "c"]
      ])
      expect(yield* socket.pending).toEqual({ writes: 0, bytes: 0, waiting: 0 })
    }))

  it.scopedLive("the webSocket option's constructor makes every attempt's socket (with the protocols)", () =>
    Effect.gen(function*() {
      const server = yield* WsServer.make()
      const calls: Array<[string, string | Array<string> | undefined]> = []
      const webSocket = (url: string, protocols?: string | Array<string>) => {
        calls.push([url, protocols])
        return new WebSocket(url, protocols, { headers: { "x-made-by": "custom" } }) as unknown as globalThis.WebSocket
      }
      const socket = yield* ResilientSocket.makeWebSocket(server.url("/custom"), {
        name: "custom",
        protocols: "chat",
        webSocket,
        ...fast
      })
      yield* socket.await({ timeout: "5 seconds" })
      yield* server.closeAll(4000, "again")
      yield* server.until((s) => s.accepted === 2)
      expect((yield* socket.await({ timeout: "5 seconds" })).id).toBe(2)
      expect(calls).toEqual([[server.url("/custom"), "chat"], [server.url("/custom"), "chat"]])
      const seen = yield* server.snapshot
      expect(seen.requests.map((r) => r.headers["x-made-by"])).toEqual(["custom", "custom"])
      expect(seen.requests.map((r) => r.protocols)).toEqual(["chat", "chat"])
    }))

  it.scopedLive("a server restarted on the same port is reconnected to: Connected { connection: 2 } starts its data", () =>
    Effect.gen(function*() {
      const server = yield* WsServer.make()
      const socket = yield* ResilientSocket.makeWebSocket(server.url(), { name: "restart", ...fast })
      const history = yield* recordStatuses(socket)
      const events: Array<ResilientSocket.Event<string | Uint8Array>> = []
      const reader = yield* socket.events.pipe(
        Stream.tap((event) => Effect.sync(() => events.push(event))),
        Stream.takeUntil((event) => event._tag === "Data" && event.data === "after"),
        Stream.runDrain,
        Effect.fork
      )
      const first = yield* socket.await({ timeout: "5 seconds" })
      yield* server.stop
      // while it is down: attempts are refused
      yield* history.first((s) => s._tag === "Backoff")
      yield* server.start
      const second = yield* socket.await({ timeout: "5 seconds" })
      expect(second).not.toBe(first)
      expect(second.id).toBe(2)
      yield* socket.write("after")
      yield* Fiber.join(reader).pipe(Effect.timeout("5 seconds"))
      expect(events).toEqual([
        { _tag: "Connected", connection: 1, skipped: 0, unsent: 0 },
        { _tag: "Connected", connection: 2, skipped: 0, unsent: 0 },
        { _tag: "Data", data: "after" }
      ])
      const seen = yield* server.until((s) => s.clients === 1 && s.sockets === 1)
      expect(seen.accepted).toBe(2)
    }))
})

describe("WebSocket: nothing is left behind", () => {
  it.scopedLive("after the scope ends the server has no client and no TCP socket, after several reconnects; each close was a 1000 handshake", () =>
    Effect.gen(function*() {
      const server = yield* WsServer.make()
      yield* Effect.scoped(Effect.gen(function*() {
        const socket = yield* ResilientSocket.makeWebSocket(server.url(), { name: "leak", ...fast })
        for (let i = 1; i <= 3; i++) {
          yield* server.until((s) => s.accepted === i && s.clients === 1)
          yield* server.closeAll(4000, "again")
        }
        yield* server.until((s) => s.accepted === 4 && s.clients === 1)
        yield* socket.await({ timeout: "5 seconds" })
      }))
      const seen = yield* server.until((s) => s.clients === 0 && s.sockets === 0, "5 seconds")
      expect(seen.accepted).toBe(4)
      // the last one, ended by the scope, was closed by the client with a handshake
      expect(seen.closes.find((c) => c.connection === 4)).toEqual({ connection: 4, code: 1000, reason: "" })
    }))

  it.scopedLive("close does a closing handshake (the server sees 1000), then the socket is Closed (UserClosed) and writes fail with Closed", () =>
    Effect.gen(function*() {
      const server = yield* WsServer.make()
      const socket = yield* ResilientSocket.makeWebSocket(server.url(), { name: "user-close", ...fast })
      yield* socket.await({ timeout: "5 seconds" })
      const [elapsed] = yield* Effect.timed(socket.close)
      const seen = yield* server.until((s) => s.closes.length === 1 && s.clients === 0 && s.sockets === 0)
      expect(seen.closes).toEqual([{ connection: 1, code: 1000, reason: "" }])
      expect(Duration.toMillis(elapsed)).toBeLessThan(5000)
      expect(yield* socket.status).toMatchObject({ _tag: "Closed", reason: "UserClosed" })
      expect(yield* Effect.flip(socket.write("late"))).toMatchObject({ _tag: "Closed", reason: "UserClosed" })
      expect((yield* server.snapshot).accepted).toBe(1)
    }))
})
