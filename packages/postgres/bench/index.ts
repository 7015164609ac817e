/**
 * The benchmarks of `@redial/postgres`, against the shared server (127.0.0.1:5432, database
 * `test`): run by `npm run bench` (scripts/bench). Prints Markdown tables: queries per second
 * against pg-pool, @effect/sql-pg and postgres (medians of interleaved rounds), the heap each
 * client keeps, and latency under 3× overload. Nothing here asserts on time: a missed target
 * shows as "no" in the table. profile.ts is the focused run for `--cpu-prof`.
 */
import { machine } from "../../../bench/report.js"
import * as heap from "./heap.js"
import * as overload from "./overload.js"
import * as throughput from "./throughput.js"

console.log(`## @redial/postgres\n\n${machine()}\n`)
const queries = await throughput.run()
console.log(queries.text)
console.log()
console.log(await heap.run())
console.log()
console.log(await overload.run())
console.log()
console.log(
  queries.missed.length === 0
    ? "Throughput targets: all met."
    : `Throughput targets missed: ${queries.missed.join("; ")}.`
)
console.log(`\n${machine()}`)
