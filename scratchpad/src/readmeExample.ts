/**
 * The README's example against a real Redis: `npx tsx --conditions=@redial/source
 * scratchpad/src/readmeExample.ts` with Redis on 127.0.0.1:6379 (the README's own copy runs
 * against a stand-in server, in the examples check).
 */
import { Reconnect } from "@redial/core"
import { ResilientSocket } from "@redial/socket"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import type * as net from "node:net"

class Redis extends Context.Tag("Redis")<Redis, ResilientSocket.ResilientSocket<Uint8Array, net.Socket>>() {}

const RedisLive = ResilientSocket.layerNet(Redis, {
  name: "redis",
  host: "127.0.0.1",
  port: 6379,
  policy: Reconnect.exponential({ min: "100 millis", max: "5 seconds" }),
  connectTimeout: "2 seconds",
  buffer: { messages: 1000, overflow: "fail" }
})

const program = Effect.gen(function*() {
  const redis = yield* Redis
  yield* redis.write("PING\r\n")
  const reply = yield* redis.messages.pipe(Stream.decodeText(), Stream.take(1), Stream.runCollect)
  yield* Effect.log(`redis answered ${[...reply].join("").trim()}`)
})

Effect.runFork(program.pipe(Effect.timeout("10 seconds"), Effect.provide(RedisLive)))
