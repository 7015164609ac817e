import { describe, expect, it } from "@effect/vitest"
import { Reconnect } from "@redial/core"
import { Pool } from "@redial/pool"
import { TestTime } from "@redial/testing"
import { Effect, Fiber, Metric, MetricState, TestClock } from "effect"
import { metrics } from "../src/internal/pool.js"
import * as Simple from "./support/simpleDriver.js"

describe("Pool slots and metrics", () => {
  it.scoped("configure runs before every connect attempt of every slot, with the slot and attempt; afterConnect runs on each new connection", () =>
    Effect.gen(function*() {
      const simple = Simple.make()
      const configured: Array<string> = []
      const after: Array<number> = []
      let failFirst = true
      const pool = yield* Pool.make(simple.driver, {
        size: 2,
        config: { host: "db" },
        configure: ({ attempt, config, slot }) =>
          Effect.sync(() => {
            configured.push(`slot ${slot} attempt ${attempt} ${(config as { host: string }).host}`)
            return config
          }),
        afterConnect: (conn) =>
          Effect.suspend(() => {
            after.push(conn.id)
            if (failFirst) {
              failFirst = false
              return Effect.fail(new Simple.SimpleError({ reason: "setup failed" }))
            }
            return Effect.void
          }),
        policy: Reconnect.fixed("1 second")
      })
      yield* TestTime.settle()
      yield* TestClock.adjust("1 second")
      yield* TestTime.settle()
      // both slots' first attempts, then a second attempt for the slot whose afterConnect failed
      expect(configured.slice(0, 2).sort()).toEqual(["slot 0 attempt 1 db", "slot 1 attempt 1 db"])
      expect(configured[2]).toMatch(/^slot [01] attempt 2 db$/)
      expect(configured.length).toBe(3)
      expect([...after].sort()).toEqual([1, 2, 3])
      expect((yield* pool.stats).idle).toBe(2)
      // the connection whose afterConnect failed was released
      expect(simple.releases()).toBe(1)
    }))

  it.scoped("stats, the wait-time histogram and the drop counter", () =>
    Effect.gen(function*() {
      const simple = Simple.make()
      const pool = yield* Pool.make(simple.driver, { size: 1, name: "metered", queueTarget: 50, queueInterval: 100 })
      yield* TestTime.settle()
      expect(yield* pool.stats).toEqual({ size: 1, idle: 1, busy: 0, connecting: 0, queued: 0 })
      // one request served at once (a wait of 0), one after waiting 40 ms: both in the histogram
      const holder = yield* Effect.fork(pool.run(() => Effect.sleep("40 millis")))
      yield* TestTime.settle()
      const queued = yield* Effect.fork(pool.run(() => Effect.void))
      yield* TestTime.settle()
      expect(yield* pool.stats).toEqual({ size: 1, idle: 0, busy: 1, connecting: 0, queued: 1 })
      yield* TestClock.adjust("40 millis")
      yield* Fiber.join(holder)
      yield* Fiber.join(queued)
      const wait = yield* Metric.value(Metric.tagged(metrics.wait, "pool", "metered"))
      expect(MetricState.isHistogramState(wait) && wait.count).toBe(2)
      expect(wait.min).toBe(0)
      expect(wait.max).toBe(40)
      expect(wait.sum).toBe(40)
      // stuck for two intervals: the next request is dropped, and counted
      const stuck = yield* Effect.fork(pool.run(() => Effect.never))
      yield* TestTime.settle()
      const shed = yield* Effect.fork(pool.run(() => Effect.void))
      yield* TestTime.settle()
      yield* TestClock.adjust("300 millis")
      expect((yield* Effect.flip(Fiber.join(shed)))._tag).toBe("Dropped")
      const dropped = yield* Metric.value(Metric.tagged(metrics.dropped, "pool", "metered"))
      expect(dropped.count).toBe(1)
      yield* Fiber.interrupt(stuck)
      expect((yield* pool.stats).busy).toBe(0)
    }))
})
