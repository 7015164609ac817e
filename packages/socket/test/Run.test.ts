/**
 * `run(handler)`: the platform Socket's way of reading, across reconnects. What was buffered
 * before the run goes first; markers go to `onConnected`; a handler's failing effect ends the run
 * with its error and a throwing handler with a defect (never the process); after the run, data
 * is buffered for `messages` again; a paused socket is resumed; `Closed` ends it.
 */
import { describe, expect, it } from "@effect/vitest"
import { Reconnect } from "@redial/core"
import { Cause, Deferred, Effect, Exit, Fiber, Stream } from "effect"
import { ResilientSocket } from "../src/index.js"
import { echoServer, tcpServer, waitUntil } from "./support/servers.js"

const text = (data: Uint8Array) => new TextDecoder().decode(data)

describe("ResilientSocket.run", () => {
  it.scopedLive("delivers what was buffered first, then every connection's data in order, with a marker per connection", () =>
    Effect.gen(function*() {
      const server = yield* echoServer()
      const socket = yield* ResilientSocket.makeNet({
        host: server.host,
        port: server.port,
        policy: Reconnect.fixed("20 millis"),
        minUptime: 0
      })
      yield* socket.write("a\n")
      // echoed before anyone reads: it waits in the inbox (were it not there yet, the order would be the same)
      yield* Effect.sleep("200 millis")
      const seen: Array<string> = []
      const fiber = yield* socket.run((data) => void seen.push(text(data)), {
        onConnected: (marker) => void seen.push(`[${marker.connection}]`)
      }).pipe(Effect.fork)
      yield* waitUntil(() => seen.join("").includes("a\n"))
      yield* server.destroyAll
      // after the reconnect: a write handed to the dying socket may be lost (a byte stream cannot tell)
      yield* waitUntil(() => seen.includes("[2]"))
      yield* socket.write("b\n")
      yield* waitUntil(() => seen.join("").includes("b\n"))
      yield* Fiber.interrupt(fiber)
      expect(seen.join("")).toBe("[1]a\n[2]b\n")
    }))

  it.scopedLive("a handler's failing effect ends the run with its error; the socket stays up", () =>
    Effect.gen(function*() {
      const server = yield* echoServer()
      const socket = yield* ResilientSocket.makeNet({ host: server.host, port: server.port })
      yield* socket.write("boom")
      const error = yield* socket.run((data) => Effect.fail(`bad frame: ${text(data)}`)).pipe(Effect.flip)
      expect(error).toBe("bad frame: boom")
      expect((yield* socket.status)._tag).toBe("Connected")
    }))

  it.scopedLive("a handler that throws ends the run with a defect, not the process; data then goes to messages", () =>
    Effect.gen(function*() {
      const server = yield* echoServer()
      const socket = yield* ResilientSocket.makeNet({ host: server.host, port: server.port })
      yield* socket.write("one")
      const exit = yield* socket.run(() => {
        throw new Error("handler bug")
      }).pipe(Effect.exit)
      expect(Exit.isFailure(exit) && Cause.isDie(exit.cause)).toBe(true)
      // the run is over: the next data is buffered for a stream reader again
      yield* socket.write("two")
      const [next] = yield* socket.messages.pipe(Stream.take(1), Stream.runCollect)
      expect(text(next ?? new Uint8Array())).toBe("two")
    }))

  it.scopedLive("a socket paused for a slow stream reader is resumed by run, and every byte arrives", () =>
    Effect.gen(function*() {
      const total = 4 * 1024 * 1024
      const server = yield* tcpServer({ handler: (socket) => socket.end(Buffer.alloc(total, 7)) })
      const socket = yield* ResilientSocket.makeNet({ host: server.host, port: server.port, readBuffer: 4 })
      yield* socket.await()
      // nobody reads: the inbox fills to readBuffer and the socket is paused
      yield* Effect.sleep("200 millis")
      let received = 0
      const done = yield* Deferred.make<void>()
      const fiber = yield* socket.run((data) => {
        received += data.byteLength
        if (received >= total) Deferred.unsafeDone(done, Exit.void)
      }).pipe(Effect.fork)
      yield* Deferred.await(done).pipe(Effect.timeout("20 seconds"))
      yield* Fiber.interrupt(fiber)
      expect(received).toBe(total)
    }))

  it.scopedLive("close ends the run with Closed", () =>
    Effect.gen(function*() {
      const server = yield* echoServer()
      const socket = yield* ResilientSocket.makeNet({ host: server.host, port: server.port })
      yield* socket.await()
      const fiber = yield* socket.run(() => {}).pipe(Effect.fork)
      yield* socket.close
      const error = yield* Fiber.join(fiber).pipe(Effect.flip)
      expect(error).toMatchObject({ _tag: "Closed", reason: "UserClosed" })
    }))
})
