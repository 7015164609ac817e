import { describe, expect, it } from "@effect/vitest"
import { Reconnect } from "@redial/core"
import { TestTime } from "@redial/testing"
import { Cause, type Duration, Effect, Exit, Fiber, Option, TestClock } from "effect"
import * as Pool from "../src/Pool.js"
import * as TestDriver from "./support/testDriver.js"

const setup = (options: TestDriver.Options, poolOptions: { readonly timeout?: Duration.DurationInput } = {}) =>
  Effect.gen(function*() {
    const driver = yield* TestDriver.make(options)
    const pool = yield* Pool.make(driver, {
      name: "interrupted",
      policy: Reconnect.fixed("10 millis"),
      minUptime: 0,
      ...poolOptions
    })
    yield* TestDriver.awaitIdle(pool, 1)
    return { driver, pool }
  })

/** A caller interrupted while its query runs on the server (a `"sleep:N"` query on the fake). */
const interruptMidQuery = (
  pool: Pool.Pool<TestDriver.TestTypes>,
  f: (conn: Pool.Checkout<TestDriver.TestTypes>) => Effect.Effect<unknown, unknown> = (conn) =>
    conn.query("sleep:60000")
) =>
  Effect.gen(function*() {
    const fiber = yield* Effect.fork(pool.run(f))
    yield* TestTime.settle()
    return yield* Fiber.interrupt(fiber)
  })

/** The connection the next caller gets (reconnecting first, if the slot must). */
const nextConnection = (pool: Pool.Pool<TestDriver.TestTypes>) =>
  TestTime.advanceUntilDone(pool.query("select 1"), { step: "10 millis", limit: "10 seconds" }).pipe(
    Effect.map((result) => result.connection)
  )

describe("Driver.afterInterrupt", () => {
  it.scoped("recovered: the interrupted connection serves the next caller, no reconnect", () =>
    Effect.gen(function*() {
      const { driver, pool } = yield* setup({ afterInterrupt: true })
      const exit = yield* interruptMidQuery(pool)
      expect(Exit.isInterrupted(exit)).toBe(true)
      expect(yield* driver.log).toContain("afterInterrupt 1 true")
      expect(yield* nextConnection(pool)).toBe(1)
      expect(yield* nextConnection(pool)).toBe(1)
      expect(yield* driver.connectAttempts).toBe(1)
      expect((yield* driver.log).filter((entry) => entry.startsWith("disconnect"))).toEqual([])
      expect((yield* pool.stats).idle).toBe(1)
      // the fake says nothing reached the connection before afterInterrupt answered
      expect(yield* driver.violations).toEqual([])
    }))

  it.scoped("not recovered (it answers false): the connection is replaced and never used again", () =>
    Effect.gen(function*() {
      const { driver, pool } = yield* setup({ afterInterrupt: false })
      yield* interruptMidQuery(pool)
      expect(yield* driver.log).toContain("afterInterrupt 1 false")
      expect(yield* nextConnection(pool)).toBe(2)
      expect(yield* driver.log).toContain("disconnect 1")
      expect(yield* driver.connectAttempts).toBe(2)
      expect(yield* driver.violations).toEqual([])
    }))

  it.scoped("absent: the interrupted connection is replaced, as before", () =>
    Effect.gen(function*() {
      const { driver, pool } = yield* setup({})
      expect(driver.afterInterrupt).toBeUndefined()
      yield* interruptMidQuery(pool)
      expect(yield* nextConnection(pool)).toBe(2)
      expect(yield* driver.connectAttempts).toBe(2)
      expect(yield* driver.violations).toEqual([])
    }))

  it.scoped("a recovering driver's answer for a connection killed meanwhile is false: replaced", () =>
    Effect.gen(function*() {
      const { driver, pool } = yield* setup({ afterInterrupt: true })
      yield* driver.delay("execute", "1 minute")
      const fiber = yield* Effect.fork(pool.query("select 1"))
      yield* TestTime.settle()
      yield* driver.kill(1)
      yield* Fiber.interrupt(fiber)
      yield* driver.delay("execute", undefined)
      expect(yield* driver.log).toContain("afterInterrupt 1 false")
      expect(yield* nextConnection(pool)).toBe(2)
      expect(yield* driver.violations).toEqual([])
    }))

  it.scoped("one that dies is a no: the caller gets its interruption, not the defect; the connection is replaced", () =>
    Effect.gen(function*() {
      const { driver, pool } = yield* setup({ afterInterrupt: true })
      yield* driver.scriptAfterInterrupt({ _tag: "Die", defect: "driver bug" })
      const exit = yield* interruptMidQuery(pool)
      expect(Exit.isInterrupted(exit)).toBe(true)
      expect(Exit.isFailure(exit) && Cause.isDie(exit.cause)).toBe(false)
      expect(yield* driver.log).toContain("afterInterrupt 1 died")
      expect(yield* nextConnection(pool)).toBe(2)
      expect(yield* driver.violations).toEqual([])
    }))

  it.scoped("one that hangs holds the interrupted caller for the pool's timeout at most, then is a no", () =>
    Effect.gen(function*() {
      const { driver, pool } = yield* setup({ afterInterrupt: true }, { timeout: "2 seconds" })
      yield* driver.scriptAfterInterrupt({ _tag: "Hang" })
      const fiber = yield* Effect.fork(pool.query("sleep:60000"))
      yield* TestTime.settle()
      yield* TestClock.adjust("500 millis")
      const interrupting = yield* Effect.fork(Fiber.interrupt(fiber))
      yield* TestTime.settle()
      // the checkout's own deadline (2 s from the request) passes first; the hook is still asked
      yield* TestClock.adjust("1999 millis")
      yield* TestTime.settle()
      expect(Option.isNone(yield* Fiber.poll(interrupting))).toBe(true)
      yield* TestClock.adjust("1 millis")
      yield* TestTime.settle()
      const exit = yield* Fiber.poll(interrupting)
      expect(Option.isSome(exit) && Exit.isSuccess(exit.value) && Exit.isInterrupted(exit.value.value)).toBe(true)
      expect(yield* driver.log).toContain("afterInterrupt 1 interrupted")
      expect(yield* nextConnection(pool)).toBe(2)
      expect(yield* driver.violations).toEqual([])
    }))

  it.scoped("one that answers within the pool's timeout is heard: a slow true still recovers", () =>
    Effect.gen(function*() {
      const { driver, pool } = yield* setup({ afterInterrupt: true }, { timeout: "2 seconds" })
      yield* driver.scriptAfterInterrupt({
        _tag: "Delay",
        duration: "1 second",
        then: { _tag: "Answer", recovered: true }
      })
      const fiber = yield* Effect.fork(pool.query("sleep:60000"))
      yield* TestTime.settle()
      const interrupting = yield* Effect.fork(Fiber.interrupt(fiber))
      yield* TestTime.settle()
      yield* TestClock.adjust("1 second")
      yield* Fiber.join(interrupting)
      expect(yield* nextConnection(pool)).toBe(1)
      expect(yield* driver.connectAttempts).toBe(1)
      expect(yield* driver.violations).toEqual([])
    }))

  it.scoped("a checkout held past its timeout stays broken: afterInterrupt is not asked, the connection is replaced", () =>
    Effect.gen(function*() {
      const { driver, pool } = yield* setup({ afterInterrupt: true }, { timeout: "1 second" })
      // the call outlives the checkout's deadline: the pool takes the connection away under it
      yield* driver.delay("execute", "1 minute")
      const fiber = yield* Effect.fork(pool.query("select 1"))
      yield* TestTime.settle()
      yield* TestClock.adjust("1 second")
      yield* TestTime.settle()
      expect(yield* driver.log).toContain("released 1")
      yield* TestClock.adjust("1 second")
      const exit = yield* Fiber.interrupt(fiber)
      expect(Exit.isInterrupted(exit)).toBe(true)
      yield* driver.delay("execute", undefined)
      expect((yield* driver.log).filter((entry) => entry.startsWith("afterInterrupt"))).toEqual([])
      expect(yield* nextConnection(pool)).toBe(2)
      // asking about a disconnected connection would be a violation
      expect(yield* driver.violations).toEqual([])
    }))

  it.scoped("a transaction interrupted mid-query, recovered: rolled back on the same connection, which serves again", () =>
    Effect.gen(function*() {
      const { driver, pool } = yield* setup({ afterInterrupt: true })
      const exit = yield* interruptMidQuery(pool, (conn) => conn.transaction((tx) => tx.query("sleep:60000")))
      expect(Exit.isInterrupted(exit)).toBe(true)
      expect(yield* TestDriver.statements(driver)).toEqual([
        "begin 1",
        "prepare 1 sleep:60000",
        "execute 1 sleep:60000",
        "close 1 sleep:60000",
        "rollback 1"
      ])
      expect(yield* driver.transactionStatus(1)).toEqual(Option.some("idle"))
      expect(yield* nextConnection(pool)).toBe(1)
      expect(yield* driver.violations).toEqual([])
    }))

  it.scoped("a recovered connection is still checked in: a transaction left open behind the pool's back replaces it", () =>
    Effect.gen(function*() {
      const { driver, pool } = yield* setup({ afterInterrupt: true })
      const exit = yield* interruptMidQuery(
        pool,
        (conn) => Effect.zipRight(conn.query("begin"), conn.query("sleep:60000"))
      )
      expect(Exit.isInterrupted(exit)).toBe(true)
      expect(yield* driver.log).toContain("afterInterrupt 1 true")
      expect(yield* nextConnection(pool)).toBe(2)
      expect(yield* driver.violations).toEqual([])
    }))
})
