import { describe, expect, it } from "@effect/vitest"
import * as grpc from "@grpc/grpc-js"
import * as protoLoader from "@grpc/proto-loader"
import { Reconnect } from "@redial/core"
import { Chunk, Effect, Stream } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { GrpcChannel, GrpcClient } from "../src/index.js"
import { protoLoader as generateProtoLoader } from "./fixtures/generate.mjs"
import type { ProtoGrpcType } from "./fixtures/generated/proto-loader/test.js"
import { TestDefinition } from "./fixtures/generated/ts-proto/test.js"
import * as TS from "./support/testServer.js"

// proto-loader-gen-types' documented use: load the proto, type the package with ProtoGrpcType.
const proto = grpc.loadPackageDefinition(
  protoLoader.loadSync(TS.protoPath, TS.loaderOptions)
) as unknown as ProtoGrpcType
const Test = proto.redial.test.Test

const channelOn = (address: string) =>
  Effect.gen(function*() {
    const channel = yield* GrpcChannel.make({ address, policy: Reconnect.fixed("50 millis") })
    yield* channel.await({ timeout: "10 seconds" })
    return channel
  })

// Compiled by `npm run check`, never run: each @ts-expect-error fails the typecheck when the
// line below it compiles, i.e. when the client stops telling a wrong call from a right one.
export const typeChecks = (
  tsProto: GrpcClient.GrpcClient<typeof TestDefinition>,
  loader: GrpcClient.GrpcClient<typeof Test>,
  loaderService: GrpcClient.GrpcClient<typeof Test.service>,
  untyped: GrpcClient.GrpcClient<grpc.ServiceDefinition>
) => {
  // ts-proto: method keys, fromPartial requests, kinds from the definition's literals.
  const reply: Effect.Effect<{ readonly message: string }, GrpcClient.CallError> = tsProto.unary("echo", {
    message: "hi"
  })
  tsProto.serverStream("count", { count: 3 }).pipe(Stream.map((reply) => reply.n satisfies number))
  tsProto.clientStream("sum", Stream.make({ value: 1 })).pipe(Effect.map((total) => total.count satisfies number))
  tsProto.bidiStream("chat", Stream.make({ message: "a" }))
  // @ts-expect-error -- Count is server streaming
  tsProto.unary("count", { count: 3 })
  // @ts-expect-error -- Echo is unary
  tsProto.serverStream("echo", { message: "x" })
  // @ts-expect-error -- no such method
  tsProto.unary("nope", {})
  // @ts-expect-error -- ts-proto keys its methods in camelCase
  tsProto.unary("Echo", { message: "x" })
  // @ts-expect-error -- a misspelt field
  tsProto.unary("echo", { mesage: "x" })
  // @ts-expect-error -- a field of the wrong type
  tsProto.unary("echo", { message: 1 })
  // @ts-expect-error -- a Count reply has no message
  tsProto.serverStream("count", { count: 1 }).pipe(Stream.map((reply) => reply.message))

  // proto-loader-gen-types' constructor: requests and responses from TestDefinition, kinds from TestClient.
  loader.unary("Echo", { message: "hi", delayMs: 1 }).pipe(Effect.map((reply) => reply.metadata))
  loader.serverStream("Count", { count: 3 })
  loader.clientStream("Sum", Stream.make({ value: 1 }))
  loader.bidiStream("Chat", Stream.make({ message: "a" }))
  // @ts-expect-error -- Count is server streaming
  loader.unary("Count", { count: 3 })
  // @ts-expect-error -- Sum is client streaming
  loader.bidiStream("Sum", Stream.make({ value: 1 }))
  // @ts-expect-error -- Chat is bidi streaming
  loader.clientStream("Chat", Stream.make({ message: "a" }))
  // @ts-expect-error -- Echo is unary
  loader.serverStream("Echo", { message: "x" })
  // @ts-expect-error -- no such method
  loader.unary("Nope", {})
  // @ts-expect-error -- a misspelt field
  loader.unary("Echo", { mesage: "x" })
  // @ts-expect-error -- a Sum request is a Number
  loader.clientStream("Sum", Stream.make({ message: "a" }))

  // Its `.service` alone: names and messages checked; the kind is not in its type.
  loaderService.unary("Echo", { message: "hi" })
  loaderService.unary("Count", { count: 1 })
  // @ts-expect-error -- no such method
  loaderService.unary("Nope", {})
  // @ts-expect-error -- a misspelt field
  loaderService.unary("Echo", { mesage: "x" })

  // An untyped definition takes any name: a wrong one is a GrpcClientError when the call runs.
  untyped.unary("Nope", {})
  return reply
}

describe("GrpcClient from generated definitions", () => {
  it.scopedLive("a ts-proto generic definition: every kind of call, requests from fromPartial", () =>
    Effect.gen(function*() {
      const server = yield* TS.TestServer.make()
      const client = GrpcClient.makeWith(yield* channelOn(server.address), TestDefinition)
      const reply = yield* client.unary("echo", { message: "ts-proto" }, { metadata: { "x-gen": "ts-proto" } })
      expect(reply.message).toBe("ts-proto")
      expect(reply.metadata["x-gen"]).toBe("ts-proto")
      const counts = yield* Stream.runCollect(client.serverStream("count", { count: 3 }))
      expect(Chunk.toReadonlyArray(counts).map((reply) => reply.n)).toEqual([1, 2, 3])
      const total = yield* client.clientStream("sum", Stream.make({ value: 2 }, { value: 5 }))
      expect(total).toEqual({ value: 7, count: 2 })
      const chat = yield* Stream.runCollect(client.bidiStream("chat", Stream.make({ message: "a" }, { message: "b" })))
      expect(Chunk.toReadonlyArray(chat).map((reply) => reply.message)).toEqual(["a", "b"])
      expect((yield* server.calls).map((call) => call.path)).toEqual([
        "/redial.test.Test/Echo",
        "/redial.test.Test/Count",
        "/redial.test.Test/Sum",
        "/redial.test.Test/Chat"
      ])
    }))

  it.scopedLive("proto-loader-gen-types: the service constructor of ProtoGrpcType, every kind of call", () =>
    Effect.gen(function*() {
      const server = yield* TS.TestServer.make()
      const client = GrpcClient.makeWith(yield* channelOn(server.address), Test)
      expect((yield* client.unary("Echo", { message: "loader" })).message).toBe("loader")
      const counts = yield* Stream.runCollect(client.serverStream("Count", { count: 2 }))
      expect(Chunk.toReadonlyArray(counts)).toEqual([{ n: 1 }, { n: 2 }])
      expect(yield* client.clientStream("Sum", Stream.make({ value: 40 }, { value: 2 }))).toEqual({
        value: 42,
        count: 2
      })
      const chat = yield* Stream.runCollect(client.bidiStream("Chat", Stream.make({ message: "x" })))
      expect(Chunk.toReadonlyArray(chat).map((reply) => reply.message)).toEqual(["x"])
    }))

  it.scopedLive("GrpcClient.make takes the channel from the GrpcChannel layer", () =>
    Effect.gen(function*() {
      const server = yield* TS.TestServer.make()
      const channel = yield* channelOn(server.address)
      const reply = yield* Effect.flatMap(
        GrpcClient.make(TestDefinition),
        (client) => client.unary("echo", { message: "layer" })
      ).pipe(Effect.provideService(GrpcChannel.GrpcChannel, channel))
      expect(reply.message).toBe("layer")
    }))

  it.scopedLive("the README's ts-proto example runs, on a GrpcChannel layer", () =>
    Effect.gen(function*() {
      const server = yield* TS.TestServer.make()
      const program = Effect.gen(function*() {
        const client = yield* GrpcClient.make(TestDefinition)
        const reply = yield* client.unary("echo", { message: "hi" }, { deadline: "2 seconds", mode: "wait" })
        const counts = yield* Stream.runCollect(client.serverStream("count", { count: 5 }))
        const total = yield* client.clientStream("sum", Stream.make({ value: 1 }, { value: 2 }))
        return { reply, counts, total }
      }).pipe(Effect.provide(GrpcChannel.layer({ address: server.address })))
      const { counts, reply, total } = yield* program
      expect(reply.message).toBe("hi")
      expect(Chunk.size(counts)).toBe(5)
      expect(total).toEqual({ value: 3, count: 2 })
    }))

  it("the committed proto-loader-gen-types output is what the generator makes from test.proto", () => {
    const fixtures = path.join(path.dirname(TS.protoPath), "generated/proto-loader")
    const fresh = fs.mkdtempSync(path.join(os.tmpdir(), "redial-gen-"))
    try {
      generateProtoLoader(fresh)
      const files = (dir: string): Array<string> =>
        fs.readdirSync(dir, { recursive: true, encoding: "utf8" }).filter((file) =>
          fs.statSync(path.join(dir, file)).isFile()
        ).sort()
      expect(files(fresh)).toEqual(files(fixtures))
      for (const file of files(fixtures)) {
        expect(fs.readFileSync(path.join(fresh, file), "utf8"), file).toBe(
          fs.readFileSync(path.join(fixtures, file), "utf8")
        )
      }
    } finally {
      fs.rmSync(fresh, { recursive: true, force: true })
    }
  })
})
