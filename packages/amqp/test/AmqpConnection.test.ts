/**
 * Retort's semantics on the real broker: `get` against `await`, waiters that leave nothing
 * behind, the run-time settings (`settings` / `update`) and failover over several URLs. Faults
 * come from FaultProxy instances between the client and the broker (127.0.0.1:5672).
 */
import { describe, expect, it } from "@effect/vitest"
import { InvalidOption, NotConnected, Reconnect, Timeout } from "@redial/core"
import { FaultProxy } from "@redial/testing"
import { Deferred, Duration, Effect, Exit, Fiber, Option, Stream, SubscriptionRef } from "effect"
import { AmqpConnection } from "../src/index.js"
import * as Rabbit from "./support/rabbit.js"
import { awaitStatus, eventually, exposeGc } from "./support/wait.js"

const urlOf = (proxy: FaultProxy.FaultProxy) => `amqp://guest:guest@${proxy.address}`

const proxyToBroker = FaultProxy.make({ target: { port: Rabbit.port } })

/** Every status from now on, as it comes; `until` waits (on an event) for the list to satisfy `predicate`. */
const record = (amqp: AmqpConnection.AmqpConnection) =>
  Effect.gen(function*() {
    const ref = yield* SubscriptionRef.make<ReadonlyArray<AmqpConnection.Status>>([])
    yield* Effect.forkScoped(
      Stream.runForEach(amqp.changes, (status) => SubscriptionRef.update(ref, (seen) => [...seen, status]))
    )
    const until = (
      predicate: (seen: ReadonlyArray<AmqpConnection.Status>) => boolean,
      timeout: Duration.DurationInput = "10 seconds"
    ) =>
      ref.changes.pipe(
        Stream.filter(predicate),
        Stream.runHead,
        Effect.map(Option.getOrThrow),
        Effect.timeoutFail({ duration: timeout, onTimeout: () => new Error("the statuses did not come in time") }),
        Effect.orDie
      )
    yield* until((seen) => seen.length > 0)
    return { until, tags: Effect.map(SubscriptionRef.get(ref), (seen) => seen.map((s) => s._tag)) }
  })

const totalOf = (proxy: FaultProxy.FaultProxy) => Effect.map(proxy.connections, (c) => c.total)
const openOf = (proxy: FaultProxy.FaultProxy) => Effect.map(proxy.connections, (c) => c.open)

const isTag = <T extends AmqpConnection.Status["_tag"]>(tag: T) => (status: AmqpConnection.Status) =>
  status._tag === tag

describe("AmqpConnection: Retort's get and await", () => {
  it.scopedLive("get fails with NotConnected at once while connecting, and returns the same ChannelModel while connected", () =>
    Effect.gen(function*() {
      const proxy = yield* proxyToBroker
      // an attempt that hangs: a peer that accepts and never answers
      yield* proxy.blackhole(true)
      const amqp = yield* AmqpConnection.make({
        url: urlOf(proxy),
        name: Rabbit.unique("retort-get"),
        connectTimeout: "20 seconds",
        policy: Reconnect.fixed("50 millis")
      })
      yield* eventually(openOf(proxy), (n) => n === 1, "5 seconds")
      // at once: no wait for the attempt running now (it would take 20 s)
      const down = yield* amqp.get.pipe(Effect.flip, Effect.timeout("1 second"))
      expect(down).toBeInstanceOf(NotConnected)
      expect(down._tag === "NotConnected" && down.status).toMatchObject({ _tag: "Connecting", attempt: 1 })
      expect(yield* Effect.flip(amqp.get)).toBeInstanceOf(NotConnected)

      // the hung attempt's socket is reset: the next attempt goes through
      yield* proxy.restore
      yield* proxy.cut
      const model = yield* amqp.await({ timeout: "5 seconds" })
      const first = yield* amqp.get
      const second = yield* amqp.get
      expect(first).toBe(model)
      expect(second).toBe(model)
      expect(yield* amqp.connection.get).toBe(model)
      expect(yield* amqp.await()).toBe(model)
      expect((yield* proxy.connections).open).toBe(1)
    }))

  it.scopedLive("await() has no timeout of its own: it waits through many failed attempts; await({ timeout }) fails with Timeout", () =>
    Effect.gen(function*() {
      const proxy = yield* proxyToBroker
      yield* proxy.refuse(true)
      const amqp = yield* AmqpConnection.make({
        url: urlOf(proxy),
        name: Rabbit.unique("retort-await"),
        connectTimeout: "200 millis",
        policy: Reconnect.fixed("50 millis")
      })
      const waiter = yield* Effect.fork(amqp.await())
      const timedOut = yield* Effect.flip(amqp.await({ timeout: "300 millis" }))
      expect(timedOut).toBeInstanceOf(Timeout)
      expect(timedOut._tag === "Timeout" && timedOut.operation).toBe("await")
      expect(timedOut._tag === "Timeout" && Duration.toMillis(timedOut.duration)).toBe(300)
      // many connect timeouts (and twice Retort's 2 × connection_timeout) later, still waiting
      yield* Effect.sleep("1500 millis")
      expect(yield* totalOf(proxy)).toBeGreaterThan(5)
      expect(Option.isNone(yield* Fiber.poll(waiter))).toBe(true)

      yield* proxy.restore
      const model = yield* Fiber.join(waiter).pipe(Effect.timeout("5 seconds"))
      expect(yield* amqp.get).toBe(model)
    }))

  it.scopedLive(
    "interrupted waiters leave nothing behind: 12,000 interrupted awaits keep the heap flat, and the connection still connects",
    () =>
      Effect.gen(function*() {
        const gc = exposeGc()
        const proxy = yield* proxyToBroker
        yield* proxy.refuse(true)
        const amqp = yield* AmqpConnection.make({
          url: urlOf(proxy),
          name: Rabbit.unique("retort-waiters"),
          policy: Reconnect.fixed("200 millis")
        })
        const round = Effect.gen(function*() {
          // (forked one by one: interrupting the one composite fiber of forkAll is ten times slower)
          const fibers = yield* Effect.forEach(
            Array.from({ length: 1000 }, (_, i) => i % 2 === 0 ? amqp.await() : amqp.await({ timeout: "1 hour" })),
            Effect.fork
          )
          yield* Effect.repeatN(Effect.yieldNow(), 2)
          yield* Fiber.interruptAll(fibers)
        })
        yield* Effect.repeatN(round, 2) // warm up
        gc()
        const before = process.memoryUsage().heapUsed
        yield* Effect.repeatN(round, 11) // 12 × 1000 interrupted waits
        gc()
        const growth = process.memoryUsage().heapUsed - before
        // A waiter kept after its interruption holds its fiber (2.5 KB): 12,000 would be ~30 MB.
        expect(growth).toBeLessThan(6 * 1024 * 1024)

        yield* proxy.restore
        const model = yield* amqp.await({ timeout: "5 seconds" })
        expect(yield* amqp.get).toBe(model)
      }),
    30_000
  )

  it.scopedLive("changes ends when the connection's scope closes", () =>
    Effect.gen(function*() {
      const seen: Array<string> = []
      const subscribed = yield* Deferred.make<void>()
      const collector = yield* Effect.scoped(Effect.gen(function*() {
        const amqp = yield* AmqpConnection.make({ url: Rabbit.url, name: Rabbit.unique("retort-changes") })
        yield* amqp.await({ timeout: "5 seconds" })
        const fiber = yield* Effect.fork(Stream.runForEach(amqp.changes, (status) =>
          Effect.sync(() => {
            seen.push(status._tag)
            Deferred.unsafeDone(subscribed, Exit.void)
          })))
        yield* Deferred.await(subscribed)
        return fiber
      }))
      // the stream ends by itself once the scope has closed
      yield* Fiber.join(collector).pipe(Effect.timeout("3 seconds"))
      expect(seen).toEqual(["Connected", "Closed"])
    }))
})

describe("AmqpConnection: run-time settings", () => {
  it.scopedLive("settings reads the URLs, connect timeout and policy given", () =>
    Effect.gen(function*() {
      const policy = Reconnect.fixed("1 second")
      const amqp = yield* AmqpConnection.make({
        urls: ["amqp://guest:guest@127.0.0.1:1/a", "amqp://guest:guest@127.0.0.1:2/b"],
        connectTimeout: "3 seconds",
        policy,
        autoConnect: false
      })
      const settings = yield* amqp.settings
      expect(settings.urls.map((u) => [u.port, u.vhost])).toEqual([[1, "a"], [2, "b"]])
      expect(Duration.toMillis(settings.connectTimeout)).toBe(3000)
      expect(settings.policy).toBe(policy)
    }))

  it.scopedLive("a URL changed while the connection fails applies to the next attempt", () =>
    Effect.gen(function*() {
      const refusing = yield* proxyToBroker
      const working = yield* proxyToBroker
      yield* refusing.refuse(true)
      const amqp = yield* AmqpConnection.make({
        url: urlOf(refusing),
        name: Rabbit.unique("settings-url"),
        policy: Reconnect.fixed("300 millis")
      })
      yield* awaitStatus(amqp, isTag("Backoff"))
      yield* amqp.update({ url: urlOf(working) })
      expect((yield* amqp.settings).urls.map((u) => u.port)).toEqual([working.port])
      yield* amqp.await({ timeout: "5 seconds" })
      expect(yield* totalOf(working)).toBe(1)
      expect((yield* working.connections).open).toBe(1)
    }))

  it.scopedLive("a URL changed while connected keeps the live connection; the new URL is used once it is lost", () =>
    Effect.gen(function*() {
      const first = yield* proxyToBroker
      const second = yield* proxyToBroker
      const amqp = yield* AmqpConnection.make({
        url: urlOf(first),
        name: Rabbit.unique("settings-url-live"),
        policy: Reconnect.fixed("100 millis")
      })
      const model = yield* amqp.await({ timeout: "5 seconds" })
      yield* amqp.update({ url: urlOf(second) })
      yield* Effect.sleep("300 millis")
      expect(yield* amqp.get).toBe(model)
      expect((yield* first.connections).open).toBe(1)
      expect(yield* totalOf(second)).toBe(0)

      yield* first.cut
      const next = yield* amqp.connection.awaitNext(model).pipe(Effect.timeout("5 seconds"))
      expect(next).not.toBe(model)
      expect(yield* totalOf(second)).toBe(1)
      expect(yield* totalOf(first)).toBe(1)
    }))

  it.scopedLive("a changed connectTimeout applies from the next attempt; the live connection is kept", () =>
    Effect.gen(function*() {
      const proxy = yield* proxyToBroker
      const amqp = yield* AmqpConnection.make({
        url: urlOf(proxy),
        name: Rabbit.unique("settings-timeout"),
        connectTimeout: "20 seconds",
        minUptime: 0,
        policy: Reconnect.fixed("100 millis")
      })
      const model = yield* amqp.await({ timeout: "5 seconds" })
      yield* amqp.update({ connectTimeout: "300 millis" })
      expect(Duration.toMillis((yield* amqp.settings).connectTimeout)).toBe(300)
      yield* Effect.sleep("200 millis")
      expect(yield* amqp.get).toBe(model)

      // The next attempt meets a peer that accepts and never answers: it ends after 300 ms, not 20 s.
      yield* proxy.blackhole(true)
      yield* proxy.cut
      const [elapsed, backoff] = yield* Effect.timed(awaitStatus(amqp, isTag("Backoff"), "5 seconds"))
      const cause = backoff._tag === "Backoff" ? backoff.error.cause : undefined
      expect(cause).toBeInstanceOf(Timeout)
      expect(cause instanceof Timeout && cause.operation).toBe("connect")
      expect(cause instanceof Timeout && Duration.toMillis(cause.duration)).toBe(300)
      expect(Duration.toMillis(elapsed)).toBeLessThan(3000)
    }))

  it.scopedLive("a changed policy applies from the next failure: the delay running now is kept", () =>
    Effect.gen(function*() {
      const proxy = yield* proxyToBroker
      yield* proxy.refuse(true)
      const amqp = yield* AmqpConnection.make({
        url: urlOf(proxy),
        name: Rabbit.unique("settings-policy"),
        policy: Reconnect.fixed("1500 millis")
      })
      const slow = yield* awaitStatus(amqp, isTag("Backoff"))
      expect(slow._tag === "Backoff" && Duration.toMillis(slow.delay)).toBe(1500)
      const fast = Reconnect.fixed("50 millis")
      yield* amqp.update({ policy: fast })
      expect((yield* amqp.settings).policy).toBe(fast)
      // not before: the 1.5 s backoff already running is not cut short
      yield* Effect.sleep("800 millis")
      expect(yield* totalOf(proxy)).toBe(1)
      const next = yield* awaitStatus(amqp, (s) => s._tag === "Backoff" && s.attempt === 2, "5 seconds")
      expect(next._tag === "Backoff" && Duration.toMillis(next.delay)).toBe(50)
      yield* eventually(totalOf(proxy), (n) => n >= 6, "3 seconds")
    }))

  it.scopedLive("update with a bad URL or timeout fails with InvalidOption naming it, and changes nothing", () =>
    Effect.gen(function*() {
      const amqp = yield* AmqpConnection.make({
        url: Rabbit.url,
        name: Rabbit.unique("settings-invalid"),
        autoConnect: false
      })
      const before = yield* amqp.settings
      const cases: Array<[AmqpConnection.SettingsUpdate, string]> = [
        [{ url: "http://guest:guest@127.0.0.1:5672" }, "url"],
        [{ url: "amqp://127.0.0.1:99999" }, "url"],
        [{ urls: [Rabbit.url, "amqp://[::1"] }, "urls[1]"],
        [{ urls: [] }, "urls"],
        [{ url: Rabbit.url, urls: [Rabbit.url] }, "urls"],
        [{ connectTimeout: 0 }, "connectTimeout"],
        [{ connectTimeout: "soon" as never }, "connectTimeout"]
      ]
      for (const [patch, option] of cases) {
        const error = yield* Effect.flip(amqp.update(patch))
        expect(error).toBeInstanceOf(InvalidOption)
        expect(error.option).toBe(option)
        expect(error.message).toContain(option)
      }
      expect(yield* amqp.settings).toEqual(before)
    }))
})

describe("AmqpConnection: failover over several URLs", () => {
  it.scopedLive("urls [refused, working]: connected on the first attempt, through the second; after a loss it starts with the one that last worked", () =>
    Effect.gen(function*() {
      const refusing = yield* proxyToBroker
      const working = yield* proxyToBroker
      yield* refusing.refuse(true)
      const amqp = yield* AmqpConnection.make({
        urls: [urlOf(refusing), urlOf(working)],
        name: Rabbit.unique("failover"),
        minUptime: 0,
        policy: Reconnect.fixed("2 seconds"),
        autoConnect: false
      })
      const seen = yield* record(amqp)
      yield* amqp.connect
      const model = yield* amqp.await({ timeout: "5 seconds" })
      const statuses = yield* seen.until((all) => all.some(isTag("Connected")))
      expect(statuses.map((s) => s._tag)).toEqual(["Idle", "Connecting", "Connected"])
      expect(statuses[2]).toMatchObject({ _tag: "Connected", attempt: 1 })
      expect(yield* totalOf(refusing)).toBe(1)
      expect(yield* totalOf(working)).toBe(1)

      // The one that last worked is tried first: the refusing one sees no new attempt.
      yield* working.cut
      const next = yield* amqp.connection.awaitNext(model).pipe(Effect.timeout("5 seconds"))
      expect(next).not.toBe(model)
      expect(yield* totalOf(working)).toBe(2)
      expect(yield* totalOf(refusing)).toBe(1)
    }))

  it.scopedLive("Backoff comes only after the whole round failed, with the policy's delay", () =>
    Effect.gen(function*() {
      const a = yield* proxyToBroker
      const b = yield* proxyToBroker
      yield* a.refuse(true)
      yield* b.refuse(true)
      const amqp = yield* AmqpConnection.make({
        urls: [urlOf(a), urlOf(b)],
        name: Rabbit.unique("failover-round"),
        policy: Reconnect.fixed("1 second"),
        autoConnect: false
      })
      const seen = yield* record(amqp)
      yield* amqp.connect
      const backoff = yield* awaitStatus(amqp, isTag("Backoff"))
      expect(backoff).toMatchObject({ _tag: "Backoff", attempt: 1 })
      expect(backoff._tag === "Backoff" && Duration.toMillis(backoff.delay)).toBe(1000)
      expect(yield* totalOf(a)).toBe(1)
      expect(yield* totalOf(b)).toBe(1)
      expect(yield* seen.tags).toEqual(["Idle", "Connecting", "Backoff"])

      // The next round starts after the delay, from the first URL again, and goes through both.
      yield* awaitStatus(amqp, (s) => s._tag === "Backoff" && s.attempt === 2, "5 seconds")
      expect(yield* totalOf(a)).toBe(2)
      expect(yield* totalOf(b)).toBe(2)
      yield* b.restore
      yield* amqp.await({ timeout: "5 seconds" })
      expect((yield* b.connections).open).toBe(1)
    }))
})

describe("AmqpConnection: options", () => {
  it.scopedLive("make fails with InvalidOption for a bad URL, naming it", () =>
    Effect.gen(function*() {
      const bad = yield* Effect.flip(AmqpConnection.make({ url: "amqp://h:0x" }))
      expect(bad).toBeInstanceOf(InvalidOption)
      expect(bad._tag === "InvalidOption" && bad.option).toBe("url")
      const second = yield* Effect.flip(AmqpConnection.make({ urls: [Rabbit.url, "nope://x"] }))
      expect(second._tag === "InvalidOption" && second.option).toBe("urls[1]")
      const none = yield* Effect.flip(AmqpConnection.make({}))
      expect(none._tag === "InvalidOption" && none.option).toBe("url")
      expect(Exit.isSuccess(yield* Effect.exit(AmqpConnection.make({ url: Rabbit.url, autoConnect: false })))).toBe(
        true
      )
    }))
})

describe("AmqpConnection: memory", () => {
  it.scopedLive(
    "memory per connect attempt: 800 failed attempts grow the heap by less than 1 MB",
    () =>
      Effect.gen(function*() {
        const gc = exposeGc()
        const proxy = yield* proxyToBroker
        yield* proxy.refuse(true)
        yield* AmqpConnection.make({
          url: urlOf(proxy),
          name: Rabbit.unique("attempt-memory"),
          policy: Reconnect.fixed("1 millis")
        })
        const attempts = (n: number) =>
          Effect.flatMap(
            totalOf(proxy),
            (start) => eventually(totalOf(proxy), (total) => total >= start + n, "30 seconds")
          )
        yield* attempts(400) // warm up (JIT, pools, first-use caches)
        gc()
        gc()
        const before = process.memoryUsage().heapUsed
        yield* attempts(800)
        gc()
        gc()
        const growth = process.memoryUsage().heapUsed - before
        expect(growth).toBeLessThan(1024 * 1024) // 1.3 KB per attempt
      }),
    40_000
  )
})

describe("AmqpConnection: socket writes", () => {
  it.scopedLive("the frames of many concurrent publishes reach the socket in batched writes (writev), not one write per frame", () =>
    Effect.gen(function*() {
      const queue = Rabbit.unique("batched-writes")
      const amqp = yield* AmqpConnection.make({ url: Rabbit.url, name: Rabbit.unique("batched") })
      const model = yield* amqp.await({ timeout: "5 seconds" })
      const channel = yield* amqp.confirmChannel({ setup: (ch) => ch.assertQueue(queue, { autoDelete: true }) })
      yield* channel.await({ timeout: "5 seconds" })
      const socket = (model.connection as unknown as {
        stream: { _write: (...args: Array<unknown>) => void; _writev: (...args: Array<unknown>) => void }
      }).stream
      const counts = { write: 0, writev: 0 }
      const write = socket._write
      const writev = socket._writev
      socket._write = function(this: unknown, ...args: Array<unknown>) {
        counts.write += 1
        return write.apply(this, args)
      }
      socket._writev = function(this: unknown, ...args: Array<unknown>) {
        counts.writev += 1
        return writev.apply(this, args)
      }
      yield* Effect.forEach(
        Array.from({ length: 200 }, (_, i) => i),
        (i) => channel.sendToQueue(queue, `message ${i}`),
        { concurrency: 64, discard: true }
      )
      socket._write = write
      socket._writev = writev
      // 200 publishes are 600 frames (method, header, body): one write each without batching.
      expect(counts.writev).toBeGreaterThan(0)
      expect(counts.write + counts.writev).toBeLessThan(300)
      yield* channel.call((ch) => ch.deleteQueue(queue))
    }))
})
