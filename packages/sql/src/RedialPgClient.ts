/**
 * `@effect/sql`'s `SqlClient` (and `@effect/sql-pg`'s `PgClient`) on redial's pool, so an
 * existing @effect/sql program keeps every query and changes only its layer:
 *
 * - every statement takes a connection from `@redial/pool` on `@redial/postgres`'s driver:
 *   DBConnection's queue with load shedding (`Dropped` instead of a queue that grows without
 *   bound), per-slot reconnect by a `Schedule`, a deadline on every request, cancel on interrupt
 *   by the wire protocol's CancelRequest (which never waits in the pool's queue), and an idle
 *   client's error that never crashes the process;
 * - `withTransaction` holds one checkout, with @effect/sql's own nesting (savepoints); the pool
 *   reads the server's transaction status at check-in, so a statement that left a transaction
 *   open behind its back is caught and the connection replaced;
 * - `sql.stream` / `executeStream` read through a cursor (128 rows at a time) closed on the server
 *   when the stream stops early;
 * - `listen(channel)` reconnects and LISTENs again (`PgListen`); `notify` uses `pg_notify`;
 * - every failure is still an `SqlError`, so existing code compiles, with redial's typed error in
 *   its `cause`: read it with {@link pgError} / {@link redialError}, retry with {@link isRetryable}.
 *
 * @example
 * ```ts
 * import { SqlClient } from "@effect/sql"
 * import { RedialPgClient } from "@redial/sql"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const sql = yield* SqlClient.SqlClient
 *   const rows = yield* sql<{ readonly n: number }>`select ${41}::int + 1 as n`
 *   console.log(rows) // [ { n: 42 } ]
 * })
 *
 * const SqlLive = RedialPgClient.layer({
 *   connect: { host: "127.0.0.1", database: "test", user: "postgres", applicationName: "redial-sql-example" },
 *   size: 4
 * })
 *
 * Effect.runPromise(Effect.provide(program, SqlLive))
 * ```
 *
 * @since 0.1.0
 */
import * as Reactivity from "@effect/experimental/Reactivity"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as Client from "@effect/sql/SqlClient"
import { SqlError } from "@effect/sql/SqlError"
import { type Closed, type InvalidOption, isRedialError, Timeout } from "@redial/core"
import { ConnectionBroken, Driver, Dropped } from "@redial/pool"
import { PgConnectionString, PgError, type PgListen, type PgPool } from "@redial/postgres"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as internal from "./internal/client.js"

/**
 * The client: `@effect/sql-pg`'s `PgClient` (a `SqlClient` with `json`, `listen`, `notify` and
 * `config`), and the redial `pool` under it.
 *
 * @since 0.1.0
 * @category models
 */
export interface RedialPgClient extends PgClient.PgClient {
  /** The pool every statement runs on (its `stats`, its own `query`, `transaction` …). */
  readonly pool: PgPool.PgPool
}

/**
 * The service tag of the client itself (its pool included); {@link layer} also provides it as
 * `SqlClient.SqlClient` and `PgClient.PgClient`.
 *
 * @since 0.1.0
 * @category tags
 */
export const RedialPgClient: Context.Tag<RedialPgClient, RedialPgClient> = Context.GenericTag<RedialPgClient>(
  "@redial/sql/RedialPgClient"
)

/**
 * How to make the client: every `PgPool.Options` (where to connect, the pool's size, queue,
 * timeouts, policy…), @effect/sql-pg's name and JSON transforms and span attributes, and the
 * options of the `listen` connection.
 *
 * One default differs from the pool's: `timeout` (a request's deadline, queue included, and how
 * long a statement, stream or transaction may hold its connection) is 1 hour instead of 15 s,
 * since @effect/sql-pg has no such limit and a long report or migration must keep working when a
 * program switches; set a shorter one for deadlines. Load shedding does not depend on it.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options extends PgPool.Options {
  readonly transformResultNames?: ((name: string) => string) | undefined
  readonly transformQueryNames?: ((name: string) => string) | undefined
  readonly transformJson?: boolean | undefined
  /** Added to every statement's span (with `db.system.name`, `db.namespace`, `server.address`, `server.port`). */
  readonly spanAttributes?: Record<string, unknown> | undefined
  /** The listener behind `listen`: every `PgListen.Options` but `connect` (the client's). */
  readonly listen?: Omit<PgListen.Options, "connect"> | undefined
}

/**
 * Makes the client for the current scope (the pool closes with it). Needs `Reactivity` (which
 * {@link layer} provides). Fails as `PgPool.make` does.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: (
  options?: Options
) => Effect.Effect<RedialPgClient, InvalidOption | Timeout | Closed, Scope.Scope | Reactivity.Reactivity> =
  internal.make

/**
 * A layer providing `SqlClient.SqlClient`, `PgClient.PgClient` and {@link RedialPgClient}, the
 * pool closed when it is released: the one line an @effect/sql-pg program changes
 * (`PgClient.layer({...})` → `RedialPgClient.layer({...})`).
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options: Options = {}
): Layer.Layer<Client.SqlClient | PgClient.PgClient | RedialPgClient, InvalidOption | Timeout | Closed> =>
  Layer.scopedContext(
    Effect.map(make(options), (client) =>
      Context.make(RedialPgClient, client).pipe(
        Context.add(PgClient.PgClient, client),
        Context.add(Client.SqlClient, client)
      ))
  ).pipe(Layer.provide(Reactivity.layer))

/**
 * {@link layer} from `Config`, as @effect/sql-pg's `layerConfig`: each option its own `Config`,
 * and a `url` (a `postgres://` URI or libpq key/value string, best `Config.redacted`) merged with
 * the options beside it (`PgPool.layerConfig`'s rules: a setting given both ways is a `Conflict`).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  options: Config.Config.Wrap<Options & { readonly url?: PgPool.ConfigOptions["url"] }>
): Layer.Layer<
  Client.SqlClient | PgClient.PgClient | RedialPgClient,
  | ConfigError.ConfigError
  | PgConnectionString.PgConnectionStringError
  | PgConnectionString.PgSslFileError
  | InvalidOption
  | Timeout
  | Closed
> =>
  Layer.unwrapEffect(
    Effect.gen(function*() {
      const values = yield* Config.unwrap(options)
      const { listen, spanAttributes, transformJson, transformQueryNames, transformResultNames, ...rest } = values
      const resolved = yield* PgConnectionString.resolveUrl(rest)
      return layer({
        ...resolved,
        ...(listen === undefined ? {} : { listen }),
        ...(spanAttributes === undefined ? {} : { spanAttributes }),
        ...(transformJson === undefined ? {} : { transformJson }),
        ...(transformQueryNames === undefined ? {} : { transformQueryNames }),
        ...(transformResultNames === undefined ? {} : { transformResultNames })
      })
    })
  )

/**
 * The typed redial error inside an `SqlError` (its `cause`): a `PgError`, the pool's `Dropped`,
 * `Timeout`, `Closed`, `Disconnect`, `ConnectionBroken` …; none for an `SqlError` @effect/sql made
 * itself.
 *
 * @since 0.1.0
 * @category errors
 */
export const redialError = (error: SqlError): Option.Option<unknown> =>
  isRedialError(error.cause) || error.cause instanceof PgError.PgError ? Option.some(error.cause) : Option.none()

/**
 * The `PgError` inside an `SqlError`: its `cause`, or the cause of the pool's `Disconnect` /
 * `ConnectionBroken` around it (a statement whose connection died).
 *
 * @since 0.1.0
 * @category errors
 */
export const pgError = (error: SqlError): Option.Option<PgError.PgError> => {
  let cause: unknown = error.cause
  for (let depth = 0; depth < 4 && cause !== undefined; depth++) {
    if (cause instanceof PgError.PgError) return Option.some(cause)
    cause = cause instanceof Driver.Disconnect || cause instanceof ConnectionBroken ? cause.cause : undefined
  }
  return Option.none()
}

/**
 * Whether running the same work again may succeed: an `SqlError` (or a redial error) whose
 * cause is a retryable `PgError` (serialization failure, deadlock, a lost connection…), the
 * pool's `Dropped` (overloaded), a `Timeout` in its queue, or a connection that broke under it.
 * A statement error (a unique violation, a syntax error) is not.
 *
 * @example
 * ```ts
 * import { SqlClient } from "@effect/sql"
 * import { RedialPgClient } from "@redial/sql"
 * import { Effect, Schedule } from "effect"
 *
 * const transfer = Effect.gen(function*() {
 *   const sql = yield* SqlClient.SqlClient
 *   return yield* sql.withTransaction(sql`select 1 as ok`)
 * }).pipe(Effect.retry({ while: RedialPgClient.isRetryable, schedule: Schedule.recurs(3) }))
 *
 * Effect.runPromise(Effect.provide(transfer, RedialPgClient.layer({
 *   connect: { host: "127.0.0.1", database: "test", user: "postgres", applicationName: "redial-sql-retry" }
 * }))).then(console.log) // [ { ok: 1 } ]
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export const isRetryable = (error: unknown): boolean => {
  const cause = error instanceof SqlError ? error.cause : error
  if (cause instanceof PgError.PgError) return cause.retryable
  if (cause instanceof Dropped || cause instanceof Timeout) return true
  if (cause instanceof Driver.Disconnect || cause instanceof ConnectionBroken) return true
  return false
}
