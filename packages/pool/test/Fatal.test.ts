import { describe, expect, it } from "@effect/vitest"
import { Closed, ConnectFailed, Reconnect, Timeout } from "@redial/core"
import { TestTime } from "@redial/testing"
import { Duration, Effect, Exit, Fiber, TestClock } from "effect"
import * as Driver from "../src/Driver.js"
import * as Pool from "../src/Pool.js"
import * as TestDriver from "./support/testDriver.js"

const badPassword = new TestDriver.TestDriverError({ reason: "password authentication failed", fatal: true })
const refused = new TestDriver.TestDriverError({ reason: "connect ECONNREFUSED 127.0.0.1:5432" })
const fail = (error: TestDriver.TestDriverError) => ({ _tag: "Fail", error }) as const
const later = (ms: number, then: TestDriver.ConnectStep) =>
  ({ _tag: "Delay", duration: Duration.millis(ms), then }) as const

/** A `Closed` of the pool after a fatal error, carrying `error`. */
const expectFatal = (error: unknown, cause: unknown) => {
  expect(error).toBeInstanceOf(Closed)
  const closed = error as Closed
  expect(closed.kind).toBe("Pool")
  expect(closed.reason).toBe("FatalError")
  expect(closed.error).toBeInstanceOf(ConnectFailed)
  // (the error as failed inside a span: a proxy of the same error, equal to it)
  expect(closed.error?.cause).toEqual(cause)
  expect(closed.message).toMatch(/^Pool "fatal" is closed: every connection has stopped, the last after a fatal error/)
}

describe("Driver.isFatal", () => {
  it.scoped("a fatal connect error stops each slot after one attempt: awaitConnected fails with Closed carrying it", () =>
    Effect.gen(function*() {
      const driver = yield* TestDriver.make({ connectOtherwise: fail(badPassword) })
      const error = yield* TestTime.advanceUntilDone(
        Effect.flip(Pool.make(driver, {
          name: "fatal",
          size: 3,
          policy: Reconnect.fixed("10 millis"),
          awaitConnected: { timeout: "10 seconds" }
        })),
        { step: "10 millis" }
      )
      expectFatal(error, badPassword)
      expect(yield* driver.connectAttempts).toBe(3)
      // 6,000 periods of the policy later
      yield* TestTime.advanceUntilDone(Effect.sleep("1 minute"), { step: "10 seconds" })
      expect(yield* driver.connectAttempts).toBe(3)
    }))

  it.scoped("queued requests fail with it once every slot stopped; later requests fail at once; no attempt follows", () =>
    Effect.gen(function*() {
      const driver = yield* TestDriver.make({ connectOtherwise: later(100, fail(badPassword)) })
      const pool = yield* Pool.make(driver, { name: "fatal", size: 2, policy: Reconnect.fixed("10 millis") })
      const queued = yield* Effect.fork(Effect.flip(pool.query("select 1")))
      yield* TestTime.settle()
      expect((yield* pool.stats).queued).toBe(1)
      yield* TestClock.adjust("100 millis")
      yield* TestTime.settle()
      expectFatal(yield* Fiber.join(queued), badPassword)
      expectFatal(yield* Effect.flip(pool.query("select 1")), badPassword)
      // 6,000 periods of the policy later
      yield* TestTime.advanceUntilDone(Effect.sleep("1 minute"), { step: "10 seconds" })
      expect(yield* driver.connectAttempts).toBe(2)
    }))

  it.scoped("one slot's fatal error leaves the others serving; the pool closes when the last one stops", () =>
    Effect.gen(function*() {
      const driver = yield* TestDriver.make({
        connectScript: [{ _tag: "Succeed" }, fail(badPassword)],
        reportsLoss: true
      })
      const pool = yield* TestTime.advanceUntilDone(
        Pool.make(driver, { name: "fatal", size: 2, policy: Reconnect.fixed("10 millis"), minUptime: 0 }),
        { step: "10 millis" }
      )
      yield* TestTime.settle()
      expect((yield* pool.query("select 1")).connection).toBe(1)
      expect(yield* driver.connectAttempts).toBe(2)
      // the serving slot's connection dies, and its reconnect fails fatally too
      yield* driver.connectOtherwise(fail(badPassword))
      yield* driver.kill(1)
      const error = yield* TestTime.advanceUntilDone(Effect.flip(pool.query("select 1")), { step: "10 millis" })
      expectFatal(error, badPassword)
      expect(yield* driver.connectAttempts).toBe(3)
    }))

  it.scoped("an error not marked fatal is retried by the policy, and the pool serves once connect succeeds", () =>
    Effect.gen(function*() {
      const driver = yield* TestDriver.make({ connectOtherwise: fail(refused) })
      const pool = yield* Pool.make(driver, { name: "fatal", policy: Reconnect.fixed("1 second") })
      yield* TestTime.settle()
      yield* TestClock.adjust("5500 millis")
      yield* TestTime.settle()
      expect(yield* driver.connectAttempts).toBe(6)
      yield* driver.connectOtherwise({ _tag: "Succeed" })
      const result = yield* TestTime.advanceUntilDone(pool.query("select 1"), { step: "100 millis" })
      expect(result.connection).toBe(1)
    }))

  it.scoped("absent: even an error the driver would call fatal is retried", () =>
    Effect.gen(function*() {
      const { isFatal: _, ...plain } = yield* TestDriver.make({ connectOtherwise: fail(badPassword) })
      const driver: Driver.Driver<TestDriver.TestTypes> & Pick<TestDriver.TestDriver, "connectAttempts"> = plain
      yield* Pool.make(driver, { name: "fatal", policy: Reconnect.fixed("1 second") })
      yield* TestTime.settle()
      yield* TestClock.adjust("5500 millis")
      yield* TestTime.settle()
      expect(yield* driver.connectAttempts).toBe(6)
    }))

  it.scoped("it judges the driver's own errors only: a connect timeout and a died attempt are retried, unasked", () =>
    Effect.gen(function*() {
      const fake = yield* TestDriver.make({
        connectScript: [{ _tag: "Hang" }, { _tag: "Die", defect: undefined }, fail(refused)]
      })
      const asked: Array<unknown> = []
      const driver: Driver.Driver<TestDriver.TestTypes> = {
        ...fake,
        isFatal: (error) => {
          asked.push(error)
          // a driver may read its own error's fields: that must be safe
          return error.fatal === true
        }
      }
      const pool = yield* Pool.make(driver, {
        name: "fatal",
        connectTimeout: "1 second",
        policy: Reconnect.fixed("10 millis")
      })
      const result = yield* TestTime.advanceUntilDone(pool.query("select 1"), { step: "10 millis" })
      expect(result.connection).toBe(1)
      expect(yield* fake.connectAttempts).toBe(4)
      expect(asked).toEqual([refused])
    }))

  it.scoped("a fatal error made outside the attempt's span (another fiber's Exit) is recognised too", () =>
    Effect.gen(function*() {
      const fake = yield* TestDriver.make()
      // failed in no span: the pool's re-failure inside core's connect span wraps it in a proxy
      const failed = Exit.fail(badPassword)
      const driver: Driver.Driver<TestDriver.TestTypes> = { ...fake, connect: () => failed }
      const error = yield* TestTime.advanceUntilDone(
        Effect.flip(Pool.make(driver, {
          name: "fatal",
          policy: Reconnect.fixed("10 millis"),
          awaitConnected: { timeout: "10 seconds" }
        })),
        { step: "10 millis" }
      )
      expectFatal(error, badPassword)
    }))

  it.scoped("configure's and afterConnect's errors are judged too (not afterConnect's Disconnect)", () =>
    Effect.gen(function*() {
      const driver = yield* TestDriver.make()
      let afterConnect = 0
      const error = yield* TestTime.advanceUntilDone(
        Effect.flip(Pool.make(driver, {
          name: "fatal",
          size: 2,
          policy: Reconnect.fixed("10 millis"),
          minUptime: 0,
          awaitConnected: { timeout: "10 seconds" },
          configure: ({ config, slot }) => slot === 0 ? Effect.fail(badPassword) : Effect.succeed(config),
          afterConnect: () =>
            Effect.suspend((): Effect.Effect<void, Driver.Failure<TestDriver.TestTypes>> => {
              afterConnect += 1
              return afterConnect === 1
                ? Effect.fail(new Driver.Disconnect({ cause: badPassword }))
                : Effect.fail(badPassword)
            })
        })),
        { step: "10 millis" }
      )
      expectFatal(error, badPassword)
      // slot 0 stopped before connecting; slot 1's first afterConnect failed with a Disconnect (retried)
      expect(afterConnect).toBe(2)
      expect(yield* driver.connectAttempts).toBe(2)
    }))

  it.scoped("while another slot still tries, a request's Timeout carries the fatal error as its cause", () =>
    Effect.gen(function*() {
      const driver = yield* TestDriver.make({ connectScript: [fail(badPassword), { _tag: "Hang" }] })
      const pool = yield* Pool.make(driver, {
        name: "fatal",
        size: 2,
        timeout: "1 second",
        connectTimeout: "1 minute"
      })
      const error = yield* TestTime.advanceUntilDone(Effect.flip(pool.query("select 1")), { step: "100 millis" })
      expect(error).toBeInstanceOf(Timeout)
      const cause = (error as Timeout).cause
      expect(cause).toBeInstanceOf(ConnectFailed)
      expect((cause as ConnectFailed).cause).toEqual(badPassword)
      expect((cause as ConnectFailed).connection).toBe("fatal[0]")
    }))
})
