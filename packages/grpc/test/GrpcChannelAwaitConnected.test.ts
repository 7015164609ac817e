/**
 * `awaitConnected`: a layer that is built once the channel is connected (or fails typed), so the
 * first call after `Effect.provide` finds a connection.
 */
import { describe, expect, it } from "@effect/vitest"
import { Closed, ConnectFailed, NotConnected, Reconnect, Timeout } from "@redial/core"
import { FaultProxy } from "@redial/testing"
import { Config, Effect, Exit, Layer } from "effect"
import { GrpcChannel, GrpcClient, GrpcError } from "../src/index.js"
import * as TS from "./support/testServer.js"

type Test = { readonly Echo: GrpcClient.Method<Partial<TS.EchoRequest>, TS.EchoReply> }
const service = TS.loadTestService().service as unknown as Test

const firstCall = Effect.gen(function*() {
  const channel = yield* GrpcChannel.GrpcChannel
  return yield* GrpcClient.makeWith(channel, service).unary("Echo", { message: "first" })
})

describe("GrpcChannel awaitConnected", () => {
  it.scopedLive("the first call after provide finds the channel connected; without it, NotConnected", () =>
    Effect.gen(function*() {
      const server = yield* TS.TestServer.make()
      const options = { address: server.address, policy: Reconnect.fixed("50 millis") }
      const reply = yield* firstCall.pipe(Effect.provide(GrpcChannel.layer({ ...options, awaitConnected: true })))
      expect(reply.message).toBe("first")
      // today's default: the layer is built before anything is connected
      const early = yield* Effect.flip(firstCall.pipe(Effect.provide(GrpcChannel.layer(options))))
      expect(early).toBeInstanceOf(NotConnected)
      // layerConfig takes it too
      const config = Config.succeed<GrpcChannel.Options>({ ...options, awaitConnected: { timeout: "5 seconds" } })
      expect((yield* firstCall.pipe(Effect.provide(GrpcChannel.layerConfig(config)))).message).toBe("first")
    }))

  it.scopedLive("server down: the layer fails with Timeout carrying the connect error, and leaves nothing running", () =>
    Effect.gen(function*() {
      const server = yield* TS.TestServer.make()
      const proxy = yield* FaultProxy.make({ target: { port: server.port } })
      yield* server.stop
      const layer = GrpcChannel.layer({
        address: proxy.address,
        policy: Reconnect.fixed("100 millis"),
        connectTimeout: "1 second",
        awaitConnected: { timeout: "500 millis" }
      })
      const exit = yield* Effect.exit(Layer.build(layer).pipe(Effect.scoped))
      expect(Exit.isFailure(exit)).toBe(true)
      const error = yield* Effect.flip(exit)
      expect(error).toBeInstanceOf(Timeout)
      const cause = (error as Timeout).cause
      expect(cause).toBeInstanceOf(ConnectFailed)
      expect((cause as ConnectFailed).cause).toBeInstanceOf(GrpcError.ChannelFailure)
      // released: no attempt after the failure, no socket left
      yield* Effect.sleep("300 millis")
      const made = (yield* proxy.connections).total
      expect(made).toBeGreaterThan(1)
      yield* Effect.sleep("2 seconds")
      expect(yield* proxy.connections).toEqual({ open: 0, total: made })
    }))

  it.scopedLive("the policy gives up first: Closed (PolicyExhausted)", () =>
    Effect.gen(function*() {
      const server = yield* TS.TestServer.make()
      yield* server.stop
      const exit = yield* Effect.exit(
        GrpcChannel.make({ address: server.address, policy: Reconnect.stop, awaitConnected: true })
      )
      expect(Exit.isFailure(exit)).toBe(true)
      const error = yield* Effect.flip(exit)
      expect(error).toBeInstanceOf(Closed)
      expect((error as Closed).reason).toBe("PolicyExhausted")
    }))

  it.scoped("a bad timeout is an InvalidOption", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(
        GrpcChannel.make({ address: "127.0.0.1:1", awaitConnected: { timeout: -1 } })
      )
      expect(error).toMatchObject({ _tag: "InvalidOption", reason: "OutOfRange" })
    }))
})
