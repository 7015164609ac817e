/**
 * How soon the publisher is back after the broker is: the time from the moment a refusing path
 * accepts connections again to the first confirmed publish, against what the reconnect policy
 * allows, the remaining wait of the backoff in progress.
 *
 * A connection with `Reconnect.fixed(DELAY)` and a confirm channel on it (default channel
 * options; its setup declares a queue) talk to the local broker through a `FaultProxy`. Each
 * repetition:
 *
 * 1. publishes one message (confirmed), then `proxy.refuse(true)` and `proxy.cut`: the connection
 *    dies, the next attempt is refused, the connection enters `Backoff` (its `delay` is the
 *    policy's); a fiber on each of `amqp.changes` and `channel.changes` notes when each status
 *    arrived;
 * 2. sleeps until `offset` into that backoff (offsets spread over the delay, one per repetition),
 *    then `proxy.refuse(false)`: the restore, at time R; remaining = delay − (R − the time the
 *    Backoff status arrived);
 * 3. right at R starts a publish: it waits in the publisher's buffer and is sent once the channel
 *    is open again, so its confirm is the recovery, with no polling granularity. The connection's
 *    and the channel's `Connected` statuses split that time into the AMQP connect (TCP +
 *    handshake through the proxy), the channel's opening and setup, and the publish's round trip.
 *
 * recovery − remaining is then what redial adds to the policy's wait. Its floor, measured in each
 * repetition once redial is back: plain amqplib through the same proxy connects, opens a confirm
 * channel, declares the queue and publishes one message, confirmed (what any client must do after
 * an outage). Before each cut the connection stays up for `SETTLE_MS`, longer than the channel's
 * `minUptime` (1 s), so the cut is the loss of a channel that lived (reopened at once), not a
 * failed opening. The heap is
 * read (after full GCs) after the first and after the last repetition: it stays flat over the
 * reconnects. The proxy also counts the TCP connections it accepted: one per connect attempt of
 * redial's (the floor's own connections taken out).
 */
import { AmqpConnection } from "@redial/amqp"
import type { AmqpChannel } from "@redial/amqp"
import { type Connection, Reconnect } from "@redial/core"
import { FaultProxy } from "@redial/testing"
import * as amqplib from "amqplib"
import { Duration, Effect, Exit, Fiber, Logger, LogLevel, Queue, Scope, Stream } from "effect"
import { fixed, heapUsed, list, median, met, table } from "../../../bench/report.js"
import * as Rabbit from "../test/support/rabbit.js"
import { HEARTBEAT } from "./contenders.js"

const DELAY_MS = 500
/** Where in the backoff the restore falls, as fractions of the delay: one repetition each. */
const OFFSETS: ReadonlyArray<number> = [0.05, 0.2, 0.35, 0.5, 0.65, 0.8, 0.95]
const SETTLE_MS = 1_200
const TARGET_MS = 100

interface Sample {
  /** ms into the backoff at the restore. */
  readonly offset: number
  /** ms of the backoff left at the restore. */
  readonly remaining: number
  /** ms from the restore to the connection's `Connected`. */
  readonly connected: number
  /** ms from the restore to the channel's `Connected`. */
  readonly channel: number
  /** ms from the restore to the publish's confirm. */
  readonly confirmed: number
  /** ms for amqplib to connect, open a confirm channel, declare the queue and publish one message, confirmed. */
  readonly floor: number
  /** The channel's failed openings (`Backoff` statuses) from the cut to its `Connected`. */
  readonly channelBackoffs: number
}

interface Event<S> {
  readonly status: S
  readonly at: number
}

type Tagged = { readonly _tag: string }

interface Watched<S> {
  /** Every status since the last `takeAll`, stamped with the time it arrived. */
  readonly queue: Queue.Queue<Event<S>>
  /** How many statuses with that tag arrived in all. */
  readonly count: (tag: string) => number
}

/** Every status of `changes`, stamped with the time it arrived, in a queue; counted by tag. */
const watch = <S extends Tagged>(changes: Stream.Stream<S>): Effect.Effect<Watched<S>, never, Scope.Scope> =>
  Effect.gen(function*() {
    const queue = yield* Queue.unbounded<Event<S>>()
    const counts = new Map<string, number>()
    yield* Effect.forkScoped(
      Stream.runForEach(changes, (status) => {
        counts.set(status._tag, (counts.get(status._tag) ?? 0) + 1)
        return Queue.offer(queue, { status, at: performance.now() })
      })
    )
    return { queue, count: (tag) => counts.get(tag) ?? 0 }
  })

/** The next status with that tag (earlier ones are dropped), when it arrives. */
const next = <S extends Tagged>(queue: Queue.Queue<Event<S>>, tag: string): Effect.Effect<Event<S>, Error> =>
  Effect.flatMap(Queue.take(queue), (event) => event.status._tag === tag ? Effect.succeed(event) : next(queue, tag))
    .pipe(
      Effect.timeoutFail({ duration: "10 seconds", onTimeout: () => new Error(`no ${tag} status within 10 s`) })
    )

const repetition = (
  channel: AmqpChannel.AmqpConfirmChannel,
  queue: string,
  proxy: FaultProxy.FaultProxy,
  connectionEvents: Queue.Queue<Event<AmqpConnection.Status>>,
  channelWatch: Watched<Connection.Status>,
  fraction: number
): Effect.Effect<Sample, unknown> =>
  Effect.gen(function*() {
    // Up longer than the channel's minUptime: the cut is the loss of a channel that lived.
    yield* Effect.sleep(Duration.millis(SETTLE_MS))
    yield* channel.sendToQueue(queue, "before")
    yield* Queue.takeAll(connectionEvents)
    const channelEvents = channelWatch.queue
    yield* Queue.takeAll(channelEvents)
    const backoffsBefore = channelWatch.count("Backoff")
    yield* proxy.refuse(true)
    yield* proxy.cut
    const backoff = yield* next(connectionEvents, "Backoff")
    if (backoff.status._tag !== "Backoff") return yield* Effect.fail(new Error("not a Backoff"))
    const delay = Duration.toMillis(backoff.status.delay)
    yield* Effect.sleep(Duration.millis(Math.max(0, backoff.at + fraction * delay - performance.now())))

    const restoredAt = performance.now()
    yield* proxy.refuse(false)
    const remaining = delay - (restoredAt - backoff.at)
    const publish = yield* Effect.fork(channel.sendToQueue(queue, "recovery"))
    yield* Queue.takeAll(channelEvents)
    const connected = yield* next(connectionEvents, "Connected")
    const opened = yield* next(channelEvents, "Connected")
    yield* Fiber.join(publish)
    const confirmed = performance.now() - restoredAt
    const floor = yield* fromScratch(proxy, queue)
    return {
      offset: restoredAt - backoff.at,
      remaining,
      connected: connected.at - restoredAt,
      channel: opened.at - restoredAt,
      channelBackoffs: channelWatch.count("Backoff") - backoffsBefore,
      confirmed,
      floor
    }
  })

/**
 * The floor of any client: plain amqplib through the same proxy (with the bench's socket
 * settings) connects, opens a confirm channel, declares the queue and publishes one message,
 * awaiting its confirm; then closes.
 */
const fromScratch = (proxy: FaultProxy.FaultProxy, queue: string): Effect.Effect<number, unknown> =>
  Effect.tryPromise(async () => {
    const start = performance.now()
    const model = await amqplib.connect(`amqp://guest:guest@${proxy.address}?heartbeat=${HEARTBEAT}`, {
      noDelay: true
    })
    model.on("error", () => {})
    const channel = await model.createConfirmChannel()
    await channel.assertQueue(queue)
    await new Promise<void>((resolve, reject) =>
      channel.sendToQueue(queue, Buffer.from("floor"), {}, (error) => error ? reject(error) : resolve())
    )
    const took = performance.now() - start
    await model.close()
    return took
  })

interface Counts {
  /** `Connecting` statuses of the connection: the connect attempts. */
  readonly attempts: number
  /** TCP connections the proxy accepted. */
  readonly connections: number
  /** Heap used after the first repetition and after the last, in bytes. */
  readonly heap: readonly [number, number]
}

/** The reconnects' warnings are what the bench provokes: not shown. */
const silent = Logger.withMinimumLogLevel(LogLevel.None)

const ms = (n: number) => fixed(n, 1)

const report = (samples: ReadonlyArray<Sample>, counts: Counts): string => {
  const excess = samples.map((s) => s.confirmed - s.remaining)
  const spread = (values: ReadonlyArray<number>) => `${ms(Math.min(...values))} – ${ms(Math.max(...values))}`
  const summary = (name: string, values: ReadonlyArray<number>, target: boolean) => [
    name,
    ms(median(values)),
    spread(values),
    target ? `≤ ${TARGET_MS} ms` : "",
    target ? met(Math.max(...values) <= TARGET_MS) : ""
  ]
  const mib = (bytes: number) => `${fixed(bytes / 1024 / 1024, 2)} MiB`
  return [
    table(
      `Recovery after the broker is reachable again — \`Reconnect.fixed("${DELAY_MS} millis")\`, through a FaultProxy ` +
        `to the local broker, ${samples.length} repetitions (ms)`,
      ["from the restore to", "median", "min – max", "target (max)", "met?"],
      [
        summary("the first confirmed publish, − the backoff remaining", excess, true),
        summary("the first confirmed publish", samples.map((s) => s.confirmed), false),
        summary("the backoff remaining (the policy's part)", samples.map((s) => s.remaining), false),
        summary(
          "the connection `Connected`, − the backoff remaining",
          samples.map((s) => s.connected - s.remaining),
          false
        ),
        summary("the channel `Connected`, after the connection's", samples.map((s) => s.channel - s.connected), false),
        summary("the confirm, after the channel's `Connected`", samples.map((s) => s.confirmed - s.channel), false),
        summary(
          "floor: amqplib connects, opens a confirm channel, declares the queue, one confirmed publish",
          samples.map((s) => s.floor),
          false
        )
      ]
    ),
    "",
    table(
      "Recovery, each repetition (ms)",
      [
        "restored at (into the backoff)",
        "backoff remaining",
        "connection up",
        "channel up",
        "confirmed",
        "− remaining",
        "floor",
        "channel backoffs"
      ],
      samples.map((s) => [
        ms(s.offset),
        ms(s.remaining),
        ms(s.connected),
        ms(s.channel),
        ms(s.confirmed),
        ms(s.confirmed - s.remaining),
        ms(s.floor),
        String(s.channelBackoffs)
      ]),
      [
        `Samples of confirmed − remaining: ${list(excess)}.`,
        "",
        "\"Remaining\" counts from when the `Backoff` status arrived on `amqp.changes` (the manager publishes it",
        "just before it sleeps). The publish starts at the restore and waits in the publisher's buffer. The",
        "floor is measured in each repetition after redial's recovery, through the same proxy, with the path open.",
        "",
        `TCP connections the proxy accepted: ${counts.connections}, for ${counts.attempts} connect attempts ` +
        `(target: one each; ${met(counts.connections === counts.attempts)}). Heap after the first repetition ` +
        `${mib(counts.heap[0])}, after the last ${mib(counts.heap[1])}.`
      ]
    )
  ].join("\n")
}

export const run = async (): Promise<string> => {
  const scope = Effect.runSync(Scope.make())
  try {
    const [samples, counts] = await Effect.runPromise(
      Effect.gen(function*() {
        const proxy = yield* FaultProxy.make({ target: { port: Rabbit.port } })
        const queue = Rabbit.unique("bench-recovery")
        const amqp = yield* AmqpConnection.make({
          url: `amqp://guest:guest@${proxy.address}`,
          name: Rabbit.unique("bench-recovery"),
          policy: Reconnect.fixed(Duration.millis(DELAY_MS)),
          connectTimeout: "5 seconds",
          autoConnect: false
        })
        const connection = yield* watch(amqp.changes)
        // Connect once the statuses are watched, so every attempt is counted.
        yield* next(connection.queue, "Idle")
        yield* amqp.connect
        const channel = yield* amqp.confirmChannel({ setup: (channel) => channel.assertQueue(queue) })
        yield* Effect.addFinalizer(() => Effect.ignore(Rabbit.withChannel((channel) => channel.deleteQueue(queue))))
        const channelWatch = yield* watch(channel.changes)
        const samples: Array<Sample> = []
        let firstHeap = 0
        for (const fraction of OFFSETS) {
          samples.push(yield* repetition(channel, queue, proxy, connection.queue, channelWatch, fraction))
          if (firstHeap === 0) firstHeap = heapUsed()
        }
        const lastHeap = heapUsed()
        const counts: Counts = {
          attempts: connection.count("Connecting"),
          connections: (yield* proxy.connections).total - samples.length,
          heap: [firstHeap, lastHeap]
        }
        return [samples, counts] as const
      }).pipe(Scope.extend(scope), silent)
    )
    return report(samples, counts)
  } finally {
    await Effect.runPromise(Scope.close(scope, Exit.void).pipe(silent))
  }
}
