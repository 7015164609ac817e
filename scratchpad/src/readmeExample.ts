/**
 * The example of the README, kept here so that `npm run check` compiles it.
 * Run it with `npx tsx --conditions=@redial/source scratchpad/src/readmeExample.ts` against a
 * Redis on 127.0.0.1:6379.
 */
import { Connection, Reconnect } from "@redial/core"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as net from "node:net"

// One connect attempt. The socket is destroyed when the connection is dropped.
const acquire = Effect.acquireRelease(
  Effect.async<net.Socket, Error>((resume) => {
    const socket = net.connect(6379, "127.0.0.1")
    socket.once("connect", () => resume(Effect.succeed(socket)))
    socket.once("error", (error) => resume(Effect.fail(error)))
    return Effect.sync(() => socket.destroy())
  }),
  (socket) => Effect.sync(() => socket.destroy())
)

class Redis extends Context.Tag("Redis")<Redis, Connection.Connection<net.Socket>>() {}

const RedisLive = Connection.layer(Redis, {
  name: "redis",
  acquire,
  lost: (socket) => Effect.async<void>((resume) => void socket.once("close", () => resume(Effect.void))),
  policy: Reconnect.exponential({ min: "100 millis", max: "5 seconds" }),
  connectTimeout: "2 seconds"
})

const program = Effect.gen(function*() {
  const redis = yield* Redis
  // waits for the connection (or fails with Timeout / Closed); `redis.get` never waits
  const socket = yield* redis.await({ timeout: "5 seconds" })
  socket.write("PING\r\n")
  const reply = yield* Effect.async<string>((resume) =>
    void socket.once("data", (d) => resume(Effect.succeed(String(d))))
  )
  yield* Effect.log(`redis answered ${reply.trim()}`)
})

Effect.runFork(program.pipe(Effect.scoped, Effect.provide(RedisLive)))
