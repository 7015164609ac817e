/**
 * `npm run demo:socket`: a `ResilientSocket` that keeps a stream of numbered lines flowing through
 * cuts, refusals, a black hole and a server that goes away.
 *
 * A TCP echo server on loopback, a FaultProxy in front of it, and a ResilientSocket to the proxy
 * with a keepalive ping. A writer writes a numbered line every 10 ms (buffered while the path is
 * down, at most 200, then `BufferFull`); a reader (`run(handler)`) checks that the echoes come back
 * in order. Every status and every new connection's marker is printed. It ends with
 * "N written, N echoed, N refused by the buffer, N lost with dying sockets, 0 out of order" and
 * exits 0. About 14 seconds; REDIAL_DEMO_PACE=0.5 runs every scene in half the time.
 */
import { Reconnect } from "@redial/core"
import { ResilientSocket } from "@redial/socket"
import { FaultProxy } from "@redial/testing"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import * as net from "node:net"
import { colour, describeStatus, runDemo, timeline } from "./terminal.js"

const PACE = Number(process.env["REDIAL_DEMO_PACE"] ?? "1")
/** A scene's length, scaled by REDIAL_DEMO_PACE. */
const scene = (millis: number) => Effect.sleep(Duration.millis(millis * PACE))

/** An echo server on 127.0.0.1 that can be stopped (every connection dropped) and started again. */
const echoServer = Effect.acquireRelease(
  Effect.async<{ readonly port: number; readonly stop: () => void; readonly start: () => void }>((resume) => {
    const sockets = new Set<net.Socket>()
    const make = () =>
      net.createServer((socket) => {
        sockets.add(socket)
        socket.on("error", () => {})
        socket.once("close", () => sockets.delete(socket))
        socket.pipe(socket)
      })
    let server = make()
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as net.AddressInfo).port
      resume(Effect.succeed({
        port,
        stop: () => {
          server.close()
          for (const socket of sockets) socket.destroy()
        },
        start: () => {
          server = make()
          server.listen(port, "127.0.0.1")
        }
      }))
    })
  }),
  (server) => Effect.sync(() => server.stop())
)

const program = Effect.gen(function*() {
  const { say, step } = yield* timeline
  const server = yield* echoServer
  const proxy = yield* FaultProxy.make({ target: { port: server.port } })
  yield* step(`echo server on 127.0.0.1:${server.port}, FaultProxy on ${proxy.address}`)

  const socket = yield* ResilientSocket.makeNet({
    name: "demo",
    host: proxy.host,
    port: proxy.port,
    policy: Reconnect.exponential({ min: "250 millis", max: "2 seconds" }),
    connectTimeout: "1 second",
    // a connection that lasted a second counts as a success: the next loss reconnects at once
    minUptime: "1 second",
    buffer: { messages: 200, overflow: "fail" },
    ping: { interval: "250 millis", timeout: "250 millis", message: "ping\n" }
  })
  yield* socket.changes.pipe(Stream.runForEach((status) => say(`status  ${describeStatus(status)}`)), Effect.forkScoped)

  // The reader: the echoed lines, in order; a connection's marker says where a new one starts.
  let echoed = 0
  let last = 0
  let outOfOrder = 0
  let partial = ""
  const reader = yield* socket.run((data) => {
    const lines = (partial + new TextDecoder().decode(data)).split("\n")
    partial = lines.pop() ?? ""
    for (const line of lines) {
      if (line === "ping") continue
      const n = Number(line)
      if (n <= last) outOfOrder++
      last = n
      echoed++
    }
  }, {
    onConnected: (marker) => {
      // a line cut in half by the old connection's end is not finished by the new one
      partial = ""
      Effect.runFork(say(
        `  ${colour.green}connection #${marker.connection}${colour.reset}${
          marker.unsent > 0 ? ` (${marker.unsent} bytes were still in the last socket's buffer)` : ""
        }`
      ))
    }
  }).pipe(Effect.forkScoped)

  // The writer: a numbered line every 10 ms, each write in a fiber of its own (a write completes
  // when a socket takes it: while the path is down they wait in the buffer); BufferFull counted.
  let next = 0
  let written = 0
  let refused = 0
  const writeOne = Effect.suspend(() =>
    socket.write(`${++next}\n`).pipe(
      Effect.match({
        onSuccess: () => void written++,
        onFailure: () => void refused++
      }),
      Effect.forkScoped
    )
  )
  const writer = yield* Effect.fork(Effect.repeat(writeOne, { schedule: Schedule.spaced("10 millis") }))

  yield* socket.await({ timeout: "5 seconds" })
  yield* scene(1500)

  yield* step("cut: every connection through the proxy is reset; the socket reconnects at once")
  yield* proxy.cut
  yield* scene(1500)

  yield* step(
    "refuse and cut: attempts fail, the backoff grows, writes wait in the buffer (at most 200, then BufferFull)"
  )
  yield* proxy.refuse(true)
  yield* proxy.cut
  yield* scene(3000)
  yield* say(`  buffered now: ${(yield* socket.pending).writes} writes; refused so far: ${refused}`)

  yield* step("stop refusing: the buffered lines go out first, in order")
  yield* proxy.refuse(false)
  yield* scene(1500)

  yield* step("black hole: the path goes silent; the ping gets no answer and the socket reconnects")
  yield* proxy.blackhole(true)
  yield* scene(2500)
  yield* proxy.restore
  yield* scene(1500)

  yield* step("the server goes away and comes back on the same port")
  server.stop()
  yield* scene(1000)
  server.start()
  yield* socket.await({ timeout: "5 seconds" })
  yield* scene(1000)

  yield* Fiber.interrupt(writer)
  // what the live connection took comes back; give it a moment
  yield* Effect.sleep("500 millis")
  yield* Fiber.interrupt(reader)
  const lost = written - echoed
  yield* step("done")
  yield* say(
    "  lines handed to a socket that then died are lost: a byte stream cannot tell what arrived (a protocol resends from its own acknowledgements)"
  )
  console.log(
    `${written} written, ${echoed} echoed, ${refused} refused by the buffer, ${lost} lost with dying sockets, ${outOfOrder} out of order`
  )
  if (outOfOrder > 0) return yield* Effect.die(new Error(`${outOfOrder} lines out of order`))
})

runDemo(program)
