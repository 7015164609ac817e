/**
 * Parse time of connection strings against their size: a hosts list and a query list of 100 KB
 * and 1 MB. Parsing is linear: 10 × the input does 10 × the work (test/ConnectionStringLinear.test.ts
 * counts it); the time grows a little faster, as 1 MB of hosts or pairs no longer fits in the young
 * generation and the collector promotes them. Before the
 * bounded scans it took 65-90 × the time (2.5 s and 4.8 s for 1 MB).
 */
import { Schema } from "effect"
import { collect, fixed, list, median, ratio, type Row } from "../../../bench/report.js"
import { ConnectionString } from "../src/index.js"

const WARMUP = 2
const ROUNDS = 5
const TARGET = 30

const shapes: ReadonlyArray<readonly [string, (n: number) => string]> = [
  ["hosts list `h,h,…`", (n) => `esdb://${"h,".repeat(n / 2 - 1)}h`],
  ["query list `x&x&…`", (n) => `esdb://h?${"x&".repeat(n / 2 - 1)}x`]
]

const operations: ReadonlyArray<readonly [string, (input: string) => unknown]> = [
  ["`parseEither`", ConnectionString.parseEither],
  ["`FromString` decode", Schema.decodeUnknownEither(ConnectionString.FromString)]
]

/** ms for one call on `input`. */
const time = (operation: (input: string) => unknown, input: string): number => {
  collect()
  const start = performance.now()
  operation(input)
  return performance.now() - start
}

export const run = (): ReadonlyArray<Row> =>
  shapes.flatMap(([shape, make]) => {
    const small = make(100_000)
    const large = make(1_000_000)
    return operations.map(([name, operation]): Row => {
      for (let i = 0; i < WARMUP; i++) {
        time(operation, small)
        time(operation, large)
      }
      const samples = { large: new Array<number>(), small: new Array<number>() }
      for (let round = 0; round < ROUNDS; round++) {
        samples.small.push(time(operation, small))
        samples.large.push(time(operation, large))
      }
      const l = median(samples.large)
      const s = median(samples.small)
      return {
        benchmark: `${name}, ${shape}: 1 MB vs 100 KB`,
        redial: `${fixed(l)} ms`,
        baseline: `${fixed(s)} ms`,
        ratio: ratio(l, s),
        target: `≤ ${TARGET}× (linear: 10×)`,
        met: l / s <= TARGET,
        samples: `1 MB ${list(samples.large)}; 100 KB ${list(samples.small)} ms`
      }
    })
  })
