/**
 * The two clients the benchmark compares, both `@effect/sql`'s `SqlClient` with a pool of its own
 * on the shared server (127.0.0.1:5432, database `test`) and an `application_name` of its own, so
 * that its backends can be counted (and must be gone once it is closed):
 *
 * - redial: `RedialPgClient.layer({ connect, size })`, every slot connected before it is measured;
 * - @effect/sql-pg 0.53: `PgClient.layer({ maxConnections })` (pg-pool underneath, connections
 *   opened on demand: the first, uncounted round opens them).
 *
 * The work is the same program for both, written as a program writes it, every Effect built anew
 * per operation, from `c` fibers each in a loop:
 *
 * - `SELECT 1`: `sql\`select 1\``;
 * - `10 rows`: `sql\`select g, 'row ' || g as label from generate_series(1, 10) g\``;
 * - `transaction`: `sql.withTransaction` of `select 1`, `select 2`, `select 3` (BEGIN, the three,
 *   COMMIT: five round trips on one connection). Read-only on purpose: a commit that writes waits
 *   for the WAL flush, which would measure the disk, not the client.
 */
import { SqlClient } from "@effect/sql"
import { PgClient } from "@effect/sql-pg"
import { Context, Effect, Exit, Layer, Logger, LogLevel, Scope } from "effect"
import { setTimeout as sleep } from "node:timers/promises"
import pg from "pg"
import type { Loops } from "../../../bench/report.js"
import { effectLoops } from "../../../bench/report.js"
import { RedialPgClient } from "../src/index.js"

/** Where the shared server is (PGHOST_TEST / PGPORT_TEST override, as the tests' support does). */
export const server = {
  host: process.env["PGHOST_TEST"] ?? "127.0.0.1",
  port: Number(process.env["PGPORT_TEST"] ?? 5432),
  database: "test",
  user: "postgres"
} as const

/** The work measured, by the name the tables give it. */
export const WORK_NAMES = ["SELECT 1", "10 rows", "transaction"] as const

export type WorkName = typeof WORK_NAMES[number]

/** Each work as an operation on one client's `SqlClient`, built anew per call. */
const work = (sql: SqlClient.SqlClient): Record<WorkName, () => Effect.Effect<unknown, unknown>> => ({
  "SELECT 1": () => sql`select 1`,
  "10 rows": () => sql`select g, 'row ' || g as label from generate_series(1, 10) g`,
  transaction: () => sql.withTransaction(Effect.all([sql`select 1`, sql`select 2`, sql`select 3`]))
})

export type Name = "redial" | "@effect/sql-pg"

export const NAMES: ReadonlyArray<Name> = ["redial", "@effect/sql-pg"]

export interface Contender {
  readonly name: Name
  /** Its backends' `application_name`. */
  readonly application: string
  /** `c` loops of one work. */
  readonly loops: (work: WorkName) => Loops
  readonly close: () => Promise<void>
}

/** Without the connections' info logs. */
const quiet = Logger.withMinimumLogLevel(LogLevel.Warning)

/** A client opened in a scope of its own, which `close` ends. */
const build = async (
  name: Name,
  application: string,
  open: Effect.Effect<SqlClient.SqlClient, unknown, Scope.Scope>
): Promise<Contender> => {
  const scope = Effect.runSync(Scope.make())
  const operations = work(await Effect.runPromise(open.pipe(Scope.extend(scope), quiet)))
  return {
    name,
    application,
    loops: (name) => effectLoops(operations[name]),
    close: () => Effect.runPromise(quiet(Scope.close(scope, Exit.void)))
  }
}

const redial = (application: string, size: number): Promise<Contender> =>
  build(
    "redial",
    application,
    Effect.gen(function*() {
      const context = yield* Layer.build(
        RedialPgClient.layer({ connect: { ...server, applicationName: application }, size })
      )
      const client = Context.get(context, RedialPgClient.RedialPgClient)
      // every slot connected before the first measurement
      yield* Effect.repeat(Effect.zipLeft(client.pool.stats, Effect.sleep("5 millis")), {
        until: (stats) => stats.idle === size
      })
      return client
    })
  )

const sqlPg = (application: string, size: number): Promise<Contender> =>
  build(
    "@effect/sql-pg",
    application,
    Effect.map(
      Layer.build(PgClient.layer({
        host: server.host,
        port: server.port,
        database: server.database,
        username: server.user,
        applicationName: application,
        maxConnections: size
      })),
      (context) => Context.get(context, SqlClient.SqlClient)
    )
  )

const makers: Record<Name, (application: string, size: number) => Promise<Contender>> = {
  redial,
  "@effect/sql-pg": sqlPg
}

let counter = 0
/** A fresh pool of `size` of one client, with a unique application_name. */
export const makeOne = (name: Name, size: number): Promise<Contender> =>
  makers[name](
    `bench_sql_${name.replace(/\W/g, "")}_${process.pid}_${
      Math.floor(Math.random() * 2 ** 32).toString(36)
    }_${++counter}`,
    size
  )

/** Fresh pools of `size`, in the order of {@link NAMES}. */
export const make = async (size: number): Promise<ReadonlyArray<Contender>> => {
  const contenders: Array<Contender> = []
  for (const name of NAMES) contenders.push(await makeOne(name, size))
  return contenders
}

/**
 * The backends still open with this application_name, once they have had up to `withinMs` to go
 * (a closed client's backend exits a moment after its socket closes). Counted on a connection of
 * its own.
 */
export const leftBackends = async (application: string, withinMs = 3_000): Promise<number> => {
  const client = new pg.Client({ ...server, application_name: "redial-bench-admin" })
  client.on("error", () => {})
  await client.connect()
  try {
    const start = performance.now()
    for (;;) {
      const result = await client.query<{ n: number }>(
        "select count(*)::int as n from pg_stat_activity where application_name = $1",
        [application]
      )
      const left = result.rows[0]!.n
      if (left === 0 || performance.now() - start > withinMs) return left
      await sleep(20)
    }
  } finally {
    await client.end()
  }
}
