import { describe, expect, it } from "@effect/vitest"
import { Closed, ConnectFailed, Reconnect, Timeout } from "@redial/core"
import { type Dropped, Pool } from "@redial/pool"
import { TestTime } from "@redial/testing"
import { Duration, Effect, Exit, Fiber, Scope, TestClock } from "effect"
import * as TestDriver from "./support/testDriver.js"

const refused = () =>
  ({ _tag: "Fail", error: new TestDriver.TestDriverError({ reason: "connect ECONNREFUSED 127.0.0.1:5432" }) }) as const

describe("Pool errors say where", () => {
  it.scoped("a checkout after the pool's scope ended: Closed naming the pool as a pool", () =>
    Effect.gen(function*() {
      const driver = yield* TestDriver.make()
      const scope = yield* Scope.make()
      const pool = yield* Scope.extend(Pool.make(driver, { name: "orders" }), scope)
      yield* Scope.close(scope, Exit.void)
      const error = yield* Effect.flip(pool.run(() => Effect.void))
      expect(error).toBeInstanceOf(Closed)
      expect((error as Closed).kind).toBe("Pool")
      expect(error.message).toBe(`Pool "orders" is closed: the scope that owned it has ended; make a new pool.`)
    }))

  it.scoped("when every slot stopped: Closed naming the pool, with the last slot's failed attempt", () =>
    Effect.gen(function*() {
      const driver = yield* TestDriver.make({ connectOtherwise: refused() })
      const pool = yield* Pool.make(driver, { name: "orders", size: 2, policy: Reconnect.stop })
      yield* TestTime.settle()
      const error = yield* Effect.flip(pool.run(() => Effect.void))
      expect(error).toBeInstanceOf(Closed)
      const closed = error as Closed
      expect(closed.connection).toBe("orders")
      expect(closed.reason).toBe("PolicyExhausted")
      expect(closed.error?.connection).toMatch(/^orders\[[01]\]$/)
      expect(closed.message).toMatch(/^Pool "orders" is closed: every connection has stopped.*ECONNREFUSED/)
    }))

  it.scoped("a request timed out in the queue while no connection is up carries the last connect error", () =>
    Effect.gen(function*() {
      const driver = yield* TestDriver.make({ connectOtherwise: refused() })
      const pool = yield* Pool.make(driver, {
        name: "orders",
        size: 2,
        timeout: "5 seconds",
        // no load shedding within the test: the deadline comes first
        queueTarget: "1 minute",
        queueInterval: "10 minutes",
        policy: Reconnect.fixed("1 second")
      })
      const fiber = yield* Effect.fork(Effect.flip(pool.run(() => Effect.void)))
      yield* TestTime.settle()
      for (let i = 0; i < 5; i++) {
        yield* TestClock.adjust("1 second")
        yield* TestTime.settle()
      }
      const error = yield* Fiber.join(fiber)
      expect(error).toBeInstanceOf(Timeout)
      const timeout = error as Timeout
      expect(timeout.operation).toBe("queue")
      expect(Duration.toMillis(timeout.duration)).toBe(5000)
      expect(timeout.cause).toBeInstanceOf(ConnectFailed)
      expect((timeout.cause as ConnectFailed).connection).toMatch(/^orders\[[01]\]$/)
      expect(timeout.message).toMatch(
        /^Pool "orders": deadline reached while in queue after 5s\. Last connect error: "orders\[[01]\]" attempt \d failed: .*ECONNREFUSED/
      )
    }))

  it.scoped("a queue timeout while a connection is up (held by someone else) has no connect error", () =>
    Effect.gen(function*() {
      const driver = yield* TestDriver.make({ connectScript: [refused()] })
      const pool = yield* Pool.make(driver, {
        name: "orders",
        timeout: "5 seconds",
        policy: Reconnect.fixed("1 second")
      })
      yield* TestTime.settle()
      yield* TestClock.adjust("1 second")
      yield* TestTime.settle()
      expect((yield* pool.stats).idle).toBe(1)
      const holder = yield* Effect.fork(pool.run(() => Effect.sleep("1 hour")))
      yield* TestTime.settle()
      const fiber = yield* Effect.fork(Effect.flip(pool.run(() => Effect.void)))
      yield* TestTime.settle()
      yield* TestClock.adjust("5 seconds")
      const error = yield* Fiber.join(fiber)
      expect(error).toBeInstanceOf(Timeout)
      expect((error as Timeout).cause).toBeUndefined()
      expect(error.message).toBe(`Pool "orders": deadline reached while in queue after 5s.`)
      yield* Fiber.interrupt(holder)
    }))
})

describe("Dropped while no connection is up", () => {
  it.scoped("queue: false: the Dropped carries the last connect error", () =>
    Effect.gen(function*() {
      const driver = yield* TestDriver.make({ connectOtherwise: refused() })
      const pool = yield* Pool.make(driver, { name: "orders", queue: false, policy: Reconnect.fixed("1 second") })
      yield* TestTime.settle()
      const error = yield* Effect.flip(pool.run(() => Effect.void))
      expect(error._tag).toBe("Dropped")
      const dropped = error as Dropped
      expect(dropped.connected).toBe(0)
      expect(dropped.cause).toBeInstanceOf(ConnectFailed)
      expect(dropped.message).toMatch(
        /^Pool "orders": connection not available and queuing is disabled\. Last connect error: "orders\[0\]" attempt 1 failed: TestDriverError: .*ECONNREFUSED/
      )
    }))

  it.scoped("shed from the queue: the Dropped carries the last connect error", () =>
    Effect.gen(function*() {
      const driver = yield* TestDriver.make({ connectOtherwise: refused() })
      const pool = yield* Pool.make(driver, {
        name: "orders",
        queueTarget: "50 millis",
        queueInterval: "100 millis",
        policy: Reconnect.fixed("1 second")
      })
      const fiber = yield* Effect.fork(Effect.flip(pool.run(() => Effect.void)))
      const error = yield* TestTime.advanceUntilDone(Fiber.join(fiber), { step: "50 millis" })
      expect(error._tag).toBe("Dropped")
      expect((error as Dropped).cause).toBeInstanceOf(ConnectFailed)
      expect(error.message).toContain(`Last connect error: "orders[0]" attempt 1 failed`)
    }))
})
