import { describe, expect, it } from "@effect/vitest"
import { Closed, ConnectFailed, Reconnect, Timeout } from "@redial/core"
import { Dropped, Pool } from "@redial/pool"
import { TestTime } from "@redial/testing"
import { Context, Duration, Effect, Exit, Layer, Scope } from "effect"
import * as TestDriver from "./support/testDriver.js"

const refused = () =>
  ({ _tag: "Fail", error: new TestDriver.TestDriverError({ reason: "connect ECONNREFUSED 127.0.0.1:5432" }) }) as const
const after = (ms: number) => ({ _tag: "Delay", duration: Duration.millis(ms), then: { _tag: "Succeed" } }) as const

class Db extends Context.Tag("Db")<Db, Pool.Pool<TestDriver.TestTypes>>() {}

describe("Pool: awaitConnected", () => {
  it.scoped("a value that is neither a boolean nor { timeout } (untyped config) is an InvalidOption", () =>
    Effect.gen(function*() {
      const driver = yield* TestDriver.make()
      const error = yield* Effect.flip(Pool.make(driver, { awaitConnected: "yes" as unknown as boolean }))
      expect(error).toMatchObject({ _tag: "InvalidOption", option: "awaitConnected" })
    }))

  it.scoped("without it, a queue: false request made right after the layer is built is dropped", () =>
    Effect.gen(function*() {
      const driver = yield* TestDriver.make({ connectScript: [after(10)] })
      const layer = Pool.layer(Db, driver, { name: "orders", queue: false })
      const error = yield* Effect.flip(Effect.flatMap(Db, (db) => db.query("select 1")).pipe(Effect.provide(layer)))
      expect(error).toBeInstanceOf(Dropped)
    }))

  it.scoped("with it, the layer is built once a slot serves: the same request runs", () =>
    Effect.gen(function*() {
      const driver = yield* TestDriver.make({ connectScript: [after(10)] })
      const layer = Pool.layer(Db, driver, { name: "orders", queue: false, awaitConnected: true })
      const result = yield* TestTime.advanceUntilDone(
        Effect.flatMap(Db, (db) => db.query("select 1")).pipe(Effect.provide(layer)),
        { step: "10 millis" }
      )
      expect(result).toBeDefined()
    }))

  it.scoped("one slot serving is enough: the pool is returned while the other slots still connect", () =>
    Effect.gen(function*() {
      // slot 0 connects after 10 ms; slot 1's attempt hangs
      const driver = yield* TestDriver.make({ connectScript: [after(10), { _tag: "Hang" }] })
      const pool = yield* TestTime.advanceUntilDone(
        Pool.make(driver, { name: "orders", size: 2, awaitConnected: { timeout: "1 second" } }),
        { step: "10 millis" }
      )
      const stats = yield* pool.stats
      expect(stats.idle).toBe(1)
      expect(stats.connecting).toBe(1)
    }))

  it.scoped("fails with Timeout naming the pool, its cause the last connect error, and every slot stops", () =>
    Effect.gen(function*() {
      const driver = yield* TestDriver.make({ connectOtherwise: refused() })
      const error = yield* TestTime.advanceUntilDone(
        Effect.flip(Pool.make(driver, {
          name: "orders",
          size: 2,
          policy: Reconnect.fixed("1 second"),
          awaitConnected: { timeout: "2500 millis" }
        }))
      )
      expect(error).toBeInstanceOf(Timeout)
      const timeout = error as Timeout
      expect(timeout.operation).toBe("await")
      expect(timeout.kind).toBe("Pool")
      expect(timeout.cause).toBeInstanceOf(ConnectFailed)
      const last = timeout.cause as ConnectFailed
      expect(last.connection).toMatch(/^orders\[[01]\]$/)
      expect(last.attempt).toBe(3)
      expect(timeout.message).toMatch(
        /^Pool "orders": not connected within 2s 500ms\. Last connect error: "orders\[[01]\]" attempt 3 failed: .*ECONNREFUSED/
      )
      const attempts = yield* driver.connectAttempts
      expect(attempts).toBe(6)
      yield* TestTime.advanceUntilDone(Effect.sleep("1 minute"))
      expect(yield* driver.connectAttempts).toBe(attempts)
    }))

  it.scoped("fails with Closed naming the pool when every slot's policy gives up first", () =>
    Effect.gen(function*() {
      const driver = yield* TestDriver.make({ connectOtherwise: refused() })
      const error = yield* TestTime.advanceUntilDone(
        Effect.flip(Pool.make(driver, {
          name: "orders",
          size: 2,
          policy: Reconnect.limit(Reconnect.fixed("1 second"), 1),
          awaitConnected: { timeout: Duration.infinity }
        }))
      )
      expect(error).toBeInstanceOf(Closed)
      const closed = error as Closed
      expect(closed.kind).toBe("Pool")
      expect(closed.reason).toBe("PolicyExhausted")
      expect(closed.message).toMatch(/^Pool "orders" is closed: every connection has stopped/)
    }))

  it.scoped("true waits as long as the connectTimeout", () =>
    Effect.gen(function*() {
      const driver = yield* TestDriver.make({ connectOtherwise: refused() })
      const error = yield* TestTime.advanceUntilDone(
        Effect.flip(Pool.make(driver, {
          name: "orders",
          connectTimeout: "3 seconds",
          policy: Reconnect.fixed("1 second"),
          awaitConnected: true
        })),
        { step: "100 millis" }
      )
      expect(Duration.toMillis((error as Timeout).duration)).toBe(3000)
    }))

  it.scoped("a failed layer leaves no connection and no attempt behind", () =>
    Effect.gen(function*() {
      const driver = yield* TestDriver.make({ connectScript: [refused()], connectOtherwise: after(0) })
      const scope = yield* Scope.make()
      const layer = Pool.layer(Db, driver, {
        policy: Reconnect.fixed("10 seconds"),
        awaitConnected: { timeout: "1 second" }
      })
      const exit = yield* TestTime.advanceUntilDone(Effect.exit(Layer.buildWithScope(layer, scope)))
      expect(Exit.isFailure(exit)).toBe(true)
      yield* TestTime.advanceUntilDone(Effect.sleep("1 minute"))
      expect(yield* driver.connectAttempts).toBe(1)
      expect(yield* driver.openConnections).toBe(0)
      yield* Scope.close(scope, Exit.void)
    }))

  it.scoped("a timeout that is not a positive duration is an InvalidOption named awaitConnected.timeout", () =>
    Effect.gen(function*() {
      const driver = yield* TestDriver.make()
      const error = yield* Effect.flip(Pool.make(driver, { awaitConnected: { timeout: -1 } }))
      expect(error._tag).toBe("InvalidOption")
      expect(error._tag === "InvalidOption" && error.option).toBe("awaitConnected.timeout")
    }))
})
