/**
 * Defects and interruptions in every callback a user gives: none reaches node (no crash), each
 * ends in a typed status. `isPong` throwing drops that connection; `shouldReconnect` and
 * `isFatal` throwing count as "not fatal"; `onConnect` dying or being interrupted, and a URL effect
 * dying, close the socket with FatalError (core calls a defect fatal); a WebSocket constructor that
 * throws is a failed attempt, retried.
 */
import { describe, expect, it } from "@effect/vitest"
import { Reconnect } from "@redial/core"
import { Effect } from "effect"
import { ResilientSocket, SocketError } from "../src/index.js"
import { echoServer } from "./support/servers.js"
import { causeOf, recordStatuses } from "./support/status.js"
import * as WsServer from "./support/wsServer.js"

const policy = Reconnect.fixed("20 millis")

describe("defects and interruptions in the user's callbacks", () => {
  it.scopedLive("isPong throwing drops that connection (SocketError Read, the throw as cause) and it reconnects", () =>
    Effect.gen(function*() {
      const server = yield* echoServer()
      const socket = yield* ResilientSocket.makeNet({
        host: server.host,
        port: server.port,
        policy,
        minUptime: "1 hour",
        ping: {
          interval: "1 hour",
          message: "ping",
          isPong: () => {
            throw new Error("isPong bug")
          }
        }
      })
      const statuses = yield* recordStatuses(socket)
      yield* socket.write("x")
      const { status } = yield* statuses.until((s) => s._tag === "Backoff")
      const cause = causeOf(status)
      expect(cause).toBeInstanceOf(SocketError)
      expect(cause).toMatchObject({ reason: "Read", cause: { message: "isPong bug" } })
      yield* statuses.until((s) => s._tag === "Connected" && s.attempt === 2)
    }))

  it.scopedLive("shouldReconnect throwing counts as 'reconnect'", () =>
    Effect.gen(function*() {
      const server = yield* WsServer.make({ handler: (ws) => ws.close(4001, "no") })
      const socket = yield* ResilientSocket.makeWebSocket(server.url(), {
        policy,
        minUptime: 0,
        shouldReconnect: () => {
          throw new Error("shouldReconnect bug")
        }
      })
      yield* server.until((s) => s.accepted >= 3)
      expect((yield* socket.status)._tag).not.toBe("Closed")
    }))

  it.scopedLive("isFatal throwing counts as 'not fatal': the attempt is retried", () =>
    Effect.gen(function*() {
      const server = yield* echoServer()
      yield* server.stop
      const socket = yield* ResilientSocket.makeNet({
        host: server.host,
        port: server.port,
        policy,
        isFatal: () => {
          throw new Error("isFatal bug")
        }
      })
      const statuses = yield* recordStatuses(socket)
      yield* statuses.until((s) => s._tag === "Backoff" && s.attempt >= 3)
    }))

  it.scopedLive("onConnect dying closes the socket with FatalError, the defect in its error", () =>
    Effect.gen(function*() {
      const server = yield* echoServer()
      const socket = yield* ResilientSocket.makeNet({
        host: server.host,
        port: server.port,
        policy,
        onConnect: () => Effect.die(new Error("onConnect bug"))
      })
      const error = yield* Effect.flip(socket.await())
      expect(error).toMatchObject({ _tag: "Closed", reason: "FatalError" })
      expect(error.message).toContain("onConnect bug")
      yield* server.until((s) => s.open === 0)
    }))

  it.scopedLive("onConnect interrupted closes the socket (typed Closed, no hang); nothing is left open", () =>
    Effect.gen(function*() {
      const server = yield* echoServer()
      const socket = yield* ResilientSocket.makeNet({
        host: server.host,
        port: server.port,
        policy,
        onConnect: () => Effect.interrupt
      })
      const error = yield* Effect.flip(socket.await())
      expect(error).toMatchObject({ _tag: "Closed", reason: "FatalError" })
      yield* server.until((s) => s.open === 0)
    }))

  it.scopedLive("a URL effect that dies closes the socket with FatalError", () =>
    Effect.gen(function*() {
      const socket = yield* ResilientSocket.makeWebSocket(Effect.die(new Error("no token service")), { policy })
      const error = yield* Effect.flip(socket.await())
      expect(error).toMatchObject({ _tag: "Closed", reason: "FatalError" })
    }))

  it.scopedLive("a WebSocket constructor that throws is a failed attempt (SocketError Open), retried", () =>
    Effect.gen(function*() {
      let calls = 0
      const socket = yield* ResilientSocket.makeWebSocket("ws://127.0.0.1:1/", {
        policy,
        webSocket: () => {
          calls++
          throw new Error("constructor bug")
        }
      })
      const statuses = yield* recordStatuses(socket)
      const { status } = yield* statuses.until((s) => s._tag === "Backoff" && s.attempt >= 2)
      expect(causeOf(status)).toMatchObject({ _tag: "SocketError", reason: "Open" })
      expect(calls).toBeGreaterThanOrEqual(2)
    }))
})
