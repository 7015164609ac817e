/**
 * The benchmarks of `@redial/core`: run by `npm run bench` (scripts/bench), which passes
 * `--expose-gc`. Prints Markdown tables; numbers are medians of several rounds. Nothing here
 * asserts on time: a missed target shows as "no" in the table.
 */
import { machine, rowTable as table } from "../../../bench/report.js"
import * as attempts from "./attempts.js"
import * as connectionString from "./connectionString.js"
import * as get from "./get.js"
import * as waiters from "./waiters.js"

console.log(`## @redial/core\n\n${machine()}\n`)
console.log(table("connection.get", await get.run()))
console.log()
console.log(
  table(
    "connection.await: 10,000 parked waiters (baseline: bare `Deferred.await`, in `Effect.timeoutFail` when timed)",
    await waiters.run()
  )
)
console.log()
console.log(
  table(
    "connection strings: parse time of 1 MB (redial column) against 100 KB (baseline column)",
    connectionString.run()
  )
)
console.log()
console.log(
  table(
    "connect attempts: heap left behind per attempt whose acquire opens a scoped resource (before the fix: 3285 B failed, 3089 B reconnect)",
    await attempts.run()
  )
)
