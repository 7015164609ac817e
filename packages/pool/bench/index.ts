/**
 * The benchmarks of `@redial/pool`: run by `npm run bench` (scripts/bench). Prints Markdown
 * tables: no-op checkouts per second against Effect's own pool, generic-pool and tarn (medians of
 * several rounds), and latency under 3× overload. Nothing here asserts on time: a missed target
 * shows as "no" in the table. profile.ts is the focused run for `--cpu-prof`.
 */
import { machine } from "../../../bench/report.js"
import * as disconnect from "./disconnect.js"
import * as overload from "./overload.js"
import * as throughput from "./throughput.js"

console.log(`## @redial/pool\n\n${machine()}\n`)
console.log(await throughput.run())
console.log()
console.log(await overload.run())
console.log()
console.log(await disconnect.run())
