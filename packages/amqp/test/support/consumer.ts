/**
 * What the consumer tests share: a queue declared for one test and deleted after it, a direct
 * publisher (its own amqplib connection and confirm channel, not the connection under test),
 * the broker's view of a queue, a reader that pulls one delivery at a time, and a logger that
 * keeps the lines.
 */
import * as amqplib from "amqplib"
import * as Data from "effect/Data"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Logger from "effect/Logger"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Rabbit from "./rabbit.js"

const noop = () => {}

/** Deletes a queue (no error when it is absent). */
export const deleteQueue = (name: string): Effect.Effect<void, unknown> =>
  Effect.asVoid(Rabbit.withChannel((channel) => channel.deleteQueue(name)))

/** Declares a queue. */
export const declareQueue = (name: string, options: amqplib.Options.AssertQueue = {}): Effect.Effect<void, unknown> =>
  Effect.asVoid(Rabbit.withChannel((channel) => channel.assertQueue(name, options)))

/** A queue for one test (a unique name): declared now unless `declare: false`, deleted when the scope ends. */
export const queue = (
  options: { readonly declare?: boolean } = {}
): Effect.Effect<string, unknown, Scope.Scope> => {
  const name = Rabbit.unique("consume")
  return Effect.acquireRelease(
    Effect.as(options.declare === false ? Effect.void : declareQueue(name), name),
    () => Effect.ignore(deleteQueue(name))
  )
}

/** Publishes on a connection of its own, straight to the broker, and waits for the confirms. */
export const publisher = Effect.map(
  Effect.acquireRelease(
    Effect.promise(async () => {
      const connection = await amqplib.connect(Rabbit.url)
      connection.on("error", noop)
      const channel = await connection.createConfirmChannel()
      channel.on("error", noop)
      return { connection, channel }
    }),
    ({ connection }) => Effect.promise(() => connection.close().catch(noop))
  ),
  ({ channel }) => ({
    send: (
      queue: string,
      bodies: ReadonlyArray<string>,
      options: amqplib.Options.Publish = {}
    ): Effect.Effect<void, unknown> =>
      Effect.tryPromise({
        try: async () => {
          for (const body of bodies) channel.sendToQueue(queue, Buffer.from(body), options)
          await channel.waitForConfirms()
        },
        catch: (error) => error
      })
  })
)

/** `"m0"`, `"m1"` … */
export const bodies = (from: number, to: number): Array<string> =>
  Array.from({ length: to - from }, (_, i) => `m${from + i}`)

/** The broker's counts of a queue (rabbitmqctl), or none when it does not exist. */
export interface QueueStats {
  readonly ready: number
  readonly unacked: number
  readonly consumers: number
}

export const stats = (queue: string): Effect.Effect<Option.Option<QueueStats>> =>
  Effect.map(
    Rabbit.rabbitmqctl(
      "list_queues",
      "name",
      "messages_ready",
      "messages_unacknowledged",
      "consumers",
      "--quiet",
      "--no-table-headers"
    ),
    (output) => {
      const row = output.split("\n").map((line) => line.split("\t")).find(([name]) => name === queue)
      return row === undefined
        ? Option.none()
        : Option.some({ ready: Number(row[1]), unacked: Number(row[2]), consumers: Number(row[3]) })
    }
  )

/** The queue's counts, failing the test when it does not exist. */
export const statsOf = (queue: string): Effect.Effect<QueueStats> =>
  Effect.flatMap(stats(queue), (found) =>
    Option.match(found, {
      onNone: () => Effect.die(new Error(`queue ${queue} does not exist`)),
      onSome: Effect.succeed
    }))

/** A passive declare on a fresh channel: ready messages and consumers, fast (no rabbitmqctl). */
export const check = (queue: string): Effect.Effect<{ readonly ready: number; readonly consumers: number }, unknown> =>
  Effect.map(
    Rabbit.withChannel((channel) => channel.checkQueue(queue)),
    (ok) => ({ ready: ok.messageCount, consumers: ok.consumerCount })
  )

export class WaitTimedOut extends Data.TaggedError("WaitTimedOut")<{
  readonly description: string
  readonly last: unknown
}> {
  override get message() {
    return `Timed out waiting for ${this.description}; last value: ${JSON.stringify(this.last)}`
  }
}

/**
 * Asks the broker (it sends no events for these) every `interval` until `predicate` holds;
 * fails with `WaitTimedOut` after `timeout`.
 */
export const eventually = <A, E, R>(
  self: Effect.Effect<A, E, R>,
  predicate: (value: A) => boolean,
  description: string,
  options: { readonly timeout?: Duration.DurationInput; readonly interval?: Duration.DurationInput } = {}
): Effect.Effect<A, E | WaitTimedOut, R> =>
  Effect.suspend(() => {
    let last: unknown = undefined
    const poll: Effect.Effect<A, E, R> = Effect.flatMap(self, (value) => {
      last = value
      return predicate(value)
        ? Effect.succeed(value)
        : Effect.zipRight(Effect.sleep(options.interval ?? "50 millis"), poll)
    })
    return Effect.timeoutFail(poll, {
      duration: Duration.decode(options.timeout ?? "20 seconds"),
      onTimeout: () => new WaitTimedOut({ description, last })
    })
  })

export class NothingArrived extends Data.TaggedError("NothingArrived")<{ readonly waited: Duration.DurationInput }> {
  override get message() {
    return `Nothing arrived within ${Duration.format(Duration.decode(this.waited))}`
  }
}

/**
 * Runs a stream in the current scope into a queue of `capacity` elements (default unbounded; a
 * small one holds the stream back, as a slow reader does): `next` waits for one element (at
 * most `timeout`), `exit` for the stream's end.
 */
export const reader = <A, E>(stream: Stream.Stream<A, E>, capacity?: number) =>
  Effect.gen(function*() {
    const elements = yield* (capacity === undefined ? Queue.unbounded<A>() : Queue.bounded<A>(capacity))
    const done = yield* Deferred.make<void, E>()
    yield* Stream.runForEach(stream, (a) => Queue.offer(elements, a)).pipe(
      Effect.exit,
      Effect.flatMap((exit) => Deferred.done(done, exit)),
      Effect.forkScoped
    )
    const next = (timeout: Duration.DurationInput = "10 seconds"): Effect.Effect<A, NothingArrived> =>
      Effect.timeoutFail(Queue.take(elements), {
        duration: timeout,
        onTimeout: () => new NothingArrived({ waited: timeout })
      })
    const take = (n: number, timeout?: Duration.DurationInput): Effect.Effect<Array<A>, NothingArrived> =>
      Effect.forEach(Array.from({ length: n }), () => next(timeout))
    /** Waits for the stream to end: its exit. */
    const exit = (timeout: Duration.DurationInput = "20 seconds") =>
      Effect.timeoutFail(Effect.exit(Deferred.await(done)), {
        duration: timeout,
        onTimeout: () => new NothingArrived({ waited: timeout })
      })
    return { next, take, exit, size: Queue.size(elements) }
  })

/** A logger that keeps every line (message parts joined, with the level). */
export const captureLogs = () => {
  const lines: Array<{ readonly level: string; readonly message: string }> = []
  const logger = Logger.make(({ logLevel, message }) => {
    lines.push({
      level: logLevel.label,
      message: (Array.isArray(message) ? message : [message]).map((part) => String(part)).join(" ")
    })
  })
  return { lines, layer: Logger.replace(Logger.defaultLogger, logger) }
}

/** The content of a delivery as text. */
export const text = (delivery: { readonly content: Buffer }): string => delivery.content.toString()
