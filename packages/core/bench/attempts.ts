/**
 * Heap per connect attempt: a manager makes `ATTEMPTS` attempts whose `acquire` opens a scoped
 * resource (as every real driver does), failing ones (policy without delay) and successful ones
 * that are lost at once (a reconnect each). The heap is read, after full collections, while the
 * runner is held inside an attempt at the start and at the end, so the difference is what the
 * attempts in between left behind.
 */
import { Deferred, Effect, Logger, LogLevel, Schedule } from "effect"
import { fixed, heapUsed, list, median, type Row } from "../../../bench/report.js"
import { Connection } from "../src/index.js"

const WARM = 200
const ATTEMPTS = 10_000
const ROUNDS = 3
/** The target: 10,000 attempts within 1 MB. */
const TARGET = 100

type Mode = "failed" | "reconnect"

const sample = (mode: Mode) =>
  Effect.scoped(Effect.gen(function*() {
    let count = 0
    const heap: Array<number> = []
    const done = yield* Deferred.make<void>()
    // Holds the runner inside the attempt while the heap is read.
    const measure = Effect.sync(() => void heap.push(heapUsed()))
    const acquire = Effect.gen(function*() {
      count++
      yield* Effect.acquireRelease(Effect.succeed({ count }), () => Effect.void)
      if (count === WARM || count === WARM + ATTEMPTS) yield* measure
      if (count === WARM + ATTEMPTS) yield* Deferred.succeed(done, undefined)
      if (mode === "failed") return yield* Effect.fail("refused")
      return count
    })
    yield* Connection.make({
      name: `bench-${mode}`,
      acquire,
      // no delay between attempts
      policy: Schedule.forever,
      ...(mode === "reconnect" ? { lost: () => Effect.void, minUptime: "1 millis" } : {})
    })
    yield* Deferred.await(done)
    return ((heap[1] ?? 0) - (heap[0] ?? 0)) / ATTEMPTS
  }))

const row = (mode: Mode, samples: ReadonlyArray<number>): Row => {
  const bytes = median(samples)
  return {
    benchmark: mode === "failed"
      ? `heap per failed scoped attempt (${ATTEMPTS.toLocaleString("en")} attempts)`
      : `heap per reconnect (${ATTEMPTS.toLocaleString("en")} connections lost at once)`,
    redial: `${fixed(bytes, 0)} B`,
    baseline: "—",
    ratio: "—",
    target: `< ${TARGET} B`,
    met: bytes < TARGET,
    samples: `${list(samples, 0)} B`
  }
}

export const run = async (): Promise<ReadonlyArray<Row>> => {
  const rows = new Array<Row>()
  for (const mode of ["failed", "reconnect"] as const) {
    const samples = new Array<number>()
    for (let i = 0; i < ROUNDS; i++) {
      samples.push(await Effect.runPromise(sample(mode).pipe(Logger.withMinimumLogLevel(LogLevel.None))))
    }
    rows.push(row(mode, samples))
  }
  return rows
}
