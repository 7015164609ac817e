/**
 * Overload against the real server: requests offered at 3× what a pool of `SIZE` serves, on a
 * steady schedule (open loop: a request starts when its time comes, whether or not earlier ones
 * have finished), each a query that holds its connection for about `SLEEP_MS` on the server
 * (`select pg_sleep(…)`):
 *
 * - capacity: first measured with pg-pool, `SIZE × 4` closed loops of the query for
 *   `CAPACITY_MS`; the offered rate is three times that;
 * - redial: `pool.run((conn) => conn.query(sleep))` on `PgPool.make({ size: SIZE })`, each
 *   request its own fiber (`Effect.runCallback`), with the default queueTarget (50 ms) and
 *   queueInterval (2000 ms), and again with queueInterval 500 ms;
 * - pg-pool: `pool.connect()`, `client.query(sleep)`, `release()` on `new pg.Pool({ max: SIZE })`
 *   (what `pool.query` does); its queue has no bound and no timeout by default.
 *
 * Request `i` is due at `start + i / rate`; a 1 ms interval timer starts every request that is
 * due, and a request's latency counts from the time it was due (so a late start counts against
 * the pool, not for it). After `DURATION_MS` no more requests start; after `GRACE_MS` more, a
 * request that has not got a connection yet is "still queued": it gives the connection back at
 * once, unserved, so the queues drain quickly. Latencies are those of the requests served (from
 * due to done). The same table as @redial/pool's overload benchmark.
 */
import { Timeout } from "@redial/core"
import { Dropped } from "@redial/pool"
import { Cause, Effect, Exit, Option } from "effect"
import { setInterval as every, setTimeout as sleep } from "node:timers/promises"
import { collect, fixed, met, percent, percentile, promiseLoops, table, thousands } from "../../../bench/report.js"
import * as Pg from "../test/support/pg.js"
import * as Contenders from "./contenders.js"

const SIZE = 4
const SLEEP_MS = 5
const QUERY = `select pg_sleep(${SLEEP_MS / 1000})`
const CAPACITY_MS = 1_500
const DURATION_MS = 8_000
const GRACE_MS = 500
/** The latency by window of completion, in windows of this length. */
const WINDOW_MS = 2_000
const QUEUE_TARGET_MS = 50

/** What became of the requests of one run. */
class Outcomes {
  /** [due, done] of every served request, in the order they finished. */
  readonly served: Array<readonly [number, number]> = []
  dropped = 0
  timedOut = 0
  unserved = 0
  failed = 0
  settled = 0
  serve(due: number): void {
    this.served.push([due, performance.now()])
    this.settled++
  }
  count(outcome: "dropped" | "timedOut" | "unserved" | "failed"): void {
    this[outcome]++
    this.settled++
  }
}

/**
 * Starts one request due at `due`. `open()` says whether the run still serves: once it is false, a
 * request that gets a connection gives it back at once and counts as unserved.
 */
type Request = (due: number, outcomes: Outcomes, open: () => boolean) => void

interface Target {
  readonly name: string
  readonly application: string
  readonly request: Request
  readonly close: () => Promise<void>
}

const redial = async (name: string, queueInterval?: number): Promise<Target> => {
  const application = Pg.unique("bench_overload_redial")
  const { close, pool } = await Contenders.redialPool(application, SIZE, {
    queueTarget: QUEUE_TARGET_MS,
    ...(queueInterval === undefined ? {} : { queueInterval })
  })
  return {
    name,
    application,
    request: (due, outcomes, open) => {
      Effect.runCallback(
        pool.run((conn) => open() ? Effect.as(conn.query(QUERY), true) : Effect.succeed(false)),
        {
          onExit: (exit) => {
            if (Exit.isSuccess(exit)) {
              if (exit.value) outcomes.serve(due)
              else outcomes.count("unserved")
            } else {
              const error = Option.getOrUndefined(Cause.failureOption(exit.cause))
              outcomes.count(error instanceof Dropped ? "dropped" : error instanceof Timeout ? "timedOut" : "failed")
            }
          }
        }
      )
    },
    close
  }
}

const pgPool = async (): Promise<Target> => {
  const application = Pg.unique("bench_overload_pgpool")
  const pool = Contenders.pgPool(application, SIZE)
  // Open every connection before the load, as redial's pool is.
  const clients = await Promise.all(Array.from({ length: SIZE }, () => pool.connect()))
  for (const client of clients) client.release()
  return {
    name: "pg-pool",
    application,
    request: (due, outcomes, open) => {
      pool.connect().then(async (client) => {
        if (!open()) {
          client.release()
          outcomes.count("unserved")
          return
        }
        try {
          await client.query(QUERY)
          client.release()
          outcomes.serve(due)
        } catch (error) {
          client.release(error instanceof Error ? error : true)
          outcomes.count("failed")
        }
      }, () => outcomes.count("failed"))
    },
    close: () => pool.end()
  }
}

/** Queries/s that a pg-pool of `SIZE` serves, its connections always busy. */
const capacity = async (): Promise<number> => {
  const pool = Contenders.pgPool(Pg.unique("bench_overload_capacity"), SIZE)
  try {
    const loops = promiseLoops(() => pool.query(QUERY))
    await loops(SIZE * 4, performance.now() + 300)
    const start = performance.now()
    const queries = await loops(SIZE * 4, start + CAPACITY_MS)
    return queries / ((performance.now() - start) / 1000)
  } finally {
    await pool.end()
  }
}

interface Result {
  readonly name: string
  readonly offered: number
  readonly outcomes: Outcomes
  /** Served latencies, ascending. */
  readonly latencies: ReadonlyArray<number>
  /** p99 of the requests that finished in each window of `WINDOW_MS` (the last one takes the grace too). */
  readonly windows: ReadonlyArray<number>
  /** p99 of the requests that finished `settleMs` or more after the start. */
  readonly p99Settled: number
  readonly backendsLeft: number
}

/** Offers `rate` requests/s for `DURATION_MS`, then waits for every request to settle. */
const overload = async (target: Target, rate: number, settleMs: number): Promise<Omit<Result, "backendsLeft">> => {
  collect()
  const outcomes = new Outcomes()
  let open = true
  const isOpen = () => open
  const total = Math.round((rate * DURATION_MS) / 1000)
  const start = performance.now()
  let started = 0
  for await (const _ of every(1)) {
    const due = Math.min(total, Math.floor(((performance.now() - start) * rate) / 1000) + 1)
    for (; started < due; started++) target.request(start + (started * 1000) / rate, outcomes, isOpen)
    if (started >= total) break
  }
  await sleep(GRACE_MS)
  open = false
  // The queues drain in well under a second once nothing is served.
  for (let waited = 0; outcomes.settled < total && waited < 30_000; waited += 10) await sleep(10)
  const end = start + DURATION_MS
  const windows = Array.from({ length: Math.ceil(DURATION_MS / WINDOW_MS) }, (_, i) => {
    const from = start + i * WINDOW_MS
    const to = from + WINDOW_MS >= end ? Infinity : from + WINDOW_MS
    const inWindow = outcomes.served.filter(([, done]) => done >= from && done < to).map(([due, done]) => done - due)
    return percentile(inWindow.sort((a, b) => a - b), 99)
  })
  const after = outcomes.served.filter(([, done]) => done >= start + settleMs).map(([due, done]) => done - due)
  return {
    name: target.name,
    offered: total,
    outcomes,
    latencies: outcomes.served.map(([due, done]) => done - due).sort((a, b) => a - b),
    windows,
    p99Settled: percentile(after.sort((a, b) => a - b), 99)
  }
}

const ms = (value: number): string =>
  Number.isNaN(value) ? "—" : value >= 1000 ? `${fixed(value / 1000, 2)} s` : `${fixed(value, 1)} ms`

export const run = async (): Promise<string> => {
  const served = await capacity()
  const rate = 3 * served
  /** Service time as the pool sees it (the query, its round trip and the hand-offs). */
  const serviceMs = (SIZE / served) * 1000
  /** redial's p99 of served requests below 4 × queueTarget + the service time. */
  const targetMs = Math.round(4 * QUEUE_TARGET_MS + serviceMs)
  const results: Array<Result> = []
  const targets: ReadonlyArray<readonly [() => Promise<Target>, number]> = [
    [() => redial("redial (queueInterval 2000 ms, the default)"), 2 * 2000],
    [() => redial("redial (queueInterval 500 ms)", 500), 2 * 500],
    [pgPool, 0]
  ]
  for (const [make, settleMs] of targets) {
    const target = await make()
    let result: Omit<Result, "backendsLeft">
    try {
      result = await overload(target, rate, settleMs)
    } finally {
      await target.close()
    }
    results.push({ ...result, backendsLeft: await Contenders.leftBackends(target.application) })
  }
  const rows = results.map((result) => {
    const { latencies, offered, outcomes } = result
    const isRedial = result.name.startsWith("redial")
    const p99 = percentile(latencies, 99)
    return [
      result.name,
      `${thousands(outcomes.served.length)} (${percent(outcomes.served.length / offered)})`,
      ms(percentile(latencies, 50)),
      ms(p99),
      ms(latencies[latencies.length - 1] ?? NaN),
      percent((outcomes.dropped + outcomes.timedOut) / offered),
      percent(outcomes.unserved / offered),
      result.windows.map(ms).join(" → "),
      isRedial ? `p99 < ${targetMs} ms` : "",
      isRedial ? met(p99 < targetMs) : "",
      isRedial ? ms(result.p99Settled) : "",
      isRedial ? met(result.p99Settled < targetMs) : "",
      String(result.backendsLeft)
    ]
  })
  const failures = results.filter((result) => result.outcomes.failed > 0)
  return table(
    `Overload: ${thousands(rate)} queries/s offered for ${DURATION_MS / 1000} s to a pool of ${SIZE} ` +
      `(\`${QUERY}\`; capacity ${thousands(served)}/s measured with pg-pool: 3×), open loop, local PostgreSQL`,
    [
      "pool",
      "served",
      "p50",
      "p99",
      "max",
      "dropped / timed out",
      "still queued at the end",
      `p99 by ${WINDOW_MS / 1000}-s window of completion`,
      "target",
      "met? (whole run)",
      "p99 from 2 × queueInterval on",
      "met? (from then on)",
      "backends left"
    ],
    rows,
    [
      `Latency: from the time a request was due to its end, of the requests served. "Still queued at the end": ` +
      `no connection ${GRACE_MS} ms after the last request started (given back unserved). Target: ` +
      `4 × queueTarget (${QUEUE_TARGET_MS} ms) + the service time (${fixed(serviceMs, 1)} ms at the measured ` +
      `capacity). "From 2 × queueInterval on": the requests that finished after that time — CoDel judges an ` +
      `interval by the least wait in it, and the first interval starts with an empty queue, so shedding can ` +
      `begin at the end of the second.`,
      ...failures.map((result) => `- ${result.name}: ${result.outcomes.failed} requests failed otherwise.`)
    ]
  )
}
