import { describe, expect, it } from "@effect/vitest"
import { Reconnect } from "@redial/core"
import { TestTime } from "@redial/testing"
import { Effect, Exit, Fiber, TestClock } from "effect"
import * as Pool from "../src/Pool.js"
import { ConnectionBroken } from "../src/PoolError.js"
import * as TestDriver from "./support/testDriver.js"

const setup = (driverOptions: TestDriver.Options) =>
  Effect.gen(function*() {
    const driver = yield* TestDriver.make(driverOptions)
    // idle pings far apart, so that only `lost` can notice a dead idle connection
    const pool = yield* Pool.make(driver, {
      name: "lost",
      size: 2,
      idleInterval: "1 hour",
      policy: Reconnect.fixed("50 millis"),
      minUptime: 0 // a young connection lost reconnects at once here; MinUptime.test.ts covers the default
    })
    yield* TestDriver.awaitIdle(pool, 2)
    return { driver, pool }
  })

const ids = (pool: Pool.Pool<TestDriver.TestTypes>) =>
  Effect.all(
    [1, 2].map(() => pool.run((conn) => Effect.as(Effect.sleep("1 millis"), conn.connection.id))),
    { concurrency: "unbounded" }
  ).pipe(Effect.fork, Effect.tap(() => TestClock.adjust("1 millis")), Effect.flatMap(Fiber.join))

describe("Driver.lost", () => {
  it.scoped("a connection lost while idle leaves service at once and is replaced: no caller fails, no ping needed", () =>
    Effect.gen(function*() {
      const { driver, pool } = yield* setup({ reportsLoss: true })
      yield* driver.kill(1)
      yield* TestTime.settle() // a lost connection reconnects at once (the policy is for failed attempts)
      const log = yield* driver.log
      // told the driver, released it, connected a new one: in that order
      const order = ["disconnect 1", "released 1", "connect 3"].map((entry) => log.indexOf(entry))
      expect(order.every((index, i) => index >= 0 && (i === 0 || index > order[i - 1]!))).toBe(true)
      expect(log).not.toContainEqual(expect.stringMatching(/^ping/))
      expect(yield* pool.stats).toMatchObject({ idle: 2, busy: 0, connecting: 0 })
      expect([...(yield* ids(pool))].sort()).toEqual([2, 3])
      expect(yield* driver.violations).toEqual([])
    }))

  it.scoped("without lost, the same dead idle connection fails the next caller that gets it (then the slot reconnects)", () =>
    Effect.gen(function*() {
      const { driver, pool } = yield* setup({})
      yield* driver.kill(1)
      yield* TestTime.settle()
      expect(yield* pool.stats).toMatchObject({ idle: 2 }) // unnoticed
      const exits = yield* Effect.all(
        [1, 2].map(() => Effect.exit(pool.run((conn) => conn.query("select 1")))),
        { concurrency: "unbounded" }
      )
      expect(exits.filter(Exit.isFailure).length).toBe(1)
      const failure = exits.find(Exit.isFailure)
      expect(failure !== undefined && Exit.isFailure(failure) && String(failure.cause)).toContain("Disconnect")
      yield* TestTime.settle()
      expect(yield* pool.stats).toMatchObject({ idle: 2 })
    }))

  it.scoped("a connection lost while held: the holder's next call fails with ConnectionBroken (Lost), its check-in gives nothing back, the slot reconnects", () =>
    Effect.gen(function*() {
      const { driver, pool } = yield* setup({ reportsLoss: true })
      const exit = yield* pool.run((conn) =>
        Effect.gen(function*() {
          yield* driver.kill(conn.connection.id)
          yield* TestTime.settle()
          return yield* Effect.exit(conn.query("select 1"))
        })
      )
      // refused by the pool, which knows the connection is gone: nothing reaches the driver
      expect(exit).toEqual(Exit.fail(new ConnectionBroken({ pool: "lost", reason: "Lost", cause: "connection lost" })))
      yield* TestTime.settle()
      expect(yield* pool.stats).toMatchObject({ idle: 2, busy: 0, connecting: 0 })
      expect(yield* driver.openConnections).toBe(2)
      expect(yield* driver.violations).toEqual([])
    }))
})
