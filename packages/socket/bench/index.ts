/**
 * The benchmarks of `@redial/socket`, against echo servers it starts itself (servers.ts): run by
 * `npm run bench` (scripts/bench). Prints Markdown tables: messages per second through a connected
 * `ResilientSocket` against the bare `@effect/platform` socket and the Node socket used directly,
 * TCP and WebSocket (medians of several rounds, throughput.ts), and the time from the server's
 * return to the first echoed message against the reconnect policy's remaining delay
 * (recovery.ts). Nothing here asserts on time: a missed target shows as "no" in the table.
 */
import { machine } from "../../../bench/report.js"
import * as recovery from "./recovery.js"
import * as throughput from "./throughput.js"

console.log(`## @redial/socket\n\n${machine()}\n`)
console.log(await throughput.run())
console.log()
console.log(await recovery.run())
