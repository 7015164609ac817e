/**
 * `npm run demo`: a gRPC channel that survives cuts, refusals, a black hole and a server restart.
 *
 * An in-process gRPC server, a FaultProxy in front of it, and a redial `GrpcChannel` with a typed
 * client through the proxy. A call runs every 300 ms while the demo cuts, refuses, black-holes and
 * restores the path and restarts the server; every status transition, typed error and recovery
 * is printed as it happens. Exits 0 after about 20 seconds.
 */
import { Reconnect } from "@redial/core"
import { GrpcChannel, GrpcClient } from "@redial/grpc"
import { FaultProxy } from "@redial/testing"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import * as EchoServer from "./echoServer.js"
import { colour, describeStatus, runDemo, timeline } from "./terminal.js"

const program = Effect.gen(function*() {
  const { say, step } = yield* timeline

  const server = yield* EchoServer.make
  const proxy = yield* FaultProxy.make({ target: { port: server.port } })
  yield* step(`gRPC server on 127.0.0.1:${server.port}, FaultProxy on ${proxy.address}`)

  const channel = yield* GrpcChannel.make({
    name: "demo",
    address: proxy.address,
    policy: Reconnect.exponential({ min: "200 millis", max: "2 seconds" }),
    connectTimeout: "1 second"
  })
  const client = GrpcClient.makeWith(channel, EchoServer.service)

  yield* channel.changes.pipe(
    Stream.runForEach((status) => say(`status  ${describeStatus(status)}`)),
    Effect.forkScoped
  )

  let ok = 0
  let failed = 0
  let n = 0
  const call = Effect.suspend(() => {
    const message = `ping ${++n}`
    return client.unary("Echo", { message }, { deadline: "500 millis" }).pipe(
      Effect.matchEffect({
        onSuccess: (reply) =>
          Effect.sync(() => ok++).pipe(Effect.zipRight(say(`  call  ${colour.green}${reply.message}${colour.reset}`))),
        onFailure: (error) =>
          Effect.sync(() => failed++).pipe(
            Effect.zipRight(say(`  call  ${colour.red}${error._tag}${colour.reset}: ${error.message}`))
          )
      })
    )
  })
  const calls = yield* Effect.fork(Effect.repeat(call, { schedule: Schedule.spaced("300 millis") }))

  yield* channel.await({ timeout: "5 seconds" })
  yield* step("connected; calls run every 300 ms and fail fast (typed) while the channel is down")
  yield* Effect.sleep("1200 millis")

  yield* step("cut every connection: the channel is lost and reconnects at once")
  yield* proxy.cut
  yield* Effect.sleep("1500 millis")

  yield* step("refuse connections and cut: attempts fail, the backoff grows 200 ms → 400 ms → 800 ms …")
  yield* proxy.refuse(true)
  yield* proxy.cut
  yield* Effect.sleep("2500 millis")
  yield* step("a call in \"wait\" mode waits for the connection instead of failing fast…")
  const waiting = yield* Effect.fork(client.unary("Echo", { message: "waited for the connection" }, {
    mode: "wait",
    deadline: "5 seconds"
  }))
  yield* Effect.sleep("500 millis")
  yield* step("…stop refusing: the next attempt connects, and the waiting call goes through")
  yield* proxy.refuse(false)
  const waited = yield* Fiber.join(waiting)
  yield* say(`  wait  ${colour.green}${waited.message}${colour.reset}`)
  yield* Effect.sleep("1 second")

  yield* step("black hole: new connections are accepted but never answered (a connect that would hang)")
  yield* proxy.blackhole(true)
  yield* proxy.cut
  yield* Effect.sleep("3 seconds")
  yield* step("restore the path: connect timeouts end, the channel connects")
  yield* proxy.restore
  yield* channel.await({ timeout: "5 seconds" })
  yield* Effect.sleep("1 second")

  yield* step("restart the server on the same port")
  yield* server.stop
  yield* Effect.sleep("1200 millis")
  yield* server.start
  yield* channel.await({ timeout: "5 seconds" })
  yield* Effect.sleep("1 second")

  yield* step("disconnect (Chronicle) / close (Spear): calls fail with Closed; connect starts again")
  yield* channel.disconnect
  yield* Effect.sleep("700 millis")
  yield* channel.connect
  yield* channel.await({ timeout: "5 seconds" })
  yield* Effect.sleep("700 millis")

  yield* Fiber.interrupt(calls)
  yield* step(`done: ${ok} calls answered, ${failed} failed with typed errors, none hung`)
})

runDemo(program)
