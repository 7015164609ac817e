/**
 * The pool's DriverSuite, every case, against the real PostgreSQL server.
 */
import { it } from "@effect/vitest"
import { Reconnect } from "@redial/core"
import { DriverSuite } from "@redial/pool"
import { Effect } from "effect"
import { describe } from "vitest"
import { PgDriver } from "../src/index.js"
import * as Pg from "./support/pg.js"

const harness = (): DriverSuite.Harness<PgDriver.PgTypes> => ({
  driver: PgDriver.make({ name: "driver-suite" }),
  options: { policy: Reconnect.fixed("50 millis"), config: Pg.config(Pg.unique("suite")), minUptime: "1 millis" },
  select: { query: "select 1 as one", check: (result) => result.rows[0]?.["one"] === 1 },
  rows: (n) => `select g as n from generate_series(1, ${n}) g`,
  begin: "BEGIN",
  failing: "select * from no_such_table_redial",
  slow: "select pg_sleep(60)",
  breakConnection: (connection) => Pg.terminate(connection.pid),
  openCursors: (conn) =>
    Effect.map(conn.query("select count(*)::int as n from pg_cursors"), (r) => r.rows[0]!["n"] as number),
  settle: Effect.sleep("100 millis")
})

describe("PgDriver passes the pool's DriverSuite against the real server", () => {
  for (const name of DriverSuite.names) {
    it.live(name, () => Effect.scoped(DriverSuite.run(harness(), name)), 30_000)
  }
})
