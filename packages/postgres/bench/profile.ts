/**
 * A focused run for profiling, not part of `npm run bench`: one or more clients of
 * contenders.ts, each alone for a while on one query, with queries/s and CPU µs per query.
 *
 *   node scripts/bundle-bench.mjs packages/postgres/bench/profile.ts packages/postgres/build/bench/profile.mjs
 *   node --expose-gc [--cpu-prof] packages/postgres/build/bench/profile.mjs \
 *     [clients, comma-separated] [concurrency] [seconds] [rounds] [query]
 *
 * Clients: `redial`, `pg-pool`, `@effect/sql-pg`, `postgres`. Default: all of them, concurrency
 * 16, 2 s, 3 rounds (the order rotating), `SELECT 1` (or `10 rows`). Under `--cpu-prof`, profile
 * one client at a time so the profile is that client's.
 */
import { choose, fixed, list, median, order, thousands } from "../../../bench/report.js"
import * as Contenders from "./contenders.js"
import type { Measured } from "./throughput.js"
import { measure, SIZE } from "./throughput.js"

const [names, concurrency = "16", seconds = "2", rounds = "3", query = "SELECT 1"] = process.argv.slice(2)
if (!Contenders.QUERY_NAMES.includes(query as Contenders.QueryName)) {
  throw new Error(`no query "${query}"; there are: ${Contenders.QUERY_NAMES.join(", ")}`)
}

const chosen = choose(Contenders.NAMES.map((name) => ({ name })), names === "" ? undefined : names)
const contenders: Array<Contenders.Contender> = []
for (const { name } of chosen) contenders.push(await Contenders.makeOne(name, SIZE))
try {
  const samples = new Map<string, Array<Measured>>()
  for (let round = 0; round < Number(rounds); round++) {
    for (const contender of order(contenders, round)) {
      const measured = await measure(
        contender,
        query as Contenders.QueryName,
        Number(concurrency),
        500,
        Number(seconds) * 1000
      )
      samples.set(contender.name, [...(samples.get(contender.name) ?? []), measured])
    }
  }
  for (const { name } of contenders) {
    const of = samples.get(name) ?? []
    console.log(
      `${name.padEnd(15)} ${query} c=${concurrency}: ${
        thousands(median(of.map((m) => m.perSecond))).padStart(7)
      } q/s, ${fixed(median(of.map((m) => m.cpu)), 0)} µs CPU/query (samples: ${
        list(of.map((m) => m.perSecond), thousands)
      })`
    )
  }
} finally {
  for (const contender of contenders) await contender.close()
}
