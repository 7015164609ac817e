/**
 * The client's basics against the real server: statements, nested transactions, streams, values,
 * and redial's typed error inside `SqlError`.
 */
import { SqlClient } from "@effect/sql"
import { SqlError } from "@effect/sql/SqlError"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Option, Stream } from "effect"
import { RedialPgClient } from "../src/index.js"

const SqlLive = RedialPgClient.layer({
  connect: { host: "127.0.0.1", database: "test", user: "postgres", applicationName: "redial-sql-basics" },
  size: 2
})

describe("RedialPgClient", () => {
  it.live("runs a template statement, a nested transaction, a stream and values", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      expect(yield* sql`select ${41}::int + 1 as n`).toEqual([{ n: 42 }])
      const nested = yield* sql.withTransaction(sql.withTransaction(sql`select 2 as two`))
      expect(nested).toEqual([{ two: 2 }])
      expect(yield* Stream.runCount(sql`select g from generate_series(1, 300) g`.stream)).toBe(300)
      expect(yield* sql`select 1 as a, 2 as b`.values).toEqual([[1, 2]])
    }).pipe(Effect.provide(SqlLive)))

  it.live("a failure is an SqlError whose cause is the PgError (SQLSTATE, retryable)", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const error = yield* Effect.flip(sql`select * from redial_no_such_table`)
      expect(error).toBeInstanceOf(SqlError)
      const pg = RedialPgClient.pgError(error)
      expect(Option.map(pg, (e) => e.code)).toEqual(Option.some("42P01"))
      expect(RedialPgClient.isRetryable(error)).toBe(false)
    }).pipe(Effect.provide(SqlLive)))
})
