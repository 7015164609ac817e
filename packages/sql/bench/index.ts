/**
 * The benchmark of `@redial/sql`, against the shared server (127.0.0.1:5432, database `test`):
 * run by `npm run bench` (scripts/bench). Prints Markdown tables: `SqlClient` operations per
 * second on redial against @effect/sql-pg (`SELECT 1`, a 10-row select, a 3-statement
 * transaction at 1 / 16 / 64 callers; medians of interleaved rounds), CPU per operation, and the
 * backends left once both pools are closed. Nothing here asserts on time: a missed target shows
 * as "no" in the table. profile.ts is the focused run for `--cpu-prof`.
 */
import { machine } from "../../../bench/report.js"
import * as throughput from "./throughput.js"

console.log(`## @redial/sql\n\n${machine()}\n`)
const operations = await throughput.run()
console.log(operations.text)
console.log()
console.log(
  operations.missed.length === 0
    ? "Throughput target (redial ≥ @effect/sql-pg at every concurrency): met."
    : `Throughput target (redial ≥ @effect/sql-pg) missed: ${operations.missed.join("; ")}.`
)
console.log(`\n${machine()}`)
