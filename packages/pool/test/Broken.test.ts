import { describe, expect, it } from "@effect/vitest"
import { Reconnect } from "@redial/core"
import { TestTime } from "@redial/testing"
import { Cause, Effect, Exit, Option, Stream } from "effect"
import { Disconnect } from "../src/Driver.js"
import * as Pool from "../src/Pool.js"
import * as TestDriver from "./support/testDriver.js"

const setup = Effect.gen(function*() {
  const driver = yield* TestDriver.make()
  const pool = yield* Pool.make(driver, { name: "broken", policy: Reconnect.fixed("10 millis"), minUptime: 0 })
  yield* TestDriver.awaitIdle(pool, 1)
  return { driver, pool }
})

const tagOf = (exit: Exit.Exit<unknown, unknown>): string =>
  Exit.isSuccess(exit)
    ? "Success"
    : Option.match(Cause.failureOption(exit.cause), {
      onNone: () => (Cause.isDie(exit.cause) ? "Die" : "Interrupt"),
      onSome: (error) => (error as { readonly _tag: string })._tag
    })

/** Every kind of call a checkout offers, each run to its exit. */
const everyCall = (conn: Pool.Checkout<TestDriver.TestTypes>) =>
  Effect.all({
    query: Effect.exit(conn.query("q")),
    prepare: Effect.exit(conn.prepare("p")),
    status: Effect.exit(conn.status),
    stream: Effect.exit(Stream.runCollect(conn.stream("rows:3", [], { maxRows: 1 }))),
    transaction: Effect.exit(conn.transaction((tx) => tx.query("in tx")))
  })

describe("a broken checkout fails every later call at once, without reaching the driver", () => {
  for (
    const [name, breakIt] of [
      [
        "a Disconnect",
        (driver: TestDriver.TestDriver) => driver.failNext("execute", new Disconnect({ cause: "reset" }))
      ],
      ["a defect", (driver: TestDriver.TestDriver) => driver.dieNext("execute", "driver bug")]
    ] as const
  ) {
    it.scoped(`on pool.checkout (scoped), after ${name} the user caught`, () =>
      Effect.gen(function*() {
        const { driver, pool } = yield* setup
        yield* breakIt(driver)
        const calls = yield* Effect.scoped(Effect.gen(function*() {
          const conn = yield* pool.checkout
          const first = yield* Effect.exit(conn.query("first"))
          expect(tagOf(first)).toBe(name === "a Disconnect" ? "Disconnect" : "Die")
          yield* driver.clearLog
          return yield* everyCall(conn)
        }))
        for (const exit of Object.values(calls)) expect(tagOf(exit)).toBe("ConnectionBroken")
        // nothing reached connection 1 after the break but its disconnect and release
        expect((yield* driver.log).filter((entry) => / 1( |$)/.test(entry) && !/^(disconnect|released) /.test(entry)))
          .toEqual([])
        yield* TestTime.settle()
        expect(yield* TestTime.advanceUntilDone(pool.run((conn) => Effect.succeed(conn.connection.id)))).toBe(2)
        expect(yield* driver.violations).toEqual([])
      }))

    it.scoped(`inside pool.run and inside a stream, after ${name} the user caught`, () =>
      Effect.gen(function*() {
        const { driver, pool } = yield* setup
        yield* breakIt(driver)
        const calls = yield* pool.run((conn) =>
          Effect.gen(function*() {
            yield* Effect.exit(conn.query("first"))
            return yield* everyCall(conn)
          })
        )
        for (const exit of Object.values(calls)) expect(tagOf(exit)).toBe("ConnectionBroken")
        expect(yield* driver.violations).toEqual([])
      }))
  }
})
