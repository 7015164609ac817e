/**
 * A focused run, not part of `npm run bench`: where redial's cost per query goes, by peeling its
 * path for `SELECT 1` one layer at a time, each variant alone (the order rotating), with queries/s
 * and CPU µs per query (the steadier of the two on a shared machine):
 *
 * - `pg-pool`: `await pool.query(text)` from async loops (the raw floor);
 * - `effect floor`: the same pg-pool called from fibers through `Effect.async` (what any Effect
 *   client pays: fibers and their scheduling, no pool of its own);
 * - `pool + raw pg`: redial's pool, `pool.run((conn) => Effect.async(conn.connection.client.query))`
 *   (checkout, check-in with the status read, no driver call);
 * - `pool + driver.execute`: `pool.run((conn) => driver.execute(conn.connection, prepared, []))`,
 *   the driver's query path without the pool's call wrapper;
 * - `pool + conn.execute`: the same through the checkout's `execute` (the pool's `call`);
 * - `pool.query`: what a program calls (`prepare`, `execute` and `close`, each a `call`, in
 *   `acquireUseRelease`).
 *
 *   node scripts/bundle-bench.mjs packages/postgres/bench/split.ts packages/postgres/build/bench/split.mjs
 *   node --expose-gc [--cpu-prof] packages/postgres/build/bench/split.mjs [concurrency] [seconds] [rounds] [variants]
 *
 * Default: concurrency 16, 1.5 s, 5 rounds, every variant (`variants`: comma-separated prefixes).
 */
import { Effect } from "effect"
import type { Loops } from "../../../bench/report.js"
import { effectLoops, fixed, list, median, order, promiseLoops, thousands } from "../../../bench/report.js"
import { PgDriver } from "../src/index.js"
import * as Pg from "../test/support/pg.js"
import * as Contenders from "./contenders.js"
import type { Measured } from "./throughput.js"
import { measure, SIZE } from "./throughput.js"

const [concurrency = "16", seconds = "1.5", rounds = "5", only] = process.argv.slice(2)
const TEXT = "select 1"

/** pg's callback API as an Effect. */
const viaCallback = (query: (callback: (error: Error | undefined, result: unknown) => void) => void) =>
  Effect.async<unknown, Error>((resume) => {
    query((error, result) => resume(error ? Effect.fail(error) : Effect.succeed(result)))
  })

const redial = await Contenders.redialPool(Pg.unique("bench_split_redial"), SIZE)
const raw = Contenders.pgPool(Pg.unique("bench_split_pgpool"), SIZE)
const driver = PgDriver.make()
const prepared: PgDriver.Prepared = { text: TEXT, name: undefined }
const { pool } = redial

const variants: ReadonlyArray<{ readonly name: string; readonly loops: Loops }> = [
  { name: "pg-pool", loops: promiseLoops(() => raw.query(TEXT)) },
  {
    name: "effect floor (pg-pool in Effect.async)",
    loops: effectLoops(() => viaCallback((callback) => raw.query(TEXT, callback)))
  },
  {
    name: "pool + raw pg (run, client.query in Effect.async)",
    loops: effectLoops(() =>
      pool.run((conn) => viaCallback((callback) => conn.connection.client.query(TEXT, callback)))
    )
  },
  {
    name: "pool + driver.execute (no call wrapper)",
    loops: effectLoops(() => pool.run((conn) => driver.execute(conn.connection, prepared, [])))
  },
  { name: "pool + conn.execute", loops: effectLoops(() => pool.run((conn) => conn.execute(prepared))) },
  { name: "pool.query", loops: effectLoops(() => pool.query(TEXT)) }
]

const chosen = only === undefined
  ? variants
  : variants.filter((variant) => only.split(",").some((prefix) => variant.name.startsWith(prefix)))
try {
  const samples = new Map<string, Array<Measured>>()
  for (let round = 0; round < Number(rounds); round++) {
    for (const variant of order(chosen, round)) {
      const contender: Contenders.Contender = {
        name: "redial",
        application: "",
        loops: () => variant.loops,
        close: () => Promise.resolve()
      }
      const measured = await measure(contender, "SELECT 1", Number(concurrency), 300, Number(seconds) * 1000)
      samples.set(variant.name, [...(samples.get(variant.name) ?? []), measured])
    }
  }
  for (const { name } of chosen) {
    const of = samples.get(name) ?? []
    console.log(
      `${name.padEnd(52)} c=${concurrency}: ${thousands(median(of.map((m) => m.perSecond))).padStart(7)} q/s, ${
        fixed(median(of.map((m) => m.cpu)), 1).padStart(6)
      } µs CPU/query (samples: ${list(of.map((m) => m.cpu), 0)})`
    )
  }
} finally {
  await redial.close()
  await raw.end()
}
