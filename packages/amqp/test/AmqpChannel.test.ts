/**
 * Channels on the cached connection, on the real broker (127.0.0.1:5672): many channels share
 * one TCP connection; a channel the broker closes (404) comes back with its setup and never
 * takes the connection down; channels come back after the connection is lost; closing is
 * bounded even when the broker went silent. Counted on the broker with rabbitmqctl.
 */
import { describe, expect, it } from "@effect/vitest"
import { Reconnect } from "@redial/core"
import { FaultProxy } from "@redial/testing"
import type * as amqplib from "amqplib"
import { Duration, Effect, Option, Stream } from "effect"
import { AmqpConnection, AmqpError, SetupFailed } from "../src/index.js"
import * as Rabbit from "./support/rabbit.js"
import { awaitStatus, eventually } from "./support/wait.js"

/** Counts the errors nobody handled (an unheard amqplib `error` is rethrown), for the test's lifetime. */
const unhandled = Effect.acquireRelease(
  Effect.sync(() => {
    const seen: Array<unknown> = []
    const listener = (error: unknown) => void seen.push(error)
    process.on("uncaughtException", listener)
    process.on("unhandledRejection", listener)
    return { seen, listener }
  }),
  ({ listener }) =>
    Effect.sync(() => {
      process.off("uncaughtException", listener)
      process.off("unhandledRejection", listener)
    })
).pipe(Effect.map(({ seen }) => seen))

describe("AmqpChannel", () => {
  it.live("20 channels share one TCP connection: the broker sees 1 connection with 20 channels, and none after the scope", () =>
    Effect.gen(function*() {
      const name = Rabbit.unique("channels-20")
      yield* Effect.scoped(Effect.gen(function*() {
        const amqp = yield* AmqpConnection.make({ url: Rabbit.url, name })
        const channels = yield* Effect.forEach(Array.from({ length: 20 }), () => amqp.channel())
        const opened = yield* Effect.forEach(channels, (channel) => channel.await({ timeout: "5 seconds" }))
        expect(new Set(opened).size).toBe(20)
        expect(yield* Rabbit.connectionsNamed(name)).toHaveLength(1)
        expect(yield* Rabbit.channelsOf(name)).toBe(20)
      }))
      // no connection left, so no channel either (channels live on a connection)
      yield* eventually(Rabbit.connectionsNamed(name), (pids) => pids.length === 0, "20 seconds", "200 millis")
    }))

  it.scopedLive("a channel the broker closes (404) never takes the connection down: the same broker connection, the channel reopened with its setup", () =>
    Effect.gen(function*() {
      const errors = yield* unhandled
      const name = Rabbit.unique("channel-404")
      const queue = Rabbit.unique("q-404")
      const missing = Rabbit.unique("no-such-exchange")
      const amqp = yield* AmqpConnection.make({ url: Rabbit.url, name })
      const model = yield* amqp.await({ timeout: "5 seconds" })
      let setups = 0
      const channel = yield* amqp.channel({
        setup: (ch) => {
          setups += 1
          return ch.assertQueue(queue, { autoDelete: false })
        },
        policy: Reconnect.fixed("100 millis")
      })
      yield* Effect.addFinalizer(() => Effect.ignore(Rabbit.withChannel((ch) => ch.deleteQueue(queue))))
      const first = yield* channel.await({ timeout: "5 seconds" })
      expect(setups).toBe(1)
      const [pid] = yield* Rabbit.connectionsNamed(name)

      // A failed RPC: typed, the operation named; the broker then closes this channel alone.
      const refused = yield* Effect.flip(channel.call((ch) => ch.checkExchange(missing)))
      expect(refused).toBeInstanceOf(AmqpError)
      expect(refused).toMatchObject({
        reason: "NotFound",
        replyCode: 404,
        scope: "Channel",
        operation: "ExchangeDeclare"
      })
      const second = yield* channel.connection.awaitNext(first).pipe(Effect.timeout("5 seconds"))
      expect(setups).toBe(2)

      // A publish to a missing exchange: the broker answers with a channel.close (an `error` event).
      yield* channel.call((ch) => ch.publish(missing, "key", Buffer.from("lost")))
      const third = yield* channel.connection.awaitNext(second).pipe(Effect.timeout("5 seconds"))
      expect(third).not.toBe(second)
      expect(setups).toBe(3)
      // the new channel works
      yield* channel.call((ch) => ch.checkQueue(queue))

      expect(yield* amqp.get).toBe(model)
      expect((yield* amqp.status)._tag).toBe("Connected")
      expect(yield* Rabbit.connectionsNamed(name)).toEqual([pid])
      expect(errors).toEqual([])
    }))

  it.scopedLive("after the connection is lost (320), every channel comes back on the new one, with its setup", () =>
    Effect.gen(function*() {
      const name = Rabbit.unique("channel-320")
      const amqp = yield* AmqpConnection.make({ url: Rabbit.url, name, policy: Reconnect.fixed("100 millis") })
      const model = yield* amqp.await({ timeout: "5 seconds" })
      let setups = 0
      const channel = yield* amqp.channel({
        setup: () => Effect.sync(() => void (setups += 1)),
        prefetch: 5,
        minUptime: 0
      })
      const first = yield* channel.await({ timeout: "5 seconds" })
      expect(yield* Rabbit.closeConnection(name)).toBe(1)
      const next = yield* channel.connection.awaitNext(first).pipe(Effect.timeout("5 seconds"))
      expect(next).not.toBe(first)
      expect(setups).toBe(2)
      const reconnected = yield* amqp.get
      expect(reconnected).not.toBe(model)
      // the channel is on the new connection, and usable
      expect((next as unknown as { connection: unknown }).connection).toBe(reconnected.connection)
      const declared = yield* channel.call((ch) => ch.assertQueue("", { exclusive: true }))
      expect(declared.queue).toMatch(/^amq\.gen-/)
    }))

  it.scopedLive("a connection closed by the user closes its channels; started again with connect, they come back with their setup", () =>
    Effect.gen(function*() {
      const name = Rabbit.unique("channel-close-connect")
      const amqp = yield* AmqpConnection.make({ url: Rabbit.url, name, policy: Reconnect.fixed("100 millis") })
      let setups = 0
      const channel = yield* amqp.channel({ setup: () => Effect.sync(() => void (setups += 1)), minUptime: 0 })
      const first = yield* channel.await({ timeout: "5 seconds" })
      yield* amqp.close
      const closed = yield* eventually(channel.status, (status) => status._tag === "Closed", "5 seconds")
      expect(closed._tag).toBe("Closed")
      yield* amqp.connect
      const next = yield* channel.await({ timeout: "5 seconds" })
      expect(next).not.toBe(first)
      expect(setups).toBe(2)
      const declared = yield* channel.call((ch) => ch.assertQueue("", { exclusive: true }))
      expect(declared.queue).toMatch(/^amq\.gen-/)
    }))

  it.scopedLive("a channel waiting out a long backoff closes at once when its connection is closed, and comes back with connect", () =>
    Effect.gen(function*() {
      const name = Rabbit.unique("channel-backoff-close")
      const amqp = yield* AmqpConnection.make({ url: Rabbit.url, name })
      yield* amqp.await({ timeout: "5 seconds" })
      let setups = 0
      const channel = yield* amqp.channel({
        // the first setup fails: the channel then waits a minute before its next opening
        setup: () => (setups += 1) === 1 ? Effect.fail(new Error("not yet")) : Effect.void,
        policy: Reconnect.fixed("1 minute")
      })
      yield* awaitStatus(channel, (status) => status._tag === "Backoff", "5 seconds")
      yield* amqp.close
      const closed = yield* awaitStatus(channel, (status) => status._tag === "Closed", "5 seconds")
      expect(closed._tag).toBe("Closed")
      yield* amqp.connect
      yield* channel.await({ timeout: "5 seconds" })
      expect(setups).toBe(2)
    }))

  it.scopedLive("a setup that fails (406) is a typed SetupFailed in the channel's Backoff, retried after the policy's delay, not in a hot loop", () =>
    Effect.gen(function*() {
      const queue = Rabbit.unique("q-406")
      yield* Rabbit.withChannel((ch) => ch.assertQueue(queue, { durable: false, autoDelete: false }))
      yield* Effect.addFinalizer(() => Effect.ignore(Rabbit.withChannel((ch) => ch.deleteQueue(queue))))
      const amqp = yield* AmqpConnection.make({ url: Rabbit.url, name: Rabbit.unique("channel-406") })
      const model = yield* amqp.await({ timeout: "5 seconds" })
      let setups = 0
      const channel = yield* amqp.channel({
        // declared with other arguments than the existing queue: 406 PRECONDITION_FAILED
        setup: (ch: amqplib.Channel) => {
          setups += 1
          return ch.assertQueue(queue, { durable: true })
        },
        policy: Reconnect.fixed("300 millis")
      })
      const backoff = yield* channel.changes.pipe(
        Stream.filter((s) => s._tag === "Backoff"),
        Stream.runHead,
        Effect.map(Option.getOrThrow),
        Effect.timeout("5 seconds")
      )
      const cause = backoff._tag === "Backoff" ? backoff.error.cause : undefined
      expect(cause).toBeInstanceOf(SetupFailed)
      const reply = cause instanceof SetupFailed ? cause.cause : undefined
      expect(reply).toMatchObject({ _tag: "AmqpError", reason: "PreconditionFailed", replyCode: 406 })
      expect(Duration.toMillis(backoff._tag === "Backoff" ? backoff.delay : Duration.zero)).toBe(300)
      yield* Effect.sleep("1 second")
      expect(setups).toBeGreaterThanOrEqual(2)
      expect(setups).toBeLessThanOrEqual(5) // 300 ms apart, not a hot loop
      // the connection is untouched by it
      expect(yield* amqp.get).toBe(model)
    }))

  it.scopedLive("closing a channel (and its connection) after the broker went silent is bounded, not for ever", () =>
    Effect.gen(function*() {
      const proxy = yield* FaultProxy.make({ target: { port: Rabbit.port } })
      const [elapsed] = yield* Effect.timed(Effect.scoped(Effect.gen(function*() {
        const amqp = yield* AmqpConnection.make({
          url: `amqp://guest:guest@${proxy.address}`,
          name: Rabbit.unique("channel-silent"),
          closeTimeout: "500 millis"
        })
        const channel = yield* amqp.channel()
        yield* channel.await({ timeout: "5 seconds" })
        // the channel's close now waits for a CloseOk that never comes
        yield* proxy.blackhole(true)
      }))).pipe(Effect.timeout("8 seconds"))
      expect(Duration.toMillis(elapsed)).toBeLessThan(6000) // the channel's 2 s, the connection's 0.5 s
      yield* eventually(Effect.map(proxy.connections, (c) => c.open), (n) => n === 0, "1 second")
    }))
})
