import { describe, expect, it } from "@effect/vitest"
import * as grpc from "@grpc/grpc-js"
import { Closed, NotConnected, Reconnect, Timeout } from "@redial/core"
import { FaultProxy, TestTime } from "@redial/testing"
import { Duration, Effect, Fiber } from "effect"
import { GrpcChannel, GrpcClient, GrpcError } from "../src/index.js"
import { TestDefinition } from "./fixtures/generated/ts-proto/test.js"
import * as TS from "./support/testServer.js"

const setup = (address: string) =>
  Effect.gen(function*() {
    const channel = yield* GrpcChannel.make({ address, policy: Reconnect.fixed("100 millis") })
    yield* channel.await({ timeout: "10 seconds" })
    return { channel, client: GrpcClient.makeWith(channel, TestDefinition) }
  })

/** The one handler of the docs: whatever the outage gave, as its tag. */
const outage = <A>(call: Effect.Effect<A, GrpcClient.CallError>) =>
  call.pipe(
    Effect.map(() => "ok" as const),
    Effect.catchIf(GrpcClient.isRetryable, (error) => Effect.succeed(error._tag))
  )

describe("GrpcClient: one outage, one retryable classification", () => {
  it.scopedLive("a call after the loss was seen fails with NotConnected, and isRetryable catches it", () =>
    Effect.gen(function*() {
      const server = yield* TS.TestServer.make()
      const { channel, client } = yield* setup(server.address)
      yield* server.stop
      yield* TestTime.awaitStatus(channel, (s) => s._tag !== "Connected")
      const error = yield* Effect.flip(client.unary("echo", { message: "x" }))
      expect(error).toBeInstanceOf(NotConnected)
      expect(yield* outage(client.unary("echo", { message: "x" }))).toBe("NotConnected")
    }))

  it.scopedLive("a call in flight when the server stops fails with Cancelled, retryable too", () =>
    Effect.gen(function*() {
      const server = yield* TS.TestServer.make()
      const { client } = yield* setup(server.address)
      const call = yield* Effect.fork(Effect.flip(client.unary("echo", { message: "slow", delayMs: 5_000 })))
      yield* TS.waitFor(server.calls, (calls) => calls.length === 1, { description: "the call to arrive" })
      yield* server.stop
      const error = yield* Fiber.join(call)
      expect(error).toBeInstanceOf(GrpcError.Cancelled)
      expect(GrpcClient.isRetryable(error)).toBe(true)
    }))

  it.scopedLive("a call in flight when the connection dies fails with Unavailable, retryable too", () =>
    Effect.gen(function*() {
      const server = yield* TS.TestServer.make()
      const proxy = yield* FaultProxy.make({ target: { port: server.port } })
      const { client } = yield* setup(proxy.address)
      const call = yield* Effect.fork(Effect.flip(client.unary("echo", { message: "slow", delayMs: 5_000 })))
      yield* TS.waitFor(server.calls, (calls) => calls.length === 1, { description: "the call to arrive" })
      yield* proxy.cut
      const error = yield* Fiber.join(call)
      expect(error).toBeInstanceOf(GrpcError.Unavailable)
      expect(GrpcClient.isRetryable(error)).toBe(true)
    }))

  it.scopedLive("calls made every millisecond through a server stop: every failure is retryable", () =>
    Effect.gen(function*() {
      const server = yield* TS.TestServer.make()
      const { channel, client } = yield* setup(server.address)
      const seen: Array<string> = []
      const loop = yield* Effect.fork(
        outage(client.unary("echo", { message: "x" })).pipe(
          Effect.tap((tag) => Effect.sync(() => seen.push(tag))),
          Effect.zipRight(Effect.sleep("1 millis")),
          Effect.forever
        )
      )
      yield* Effect.sleep("30 millis")
      yield* server.stop
      yield* TestTime.awaitStatus(channel, (s) => s._tag !== "Connected")
      yield* Effect.sleep("30 millis")
      yield* Fiber.interrupt(loop) // a non-retryable failure would have ended the loop: it is still running
      expect(seen[0]).toBe("ok")
      expect(seen.at(-1)).toBe("NotConnected")
      for (const tag of seen) expect(["ok", "NotConnected", "Unavailable", "Cancelled"]).toContain(tag)
    }))

  it("isRetryable: NotConnected, retryable status codes, Timeouts where nothing was sent", () => {
    const status = { channel: "c", method: "/m", details: "", metadata: new grpc.Metadata() }
    for (let code = 1; code <= 16; code++) {
      if (code === 4) continue
      const error = GrpcError.fromStatus(code, status)
      expect(GrpcClient.isRetryable(error), error._tag).toBe(GrpcError.retryableCodes.has(code))
    }
    expect(GrpcClient.isRetryable(new GrpcError.Unavailable(status))).toBe(true)
    expect(GrpcClient.isRetryable(new NotConnected({ connection: "c", status: { _tag: "Connecting", attempt: 1 } })))
      .toBe(true)
    const timeout = (operation: Timeout["operation"]) =>
      new Timeout({ connection: "c", operation, duration: Duration.seconds(1) })
    expect(GrpcClient.isRetryable(timeout("await"))).toBe(true)
    expect(GrpcClient.isRetryable(timeout("connect"))).toBe(true)
    expect(GrpcClient.isRetryable(timeout("call"))).toBe(false)
    expect(GrpcClient.isRetryable(new Closed({ connection: "c", reason: "UserClosed" }))).toBe(false)
    expect(
      GrpcClient.isRetryable(
        new GrpcClient.GrpcClientError({ channel: "c", method: "m", reason: "WrongKind", detail: "" })
      )
    ).toBe(false)
    // Only redial's errors: a lookalike is not one.
    expect(GrpcClient.isRetryable({ _tag: "NotConnected" })).toBe(false)
    expect(GrpcClient.isRetryable({ retryable: true })).toBe(false)
    expect(GrpcClient.isRetryable(undefined)).toBe(false)
  })
})
