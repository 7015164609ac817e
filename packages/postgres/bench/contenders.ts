/**
 * The four clients the benchmarks compare, each a pool of its own on the shared server
 * (127.0.0.1:5432, database `test`) with an `application_name` of its own, so that its backends
 * can be counted (and must be gone once it is closed):
 *
 * - redial: `PgPool.make({ connect, size })`, every slot connected before it is measured; a query
 *   is `yield* pool.query(text)` from `c` fibers, each in a loop;
 * - pg-pool 3.14 (node-postgres's pool, `pg.Pool` is pg-pool bound to `pg.Client`):
 *   `new pg.Pool({ max })`, a query is `await pool.query(text)` from `c` async loops;
 * - @effect/sql-pg 0.53: `PgClient.layer({ maxConnections })` and the `SqlClient` it provides; a
 *   query is `yield* sql\`select 1\`` (a template literal, as a program writes it) from `c` fibers;
 * - postgres 3.4 (porsager's): `postgres({ max })`, a query is `await sql\`select 1\`` from `c`
 *   async loops. Its default, kept here, prepares every query as a named statement once per
 *   connection (the others send an unnamed one each time).
 *
 * Every operation's Effect (or Promise) is built anew, as a program would.
 */
import type { Statement } from "@effect/sql"
import { SqlClient } from "@effect/sql"
import { PgClient } from "@effect/sql-pg"
import { Context, Effect, Exit, Layer, Logger, LogLevel, Scope } from "effect"
import { setTimeout as sleep } from "node:timers/promises"
import pg from "pg"
import postgres from "postgres"
import type { Loops } from "../../../bench/report.js"
import { effectLoops, promiseLoops } from "../../../bench/report.js"
import type { PgDriver } from "../src/index.js"
import { PgPool } from "../src/index.js"
import * as Pg from "../test/support/pg.js"

/** The queries measured, by the name the tables give them. */
export const QUERIES = {
  "SELECT 1": "select 1",
  "10 rows": "select g, 'row ' || g as label from generate_series(1, 10) g"
} as const

export type QueryName = keyof typeof QUERIES

export const QUERY_NAMES: ReadonlyArray<QueryName> = Object.keys(QUERIES) as Array<QueryName>

/** The template literals of {@link QUERIES}, for the clients that take them (sql-pg, postgres). */
const tagged = <A>(sql: (strings: TemplateStringsArray) => A): Record<QueryName, () => A> => ({
  "SELECT 1": () => sql`select 1`,
  "10 rows": () => sql`select g, 'row ' || g as label from generate_series(1, 10) g`
})

export type Name = "redial" | "pg-pool" | "@effect/sql-pg" | "postgres"

export const NAMES: ReadonlyArray<Name> = ["redial", "pg-pool", "@effect/sql-pg", "postgres"]

export interface Contender {
  readonly name: Name
  /** Its backends' `application_name`. */
  readonly application: string
  /** `c` loops of one query. */
  readonly loops: (query: QueryName) => Loops
  readonly close: () => Promise<void>
}

/** Without the connections' info logs. */
export const quiet = Logger.withMinimumLogLevel(LogLevel.Warning)

/** A redial pool of `size` on the shared server, every slot connected; `close` ends its scope. */
export const redialPool = async (
  application: string,
  size: number,
  options: Omit<PgPool.Options, "connect" | "size"> = {}
): Promise<{ readonly pool: PgPool.PgPool; readonly close: () => Promise<void> }> => {
  const scope = Effect.runSync(Scope.make())
  const connect: PgDriver.ConnectOptions = Pg.config(application)
  const pool = await Effect.runPromise(
    PgPool.make({ name: application, ...options, connect, size }).pipe(Scope.extend(scope), quiet)
  )
  await Effect.runPromise(
    Effect.repeat(Effect.zipLeft(pool.stats, Effect.sleep("5 millis")), { until: (stats) => stats.idle === size })
  )
  return { pool, close: () => Effect.runPromise(quiet(Scope.close(scope, Exit.void))) }
}

const redial = async (application: string, size: number): Promise<Contender> => {
  const { close, pool } = await redialPool(application, size)
  return {
    name: "redial",
    application,
    loops: (query) => {
      const text = QUERIES[query]
      return effectLoops(() => pool.query(text))
    },
    close
  }
}

/** A pg-pool of `max` on the shared server (connections open on demand, as pg-pool does). */
export const pgPool = (application: string, max: number): pg.Pool => {
  const pool = new pg.Pool({ ...Pg.server, application_name: application, max })
  // An idle client's error would otherwise be thrown from the pool's emitter.
  pool.on("error", () => {})
  return pool
}

const pgPoolContender = (application: string, size: number): Contender => {
  const pool = pgPool(application, size)
  return {
    name: "pg-pool",
    application,
    loops: (query) => {
      const text = QUERIES[query]
      return promiseLoops(() => pool.query(text))
    },
    close: () => pool.end()
  }
}

const sqlPg = async (application: string, size: number): Promise<Contender> => {
  const scope = Effect.runSync(Scope.make())
  const context = await Effect.runPromise(
    Layer.buildWithScope(
      PgClient.layer({
        host: Pg.server.host,
        port: Pg.server.port,
        database: Pg.server.database,
        username: Pg.server.user,
        applicationName: application,
        maxConnections: size
      }),
      scope
    )
  )
  const sql = Context.get(context, SqlClient.SqlClient)
  const statements: Record<QueryName, () => Statement.Statement<unknown>> = tagged((strings) => sql(strings))
  return {
    name: "@effect/sql-pg",
    application,
    loops: (query) => effectLoops(statements[query]),
    close: () => Effect.runPromise(Scope.close(scope, Exit.void))
  }
}

const porsager = (application: string, size: number): Contender => {
  const sql = postgres({
    host: Pg.server.host,
    port: Pg.server.port,
    database: Pg.server.database,
    username: Pg.server.user,
    max: size,
    connection: { application_name: application },
    onnotice: () => {}
  })
  const queries = tagged((strings) => sql(strings))
  return {
    name: "postgres",
    application,
    loops: (query) => {
      const run = queries[query]
      return promiseLoops(async () => await run())
    },
    close: () => sql.end({ timeout: 5 })
  }
}

const makers: Record<Name, (application: string, size: number) => Contender | Promise<Contender>> = {
  redial,
  "pg-pool": pgPoolContender,
  "@effect/sql-pg": sqlPg,
  postgres: porsager
}

/** A fresh pool of `size` of one client, with a unique application_name. */
export const makeOne = async (name: Name, size: number): Promise<Contender> =>
  await makers[name](Pg.unique(`bench_${name.replace(/\W/g, "")}`), size)

/** Fresh pools of `size`, in the order of {@link NAMES}. */
export const make = async (size: number): Promise<ReadonlyArray<Contender>> => {
  const contenders: Array<Contender> = []
  for (const name of NAMES) contenders.push(await makeOne(name, size))
  return contenders
}

/**
 * The backends still open with this application_name, once they have had up to `withinMs` to go
 * (a closed client's backend exits a moment after its socket closes).
 */
export const leftBackends = async (application: string, withinMs = 3_000): Promise<number> => {
  const start = performance.now()
  for (;;) {
    const left = await Effect.runPromise(Pg.backends(application))
    if (left === 0 || performance.now() - start > withinMs) return left
    await sleep(20)
  }
}
