/**
 * Under `exactOptionalPropertyTypes`, `{ timeout: maybeTimeout }` with `maybeTimeout: T | undefined`
 * compiles only if the field accepts an explicit `undefined`. Typechecked by `npm run check`; the
 * test checks that `undefined` is the default at run time.
 */
import { describe, expect, it } from "@effect/vitest"
import { Pool } from "@redial/pool"
import { TestTime } from "@redial/testing"
import type { Duration } from "effect"
import { Effect } from "effect"
import * as TestDriver from "./support/testDriver.js"

const maybe = <A>(_: A): A | undefined => undefined
const maybeDuration = maybe<Duration.DurationInput>("1 second")

describe("Pool options accept an explicit undefined", () => {
  it.scoped("every optional field undefined gives the defaults", () =>
    Effect.gen(function*() {
      const driver = yield* TestDriver.make()
      const pool = yield* Pool.make(driver, {
        size: maybe(2),
        queueTarget: maybeDuration,
        queueInterval: maybeDuration,
        queue: maybe(false),
        timeout: maybeDuration,
        idleInterval: maybeDuration,
        pingTimeout: maybeDuration,
        minUptime: maybeDuration,
        policy: undefined,
        connectTimeout: maybeDuration,
        config: undefined,
        configure: undefined,
        afterConnect: undefined,
        maxLifetime: maybe<Pool.Options<TestDriver.TestTypes>["maxLifetime"]>(undefined),
        leakTimeout: maybeDuration,
        name: maybe("orders"),
        awaitConnected: maybe(true)
      })
      yield* TestTime.settle()
      expect(pool.name).toBe("pool")
      expect(yield* pool.stats).toEqual({ size: 1, idle: 1, busy: 0, connecting: 0, queued: 0 })
      const result = yield* pool.transaction((conn) => conn.query("select 1"))
      expect(result).toBeDefined()
    }))

  it.scoped("awaitConnected's timeout and a nested transaction's savepoint", () =>
    Effect.gen(function*() {
      const driver = yield* TestDriver.make()
      const pool = yield* Pool.make(driver, { awaitConnected: { timeout: maybeDuration } })
      yield* pool.transaction((conn) => conn.transaction(() => Effect.void, { savepoint: maybe(true) }))
      expect((yield* pool.stats).idle).toBe(1)
    }))
  it.scoped("TestDriver's options too", () =>
    Effect.gen(function*() {
      const driver = yield* TestDriver.make({
        savepoints: maybe(true),
        connectScript: undefined,
        connectOtherwise: undefined,
        reportsLoss: maybe(true),
        delays: undefined,
        inOrder: maybe(false)
      })
      expect(driver.savepoints).toBeUndefined()
      expect(driver.lost).toBeUndefined()
      const pool = yield* Pool.make(driver)
      yield* TestTime.settle()
      expect((yield* pool.stats).idle).toBe(1)
    }))
})
