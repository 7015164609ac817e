/**
 * Overload: requests offered at 3× what the pool can serve, on a steady schedule (open loop: a
 * request starts when its time comes, whether or not earlier ones have finished), each holding a
 * connection for a simulated service time of `SERVICE_MS` on real timers:
 *
 * - redial: `pool.run(() => Effect.sleep(SERVICE_MS))` (live clock) on `Pool.make(driver, { size: 10 })`,
 *   each request its own fiber (`Effect.runCallback`); with the default queueTarget (50 ms) and
 *   queueInterval (2000 ms), and again with queueInterval 500 ms and 100 ms;
 * - generic-pool and tarn: acquire, `await setTimeout(SERVICE_MS)` (node:timers/promises), release;
 *   their queues have no bound, and their acquire timeout is set to 60 s so that none fails here.
 *
 * Request `i` is due at `start + i / RATE`; a 1 ms interval timer starts every request that is
 * due, and a request's latency counts from the time it was due (so a late start counts against
 * the pool, not for it). After `DURATION_MS` no more requests start; after `GRACE_MS` more, a
 * request that has not got a connection yet is "still queued": it gives the connection back at
 * once, unserved, so the queues drain quickly. Latencies are those of the requests served (from
 * due to done, check-in included).
 */
import { Timeout } from "@redial/core"
import { Dropped } from "@redial/pool"
import { Cause, Effect, Exit, Option } from "effect"
import * as GenericPool from "generic-pool"
import { setInterval as every, setTimeout as sleep } from "node:timers/promises"
import * as Tarn from "tarn"
import { collect, fixed, met, percent, percentile, table, thousands } from "../../../bench/report.js"
import { redialPool } from "./throughput.js"

const SIZE = 10
const SERVICE_MS = 5
/** Three times the pool's capacity (SIZE / SERVICE_MS = 2,000 requests/s). */
const RATE = 3 * (SIZE / SERVICE_MS) * 1000
const DURATION_MS = 10_000
const GRACE_MS = 500
/** The latency by window of completion, in windows of this length. */
const WINDOW_MS = 2_000
const QUEUE_TARGET_MS = 50
/** redial's p99 of served requests below 4 × queueTarget + the service time. */
const TARGET_MS = 4 * QUEUE_TARGET_MS + SERVICE_MS

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
  readonly request: Request
  readonly close: () => Promise<void>
}

const redial = async (name: string, queueInterval?: number): Promise<Target> => {
  const { close, pool } = await redialPool({
    queueTarget: QUEUE_TARGET_MS,
    ...(queueInterval === undefined ? {} : { queueInterval })
  })
  const service = Effect.as(Effect.sleep(SERVICE_MS), true)
  return {
    name,
    request: (due, outcomes, open) => {
      Effect.runCallback(pool.run(() => open() ? service : Effect.succeed(false)), {
        onExit: (exit) => {
          if (Exit.isSuccess(exit)) {
            if (exit.value) outcomes.serve(due)
            else outcomes.count("unserved")
          } else {
            const error = Option.getOrUndefined(Cause.failureOption(exit.cause))
            outcomes.count(error instanceof Dropped ? "dropped" : error instanceof Timeout ? "timedOut" : "failed")
          }
        }
      })
    },
    close
  }
}

interface Resource {
  readonly id: number
}

/** Acquire, serve (or not, once closed), release: the peers' request. */
const promiseRequest = (
  acquire: () => Promise<Resource>,
  release: (resource: Resource) => void,
  isTimeout: (error: unknown) => boolean
): Request =>
(due, outcomes, open) => {
  acquire().then(async (resource) => {
    if (!open()) {
      release(resource)
      outcomes.count("unserved")
      return
    }
    await sleep(SERVICE_MS)
    release(resource)
    outcomes.serve(due)
  }, (error: unknown) => outcomes.count(isTimeout(error) ? "timedOut" : "failed"))
}

const ACQUIRE_TIMEOUT_MS = 60_000

const generic = async (): Promise<Target> => {
  let made = 0
  const pool = GenericPool.createPool<Resource>(
    { create: () => Promise.resolve({ id: ++made }), destroy: () => Promise.resolve() },
    { max: SIZE, min: SIZE, acquireTimeoutMillis: ACQUIRE_TIMEOUT_MS }
  )
  await pool.ready()
  return {
    name: "generic-pool",
    request: promiseRequest(
      () => pool.acquire(),
      (resource) => void pool.release(resource),
      (error) => error instanceof Error && error.name === "TimeoutError"
    ),
    close: () => pool.drain().then(() => pool.clear())
  }
}

const tarn = async (): Promise<Target> => {
  let made = 0
  const pool = new Tarn.Pool<Resource>({
    create: () => Promise.resolve({ id: ++made }),
    destroy: () => {},
    min: SIZE,
    max: SIZE,
    acquireTimeoutMillis: ACQUIRE_TIMEOUT_MS
  })
  // Fill the pool before the load, as the others are.
  const all = await Promise.all(Array.from({ length: SIZE }, () => pool.acquire().promise))
  for (const resource of all) pool.release(resource)
  return {
    name: "tarn",
    request: promiseRequest(
      () => pool.acquire().promise,
      (resource) => void pool.release(resource),
      (error) => error instanceof Tarn.TimeoutError
    ),
    close: async () => {
      await pool.destroy()
    }
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
}

/** Offers `RATE` requests/s for `DURATION_MS`, then waits for every request to settle. */
const overload = async (target: Target, settleMs: number): Promise<Result> => {
  collect()
  const outcomes = new Outcomes()
  let open = true
  const isOpen = () => open
  const total = Math.round((RATE * DURATION_MS) / 1000)
  const start = performance.now()
  let started = 0
  for await (const _ of every(1)) {
    const due = Math.min(total, Math.floor(((performance.now() - start) * RATE) / 1000) + 1)
    for (; started < due; started++) target.request(start + (started * 1000) / RATE, outcomes, isOpen)
    if (started >= total) break
  }
  await sleep(GRACE_MS)
  open = false
  // The peers' queues drain in well under a second once nothing is served.
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
  const results: Array<Result> = []
  const targets: ReadonlyArray<readonly [() => Promise<Target>, number]> = [
    [() => redial("redial (queueInterval 2000 ms, the default)"), 2 * 2000],
    [() => redial("redial (queueInterval 500 ms)", 500), 2 * 500],
    [() => redial("redial (queueInterval 100 ms)", 100), 2 * 100],
    [generic, 0],
    [tarn, 0]
  ]
  for (const [make, settleMs] of targets) {
    const target = await make()
    try {
      results.push(await overload(target, settleMs))
    } finally {
      await target.close()
    }
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
      isRedial ? `p99 < ${TARGET_MS} ms` : "",
      isRedial ? met(p99 < TARGET_MS) : "",
      isRedial ? ms(result.p99Settled) : "",
      isRedial ? met(result.p99Settled < TARGET_MS) : ""
    ]
  })
  const failures = results.filter((result) => result.outcomes.failed > 0)
  return table(
    `Overload: ${thousands(RATE)} requests/s offered for ${DURATION_MS / 1000} s to a pool of ${SIZE} ` +
      `with a ${SERVICE_MS} ms service time (capacity ${thousands((SIZE / SERVICE_MS) * 1000)}/s: 3×), open loop`,
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
      "met? (from then on)"
    ],
    rows,
    [
      `Latency: from the time a request was due to its end, of the requests served. "Still queued at the end": ` +
      `no connection ${GRACE_MS} ms after the last request started (given back unserved). ` +
      `"From 2 × queueInterval on": the requests that finished after that time — CoDel judges an interval by ` +
      `the least wait in it, and the first interval starts with an empty queue, so shedding can begin at the ` +
      `end of the second (DBConnection's rule, kept exactly: a 10-s run at the default 2-s interval spends its ` +
      `first 4 s queueing without bound, which no rule judged by whole intervals of 2 s can avoid).`,
      ...failures.map((result) => `- ${result.name}: ${result.outcomes.failed} requests failed otherwise.`)
    ]
  )
}
