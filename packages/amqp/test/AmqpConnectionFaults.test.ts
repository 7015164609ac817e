/**
 * The cached connection under faults, on the real broker (127.0.0.1:5672): fatal errors close it
 * at once, retryable ones reconnect; heartbeats find a half-open connection; the connect timeout
 * ends a peer that never answers; nothing outlives its attempt or its scope (counted on the
 * broker with rabbitmqctl and on the FaultProxy); memory stays flat over many attempts.
 */
import { describe, expect, it } from "@effect/vitest"
import { Reconnect, Timeout } from "@redial/core"
import { FaultProxy } from "@redial/testing"
import type { Scope } from "effect"
import { Deferred, Duration, Effect, Exit, Option, Stream } from "effect"
import * as net from "node:net"
import { AmqpConnection, AmqpError } from "../src/index.js"
import * as Rabbit from "./support/rabbit.js"
import { awaitStatus, eventually } from "./support/wait.js"

const urlOf = (proxy: FaultProxy.FaultProxy, path = "") => `amqp://guest:guest@${proxy.address}${path}`

const proxyToBroker = FaultProxy.make({ target: { port: Rabbit.port } })

const isTag = <T extends AmqpConnection.Status["_tag"]>(tag: T) => (status: AmqpConnection.Status) =>
  status._tag === tag

const totalOf = (proxy: FaultProxy.FaultProxy) => Effect.map(proxy.connections, (c) => c.total)
const openOf = (proxy: FaultProxy.FaultProxy) => Effect.map(proxy.connections, (c) => c.open)

/** The cause a Backoff or Closed status carries: the attempt's (or the drop's) error. */
const causeOf = (status: AmqpConnection.Status): unknown =>
  status._tag === "Backoff" ? status.error.cause : status._tag === "Closed" ? status.error?.cause : undefined

/** How many `Connecting` statuses come, from the first status on (for a connection made with autoConnect: false). */
const countAttempts = (amqp: AmqpConnection.AmqpConnection) =>
  Effect.gen(function*() {
    let attempts = 0
    const subscribed = yield* Deferred.make<void>()
    yield* Effect.forkScoped(Stream.runForEach(amqp.changes, (status) =>
      Effect.sync(() => {
        if (status._tag === "Connecting") attempts += 1
        Deferred.unsafeDone(subscribed, Exit.void)
      })))
    yield* Deferred.await(subscribed) // it has seen the first status (Idle): no attempt is missed
    return Effect.sync(() => attempts)
  })

/** A loopback port nothing listens on (it was free a moment ago). */
const freePort = Effect.async<number>((resume) => {
  const server = net.createServer()
  server.listen(0, "127.0.0.1", () => {
    const { port } = server.address() as net.AddressInfo
    server.close(() => resume(Effect.succeed(port)))
  })
})

/** A fatal connect: Closed with FatalError after exactly one attempt, the AmqpError (with `code`) inside. */
const expectFatal = (
  make: (proxy: FaultProxy.FaultProxy) => Effect.Effect<AmqpConnection.AmqpConnection, unknown, Scope.Scope>,
  replyCode: number,
  reason: AmqpError["reason"]
) =>
  Effect.gen(function*() {
    const proxy = yield* proxyToBroker
    const amqp = yield* make(proxy)
    const attempts = yield* countAttempts(amqp)
    yield* amqp.connect
    const [elapsed, closed] = yield* Effect.timed(awaitStatus(amqp, isTag("Closed"), "5 seconds"))
    expect(Duration.toMillis(elapsed)).toBeLessThan(3000) // at once, not after a retry loop
    expect(closed).toMatchObject({ _tag: "Closed", reason: "FatalError" })
    const error = causeOf(closed)
    expect(error).toBeInstanceOf(AmqpError)
    expect(error).toMatchObject({ replyCode, reason, fatal: true, scope: "Connection" })
    // and it stays closed: no second attempt later
    yield* Effect.sleep("500 millis")
    expect(yield* attempts).toBe(1)
    expect(yield* totalOf(proxy)).toBe(1)
    const failure = yield* Effect.flip(amqp.get)
    expect(failure).toMatchObject({ _tag: "Closed", reason: "FatalError" })
    expect(yield* Effect.flip(amqp.await())).toMatchObject({ _tag: "Closed", reason: "FatalError" })
    yield* eventually(openOf(proxy), (n) => n === 0, "2 seconds")
  })

describe("AmqpConnection faults: fatal errors close at once", () => {
  it.scopedLive("wrong password: Closed (FatalError) at once, after exactly one attempt, carrying the 403 AmqpError", () =>
    expectFatal(
      (proxy) =>
        AmqpConnection.make({
          url: `amqp://guest:not-the-password@${proxy.address}`,
          name: Rabbit.unique("fatal-403"),
          policy: Reconnect.fixed("50 millis"),
          autoConnect: false
        }),
      403,
      "AccessRefused"
    ))

  it.scopedLive("unknown virtual host: Closed (FatalError) at once, after exactly one attempt, carrying a 530 AmqpError", () =>
    expectFatal(
      (proxy) =>
        AmqpConnection.make({
          url: urlOf(proxy, `/${Rabbit.unique("no-such-vhost")}`),
          name: Rabbit.unique("fatal-530"),
          policy: Reconnect.fixed("50 millis"),
          autoConnect: false
        }),
      530,
      "NotAllowed"
    ))
})

describe("AmqpConnection faults: retryable errors reconnect", () => {
  it.scopedLive("the broker closes the connection (320 CONNECTION_FORCED): it reconnects by itself, on a new broker connection", () =>
    Effect.gen(function*() {
      const name = Rabbit.unique("forced-320")
      const amqp = yield* AmqpConnection.make({
        url: Rabbit.url,
        name,
        // every drop is then a failed attempt: its cause shows in the Backoff status
        minUptime: "1 hour",
        policy: Reconnect.fixed("100 millis")
      })
      const model = yield* amqp.await({ timeout: "5 seconds" })
      const backoff = yield* Effect.fork(awaitStatus(amqp, isTag("Backoff")))
      yield* Effect.yieldNow()
      expect(yield* Rabbit.closeConnection(name, "redial test")).toBe(1)
      const cause = causeOf(yield* backoff.await.pipe(Effect.flatten))
      expect(cause).toBeInstanceOf(AmqpError)
      expect(cause).toMatchObject({ reason: "ConnectionForced", replyCode: 320, fatal: false, retryable: true })
      expect(cause instanceof AmqpError && cause.replyText).toContain("redial test")

      const next = yield* amqp.connection.awaitNext(model).pipe(Effect.timeout("5 seconds"))
      expect(next).not.toBe(model)
      expect((yield* amqp.status)._tag).toBe("Connected")
      // the old one is gone from the broker (close_connection closed it), a new one is there
      yield* eventually(Rabbit.connectionsNamed(name), (pids) => pids.length === 1, "20 seconds", "200 millis")
    }))

  it.scopedLive("ECONNREFUSED: backoff and retry, until something listens", () =>
    Effect.gen(function*() {
      const port = yield* freePort
      const amqp = yield* AmqpConnection.make({
        url: `amqp://guest:guest@127.0.0.1:${port}`,
        name: Rabbit.unique("refused"),
        policy: Reconnect.fixed("100 millis")
      })
      const first = yield* awaitStatus(amqp, isTag("Backoff"))
      expect(causeOf(first)).toMatchObject({ _tag: "AmqpError", reason: "ConnectionRefused", retryable: true })
      yield* awaitStatus(amqp, (s) => s._tag === "Backoff" && s.attempt >= 3)
      // the broker (through a proxy) appears on that port
      yield* FaultProxy.make({ target: { port: Rabbit.port }, port })
      yield* amqp.await({ timeout: "5 seconds" })
    }))

  it.scopedLive("heartbeat: a black-holed live connection is lost within a few seconds, and comes back after restore", () =>
    Effect.gen(function*() {
      const proxy = yield* proxyToBroker
      const amqp = yield* AmqpConnection.make({
        url: urlOf(proxy),
        name: Rabbit.unique("heartbeat"),
        heartbeat: 1,
        connectTimeout: "1 second",
        minUptime: "1 hour",
        policy: Reconnect.fixed("100 millis")
      })
      const model = yield* amqp.await({ timeout: "5 seconds" })
      yield* proxy.blackhole(true)
      const [elapsed, lost] = yield* Effect.timed(awaitStatus(amqp, isTag("Backoff"), "8 seconds"))
      // amqplib's heartbeat (2 to 3 s at 1 s), or the broker's own, which closes its side first
      expect(Duration.toMillis(elapsed)).toBeLessThan(6000)
      expect(causeOf(lost)).toMatchObject({ _tag: "AmqpError" })
      expect(["HeartbeatTimeout", "UnexpectedClose", "Socket"]).toContain((causeOf(lost) as AmqpError).reason)

      yield* proxy.restore
      const next = yield* amqp.connection.awaitNext(model).pipe(Effect.timeout("5 seconds"))
      expect(next).not.toBe(model)
    }))
})

describe("AmqpConnection faults: connect timeout", () => {
  it.scopedLive("a peer that accepts and never answers ends in Timeout (operation connect) after connectTimeout, and its socket is closed", () =>
    Effect.gen(function*() {
      const proxy = yield* proxyToBroker
      yield* proxy.blackhole(true)
      const [elapsed, backoff] = yield* Effect.timed(Effect.gen(function*() {
        const amqp = yield* AmqpConnection.make({
          url: urlOf(proxy),
          name: Rabbit.unique("connect-timeout"),
          connectTimeout: "500 millis",
          policy: Reconnect.fixed("5 seconds")
        })
        return yield* awaitStatus(amqp, isTag("Backoff"), "5 seconds")
      }))
      const cause = causeOf(backoff)
      expect(cause).toBeInstanceOf(Timeout)
      expect(cause).toMatchObject({ operation: "connect" })
      expect(cause instanceof Timeout && Duration.toMillis(cause.duration)).toBe(500)
      expect(Duration.toMillis(elapsed)).toBeGreaterThanOrEqual(450)
      expect(Duration.toMillis(elapsed)).toBeLessThan(3000)
      // the black-holed socket does not outlive its attempt
      yield* eventually(openOf(proxy), (n) => n === 0, "1 second")
      expect(yield* totalOf(proxy)).toBe(1)
    }))

  it.scopedLive("an attempt cut short by the end of the scope leaves no socket open", () =>
    Effect.gen(function*() {
      const proxy = yield* proxyToBroker
      yield* proxy.blackhole(true)
      yield* Effect.scoped(Effect.gen(function*() {
        yield* AmqpConnection.make({
          url: urlOf(proxy),
          name: Rabbit.unique("timeout-scope"),
          connectTimeout: "20 seconds"
        })
        yield* eventually(openOf(proxy), (n) => n === 1, "2 seconds")
      }))
      yield* eventually(openOf(proxy), (n) => n === 0, "1 second")
    }))

  it.scopedLive("a connection slower than connectTimeout (latency) is given up and closed, not leaked", () =>
    Effect.gen(function*() {
      const name = Rabbit.unique("latency")
      const proxy = yield* proxyToBroker
      // each of the handshake's round trips takes 600 ms: it cannot finish within 1 s
      yield* proxy.latency("300 millis")
      const amqp = yield* AmqpConnection.make({
        url: urlOf(proxy),
        name,
        connectTimeout: "1 second",
        policy: Reconnect.fixed("1500 millis")
      })
      const backoff = yield* awaitStatus(amqp, isTag("Backoff"), "5 seconds")
      expect(causeOf(backoff)).toBeInstanceOf(Timeout)
      // Given up at once, not left to finish its handshake (which would take 1 s more); the proxy
      // sees the close 300 ms late, as every byte.
      yield* eventually(openOf(proxy), (n) => n === 0, "900 millis")
      yield* proxy.latency(0)
      yield* amqp.await({ timeout: "5 seconds" })
      // A late handshake of attempt 1 would have reached the broker by now: only the live
      // connection is there.
      yield* Effect.sleep("1 second")
      expect(yield* Rabbit.connectionsNamed(name)).toHaveLength(1)
      expect(yield* openOf(proxy)).toBe(1)
    }))
})

describe("AmqpConnection faults: nothing outlives the scope", () => {
  it.scopedLive("closing a connection whose broker went silent (black hole) takes closeTimeout, not for ever", () =>
    Effect.gen(function*() {
      const proxy = yield* proxyToBroker
      const [elapsed] = yield* Effect.timed(Effect.scoped(Effect.gen(function*() {
        const amqp = yield* AmqpConnection.make({
          url: urlOf(proxy),
          name: Rabbit.unique("close-silent"),
          closeTimeout: "500 millis"
        })
        yield* amqp.await({ timeout: "5 seconds" })
        // amqplib's close() now waits for a CloseOk that never comes
        yield* proxy.blackhole(true)
      }))).pipe(Effect.timeout("5 seconds"))
      expect(Duration.toMillis(elapsed)).toBeLessThan(2500)
      yield* eventually(openOf(proxy), (n) => n === 0, "1 second")
    }))

  it.live("after the scope ends: no connection on the broker, none through the proxy — also after an outage", () =>
    Effect.gen(function*() {
      const name = Rabbit.unique("leaks")
      yield* Effect.scoped(Effect.gen(function*() {
        const proxy = yield* proxyToBroker
        yield* Effect.scoped(Effect.gen(function*() {
          const amqp = yield* AmqpConnection.make({
            url: urlOf(proxy),
            name,
            connectTimeout: "1 second",
            policy: Reconnect.fixed("100 millis")
          })
          yield* amqp.await({ timeout: "5 seconds" })
          // an outage: the path is cut and refused for a few attempts, then restored
          yield* proxy.refuse(true)
          yield* proxy.cut
          yield* awaitStatus(amqp, (s) => s._tag === "Backoff" && s.attempt >= 3)
          yield* proxy.restore
          yield* amqp.await({ timeout: "5 seconds" })
          expect(
            yield* eventually(Rabbit.connectionsNamed(name), (pids) => pids.length === 1, "20 seconds", "200 millis")
          )
            .toHaveLength(1)
          expect(yield* openOf(proxy)).toBe(1)
        }))
        yield* eventually(openOf(proxy), (n) => n === 0, "2 seconds")
      }))
      yield* eventually(Rabbit.connectionsNamed(name), (pids) => pids.length === 0, "20 seconds", "200 millis")
    }))
})

describe("AmqpConnection: blocked", () => {
  // amqplib emits `blocked` / `unblocked` on the ChannelModel when the broker sends
  // connection.blocked / connection.unblocked; the test emits them itself. Setting the broker's
  // memory alarm (rabbitmqctl set_vm_memory_high_watermark) would block every other test's
  // publishers on the shared broker, so it is left out.
  it.scopedLive("amqplib's blocked shows as status Blocked with the broker's reason; unblocked as Connected", () =>
    Effect.gen(function*() {
      const amqp = yield* AmqpConnection.make({ url: Rabbit.url, name: Rabbit.unique("blocked") })
      const model = yield* amqp.await({ timeout: "5 seconds" })
      expect(yield* amqp.blocked).toEqual(Option.none())

      const blocked = yield* Effect.fork(awaitStatus(amqp, isTag("Blocked")))
      yield* Effect.yieldNow()
      model.emit("blocked", "low on memory")
      expect(yield* blocked.await.pipe(Effect.flatten)).toMatchObject({
        _tag: "Blocked",
        attempt: 1,
        reason: "low on memory"
      })
      expect(yield* amqp.status).toMatchObject({ _tag: "Blocked", reason: "low on memory" })
      expect(yield* amqp.blocked).toEqual(Option.some("low on memory"))
      expect(yield* amqp.get).toBe(model) // still connected: usable, only paused by the broker

      const unblocked = yield* Effect.fork(awaitStatus(amqp, isTag("Connected")))
      yield* Effect.yieldNow()
      model.emit("unblocked")
      expect(yield* unblocked.await.pipe(Effect.flatten)).toMatchObject({ _tag: "Connected", attempt: 1 })
      expect(yield* amqp.blocked).toEqual(Option.none())
    }))

  it.scopedLive("a connection lost while blocked comes back unblocked", () =>
    Effect.gen(function*() {
      const proxy = yield* proxyToBroker
      const amqp = yield* AmqpConnection.make({
        url: urlOf(proxy),
        name: Rabbit.unique("blocked-lost"),
        minUptime: 0
      })
      const model = yield* amqp.await({ timeout: "5 seconds" })
      model.emit("blocked", "low on disk")
      yield* awaitStatus(amqp, isTag("Blocked"))
      yield* proxy.cut
      yield* amqp.connection.awaitNext(model).pipe(Effect.timeout("5 seconds"))
      yield* awaitStatus(amqp, isTag("Connected"), "2 seconds")
      expect(yield* amqp.blocked).toEqual(Option.none())
    }))
})
