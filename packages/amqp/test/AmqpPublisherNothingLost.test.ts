/**
 * Nothing lost: at least 100,000 confirmed publishes through a FaultProxy while the path is cut
 * and the broker closes the connection, at random moments, at least 20 times. A raw amqplib
 * consumer on a direct connection (not through the proxy) counts the distinct messageIds: every
 * confirmed message must be there; duplicates (at-least-once) are counted and printed.
 */
import { describe, expect, it } from "@effect/vitest"
import { Reconnect } from "@redial/core"
import { FaultProxy } from "@redial/testing"
import * as amqplib from "amqplib"
import { Clock, Deferred, Effect, Fiber, Metric, Random, Stream } from "effect"
import { AmqpConnection } from "../src/index.js"
import * as publisher from "../src/internal/publisher.js"
import * as Rabbit from "./support/rabbit.js"

const MIN_MESSAGES = 100_000
const MIN_FAULTS = 20
const MIN_BROKER_CLOSES = 6
const IN_FLIGHT = 64
const SIZE = 1000

const noop = () => {}

/** A raw amqplib consumer straight to the broker: the distinct messageIds it saw, and how many deliveries. */
const rawConsumer = (queue: string) =>
  Effect.acquireRelease(
    Effect.promise(async () => {
      const connection = await amqplib.connect(Rabbit.url)
      connection.on("error", noop)
      const channel = await connection.createChannel()
      channel.on("error", noop)
      await channel.prefetch(2_000)
      const seen = { ids: new Set<string>(), deliveries: 0 }
      let waiter: { readonly count: number; readonly resume: () => void } | undefined
      await channel.consume(queue, (message) => {
        if (message === null) return
        seen.deliveries++
        seen.ids.add(String(message.properties.messageId))
        channel.ack(message)
        if (waiter !== undefined && seen.ids.size >= waiter.count) {
          waiter.resume()
          waiter = undefined
        }
      })
      /** Waits until `count` distinct ids have come (on the deliveries, not polling). */
      const distinct = (count: number) =>
        Effect.async<void>((resume) => {
          if (seen.ids.size >= count) return resume(Effect.void)
          waiter = { count, resume: () => resume(Effect.void) }
          return Effect.sync(() => {
            waiter = undefined
          })
        })
      return { connection, seen, distinct }
    }),
    ({ connection }) => Effect.promise(() => connection.close().catch(noop))
  )

describe("publisher: nothing lost", () => {
  it.scopedLive(
    `${MIN_MESSAGES} confirmed publishes, ${IN_FLIGHT} in flight, through ≥ ${MIN_FAULTS} cuts and broker closes: a direct consumer sees every one (0 missing)`,
    () =>
      Effect.gen(function*() {
        const started = yield* Clock.currentTimeMillis
        const name = Rabbit.unique("nothing-lost")
        const queue = Rabbit.unique("nothing-lost")
        yield* Effect.acquireRelease(
          Effect.orDie(Rabbit.withChannel((channel) => channel.assertQueue(queue))),
          () => Effect.ignore(Rabbit.withChannel((channel) => channel.deleteQueue(queue)))
        )
        const consumer = yield* rawConsumer(queue)
        const proxy = yield* FaultProxy.make({ target: { port: Rabbit.port } })
        const amqp = yield* AmqpConnection.make({
          url: `amqp://guest:guest@${proxy.address}`,
          name,
          heartbeat: 2,
          connectTimeout: "2 seconds",
          policy: Reconnect.fixed("50 millis"),
          minUptime: 0
        })
        const channel = yield* amqp.confirmChannel({ policy: Reconnect.fixed("50 millis"), minUptime: 0 })
        yield* channel.await({ timeout: "10 seconds" })

        // --- the publishers: IN_FLIGHT workers, each publishing the next message until enough
        // messages are confirmed *and* enough faults have happened.
        const faults = { cuts: 0, closes: 0 }
        const enoughFaults = () => faults.cuts + faults.closes >= MIN_FAULTS && faults.closes >= MIN_BROKER_CLOSES
        const confirmed = new Set<string>()
        const failures: Array<unknown> = []
        let next = 0
        const padding = "x".repeat(SIZE)
        const done = yield* Deferred.make<void>()
        const worker = Effect.whileLoop({
          while: () => !(next >= MIN_MESSAGES && enoughFaults()),
          body: () =>
            Effect.suspend(() => {
              const id = `m-${next++}`
              return channel.sendToQueue(queue, `${id} ${padding}`.slice(0, SIZE), { messageId: id }).pipe(
                Effect.matchEffect({
                  onFailure: (error) => Effect.sync(() => failures.push(error)),
                  onSuccess: () => Effect.sync(() => confirmed.add(id))
                })
              )
            }),
          step: noop
        })
        const publishers = yield* Effect.fork(
          Effect.zipRight(
            Effect.forEach(Array.from({ length: IN_FLIGHT }), () => worker, {
              concurrency: "unbounded",
              discard: true
            }),
            Deferred.succeed(done, undefined)
          )
        )

        // --- the faults: each hits a live channel (with messages in flight) after a random pause.
        const connected = channel.changes.pipe(Stream.filter((s) => s._tag === "Connected"), Stream.runHead)
        const pause = Effect.flatMap(Random.nextIntBetween(50, 400), (ms) => Effect.sleep(ms))
        const stop = Deferred.isDone(done)
        const cutter = Effect.whileLoop({
          while: () => true,
          body: () =>
            Effect.gen(function*() {
              yield* connected
              yield* pause
              if ((yield* stop) || enoughFaults()) return
              yield* proxy.cut
              faults.cuts++
              // Leave room for the broker's closes: they take two rabbitmqctl calls each.
              yield* Effect.sleep("600 millis")
            }),
          step: noop
        })
        const closer = Effect.whileLoop({
          while: () => true,
          body: () =>
            Effect.gen(function*() {
              yield* connected
              yield* pause
              if ((yield* stop) || enoughFaults()) return
              // The connection may be replaced (cut) between listing it and closing it: not counted then.
              const closed = yield* Rabbit.closeConnection(name, "nothing-lost test").pipe(
                Effect.catchAllDefect(() => Effect.succeed(0))
              )
              if (closed > 0) faults.closes++
            }),
          step: noop
        })
        const faulters = yield* Effect.fork(
          Effect.raceFirst(Effect.zip(cutter, closer, { concurrent: true }), Deferred.await(done))
        )

        yield* Fiber.join(publishers).pipe(Effect.timeout("100 seconds"), Effect.orDie)
        yield* Fiber.interrupt(faulters)

        // --- the count: wait until the consumer has as many distinct ids as were confirmed.
        const missing = () => {
          let n = 0
          for (const id of confirmed) if (!consumer.seen.ids.has(id)) n++
          return n
        }
        yield* Effect.timeoutOption(consumer.distinct(confirmed.size), "30 seconds")
        yield* Effect.sleep("200 millis") // late duplicates
        const republished = yield* Metric.value(Metric.tagged(publisher.metrics.republished, "channel", channel.name))
        const lost = missing()
        const duplicates = consumer.seen.deliveries - consumer.seen.ids.size
        console.log(
          `nothing lost: ${confirmed.size} confirmed, ${failures.length} failed, ${
            faults.cuts + faults.closes
          } faults (${faults.cuts} cuts, ${faults.closes} broker closes), ${consumer.seen.ids.size} distinct received, ${lost} missing, ${duplicates} duplicates, ${republished.count} republished, ${
            (((yield* Clock.currentTimeMillis) - started) / 1000).toFixed(1)
          } s`
        )
        expect(failures).toEqual([])
        expect(confirmed.size).toBeGreaterThanOrEqual(MIN_MESSAGES)
        expect(faults.cuts + faults.closes).toBeGreaterThanOrEqual(MIN_FAULTS)
        expect(lost).toBe(0)
        expect(yield* channel.pending).toEqual({ buffered: 0, inFlight: 0, bytes: 0 })
      }),
    150_000
  )
})
