/**
 * The Driver's optional `query` (DBConnection's prepare_execute): when a driver has it, the
 * checkout's `query` (and `pool.query`) is one call to it, not prepare + execute + close; its
 * failures, defects and interruptions are watched like any callback's.
 */
import { describe, expect, it } from "@effect/vitest"
import { Reconnect } from "@redial/core"
import { Cause, Effect, Exit, TestClock } from "effect"
import type * as Driver from "../src/Driver.js"
import * as Pool from "../src/Pool.js"
import * as TestDriver from "./support/testDriver.js"

const withQuery = Effect.gen(function*() {
  const driver = yield* TestDriver.make()
  const calls: Array<string> = []
  const inOne: Driver.Driver<TestDriver.TestTypes> = {
    ...driver,
    query: (connection, query, params) =>
      Effect.suspend(() => {
        calls.push(`query ${connection.id} ${String(query)}`)
        // the fake's own execute does the work: prepare and close are never called
        return Effect.flatMap(driver.prepare(connection, query), (prepared) =>
          driver.execute(connection, prepared, params))
      })
  }
  const pool = yield* Pool.make(inOne, { name: "in-one" })
  yield* TestDriver.awaitIdle(pool, 1)
  return { driver, pool, calls }
})

describe("Driver.query", () => {
  it.scoped("pool.query and conn.query call the driver's query once, and never close", () =>
    Effect.gen(function*() {
      const { calls, driver, pool } = yield* withQuery
      const result = yield* pool.query("select", [1])
      expect(result.params).toEqual([1])
      yield* pool.run((conn) => conn.query("again"))
      expect(calls).toEqual(["query 1 select", "query 1 again"])
      const statements = yield* TestDriver.statements(driver)
      expect(statements.some((s) => s.startsWith("close"))).toBe(false)
    }))

  it.scoped("a defect in it breaks the connection as in any callback", () =>
    Effect.gen(function*() {
      const driver = yield* TestDriver.make()
      const pool = yield* Pool.make({ ...driver, query: () => Effect.die("boom") }, {
        name: "in-one",
        minUptime: "1 millis",
        policy: Reconnect.fixed("10 millis")
      })
      yield* TestDriver.awaitIdle(pool, 1)
      const exit = yield* Effect.exit(pool.run((conn) => Effect.zipRight(conn.query("x"), conn.query("y"))))
      expect(Exit.isFailure(exit) && Cause.isDie(exit.cause)).toBe(true)
      // the connection was replaced: the next one is the fake's second
      yield* TestClock.adjust("20 millis")
      yield* TestDriver.awaitIdle(pool, 1)
      expect(yield* pool.run((conn) => Effect.succeed(conn.connection.id))).toBe(2)
    }))
})
