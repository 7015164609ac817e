/**
 * The cost of `connection.get` on a connected manager, against the cheapest read Effect has: a
 * bare `Ref.get`. Two shapes: a tight loop inside one fiber, and one `Effect.runSync` per call.
 */
import { Effect, Exit, Logger, LogLevel, Ref, Scope } from "effect"
import { fixed, list, median, ratio, type Row } from "../../../bench/report.js"
import { Connection } from "../src/index.js"

const LOOP = 1_000_000
const SYNC = 200_000
const WARMUP = 3
const ROUNDS = 5
const TARGET = 2

interface Resource {
  readonly id: number
}

/** ns per iteration of `for (…) yield* effect`, timed inside the fiber. */
const loop = <A, E>(effect: Effect.Effect<A, E>): Promise<number> =>
  Effect.runPromise(Effect.gen(function*() {
    const start = performance.now()
    for (let i = 0; i < LOOP; i++) yield* effect
    return ((performance.now() - start) * 1e6) / LOOP
  }))

/** ns per `Effect.runSync(effect)`. */
const perCall = <A, E>(effect: Effect.Effect<A, E>): number => {
  const start = performance.now()
  for (let i = 0; i < SYNC; i++) Effect.runSync(effect)
  return ((performance.now() - start) * 1e6) / SYNC
}

/** Runs both sides `WARMUP` times, then `ROUNDS` times alternating which goes first. */
const compare = async (
  redial: () => number | Promise<number>,
  baseline: () => number | Promise<number>
): Promise<{ readonly redial: Array<number>; readonly baseline: Array<number> }> => {
  for (let i = 0; i < WARMUP; i++) {
    await redial()
    await baseline()
  }
  const samples = { redial: new Array<number>(), baseline: new Array<number>() }
  for (let round = 0; round < ROUNDS; round++) {
    if (round % 2 === 0) {
      samples.redial.push(await redial())
      samples.baseline.push(await baseline())
    } else {
      samples.baseline.push(await baseline())
      samples.redial.push(await redial())
    }
  }
  return samples
}

const row = (
  benchmark: string,
  samples: { readonly redial: ReadonlyArray<number>; readonly baseline: ReadonlyArray<number> }
): Row => {
  const redial = median(samples.redial)
  const baseline = median(samples.baseline)
  return {
    benchmark,
    redial: `${fixed(redial)} ns/op`,
    baseline: `${fixed(baseline)} ns/op`,
    ratio: ratio(redial, baseline),
    target: `≤ ${TARGET}×`,
    met: redial / baseline <= TARGET,
    samples: `redial ${list(samples.redial)}; baseline ${list(samples.baseline)} ns/op`
  }
}

export const run = async (): Promise<ReadonlyArray<Row>> => {
  const resource: Resource = { id: 1 }
  const scope = Effect.runSync(Scope.make())
  const connection = await Effect.runPromise(
    Connection.make({ name: "bench-get", acquire: Effect.succeed(resource) }).pipe(
      Effect.tap((connection) => connection.await()),
      Scope.extend(scope),
      // The runner inherits this: keep "connected" out of the report.
      Logger.withMinimumLogLevel(LogLevel.Warning)
    )
  )
  const ref = Effect.runSync(Ref.make(resource))
  try {
    const inLoop = await compare(() => loop(connection.get), () => loop(Ref.get(ref)))
    const sync = await compare(() => perCall(connection.get), () => perCall(Ref.get(ref)))
    return [
      row(`\`get\` vs \`Ref.get\`, loop of ${LOOP.toLocaleString("en")} in one fiber`, inLoop),
      row(`\`get\` vs \`Ref.get\`, one \`Effect.runSync\` per call`, sync)
    ]
  } finally {
    await Effect.runPromise(Scope.close(scope, Exit.void))
  }
}
