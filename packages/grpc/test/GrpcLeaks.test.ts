/**
 * grpc-js's own reconnect never runs and no socket outlives its attempt: connections counted on
 * the server side (a FaultProxy's accepted connections, the test server's sockets from /proc)
 * and the client's sockets from /proc/net/tcp.
 */
import { describe, expect, it } from "@effect/vitest"
import type { Connection } from "@redial/core"
import { Closed, Reconnect } from "@redial/core"
import { FaultProxy, TestCertificates, TestTime } from "@redial/testing"
import { Effect, Stream } from "effect"
import { GrpcChannel, GrpcClient, GrpcError } from "../src/index.js"
import * as TS from "./support/testServer.js"

type Test = { readonly Echo: GrpcClient.Method<Partial<TS.EchoRequest>, TS.EchoReply> }
const service = TS.loadTestService().service as unknown as Test

/** Counts the connect attempts of a channel made with `autoConnect: false`, from its first status on. */
const attempts = (channel: GrpcChannel.GrpcChannel) =>
  Effect.gen(function*() {
    const seen: Array<Connection.Status> = []
    yield* Effect.forkScoped(Stream.runForEach(channel.changes, (status) => Effect.sync(() => seen.push(status))))
    yield* TS.waitFor(Effect.sync(() => seen.length), (n) => n > 0, { description: "the first status" })
    return Effect.sync(() => seen.filter((status) => status._tag === "Connecting").length)
  })

/** Longer than grpc-js's own reconnect backoff (1 s, then 1.6 s, ±20 %): a stray would show. */
const quiet = "3 seconds"

const total = (proxy: FaultProxy.FaultProxy) => Effect.map(proxy.connections, (c) => c.total)

describe("GrpcChannel leaks", () => {
  it.scopedLive(
    "server down 3 s: exactly one TCP connection per attempt, none after disconnect",
    () =>
      Effect.gen(function*() {
        const server = yield* TS.TestServer.make()
        const proxy = yield* FaultProxy.make({ target: { port: server.port } })
        const channel = yield* GrpcChannel.make({
          address: proxy.address,
          policy: Reconnect.fixed("100 millis"),
          // grpc-js's backoff is set just longer than an attempt (2 s here): a stray would
          // connect within the quiet time.
          connectTimeout: "1 second",
          autoConnect: false
        })
        const count = yield* attempts(channel)
        yield* channel.connect
        yield* channel.await({ timeout: "5 seconds" })
        expect(yield* count).toBe(1)
        expect(yield* total(proxy)).toBe(1)

        yield* server.stop
        yield* Effect.sleep("3 seconds")
        // Between attempts, so no attempt is half made when it stops.
        yield* TestTime.awaitStatus(channel, "Backoff")
        yield* channel.disconnect
        const made = yield* count
        expect(made).toBeGreaterThan(5)
        yield* Effect.sleep("300 millis") // the last attempt's connection reaches the proxy
        const settled = yield* total(proxy)
        expect(settled).toBe(made)
        yield* Effect.sleep(quiet)
        expect(yield* total(proxy)).toBe(settled)
        expect((yield* proxy.connections).open).toBe(0)
      }),
    20_000
  )

  it.scopedLive("the policy gives up: one connection per attempt and none after Closed", () =>
    Effect.gen(function*() {
      const server = yield* TS.TestServer.make()
      const proxy = yield* FaultProxy.make({ target: { port: server.port } })
      yield* server.stop
      const channel = yield* GrpcChannel.make({
        address: proxy.address,
        policy: Reconnect.limit(Reconnect.fixed("100 millis"), 3),
        connectTimeout: "1 second",
        autoConnect: false
      })
      const count = yield* attempts(channel)
      yield* channel.connect
      const closed = yield* TestTime.awaitStatus(channel, "Closed")
      expect(closed._tag === "Closed" && closed.reason).toBe("PolicyExhausted")
      expect(yield* count).toBe(4)
      yield* Effect.sleep("300 millis")
      expect(yield* total(proxy)).toBe(4)
      yield* Effect.sleep(quiet)
      expect(yield* total(proxy)).toBe(4)
    }), 20_000)

  it.live(
    "after an outage (server down 3 s, then back): one connection while up, zero after the scope ends",
    () =>
      Effect.gen(function*() {
        const server = yield* TS.TestServer.make()
        yield* Effect.scoped(Effect.gen(function*() {
          const channel = yield* GrpcChannel.make({
            address: server.address,
            policy: Reconnect.fixed("100 millis"),
            connectTimeout: "1 second"
          })
          const client = GrpcClient.makeWith(channel, service)
          yield* channel.await({ timeout: "5 seconds" })
          yield* client.unary("Echo", { message: "before" })
          yield* server.stop
          yield* Effect.sleep("3 seconds")
          yield* server.start
          yield* channel.await({ timeout: "5 seconds" })
          expect((yield* client.unary("Echo", { message: "after" })).message).toBe("after")
          // Strays of grpc-js's own backoff would connect now that the server is back.
          yield* Effect.sleep(quiet)
          expect(yield* server.connections).toBe(1)
        }))
        yield* TS.waitFor(server.connections, (n) => n === 0, {
          timeout: "5 seconds",
          description: "the server to see 0 connections"
        })
        yield* Effect.sleep(quiet)
        expect(yield* server.connections).toBe(0)
      }).pipe(Effect.scoped),
    30_000
  )

  it.scopedLive(
    "a connect that fails after grpc-js's own 1 s backoff: one connection, and grpc-js's reason",
    () =>
      Effect.gen(function*() {
        const certs = yield* TestCertificates.make()
        const server = yield* TS.TestServer.make({ tls: { key: certs.key, cert: certs.cert } })
        const proxy = yield* FaultProxy.make({ target: { port: server.port } })
        // The TLS handshake takes two round trips of 1.4 s: it fails (wrong CA) after 2.8 s.
        yield* proxy.latency("700 millis")
        const channel = yield* GrpcChannel.make({
          address: proxy.address,
          tls: { ca: certs.otherCa },
          policy: Reconnect.stop,
          connectTimeout: "10 seconds"
        })
        const closed = yield* Effect.flip(channel.await({ timeout: "20 seconds" }))
        expect(closed).toBeInstanceOf(Closed)
        const failure = (closed as Closed).error?.cause
        expect(failure).toBeInstanceOf(GrpcError.ChannelFailure)
        expect((failure as GrpcError.ChannelFailure).detail).toMatch(/certificate|self.signed|verify/i)
        yield* Effect.sleep(quiet)
        expect(yield* total(proxy)).toBe(1)
      }),
    30_000
  )

  it.live(
    "a half-open peer (TCP accepted, no HTTP/2): each attempt cut by connectTimeout closes its socket",
    () =>
      Effect.gen(function*() {
        const server = yield* TS.TestServer.make()
        const proxy = yield* FaultProxy.make({ target: { port: server.port } })
        yield* proxy.blackhole(true)
        yield* Effect.scoped(Effect.gen(function*() {
          const channel = yield* GrpcChannel.make({
            address: proxy.address,
            policy: Reconnect.fixed("100 millis"),
            connectTimeout: "300 millis",
            autoConnect: false
          })
          const count = yield* attempts(channel)
          yield* channel.connect
          yield* TS.waitFor(count, (n) => n >= 4, { timeout: "10 seconds", description: "4 attempts" })
          yield* TestTime.awaitStatus(channel, "Backoff")
          // Only the attempt running now, if any, may hold a socket.
          expect((yield* proxy.connections).total).toBeGreaterThanOrEqual(3)
          yield* TS.waitFor(Effect.map(proxy.connections, (c) => c.open), (n) => n <= 1, {
            timeout: "5 seconds",
            description: "the proxy to hold at most one connection"
          })
        }))
        yield* TS.waitFor(Effect.map(proxy.connections, (c) => c.open), (n) => n === 0, {
          timeout: "10 seconds",
          description: "the proxy to see 0 open connections"
        })
        yield* TS.waitFor(TS.clientConnections(proxy.port), (n) => n === 0, {
          timeout: "10 seconds",
          description: "no client socket left to the proxy"
        })
      }).pipe(Effect.scoped),
    40_000
  )
})
