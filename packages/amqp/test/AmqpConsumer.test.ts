/**
 * Consumers as Streams, against the real broker: deliveries and their settlement, prefetch, the
 * bound of the buffer with noAck, re-subscription after a reconnect, a cut, a channel closed by
 * the broker and a deleted queue, StaleDelivery, and nothing left subscribed once the stream
 * stops.
 */
import { describe, expect, it } from "@effect/vitest"
import { Closed, Reconnect } from "@redial/core"
import { FaultProxy } from "@redial/testing"
import { Cause, Chunk, Deferred, Effect, Exit, Fiber, Option, Stream } from "effect"
import type { AmqpChannel } from "../src/index.js"
import { AmqpConnection, AmqpError, StaleDelivery } from "../src/index.js"
import { HIGH_WATER } from "../src/internal/consumer.js"
import * as C from "./support/consumer.js"
import * as Rabbit from "./support/rabbit.js"

/** A connection under test, named so the broker's lists show its connections and channels. */
const connect = (options: Partial<AmqpConnection.Options> = {}) =>
  Effect.gen(function*() {
    const name = options.name ?? Rabbit.unique("consumer")
    const amqp = yield* AmqpConnection.make({
      url: Rabbit.url,
      policy: Reconnect.fixed("100 millis"),
      ...options,
      name
    })
    return { amqp, name }
  })

describe("AmqpConsumer", () => {
  it.scopedLive(
    "deliveries arrive in order with their content and properties; ack removes them from the queue",
    () =>
      Effect.gen(function*() {
        const queue = yield* C.queue()
        const { amqp } = yield* connect()
        const publisher = yield* C.publisher
        yield* publisher.send(queue, C.bodies(0, 20), { contentType: "text/plain", headers: { n: 7 } })
        const deliveries = yield* C.reader(amqp.consume(queue, { prefetch: 50 }))
        const got = yield* deliveries.take(20)
        expect(got.map(C.text)).toEqual(C.bodies(0, 20))
        for (const delivery of got) {
          expect(delivery.properties.contentType).toBe("text/plain")
          expect(delivery.properties.headers?.["n"]).toBe(7)
          expect(delivery.fields.redelivered).toBe(false)
          expect(delivery.message.content).toBe(delivery.content)
          expect(delivery.fields.routingKey).toBe(queue)
        }
        expect(yield* C.statsOf(queue)).toEqual({ ready: 0, unacked: 20, consumers: 1 })
        yield* Effect.forEach(got, (delivery) => delivery.ack)
        yield* C.eventually(C.statsOf(queue), (s) => s.unacked === 0, "the acks to reach the broker")
        expect(yield* C.statsOf(queue)).toEqual({ ready: 0, unacked: 0, consumers: 1 })
      }),
    60_000
  )

  it.scopedLive(
    "nack requeues by default (redelivered = true), so does reject; reject without requeue drops it",
    () =>
      Effect.gen(function*() {
        const queue = yield* C.queue()
        const { amqp } = yield* connect()
        const publisher = yield* C.publisher
        yield* publisher.send(queue, ["a", "b"])
        const deliveries = yield* C.reader(amqp.consume(queue))
        const [a, b] = yield* deliveries.take(2)
        yield* a!.nack()
        const again = yield* deliveries.next()
        expect([C.text(again), again.fields.redelivered]).toEqual(["a", true])
        yield* again.reject()
        const third = yield* deliveries.next()
        expect([C.text(third), third.fields.redelivered]).toEqual(["a", true])
        yield* third.reject({ requeue: false })
        yield* b!.nack({ requeue: false })
        expect(Exit.isFailure(yield* Effect.exit(deliveries.next("1 second")))).toBe(true)
        expect(yield* C.statsOf(queue)).toEqual({ ready: 0, unacked: 0, consumers: 1 })
      }),
    60_000
  )

  it.scopedLive(
    "prefetch 5 and no ack: exactly 5 deliveries are outstanding, the 6th comes after an ack",
    () =>
      Effect.gen(function*() {
        const queue = yield* C.queue()
        const { amqp } = yield* connect()
        const publisher = yield* C.publisher
        yield* publisher.send(queue, C.bodies(0, 20))
        const deliveries = yield* C.reader(amqp.consume(queue, { prefetch: 5 }))
        const got = yield* deliveries.take(5)
        expect(got.map(C.text)).toEqual(C.bodies(0, 5))
        expect(Exit.isFailure(yield* Effect.exit(deliveries.next("1 second")))).toBe(true)
        expect(yield* C.statsOf(queue)).toEqual({ ready: 15, unacked: 5, consumers: 1 })
        yield* got[0]!.ack
        expect(C.text(yield* deliveries.next())).toBe("m5")
      }),
    60_000
  )

  it.scopedLive(
    "a second ack (or nack, reject) of one delivery is a no-op: the broker does not close the channel",
    () =>
      Effect.gen(function*() {
        const queue = yield* C.queue()
        const { amqp } = yield* connect()
        const publisher = yield* C.publisher
        const channel = yield* amqp.channel({ prefetch: 10 })
        const deliveries = yield* C.reader(channel.consume(queue))
        yield* publisher.send(queue, ["a", "b"])
        const [a, b] = yield* deliveries.take(2)
        const raw = yield* channel.get
        yield* a!.ack
        yield* a!.ack
        yield* a!.nack()
        yield* a!.reject()
        // One round trip on the same amqplib channel: a second basic.ack of a's tag would have made
        // the broker close it (406 PRECONDITION_FAILED unknown delivery tag) before this answer.
        yield* Effect.tryPromise(() => raw.checkQueue(queue))
        yield* b!.ack
        yield* Effect.tryPromise(() => raw.checkQueue(queue))
        expect(yield* channel.get).toBe(raw)
        expect(yield* C.statsOf(queue)).toEqual({ ready: 0, unacked: 0, consumers: 1 })
      }),
    60_000
  )

  it.scopedLive(
    "noAck: the broker forgets deliveries once sent; ack, nack and reject do nothing",
    () =>
      Effect.gen(function*() {
        const queue = yield* C.queue()
        const { amqp } = yield* connect()
        const publisher = yield* C.publisher
        const channel = yield* amqp.channel()
        const deliveries = yield* C.reader(channel.consume(queue, { noAck: true }))
        yield* publisher.send(queue, ["a", "b", "c"])
        const got = yield* deliveries.take(3)
        expect(got.map(C.text)).toEqual(["a", "b", "c"])
        expect(yield* C.statsOf(queue)).toEqual({ ready: 0, unacked: 0, consumers: 1 })
        const raw = yield* channel.get
        yield* got[0]!.ack
        yield* got[1]!.nack()
        yield* got[2]!.reject()
        // Any of them sent to the broker would close the channel (406 unknown delivery tag).
        yield* Effect.tryPromise(() => raw.checkQueue(queue))
        yield* publisher.send(queue, ["d"])
        expect(C.text(yield* deliveries.next())).toBe("d")
        expect(yield* channel.get).toBe(raw)
        expect(yield* C.statsOf(queue)).toEqual({ ready: 0, unacked: 0, consumers: 1 })
      }),
    60_000
  )

  it.scopedLive("exclusive, priority and arguments go to basic.consume", () =>
    Effect.gen(function*() {
      const queue = yield* C.queue()
      const { amqp } = yield* connect()
      yield* C.reader(amqp.consume(queue, { exclusive: true, priority: 5, arguments: { "x-test": "yes" } }))
      yield* C.eventually(C.check(queue), (q) => q.consumers === 1, "the consumer")
      const consumers = yield* Rabbit.rabbitmqctl(
        "list_consumers",
        "queue_name",
        "ack_required",
        "arguments",
        "--quiet",
        "--no-table-headers"
      )
      const row = consumers.split("\n").find((line) => line.startsWith(`${queue}\t`))
      expect(row).toContain("\ttrue\t")
      expect(row).toMatch(/"x-priority",\s*5/)
      expect(row).toMatch(/"x-test",\s*<<"yes">>|"x-test",\s*"yes"/)
      // Another consumer is refused: the queue is in exclusive use.
      const other = yield* Effect.either(Rabbit.withChannel((channel) => channel.consume(queue, () => {})))
      expect(other._tag).toBe("Left")
      if (other._tag === "Left") expect(String(other.left)).toContain("ACCESS_REFUSED")
    }), 60_000)

  it.scopedLive(
    "noAck: a stream that is not read pauses the consumer on the broker past the buffer's bound and loses nothing",
    () =>
      Effect.gen(function*() {
        // 4 KB messages: what was on the wire when the broker took the cancel (the socket
        // buffers, a few MB) is then a few hundred messages, not thousands.
        const count = 8_000
        const pad = "x".repeat(4_000)
        const queue = yield* C.queue()
        const { amqp } = yield* connect()
        const publisher = yield* C.publisher
        for (let i = 0; i < count; i += 1_000) {
          yield* publisher.send(queue, C.bodies(i, i + 1_000).map((body) => `${body} ${pad}`))
        }
        // A reader that holds one element and reads nothing more until told.
        const deliveries = yield* C.reader(amqp.consume(queue, { noAck: true }), 1)
        yield* C.eventually(C.check(queue), (q) => q.consumers === 0 && q.ready < count, "the consumer to pause")
        const paused = yield* C.check(queue)
        // The client holds the buffer's bound, the overshoot and a chunk; the broker kept the rest.
        const held = count - paused.ready
        expect(held).toBeGreaterThanOrEqual(HIGH_WATER)
        expect(paused.ready).toBeGreaterThan(0)
        yield* Effect.sleep("500 millis")
        expect(yield* C.check(queue)).toEqual(paused)
        // Read on: the consumer subscribes again each time the buffer is read down, and every
        // message arrives once, in order.
        const got = yield* deliveries.take(count)
        expect(got.map((delivery) => C.text(delivery).split(" ")[0])).toEqual(C.bodies(0, count))
        expect(yield* C.check(queue)).toEqual({ ready: 0, consumers: 1 })
      }),
    120_000
  )

  it.scopedLive(
    "resumes after the broker closes the connection (320): messages published meanwhile arrive, unacked ones come again",
    () => resumesAfter((name) => Effect.asVoid(Rabbit.closeConnection(name))),
    90_000
  )

  it.scopedLive(
    "resumes after a FaultProxy cut: messages published meanwhile arrive, unacked ones come again",
    () =>
      Effect.gen(function*() {
        const proxy = yield* FaultProxy.make({ target: { port: Rabbit.port } })
        yield* resumesAfter(() => proxy.cut, { url: `amqp://guest:guest@${proxy.address}`, cut: true })
      }),
    90_000
  )

  it.scopedLive(
    "acking a delivery from a channel that died fails with StaleDelivery; the new channel keeps delivering",
    () =>
      Effect.gen(function*() {
        const queue = yield* C.queue()
        const { amqp, name } = yield* connect()
        const publisher = yield* C.publisher
        const channel = yield* amqp.channel({ prefetch: 10 })
        const deliveries = yield* C.reader(channel.consume(queue))
        yield* publisher.send(queue, ["a"])
        const old = yield* deliveries.next()
        const dead = yield* channel.get
        expect(yield* Rabbit.closeConnection(name)).toBe(1)
        const live = yield* channel.connection.awaitNext(dead)
        for (const settle of [old.ack, old.nack(), old.reject({ requeue: false })]) {
          const exit = yield* Effect.exit(settle)
          expect(Exit.isFailure(exit)).toBe(true)
          if (Exit.isFailure(exit)) {
            const error = Option.getOrThrow(Cause.failureOption(exit.cause))
            expect(error).toBeInstanceOf(StaleDelivery)
            expect(error.deliveryTag).toBe(old.fields.deliveryTag)
            expect(error.channel).toBe(channel.name)
          }
        }
        const again = yield* deliveries.next()
        expect([C.text(again), again.fields.redelivered]).toEqual(["a", true])
        yield* again.ack
        yield* publisher.send(queue, ["b"])
        const b = yield* deliveries.next()
        expect(C.text(b)).toBe("b")
        yield* b.ack
        // The acks went to the live channel and the broker took them: it answers on that channel.
        yield* Effect.tryPromise(() => live.checkQueue(queue))
        expect(yield* channel.get).toBe(live)
        expect(yield* C.statsOf(queue)).toEqual({ ready: 0, unacked: 0, consumers: 1 })
      }),
    90_000
  )

  it.scopedLive(
    "deliveries of a dead channel still in the buffer are not handed out: the broker sends them again",
    () =>
      Effect.gen(function*() {
        const queue = yield* C.queue()
        const { amqp, name } = yield* connect()
        const publisher = yield* C.publisher
        const channel = yield* amqp.channel({ prefetch: 10 })
        const reached = yield* Deferred.make<void>()
        const gate = yield* Deferred.make<void>()
        // The first delivery is held at the gate, so the next ones wait in the consumer's buffer.
        const deliveries = yield* C.reader(
          channel.consume(queue).pipe(
            Stream.tap((delivery) =>
              C.text(delivery) === "m0" && !delivery.fields.redelivered
                ? Effect.zipRight(Deferred.succeed(reached, undefined), Deferred.await(gate))
                : Effect.void
            )
          )
        )
        yield* publisher.send(queue, ["m0"])
        yield* Deferred.await(reached)
        yield* publisher.send(queue, C.bodies(1, 10))
        yield* C.eventually(C.statsOf(queue), (s) => s.unacked === 10, "all ten delivered to the channel", {
          interval: "200 millis"
        })
        const dead = yield* channel.get
        yield* Rabbit.closeConnection(name)
        yield* channel.connection.awaitNext(dead)
        yield* Deferred.succeed(gate, undefined)
        const held = yield* deliveries.next()
        expect([C.text(held), held.fields.redelivered]).toEqual(["m0", false])
        const again = yield* deliveries.take(10)
        expect(again.map(C.text)).toEqual(C.bodies(0, 10))
        expect(again.every((delivery) => delivery.fields.redelivered)).toBe(true)
        expect(Exit.isFailure(yield* Effect.exit(deliveries.next("1 second")))).toBe(true)
      }),
    90_000
  )

  it.scopedLive(
    "resumes after its queue is deleted, when the channel's setup declares it again",
    () =>
      Effect.gen(function*() {
        const logs = C.captureLogs()
        yield* Effect.gen(function*() {
          const queue = yield* C.queue({ declare: false })
          const { amqp } = yield* connect()
          const publisher = yield* C.publisher
          const deliveries = yield* C.reader(
            amqp.consume(queue, {
              setup: (channel) => channel.assertQueue(queue),
              policy: Reconnect.fixed("200 millis")
            })
          )
          yield* C.eventually(
            C.check(queue).pipe(Effect.option),
            (q) => Option.isSome(q) && q.value.consumers === 1,
            "the consumer"
          )
          yield* publisher.send(queue, ["before"])
          const before = yield* deliveries.next()
          expect(C.text(before)).toBe("before")
          yield* before.ack
          yield* C.deleteQueue(queue)
          yield* C.eventually(
            C.check(queue).pipe(Effect.option),
            (q) => Option.isSome(q) && q.value.consumers === 1,
            "the queue declared again and the consumer back"
          )
          yield* publisher.send(queue, ["after"])
          const after = yield* deliveries.next()
          expect([C.text(after), after.fields.redelivered]).toEqual(["after", false])
          yield* after.ack
        }).pipe(Effect.provide(logs.layer))
        const lines = logs.lines.map((line) => line.message)
        expect(lines.filter((line) => line.includes("the broker cancelled the consumer"))).toHaveLength(1)
        expect(lines.filter((line) => line.includes("subscribed again"))).toHaveLength(1)
      }),
    90_000
  )

  it.scopedLive(
    "waits with the policy's delays while its queue is missing and resumes when another party declares it",
    () =>
      Effect.gen(function*() {
        const logs = C.captureLogs()
        yield* Effect.gen(function*() {
          const queue = yield* C.queue()
          const { amqp } = yield* connect()
          const publisher = yield* C.publisher
          // The channel reopens at once after each 404 (minUptime 0): only the consumer's policy paces it.
          const channel = yield* amqp.channel({ minUptime: 0, policy: Reconnect.fixed("10 millis") })
          const deliveries = yield* C.reader(channel.consume(queue, { policy: Reconnect.fixed("300 millis") }))
          yield* publisher.send(queue, ["before"])
          yield* Effect.flatMap(deliveries.next(), (d) => d.ack)
          const failed = () => logs.lines.filter((line) => line.message.includes("subscribing failed")).length
          yield* C.deleteQueue(queue)
          yield* Effect.sleep("2 seconds")
          // 2 s at one attempt per 300 ms: about 6 (a hot loop would make hundreds).
          expect(failed()).toBeGreaterThanOrEqual(3)
          expect(failed()).toBeLessThanOrEqual(9)
          expect(logs.lines.find((line) => line.message.includes("subscribing failed"))?.message).toContain("NOT_FOUND")
          yield* C.declareQueue(queue)
          yield* C.eventually(C.check(queue), (q) => q.consumers === 1, "the consumer back")
          yield* publisher.send(queue, ["after"])
          expect(C.text(yield* deliveries.next())).toBe("after")
        }).pipe(Effect.provide(logs.layer))
        expect(logs.lines.filter((line) => line.message.includes("subscribed again"))).toHaveLength(1)
      }),
    90_000
  )

  it.scopedLive(
    "a policy that gives up ends the stream with Closed (PolicyExhausted), the 404 as its cause",
    () =>
      Effect.gen(function*() {
        const queue = Rabbit.unique("missing")
        const { amqp } = yield* connect()
        const channel = yield* amqp.channel({ policy: Reconnect.fixed("20 millis") })
        const exit = yield* channel.consume(queue, { policy: Reconnect.limit(Reconnect.fixed("50 millis"), 2) }).pipe(
          Stream.runDrain,
          Effect.exit
        )
        expect(Exit.isFailure(exit)).toBe(true)
        if (Exit.isFailure(exit)) {
          const error = Option.getOrThrow(Cause.failureOption(exit.cause))
          expect(error).toBeInstanceOf(Closed)
          if (error instanceof Closed) {
            expect(error.reason).toBe("PolicyExhausted")
            expect(error.error?.attempt).toBe(3)
            expect(error.error?.cause).toBeInstanceOf(AmqpError)
            expect((error.error?.cause as AmqpError).reason).toBe("NotFound")
          }
        }
        // The channel itself is fine: it is open again.
        yield* channel.await({ timeout: "10 seconds" })
      }),
    60_000
  )

  it.scopedLive("fails with Closed when its connection closes for good", () =>
    Effect.gen(function*() {
      const queue = yield* C.queue()
      const { amqp } = yield* connect()
      const publisher = yield* C.publisher
      const deliveries = yield* C.reader(amqp.consume(queue))
      yield* publisher.send(queue, ["a"])
      yield* deliveries.next()
      yield* amqp.close
      const exit = yield* deliveries.exit()
      expect(Exit.isFailure(exit)).toBe(true)
      if (Exit.isFailure(exit)) expect(Option.getOrThrow(Cause.failureOption(exit.cause))).toBeInstanceOf(Closed)
    }), 60_000)

  it.scopedLive("fails with Closed at once when its connection closes while it waits for a missing queue", () => {
    const logs = C.captureLogs()
    return Effect.gen(function*() {
      const queue = Rabbit.unique("missing")
      const { amqp } = yield* connect()
      const channel = yield* amqp.channel({ policy: Reconnect.fixed("50 millis") })
      const deliveries = yield* C.reader(channel.consume(queue, { policy: Reconnect.fixed("1 minute") }))
      yield* C.eventually(
        Effect.sync(() => logs.lines.some((line) => line.message.includes("subscribing again in 1m"))),
        (found) => found,
        "the first failed subscription"
      )
      yield* amqp.close
      const exit = yield* deliveries.exit("10 seconds")
      expect(Exit.isFailure(exit)).toBe(true)
      if (Exit.isFailure(exit)) expect(Option.getOrThrow(Cause.failureOption(exit.cause))).toBeInstanceOf(Closed)
    }).pipe(Effect.provide(logs.layer))
  }, 60_000)

  it.scopedLive(
    "stopping the stream cancels the consumer on the broker; the channel stays open",
    () =>
      Effect.gen(function*() {
        const queue = yield* C.queue()
        const { amqp } = yield* connect()
        const publisher = yield* C.publisher
        const channel = yield* amqp.channel({ prefetch: 10 })
        yield* publisher.send(queue, C.bodies(0, 10))
        const got = yield* channel.consume(queue).pipe(Stream.take(3), Stream.runCollect)
        expect(Chunk.toArray(got).map(C.text)).toEqual(C.bodies(0, 3))
        const raw = yield* channel.get
        expect(yield* C.check(queue)).toMatchObject({ consumers: 0 })
        yield* Effect.forEach(got, (delivery) => delivery.ack)
        yield* Effect.tryPromise(() => raw.checkQueue(queue))
        expect(yield* channel.get).toBe(raw)
      }),
    60_000
  )

  it.scopedLive(
    "deliveries still buffered when the stream stops go back to the queue at once",
    () =>
      Effect.gen(function*() {
        const queue = yield* C.queue()
        const { amqp } = yield* connect()
        const publisher = yield* C.publisher
        const channel = yield* amqp.channel({ prefetch: 10 })
        const first = yield* Deferred.make<AmqpChannel.Delivery>()
        // The stream hands out the first delivery and waits there: the next ones stay in its buffer.
        const fiber = yield* channel.consume(queue).pipe(
          Stream.runForEach((delivery) => Effect.zipRight(Deferred.succeed(first, delivery), Effect.never)),
          Effect.fork
        )
        yield* publisher.send(queue, ["m0"])
        const handedOut = yield* Deferred.await(first)
        yield* publisher.send(queue, C.bodies(1, 10))
        yield* C.eventually(C.statsOf(queue), (s) => s.unacked === 10, "all ten delivered to the channel", {
          interval: "200 millis"
        })
        yield* Fiber.interrupt(fiber)
        // Nine requeued while the channel stays open; the one handed out is its holder's to settle.
        expect(yield* C.statsOf(queue)).toEqual({ ready: 9, unacked: 1, consumers: 0 })
        yield* handedOut.ack
        yield* C.eventually(C.statsOf(queue), (s) => s.unacked === 0, "the ack", { interval: "200 millis" })
      }),
    90_000
  )

  it.live(
    "AmqpConnection.consume leaves no channel once the stream ends, and no connection once the scope ends",
    () =>
      Effect.gen(function*() {
        const name = Rabbit.unique("consumer")
        yield* Effect.scoped(Effect.gen(function*() {
          const queue = yield* C.queue()
          const { amqp } = yield* connect({ name })
          const publisher = yield* C.publisher
          yield* publisher.send(queue, C.bodies(0, 5))
          const got = yield* amqp.consume(queue).pipe(
            Stream.mapEffect((delivery) => Effect.as(delivery.ack, C.text(delivery))),
            Stream.take(5),
            Stream.runCollect
          )
          expect(Chunk.toArray(got)).toEqual(C.bodies(0, 5))
          expect(
            yield* C.eventually(Rabbit.channelsOf(name), (n) => n === 0, "the consumer's channel to close", {
              interval: "200 millis"
            })
          ).toBe(0)
          expect(yield* Rabbit.connectionsNamed(name)).toHaveLength(1)
          expect(yield* C.statsOf(queue)).toEqual({ ready: 0, unacked: 0, consumers: 0 })
        }))
        yield* C.eventually(Rabbit.connectionsNamed(name), (pids) => pids.length === 0, "the connection to close", {
          interval: "200 millis"
        })
      }),
    90_000
  )
})

/**
 * A consumer (prefetch 10) takes ten messages and acks three; then `fault` kills its connection.
 * Five more are published meanwhile on a direct connection. The seven unacked come again
 * (redelivered), then the five new ones, in order; acked, they leave the queue empty; the
 * re-subscription is logged once.
 */
const resumesAfter = (
  fault: (name: string) => Effect.Effect<void>,
  options: { readonly url?: string; readonly cut?: boolean } = {}
) =>
  Effect.gen(function*() {
    const logs = C.captureLogs()
    yield* Effect.gen(function*() {
      const queue = yield* C.queue()
      const { amqp, name } = yield* connect(options.url === undefined ? {} : { url: options.url })
      const publisher = yield* C.publisher
      const deliveries = yield* C.reader(amqp.consume(queue, { prefetch: 10 }))
      yield* publisher.send(queue, C.bodies(0, 10))
      const first = yield* deliveries.take(10)
      expect(first.map(C.text)).toEqual(C.bodies(0, 10))
      yield* Effect.forEach(first.slice(0, 3), (delivery) => delivery.ack)
      // Wait for the broker to take the acks, so exactly 7 are unacked when the fault comes.
      yield* C.eventually(C.statsOf(queue), (s) => s.unacked === 7, "the acks", { interval: "200 millis" })
      yield* fault(name)
      yield* publisher.send(queue, C.bodies(10, 15))
      // Acked as they come: prefetch 10 holds back the last five until some are acked.
      const second = yield* Effect.forEach(
        Array.from({ length: 12 }),
        () => Effect.tap(deliveries.next("30 seconds"), (delivery) => delivery.ack)
      )
      expect(second.map(C.text)).toEqual(C.bodies(3, 15))
      const redelivered = second.map((delivery) => delivery.fields.redelivered)
      expect(redelivered.slice(0, 7)).toEqual(Array(7).fill(true))
      // After a cut, the broker may hand new messages to the dead connection before it sees the
      // reset, and then requeue them (redelivered); after its own close it cannot.
      if (!options.cut) expect(redelivered.slice(7)).toEqual(Array(5).fill(false))
      yield* C.eventually(C.statsOf(queue), (s) => s.unacked === 0, "the acks", { interval: "200 millis" })
      expect(yield* C.statsOf(queue)).toEqual({ ready: 0, unacked: 0, consumers: 1 })
    }).pipe(Effect.provide(logs.layer))
    const again = logs.lines.filter((line) => line.message.includes("subscribed again"))
    expect(again).toHaveLength(1)
    expect(again[0]?.message).toContain("its channel closed")
  })
