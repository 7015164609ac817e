/**
 * A server that accepts and resets (FaultProxy `refuse`): every attempt fails or dies at once,
 * typed, the backoff grows (never a hot loop), writes wait in the buffer, and once the proxy lets
 * connections through again the socket reconnects and sends them, in order. Nothing is left open.
 */
import { describe, expect, it } from "@effect/vitest"
import { Reconnect } from "@redial/core"
import { FaultProxy } from "@redial/testing"
import { Effect, Fiber, Stream } from "effect"
import { ResilientSocket, SocketError } from "../src/index.js"
import { echoServer, eventually } from "./support/servers.js"
import { causeOf, isTag, recordStatuses } from "./support/status.js"
import * as WsServer from "./support/wsServer.js"

const text = (data: Uint8Array | string) => typeof data === "string" ? data : new TextDecoder().decode(data)

describe("a server that accepts and resets", () => {
  it.scopedLive("TCP: typed failures with a growing backoff, then the buffered writes in order", () =>
    Effect.gen(function*() {
      const server = yield* echoServer()
      const proxy = yield* FaultProxy.make({ target: { port: server.port } })
      yield* proxy.refuse(true)
      const socket = yield* ResilientSocket.makeNet({
        host: proxy.host,
        port: proxy.port,
        policy: Reconnect.exponential({ min: "20 millis", max: "1 second" })
      })
      const statuses = yield* recordStatuses(socket)
      const write = yield* Effect.fork(Effect.zipRight(socket.write("a"), socket.write("b")))
      const { status: third } = yield* statuses.until((s) => s._tag === "Backoff" && s.attempt >= 3)
      const backoffs = (yield* statuses.all).filter(isTag("Backoff"))
      // every failure is a SocketError (refused at once, or reset just after the connect)
      for (const backoff of backoffs) expect(causeOf(backoff)).toBeInstanceOf(SocketError)
      // the delays grow: 20, 40, 80 ms … (a connection reset at once counts as a failed attempt)
      const delays = backoffs.map((s) => s._tag === "Backoff" ? s.delay : undefined)
      expect(delays.length).toBeGreaterThanOrEqual(3)
      expect(third._tag === "Backoff" && third.attempt).toBe(3)
      expect((yield* socket.pending).writes + (yield* socket.pending).waiting).toBeGreaterThanOrEqual(1)
      const attemptsSoFar = (yield* proxy.connections).total
      expect(attemptsSoFar).toBeLessThan(20) // no hot loop
      yield* proxy.refuse(false)
      yield* Fiber.join(write)
      const echoed = yield* socket.messages.pipe(
        Stream.map(text),
        Stream.scan("", (all, chunk) => all + chunk),
        Stream.takeUntil((all) => all.length >= 2),
        Stream.runLast
      )
      expect(echoed._tag === "Some" && echoed.value).toBe("ab")
    }))

  it.scopedLive("WebSocket: the handshake never completes, a typed Open failure, then it connects", () =>
    Effect.gen(function*() {
      const server = yield* WsServer.make()
      const proxy = yield* FaultProxy.make({ target: { port: server.port } })
      yield* proxy.refuse(true)
      const socket = yield* ResilientSocket.makeWebSocket(`ws://${proxy.address}/`, {
        policy: Reconnect.fixed("30 millis")
      })
      const statuses = yield* recordStatuses(socket)
      const { status } = yield* statuses.until((s) => s._tag === "Backoff" && s.attempt >= 2)
      expect(causeOf(status)).toMatchObject({ _tag: "SocketError", reason: "Open" })
      // it waits in the buffer: the write completes once a socket takes it
      const write = yield* Effect.fork(socket.write("hello"))
      yield* proxy.refuse(false)
      yield* Fiber.join(write)
      const [reply] = yield* socket.messages.pipe(Stream.take(1), Stream.runCollect)
      expect(reply).toBe("hello")
      yield* socket.close
      yield* eventually(proxy.connections, (c) => c.open === 0)
    }))
})
