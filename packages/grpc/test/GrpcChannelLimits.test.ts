/**
 * No option can crash the process or make a channel that cannot work: deadlines, keepalive times,
 * ports and hosts out of what Node and grpc-js accept are `InvalidOption`s; an infinite deadline
 * is none.
 */
import { describe, expect, it } from "@effect/vitest"
import type { InvalidOption } from "@redial/core"
import { Reconnect } from "@redial/core"
import { Duration, Effect } from "effect"
import { GrpcChannel, GrpcClient } from "../src/index.js"
import * as TS from "./support/testServer.js"

type Test = { readonly Echo: GrpcClient.Method<Partial<TS.EchoRequest>, TS.EchoReply> }
const service = TS.loadTestService().service as unknown as Test

const MAX_TIMER = 2 ** 31 - 1

const invalid = (options: GrpcChannel.Options) =>
  Effect.flip(GrpcChannel.make({ autoConnect: false, ...options })).pipe(
    Effect.flatMap((error) => error._tag === "InvalidOption" ? Effect.succeed<InvalidOption>(error) : Effect.die(error))
  )

const valid = (options: GrpcChannel.Options) => GrpcChannel.make({ autoConnect: false, ...options })

describe("GrpcChannel limits", () => {
  it.scopedLive("an infinite defaultDeadline is none: calls run, and no promise rejects unhandled", () =>
    Effect.gen(function*() {
      const rejections: Array<unknown> = []
      const onRejection = (reason: unknown) => rejections.push(reason)
      yield* Effect.acquireRelease(
        Effect.sync(() => process.on("unhandledRejection", onRejection)),
        () => Effect.sync(() => process.off("unhandledRejection", onRejection))
      )
      const server = yield* TS.TestServer.make()
      const channel = yield* GrpcChannel.make({
        address: server.address,
        policy: Reconnect.fixed("50 millis"),
        defaultDeadline: Duration.infinity
      })
      expect(channel.defaultDeadline).toBeUndefined()
      yield* channel.await({ timeout: "5 seconds" })
      const client = GrpcClient.makeWith(channel, service)
      expect((yield* client.unary("Echo", { message: "forever" })).message).toBe("forever")
      expect((yield* client.unary("Echo", { message: "waits" }, { mode: "wait" })).message).toBe("waits")
      yield* Effect.sleep("100 millis")
      expect(rejections).toEqual([])
    }))

  it.scoped("deadlines: 1 ms to 2^31-1 ms, or infinite; beyond grpc-js's timers an InvalidOption", () =>
    Effect.gen(function*() {
      const base = { address: "127.0.0.1:1" }
      // grpc-js throws "Deadline is too far in the future" inside a promise for 1e15 ms.
      for (const defaultDeadline of [1e15, MAX_TIMER + 1, Duration.days(25)]) {
        expect(yield* invalid({ ...base, defaultDeadline })).toMatchObject({
          option: "defaultDeadline",
          reason: "OutOfRange"
        })
      }
      expect(yield* invalid({ ...base, defaultDeadline: 0 })).toMatchObject({ reason: "OutOfRange" })
      expect((yield* valid({ ...base, defaultDeadline: MAX_TIMER })).defaultDeadline).toEqual(
        Duration.millis(MAX_TIMER)
      )
      expect((yield* valid({ ...base, defaultDeadline: Infinity })).defaultDeadline).toBeUndefined()
    }))

  it.scoped("keepalive times above 2^31-1 ms (Node fires such a timer after 1 ms) are InvalidOptions", () =>
    Effect.gen(function*() {
      const base = { address: "127.0.0.1:1" }
      expect(yield* invalid({ ...base, keepAlive: { interval: "10 seconds", timeout: MAX_TIMER + 1 } }))
        .toMatchObject({ option: "keepAlive.timeout", reason: "OutOfRange" })
      expect(yield* invalid({ ...base, keepAlive: { interval: MAX_TIMER + 1 } }))
        .toMatchObject({ option: "keepAlive.interval", reason: "OutOfRange" })
      // 0 is not "off" (that is keepAlive: false): the same rule as keepAliveInterval=0 in a string.
      expect(yield* invalid({ ...base, keepAlive: { interval: 0 } }))
        .toMatchObject({ option: "keepAlive.interval", reason: "OutOfRange" })
      yield* valid({ ...base, keepAlive: { interval: MAX_TIMER, timeout: MAX_TIMER } })
      yield* valid({ ...base, keepAlive: false })
    }))

  it.scoped("ports outside 1-65535 and hosts that are not host names or IP addresses are InvalidOptions", () =>
    Effect.gen(function*() {
      for (const address of ["h:0", "h:65536", "h:99999", "127.0.0.1:0"]) {
        expect(yield* invalid({ address })).toMatchObject({ option: "address", reason: "OutOfRange" })
      }
      for (
        const address of [
          "[zz]:2113",
          "[]:2113",
          "[127.0.0.1]:2113",
          "::1:2113",
          "999.1.1.1:2113",
          "1.2.3:2113",
          "-db:2113",
          "db-:2113",
          "a..b:2113",
          "db.:2113",
          "d b:2113",
          "db$:2113",
          `${"a".repeat(64)}:2113`,
          "h:-1",
          "h:",
          ":2113"
        ]
      ) {
        const error = yield* invalid({ address })
        expect(error, address).toMatchObject({ option: "address", reason: "Invalid" })
        expect(error.message).not.toContain(address)
      }
      expect((yield* invalid({ address: ["127.0.0.1:1", "[zz]:1"] })).option).toBe("address[1]")
      for (
        const address of [
          "h:1",
          "h:65535",
          "[::1]:2113",
          "[fe80::1%eth0]:2113",
          "10.0.0.1:2113",
          "db.example.com:2113",
          "my_service:2113",
          "host.123:2113",
          `${"a".repeat(63)}:2113`
        ]
      ) {
        expect((yield* valid({ address })).addresses).toEqual([address])
      }
    }))
})
