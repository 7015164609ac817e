/**
 * What each client keeps on the heap: one client at a time, a fresh pool of 10 is made, runs the
 * 10-row select from 64 callers for a moment (every connection opened and used), and the heap is
 * read after full GCs with the pool still open (what it retains), then again once it is closed
 * (what it leaves behind), each against the heap just before the pool was made. Its backends are
 * counted while it is open and once it is closed (none may be left). Run after the throughput
 * rounds, so that every client's code is already loaded and compiled; each client is measured
 * twice in a row and the second pass is reported (the first still pays for one-time caches).
 */
import { Effect } from "effect"
import { setTimeout as sleep } from "node:timers/promises"
import { heapUsed, table } from "../../../bench/report.js"
import * as Pg from "../test/support/pg.js"
import * as Contenders from "./contenders.js"
import { SIZE } from "./throughput.js"

const LOAD_MS = 500
const CALLERS = 64

const kb = (bytes: number): string => `${Math.round(bytes / 1024).toLocaleString("en")} KB`

interface Reading {
  readonly retained: number
  readonly after: number
  readonly open: number
  readonly left: number
}

const measure = async (name: Contenders.Name): Promise<Reading> => {
  // Closed sockets and the previous pool's last callbacks settle first.
  await sleep(100)
  const before = heapUsed()
  const contender = await Contenders.makeOne(name, SIZE)
  let open: number
  let retained: number
  try {
    await contender.loops("10 rows")(CALLERS, performance.now() + LOAD_MS)
    open = await Effect.runPromise(Pg.backends(contender.application))
    retained = heapUsed() - before
  } finally {
    await contender.close()
  }
  const left = await Contenders.leftBackends(contender.application)
  await sleep(100)
  return { retained, after: heapUsed() - before, open, left }
}

export const run = async (): Promise<string> => {
  const rows: Array<ReadonlyArray<string>> = []
  for (const name of Contenders.NAMES) {
    const first = await measure(name)
    const { after, left, open, retained } = await measure(name)
    rows.push([name, kb(retained), kb(after), String(open), `${first.left + left}`])
  }
  return table(
    `Heap after full GCs, one pool of ${SIZE} at a time, after ${LOAD_MS} ms of the 10-row select from ${CALLERS} callers`,
    ["client", "retained, pool open", "left after close", "backends open", "backends left after close"],
    rows,
    [
      "Both heap figures against the heap just before the pool was made (`process.memoryUsage().heapUsed`), " +
      "of the second of two passes. Backends left: after both passes. heapUsed counts V8's compiled code and " +
      "its feedback too: a difference of a few hundred KB may be code, not objects."
    ]
  )
}
