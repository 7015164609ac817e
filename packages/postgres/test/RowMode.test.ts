/**
 * `rowMode: "array"`: rows as arrays of values in column order (what @effect/sql's
 * `executeValues` needs), through `query` and through prepare / execute, named or not.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { PgPool } from "../src/index.js"
import * as Pg from "./support/pg.js"

describe("rowMode array", () => {
  it.live("query and prepare/execute give arrays of values in column order", () =>
    Effect.gen(function*() {
      const app = Pg.unique("rowmode")
      const pool = yield* PgPool.make({ connect: Pg.config(app), size: 1, name: app })
      const text = "select 1 as a, 'two' as b, $1::int as c"
      const plain = yield* pool.query({ text, rowMode: "array" }, [3])
      expect(plain.rows).toEqual([[1, "two", 3]])
      const named = yield* pool.query({ text, name: Pg.unique("rm"), rowMode: "array" }, [4])
      expect(named.rows).toEqual([[1, "two", 4]])
      const prepared = yield* pool.run((conn) =>
        Effect.flatMap(conn.prepare({ text, rowMode: "array" }), (p) => conn.execute(p, [5]))
      )
      expect(prepared.rows).toEqual([[1, "two", 5]])
      // and without it, records
      expect((yield* pool.query(text, [6])).rows).toEqual([{ a: 1, b: "two", c: 6 }])
    }).pipe(Effect.scoped))
})
