/**
 * Queries per second against the shared server, pools of 10: redial, pg-pool, @effect/sql-pg and
 * postgres (the clients of contenders.ts) side by side in one process, for `SELECT 1` and a
 * 10-row select, at 1, 16 and 64 concurrent callers.
 *
 * A round measures every (callers, query) cell for every client, the clients' order changing from
 * cell to cell and from round to round, so that none always follows the same one and a burst of
 * other work on the machine falls on all of them. Each measurement runs one client for
 * `WARMUP_MS` (not counted), then, after a full GC, for `MEASURE_MS`: queries/s = completed
 * queries / time until the last loop's last query returned. A first round, short and not
 * counted, warms the JIT and opens every client's connections (pg-pool and postgres open theirs
 * on demand). The table gives the medians of the rounds; a ratio is that of the medians, with the
 * range of the rounds' own ratios (each round's redial against the same round's peer) beside it.
 *
 * CPU µs/query is this process's user + system time per query: the client alone, the server is
 * other processes. On a shared machine it is the steadier measure of a client's own cost.
 */
import type { Measured } from "../../../bench/report.js"
import { fixed, list, measureLoops, median, met, order, spread, table, thousands } from "../../../bench/report.js"
import * as Contenders from "./contenders.js"

export const SIZE = 10
const WARMUP_MS = 150
const MEASURE_MS = 600
const ROUNDS = 5
export const CONCURRENCY: ReadonlyArray<number> = [1, 16, 64]
/** redial ≥ PG_POOL_TARGET × pg-pool and ≥ SQL_PG_TARGET × @effect/sql-pg. */
const PG_POOL_TARGET = 0.95
const SQL_PG_TARGET = 1

export type { Measured }

/** Operations/s and CPU per operation of a contender's loops of `query` (see `measureLoops`). */
export const measure = (
  contender: Contenders.Contender,
  query: Contenders.QueryName,
  concurrency: number,
  warmupMs: number,
  measureMs: number
): Promise<Measured> => measureLoops(contender.loops(query), concurrency, warmupMs, measureMs)

const key = (name: Contenders.Name, query: Contenders.QueryName, concurrency: number) =>
  `${name}|${query}|${concurrency}`

type Samples = Map<string, Array<Measured>>

const round = async (
  r: number,
  contenders: ReadonlyArray<Contenders.Contender>,
  settings: { readonly warmupMs: number; readonly measureMs: number },
  record: (key: string, measured: Measured) => void
): Promise<void> => {
  let cell = 0
  for (const concurrency of CONCURRENCY) {
    for (const query of Contenders.QUERY_NAMES) {
      for (const contender of order(contenders, r + cell)) {
        record(
          key(contender.name, query, concurrency),
          await measure(contender, query, concurrency, settings.warmupMs, settings.measureMs)
        )
      }
      cell++
    }
  }
}

export interface Report {
  /** The Markdown tables. */
  readonly text: string
  /** Each target, met or not, for a summary line. */
  readonly missed: ReadonlyArray<string>
}

const report = (samples: Samples, rounds: number, measureMs: number): Report => {
  const of = (name: Contenders.Name, query: Contenders.QueryName, concurrency: number) =>
    samples.get(key(name, query, concurrency)) ?? []
  const rate = (name: Contenders.Name, query: Contenders.QueryName, concurrency: number) =>
    median(of(name, query, concurrency).map((m) => m.perSecond))
  const cpu = (name: Contenders.Name, query: Contenders.QueryName, concurrency: number) =>
    median(of(name, query, concurrency).map((m) => m.cpu))
  /** The ratio of the medians, and the range of the rounds' paired ratios. */
  const ratioOf = (peer: Contenders.Name, query: Contenders.QueryName, concurrency: number) => {
    const mine = of("redial", query, concurrency).map((m) => m.perSecond)
    const theirs = of(peer, query, concurrency).map((m) => m.perSecond)
    const paired = mine.map((value, i) => value / theirs[i]!)
    const value = rate("redial", query, concurrency) / rate(peer, query, concurrency)
    return {
      value,
      text: `${fixed(value, 2)}× (${fixed(Math.min(...paired), 2)}–${fixed(Math.max(...paired), 2)})`
    }
  }
  const missed: Array<string> = []
  const cells = CONCURRENCY.flatMap((concurrency) => Contenders.QUERY_NAMES.map((query) => ({ concurrency, query })))
  const rows = cells.map(({ concurrency, query }) => {
    const toPgPool = ratioOf("pg-pool", query, concurrency)
    const toSqlPg = ratioOf("@effect/sql-pg", query, concurrency)
    const toPostgres = ratioOf("postgres", query, concurrency)
    const pgPoolMet = toPgPool.value >= PG_POOL_TARGET
    const sqlPgMet = toSqlPg.value >= SQL_PG_TARGET
    if (!pgPoolMet) missed.push(`${query} at ${concurrency}: ${fixed(toPgPool.value, 2)}× pg-pool`)
    if (!sqlPgMet) missed.push(`${query} at ${concurrency}: ${fixed(toSqlPg.value, 2)}× @effect/sql-pg`)
    return [
      String(concurrency),
      query,
      ...Contenders.NAMES.map((name) => {
        const rates = of(name, query, concurrency).map((m) => m.perSecond)
        return `${thousands(median(rates))} ${spread(rates)}`
      }),
      toPgPool.text,
      toSqlPg.text,
      toPostgres.text,
      met(pgPoolMet),
      met(sqlPgMet)
    ]
  })
  const cpuRows = cells.map(({ concurrency, query }) => [
    String(concurrency),
    query,
    ...Contenders.NAMES.map((name) => fixed(cpu(name, query, concurrency), 0)),
    `${fixed(cpu("redial", query, concurrency) / cpu("pg-pool", query, concurrency), 2)}×`,
    `${fixed(cpu("redial", query, concurrency) / cpu("@effect/sql-pg", query, concurrency), 2)}×`
  ])
  const notes = cells.flatMap(({ concurrency, query }) =>
    Contenders.NAMES.map((name) => {
      const values = of(name, query, concurrency)
      return `- ${query}, ${concurrency} callers, ${name}: ${list(values.map((m) => m.perSecond), thousands)} q/s; ` +
        `${list(values.map((m) => m.cpu), (n) => fixed(n, 0))} µs CPU/query`
    })
  )
  const text = [
    table(
      `Queries/s, pools of ${SIZE}, local PostgreSQL — ${rounds} interleaved rounds of ${measureMs / 1000} s, medians`,
      [
        "callers",
        "query",
        ...Contenders.NAMES,
        "redial ÷ pg-pool",
        "redial ÷ @effect/sql-pg",
        "redial ÷ postgres",
        `≥ ${PG_POOL_TARGET}× pg-pool?`,
        `≥ ${SQL_PG_TARGET}× @effect/sql-pg?`
      ],
      rows,
      [
        "Queries/s: the median of the rounds ± half their range against it. A ratio: that of the medians, and " +
        "in parentheses the lowest and highest of the rounds' own ratios (redial against the same round's peer). " +
        "`10 rows`: `select g, 'row ' || g as label from generate_series(1, 10) g`. postgres prepares each query " +
        "once per connection (its default); the others send an unnamed statement each time."
      ]
    ),
    "",
    table(
      `CPU µs per query of the client's process (user + system), medians of the same rounds`,
      ["callers", "query", ...Contenders.NAMES, "redial ÷ pg-pool", "redial ÷ @effect/sql-pg"],
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
