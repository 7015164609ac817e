/**
 * RedialPgClient's defaults where they differ from the pool's: a statement may hold its
 * connection longer than the pool's own 15 s `timeout` (as on @effect/sql-pg, which has no limit),
 * so a long report or migration keeps working after the switch.
 */
import { SqlClient } from "@effect/sql"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { RedialPgClient } from "../src/index.js"

describe("RedialPgClient defaults", () => {
  it.live("a statement of 16 s succeeds (the pool's own default timeout is 15 s)", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const rows = yield* sql`select pg_sleep(16), 1 as done`
      expect(rows).toEqual([{ pg_sleep: "", done: 1 }])
    }).pipe(Effect.provide(RedialPgClient.layer({
      connect: { host: "127.0.0.1", database: "test", user: "postgres", applicationName: "redial-sql-defaults" },
      size: 1
    }))), 40_000)
})
