/**
 * The benchmarks of `@redial/amqp`, against the local RabbitMQ (127.0.0.1:5672): run by
 * `npm run bench` (scripts/bench). Prints Markdown tables: confirmed publishes and consumed
 * messages per second against raw amqplib and amqp-connection-manager (medians of several
 * rounds), and the time from the broker's return to the first confirmed publish. Nothing here
 * asserts on time: a missed target shows as "no" in the table. profile.ts is the focused run for
 * `--cpu-prof`.
 */
import { machine } from "../../../bench/report.js"
import * as recovery from "./recovery.js"
import * as throughput from "./throughput.js"

console.log(`## @redial/amqp\n\n${machine()}\n`)
console.log(await throughput.run())
console.log()
console.log(await recovery.run())
