/**
 * The helpers every package's benchmarks share: loops of operations (fibers or async functions)
 * run until a deadline, the median and percentiles, full GCs and heap readings, number formats,
 * the machine line and Markdown tables. A project of its own
 * (bench/tsconfig.json) that the packages' test projects reference.
 */
import * as Effect from "effect/Effect"
import * as os from "node:os"
import * as v8 from "node:v8"
import * as vm from "node:vm"

/** Runs `concurrency` loops of one operation until `end` (a `performance.now()` time); how many ran. */
export type Loops = (concurrency: number, end: number) => Promise<number>

/** `concurrency` fibers, each running `op` in a loop. Every operation's Effect is built anew. */
export const effectLoops = (op: () => Effect.Effect<unknown, unknown>): Loops => (concurrency, end) =>
  Effect.runPromise(Effect.suspend(() => {
    let ops = 0
    const loop = Effect.gen(function*() {
      while (performance.now() < end) {
        yield* op()
        ops++
      }
    })
    return Effect.all(Array.from({ length: concurrency }, () => loop), { concurrency: "unbounded", discard: true })
      .pipe(Effect.map(() => ops))
  }))

/** `concurrency` async loops, each awaiting `op` in turn. */
export const promiseLoops = (op: () => Promise<unknown>): Loops => async (concurrency, end) => {
  let ops = 0
  const loop = async () => {
    while (performance.now() < end) {
      await op()
      ops++
    }
  }
  await Promise.all(Array.from({ length: concurrency }, loop))
  return ops
}

/** The contenders in round `r`: rotated by `r`, reversed in odd rounds, so none always follows the same one. */
export const order = <A>(items: ReadonlyArray<A>, r: number): ReadonlyArray<A> => {
  const rotated = items.map((_, i) => items[(r + i) % items.length]!)
  return r % 2 === 1 ? rotated.reverse() : rotated
}

/** The named ones of `items`, in the order given (`names` comma-separated; all when undefined). */
export const choose = <A extends { readonly name: string }>(
  items: ReadonlyArray<A>,
  names: string | undefined
): ReadonlyArray<A> =>
  names === undefined ? items : names.split(",").map((name) => {
    const item = items.find((item) => item.name === name)
    if (item === undefined) throw new Error(`no "${name}"; there are: ${items.map((i) => i.name).join(", ")}`)
    return item
  })

export const median = (samples: ReadonlyArray<number>): number => {
  const sorted = [...samples].sort((a, b) => a - b)
  const middle = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2
}

/** The `p`-th percentile (0–100, nearest rank) of samples sorted in ascending order; NaN when empty. */
export const percentile = (sorted: ReadonlyArray<number>, p: number): number =>
  sorted.length === 0
    ? NaN
    : sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!

// `--expose-gc` on the command line; otherwise switch it on now and fetch `gc` from a fresh context.
const gc: () => void = globalThis.gc ?? (() => {
  v8.setFlagsFromString("--expose-gc")
  return vm.runInNewContext("gc") as () => void
})()

/** A full collection, so a measurement does not pay for the garbage of the one before. */
export const collect = (): void => gc()

/** `heapUsed` after full collections: only what is reachable. */
export const heapUsed = (): number => {
  gc()
  gc()
  return process.memoryUsage().heapUsed
}

export const fixed = (value: number, digits = 1): string => value.toFixed(digits)
export const thousands = (value: number): string => Math.round(value).toLocaleString("en")
export const ratio = (value: number, baseline: number): string => `${(value / baseline).toFixed(2)}×`
export const percent = (value: number): string => `${(value * 100).toFixed(1)} %`
/** The samples, formatted with `format` or to that many digits. */
export const list = (
  samples: ReadonlyArray<number>,
  format: ((sample: number) => string) | number = 1
): string => samples.map(typeof format === "number" ? (n) => fixed(n, format) : format).join(", ")
export const met = (value: boolean | undefined): string => value === undefined ? "—" : value ? "yes" : "**no**"

/** A Markdown table under a `###` title, with notes (one per line) below it. */
export const table = (
  title: string,
  header: ReadonlyArray<string>,
  rows: ReadonlyArray<ReadonlyArray<string>>,
  notes: ReadonlyArray<string> = []
): string => {
  const line = (values: ReadonlyArray<string>) => `| ${values.join(" | ")} |`
  return [
    `### ${title}`,
    "",
    line(header),
    line(header.map(() => "---")),
    ...rows.map(line),
    ...(notes.length > 0 ? ["", ...notes] : [])
  ].join("\n")
}

/** What the numbers were measured on, with the load average: other work on the machine skews them. */
export const machine = (): string => {
  const cpus = os.cpus()
  const load = os.loadavg().map((n) => n.toFixed(2)).join(" ")
  return `node ${process.version}, ${cpus.length} CPU(s) (${cpus[0]?.model.trim() ?? "unknown"}), ${os.platform()}, ` +
    `load average ${load}`
}

/** One line of the table. `met` is `undefined` for a line that has no target of its own. */
export interface Row {
  readonly benchmark: string
  readonly redial: string
  readonly baseline: string
  readonly ratio: string
  readonly target: string
  readonly met: boolean | undefined
  /** The samples behind the medians, printed under the table so their spread shows. */
  readonly samples?: string
}

/** A table of {@link Row}s: redial against one baseline per line, with the samples below. */
export const rowTable = (title: string, rows: ReadonlyArray<Row>): string => {
  const samples = rows.filter((row) => row.samples !== undefined).map((row) => `- ${row.benchmark}: ${row.samples}`)
  return table(
    title,
    ["benchmark", "redial", "baseline", "ratio", "target", "met?"],
    rows.map((row) => [row.benchmark, row.redial, row.baseline, row.ratio, row.target, met(row.met)]),
    samples.length > 0 ? ["Samples (one per round):", "", ...samples] : []
  )
}

/** Operations per second, and this process's CPU time (user + system) per operation in µs. */
export interface Measured {
  readonly perSecond: number
  readonly cpu: number
}

/** Runs `loops` for `warmupMs` (not counted), then, after a full GC, for `measureMs`: what one cell measures. */
export const measureLoops = async (
  loops: Loops,
  concurrency: number,
  warmupMs: number,
  measureMs: number
): Promise<Measured> => {
  await loops(concurrency, performance.now() + warmupMs)
  collect()
  const cpu = process.cpuUsage()
  const start = performance.now()
  const operations = await loops(concurrency, start + measureMs)
  const seconds = (performance.now() - start) / 1000
  const used = process.cpuUsage(cpu)
  return { perSecond: operations / seconds, cpu: (used.user + used.system) / operations }
}

/** (max − min) / 2 against the median, in %. */
export const spread = (values: ReadonlyArray<number>): string =>
  values.length < 2 ? "" : `±${fixed(((Math.max(...values) - Math.min(...values)) / 2 / median(values)) * 100, 0)} %`
