/**
 * Shared pieces of the benchmarks: the median, forced GC and heap readings, number formats, and
 * the Markdown table every bench reports into.
 */
import * as os from "node:os"
import * as v8 from "node:v8"
import * as vm from "node:vm"

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

export const median = (samples: ReadonlyArray<number>): number => {
  const sorted = [...samples].sort((a, b) => a - b)
  const middle = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2
}

// `--expose-gc` on the command line; otherwise switch it on now and fetch `gc` from a fresh context.
const collect: () => void = globalThis.gc ?? (() => {
  v8.setFlagsFromString("--expose-gc")
  return vm.runInNewContext("gc") as () => void
})()

/** `heapUsed` after full collections: only what is reachable. */
export const heapUsed = (): number => {
  collect()
  collect()
  return process.memoryUsage().heapUsed
}

export const fixed = (value: number, digits = 1): string => value.toFixed(digits)
export const ratio = (redial: number, baseline: number): string => `${(redial / baseline).toFixed(2)}×`
export const list = (samples: ReadonlyArray<number>, digits = 1): string =>
  samples.map((sample) => sample.toFixed(digits)).join(", ")

export const table = (title: string, rows: ReadonlyArray<Row>): string => {
  const header = ["benchmark", "redial", "baseline", "ratio", "target", "met?"]
  const cells = rows.map((row) => [
    row.benchmark,
    row.redial,
    row.baseline,
    row.ratio,
    row.target,
    row.met === undefined ? "—" : row.met ? "yes" : "**no**"
  ])
  const line = (values: ReadonlyArray<string>) => `| ${values.join(" | ")} |`
  const samples = rows.filter((row) => row.samples !== undefined).map((row) => `- ${row.benchmark}: ${row.samples}`)
  return [
    `### ${title}`,
    "",
    line(header),
    line(header.map(() => "---")),
    ...cells.map(line),
    ...(samples.length > 0 ? ["", "Samples (one per round):", "", ...samples] : [])
  ].join("\n")
}

/** What the numbers were measured on, with the load average: other work on the machine skews them. */
export const machine = (): string => {
  const cpus = os.cpus()
  const load = os.loadavg().map((n) => n.toFixed(2)).join(" ")
  return `node ${process.version}, ${cpus.length} CPU(s) (${cpus[0]?.model.trim() ?? "unknown"}), ${os.platform()}, ` +
    `load average ${load}`
}
