/**
 * Confirmed publishes per second and consumed messages per second, 1 KB messages, against the
 * local broker: redial, raw amqplib and amqp-connection-manager side by side in one process (the
 * clients of contenders.ts, each on its own connection and queue), with the floor of any Effect
 * client: raw amqplib called from fibers through `Effect.async` / `Stream.asyncPush`.
 *
 * - Publishes: `c` loops (1 or 64 messages in flight), each publishing and awaiting the broker's
 *   confirm before its next publish. Each measurement runs one client for `WARMUP_MS` (not
 *   counted), then, after a full GC, for `MEASURE_MS`; publishes/s = confirmed publishes / time
 *   until the last loop's last confirm. The queue is purged before and after each measurement so
 *   the broker holds at most one measurement's messages.
 * - Consumes: the client's queue is filled with `CONSUME_COUNT` messages (by a separate amqplib
 *   connection, not timed), then the client consumes them with prefetch `PREFETCH`, acking each:
 *   messages/s = `CONSUME_COUNT` / time from opening the consumer (its channel included) to the
 *   last ack.
 *
 * CPU µs per message is this process's user + system time: the client alone (the broker is a
 * process of its own). A round measures every client; the order of the clients changes from
 * round to round; a first round, shorter and not counted, warms the JIT. The tables give the
 * medians of the rounds; the samples below them show the spread.
 */
import type * as amqplib from "amqplib"
import { collect, fixed, list, median, met, order, ratio, table, thousands } from "../../../bench/report.js"
import * as Contenders from "./contenders.js"

const WARMUP_MS = 400
const MEASURE_MS = 1_200
const ROUNDS = 5
const CONCURRENCY: ReadonlyArray<number> = [1, 64]
const CONSUME_COUNT = 8_000
const PREFETCH = 100
/** redial ≥ RAW_TARGET × amqplib and ≥ ACM_TARGET × amqp-connection-manager. */
const RAW_TARGET = 0.9
const ACM_TARGET = 1

export interface Measured {
  readonly perSecond: number
  /** CPU time (user + system) of this process per message, in µs. */
  readonly cpu: number
}

/** Runs `run` (which handles some messages and says how many), timing it and its CPU. */
export const measure = async (run: () => Promise<number>): Promise<Measured> => {
  const cpu = process.cpuUsage()
  const start = performance.now()
  const messages = await run()
  const seconds = (performance.now() - start) / 1000
  const used = process.cpuUsage(cpu)
  return { perSecond: messages / seconds, cpu: (used.user + used.system) / messages }
}

export const publishOnce = (
  contender: Contenders.Contender,
  concurrency: number,
  millis: number
): Promise<Measured> => measure(() => contender.publish(concurrency, performance.now() + millis))

/** The bench's own connection: purges the contenders' queues and fills them for the consumers. */
export interface Helper {
  readonly purge: (queue: string) => Promise<void>
  readonly fill: (queue: string, count: number) => Promise<void>
  readonly close: () => Promise<void>
}

export const helper = async (): Promise<Helper> => {
  const model = await Contenders.rawConnection("bench-helper")
  const channel: amqplib.ConfirmChannel = await model.createConfirmChannel()
  channel.on("error", () => {})
  return {
    purge: async (queue) => {
      await channel.purgeQueue(queue)
    },
    fill: (queue, count) => Contenders.fill(channel, queue, count),
    close: () => model.close().catch(() => {})
  }
}

type Samples = Map<string, Array<Measured>>

const add = (samples: Samples, key: string, measured: Measured) => {
  samples.set(key, [...(samples.get(key) ?? []), measured])
}

const round = async (
  r: number,
  contenders: ReadonlyArray<Contenders.Contender>,
  helper: Helper,
  settings: { readonly warmupMs: number; readonly measureMs: number; readonly consumeCount: number },
  record: (key: string, measured: Measured) => void
): Promise<void> => {
  for (const contender of order(contenders, r)) {
    for (const concurrency of CONCURRENCY) {
      await publishOnce(contender, concurrency, settings.warmupMs)
      await helper.purge(contender.queue)
      collect()
      record(`publish:${contender.name}@${concurrency}`, await publishOnce(contender, concurrency, settings.measureMs))
      await helper.purge(contender.queue)
    }
    await helper.fill(contender.queue, settings.consumeCount)
    collect()
    record(
      `consume:${contender.name}`,
      await measure(async () => {
        await contender.consume(settings.consumeCount, PREFETCH)
        return settings.consumeCount
      })
    )
    await helper.purge(contender.queue)
  }
}

const NAMES = {
  redial: "redial `confirmChannel().publish`",
  amqplib: "amqplib `ConfirmChannel.publish` + callback",
  "amqp-connection-manager": "amqp-connection-manager `ChannelWrapper.publish`",
  "amqplib:effect": "amqplib in `Effect.async` from fibers (the floor of an Effect client)"
} as const

const CONSUMER_NAMES = {
  redial: "redial `amqp.consume` Stream, `delivery.ack`",
  amqplib: "amqplib `channel.consume`, `channel.ack`",
  "amqp-connection-manager": "amqp-connection-manager `ChannelWrapper.consume`, `ack`",
  "amqplib:effect": "amqplib through `Stream.asyncPush`, ack in `Effect.sync` (the floor of an Effect client)"
} as const

/** (max − min) / median of the samples, in %. */
const spread = (values: ReadonlyArray<number>): string =>
  `±${fixed(((Math.max(...values) - Math.min(...values)) / 2 / median(values)) * 100, 0)} %`

const report = (samples: Samples, rounds: number, settings: { readonly measureMs: number }): string => {
  const of = (key: string) => samples.get(key) ?? []
  const perSecond = (key: string) => median(of(key).map((m) => m.perSecond))
  const cpu = (key: string) => median(of(key).map((m) => m.cpu))
  const names = Object.keys(NAMES) as ReadonlyArray<keyof typeof NAMES>

  const lines = (prefix: string, suffix: string, first: ReadonlyArray<string>, labels: Record<string, string>) => {
    const rawRate = perSecond(`${prefix}amqplib${suffix}`)
    const acmRate = perSecond(`${prefix}amqp-connection-manager${suffix}`)
    return names.map((name) => {
      const key = `${prefix}${name}${suffix}`
      const rate = perSecond(key)
      // The floor is compared too: what any Effect client could reach.
      const isRedial = name === "redial" || name === "amqplib:effect"
      const hasTarget = name === "redial"
      return [
        ...first,
        labels[name]!,
        thousands(rate),
        spread(of(key).map((m) => m.perSecond)),
        fixed(cpu(key), 0),
        isRedial ? ratio(rate, rawRate) : "",
        isRedial ? ratio(rate, acmRate) : "",
        hasTarget ? met(rate / rawRate >= RAW_TARGET) : "",
        hasTarget ? met(rate / acmRate >= ACM_TARGET) : ""
      ]
    })
  }
  const targets = [`≥ ${RAW_TARGET}× amqplib?`, `≥ ${ACM_TARGET}× ACM?`]

  const publishNotes = CONCURRENCY.flatMap((concurrency) =>
    names.map((name) => {
      const values = of(`publish:${name}@${concurrency}`)
      return `- ${name}, ${concurrency} in flight: ${list(values.map((m) => m.perSecond), thousands)} publishes/s; ` +
        `${list(values.map((m) => m.cpu), (n) => fixed(n, 0))} µs CPU/message`
    })
  )
  const consumeNotes = names.map((name) => {
    const values = of(`consume:${name}`)
    return `- ${name}: ${list(values.map((m) => m.perSecond), thousands)} messages/s; ` +
      `${list(values.map((m) => m.cpu), (n) => fixed(n, 0))} µs CPU/message`
  })

  return [
    table(
      `Confirmed publishes/s, 1 KB messages, local RabbitMQ — ${rounds} rounds of ${
        settings.measureMs / 1000
      } s, medians`,
      ["in flight", "client", "publishes/s", "spread", "CPU µs/msg", "÷ amqplib", "÷ ACM", ...targets],
      CONCURRENCY.flatMap((concurrency) => lines("publish:", `@${concurrency}`, [String(concurrency)], NAMES)),
      [
        "A publish completes when the broker's confirm arrives; `in flight` loops each await their publish before",
        "the next. Spread: half the range of the rounds' samples, against the median. CPU µs/msg: this process's",
        "user + system time per message (the client alone: the broker runs apart).",
        "",
        "Samples (one per round):",
        "",
        ...publishNotes
      ]
    ),
    "",
    table(
      `Consumed messages/s, 1 KB messages, a queue pre-filled with ${
        thousands(CONSUME_COUNT)
      }, prefetch ${PREFETCH}, ` +
        `each acked — ${rounds} rounds, medians`,
      ["client", "messages/s", "spread", "CPU µs/msg", "÷ amqplib", "÷ ACM", ...targets],
      lines("consume:", "", [], CONSUMER_NAMES),
      ["Timed from opening the consumer (its channel included) to the last ack.", "", "Samples:", "", ...consumeNotes]
    )
  ].join("\n")
}

export const run = async (
  {
    clients = undefined as string | undefined,
    consumeCount = CONSUME_COUNT,
    measureMs = MEASURE_MS,
    rounds = ROUNDS,
    warmupMs = WARMUP_MS
  } = {}
): Promise<string> => {
  const contenders = await Contenders.make(clients)
  const bench = await helper()
  try {
    const samples: Samples = new Map()
    // A first round, short and not counted, warms the JIT for every client.
    await round(0, contenders, bench, { warmupMs, measureMs: warmupMs, consumeCount: consumeCount / 4 }, () => {})
    for (let r = 0; r < rounds; r++) {
      await round(
        r,
        contenders,
        bench,
        { warmupMs, measureMs, consumeCount },
        (key, measured) => add(samples, key, measured)
      )
    }
    return report(samples, rounds, { measureMs })
  } finally {
    await bench.close()
    for (const contender of contenders) await contender.close()
  }
}
