/**
 * Operations per second of a no-op checkout on a pool of 10, the pools side by side in the same
 * process:
 *
 * - redial: `yield* pool.run(() => Effect.void)` on `Pool.make(driver, { size: 10 })` with the
 *   tests' simple driver (every callback a plain `Effect.void`), `c` fibers each in a loop;
 * - Effect's own pool: `yield* Effect.scoped(pool.get)` on `Pool.make({ acquire, size: 10 })`
 *   (effect/Pool), `c` fibers each in a loop;
 * - generic-pool: `release(await acquire())` on `createPool({ create, destroy }, { max: 10, min: 10 })`,
 *   `c` async loops;
 * - tarn: `release(await acquire().promise)` on `new Pool({ create, destroy, min: 10, max: 10 })`,
 *   `c` async loops;
 * - bare hand-off: the floor for any Effect pool, no pool logic at all: 10 tokens in an array, a
 *   free one taken synchronously, else the fiber parks in `Effect.async` until a release hands it
 *   one (`c` fibers each in a loop).
 *
 * Every operation's Effect (or Promise) is built anew, as a program would. Each measurement runs
 * one pool for `WARMUP_MS` (not counted), then, after a full GC, for `MEASURE_MS`: every loop
 * starts operations until the time is up; ops/s = completed operations / time until the last
 * loop's last operation returned. A round makes fresh pools and measures every pool at every
 * concurrency; the order of the pools changes from round to round. The table gives the medians.
 */
import { Pool } from "@redial/pool"
import { Effect, Exit, Logger, LogLevel, Pool as EffectPool, Scope } from "effect"
import * as GenericPool from "generic-pool"
import * as Tarn from "tarn"
import type { Loops } from "../../../bench/report.js"
import {
  collect,
  effectLoops,
  list,
  median,
  met,
  order,
  promiseLoops,
  ratio,
  table,
  thousands
} from "../../../bench/report.js"
import * as SimpleDriver from "../test/support/simpleDriver.js"

const SIZE = 10
const WARMUP_MS = 250
const MEASURE_MS = 1_000
const ROUNDS = 3
const CONCURRENCY: ReadonlyArray<number> = [1, 16, 256]
/** redial ≥ TARGET × Effect's pool. */
const TARGET = 3

export interface Contender {
  readonly name: string
  readonly loops: Loops
  readonly close: () => Promise<void>
}

/** Without the connections' info logs (the slots' fibers inherit the level from the pool's making). */
const quiet = Logger.withMinimumLogLevel(LogLevel.Warning)

interface Resource {
  readonly id: number
}

/** A redial pool of `SIZE` on the simple driver, every slot connected; `close` ends its scope. */
export const redialPool = async (
  options: Pool.Options<SimpleDriver.SimpleTypes> = {}
): Promise<{ readonly pool: Pool.Pool<SimpleDriver.SimpleTypes>; readonly close: () => Promise<void> }> => {
  const scope = Effect.runSync(Scope.make())
  const pool = await Effect.runPromise(
    Pool.make(SimpleDriver.make().driver, { size: SIZE, name: "bench", ...options }).pipe(
      Scope.extend(scope),
      quiet
    )
  )
  await Effect.runPromise(
    Effect.repeat(Effect.zipLeft(pool.stats, Effect.sleep("1 millis")), { until: (stats) => stats.idle === SIZE })
  )
  return { pool, close: () => Effect.runPromise(quiet(Scope.close(scope, Exit.void))) }
}

const generic = async (): Promise<Contender> => {
  let made = 0
  const pool = GenericPool.createPool<Resource>(
    { create: () => Promise.resolve({ id: ++made }), destroy: () => Promise.resolve() },
    { max: SIZE, min: SIZE }
  )
  await pool.ready()
  return {
    name: "generic-pool",
    loops: promiseLoops(async () => {
      const resource = await pool.acquire()
      void pool.release(resource)
    }),
    close: () => pool.drain().then(() => pool.clear())
  }
}

const tarn = (): Contender => {
  let made = 0
  const pool = new Tarn.Pool<Resource>({
    create: () => Promise.resolve({ id: ++made }),
    destroy: () => {},
    min: SIZE,
    max: SIZE
  })
  return {
    name: "tarn",
    loops: promiseLoops(async () => {
      pool.release(await pool.acquire().promise)
    }),
    close: async () => {
      await pool.destroy()
    }
  }
}

const effectPool = async (): Promise<Contender> => {
  const scope = Effect.runSync(Scope.make())
  let made = 0
  const pool = await Effect.runPromise(
    EffectPool.make({ acquire: Effect.sync((): Resource => ({ id: ++made })), size: SIZE }).pipe(Scope.extend(scope))
  )
  return {
    name: "Effect Pool",
    loops: effectLoops(() => Effect.scoped(pool.get)),
    close: () => Effect.runPromise(Scope.close(scope, Exit.void))
  }
}

const handOff = (): Contender => {
  const free: Array<Resource> = Array.from({ length: SIZE }, (_, id) => ({ id }))
  const parked: Array<(effect: Effect.Effect<Resource>) => void> = []
  const take = Effect.suspend(() => {
    const token = free.pop()
    return token !== undefined
      ? Effect.succeed(token)
      : Effect.async<Resource>((resume) => void parked.push(resume))
  })
  const give = (token: Resource) =>
    Effect.sync(() => {
      const next = parked.shift()
      if (next !== undefined) next(Effect.succeed(token))
      else free.push(token)
    })
  return {
    name: "bare hand-off",
    loops: effectLoops(() => Effect.flatMap(take, give)),
    close: () => Promise.resolve()
  }
}

const redial = async (): Promise<Contender> => {
  const { close, pool } = await redialPool()
  return { name: "redial", loops: effectLoops(() => pool.run(() => Effect.void)), close }
}

/** Fresh pools, in the order of `NAMES`. */
export const contenders = async (): Promise<ReadonlyArray<Contender>> => [
  await redial(),
  await effectPool(),
  await generic(),
  tarn(),
  handOff()
]

export const NAMES: ReadonlyArray<string> = ["redial", "Effect Pool", "generic-pool", "tarn", "bare hand-off"]
const PEERS: ReadonlyArray<string> = ["generic-pool", "tarn"]

/** Ops/s of `loops` at `concurrency`: `warmupMs` not counted, a full GC, then `measureMs`. */
export const measure = async (loops: Loops, concurrency: number, warmupMs: number, measureMs: number) => {
  await loops(concurrency, performance.now() + warmupMs)
  collect()
  const start = performance.now()
  const ops = await loops(concurrency, start + measureMs)
  return ops / ((performance.now() - start) / 1000)
}

export const run = async (
  { measureMs = MEASURE_MS, rounds = ROUNDS, warmupMs = WARMUP_MS } = {}
): Promise<string> => {
  const samples = new Map<string, Array<number>>()
  const of = (name: string, concurrency: number) => samples.get(`${name}@${concurrency}`) ?? []
  for (let r = 0; r < rounds; r++) {
    const pools = await contenders()
    try {
      for (const { loops, name } of order(pools, r)) {
        for (const concurrency of CONCURRENCY) {
          const perSecond = await measure(loops, concurrency, warmupMs, measureMs)
          samples.set(`${name}@${concurrency}`, [...of(name, concurrency), perSecond])
        }
      }
    } finally {
      for (const pool of pools) await pool.close()
    }
  }
  const perSecond = (name: string, concurrency: number) => median(of(name, concurrency))
  const rows = CONCURRENCY.flatMap((concurrency) => {
    const effect = perSecond("Effect Pool", concurrency)
    const fastest = Math.max(...PEERS.map((name) => perSecond(name, concurrency)))
    const fastestName = PEERS.find((name) => perSecond(name, concurrency) === fastest)!
    const redial = perSecond("redial", concurrency)
    return NAMES.map((name) => {
      const ops = perSecond(name, concurrency)
      return [
        String(concurrency),
        name,
        thousands(ops),
        name === "Effect Pool" ? "" : ratio(ops, effect),
        name === "redial" ? `${ratio(ops, fastest)} (${fastestName})` : "",
        name === "redial" ? ratio(ops, perSecond("bare hand-off", concurrency)) : "",
        name === "redial" ? `≥ ${TARGET}× Effect Pool` : "",
        name === "redial" ? met(redial / effect >= TARGET) : ""
      ]
    })
  })
  const notes = CONCURRENCY.flatMap((concurrency) =>
    NAMES.map((name) => `- ${name}, concurrency ${concurrency}: ${list(of(name, concurrency), thousands)} ops/s`)
  )
  return table(
    `No-op checkouts per second on a pool of ${SIZE} — ${rounds} rounds of ${measureMs / 1000} s after ` +
      `${warmupMs / 1000} s of warm-up, medians`,
    ["callers", "pool", "ops/s", "÷ Effect Pool", "÷ fastest peer", "÷ bare hand-off", "target", "met?"],
    rows,
    [
      "Every pool runs compiled JavaScript: redial bundled from its sources by scripts/bundle-bench.mjs " +
      "(as it ships), the others from node_modules.",
      "",
      "Samples (one per round):",
      "",
      ...notes
    ]
  )
}
