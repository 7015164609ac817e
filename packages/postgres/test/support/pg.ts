/**
 * The shared PostgreSQL server of the tests (127.0.0.1:5432, trust auth, database `test`), and
 * helpers that act on it from a session of their own: terminate backends, count them by
 * `application_name`.
 */
import { Effect } from "effect"
import pg from "pg"
import type { PgDriver } from "../../src/index.js"

/** Where the shared server is; PGHOST / PGPORT override. */
export const server = {
  host: process.env["PGHOST_TEST"] ?? "127.0.0.1",
  port: Number(process.env["PGPORT_TEST"] ?? 5432),
  database: "test",
  user: "postgres"
} as const

/** Connect options for the shared server with a unique `application_name`. */
export const config = (
  applicationName: string,
  extra: Partial<PgDriver.ConnectOptions> = {}
): PgDriver.ConnectOptions => ({
  ...server,
  applicationName,
  ...extra
})

let counter = 0
/** A name no other test uses (for application_name, tables, locks). */
export const unique = (prefix: string): string =>
  `${prefix}_${process.pid}_${Math.floor(Math.random() * 2 ** 32).toString(36)}_${++counter}`

/** Runs `sql` on a fresh admin connection of its own. */
export const admin = <R extends pg.QueryResultRow = pg.QueryResultRow>(
  sql: string,
  params: ReadonlyArray<unknown> = []
): Effect.Effect<pg.QueryResult<R>, Error> =>
  Effect.acquireUseRelease(
    Effect.tryPromise({
      try: async () => {
        const client = new pg.Client({ ...server, application_name: "redial-test-admin" })
        client.on("error", () => undefined)
        await client.connect()
        return client
      },
      catch: (e) => e as Error
    }),
    (client) =>
      Effect.tryPromise({ try: () => client.query<R>(sql, params as Array<unknown>), catch: (e) => e as Error }),
    (client) => Effect.promise(() => client.end().catch(() => undefined))
  )

/** Terminates one backend by pid. */
export const terminate = (pid: number) => Effect.asVoid(admin("select pg_terminate_backend($1)", [pid]))

/** Terminates every backend with this application_name; returns how many. */
export const terminateApp = (applicationName: string) =>
  Effect.map(
    admin<{ n: number }>(
      "select count(pg_terminate_backend(pid))::int as n from pg_stat_activity where application_name = $1",
      [applicationName]
    ),
    (r) => r.rows[0]!.n
  )

/** How many backends have this application_name. */
export const backends = (applicationName: string) =>
  Effect.map(
    admin<{ n: number }>("select count(*)::int as n from pg_stat_activity where application_name = $1", [
      applicationName
    ]),
    (r) => r.rows[0]!.n
  )

/** The state and query of a backend, if it exists. */
export const activity = (pid: number) =>
  Effect.map(
    admin<{ state: string | null; query: string }>("select state, query from pg_stat_activity where pid = $1", [pid]),
    (r) => r.rows[0]
  )
