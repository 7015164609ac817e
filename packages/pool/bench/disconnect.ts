/**
 * CPU time while a pool's connections disconnect slowly: a pool of 10 whose driver's `disconnect`
 * takes 100 ms (a server that is slow to say goodbye). `disconnectAll` takes every idle connection
 * out of service; the pool is idle otherwise. Measured: the process's CPU time (user + system,
 * `process.cpuUsage`) from `disconnectAll` until every slot is idle again on a new connection, per
 * slot. While `disconnect` runs, each slot waits for its manager's next connection on an event
 * (core's `awaitNext`); a slot that polled would spin for the whole 100 ms.
 */
import { Pool } from "@redial/pool"
import { Effect, Exit, Logger, LogLevel, Scope } from "effect"
import { fixed, list, median, table } from "../../../bench/report.js"
import * as SimpleDriver from "../test/support/simpleDriver.js"

const SIZE = 10
const ROUNDS = 5
const DISCONNECT_MS = 100

const quiet = Logger.withMinimumLogLevel(LogLevel.Warning)

const awaitIdle = (pool: Pool.Pool<SimpleDriver.SimpleTypes>) =>
  Effect.repeat(Effect.zipLeft(pool.stats, Effect.sleep("5 millis")), { until: (stats) => stats.idle === SIZE })

/** CPU ms per slot for one `disconnectAll` round, and its wall time. */
const round = (pool: Pool.Pool<SimpleDriver.SimpleTypes>) =>
  Effect.gen(function*() {
    const start = process.cpuUsage()
    const began = performance.now()
    yield* pool.disconnectAll
    yield* awaitIdle(pool)
    const used = process.cpuUsage(start)
    return { cpu: (used.user + used.system) / 1000 / SIZE, wall: performance.now() - began }
  })

export const run = async (): Promise<string> => {
  const scope = Effect.runSync(Scope.make())
  const simple = SimpleDriver.make()
  const driver = { ...simple.driver, disconnect: () => Effect.sleep(DISCONNECT_MS) }
  const pool = await Effect.runPromise(
    Pool.make(driver, { size: SIZE, name: "bench", idleInterval: "1 hour", minUptime: 0 }).pipe(
      Scope.extend(scope),
      quiet
    )
  )
  await Effect.runPromise(awaitIdle(pool))
  const cpu: Array<number> = []
  const wall: Array<number> = []
  for (let r = 0; r < ROUNDS; r++) {
    const result = await Effect.runPromise(quiet(round(pool)))
    cpu.push(result.cpu)
    wall.push(result.wall)
  }
  await Effect.runPromise(quiet(Scope.close(scope, Exit.void)))
  return table(
    `CPU time of a pool of ${SIZE} while every connection's disconnect takes ${DISCONNECT_MS} ms — ${ROUNDS} rounds, medians`,
    ["measure", "value"],
    [
      ["CPU per slot, disconnectAll → idle again", `${fixed(median(cpu), 2)} ms`],
      ["wall time of the round", `${fixed(median(wall), 0)} ms`]
    ],
    [`Samples (CPU ms per slot): ${list(cpu, 2)}`]
  )
}
