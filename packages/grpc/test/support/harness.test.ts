import { describe, expect, it } from "@effect/vitest"
import * as grpc from "@grpc/grpc-js"
import { TestCertificates } from "@redial/testing"
import { Effect, Fiber } from "effect"
import type { Scope } from "effect"
import * as net from "node:net"
import type { CountReply, EchoReply, Total } from "./testServer.js"
import { loadTestService, serviceName, TestServer, waitFor } from "./testServer.js"

// --- a raw grpc-js client, wrapped just enough -------------------------------------------------

const { service } = loadTestService()
const TestClient = grpc.makeGenericClientConstructor(service, "Test")

const client = (
  address: string,
  credentials: grpc.ChannelCredentials = grpc.credentials.createInsecure(),
  options: grpc.ChannelOptions = {}
): Effect.Effect<grpc.Client, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => new TestClient(address, credentials, options)),
    (client) => Effect.sync(() => client.close())
  )

const deadline = () => new Date(performance.timeOrigin + performance.now() + 10_000)

const metadataOf = (entries: Record<string, string>): grpc.Metadata => {
  const metadata = new grpc.Metadata()
  for (const [key, value] of Object.entries(entries)) metadata.set(key, value)
  return metadata
}

interface UnaryResult<A> {
  readonly reply: A
  readonly trailers: grpc.Metadata
}

const unary = <A>(
  client: grpc.Client,
  method: "Echo" | "Fail",
  request: object,
  options: { readonly metadata?: grpc.Metadata; readonly waitForReady?: boolean } = {}
): Effect.Effect<UnaryResult<A>, grpc.ServiceError> =>
  Effect.async((resume) => {
    const definition = service[method]!
    let reply: A | undefined
    const metadata = options.metadata ?? new grpc.Metadata()
    // grpc-js takes waitForReady as a metadata option, not a call option.
    if (options.waitForReady === true) metadata.setOptions({ waitForReady: true })
    const call = client.makeUnaryRequest<object, A>(
      definition.path,
      definition.requestSerialize,
      definition.responseDeserialize,
      request,
      metadata,
      { deadline: deadline() },
      (error, value) => {
        if (error !== null) resume(Effect.fail(error))
        else reply = value
      }
    )
    // The trailers come with the status, after the reply.
    call.on("status", (status: grpc.StatusObject) => {
      if (status.code === grpc.status.OK) resume(Effect.succeed({ reply: reply!, trailers: status.metadata }))
    })
    return Effect.sync(() => call.cancel())
  })

const echo = (client: grpc.Client, message: string, options: { readonly waitForReady?: boolean } = {}) =>
  unary<EchoReply>(client, "Echo", { message }, options).pipe(Effect.map(({ reply }) => reply.message))

/** Reads the Count stream to its end. */
const count = (client: grpc.Client, request: { count: number; intervalMs?: number }) =>
  Effect.async<Array<number>, grpc.ServiceError>((resume) => {
    const definition = service.Count!
    const received: Array<number> = []
    const call = client.makeServerStreamRequest<object, CountReply>(
      definition.path,
      definition.requestSerialize,
      definition.responseDeserialize,
      request,
      new grpc.Metadata(),
      { deadline: deadline() }
    )
    call.on("data", (reply: CountReply) => received.push(reply.n))
    call.on("error", (error: grpc.ServiceError) => resume(Effect.fail(error)))
    call.on("end", () => resume(Effect.succeed(received)))
    return Effect.sync(() => call.cancel())
  })

/** Starts a forever Count stream; resolves once `first` replies arrived, with the stream's final error. */
const openCount = (client: grpc.Client, first: number) =>
  Effect.async<{ call: grpc.ClientReadableStream<CountReply>; ended: Promise<grpc.ServiceError | undefined> }>(
    (resume) => {
      const definition = service.Count!
      const call = client.makeServerStreamRequest<object, CountReply>(
        definition.path,
        definition.requestSerialize,
        definition.responseDeserialize,
        { count: 0, intervalMs: 1 },
        new grpc.Metadata(),
        {}
      )
      const ended = new Promise<grpc.ServiceError | undefined>((resolve) => {
        call.on("error", resolve)
        call.on("end", () => resolve(undefined))
      })
      call.on("data", (reply: CountReply) => {
        if (reply.n === first) resume(Effect.succeed({ call, ended }))
      })
    }
  )

const sum = (client: grpc.Client, values: ReadonlyArray<number>) =>
  Effect.async<Total, grpc.ServiceError>((resume) => {
    const definition = service.Sum!
    const call = client.makeClientStreamRequest<object, Total>(
      definition.path,
      definition.requestSerialize,
      definition.responseDeserialize,
      new grpc.Metadata(),
      { deadline: deadline() },
      (error, value) => resume(error !== null ? Effect.fail(error) : Effect.succeed(value!))
    )
    for (const value of values) call.write({ value })
    call.end()
    return Effect.sync(() => call.cancel())
  })

const chat = (client: grpc.Client, requests: ReadonlyArray<{ message: string; delayMs: number }>) =>
  Effect.async<Array<EchoReply>, grpc.ServiceError>((resume) => {
    const definition = service.Chat!
    const replies: Array<EchoReply> = []
    const call = client.makeBidiStreamRequest<object, EchoReply>(
      definition.path,
      definition.requestSerialize,
      definition.responseDeserialize,
      metadataOf({ "x-chat": "yes" }),
      { deadline: deadline() }
    )
    call.on("data", (reply: EchoReply) => replies.push(reply))
    call.on("error", (error: grpc.ServiceError) => resume(Effect.fail(error)))
    call.on("end", () => resume(Effect.succeed(replies)))
    for (const request of requests) call.write(request)
    call.end()
    return Effect.sync(() => call.cancel())
  })

const failureCode = <A>(self: Effect.Effect<A, grpc.ServiceError>) =>
  Effect.flip(self).pipe(Effect.map((error) => error.code))

// --- tests -------------------------------------------------------------------------------------

describe("test server", () => {
  it.scopedLive("Echo replies with the message and the request metadata", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make()
      expect(server.address).toBe(`127.0.0.1:${server.port}`)
      const c = yield* client(server.address)
      const metadata = metadataOf({ authorization: "Bearer token-1", "x-api-key": "key-1" })
      metadata.set("x-blob-bin", Buffer.from([1, 2, 3]))
      const { reply } = yield* unary<EchoReply>(c, "Echo", { message: "hello", delayMs: 20 }, { metadata })
      expect(reply.message).toBe("hello")
      expect(reply.metadata).toMatchObject({
        authorization: "Bearer token-1",
        "x-api-key": "key-1",
        "x-blob-bin": Buffer.from([1, 2, 3]).toString("base64")
      })
      const calls = yield* server.calls
      expect(calls).toHaveLength(1)
      expect(calls[0]!.method).toBe("Echo")
      expect(calls[0]!.path).toBe(`/${serviceName}/Echo`)
      expect(calls[0]!.metadata).toMatchObject({ authorization: "Bearer token-1", "x-api-key": "key-1" })
    }))

  it.scopedLive("Count streams n = 1..count", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make()
      const c = yield* client(server.address)
      expect(yield* count(c, { count: 5, intervalMs: 5 })).toEqual([1, 2, 3, 4, 5])
      expect(yield* count(c, { count: 1 })).toEqual([1])
    }))

  it.scopedLive("Count 0 streams until the client cancels", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make()
      const c = yield* client(server.address)
      const { call, ended } = yield* openCount(c, 50)
      call.cancel()
      const error = yield* Effect.promise(() => ended)
      expect(error?.code).toBe(grpc.status.CANCELLED)
    }))

  it.scopedLive("Fail answers with the chosen code, details and trailers", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make()
      const c = yield* client(server.address)
      const error = yield* Effect.flip(
        unary(c, "Fail", { code: grpc.status.RESOURCE_EXHAUSTED, details: "slow down", trailers: { "x-retry": "7" } })
      )
      expect(error.code).toBe(grpc.status.RESOURCE_EXHAUSTED)
      expect(error.details).toBe("slow down")
      expect(error.metadata.get("x-retry")).toEqual(["7"])
      // Code 0 is a success that still carries the trailers.
      const ok = yield* unary<EchoReply>(c, "Fail", { code: 0, details: "fine", trailers: { "x-note": "ok" } })
      expect(ok.reply.message).toBe("fine")
      expect(ok.trailers.get("x-note")).toEqual(["ok"])
    }))

  it.scopedLive("Sum adds up a client stream; Chat echoes a bidi stream in order", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make()
      const c = yield* client(server.address)
      expect(yield* sum(c, [1, 2, 3, 2 ** 40])).toEqual({ value: 6 + 2 ** 40, count: 4 })
      expect(yield* sum(c, [])).toEqual({ value: 0, count: 0 })
      const replies = yield* chat(c, [{ message: "a", delayMs: 30 }, { message: "b", delayMs: 0 }, {
        message: "c",
        delayMs: 0
      }])
      expect(replies.map((reply) => reply.message)).toEqual(["a", "b", "c"])
      expect(replies[0]!.metadata["x-chat"]).toBe("yes")
      expect((yield* server.calls).map((call) => call.method)).toEqual(["Sum", "Sum", "Chat"])
    }))

  it.scopedLive("connections counts an open client connection and drops to 0 after close", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make()
      expect(yield* server.connections).toBe(0)
      const c = new TestClient(server.address, grpc.credentials.createInsecure())
      yield* Effect.addFinalizer(() => Effect.sync(() => c.close()))
      expect(yield* echo(c, "hi")).toBe("hi")
      expect(yield* waitFor(server.connections, (n) => n >= 1)).toBeGreaterThanOrEqual(1)
      c.close()
      yield* waitFor(server.connections, (n) => n === 0, { description: "the server to see the client go" })
    }))

  it.scopedLive("stop closes every connection and refuses calls; start serves again on the same port", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make()
      const c = yield* client(server.address)
      expect(yield* echo(c, "before")).toBe("before")
      const stream = yield* openCount(c, 3)
      expect(yield* server.connections).toBeGreaterThanOrEqual(1)

      yield* server.stop
      expect(yield* server.running).toBe(false)
      // stop returns once the server-side sockets are gone.
      expect(yield* server.connections).toBe(0)
      const streamError = yield* Effect.promise(() => stream.ended)
      // forceShutdown ends the HTTP/2 session with CANCEL: in-flight calls see
      // CANCELLED, not UNAVAILABLE (use FaultProxy.cut for a crash-like reset).
      expect(streamError?.code).toBe(grpc.status.CANCELLED)
      expect(yield* failureCode(echo(c, "while stopped"))).toBe(grpc.status.UNAVAILABLE)
      yield* server.stop // idempotent

      yield* server.start
      expect(yield* server.running).toBe(true)
      // The old channel may be in reconnect backoff: wait for it to be ready.
      expect(yield* echo(c, "after", { waitForReady: true })).toBe("after")
      const fresh = yield* client(`127.0.0.1:${server.port}`)
      expect(yield* echo(fresh, "fresh")).toBe("fresh")
      yield* server.start // idempotent
      expect((yield* server.calls).filter((call) => call.method === "Echo")).toHaveLength(3)
    }))

  it.scopedLive("start waits for the port to be free", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make()
      yield* server.stop
      const blocker = net.createServer()
      yield* Effect.async<void>((resume) => {
        blocker.listen(server.port, "127.0.0.1", () => resume(Effect.void))
      })
      const starting = yield* Effect.fork(server.start)
      yield* Effect.sleep("100 millis")
      expect(yield* server.running).toBe(false)
      yield* Effect.async<void>((resume) => {
        blocker.close(() => resume(Effect.void))
      })
      yield* Fiber.join(starting)
      const c = yield* client(server.address)
      expect(yield* echo(c, "again")).toBe("again")
    }))

  it.scopedLive("the server is force-shut down when its scope closes", () =>
    Effect.gen(function*() {
      const c = yield* Effect.acquireRelease(Effect.succeed({ current: undefined as grpc.Client | undefined }), (ref) =>
        Effect.sync(() => ref.current?.close()))
      const port = yield* Effect.scoped(Effect.gen(function*() {
        const server = yield* TestServer.make({ host: "127.0.0.1" })
        c.current = new TestClient(server.address, grpc.credentials.createInsecure())
        expect(yield* echo(c.current, "inside")).toBe("inside")
        return server.port
      }))
      expect(yield* failureCode(echo(c.current!, "outside"))).toBe(grpc.status.UNAVAILABLE)
      // Nothing listens on the port any more: it can be bound again.
      const again = yield* TestServer.make({ port })
      expect(again.port).toBe(port)
    }))

  it.scopedLive("TLS: a client trusting the CA connects, one trusting another CA does not", () =>
    Effect.gen(function*() {
      const { ca, cert, key, otherCa } = yield* TestCertificates.make()
      const server = yield* TestServer.make({ tls: { key, cert } })
      const trusted = yield* client(server.address, grpc.credentials.createSsl(ca))
      expect(yield* echo(trusted, "secure")).toBe("secure")
      // The DNS name in the certificate works too.
      const byName = yield* client(server.address, grpc.credentials.createSsl(ca), {
        "grpc.ssl_target_name_override": "localhost"
      })
      expect(yield* echo(byName, "by name")).toBe("by name")
      const untrusted = yield* client(server.address, grpc.credentials.createSsl(otherCa))
      expect(yield* failureCode(echo(untrusted, "insecure"))).toBe(grpc.status.UNAVAILABLE)
      const plaintext = yield* client(server.address)
      expect(yield* failureCode(echo(plaintext, "plaintext"))).toBe(grpc.status.UNAVAILABLE)
      // Only the trusted clients' calls got through.
      expect((yield* server.calls).map((call) => call.method)).toEqual(["Echo", "Echo"])
    }))

  it.live("waitFor fails with a clear message after its timeout", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(
        waitFor(Effect.succeed(3), (n) => n === 0, { timeout: "50 millis", description: "zero connections" })
      )
      expect(error._tag).toBe("WaitForTimeoutError")
      expect(error.message).toBe("Timed out after 50ms waiting for zero connections; last value: 3")
      expect(yield* waitFor(Effect.succeed(0), (n) => n === 0)).toBe(0)
    }))
})
