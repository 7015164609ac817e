import { describe, expect, it } from "@effect/vitest"
import { Closed, InvalidOption, Reconnect, Timeout } from "@redial/core"
import { FaultProxy, TestTime } from "@redial/testing"
import type * as amqplib from "amqplib"
import { Duration, Effect, Exit, Fiber, Logger, Metric, Option, Scope, TestClock } from "effect"
import { AmqpError, BufferFull, Nacked } from "../src/AmqpError.js"
import type { AmqpChannel } from "../src/index.js"
import { AmqpConnection } from "../src/index.js"
import * as publisher from "../src/internal/publisher.js"
import * as Fake from "./support/publisherFake.js"
import * as Rabbit from "./support/rabbit.js"
import { awaitStatus, eventually, exposeGc, heapAfterGc } from "./support/wait.js"

const { settle } = TestTime

const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/

/** Forks `effect` and lets it run until it waits. */
const start = <A, E>(effect: Effect.Effect<A, E>) => Effect.tap(Effect.fork(effect), () => settle())

const isDone = <A, E>(fiber: Fiber.RuntimeFiber<A, E>) => Effect.map(Fiber.poll(fiber), Option.isSome)

/** The error a fiber failed with. */
const failure = <A, E>(fiber: Fiber.RuntimeFiber<A, E>) => Effect.flip(Fiber.join(fiber))

/** Log lines at warning level, captured. */
const captureWarnings = Effect.sync(() => {
  const lines: Array<string> = []
  const logger = Logger.make(({ logLevel, message }) => {
    if (logLevel._tag === "Warning") lines.push(Array.isArray(message) ? message.join(" ") : String(message))
  })
  return { lines, layer: Logger.replace(Logger.defaultLogger, logger) }
})

describe("publisher on a scripted channel (TestClock)", () => {
  it.scoped("publish completes when the broker confirms the message, not before", () =>
    Effect.gen(function*() {
      const { fake, pub } = yield* Fake.publisherOn()
      const fiber = yield* start(pub.publish("ex", "a", "hello"))
      const channel = fake.current()
      expect(channel.keys).toEqual(["a"])
      expect(channel.sent[0]!.content.toString()).toBe("hello")
      expect(yield* isDone(fiber)).toBe(false)
      expect(yield* pub.pending).toEqual({ buffered: 0, inFlight: 1, bytes: 5 })
      channel.ack()
      yield* Fiber.join(fiber)
      expect(yield* pub.pending).toEqual({ buffered: 0, inFlight: 0, bytes: 0 })
    }))

  it.scoped("every message carries a messageId: a random UUID unless the caller gave one", () =>
    Effect.gen(function*() {
      const { fake, pub } = yield* Fake.publisherOn()
      yield* start(pub.publish("ex", "a", "x"))
      yield* start(pub.publish("ex", "b", "x"))
      yield* start(pub.sendToQueue("q", "x", { messageId: "mine", persistent: true }))
      const [a, b, mine] = fake.current().sent
      expect(a!.options.messageId).toMatch(uuid)
      expect(b!.options.messageId).toMatch(uuid)
      expect(a!.options.messageId).not.toBe(b!.options.messageId)
      expect(mine!.exchange).toBe("")
      expect(mine!.routingKey).toBe("q")
      expect(mine!.options).toEqual({ messageId: "mine", persistent: true })
      fake.current().ack()
    }))

  it.scoped("a nack fails that publish with Nacked (channel, exchange, routing key, messageId); the others complete", () =>
    Effect.gen(function*() {
      const { fake, pub } = yield* Fake.publisherOn()
      const refused = yield* start(pub.publish("ex", "refused", "x", { messageId: "m1" }))
      const fine = yield* start(pub.publish("ex", "fine", "x"))
      fake.current().nack("refused")
      fake.current().ack()
      const error = yield* failure(refused)
      expect(error).toBeInstanceOf(Nacked)
      expect(error).toMatchObject({ channel: "fake", exchange: "ex", routingKey: "refused", messageId: "m1" })
      yield* Fiber.join(fine)
    }))

  it.scoped("no confirm within confirmTimeout: Timeout (confirm, from the send), the channel is dropped and the other in-flight message is sent again on the next one", () =>
    Effect.gen(function*() {
      const { fake, pub } = yield* Fake.publisherOn({ confirmTimeout: "10 seconds" })
      const first = yield* start(pub.publish("ex", "first", "x"))
      yield* TestClock.adjust("5 seconds")
      const second = yield* start(pub.publish("ex", "second", "x"))
      const channel1 = fake.current()
      yield* TestClock.adjust("4999 millis")
      expect(yield* isDone(first)).toBe(false)
      yield* TestClock.adjust("1 millis")
      yield* settle()
      const error = yield* failure(first)
      expect(error).toBeInstanceOf(Timeout)
      expect(error).toMatchObject({ operation: "confirm", kind: "Channel", connection: "fake" })
      expect((error as Timeout).detail).toContain(`exchange "ex", routing key "first"`)
      expect((error as Timeout).message).toContain("may still have been delivered")
      // The channel was invalidated: a new one carries the message still unconfirmed.
      expect(channel1.closed).toBe(true)
      expect(fake.channels).toHaveLength(2)
      expect(fake.current().keys).toEqual(["second"])
      expect(yield* isDone(second)).toBe(false)
      fake.current().ack()
      yield* Fiber.join(second)
    }))

  it.scoped("the confirm timeout runs from the send: time spent in the buffer while the channel is down does not count", () =>
    Effect.gen(function*() {
      const { fake, pub } = yield* Fake.publisherOn({ confirmTimeout: "10 seconds" }, { reachable: false })
      const fiber = yield* start(pub.publish("ex", "a", "x"))
      yield* TestClock.adjust("1 minute")
      expect(yield* pub.pending).toEqual({ buffered: 1, inFlight: 0, bytes: 1 })
      yield* fake.reachable(true)
      yield* settle()
      yield* TestClock.adjust("9 seconds")
      expect(yield* isDone(fiber)).toBe(false)
      fake.current().ack()
      yield* Fiber.join(fiber)
    }))

  it.scoped("messages in flight when the channel dies are sent again on the next channel, in order, ahead of every later message; a warning says how many", () =>
    Effect.gen(function*() {
      const warnings = yield* captureWarnings
      const { fake, pub } = yield* Fake.publisherOn().pipe(Effect.provide(warnings.layer))
      const early = yield* Effect.forEach(["1", "2", "3"], (key) => start(pub.publish("ex", key, "x")))
      const channel1 = fake.current()
      channel1.ack(1) // "1" confirmed; "2" and "3" in flight
      yield* fake.reachable(false)
      channel1.kill()
      yield* settle()
      const late = yield* Effect.forEach(["4", "5"], (key) => start(pub.publish("ex", key, "x")))
      expect(yield* pub.pending).toEqual({ buffered: 4, inFlight: 0, bytes: 4 })
      yield* fake.reachable(true)
      yield* settle()
      const channel2 = fake.current()
      expect(channel2).not.toBe(channel1)
      expect(channel2.keys).toEqual(["2", "3", "4", "5"])
      // The same messageIds: consumers can drop the duplicates.
      expect(channel2.sent[0]!.options.messageId).toBe(channel1.sent[1]!.options.messageId)
      channel2.ack()
      yield* Effect.forEach([...early, ...late], Fiber.join)
      expect(warnings.lines.some((line) => line.includes("died with 2 unconfirmed messages"))).toBe(true)
    }))

  it.scoped("a publish that throws because the channel closed under it (IllegalOperationError) goes back to the buffer and is sent on the next channel", () =>
    Effect.gen(function*() {
      const { fake, pub } = yield* Fake.publisherOn()
      yield* settle()
      const channel1 = fake.current()
      channel1.throwing = Object.assign(new Error("Channel closed"), { name: "IllegalOperationError" })
      const fiber = yield* start(pub.publish("ex", "a", "x"))
      expect(channel1.sent).toHaveLength(0)
      expect(yield* pub.pending).toMatchObject({ buffered: 1, inFlight: 0 })
      channel1.throwing = undefined
      channel1.kill()
      yield* settle()
      expect(fake.current().keys).toEqual(["a"])
      fake.current().ack()
      yield* Fiber.join(fiber)
    }))

  it.scoped("a publish amqplib refuses to encode fails with AmqpError, and the channel stays in use", () =>
    Effect.gen(function*() {
      const { fake, pub } = yield* Fake.publisherOn()
      yield* settle()
      const channel1 = fake.current()
      channel1.throwing = new TypeError("Expected an integer for field priority")
      const bad = yield* start(pub.publish("ex", "bad", "x"))
      channel1.throwing = undefined
      expect(yield* failure(bad)).toBeInstanceOf(AmqpError)
      const good = yield* start(pub.publish("ex", "good", "x"))
      expect(fake.channels).toHaveLength(1)
      channel1.ack()
      yield* Fiber.join(good)
    }))

  it.scoped("when publish returns false the sender waits for drain before sending more", () =>
    Effect.gen(function*() {
      const { fake, pub } = yield* Fake.publisherOn()
      yield* settle()
      const channel = fake.current()
      channel.full = true
      const fibers = yield* Effect.forEach(["a", "b", "c"], (key) => start(pub.publish("ex", key, "x")))
      expect(channel.keys).toEqual(["a"])
      expect(yield* pub.pending).toMatchObject({ buffered: 2, inFlight: 1 })
      channel.drain()
      yield* settle()
      expect(channel.keys).toEqual(["a", "b", "c"])
      channel.ack()
      yield* Effect.forEach(fibers, Fiber.join)
    }))

  it.scoped("while the connection is Blocked nothing is sent and confirm deadlines do not run; unblocked, it all resumes", () =>
    Effect.gen(function*() {
      const { fake, pub } = yield* Fake.publisherOn({ confirmTimeout: "10 seconds" })
      const sent = yield* start(pub.publish("ex", "sent", "x"))
      yield* fake.setStatus({ _tag: "Blocked", attempt: 1, reason: "low on memory" })
      yield* settle()
      const held = yield* start(pub.publish("ex", "held", "x"))
      expect(fake.current().keys).toEqual(["sent"])
      yield* TestClock.adjust("1 minute")
      expect(yield* isDone(sent)).toBe(false) // the broker reads nothing while it blocks us
      yield* fake.setStatus({ _tag: "Connected", attempt: 1 })
      yield* settle()
      expect(fake.current().keys).toEqual(["sent", "held"])
      yield* TestClock.adjust("9 seconds") // a full timeout from the unblock
      expect(yield* isDone(sent)).toBe(false)
      fake.current().ack()
      yield* Fiber.join(sent)
      yield* Fiber.join(held)
      expect(fake.channels).toHaveLength(1)
    }))

  it.scoped("a message larger than buffer.bytes fails at once with BufferFull, whatever the policy", () =>
    Effect.gen(function*() {
      const { pub } = yield* Fake.publisherOn({ buffer: { bytes: 10, overflow: "suspend" } })
      const error = yield* Effect.flip(pub.publish("ex", "a", "x".repeat(11)))
      expect(error).toBeInstanceOf(BufferFull)
      expect(error).toMatchObject({ limit: "bytes", size: 10, dropped: false })
      expect(yield* pub.pending).toEqual({ buffered: 0, inFlight: 0, bytes: 0 })
    }))

  it.scoped(`overflow "fail": a publish that finds the buffer full fails at once with BufferFull (messages or bytes)`, () =>
    Effect.gen(function*() {
      const { fake, pub } = yield* Fake.publisherOn(
        { buffer: { messages: 3, bytes: 100, overflow: "fail" } },
        { reachable: false }
      )
      const kept = yield* Effect.forEach(["1", "2", "3"], (key) => start(pub.publish("ex", key, "x")))
      const byCount = yield* Effect.flip(pub.publish("ex", "4", "x"))
      expect(byCount).toMatchObject({ _tag: "BufferFull", limit: "messages", size: 3, dropped: false })
      yield* fake.reachable(true)
      yield* settle()
      fake.current().ack()
      yield* Effect.forEach(kept, Fiber.join)
      yield* start(pub.publish("ex", "big", "x".repeat(60)))
      const byBytes = yield* Effect.flip(pub.publish("ex", "big2", "x".repeat(60)))
      expect(byBytes).toMatchObject({ _tag: "BufferFull", limit: "bytes", size: 100, dropped: false })
      expect(fake.current().keys).toEqual(["1", "2", "3", "big"])
      fake.current().ack()
    }))

  it.scoped(`overflow "dropOldest": the oldest unsent message fails with BufferFull (dropped) and the rest are sent in order`, () =>
    Effect.gen(function*() {
      const { fake, pub } = yield* Fake.publisherOn(
        { buffer: { messages: 3, overflow: "dropOldest" } },
        { reachable: false }
      )
      const fibers = yield* Effect.forEach(["1", "2", "3", "4", "5"], (key) => start(pub.publish("ex", key, "x")))
      for (const dropped of fibers.slice(0, 2)) {
        expect(yield* failure(dropped)).toMatchObject({ _tag: "BufferFull", limit: "messages", dropped: true })
      }
      expect(yield* pub.pending).toEqual({ buffered: 3, inFlight: 0, bytes: 3 })
      yield* fake.reachable(true)
      yield* settle()
      expect(fake.current().keys).toEqual(["3", "4", "5"])
      fake.current().ack()
      yield* Effect.forEach(fibers.slice(2), Fiber.join)
    }))

  it.scoped(`overflow "dropOldest" never drops a message in flight: with only those, the new publish fails`, () =>
    Effect.gen(function*() {
      const { fake, pub } = yield* Fake.publisherOn({ buffer: { messages: 2, overflow: "dropOldest" } })
      const inFlight = yield* Effect.forEach(["1", "2"], (key) => start(pub.publish("ex", key, "x")))
      const error = yield* Effect.flip(pub.publish("ex", "3", "x"))
      expect(error).toMatchObject({ _tag: "BufferFull", dropped: false })
      fake.current().ack()
      yield* Effect.forEach(inFlight, Fiber.join)
    }))

  it.scoped(`overflow "suspend": a publish waits for room, in order; interrupted while waiting it leaves nothing`, () =>
    Effect.gen(function*() {
      const { fake, pub } = yield* Fake.publisherOn({ buffer: { messages: 2, overflow: "suspend" } }, {
        reachable: false
      })
      const first = yield* Effect.forEach(["1", "2"], (key) => start(pub.publish("ex", key, "x")))
      const third = yield* start(pub.publish("ex", "3", "x"))
      const gone = yield* start(pub.publish("ex", "gone", "x"))
      const fourth = yield* start(pub.publish("ex", "4", "x"))
      yield* TestClock.adjust("1 hour")
      expect(yield* isDone(third)).toBe(false)
      expect(yield* pub.pending).toEqual({ buffered: 2, inFlight: 0, bytes: 2 })
      yield* Fiber.interrupt(gone)
      yield* fake.reachable(true)
      yield* settle()
      const channel = fake.current()
      expect(channel.keys).toEqual(["1", "2"])
      channel.ack(1) // room for one: "3" gets in, "4" still waits
      yield* settle()
      expect(channel.keys).toEqual(["1", "2", "3"])
      channel.ack()
      yield* settle()
      channel.ack()
      yield* Effect.forEach([...first, third, fourth], Fiber.join)
      expect(channel.keys).toEqual(["1", "2", "3", "4"])
    }))

  it.effect("options are validated: InvalidOption names buffer.messages, buffer.bytes, buffer.overflow, confirmTimeout", () =>
    Effect.gen(function*() {
      const invalid = (options: Parameters<typeof publisher.make>[1]) =>
        Effect.scoped(Effect.flatMap(Fake.make(), (fake) => Effect.flip(publisher.make(fake.handle, options))))
      const cases: Array<[Parameters<typeof publisher.make>[1], string]> = [
        [{ buffer: { messages: 0 } }, "buffer.messages"],
        [{ buffer: { messages: 1.5 } }, "buffer.messages"],
        [{ buffer: { bytes: -1 } }, "buffer.bytes"],
        [{ buffer: { overflow: "grow" as never } }, "buffer.overflow"],
        [{ confirmTimeout: 0 }, "confirmTimeout"],
        [{ closeTimeout: -1 }, "closeTimeout"]
      ]
      for (const [options, option] of cases) {
        const error = yield* invalid(options)
        expect(error).toBeInstanceOf(InvalidOption)
        expect(error.option).toBe(option)
      }
    }))

  it.scoped("an interrupted publish that is still buffered leaves the buffer at once and is never sent", () =>
    Effect.gen(function*() {
      const { fake, pub } = yield* Fake.publisherOn({}, { reachable: false })
      const fibers = yield* Effect.forEach(["1", "2", "3"], (key) => start(pub.publish("ex", key, "x")))
      yield* Fiber.interrupt(fibers[1]!)
      expect(yield* pub.pending).toEqual({ buffered: 2, inFlight: 0, bytes: 2 })
      yield* Effect.forEach(fibers, Fiber.interrupt)
      expect(yield* pub.pending).toEqual({ buffered: 0, inFlight: 0, bytes: 0 })
      yield* fake.reachable(true)
      yield* settle()
      expect(fake.current().sent).toHaveLength(0)
    }))

  it.scoped("an interrupted publish already sent stays counted until its confirm; if its channel dies first it is not sent again", () =>
    Effect.gen(function*() {
      const { fake, pub } = yield* Fake.publisherOn()
      const left = yield* start(pub.publish("ex", "left", "x"))
      const stays = yield* start(pub.publish("ex", "stays", "x"))
      yield* Fiber.interrupt(left)
      expect(yield* pub.pending).toEqual({ buffered: 0, inFlight: 2, bytes: 2 })
      fake.current().kill()
      yield* settle()
      expect(fake.current().keys).toEqual(["stays"])
      expect(yield* pub.pending).toEqual({ buffered: 0, inFlight: 1, bytes: 1 })
      fake.current().ack()
      yield* Fiber.join(stays)
      // And one whose confirm comes is forgotten then.
      const again = yield* start(pub.publish("ex", "again", "x"))
      yield* Fiber.interrupt(again)
      expect(yield* pub.pending).toMatchObject({ inFlight: 1 })
      fake.current().ack()
      expect(yield* pub.pending).toEqual({ buffered: 0, inFlight: 0, bytes: 0 })
    }))

  it.scoped("when the channel manager closes, every buffered and in-flight publish fails with its Closed, later ones at once; connect opens it again", () =>
    Effect.gen(function*() {
      const { fake, pub } = yield* Fake.publisherOn()
      const inFlight = yield* start(pub.publish("ex", "a", "x"))
      fake.current().full = true
      const buffered = yield* start(pub.publish("ex", "b", "x"))
      const buffered2 = yield* start(pub.publish("ex", "c", "x"))
      expect(yield* pub.pending).toMatchObject({ buffered: 1, inFlight: 2 })
      yield* fake.manager.close
      yield* settle()
      for (const fiber of [inFlight, buffered, buffered2]) {
        const error = yield* failure(fiber)
        expect(error).toBeInstanceOf(Closed)
        expect(error).toMatchObject({ reason: "UserClosed" })
      }
      expect(yield* pub.pending).toEqual({ buffered: 0, inFlight: 0, bytes: 0 })
      expect(yield* Effect.flip(pub.publish("ex", "d", "x"))).toMatchObject({ _tag: "Closed", reason: "UserClosed" })
      yield* fake.manager.connect
      yield* settle()
      const after = yield* start(pub.publish("ex", "e", "x"))
      expect(fake.current().keys).toEqual(["e"])
      fake.current().ack()
      yield* Fiber.join(after)
    }))

  it.scoped("at the end of the scope outstanding confirms are awaited, then new publishes fail with Closed", () =>
    Effect.gen(function*() {
      const { scope, value } = yield* Fake.inScope(Fake.publisherOn({ closeTimeout: "10 seconds" }))
      const { fake, pub } = value
      const fibers = yield* Effect.forEach(["1", "2"], (key) => start(pub.publish("ex", key, "x")))
      const closing = yield* start(Scope.close(scope, Exit.void))
      expect(yield* isDone(closing)).toBe(false)
      expect(yield* Effect.flip(pub.publish("ex", "late", "x"))).toMatchObject({
        _tag: "Closed",
        reason: "ScopeClosed",
        kind: "Channel"
      })
      fake.current().ack()
      yield* Fiber.join(closing)
      yield* Effect.forEach(fibers, Fiber.join)
      expect(fake.current().closed).toBe(true)
    }))

  it.scoped("closing waits at most closeTimeout, then fails what is left with Closed", () =>
    Effect.gen(function*() {
      const { scope, value } = yield* Fake.inScope(Fake.publisherOn({ closeTimeout: "3 seconds" }))
      const { fake, pub } = value
      const sent = yield* start(pub.publish("ex", "sent", "x"))
      yield* fake.reachable(false)
      fake.current().kill()
      const buffered = yield* start(pub.publish("ex", "buffered", "x"))
      const closing = yield* start(Scope.close(scope, Exit.void))
      yield* TestClock.adjust("2999 millis")
      expect(yield* isDone(closing)).toBe(false)
      yield* TestClock.adjust("1 millis")
      yield* Fiber.join(closing)
      for (const fiber of [sent, buffered]) {
        expect(yield* failure(fiber)).toMatchObject({ _tag: "Closed", reason: "ScopeClosed" })
      }
    }))

  it.scoped("flush waits until nothing is buffered or in flight", () =>
    Effect.gen(function*() {
      const { fake, pub } = yield* Fake.publisherOn({}, { reachable: false })
      yield* pub.flush // empty: at once
      yield* Effect.forEach(["1", "2"], (key) => start(pub.publish("ex", key, "x")))
      const flushed = yield* start(pub.flush)
      yield* fake.reachable(true)
      yield* settle()
      fake.current().ack(1)
      yield* settle()
      expect(yield* isDone(flushed)).toBe(false)
      fake.current().ack()
      yield* Fiber.join(flushed)
    }))

  it.scoped("a channel closed by the broker for a publish (404 naming the exchange) fails the messages to that exchange; the others are sent again", () =>
    Effect.gen(function*() {
      const { fake, pub } = yield* Fake.publisherOn()
      const before = yield* start(pub.publish("ok", "1", "x"))
      const missing = yield* start(pub.publish("missing", "2", "x"))
      const after = yield* start(pub.publish("ok", "3", "x"))
      fake.current().kill(Fake.channelError(404, "NOT-FOUND", "NOT_FOUND - no exchange 'missing' in vhost '/'"))
      yield* settle()
      const error = yield* failure(missing)
      expect(error).toBeInstanceOf(AmqpError)
      expect(error).toMatchObject({ reason: "NotFound", replyCode: 404, scope: "Channel" })
      expect(fake.current().keys).toEqual(["1", "3"])
      fake.current().ack()
      yield* Fiber.join(before)
      yield* Fiber.join(after)
    }))

  it.scoped("the counters add up: published − confirmed − nacked − failed is what is pending", () =>
    Effect.gen(function*() {
      const name = `metrics-${Math.random().toString(16).slice(2)}`
      const count = (metric: Metric.Metric.Counter<number>) =>
        Effect.map(Metric.value(Metric.tagged(metric, "channel", name)), (state) => state.count)
      const { fake, pub } = yield* Fake.publisherOn({ buffer: { messages: 4, overflow: "fail" } }, { name })
      const fibers = yield* Effect.forEach(["1", "2", "3", "4"], (key) => start(pub.publish("ex", key, "x")))
      yield* Effect.flip(pub.publish("ex", "5", "x")) // rejected, never accepted
      fake.current().nack("2")
      fake.current().ack(1)
      yield* Fiber.interrupt(fibers[3]!)
      fake.current().kill() // "3" is sent again, "4" (its caller left) is not
      yield* settle()
      const m = publisher.metrics
      const published = yield* count(m.published)
      const confirmed = yield* count(m.confirmed)
      const nacked = yield* count(m.nacked)
      const failed = yield* count(m.failed)
      expect({ published, confirmed, nacked, failed }).toEqual({ published: 4, confirmed: 1, nacked: 1, failed: 1 })
      expect(yield* count(m.republished)).toBe(1)
      expect(yield* count(m.rejected)).toBe(1)
      const pending = yield* pub.pending
      expect(published - confirmed - nacked - failed).toBe(pending.buffered + pending.inFlight)
      fake.current().ack()
    }))
})

// --- against RabbitMQ ---------------------------------------------------------------------------

/** A queue of one test, deleted when the scope ends. */
const testQueue = (args: amqplib.Options.AssertQueue = {}) => {
  const queue = Rabbit.unique("publish")
  return Effect.acquireRelease(
    Effect.as(Effect.orDie(Rabbit.withChannel((channel) => channel.assertQueue(queue, args))), queue),
    () => Effect.ignore(Rabbit.withChannel((channel) => channel.deleteQueue(queue)))
  )
}

/** Everything in `queue` now, taken (no ack needed) with a direct admin connection. */
const drain = (queue: string) =>
  Effect.orDie(Rabbit.withChannel(async (channel) => {
    const messages: Array<amqplib.GetMessage> = []
    for (;;) {
      const message = await channel.get(queue, { noAck: true })
      if (message === false) return messages
      messages.push(message)
    }
  }))

const messageCount = (queue: string) =>
  Effect.orDie(Rabbit.withChannel((channel) => channel.checkQueue(queue).then((q) => q.messageCount)))

/**
 * A connection through a FaultProxy (2 s heartbeat, 100 ms reconnects) and a confirm channel on
 * it; both named with the test's unique `name`.
 */
const throughProxy = (options: AmqpChannel.ConfirmChannelOptions = {}) =>
  Effect.gen(function*() {
    const name = Rabbit.unique("publisher")
    const proxy = yield* FaultProxy.make({ target: { port: Rabbit.port } })
    const amqp = yield* AmqpConnection.make({
      url: `amqp://guest:guest@${proxy.address}`,
      name,
      heartbeat: 2,
      connectTimeout: "2 seconds",
      policy: Reconnect.fixed("100 millis"),
      minUptime: 0
    })
    const channel = yield* amqp.confirmChannel({ policy: Reconnect.fixed("100 millis"), ...options })
    yield* channel.await({ timeout: "10 seconds" })
    return { name, proxy, amqp, channel }
  })

/** The broker is away: new connections are refused and the open ones are cut. */
const away = (proxy: FaultProxy.FaultProxy) => Effect.zipRight(proxy.refuse(true), proxy.cut)

/** Forks `n` publishes of "0" … "n-1" to `queue`, in that order, and returns their fibers. */
const forkPublishes = (channel: AmqpChannel.AmqpConfirmChannel, queue: string, n: number, size = 0) =>
  Effect.forEach(
    Array.from({ length: n }, (_, i) => i),
    (i) =>
      Effect.tap(
        Effect.fork(channel.sendToQueue(queue, String(i).padEnd(size, "."))),
        () => Effect.yieldNow()
      )
  )

const bodies = (messages: ReadonlyArray<amqplib.GetMessage>) =>
  messages.map((m) => m.content.toString().replace(/\.+$/, ""))

describe("publisher against RabbitMQ", () => {
  it.scopedLive("publish completes on the broker's confirm: the message is in the queue with its content and messageId", () =>
    Effect.gen(function*() {
      const queue = yield* testQueue()
      const { channel } = yield* throughProxy()
      yield* channel.sendToQueue(queue, "hello", { messageId: "given-id" })
      yield* channel.publish("", queue, new Uint8Array([1, 2, 3]))
      // Confirmed: already routed, no wait needed.
      const [first, second] = yield* drain(queue)
      expect(first!.content.toString()).toBe("hello")
      expect(first!.properties.messageId).toBe("given-id")
      expect([...second!.content]).toEqual([1, 2, 3])
      expect(second!.properties.messageId).toMatch(uuid)
      expect(yield* channel.pending).toEqual({ buffered: 0, inFlight: 0, bytes: 0 })
    }))

  it.scopedLive("a message the broker refuses (x-max-length 0, reject-publish) fails with Nacked", () =>
    Effect.gen(function*() {
      const queue = yield* testQueue({ arguments: { "x-max-length": 0, "x-overflow": "reject-publish" } })
      const { channel } = yield* throughProxy()
      const error = yield* Effect.flip(channel.sendToQueue(queue, "refused", { messageId: "nacked-1" }))
      expect(error).toBeInstanceOf(Nacked)
      expect(error).toMatchObject({ exchange: "", routingKey: queue, messageId: "nacked-1" })
      // The channel is still in use: the nack closes nothing.
      const other = yield* testQueue()
      yield* channel.sendToQueue(other, "fine")
      expect(yield* messageCount(other)).toBe(1)
    }))

  it.scopedLive(
    "a black-holed connection: the publish fails with Timeout after confirmTimeout, and the channel opens again once the path is back",
    () =>
      Effect.gen(function*() {
        const queue = yield* testQueue()
        const { amqp, channel, proxy } = yield* throughProxy({ confirmTimeout: "1 second" })
        yield* channel.sendToQueue(queue, "before")
        yield* proxy.blackhole(true)
        const [took, error] = yield* Effect.timed(Effect.flip(channel.sendToQueue(queue, "lost in the hole")))
        const elapsed = Duration.toMillis(took)
        expect(error).toBeInstanceOf(Timeout)
        expect(error).toMatchObject({ operation: "confirm", kind: "Channel", connection: channel.name })
        expect(elapsed).toBeGreaterThanOrEqual(900)
        expect(elapsed).toBeLessThan(2_500) // well before the heartbeat (2 s, 2-3 intervals) gives up
        // The heartbeat drops the half-open connection; then the path comes back.
        yield* awaitStatus(amqp, (s) => s._tag !== "Connected")
        yield* proxy.blackhole(false)
        yield* channel.sendToQueue(queue, "after").pipe(Effect.timeout("20 seconds"))
        const got = bodies(yield* drain(queue))
        expect(got[0]).toBe("before")
        expect(got).toContain("after")
      }),
    60_000
  )

  it.scopedLive(
    `overflow "suspend" while the broker is away: publishers wait for room, and once it is back every message arrives, in order`,
    () =>
      Effect.gen(function*() {
        const queue = yield* testQueue()
        const { channel, proxy } = yield* throughProxy({ buffer: { messages: 5, overflow: "suspend" } })
        yield* away(proxy)
        yield* awaitStatus(channel, (s) => s._tag !== "Connected")
        const fibers = yield* forkPublishes(channel, queue, 20)
        yield* Effect.sleep("300 millis")
        expect(yield* channel.pending).toEqual({ buffered: 5, inFlight: 0, bytes: 5 })
        for (const fiber of fibers) expect(Option.isNone(yield* Fiber.poll(fiber))).toBe(true)
        yield* proxy.restore
        yield* Effect.forEach(fibers, Fiber.join).pipe(Effect.timeout("20 seconds"))
        expect(bodies(yield* drain(queue))).toEqual(Array.from({ length: 20 }, (_, i) => String(i)))
      }),
    60_000
  )

  it.scopedLive(
    `overflow "fail" while the broker is away: BufferFull at once; what was buffered arrives once it is back`,
    () =>
      Effect.gen(function*() {
        const queue = yield* testQueue()
        const { channel, proxy } = yield* throughProxy({ buffer: { messages: 5, overflow: "fail" } })
        yield* away(proxy)
        yield* awaitStatus(channel, (s) => s._tag !== "Connected")
        const kept = yield* forkPublishes(channel, queue, 5)
        const error = yield* Effect.flip(channel.sendToQueue(queue, "sixth")).pipe(Effect.timeout("1 second"))
        expect(error).toBeInstanceOf(BufferFull)
        expect(error).toMatchObject({ limit: "messages", size: 5, dropped: false })
        yield* proxy.restore
        yield* Effect.forEach(kept, Fiber.join).pipe(Effect.timeout("20 seconds"))
        expect(bodies(yield* drain(queue))).toEqual(["0", "1", "2", "3", "4"])
      }),
    60_000
  )

  it.scopedLive(
    `overflow "dropOldest" while the broker is away: the oldest fail with BufferFull (dropped), the newest arrive in order`,
    () =>
      Effect.gen(function*() {
        const queue = yield* testQueue()
        const { channel, proxy } = yield* throughProxy({ buffer: { messages: 5, overflow: "dropOldest" } })
        yield* away(proxy)
        yield* awaitStatus(channel, (s) => s._tag !== "Connected")
        const fibers = yield* forkPublishes(channel, queue, 8)
        for (const dropped of fibers.slice(0, 3)) {
          const error = yield* Effect.flip(Fiber.join(dropped)).pipe(Effect.timeout("1 second"))
          expect(error).toMatchObject({ _tag: "BufferFull", dropped: true })
        }
        yield* proxy.restore
        yield* Effect.forEach(fibers.slice(3), Fiber.join).pipe(Effect.timeout("20 seconds"))
        expect(bodies(yield* drain(queue))).toEqual(["3", "4", "5", "6", "7"])
      }),
    60_000
  )

  it.scopedLive(
    `memory stays flat while the broker is away: 200,000 publish attempts with "fail" and with "dropOldest" hold no more than the buffer`,
    () =>
      Effect.gen(function*() {
        const gc = exposeGc()
        const queue = yield* testQueue()
        const size = 1024
        const messages = 1_000
        const bufferBytes = size * messages
        const warm = 20_000
        const total = 200_000
        const body = "x".repeat(size)
        for (const overflow of ["fail", "dropOldest"] as const) {
          const { channel, proxy } = yield* throughProxy({ buffer: { messages, overflow } })
          yield* away(proxy)
          yield* awaitStatus(channel, (s) => s._tag !== "Connected")
          // Each attempt is a fiber of its own (under "dropOldest" it waits until a newer one drops
          // it); after `warm` of them they wait for the gate, and the heap is measured.
          const gate = yield* Effect.makeLatch(false)
          let attempts = 0
          let failed = 0
          const attempt = Effect.suspend(() => {
            const n = ++attempts
            return Effect.zipRight(n > warm ? gate.await : Effect.void, channel.sendToQueue(queue, body))
          }).pipe(Effect.catchTag("BufferFull", () => Effect.sync(() => failed++)))
          // Workers looping (a forEach over 200,000 items would itself hold ~120 bytes per item).
          const worker = Effect.whileLoop({ while: () => attempts < total, body: () => attempt, step: () => {} })
          const run = yield* Effect.forkScoped(
            Effect.forEach(Array.from({ length: messages + 50 }), () => worker, {
              concurrency: "unbounded",
              discard: true
            })
          )
          yield* eventually(Effect.sync(() => failed), (n) => n === warm - messages, "90 seconds")
          const warmHeap = yield* heapAfterGc(gc)
          yield* gate.open
          yield* eventually(Effect.sync(() => failed), (n) => n === total - messages, "90 seconds")
          const endHeap = yield* heapAfterGc(gc)
          expect(attempts).toBe(total)
          expect(yield* channel.pending).toEqual({ buffered: messages, inFlight: 0, bytes: bufferBytes })
          const growth = endHeap - warmHeap
          console.log(
            `publisher memory (${overflow}): ${total - warm} more attempts, ${failed} BufferFull, heap ${
              growth >= 0 ? "+" : ""
            }${(growth / 1024 / 1024).toFixed(2)} MiB (the buffer holds ${(bufferBytes / 1024 / 1024).toFixed(2)} MiB)`
          )
          // 180,000 more attempts, each 1 KiB: a buffer that grew with them would hold 175 MiB more.
          expect(growth).toBeLessThan(bufferBytes + 4 * 1024 * 1024)
          yield* Fiber.interrupt(run)
          expect(yield* channel.pending).toEqual({ buffered: 0, inFlight: 0, bytes: 0 })
        }
      }),
    240_000
  )

  it.scopedLive(
    "interrupted publishes that were still buffered leave nothing behind: pending back to 0, nothing sent once the broker is back",
    () =>
      Effect.gen(function*() {
        const queue = yield* testQueue()
        const { channel, proxy } = yield* throughProxy()
        yield* away(proxy)
        yield* awaitStatus(channel, (s) => s._tag !== "Connected")
        const fibers = yield* forkPublishes(channel, queue, 100)
        expect(yield* channel.pending).toMatchObject({ buffered: 100, inFlight: 0 })
        yield* Effect.forEach(fibers, Fiber.interrupt)
        expect(yield* channel.pending).toEqual({ buffered: 0, inFlight: 0, bytes: 0 })
        yield* proxy.restore
        yield* channel.sendToQueue(queue, "only this").pipe(Effect.timeout("20 seconds"))
        expect(bodies(yield* drain(queue))).toEqual(["only this"])
      }),
    60_000
  )

  it.scopedLive(
    "a publish to a missing exchange (404 closes the channel) fails with NotFound for that message; the channel opens again with its setup and later publishes arrive",
    () =>
      Effect.gen(function*() {
        const queue = yield* testQueue()
        let setups = 0
        const { channel } = yield* throughProxy({
          setup: (ch) => {
            setups++
            return ch.checkQueue(queue)
          }
        })
        expect(setups).toBe(1)
        const missing = Rabbit.unique("no-such-exchange")
        const around = yield* Effect.fork(
          Effect.forEach(["a", "b", "c"], (body) => channel.sendToQueue(queue, body), { concurrency: "unbounded" })
        )
        const error = yield* Effect.flip(channel.publish(missing, "key", "nowhere"))
        expect(error).toBeInstanceOf(AmqpError)
        expect(error).toMatchObject({ reason: "NotFound", replyCode: 404, scope: "Channel" })
        expect((error as AmqpError).replyText).toContain(missing)
        yield* Fiber.join(around).pipe(Effect.timeout("20 seconds"))
        yield* channel.sendToQueue(queue, "later").pipe(Effect.timeout("20 seconds"))
        expect(setups).toBeGreaterThanOrEqual(2)
        const got = bodies(yield* drain(queue))
        expect([...got].sort()).toEqual(["a", "b", "c", "later"])
      }),
    60_000
  )

  it.live(
    "graceful close: at the end of the scope every publish started before it completes, and no connection or channel of the test is left",
    () =>
      Effect.gen(function*() {
        const queue = Rabbit.unique("graceful")
        yield* Effect.orDie(Rabbit.withChannel((channel) => channel.assertQueue(queue)))
        const name = Rabbit.unique("graceful")
        const scope = yield* Scope.make()
        const channel = yield* Scope.extend(
          Effect.gen(function*() {
            const amqp = yield* AmqpConnection.make({ url: Rabbit.url, name })
            return yield* amqp.confirmChannel({})
          }),
          scope
        )
        yield* channel.await({ timeout: "10 seconds" })
        const fibers = yield* Effect.forEach(
          Array.from({ length: 2_000 }, (_, i) => i),
          (i) => Effect.fork(channel.sendToQueue(queue, `m${i}`)),
          { concurrency: "unbounded" }
        )
        yield* Effect.yieldNow()
        const pending = yield* channel.pending
        expect(pending.buffered + pending.inFlight).toBeGreaterThan(0) // the end comes with work outstanding
        yield* Scope.close(scope, Exit.void)
        const exits = yield* Effect.forEach(fibers, Fiber.await)
        expect(exits.filter(Exit.isFailure)).toEqual([])
        expect(yield* messageCount(queue)).toBe(2_000)
        expect(yield* Effect.flip(channel.sendToQueue(queue, "too late"))).toBeInstanceOf(Closed)
        expect(yield* Rabbit.connectionsNamed(name)).toEqual([])
        expect(yield* Rabbit.channelsOf(name)).toBe(0)
        yield* Effect.ignore(Rabbit.withChannel((channel) => channel.deleteQueue(queue)))
      }),
    60_000
  )
})
