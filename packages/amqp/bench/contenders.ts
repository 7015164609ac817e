/**
 * The three clients the throughput benchmarks compare, each on a connection of its own to the
 * local broker (127.0.0.1:5672) and publishing to a queue of its own (a random name, deleted at
 * the end):
 *
 * - redial: `AmqpConnection.make` and `amqp.confirmChannel({ setup })` (default buffer and confirm
 *   timeout); a publish is `yield* channel.publish("", queue, content)`, which completes on the
 *   broker's confirm; a consumer is `amqp.consume(queue, { prefetch })`, each delivery acked with
 *   `yield* delivery.ack`;
 * - amqplib: `amqplib.connect` and `createConfirmChannel()`; a publish is
 *   `channel.publish("", queue, content, {}, callback)` in a Promise that settles in the callback;
 *   a consumer is `createChannel()`, `prefetch`, `consume` with `channel.ack(message)`;
 * - amqp-connection-manager 5.0.0: `connect([url])` and `createChannel({ setup })` (a confirm
 *   channel, its default); a publish is `await wrapper.publish("", queue, content)`; a consumer
 *   is `createChannel({ confirm: false })` and `wrapper.consume(queue, onMessage, { prefetch })`
 *   with `wrapper.ack(message)`.
 *
 * Every connection has the same socket settings: Nagle off (`noDelay`, redial's default; amqplib's
 * is on, and with it a confirm round trip can wait for a delayed TCP ack) and a 10-s heartbeat.
 * Messages carry no properties of their own; redial adds its generated `messageId`, as it always
 * does.
 */
import { AmqpConnection } from "@redial/amqp"
import amqpConnectionManager from "amqp-connection-manager"
import type { ChannelWrapper } from "amqp-connection-manager"
import * as amqplib from "amqplib"
import { Effect, Exit, Logger, LogLevel, Scope, Stream } from "effect"
import type { Loops } from "../../../bench/report.js"
import { choose, effectLoops, promiseLoops } from "../../../bench/report.js"
import * as Rabbit from "../test/support/rabbit.js"

export const HEARTBEAT = 10

/** The content of every message: 1 KB. */
export const content: Buffer = Buffer.alloc(1024, "redial ")

/** Without the connections' info logs. */
export const quiet = Logger.withMinimumLogLevel(LogLevel.Warning)

const noop = () => {}

/** One client: its publisher, its consumer and how to close it. */
export interface Contender {
  readonly name: string
  /** The queue it publishes to (and consumes from). */
  readonly queue: string
  /** `concurrency` loops of confirmed publishes of {@link content} to `queue`. */
  readonly publish: Loops
  /**
   * Consumes `count` messages from `queue` with `prefetch`, acking each: from opening its
   * consumer (and channel) to the last ack; then cancels the consumer.
   */
  readonly consume: (count: number, prefetch: number) => Promise<void>
  readonly close: () => Promise<void>
}

/** A plain amqplib connection with the bench's socket settings; every `error` heard. */
export const rawConnection = async (name: string): Promise<amqplib.ChannelModel> => {
  const model = await amqplib.connect(`${Rabbit.url}?heartbeat=${HEARTBEAT}`, {
    noDelay: true,
    clientProperties: { connection_name: name }
  })
  model.on("error", noop)
  return model
}

/** Resolves once `count` messages were handled by `onMessage` (each handler acks its message). */
const counted = (count: number) => {
  let seen = 0
  let done: () => void = noop
  const finished = new Promise<void>((resolve) => {
    done = resolve
  })
  return {
    finished,
    /** Call once per message; true for the last. */
    tick: () => {
      if (++seen === count) done()
    }
  }
}

export const redial = async (): Promise<Contender> => {
  const queue = Rabbit.unique("bench-redial")
  const scope = Effect.runSync(Scope.make())
  const { amqp, channel } = await Effect.runPromise(
    Effect.gen(function*() {
      const amqp = yield* AmqpConnection.make({
        url: Rabbit.url,
        name: Rabbit.unique("bench-redial"),
        heartbeat: HEARTBEAT
      })
      const channel = yield* amqp.confirmChannel({
        setup: (channel) => channel.assertQueue(queue, { durable: false })
      })
      yield* channel.await({ timeout: "10 seconds" })
      return { amqp, channel }
    }).pipe(Scope.extend(scope), quiet)
  )
  const publish = () => channel.publish("", queue, content)
  return {
    name: "redial",
    queue,
    publish: effectLoops(publish),
    consume: (count, prefetch) =>
      Effect.runPromise(
        amqp.consume(queue, { prefetch }).pipe(
          Stream.take(count),
          Stream.runForEach((delivery) => delivery.ack),
          quiet
        )
      ),
    close: () =>
      Effect.runPromise(
        Effect.zipRight(
          Effect.ignore(channel.call((channel) => channel.deleteQueue(queue))),
          Scope.close(scope, Exit.void)
        ).pipe(quiet)
      )
  }
}

export const raw = async (): Promise<Contender> => {
  const queue = Rabbit.unique("bench-amqplib")
  const model = await rawConnection(Rabbit.unique("bench-amqplib"))
  const channel = await model.createConfirmChannel()
  channel.on("error", noop)
  await channel.assertQueue(queue, { durable: false })
  const publish = () =>
    new Promise<void>((resolve, reject) => {
      channel.publish("", queue, content, {}, (error) => error ? reject(error) : resolve())
    })
  return {
    name: "amqplib",
    queue,
    publish: promiseLoops(publish),
    consume: async (count, prefetch) => {
      const consumer = await model.createChannel()
      consumer.on("error", noop)
      await consumer.prefetch(prefetch)
      const { finished, tick } = counted(count)
      const { consumerTag } = await consumer.consume(queue, (message) => {
        if (message === null) return
        consumer.ack(message)
        tick()
      })
      await finished
      await consumer.cancel(consumerTag)
      await consumer.close()
    },
    close: async () => {
      await channel.deleteQueue(queue).catch(noop)
      await model.close().catch(noop)
    }
  }
}

/**
 * The floor of any Effect client: the raw amqplib channels of {@link raw}, publishing in
 * `Effect.async` from fibers (as redial's loops do), consuming through `Stream.asyncPush` with each
 * message acked in `Effect.sync`. What wrapping amqplib in Effect costs at least, with none of
 * redial's work (buffer, message ids, republishing, reconnects).
 */
export const rawEffect = async (): Promise<Contender> => {
  const queue = Rabbit.unique("bench-amqplib-effect")
  const model = await rawConnection(Rabbit.unique("bench-amqplib-effect"))
  const channel = await model.createConfirmChannel()
  channel.on("error", noop)
  await channel.assertQueue(queue, { durable: false })
  const publish = () =>
    Effect.async<void, unknown>((resume) => {
      channel.publish("", queue, content, {}, (error) => resume(error ? Effect.fail(error) : Effect.void))
    })
  return {
    name: "amqplib:effect",
    queue,
    publish: effectLoops(publish),
    consume: (count, prefetch) =>
      Effect.runPromise(Effect.gen(function*() {
        const consumer = yield* Effect.promise(() => model.createChannel())
        consumer.on("error", noop)
        yield* Effect.promise(() => consumer.prefetch(prefetch))
        // asyncPush reads what arrived in chunks (asyncScoped runs a fiber per emit).
        const messages = Stream.asyncPush<amqplib.ConsumeMessage>((emit) =>
          Effect.acquireRelease(
            Effect.promise(() =>
              consumer.consume(queue, (message) => {
                if (message !== null) emit.single(message)
              })
            ),
            ({ consumerTag }) => Effect.promise(() => consumer.cancel(consumerTag))
          ), { bufferSize: "unbounded" })
        yield* messages.pipe(
          Stream.take(count),
          Stream.runForEach((message) => Effect.sync(() => consumer.ack(message)))
        )
        yield* Effect.promise(() => consumer.close())
      })),
    close: async () => {
      await channel.deleteQueue(queue).catch(noop)
      await model.close().catch(noop)
    }
  }
}

export const acm = async (): Promise<Contender> => {
  const queue = Rabbit.unique("bench-acm")
  const manager = amqpConnectionManager.connect([Rabbit.url], {
    heartbeatIntervalInSeconds: HEARTBEAT,
    connectionOptions: { noDelay: true, clientProperties: { connection_name: Rabbit.unique("bench-acm") } }
  })
  manager.on("error", noop)
  const wrapper: ChannelWrapper = manager.createChannel({
    setup: (channel: amqplib.ConfirmChannel) => channel.assertQueue(queue, { durable: false }).then(noop)
  })
  wrapper.on("error", noop)
  await wrapper.waitForConnect()
  const publish = () => wrapper.publish("", queue, content)
  return {
    name: "amqp-connection-manager",
    queue,
    publish: promiseLoops(publish),
    consume: async (count, prefetch) => {
      const consumer = manager.createChannel({ confirm: false })
      consumer.on("error", noop)
      await consumer.waitForConnect()
      const { finished, tick } = counted(count)
      const { consumerTag } = await consumer.consume(queue, (message) => {
        consumer.ack(message)
        tick()
      }, { prefetch })
      await finished
      await consumer.cancel(consumerTag)
      await consumer.close()
    },
    close: async () => {
      await wrapper.deleteQueue(queue).catch(noop)
      await wrapper.close().catch(noop)
      await manager.close().catch(noop)
    }
  }
}

const makers: ReadonlyArray<{ readonly name: string; readonly make: () => Promise<Contender> }> = [
  { name: "redial", make: redial },
  { name: "amqplib", make: raw },
  { name: "amqp-connection-manager", make: acm },
  { name: "amqplib:effect", make: rawEffect }
]

/** The contenders named (comma-separated; all when undefined), in the order of the tables. */
export const make = (names?: string): Promise<ReadonlyArray<Contender>> =>
  Promise.all(choose(makers, names).map(({ make }) => make()))

/**
 * Fills `queue` with `count` messages of {@link content} on `channel` (a confirm channel of its
 * own): sent as fast as the socket takes them (`drain` honoured), then every confirm awaited.
 */
export const fill = async (channel: amqplib.ConfirmChannel, queue: string, count: number): Promise<void> => {
  for (let i = 0; i < count; i++) {
    if (!channel.sendToQueue(queue, content)) {
      await new Promise<void>((resolve) => channel.once("drain", resolve))
    }
  }
  await channel.waitForConfirms()
}
