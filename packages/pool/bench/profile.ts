/**
 * A focused run for profiling, not part of `npm run bench`: one or more pools of throughput.ts,
 * each alone for a while, with ops/s.
 *
 *   node scripts/bundle-bench.mjs packages/pool/bench/profile.ts packages/pool/build/bench/profile.mjs
 *   node --expose-gc [--cpu-prof] packages/pool/build/bench/profile.mjs \
 *     [pools, comma-separated] [concurrency] [seconds] [rounds]
 *
 * Pools: `redial`, `Effect Pool`, `generic-pool`, `tarn`. Default: all of them, concurrency 16,
 * 2 s, 3 rounds (the order rotating). Under `--cpu-prof`, profile one pool at a time so the
 * profile is that pool's. The bundle is what `npm run bench` runs: redial compiled as it ships
 * (tsx would wrap every closure made at run time in esbuild's `keepNames` helper).
 */
import { choose, list, median, order, thousands } from "../../../bench/report.js"
import { contenders, measure } from "./throughput.js"

const [names, concurrency = "16", seconds = "2", rounds = "3"] = process.argv.slice(2)

const pools = await contenders()
try {
  const chosen = choose(pools, names)
  const samples = new Map<string, Array<number>>()
  for (let round = 0; round < Number(rounds); round++) {
    for (const { loops, name } of order(chosen, round)) {
      const perSecond = await measure(loops, Number(concurrency), 500, Number(seconds) * 1000)
      samples.set(name, [...(samples.get(name) ?? []), perSecond])
    }
  }
  for (const { name } of chosen) {
    const of = samples.get(name) ?? []
    console.log(
      `${name.padEnd(14)} c=${concurrency}: ${thousands(median(of)).padStart(9)} ops/s (samples: ${
        list(of, thousands)
      })`
    )
  }
} finally {
  for (const pool of pools) await pool.close()
}
