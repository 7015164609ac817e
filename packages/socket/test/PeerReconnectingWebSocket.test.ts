/**
 * Cases ported from reconnecting-websocket 4.4's test suite (pladaria/reconnecting-websocket,
 * test/test.js), in redial's terms: its `readyState` is our status, its `maxRetries` our
 * `Reconnect.limit`, its `reconnect(code, reason)` a server-side close here, its `connectionTimeout`
 * our `connectTimeout`, its message queue our write buffer. Cases about its own API (constructor
 * checks, level-0/2 listeners, getters) have no counterpart and are not ported.
 */
import { describe, expect, it } from "@effect/vitest"
import { Reconnect } from "@redial/core"
import { Duration, Effect, Stream } from "effect"
import * as net from "node:net"
import { ResilientSocket } from "../src/index.js"
import { recordStatuses } from "./support/status.js"
import * as WsServer from "./support/wsServer.js"

/** An "unresponsive server" (its test/unresponsive-server.js): accepts TCP, never answers the upgrade. */
const unresponsive = Effect.acquireRelease(
  Effect.async<{ readonly port: number; readonly server: net.Server }>((resume) => {
    const server = net.createServer((socket) => socket.on("error", () => {}))
    server.listen(
      0,
      "127.0.0.1",
      () => resume(Effect.succeed({ port: (server.address() as net.AddressInfo).port, server }))
    )
  }),
  ({ server }) => Effect.sync(() => server.close())
)

describe("ported from reconnecting-websocket's tests", () => {
  it.scopedLive("connect, send, receive, close: Connecting, then Connected, the echo, then Closed", () =>
    Effect.gen(function*() {
      const server = yield* WsServer.make()
      const socket = yield* ResilientSocket.makeWebSocket(server.url(), { protocols: "foobar" })
      const statuses = yield* recordStatuses(socket)
      const live = yield* socket.await()
      expect(live.raw.protocol).toBe("foobar")
      yield* socket.write("hello")
      const [reply] = yield* socket.messages.pipe(Stream.take(1), Stream.runCollect)
      expect(reply).toBe("hello")
      yield* socket.close
      const tags = (yield* statuses.all).map((s) => s._tag)
      expect(tags).toEqual(["Connecting", "Connected", "Closed"])
    }))

  it.scopedLive("connect, send, receive, reconnect: three rounds, each on a new connection", () =>
    Effect.gen(function*() {
      const server = yield* WsServer.make()
      const socket = yield* ResilientSocket.makeWebSocket(server.url(), {
        policy: Reconnect.fixed("20 millis"),
        minUptime: 0
      })
      for (let round = 1; round <= 3; round++) {
        const live = yield* socket.await()
        expect(live.id).toBe(round)
        yield* socket.write(`hello ${round}`)
        const [reply] = yield* socket.messages.pipe(Stream.take(1), Stream.runCollect)
        expect(reply).toBe(`hello ${round}`)
        if (round < 3) {
          yield* server.closeAll(1000, "reconnect")
          yield* server.until((s) => s.accepted === round + 1)
        }
      }
    }))

  for (const count of [0, 1, 5]) {
    it.scopedLive(`max retries ${count}: exactly ${count + 1} attempts, then Closed (PolicyExhausted)`, () =>
      Effect.gen(function*() {
        const server = yield* WsServer.make()
        yield* server.stop
        const socket = yield* ResilientSocket.makeWebSocket(server.url(), {
          policy: Reconnect.limit(Reconnect.fixed("10 millis"), count)
        })
        const error = yield* Effect.flip(socket.await())
        expect(error).toMatchObject({ _tag: "Closed", reason: "PolicyExhausted" })
        const attempts = (yield* socket.status)._tag === "Closed" ? error.error?.attempt : undefined
        expect(attempts).toBe(count + 1)
      }))
  }

  it.scopedLive("connection timeout: an unresponsive server is given up after connectTimeout, and retried", () =>
    Effect.gen(function*() {
      const { port } = yield* unresponsive
      const socket = yield* ResilientSocket.makeWebSocket(`ws://127.0.0.1:${port}`, {
        connectTimeout: "300 millis",
        policy: Reconnect.limit(Reconnect.fixed("50 millis"), 1)
      })
      const error = yield* Effect.flip(socket.await())
      expect(error).toMatchObject({ _tag: "Closed", reason: "PolicyExhausted" })
      expect(error.error?.attempt).toBe(2)
      expect(error.error?.cause).toMatchObject({ _tag: "Timeout", operation: "connect" })
    }))

  it.scopedLive("an immediately failing host fails fast (not by the timeout), and with no retries is not retried", () =>
    Effect.gen(function*() {
      // a name that cannot resolve: `.invalid` is reserved (RFC 6761), so the lookup fails at once
      const socket = yield* ResilientSocket.makeWebSocket("ws://thiswillfail.invalid", {
        connectTimeout: "5 seconds",
        policy: Reconnect.limit(Reconnect.fixed("10 millis"), 0)
      })
      const [elapsed, error] = yield* Effect.timed(Effect.flip(socket.await()))
      expect(error).toMatchObject({ _tag: "Closed", reason: "PolicyExhausted" })
      expect(error.error?.attempt).toBe(1)
      expect(error.error?.cause).toMatchObject({ _tag: "SocketError", reason: "Open" })
      expect(Duration.toMillis(elapsed)).toBeLessThan(4_000)
    }))

  it.scopedLive("connect and close before the connection is established: never Connected, Closed once", () =>
    Effect.gen(function*() {
      const server = yield* WsServer.make()
      const socket = yield* ResilientSocket.makeWebSocket(server.url())
      const statuses = yield* recordStatuses(socket)
      yield* socket.close
      yield* socket.close
      yield* socket.close
      const tags = (yield* statuses.all).map((s) => s._tag)
      expect(tags).not.toContain("Connected")
      expect(tags.filter((t) => t === "Closed")).toHaveLength(1)
      // what the server saw of the attempt that close cut short is gone again
      yield* server.until((s) => s.clients === 0)
    }))

  it.scopedLive("messages enqueued before the first connection are sent first, in order", () =>
    Effect.gen(function*() {
      const server = yield* WsServer.make()
      yield* server.stop
      const socket = yield* ResilientSocket.makeWebSocket(server.url(), { policy: Reconnect.fixed("20 millis") })
      const writes = yield* Effect.forkScoped(
        Effect.forEach(["message1", "message2", "message3"], (m) => socket.write(m), { concurrency: "unbounded" })
      )
      yield* server.start
      yield* writes.await
      yield* socket.write("ok")
      const seen = yield* server.until((s) => s.received.length === 4)
      expect(seen.received.map((r) => String(r.data))).toEqual(["message1", "message2", "message3", "ok"])
    }))
})
