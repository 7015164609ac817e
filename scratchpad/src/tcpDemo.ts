/**
 * `npm run demo:tcp`: a plain TCP connection that survives cuts, refusals and a black hole.
 *
 * A line server on loopback, a FaultProxy in front of it, and a redial `Connection` to the
 * proxy. A client pings through the connection every 400 ms while the demo cuts, refuses,
 * black-holes and restores the path; every status transition and every typed error is printed
 * as it happens. Exits 0 after about 20 seconds.
 */
import { Connection, Reconnect } from "@redial/core"
import { FaultProxy } from "@redial/testing"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import * as LineServer from "./lineServer.js"
import { colour, describeStatus, runDemo, timeline } from "./terminal.js"

const program = Effect.gen(function*() {
  const { say, step } = yield* timeline

  const server = yield* LineServer.server
  const proxy = yield* FaultProxy.make({ target: { port: server.port } })
  yield* step(`line server on 127.0.0.1:${server.port}, FaultProxy on ${proxy.address}`)

  const conn = yield* Connection.make({
    name: "demo",
    acquire: LineServer.connect(proxy.port),
    lost: (client) => client.closed,
    policy: Reconnect.exponential({ min: "250 millis", max: "2 seconds" }),
    connectTimeout: "1 second",
    healthCheck: { interval: "500 millis", timeout: "400 millis", check: (client) => client.request("PING") }
  })

  // Every transition, as it happens.
  yield* conn.changes.pipe(
    Stream.runForEach((status) => say(`status  ${describeStatus(status)}`)),
    Effect.forkScoped
  )

  // The workload: a ping every 400 ms through `get` (which never waits), typed errors printed.
  let ok = 0
  let failed = 0
  const ping = conn.get.pipe(
    Effect.flatMap((client) =>
      client.request("PING").pipe(
        Effect.timeoutFail({
          duration: "300 millis",
          onTimeout: () => new LineServer.SocketError({ reason: "Closed", cause: new Error("no answer in 300 ms") })
        }),
        Effect.tapError((error) => conn.invalidate(error, client)),
        Effect.map((answer) => `${answer} from connection #${client.id}`)
      )
    ),
    Effect.matchEffect({
      onSuccess: (answer) =>
        Effect.sync(() => ok++).pipe(Effect.zipRight(say(`  ping  ${colour.green}${answer}${colour.reset}`))),
      onFailure: (error) =>
        Effect.sync(() => failed++).pipe(
          Effect.zipRight(say(`  ping  ${colour.red}${error._tag}${colour.reset}: ${error.message}`))
        )
    })
  )
  const workload = yield* Effect.fork(Effect.repeat(ping, { schedule: Schedule.spaced("400 millis") }))

  const first = yield* conn.await({ timeout: "5 seconds" })
  yield* step(`connected: connection #${first.id}`)
  yield* Effect.sleep("1500 millis")

  yield* step("cut: reset every connection through the proxy (the connection is lost, reconnects at once)")
  yield* proxy.cut
  yield* Effect.sleep("1500 millis")

  yield* step("refuse new connections and cut: attempts fail, the backoff grows 250 ms → 500 ms → 1 s …")
  yield* proxy.refuse(true)
  yield* proxy.cut
  yield* Effect.sleep("3500 millis")

  yield* step("stop refusing: the next attempt succeeds")
  yield* proxy.refuse(false)
  yield* conn.await({ timeout: "5 seconds" })
  yield* Effect.sleep("1500 millis")

  yield* step("black hole: the path goes silent; the health check notices, and a connect that hangs times out")
  yield* proxy.blackhole(true)
  yield* Effect.sleep("4 seconds")

  yield* step("restore the path")
  yield* proxy.restore
  const back = yield* conn.await({ timeout: "5 seconds" })
  yield* step(`connected again: connection #${back.id}`)
  yield* Effect.sleep("1 second")

  yield* step("close: the connection stops and stays down; get fails with Closed")
  yield* conn.close
  yield* Effect.sleep("1 second")

  yield* step("connect: start again")
  yield* conn.connect
  yield* conn.await({ timeout: "5 seconds" })
  yield* Effect.sleep("1 second")

  yield* Fiber.interrupt(workload)
  const { open, total } = yield* proxy.connections
  yield* step(
    `done: ${ok} pings answered, ${failed} failed with typed errors; the proxy saw ${total} connections, ${open} open`
  )
})

runDemo(program)
