/**
 * The shared PostgreSQL server of the tests (127.0.0.1:5432, trust auth, database `test`), helpers
 * that act on it from an admin session of their own (terminate backends, count them by
 * `application_name`, read `pg_stat_activity`), and the client under test: a `RedialPgClient`
 * layer per test with a unique `application_name`, checked for leftover backends once released.
 */
import type { SqlClient } from "@effect/sql"
import type { PgClient } from "@effect/sql-pg"
import type { Closed, InvalidOption, Timeout } from "@redial/core"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Queue from "effect/Queue"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import pg from "pg"
import { RedialPgClient } from "../../src/index.js"

/** Where the shared server is; PGHOST_TEST / PGPORT_TEST override. */
export const server = {
  host: process.env["PGHOST_TEST"] ?? "127.0.0.1",
  port: Number(process.env["PGPORT_TEST"] ?? 5432),
  database: "test",
  user: "postgres"
} as const

let counter = 0
/** A name no other test uses (for application_name, tables, channels), lower case. */
export const unique = (prefix: string): string =>
  `${prefix}_${process.pid}_${Math.floor(Math.random() * 2 ** 32).toString(36)}_${++counter}`

/** Runs `sql` on a fresh admin connection of its own (application_name `redial-test-admin`). */
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
export const terminate = (pid: number): Effect.Effect<void, Error> =>
  Effect.asVoid(admin("select pg_terminate_backend($1)", [pid]))

/** How many backends have this application_name. */
export const backends = (applicationName: string): Effect.Effect<number, Error> =>
  Effect.map(
    admin<{ n: number }>("select count(*)::int as n from pg_stat_activity where application_name = $1", [
      applicationName
    ]),
    (r) => r.rows[0]!.n
  )

/** The backends of this application_name: pid, state and query, in pid order. */
export const activity = (
  applicationName: string
): Effect.Effect<
  ReadonlyArray<{ readonly pid: number; readonly state: string | null; readonly query: string }>,
  Error
> =>
  Effect.map(
    admin<{ pid: number; state: string | null; query: string }>(
      "select pid, state, query from pg_stat_activity where application_name = $1 order by pid",
      [applicationName]
    ),
    (r) => r.rows
  )

/**
 * Polls state outside this process (the server's views), which sends no events, every `interval`
 * until `predicate` holds; dies after `timeout`.
 */
export const eventually = <A>(
  self: Effect.Effect<A, unknown>,
  predicate: (a: A) => boolean,
  timeout: Duration.DurationInput = "10 seconds",
  interval: Duration.DurationInput = "20 millis"
): Effect.Effect<A> =>
  Effect.gen(function*() {
    let last = yield* self
    while (!predicate(last)) {
      yield* Effect.sleep(interval)
      last = yield* self
    }
    return last
  }).pipe(
    Effect.timeoutFail({ duration: timeout, onTimeout: () => new Error("the condition did not hold in time") }),
    Effect.orDie
  )

/** Waits until no backend of `applicationName` is left on the server (dies after 10 s). */
export const noBackendLeft = (applicationName: string): Effect.Effect<number> =>
  eventually(backends(applicationName), (n) => n === 0)

/** A client layer on the shared server with this application_name (and the pool's name). */
export const clientLayer = (
  applicationName: string,
  options: Omit<RedialPgClient.Options, "connect" | "name"> & {
    readonly connect?: RedialPgClient.Options["connect"]
  } = {}
) =>
  RedialPgClient.layer({
    name: applicationName,
    ...options,
    connect: { ...server, applicationName, ...options.connect }
  })

type Services = SqlClient.SqlClient | PgClient.PgClient | RedialPgClient.RedialPgClient

/**
 * Runs `f` (given its application_name) with a client of its own, releases the client, then
 * checks that no backend of it is left on the server.
 */
export const withClient = <A, E, R>(
  prefix: string,
  f: (applicationName: string) => Effect.Effect<A, E, R>,
  options: Parameters<typeof clientLayer>[1] = {}
): Effect.Effect<A, E | InvalidOption | Timeout | Closed, Exclude<R, Services>> =>
  Effect.gen(function*() {
    const applicationName = unique(prefix)
    const result = yield* Effect.provide(f(applicationName), clientLayer(applicationName, options))
    yield* noBackendLeft(applicationName)
    return result
  })

/** A table of its own for one test (`create table <name> (<columns>)`), dropped afterwards. */
export const withTable = <A, E, R>(
  columns: string,
  f: (table: string) => Effect.Effect<A, E, R>
): Effect.Effect<A, E | Error, R> =>
  Effect.acquireUseRelease(
    Effect.tap(Effect.sync(() => unique("sqlt")), (table) => admin(`create table ${table} (${columns})`)),
    f,
    (table) => Effect.orDie(admin(`drop table if exists ${table}`))
  )

/** Drops a table (a test's own, made by the code under test) when the effect ends. */
export const dropping = <A, E, R>(tables: ReadonlyArray<string>, effect: Effect.Effect<A, E, R>) =>
  Effect.ensuring(effect, Effect.orDie(admin(`drop table if exists ${tables.join(", ")}`)))

/** A channel's payloads as `listen` delivers them, after LISTEN is known to be in effect. */
export interface Listening {
  /** The next `n` payloads (the readiness probes skipped); dies after 10 s. */
  readonly take: (n: number) => Effect.Effect<ReadonlyArray<string>>
  /**
   * Sends probes (`pg_notify` every 100 ms) until one comes back on the stream: LISTEN is in
   * effect (again, after a reconnect) on the same stream. Dies after 20 s.
   */
  readonly awaitDelivery: Effect.Effect<void>
}

/**
 * Starts `sql.listen(channel)` in a fiber of the scope, and returns once LISTEN is in effect:
 * `listen` gives no sign of it (@effect/sql-pg's neither), so a probe notification is sent until
 * one arrives. The probes are skipped by `take`.
 */
export const listening = (
  sql: PgClient.PgClient,
  channel: string
): Effect.Effect<Listening, never, Scope.Scope> =>
  Effect.gen(function*() {
    const received = yield* Queue.unbounded<string>()
    const probe = `probe-${unique("p")}`
    yield* sql.listen(channel).pipe(
      Stream.runForEach((payload) => Queue.offer(received, payload)),
      Effect.orDie,
      Effect.forkScoped
    )
    const awaitDelivery = Effect.raceFirst(
      Effect.forever(Effect.zipRight(Effect.orDie(sql.notify(channel, probe)), Effect.sleep("100 millis"))),
      Effect.repeat(Queue.take(received), { until: (payload) => payload === probe })
    ).pipe(
      Effect.asVoid,
      Effect.timeoutFail({ duration: "20 seconds", onTimeout: () => new Error(`no delivery on ${channel}`) }),
      Effect.orDie
    )
    const take = (n: number) =>
      Effect.gen(function*() {
        const out: Array<string> = []
        while (out.length < n) {
          const payload = yield* Queue.take(received)
          if (payload !== probe) out.push(payload)
        }
        return out
      }).pipe(
        Effect.timeoutFail({ duration: "10 seconds", onTimeout: () => new Error(`nothing more on ${channel}`) }),
        Effect.orDie
      )
    yield* awaitDelivery
    return { take, awaitDelivery }
  })

/** A raw node-postgres session of the test's own (outside the client under test), for the scope. */
export const session = (
  applicationName = "redial-test-session"
): Effect.Effect<{ readonly query: (sql: string) => Effect.Effect<pg.QueryResult, Error> }, Error, Scope.Scope> =>
  Effect.map(
    Effect.acquireRelease(
      Effect.tryPromise({
        try: async () => {
          const client = new pg.Client({ ...server, application_name: applicationName })
          client.on("error", () => undefined)
          await client.connect()
          return client
        },
        catch: (e) => e as Error
      }),
      (client) => Effect.promise(() => client.end().catch(() => undefined))
    ),
    (client) => ({
      query: (sql: string) => Effect.tryPromise({ try: () => client.query(sql), catch: (e) => e as Error })
    })
  )
