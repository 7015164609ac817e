import { describe, expect, it } from "@effect/vitest"
import { Reconnect } from "@redial/core"
import { TestTime } from "@redial/testing"
import { Effect, TestClock } from "effect"
import * as Pool from "../src/Pool.js"
import * as Simple from "./support/simpleDriver.js"

/** A server that accepts and resets: every connection is lost 10 ms after it connected. */
const flapping = () => {
  const simple = Simple.make()
  const driver = { ...simple.driver, lost: () => Effect.sleep("10 millis") }
  return { simple, driver }
}

describe("minUptime: a flapping server is not hammered", () => {
  it.scoped("50 slots on a server that resets every connection: each slot backs off by its policy", () =>
    Effect.gen(function*() {
      const { driver, simple } = flapping()
      yield* Pool.make(driver, { size: 50, policy: Reconnect.fixed("500 millis"), idleInterval: "1 hour" })
      yield* TestTime.settle()
      yield* TestClock.adjust("2 seconds")
      // at 0, 510, 1020, 1530 ms: 4 connects a slot in 2 s (at once after each loss: 200 a slot)
      expect(simple.connects()).toBeGreaterThanOrEqual(50 * 3)
      expect(simple.connects()).toBeLessThanOrEqual(50 * 5)
    }))

  it.scoped("with minUptime: 0 the same server is reconnected at once after every loss", () =>
    Effect.gen(function*() {
      const { driver, simple } = flapping()
      yield* Pool.make(driver, { size: 5, policy: Reconnect.fixed("500 millis"), idleInterval: "1 hour", minUptime: 0 })
      yield* TestTime.settle()
      yield* TestClock.adjust("1 second")
      expect(simple.connects()).toBeGreaterThan(5 * 50)
    }))

  it.scoped("a connection that lasted minUptime is replaced at once after its loss", () =>
    Effect.gen(function*() {
      const simple = Simple.make()
      const driver = { ...simple.driver, lost: () => Effect.sleep("6 seconds") }
      const pool = yield* Pool.make(driver, { size: 1, policy: Reconnect.fixed("10 seconds"), idleInterval: "1 hour" })
      yield* TestTime.settle()
      yield* TestClock.adjust("6 seconds")
      yield* TestTime.settle()
      // lost after 6 s > minUptime (5 s): reconnected without waiting the policy's 10 s
      expect(simple.connects()).toBe(2)
      expect((yield* pool.stats).idle).toBe(1)
    }))
})
