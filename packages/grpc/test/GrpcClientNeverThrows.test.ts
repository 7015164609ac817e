import { describe, expect, it } from "@effect/vitest"
import type * as grpc from "@grpc/grpc-js"
import { InvalidOption, isRedialError, NotConnected, Reconnect } from "@redial/core"
import { Duration, Effect, Exit, Stream } from "effect"
import { GrpcChannel, GrpcClient } from "../src/index.js"
import * as TS from "./support/testServer.js"

// What protoLoader.loadSync gives without generated types: every name and request is allowed
// by the compiler, so every mistake has to be a typed failure of the call.
const untyped: grpc.ServiceDefinition = TS.loadTestService().service

const setup = (options: Partial<GrpcChannel.Options> = {}) =>
  Effect.gen(function*() {
    const server = yield* TS.TestServer.make()
    const channel = yield* GrpcChannel.make({
      address: server.address,
      policy: Reconnect.fixed("50 millis"),
      ...options
    })
    yield* channel.await({ timeout: "10 seconds" })
    return { server, channel, client: GrpcClient.makeWith(channel, untyped) }
  })

/** Builds the call (which must not throw), runs it, and returns its failure. */
const failureOf = <A, E>(build: () => Effect.Effect<A, E>) =>
  Effect.gen(function*() {
    let effect: Effect.Effect<A, E> | undefined
    expect(() => {
      effect = build()
    }).not.toThrow()
    const exit = yield* Effect.exit(effect!)
    if (Exit.isSuccess(exit)) return expect.fail("the call succeeded")
    expect(Exit.causeOption(exit).pipe((cause) => cause._tag === "Some" && cause.value._tag)).toBe("Fail")
    return yield* Effect.flip(effect!)
  })

const clientError = (error: unknown): GrpcClient.GrpcClientError => {
  expect(error).toBeInstanceOf(GrpcClient.GrpcClientError)
  expect(isRedialError(error)).toBe(true)
  expect(GrpcClient.isRetryable(error)).toBe(false)
  return error as GrpcClient.GrpcClientError
}

describe("GrpcClient: a call never throws", () => {
  it.scopedLive("a method of another kind is a WrongKind failure, for each kind of call", () =>
    Effect.gen(function*() {
      const { client, server } = yield* setup()
      const unary = clientError(yield* failureOf(() => client.unary("Count", { count: 1 })))
      expect(unary).toMatchObject({ reason: "WrongKind", method: "Count", channel: "grpc" })
      expect(unary.detail).toContain("serverStream")
      expect(unary.message).toContain(`method "Count"`)
      const stream = clientError(yield* failureOf(() => Stream.runDrain(client.serverStream("Echo", {}))))
      expect(stream).toMatchObject({ reason: "WrongKind", method: "Echo" })
      expect(stream.detail).toContain("is a unary method")
      const sum = clientError(yield* failureOf(() => client.clientStream("Chat", Stream.empty)))
      expect(sum.reason).toBe("WrongKind")
      const chat = clientError(yield* failureOf(() => Stream.runDrain(client.bidiStream("Sum", Stream.empty))))
      expect(chat.reason).toBe("WrongKind")
      expect(yield* server.calls).toEqual([])
    }))

  it.scopedLive("an unknown method is an UnknownMethod failure naming the methods there are", () =>
    Effect.gen(function*() {
      const { client } = yield* setup()
      const error = clientError(yield* failureOf(() => client.unary("Nope", {})))
      expect(error).toMatchObject({ reason: "UnknownMethod", method: "Nope" })
      expect(error.detail).toContain("Echo, Count, Fail, Sum, Chat")
      // Inherited names are not methods.
      expect(clientError(yield* failureOf(() => client.unary("toString", {}))).reason).toBe("UnknownMethod")
      expect(clientError(yield* failureOf(() => Stream.runDrain(client.serverStream("constructor", {})))).reason)
        .toBe("UnknownMethod")
    }))

  it.scopedLive("a method without serializers is an InvalidDefinition failure", () =>
    Effect.gen(function*() {
      const { channel } = yield* setup()
      const broken = { Echo: { path: "/redial.test.Test/Echo" } } as unknown as grpc.ServiceDefinition
      const error = clientError(yield* failureOf(() => GrpcClient.makeWith(channel, broken).unary("Echo", {})))
      expect(error.reason).toBe("InvalidDefinition")
    }))

  it.scopedLive("a request that cannot be serialized is an InvalidRequest failure, and nothing is sent", () =>
    Effect.gen(function*() {
      const { client, server } = yield* setup()
      // protobufjs rejects a map field that is not an object.
      const error = clientError(yield* failureOf(() => client.unary("Fail", { code: 0, trailers: "oops" })))
      expect(error.reason).toBe("InvalidRequest")
      expect(error.cause).toBeInstanceOf(Error)
      expect(error.detail).toContain("trailers")
      const none = clientError(yield* failureOf(() => client.unary("Echo", null)))
      expect(none.reason).toBe("InvalidRequest")
      // A streamed request: the call is cancelled, the stream fails typed.
      const sum = clientError(yield* failureOf(() => client.clientStream("Sum", Stream.make({ value: 1 }, null))))
      expect(sum.reason).toBe("InvalidRequest")
      const chat = clientError(
        yield* failureOf(() => Stream.runDrain(client.bidiStream("Chat", Stream.make({ message: "a" }, null))))
      )
      expect(chat.reason).toBe("InvalidRequest")
      expect((yield* server.calls).filter((call) => call.method === "Fail" || call.method === "Echo")).toEqual([])
    }))

  it.scopedLive("metadata grpc-js rejects is an InvalidMetadata failure that never quotes the value", () =>
    Effect.gen(function*() {
      const { client } = yield* setup()
      const key = clientError(yield* failureOf(() => client.unary("Echo", {}, { metadata: { "bad key": "v" } })))
      expect(key).toMatchObject({ reason: "InvalidMetadata" })
      expect(key.detail).toContain(`"bad key"`)
      const value = clientError(
        yield* failureOf(() => client.unary("Echo", {}, { metadata: { authorization: "Bearer S3cret\n" } }))
      )
      expect(value.reason).toBe("InvalidMetadata")
      expect(value.message).not.toContain("S3cret")
      expect(JSON.stringify(value)).not.toContain("S3cret")
      const binary = clientError(yield* failureOf(() => client.unary("Echo", {}, { metadata: { "x-bin": "text" } })))
      expect(binary.reason).toBe("InvalidMetadata")
      const stream = clientError(
        yield* failureOf(() => Stream.runDrain(client.serverStream("Count", {}, { metadata: { "a b": "v" } })))
      )
      expect(stream.reason).toBe("InvalidMetadata")
      // Buffers on -bin keys are metadata too.
      const reply = yield* client.unary("Echo", { message: "bin" }, { metadata: { "x-bin": Buffer.from("hi") } })
      expect(reply.metadata["x-bin"]).toBe(Buffer.from("hi").toString("base64"))
    }))

  it.scopedLive("a grpc-js channel closed under the client: NotConnected, then the channel reconnects", () =>
    Effect.gen(function*() {
      const { channel, client } = yield* setup()
      const live = yield* channel.connection.get
      live.client.close() // grpc-js would throw "Channel has been shut down" from the next call
      const error = yield* failureOf(() => client.unary("Echo", { message: "x" }))
      expect(error).toBeInstanceOf(NotConnected)
      expect(GrpcClient.isRetryable(error)).toBe(true)
      const streamError = yield* failureOf(() => Stream.runDrain(client.serverStream("Count", { count: 1 })))
      expect(streamError).toBeInstanceOf(NotConnected)
      expect((yield* client.unary("Echo", { message: "back" }, { mode: "wait", deadline: "5 seconds" })).message)
        .toBe("back")
      expect((yield* channel.connection.get) === live).toBe(false)
    }))

  it.scopedLive("an infinite deadline is no deadline; one beyond what gRPC can send is an InvalidOption", () =>
    Effect.gen(function*() {
      const rejections: Array<unknown> = []
      const onRejection = (reason: unknown) => rejections.push(reason)
      process.on("unhandledRejection", onRejection)
      yield* Effect.addFinalizer(() => Effect.sync(() => process.off("unhandledRejection", onRejection)))
      const { client } = yield* setup()
      expect((yield* client.unary("Echo", { message: "forever" }, { deadline: Duration.infinity })).message)
        .toBe("forever")
      const counted = yield* Stream.runCount(
        client.serverStream("Count", { count: 2 }, { deadline: Duration.infinity, mode: "wait" })
      )
      expect(counted).toBe(2)
      const far = yield* failureOf(() => client.unary("Echo", {}, { deadline: Duration.millis(1e15) }))
      expect(far).toBeInstanceOf(InvalidOption)
      expect(far).toMatchObject({ option: "deadline", reason: "OutOfRange" })
      const stream = yield* failureOf(() =>
        Stream.runDrain(client.serverStream("Count", {}, { deadline: Duration.millis(1e15) }))
      )
      expect(stream).toBeInstanceOf(InvalidOption)
      // one rule with defaultDeadline: beyond Node's longest timer no local timer would ever fire
      const beyondTimer = yield* failureOf(() => client.unary("Echo", {}, { deadline: Duration.millis(2 ** 31) }))
      expect(beyondTimer).toMatchObject({ _tag: "InvalidOption", option: "deadline", reason: "OutOfRange" })
      const garbage = yield* failureOf(() =>
        client.unary("Echo", {}, { deadline: "soon" as unknown as Duration.DurationInput })
      )
      expect(garbage).toMatchObject({ _tag: "InvalidOption", option: "deadline", reason: "Invalid" })
      yield* Effect.sleep("50 millis")
      expect(rejections).toEqual([])
    }))
})
