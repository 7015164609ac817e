/**
 * Operations per second of `@effect/sql`'s `SqlClient` on redial against the same on
 * @effect/sql-pg, pools of 10 on the shared server, side by side in one process: `SELECT 1`, a
 * 10-row select and a 3-statement transaction (contenders.ts), at 1, 16 and 64 concurrent callers.
 *
 * As @redial/postgres's throughput benchmark: a round measures every (callers, work) cell for both
 * clients, their order changing from cell to cell and from round to round, so that neither always
 * follows the other and a burst of other work on the machine falls on both. Each measurement runs
 * one client for `WARMUP_MS` (not counted), then, after a full GC, for `MEASURE_MS`: operations/s
 * = completed operations / time until the last loop's last one returned. A first round, short and
 * not counted, warms the JIT and opens every connection (@effect/sql-pg opens its on demand). The
 * table gives the medians of the rounds; a ratio is that of the medians, with the range of the
 * rounds' own ratios (each round's redial against the same round's @effect/sql-pg) beside it.
 *
 * CPU µs per operation is this process's user + system time per operation: the client alone (the
 * server is other processes), the steadier measure on a shared machine.
 */
import type { Measured } from "../../../bench/report.js"
import { fixed, list, measureLoops, median, met, order, spread, table, thousands } from "../../../bench/report.js"
import * as Contenders from "./contenders.js"

export const SIZE = 10
const WARMUP_MS = 150
const MEASURE_MS = 600
const ROUNDS = 5
export const CONCURRENCY: ReadonlyArray<number> = [1, 16, 64]
/** redial ≥ TARGET × @effect/sql-pg, at every concurrency. */
const TARGET = 1

export type { Measured }

/** Operations/s and CPU per operation of a contender's loops of `work` (see `measureLoops`). */
export const measure = (
  contender: Contenders.Contender,
  work: Contenders.WorkName,
  concurrency: number,
  warmupMs: number,
  measureMs: number
): Promise<Measured> => measureLoops(contender.loops(work), concurrency, warmupMs, measureMs)

const key = (name: Contenders.Name, work: Contenders.WorkName, concurrency: number) => `${name}|${work}|${concurrency}`

type Samples = Map<string, Array<Measured>>

const round = async (
  r: number,
  contenders: ReadonlyArray<Contenders.Contender>,
  settings: { readonly warmupMs: number; readonly measureMs: number },
  record: (key: string, measured: Measured) => void
): Promise<void> => {
  let cell = 0
  for (const concurrency of CONCURRENCY) {
    for (const work of Contenders.WORK_NAMES) {
      for (const contender of order(contenders, r + cell)) {
        record(
          key(contender.name, work, concurrency),
          await measure(contender, work, concurrency, settings.warmupMs, settings.measureMs)
        )
      }
      cell++
    }
  }
}

export interface Report {
  /** The Markdown tables. */
  readonly text: string
  /** The cells where the target was missed, for a summary line. */
  readonly missed: ReadonlyArray<string>
}

const report = (samples: Samples, rounds: number, measureMs: number): Report => {
  const of = (name: Contenders.Name, work: Contenders.WorkName, concurrency: number) =>
    samples.get(key(name, work, concurrency)) ?? []
  const rate = (name: Contenders.Name, work: Contenders.WorkName, concurrency: number) =>
    median(of(name, work, concurrency).map((m) => m.perSecond))
  const cpu = (name: Contenders.Name, work: Contenders.WorkName, concurrency: number) =>
    median(of(name, work, concurrency).map((m) => m.cpu))
  const missed: Array<string> = []
  const cells = CONCURRENCY.flatMap((concurrency) => Contenders.WORK_NAMES.map((work) => ({ concurrency, work })))
  const rows = cells.map(({ concurrency, work }) => {
    const mine = of("redial", work, concurrency).map((m) => m.perSecond)
    const theirs = of("@effect/sql-pg", work, concurrency).map((m) => m.perSecond)
    const paired = mine.map((value, i) => value / theirs[i]!)
    const ratio = rate("redial", work, concurrency) / rate("@effect/sql-pg", work, concurrency)
    const isMet = ratio >= TARGET
    if (!isMet) missed.push(`${work} at ${concurrency}: ${fixed(ratio, 2)}×`)
    return [
      String(concurrency),
      work,
      ...Contenders.NAMES.map((name) => {
        const rates = of(name, work, concurrency).map((m) => m.perSecond)
        return `${thousands(median(rates))} ${spread(rates)}`
      }),
      `${fixed(ratio, 2)}× (${fixed(Math.min(...paired), 2)}–${fixed(Math.max(...paired), 2)})`,
      met(isMet)
    ]
  })
  const cpuRows = cells.map(({ concurrency, work }) => [
    String(concurrency),
    work,
    ...Contenders.NAMES.map((name) => fixed(cpu(name, work, concurrency), 0)),
    `${fixed(cpu("redial", work, concurrency) / cpu("@effect/sql-pg", work, concurrency), 2)}×`
  ])
  const notes = cells.flatMap(({ concurrency, work }) =>
    Contenders.NAMES.map((name) => {
      const values = of(name, work, concurrency)
      return `- ${work}, ${concurrency} callers, ${name}: ${list(values.map((m) => m.perSecond), thousands)} ops/s; ` +
        `${list(values.map((m) => m.cpu), (n) => fixed(n, 0))} µs CPU/op`
    })
  )
  const text = [
    table(
      `SqlClient operations/s, pools of ${SIZE}, local PostgreSQL — ${rounds} interleaved rounds of ${
        measureMs / 1000
      } s, medians`,
      ["callers", "work", ...Contenders.NAMES, "redial ÷ @effect/sql-pg", `≥ ${TARGET}×?`],
      rows,
      [
        "Operations/s (a statement, or a whole transaction): the median of the rounds ± half their range against " +
        "it. The ratio: that of the medians, and in parentheses the lowest and highest of the rounds' own ratios. " +
        "`10 rows`: `select g, 'row ' || g as label from generate_series(1, 10) g`; `transaction`: " +
        "`sql.withTransaction` of `select 1`, `select 2`, `select 3` (BEGIN … COMMIT, five round trips on one " +
        "connection). Both send unnamed statements."
      ]
    ),
    "",
    table(
      `CPU µs per operation of the client's process (user + system), medians of the same rounds`,
      ["callers", "work", ...Contenders.NAMES, "redial ÷ @effect/sql-pg"],
      cpuRows,
      ["Samples (one per round):", "", ...notes]
    )
  ].join("\n")
  return { text, missed }
}

export const run = async (
  { measureMs = MEASURE_MS, rounds = ROUNDS, warmupMs = WARMUP_MS } = {}
): Promise<Report> => {
  const contenders = await Contenders.make(SIZE)
  let result: Report
  try {
    const samples: Samples = new Map()
    // A first round, short and not counted: the JIT, and every client's connections opened.
    await round(0, contenders, { warmupMs, measureMs: warmupMs }, () => {})
    for (let r = 0; r < rounds; r++) {
      await round(r, contenders, { warmupMs, measureMs }, (key, measured) => {
        samples.set(key, [...(samples.get(key) ?? []), measured])
      })
    }
    result = report(samples, rounds, measureMs)
  } finally {
    for (const contender of contenders) await contender.close()
  }
  const left: Array<string> = []
  for (const contender of contenders) {
    left.push(`${contender.name} ${await Contenders.leftBackends(contender.application)}`)
  }
  return { ...result, text: `${result.text}\n\nBackends left once every pool was closed: ${left.join(", ")}.` }
}
