/**
 * What the ports of DBConnection's integration cases share (DBConnection.cases.test.ts and
 * DBConnection.failures.test.ts): a pool on TestDriver, the outcome of an exit, and assertions on the
 * driver's log.
 */
import { expect } from "@effect/vitest"
import { Reconnect } from "@redial/core"
import { TestTime } from "@redial/testing"
import { Cause, Data, Effect, Exit, Logger, Option } from "effect"
import * as Pool from "../../src/Pool.js"
import * as TestDriver from "../../src/TestDriver.js"

export class Oops extends Data.TaggedError("Oops")<{ readonly n: number }> {}

export const setup = (
  driverOptions: TestDriver.Options = {},
  poolOptions: Pool.Options<TestDriver.TestTypes> = {}
) =>
  Effect.gen(function*() {
    const driver = yield* TestDriver.make(driverOptions)
    const pool = yield* Pool.make(driver, { name: "dbc", policy: Reconnect.fixed("10 millis"), ...poolOptions })
    yield* TestDriver.awaitIdle(pool, poolOptions.size ?? 1)
    return { driver, pool }
  })

/** The outcome's kind: "Success", "Die", "Interrupt" or the failure's `_tag`. */
export const kind = (exit: Exit.Exit<unknown, unknown>): string => {
  if (Exit.isSuccess(exit)) return "Success"
  if (Cause.isDie(exit.cause)) return "Die"
  const failure = Cause.failureOption(exit.cause)
  if (Option.isNone(failure)) return "Interrupt"
  const error = failure.value
  return typeof error === "object" && error !== null && "_tag" in error ? String(error._tag) : String(error)
}

export const failureOf = (exit: Exit.Exit<unknown, unknown>): unknown =>
  Exit.isFailure(exit) ? Option.getOrUndefined(Cause.failureOption(exit.cause)) : undefined

/** Waits for a slot to reconnect, moving TestClock. */
export const eventually = <A, E>(effect: Effect.Effect<A, E>) =>
  TestTime.advanceUntilDone(effect, { step: "10 millis", limit: "10 seconds" })

export const connectionId = (pool: Pool.Pool<TestDriver.TestTypes>) =>
  eventually(pool.run((conn) => Effect.succeed(conn.connection.id)))

/** The log entries after the first `entry` (all of it when absent). */
export const after = (log: ReadonlyArray<string>, entry: string) => log.slice(log.indexOf(entry) + 1)

/** `entries` appear in the log in this order. */
export const expectOrder = (log: ReadonlyArray<string>, entries: ReadonlyArray<string>) => {
  const indexes = entries.map((entry) => log.indexOf(entry))
  expect({ log, indexes: indexes.every((i, n) => i >= 0 && (n === 0 || i > indexes[n - 1]!)) }).toEqual({
    log,
    indexes: true
  })
}

/** Nothing after `from` in the log reached connection `id` but its disconnect and release. */
export const expectUntouchedAfter = (log: ReadonlyArray<string>, from: string, id: number) => {
  const later = after(log, from).filter((entry) => entry.split(" ")[1] === String(id))
  expect(later.filter((entry) => !entry.startsWith("disconnect") && !entry.startsWith("released"))).toEqual([])
}

export const expectClean = (driver: TestDriver.TestDriver) =>
  Effect.gen(function*() {
    expect(yield* driver.violations).toEqual([])
    expect(yield* driver.openPrepared).toBe(0)
    expect(yield* driver.openCursors).toBe(0)
  })

/** A logger that keeps every message, for asserting what the pool logged. */
export const captureLogs = () => {
  const lines: Array<string> = []
  const logger = Logger.make(({ message }) => {
    lines.push((Array.isArray(message) ? message : [message]).map((part) => String(part)).join(" "))
  })
  return { lines, layer: Logger.replace(Logger.defaultLogger, logger) }
}
