/**
 * The few report helpers the pool benchmarks share: the median and percentiles, a full GC, number
 * formats, the machine line and a Markdown table. Copied from `packages/grpc/bench/report.ts` (a
 * bench of one package does not import another package's bench files, which lie outside its
 * tsconfig), with `percentile` added.
 */
import * as os from "node:os"
import * as v8 from "node:v8"
import * as vm from "node:vm"

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

export const fixed = (value: number, digits = 1): string => value.toFixed(digits)
export const thousands = (value: number): string => Math.round(value).toLocaleString("en")
export const ratio = (value: number, baseline: number): string => `${(value / baseline).toFixed(2)}×`
export const percent = (value: number): string => `${(value * 100).toFixed(1)} %`
export const list = (samples: ReadonlyArray<number>, format: (sample: number) => string = (n) => fixed(n)): string =>
  samples.map(format).join(", ")
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
