/**
 * The benchmarks of `@redial/grpc`: run by `npm run bench` (scripts/bench). Prints Markdown
 * tables; throughput numbers are medians of several rounds. Nothing here asserts on time: a
 * missed target shows as "no" in the table. profile.ts is the focused run for `--cpu-prof`.
 */
import { machine } from "../../../bench/report.js"
import * as recovery from "./recovery.js"
import * as unary from "./unary.js"

console.log(`## @redial/grpc\n\n${machine()}\n`)
console.log(await unary.run())
console.log()
console.log(await recovery.run())
