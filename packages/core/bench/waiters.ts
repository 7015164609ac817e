/**
 * 10,000 fibers in `connection.await()` while the connection's acquire is held on a gate, against
 * 10,000 fibers on a bare `Deferred.await`: the heap each parked waiter holds, and the time from
 * opening the gate until every waiter has resumed. The same again with a timeout, against
 * `Effect.timeoutFail` around the bare `Deferred.await`.
 */
import { Deferred, Effect, Exit, Fiber, Logger, LogLevel } from "effect"
import { fixed, heapUsed, list, median, ratio, type Row } from "../../../bench/report.js"
import { Connection } from "../src/index.js"

const WAITERS = 10_000
const WARMUP = 1
const ROUNDS = 5
const HEAP_TARGET = 1024
const RESUME_TARGET = 50

interface Resource {
  readonly id: number
}

interface Sample {
  /** Bytes of heap per parked waiter: (parked − before) / WAITERS, both after full GC. */
  readonly heap: number
  /** Milliseconds from `open` until the last waiter resumed (ran its next step after the wait). */
  readonly resume: number
}

/**
 * Parks `WAITERS` fibers in `wait`, reads the heap, then runs `open` and waits for them all. The
 * same steps for the manager and the baseline, so their difference is the manager's.
 */
const park = <A, E>(wait: () => Effect.Effect<A, E>, open: Effect.Effect<unknown>) =>
  Effect.gen(function*() {
    const fibers = new Array<Fiber.RuntimeFiber<void, E>>(WAITERS)
    // Each waiter notes when it resumed: the time of the last one is what a program waits for.
    let resumed = 0
    let lastResumed = 0
    const noteResumed = Effect.sync(() => {
      resumed++
      lastResumed = performance.now()
    })
    yield* Effect.sleep("10 millis")
    const before = heapUsed()
    for (let i = 0; i < WAITERS; i++) fibers[i] = yield* Effect.fork(Effect.zipRight(wait(), noteResumed))
    // Forked fibers start on the scheduler: let them run up to their wait, and check they did.
    yield* Effect.sleep("50 millis")
    for (const fiber of fibers) {
      const status = yield* Fiber.status(fiber)
      if (status._tag !== "Suspended") return yield* Effect.dieMessage(`a waiter is ${status._tag}, not parked`)
    }
    const parked = heapUsed()
    const start = performance.now()
    yield* open
    let failed = 0
    for (const fiber of fibers) {
      if (Exit.isFailure(yield* Fiber.await(fiber))) failed++
    }
    if (failed > 0 || resumed !== WAITERS) {
      return yield* Effect.dieMessage(`${failed} waiters failed instead of resuming`)
    }
    return { heap: (parked - before) / WAITERS, resume: lastResumed - start } satisfies Sample
  })

/** How a waiter waits: on the manager, or on the bare Effect equivalent. */
interface Variant {
  readonly label: string
  readonly manager: (connection: Connection.Connection<Resource>) => Effect.Effect<Resource, unknown>
  readonly baseline: (gate: Deferred.Deferred<Resource>) => Effect.Effect<Resource, unknown>
}

const TIMEOUT = "1 minute"

const variants: ReadonlyArray<Variant> = [
  {
    label: "`await()`",
    manager: (connection) => connection.await(),
    baseline: (gate) => Deferred.await(gate)
  },
  {
    label: `\`await({ timeout })\``,
    manager: (connection) => connection.await({ timeout: TIMEOUT }),
    baseline: (gate) => Effect.timeoutFail(Deferred.await(gate), { duration: TIMEOUT, onTimeout: () => "timeout" })
  }
]

const manager = (variant: Variant) =>
  Effect.scoped(Effect.gen(function*() {
    const resource: Resource = { id: 1 }
    const gate = yield* Deferred.make<void>()
    const connection = yield* Connection.make({
      name: "bench-waiters",
      acquire: Effect.as(Deferred.await(gate), resource),
      connectTimeout: "1 minute"
    })
    return yield* park(() => variant.manager(connection), Deferred.succeed(gate, undefined))
  }))

const baseline = (variant: Variant) =>
  Effect.gen(function*() {
    const resource: Resource = { id: 1 }
    const gate = yield* Deferred.make<Resource>()
    return yield* park(() => variant.baseline(gate), Deferred.succeed(gate, resource))
  })

/** Warm-up, then `ROUNDS` rounds of each side, alternating which goes first. */
const rounds = (variant: Variant) =>
  Effect.gen(function*() {
    for (let i = 0; i < WARMUP; i++) {
      yield* manager(variant)
      yield* baseline(variant)
    }
    const samples = { redial: new Array<Sample>(), baseline: new Array<Sample>() }
    for (let i = 0; i < ROUNDS; i++) {
      if (i % 2 === 0) {
        samples.redial.push(yield* manager(variant))
        samples.baseline.push(yield* baseline(variant))
      } else {
        samples.baseline.push(yield* baseline(variant))
        samples.redial.push(yield* manager(variant))
      }
    }
    return samples
  })

const rows = (
  variant: Variant,
  samples: { readonly redial: ReadonlyArray<Sample>; readonly baseline: ReadonlyArray<Sample> }
): ReadonlyArray<Row> => {
  const heap = { redial: samples.redial.map((s) => s.heap), baseline: samples.baseline.map((s) => s.heap) }
  const resume = { redial: samples.redial.map((s) => s.resume), baseline: samples.baseline.map((s) => s.resume) }
  // The manager's own share per round, against the baseline's median (the rounds are not paired).
  const own = heap.redial.map((total) => total - median(heap.baseline))
  const [heapTotal, heapBase, heapOwn] = [median(heap.redial), median(heap.baseline), median(own)]
  const [resumeOurs, resumeBase] = [median(resume.redial), median(resume.baseline)]
  return [
    {
      benchmark: `${variant.label}: heap per parked waiter, total`,
      redial: `${fixed(heapTotal, 0)} B`,
      baseline: `${fixed(heapBase, 0)} B`,
      ratio: ratio(heapTotal, heapBase),
      target: "< 1 KB",
      met: heapTotal < HEAP_TARGET,
      samples: `redial ${list(heap.redial, 0)}; baseline ${list(heap.baseline, 0)} B`
    },
    {
      benchmark: `${variant.label}: heap per parked waiter, manager's own (total − baseline)`,
      redial: `${fixed(heapOwn, 0)} B`,
      baseline: "—",
      ratio: "—",
      target: "< 1 KB",
      met: heapOwn < HEAP_TARGET,
      samples: `${list(own, 0)} B`
    },
    {
      benchmark: `${variant.label}: connect → last of ${WAITERS.toLocaleString("en")} waiters resumed`,
      redial: `${fixed(resumeOurs)} ms`,
      baseline: `${fixed(resumeBase)} ms`,
      ratio: ratio(resumeOurs, resumeBase),
      target: `< ${RESUME_TARGET} ms`,
      met: resumeOurs < RESUME_TARGET,
      samples: `redial ${list(resume.redial)}; baseline ${list(resume.baseline)} ms`
    }
  ]
}

export const run = async (): Promise<ReadonlyArray<Row>> => {
  const result = new Array<Row>()
  for (const variant of variants) {
    // The runner inherits the log level: keep "connected" out of the report.
    const samples = await Effect.runPromise(rounds(variant).pipe(Logger.withMinimumLogLevel(LogLevel.Warning)))
    result.push(...rows(variant, samples))
  }
  return result
}
