/**
 * A focused run for profiling, not part of `npm run bench`: one or both clients of contenders.ts,
 * each alone for a while on one work, with operations/s and CPU µs per operation.
 *
 *   node scripts/bundle-bench.mjs packages/sql/bench/profile.ts packages/sql/build/bench/profile.mjs
 *   node --expose-gc [--cpu-prof] packages/sql/build/bench/profile.mjs \
 *     [clients, comma-separated] [concurrency] [seconds] [rounds] [work]
 *
 * Clients: `redial`, `@effect/sql-pg`. Default: both, concurrency 16, 2 s, 3 rounds (the order
 * rotating), `SELECT 1` (or `10 rows`, `transaction`). Under `--cpu-prof`, profile one client at
 * a time so the profile is that client's.
 */
import { choose, fixed, list, median, order, thousands } from "../../../bench/report.js"
import * as Contenders from "./contenders.js"
import type { Measured } from "./throughput.js"
import { measure, SIZE } from "./throughput.js"

const [names, concurrency = "16", seconds = "2", rounds = "3", work = "SELECT 1"] = process.argv.slice(2)
if (!(Contenders.WORK_NAMES as ReadonlyArray<string>).includes(work)) {
  throw new Error(`no work "${work}"; there are: ${Contenders.WORK_NAMES.join(", ")}`)
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
        work as Contenders.WorkName,
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
      `${name.padEnd(15)} ${work} c=${concurrency}: ${
        thousands(median(of.map((m) => m.perSecond))).padStart(7)
      } ops/s, ${fixed(median(of.map((m) => m.cpu)), 0)} µs CPU/op (samples: ${
        list(of.map((m) => m.perSecond), thousands)
      })`
    )
  }
} finally {
  for (const contender of contenders) await contender.close()
}
