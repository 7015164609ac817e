import { describe, expect, it } from "@effect/vitest"
import * as grpc from "@grpc/grpc-js"
import { Closed, NotConnected, Reconnect, Timeout } from "@redial/core"
import { FaultProxy, TestCertificates, TestTime } from "@redial/testing"
import { Chunk, Duration, Effect, Exit, Fiber, Schedule, Stream, Tracer } from "effect"
import { GrpcChannel, GrpcClient, GrpcError } from "../src/index.js"
import { channelOptions } from "../src/internal/grpcChannel.js"
import * as TS from "./support/testServer.js"

type Test = {
  readonly Echo: GrpcClient.Method<Partial<TS.EchoRequest>, TS.EchoReply>
  readonly Count: GrpcClient.Method<Partial<TS.CountRequest>, TS.CountReply>
  readonly Fail: GrpcClient.Method<Partial<TS.FailRequest>, TS.EchoReply>
  readonly Sum: GrpcClient.Method<TS.Number, TS.Total>
  readonly Chat: GrpcClient.Method<Partial<TS.EchoRequest>, TS.EchoReply>
}
const service = TS.loadTestService().service as unknown as Test

/** Fast reconnects for tests on real servers. */
const fast = Reconnect.fixed("50 millis")

const setup = (address: string | ReadonlyArray<string>, options: Partial<GrpcChannel.Options> = {}) =>
  Effect.gen(function*() {
    const channel = yield* GrpcChannel.make({ address, policy: fast, connectTimeout: "2 seconds", ...options })
    const client = GrpcClient.makeWith(channel, service)
    return { channel, client }
  })

const connected = (channel: GrpcChannel.GrpcChannel) => channel.await({ timeout: "10 seconds" })

describe("GrpcChannel", () => {
  it.scopedLive("connects and calls", () =>
    Effect.gen(function*() {
      const server = yield* TS.TestServer.make()
      const { channel, client } = yield* setup(server.address, { name: "echo" })
      yield* connected(channel)
      expect(yield* channel.isConnected).toBe(true)
      const reply = yield* client.unary("Echo", { message: "hello" }, { metadata: { "x-trace": "abc" } })
      expect(reply.message).toBe("hello")
      expect(reply.metadata["x-trace"]).toBe("abc")
      expect((yield* channel.status)._tag).toBe("Connected")
    }))

  it.scopedLive("recovers when the server stops and restarts on the same port; calls fail typed while down", () =>
    Effect.gen(function*() {
      const server = yield* TS.TestServer.make()
      const { channel, client } = yield* setup(server.address)
      yield* connected(channel)
      yield* server.stop
      yield* TestTime.awaitStatus(channel, (s) => s._tag !== "Connected")
      const down = yield* Effect.flip(client.unary("Echo", { message: "while down" }))
      expect(["NotConnected", "Unavailable"]).toContain(down._tag)
      yield* server.start
      yield* connected(channel)
      const reply = yield* client.unary("Echo", { message: "back" })
      expect(reply.message).toBe("back")
    }))

  it.scopedLive("fail-fast fails at once with NotConnected; wait mode waits for the connection up to the deadline", () =>
    Effect.gen(function*() {
      const server = yield* TS.TestServer.make()
      const { channel, client } = yield* setup(server.address)
      yield* connected(channel)
      yield* server.stop
      yield* TestTime.awaitStatus(channel, (s) => s._tag !== "Connected")
      const fast = yield* Effect.flip(client.unary("Echo", { message: "x" }, { mode: "failFast" }))
      expect(fast).toBeInstanceOf(NotConnected)
      // wait, with the server back before the deadline
      const waiting = yield* Effect.fork(
        client.unary("Echo", { message: "waited" }, { mode: "wait", deadline: "10 seconds" })
      )
      yield* Effect.sleep("200 millis")
      expect((yield* Fiber.poll(waiting))._tag).toBe("None")
      yield* server.start
      expect((yield* Fiber.join(waiting)).message).toBe("waited")
      // wait, with the server down past the deadline
      yield* server.stop
      yield* TestTime.awaitStatus(channel, (s) => s._tag !== "Connected")
      const late = yield* Effect.flip(client.unary("Echo", { message: "x" }, { mode: "wait", deadline: "300 millis" }))
      expect(late).toBeInstanceOf(Timeout)
      expect(late).toMatchObject({ operation: "call", detail: "/redial.test.Test/Echo" })
    }))

  it.scopedLive("a deadline that passes fails with Timeout", () =>
    Effect.gen(function*() {
      const server = yield* TS.TestServer.make()
      const { channel, client } = yield* setup(server.address)
      yield* connected(channel)
      const error = yield* Effect.flip(
        client.unary("Echo", { message: "slow", delayMs: 3000 }, { deadline: "200 millis" })
      )
      expect(error).toBeInstanceOf(Timeout)
      expect(Duration.toMillis((error as Timeout).duration)).toBe(200)
      // the channel is still fine
      expect((yield* client.unary("Echo", { message: "after" })).message).toBe("after")
    }))

  it.scopedLive("status codes become tagged errors with details, trailers and the retry verdict", () =>
    Effect.gen(function*() {
      const server = yield* TS.TestServer.make()
      const { channel, client } = yield* setup(server.address)
      yield* connected(channel)
      const cases: Array<[number, string, boolean]> = [
        [1, "Cancelled", true],
        [3, "InvalidArgument", false],
        [5, "NotFound", false],
        [6, "AlreadyExists", false],
        [7, "PermissionDenied", false],
        [8, "ResourceExhausted", true],
        [9, "FailedPrecondition", false],
        [10, "Aborted", true],
        [13, "Internal", false],
        [14, "Unavailable", true],
        [16, "Unauthenticated", false]
      ]
      for (const [code, tag, retryable] of cases) {
        const error = yield* Effect.flip(
          client.unary("Fail", { code, details: `because ${code}`, trailers: { "x-why": "test" } })
        )
        expect(error._tag).toBe(tag)
        const status = error as GrpcError.GrpcStatusError
        expect(status.code).toBe(code)
        expect(status.details).toBe(`because ${code}`)
        expect(status.metadata.get("x-why")).toEqual(["test"])
        expect(status.retryable).toBe(retryable)
        expect(status.method).toBe("/redial.test.Test/Fail")
        expect(status.message).toContain(`because ${code}`)
      }
      const deadline = yield* Effect.flip(client.unary("Fail", { code: 4, details: "too slow" }))
      expect(deadline).toBeInstanceOf(Timeout)
      // an application-level UNAVAILABLE on a READY channel does not drop the connection
      expect((yield* channel.status)._tag).toBe("Connected")
    }))

  it.scopedLive("streams: server, client and bidi", () =>
    Effect.gen(function*() {
      const server = yield* TS.TestServer.make()
      const { channel, client } = yield* setup(server.address)
      yield* connected(channel)
      const counted = yield* Stream.runCollect(client.serverStream("Count", { count: 5, intervalMs: 1 }))
      expect(Chunk.toArray(counted).map((r) => r.n)).toEqual([1, 2, 3, 4, 5])
      const total = yield* client.clientStream("Sum", Stream.make(1, 2, 3, 4).pipe(Stream.map((value) => ({ value }))))
      expect(total).toEqual({ value: 10, count: 4 })
      const chat = yield* Stream.runCollect(
        client.bidiStream("Chat", Stream.make("a", "b", "c").pipe(Stream.map((message) => ({ message }))))
      )
      expect(Chunk.toArray(chat).map((r) => r.message)).toEqual(["a", "b", "c"])
      // stopping early cancels the call
      const first = yield* Stream.runCollect(
        client.serverStream("Count", { count: 0, intervalMs: 5 }).pipe(Stream.take(3))
      )
      expect(Chunk.size(first)).toBe(3)
      // a failing request stream fails the call with its own error
      const failed = yield* Effect.flip(client.clientStream("Sum", Stream.fail("no more numbers" as const)))
      expect(failed).toBe("no more numbers")
    }))

  it.scopedLive("a server stream cut by a disconnect ends with a typed error, never silently", () =>
    Effect.gen(function*() {
      const server = yield* TS.TestServer.make()
      const proxy = yield* FaultProxy.make({ target: { port: server.port } })
      const { channel, client } = yield* setup(proxy.address)
      yield* connected(channel)
      const received: Array<number> = []
      const stream = yield* Effect.fork(
        client.serverStream("Count", { count: 0, intervalMs: 10 }).pipe(
          Stream.runForEach((r) => Effect.sync(() => received.push(r.n)))
        )
      )
      yield* TS.waitFor(Effect.sync(() => received.length), (n) => n >= 3)
      yield* proxy.cut
      const exit = yield* Fiber.await(stream)
      expect(Exit.isFailure(exit)).toBe(true)
      const error = yield* Effect.flip(Fiber.join(stream))
      expect(["Unavailable", "Internal", "Cancelled"]).toContain(error._tag)
      // and the channel reconnects
      yield* connected(channel)
      expect((yield* client.unary("Echo", { message: "again" })).message).toBe("again")
    }))

  it.scopedLive("FaultProxy cut and refuse: lost, backoff, recovered", () =>
    Effect.gen(function*() {
      const server = yield* TS.TestServer.make()
      const proxy = yield* FaultProxy.make({ target: { port: server.port } })
      const { channel, client } = yield* setup(proxy.address, { policy: Reconnect.fixed("200 millis") })
      yield* connected(channel)
      yield* proxy.refuse(true)
      yield* proxy.cut
      // A connection that lived less than the minimum uptime may back off for its loss first
      // (ChannelStateChanged); the attempt against the refusing proxy then fails typed.
      const backoff = yield* TestTime.awaitStatus(
        channel,
        (s) => s._tag === "Backoff" && s.error.cause instanceof GrpcError.ChannelFailure
      )
      expect(backoff._tag === "Backoff" && backoff.error.cause).toBeInstanceOf(GrpcError.ChannelFailure)
      expect(backoff._tag === "Backoff" && Duration.toMillis(backoff.delay)).toBe(200)
      const down = yield* Effect.flip(client.unary("Echo", { message: "x" }))
      expect(down).toBeInstanceOf(NotConnected)
      yield* proxy.refuse(false)
      yield* connected(channel)
      expect((yield* client.unary("Echo", { message: "ok" })).message).toBe("ok")
    }))

  it.scopedLive("a black-holed peer (TCP accepted, no HTTP/2) ends in Timeout and a backoff, not a hang", () =>
    Effect.gen(function*() {
      const server = yield* TS.TestServer.make()
      const proxy = yield* FaultProxy.make({ target: { port: server.port } })
      yield* proxy.blackhole(true)
      const { channel } = yield* setup(proxy.address, {
        connectTimeout: "300 millis",
        policy: Reconnect.fixed("100 millis")
      })
      const backoff = yield* TestTime.awaitStatus(channel, "Backoff")
      expect(backoff._tag === "Backoff" && backoff.error.cause).toBeInstanceOf(Timeout)
      yield* proxy.restore
      yield* connected(channel)
    }))

  it.scopedLive("minUptime is core's: a connection dropped sooner backs off; with 0 it reconnects at once", () =>
    Effect.gen(function*() {
      const server = yield* TS.TestServer.make()
      const proxy = yield* FaultProxy.make({ target: { port: server.port } })
      const afterCut = (minUptime: Duration.DurationInput) =>
        Effect.scoped(Effect.gen(function*() {
          const { channel } = yield* setup(proxy.address, { policy: Reconnect.fixed("1 second"), minUptime })
          yield* connected(channel)
          const next = yield* Effect.fork(TestTime.awaitStatus(channel, (s) => s._tag !== "Connected"))
          yield* TestTime.settle()
          yield* proxy.cut
          return yield* Fiber.join(next)
        }))
      const early = yield* afterCut("1 minute")
      expect(early._tag).toBe("Backoff")
      expect(early._tag === "Backoff" && Duration.toMillis(early.delay)).toBe(1000)
      expect(yield* afterCut(0)).toMatchObject({ _tag: "Connecting", attempt: 1 })
      const invalid = yield* Effect.flip(GrpcChannel.make({ address: "127.0.0.1:1", minUptime: Duration.infinity }))
      expect(invalid).toMatchObject({ _tag: "InvalidOption", option: "minUptime", reason: "OutOfRange" })
    }))

  it.scopedLive("grpc-js's idle timer does not drop an idle connection (a user's 1 s one shows what it would do)", () =>
    Effect.gen(function*() {
      // grpc-js's default is 30 minutes; redial sets the longest timer Node runs.
      expect(channelOptions({}, { keepAlive: undefined, connectTimeout: Duration.seconds(1) }))
        .toMatchObject({ "grpc.client_idle_timeout_ms": 2 ** 31 - 1 })
      const server = yield* TS.TestServer.make()
      const { channel, client } = yield* setup(server.address, {
        channelOptions: { "grpc.client_idle_timeout_ms": 1000 }
      })
      yield* connected(channel)
      const live = yield* channel.connection.get
      yield* client.unary("Echo", { message: "then idle" })
      yield* TS.waitFor(
        Effect.map(Effect.either(channel.connection.get), (e) => e._tag === "Right" && e.right === live),
        (same) => !same,
        { timeout: "10 seconds", description: "grpc-js's idle timer to end the connection" }
      )
    }))

  it.scopedLive("sends call credentials that the server sees", () =>
    Effect.gen(function*() {
      const server = yield* TS.TestServer.make()
      const callCredentials = grpc.credentials.createFromMetadataGenerator((_params, callback) => {
        const metadata = new grpc.Metadata()
        metadata.add("authorization", `Basic ${Buffer.from("admin:changeit").toString("base64")}`)
        callback(null, metadata)
      })
      const { channel, client } = yield* setup(server.address, { callCredentials })
      yield* connected(channel)
      const reply = yield* client.unary("Echo", { message: "who am i" })
      expect(reply.metadata["authorization"]).toBe(`Basic ${Buffer.from("admin:changeit").toString("base64")}`)
    }))

  it.scopedLive("TLS with a CA made at test time: connects with the CA, fails typed without it", () =>
    Effect.gen(function*() {
      const certs = yield* TestCertificates.make()
      const server = yield* TS.TestServer.make({ tls: { key: certs.key, cert: certs.cert } })
      const good = yield* setup(server.address, { tls: { ca: certs.ca } })
      yield* connected(good.channel)
      expect((yield* good.client.unary("Echo", { message: "secure" })).message).toBe("secure")

      const bad = yield* setup(server.address, { tls: { ca: certs.otherCa }, policy: Reconnect.stop })
      const closed = yield* Effect.flip(bad.channel.await({ timeout: "10 seconds" }))
      expect(closed).toBeInstanceOf(Closed)
      const failure = (closed as Closed).error?.cause
      expect(failure).toBeInstanceOf(GrpcError.ChannelFailure)
      expect((failure as GrpcError.ChannelFailure).reason).toBe("TransientFailure")
      expect((failure as GrpcError.ChannelFailure).detail).toMatch(/certificate|self.signed|verify/i)
    }))

  it.scopedLive("fails over between two hosts", () =>
    Effect.gen(function*() {
      const a = yield* TS.TestServer.make()
      const b = yield* TS.TestServer.make()
      yield* a.stop
      const { channel, client } = yield* setup([a.address, b.address])
      yield* connected(channel)
      expect((yield* channel.connection.get).address).toBe(b.address)
      yield* client.unary("Echo", { message: "on b" })
      // b goes down and a comes back: the channel moves to a
      yield* a.start
      yield* b.stop
      yield* TS.waitFor(
        Effect.map(Effect.either(channel.connection.get), (e) => e._tag === "Right" ? e.right.address : "none"),
        (address) => address === a.address,
        { timeout: "10 seconds" }
      )
      expect((yield* client.unary("Echo", { message: "on a" })).message).toBe("on a")
      expect((yield* b.calls).length).toBe(1)
      expect((yield* a.calls).length).toBe(1)
    }))

  it.live("closing the scope closes the channel: the server sees zero connections", () =>
    Effect.gen(function*() {
      const server = yield* TS.TestServer.make()
      yield* Effect.scoped(Effect.gen(function*() {
        const { channel, client } = yield* setup(server.address)
        yield* connected(channel)
        yield* client.unary("Echo", { message: "x" })
        yield* TS.waitFor(server.connections, (n) => n >= 1)
      }))
      yield* TS.waitFor(server.connections, (n) => n === 0, { description: "the server to see 0 connections" })
    }).pipe(Effect.scoped))

  it.scopedLive("close stops it (Closed, no reconnect); connect starts it again", () =>
    Effect.gen(function*() {
      const server = yield* TS.TestServer.make()
      const { channel, client } = yield* setup(server.address)
      yield* connected(channel)
      yield* channel.disconnect
      expect(yield* channel.isConnected).toBe(false)
      expect(yield* Effect.flip(channel.channel)).toBeInstanceOf(Closed)
      expect(yield* Effect.flip(client.unary("Echo", { message: "x" }))).toBeInstanceOf(Closed)
      yield* TS.waitFor(server.connections, (n) => n === 0)
      yield* channel.connect
      yield* connected(channel)
      expect((yield* client.unary("Echo", { message: "y" })).message).toBe("y")
    }))

  it.scopedLive("await times out with Timeout while the server is down", () =>
    Effect.gen(function*() {
      const server = yield* TS.TestServer.make()
      yield* server.stop
      const { channel } = yield* setup(server.address, { awaitTimeout: "300 millis" })
      const error = yield* Effect.flip(channel.await())
      expect(error).toBeInstanceOf(Timeout)
      expect(Duration.toMillis((error as Timeout).duration)).toBe(300)
    }))

  it.scopedLive("retry re-runs an idempotent call after the channel reconnects", () =>
    Effect.gen(function*() {
      const server = yield* TS.TestServer.make()
      const { channel, client } = yield* setup(server.address)
      yield* connected(channel)
      yield* server.stop
      yield* TestTime.awaitStatus(channel, (s) => s._tag !== "Connected")
      const call = yield* Effect.fork(client.unary("Echo", { message: "retried" }, {
        deadline: "5 seconds",
        retry: Schedule.spaced("50 millis").pipe(Schedule.intersect(Schedule.recurs(20)))
      }))
      yield* Effect.sleep("300 millis")
      yield* server.start
      expect((yield* Fiber.join(call)).message).toBe("retried")
    }))

  it.scopedLive("calls are traced as client spans when a tracer is installed", () =>
    Effect.gen(function*() {
      const server = yield* TS.TestServer.make()
      const { channel, client } = yield* setup(server.address)
      yield* connected(channel)
      const spans: Array<{ name: string; kind: string }> = []
      const base = yield* Effect.tracer
      const tracer = Tracer.make({
        span: (name, parent, context, links, startTime, kind) => {
          spans.push({ name, kind })
          return base.span(name, parent, context, links, startTime, kind)
        },
        context: base.context
      })
      yield* client.unary("Echo", { message: "traced" }).pipe(Effect.withTracer(tracer))
      expect(spans).toContainEqual({ name: "redial.grpc.unary", kind: "client" })
    }))

  it.scopedLive("grpc channel options are passed through", () =>
    Effect.gen(function*() {
      const server = yield* TS.TestServer.make()
      const { channel, client } = yield* setup(server.address, {
        channelOptions: { "grpc.primary_user_agent": "redial-test/1.0" },
        keepAlive: { interval: "10 seconds", timeout: "5 seconds" }
      })
      yield* connected(channel)
      const reply = yield* client.unary("Echo", { message: "ua" })
      expect(reply.metadata["user-agent"]).toContain("redial-test/1.0")
    }))

  it.scoped("invalid options fail with InvalidOption", () =>
    Effect.gen(function*() {
      const invalid = (options: GrpcChannel.Options) =>
        Effect.flip(GrpcChannel.make(options)).pipe(
          Effect.map((error) => error._tag === "InvalidOption" ? error.option : `unexpected ${error._tag}`)
        )
      for (const address of ["", "no-port", "host:port", "a b:1", "h:70000"]) {
        expect(yield* invalid({ address })).toBe("address")
      }
      expect(yield* invalid({ address: [] })).toBe("address")
      expect(yield* invalid({ address: ["127.0.0.1:1", "no-port"] })).toBe("address[1]")
      expect(yield* invalid({ address: "127.0.0.1:1", connectTimeout: 0 })).toBe("connectTimeout")
    }))

  it.scoped("options are decoded with reasons, paths, and no quoted address", () =>
    Effect.gen(function*() {
      const invalid = (options: GrpcChannel.Options) =>
        Effect.flip(GrpcChannel.make(options)).pipe(
          Effect.flatMap((error) => error._tag === "InvalidOption" ? Effect.succeed(error) : Effect.die(error))
        )
      const url = yield* invalid({ address: "https://admin:hunter2@db.example:443" })
      expect(url).toMatchObject({ option: "address", reason: "Invalid" })
      expect(url.message).not.toContain("hunter2")
      expect(yield* invalid({ address: [] })).toMatchObject({ option: "address", reason: "Missing" })
      expect(yield* invalid({ address: "h:70000" })).toMatchObject({ reason: "OutOfRange" })
      const base = { address: "127.0.0.1:1", autoConnect: false }
      // sub-millisecond timers fire at once: rejected, as NaN (shown as NaN) and zero are
      expect(yield* invalid({ ...base, keepAlive: { interval: "400 micros" } })).toMatchObject({
        option: "keepAlive.interval",
        reason: "OutOfRange",
        detail: "must be at least 1ms (got 0.4ms)"
      })
      expect(yield* invalid({ ...base, keepAlive: { interval: "1 second", timeout: Number.NaN } })).toMatchObject({
        option: "keepAlive.timeout",
        reason: "Invalid",
        detail: "must be a duration (got NaN)"
      })
      expect(yield* invalid({ ...base, defaultDeadline: 1e15 })).toMatchObject({
        option: "defaultDeadline",
        reason: "OutOfRange"
      })
      expect(yield* invalid({ ...base, awaitTimeout: -1 })).toMatchObject({
        option: "awaitTimeout",
        reason: "OutOfRange"
      })
      expect(yield* invalid({ ...base, name: "" })).toMatchObject({ option: "name", reason: "Invalid" })
      // valid ones still make a channel; connect and await timeouts may be infinite
      const channel = yield* GrpcChannel.make({
        ...base,
        connectTimeout: Duration.infinity,
        awaitTimeout: "1 second",
        defaultDeadline: "1 millis",
        keepAlive: { interval: "10 seconds" }
      })
      expect(channel.defaultDeadline).toEqual(Duration.millis(1))
    }))

  it.effect("presets: Chronicle backs off 1 s → 10 s five times; Spear every 500 ms forever", () =>
    Effect.gen(function*() {
      const chronicle = yield* Reconnect.delays(GrpcChannel.chroniclePolicy, 10)
      expect(chronicle.map(Duration.toMillis)).toEqual([1000, 2000, 4000, 8000, 10000])
      const spear = yield* Reconnect.delays(GrpcChannel.spearPolicy, 10)
      expect(spear.map(Duration.toMillis)).toEqual(Array(10).fill(500))
    }))
})
