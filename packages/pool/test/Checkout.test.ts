import { describe, expect, it } from "@effect/vitest"
import { Cause, Chunk, Effect, Exit, Option, Stream } from "effect"
import * as Pool from "../src/Pool.js"
import * as TestDriver from "./support/testDriver.js"

const setup = Effect.gen(function*() {
  const driver = yield* TestDriver.make()
  const pool = yield* Pool.make(driver, { name: "held" })
  yield* TestDriver.awaitIdle(pool, 1)
  return { driver, pool }
})

describe("Checkout", () => {
  it.scoped("its methods work destructured, as plain fields would", () =>
    Effect.gen(function*() {
      const { driver, pool } = yield* setup
      const rows = yield* pool.transaction(({ connection, pool: name, query, status, stream, run }) =>
        Effect.gen(function*() {
          expect(connection.id).toBe(1)
          expect(name).toBe("held")
          expect(yield* status).toBe("transaction")
          yield* run(({ query }) => query("inner", [2]))
          const result = yield* query("insert", [1])
          expect(result.params).toEqual([1])
          return yield* Stream.runCollect(stream("rows:5", [], { maxRows: 2 }))
        })
      )
      expect(Chunk.toReadonlyArray(rows)).toEqual([1, 2, 3, 4, 5])
      const statements = yield* TestDriver.statements(driver)
      expect(statements[0]).toBe("begin 1")
      expect(statements).toContain("execute 1 inner")
      expect(statements).toContain("execute 1 insert")
      expect(statements.at(-1)).toBe("commit 1")
      expect(yield* driver.openCursors).toBe(0)
    }))

  it.scoped("is one object for the whole checkout: nested runs and transactions get the same one", () =>
    Effect.gen(function*() {
      const { pool } = yield* setup
      yield* pool.run((outer) =>
        Effect.gen(function*() {
          const inRun = yield* outer.run((conn) => Effect.succeed(conn))
          const inTransaction = yield* outer.transaction((conn) => Effect.succeed(conn))
          expect(inRun).toBe(outer)
          expect(inTransaction).toBe(outer)
          // the same bound method each time it is read
          expect(outer.query).toBe(outer.query)
        })
      )
    }))

  it.scoped("used after its checkout ended, it dies with a message naming the pool, and the next holder's connection is untouched", () =>
    Effect.gen(function*() {
      const { driver, pool } = yield* setup
      const kept = yield* pool.run((conn) => Effect.succeed(conn))
      const before = (yield* TestDriver.statements(driver)).length
      const exit = yield* Effect.exit(pool.run(() => kept.query("stale", [])))
      expect(Exit.isFailure(exit)).toBe(true)
      if (Exit.isFailure(exit)) {
        const defect = Cause.dieOption(exit.cause).pipe(Option.map(String), Option.getOrElse(() => ""))
        expect(defect).toMatch(/pool "held": a connection was used after its checkout ended/)
      }
      // nothing reached the driver, and the pool is whole
      expect((yield* TestDriver.statements(driver)).length).toBe(before)
      expect((yield* pool.stats).busy).toBe(0)
      expect((yield* pool.stats).idle).toBe(1)
      const stale = yield* Effect.exit(kept.transaction(() => Effect.void))
      expect(Exit.isFailure(stale) && Cause.isDie(stale.cause)).toBe(true)
    }))
})
