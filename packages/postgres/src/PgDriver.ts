/**
 * `@redial/pool`'s `Driver` on node-postgres (`pg` 8.23): every callback of DBConnection's
 * contract on a real `pg.Client`.
 *
 * - **connect** with the pool's `connectTimeout` (the socket is destroyed when the attempt is
 *   given up), TLS by libpq's `sslmode` (with a custom CA, client certificate and a `Redacted`
 *   key passphrase), a `Redacted` password, and startup parameters (`application_name`,
 *   `statement_timeout`, `lock_timeout`, `idle_in_transaction_session_timeout`, `options`).
 *   `sslmode: "prefer"` tries TLS and, when the server answers that it has none, connects again
 *   at once without it (logged once per driver).
 * - **lost**: every client always has `error` and `end` listeners, so an idle connection killed
 *   by a database restart never crashes the process (pg-pool's #1707, #2509, #3260); the pool
 *   takes it out of service at once.
 * - **status** from the server's own transaction status (`getTransactionStatus()`).
 * - **begin / commit / rollback** and **savepoints**; a `COMMIT` that the server answers with
 *   `ROLLBACK` (the transaction had failed) fails with `InvalidTransactionState`.
 * - **prepare / execute / close**: a string (or a query without a `name`) runs as an unnamed
 *   statement (one round trip); a query with a `name` is a named prepared statement, parsed once
 *   per connection and reused by every later `prepare` of the same name until `close`
 *   deallocates it.
 * - **declare / fetch / deallocate**: cursors on pg-cursor, `maxRows` rows at a time; the portal
 *   is closed on the server when the cursor is deallocated.
 * - **Cancel on interrupt**: interrupting a callback while its query runs sends the server a
 *   CancelRequest for that backend (on a socket of its own: it never waits for the pool), waits
 *   up to `cancelTimeout` for the query to end, and reports to the pool through `afterInterrupt`
 *   whether the connection is still usable (it is when the query ended); otherwise the socket is
 *   destroyed and the slot reconnects. `queryTimeout` does the same for a query that runs too
 *   long without interrupting anyone: the query fails with the server's answer, a `PgError`
 *   57014 query_canceled whose text says the timeout passed. Unlike pg's own `query_timeout`
 *   (client-side only), the server stops too.
 * - **Errors**: every failure is a `PgError` (SQLSTATE, condition, detail, hint…); one that leaves
 *   the connection unusable (the socket closed, a `FATAL` from the server) is a `Disconnect`
 *   whose `cause` is the `PgError`. `isFatal` says which connect errors stop the pool.
 *
 * @example
 * ```ts
 * import { Pool } from "@redial/pool"
 * import { PgDriver } from "@redial/postgres"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const pool = yield* Pool.make(PgDriver.make(), {
 *     size: 2,
 *     name: "example",
 *     config: { host: "127.0.0.1", port: 5432, database: "test", user: "postgres", applicationName: "example" }
 *   })
 *   const result = yield* pool.query("select $1::int + 1 as n", [41])
 *   console.log(result.rows[0]) // { n: 42 }
 * }).pipe(Effect.scoped)
 *
 * Effect.runPromise(program)
 * ```
 *
 * @since 0.1.0
 */
import type { Driver } from "@redial/pool"
import type * as Duration from "effect/Duration"
import type * as Redacted from "effect/Redacted"
import type * as pg from "pg"
import * as internal from "./internal/driver.js"
import type { PgError } from "./PgError.js"

/**
 * libpq's `sslmode`: `disable` (no TLS, the default, as node-postgres), `prefer` (TLS when the
 * server has it, without verifying its certificate; plain otherwise), `require` (TLS, certificate
 * not verified unless a `ca` is given, as libpq), `verify-ca` (the chain must verify; any host
 * name), `verify-full` (the chain and the host name).
 *
 * @since 0.1.0
 * @category models
 */
export type SslMode = "disable" | "prefer" | "require" | "verify-ca" | "verify-full"

/**
 * TLS settings besides the mode: PEM strings or buffers.
 *
 * @since 0.1.0
 * @category models
 */
export interface Tls {
  /** Trusted CA certificates (libpq's `sslrootcert`); with `require`, they are verified. */
  readonly ca?: string | Buffer | ReadonlyArray<string | Buffer> | undefined
  /** A client certificate (`sslcert`). */
  readonly cert?: string | Buffer | undefined
  /** The client certificate's private key (`sslkey`). */
  readonly key?: Redacted.Redacted<string | Buffer> | undefined
  /** The key's passphrase (`sslpassword`). */
  readonly passphrase?: Redacted.Redacted<string> | undefined
  /**
   * The name `verify-full` checks the certificate against (default: the host). node-postgres
   * sends the host itself in SNI when the host is a DNS name (this name only for an IP host).
   */
  readonly servername?: string | undefined
}

/**
 * Where and how to connect. This is the pool's `config`: change it between attempts with the
 * pool's `configure` (a rotated password, another host).
 *
 * @since 0.1.0
 * @category models
 */
export interface ConnectOptions {
  /** A host name, an IP address, or the directory of a Unix socket (starts with `/`). Default `localhost`. */
  readonly host?: string | undefined
  /** Default 5432. */
  readonly port?: number | undefined
  /**
   * Default: node-postgres's, from the environment as libpq does (`PGDATABASE`, else the user
   * name). Likewise an absent `password`, `applicationName` and `options` are read by
   * node-postgres from `PGPASSWORD` (or `~/.pgpass`), `PGAPPNAME` and `PGOPTIONS`.
   */
  readonly database?: string | undefined
  /** Default `postgres`. */
  readonly user?: string | undefined
  readonly password?: Redacted.Redacted<string> | undefined
  /** Default `disable`. */
  readonly sslmode?: SslMode | undefined
  readonly tls?: Tls | undefined
  /** `application_name`, shown in `pg_stat_activity`. */
  readonly applicationName?: string | undefined
  /** The server's `statement_timeout` for the session (whole milliseconds). */
  readonly statementTimeout?: Duration.DurationInput | undefined
  /** The server's `lock_timeout`. */
  readonly lockTimeout?: Duration.DurationInput | undefined
  /** The server's `idle_in_transaction_session_timeout`. */
  readonly idleInTransactionSessionTimeout?: Duration.DurationInput | undefined
  /** Command-line options sent at startup (`-c search_path=app`). */
  readonly options?: string | undefined
  /** TCP keepalive (default off, as node-postgres), and its initial delay. */
  readonly keepAlive?: boolean | undefined
  readonly keepAliveInitialDelay?: Duration.DurationInput | undefined
  /** The IP family to resolve the host with: 4, 6, or either (default, as Node.js). */
  readonly family?: 4 | 6 | undefined
}

/**
 * A query: its text, or its text with a `name` (a named prepared statement, parsed once per
 * connection) and, with `rowMode: "array"`, rows as arrays of values in column order instead of
 * records (node-postgres's row mode; the rows are then typed as `Row` but are arrays: read them
 * as `ReadonlyArray<unknown>`).
 *
 * @since 0.1.0
 * @category models
 */
export type Query = string | {
  readonly text: string
  readonly name?: string | undefined
  readonly rowMode?: "array" | undefined
}

/**
 * A prepared query (what `prepare` returns): its text and, for a named statement, its name.
 *
 * @since 0.1.0
 * @category models
 */
export interface Prepared {
  readonly text: string
  readonly name: string | undefined
  readonly rowMode?: "array" | undefined
}

/**
 * A row: column names to values, parsed by node-postgres's type parsers.
 *
 * @since 0.1.0
 * @category models
 */
export type Row = Record<string, unknown>

/**
 * A query's result: its rows, the row count and command tag (`INSERT`, `SELECT` …), and the fields.
 *
 * @since 0.1.0
 * @category models
 */
export interface Result {
  readonly rows: ReadonlyArray<Row>
  readonly rowCount: number | null
  readonly command: string
  readonly fields: ReadonlyArray<pg.FieldDef>
}

/**
 * A connection of the driver: node-postgres's client, the backend's process id, and the
 * parameters the server reported at startup (`server_version`, `TimeZone` …).
 *
 * @since 0.1.0
 * @category models
 */
export interface PgConnection {
  /** The client (an escape hatch: a query sent here bypasses the pool's bookkeeping). */
  readonly client: pg.Client
  /** The backend's process id (`pg_backend_pid()`). */
  readonly pid: number
  /** ParameterStatus values the server reported. */
  readonly parameters: ReadonlyMap<string, string>
  /** The named statements prepared on this connection: name → text. */
  readonly prepared: ReadonlyMap<string, string>
  /** True once the socket closed or failed. */
  readonly isClosed: boolean
}

/**
 * A cursor: a pg-cursor on the connection's portal.
 *
 * @since 0.1.0
 * @category models
 */
export interface Cursor {
  readonly portal: string
}

/**
 * The driver's types.
 *
 * @since 0.1.0
 * @category models
 */
export interface PgTypes extends Driver.Types {
  readonly connection: PgConnection
  readonly query: Query
  readonly prepared: Prepared
  readonly result: Result
  readonly row: Row
  readonly cursor: Cursor
  readonly error: PgError
  readonly config: ConnectOptions
}

/**
 * How the driver behaves (where to connect is the pool's `config`).
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The name in errors and logs (default `"postgres"`; `PgPool` passes the pool's). */
  readonly name?: string | undefined
  /** How long an interrupted query may take to end after the cancel request; default 5 s. */
  readonly cancelTimeout?: Duration.DurationInput | undefined
  /** A query that runs longer is cancelled on the server and fails with its 57014 `PgError`; default none. */
  readonly queryTimeout?: Duration.DurationInput | undefined
  /** How long a graceful close (Terminate) may take before the socket is destroyed; default 1 s. */
  readonly closeTimeout?: Duration.DurationInput | undefined
}

/**
 * The driver. Fails with `InvalidOption` (thrown: options are code) for a zero or negative
 * duration.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: (options?: Options) => Driver.Driver<PgTypes> = internal.make
