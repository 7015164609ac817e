/**
 * PostgreSQL connection strings, read into one typed {@link Endpoint} on top of `@redial/core`'s
 * `ConnectionString` parser (the grammar: user info, IPv6 in brackets, percent-decoding, the
 * `Redacted` password, linear time). Two forms, as libpq reads them:
 *
 * ```text
 * postgres://[user[:password]@][host][:port][/dbname][?key=value&…]      (or postgresql://)
 * host=localhost port=5432 dbname=app user=app password='with spaces'    (keyword/value)
 * ```
 *
 * The keys and their meaning are libpq's (PostgreSQL 15,
 * https://www.postgresql.org/docs/15/libpq-connect.html#LIBPQ-PARAMKEYWORDS), limited to what
 * node-postgres 8.23 can do, plus four of pg's own:
 *
 * | key                                   | value                                                   | becomes                          |
 * | ------------------------------------- | ------------------------------------------------------- | -------------------------------- |
 * | `host`                                | a host name, an IP address, or a socket directory (`/…`) | `host`                          |
 * | `port`                                | 1-65535                                                 | `port`                           |
 * | `dbname`                              | the database (the URI's path)                           | `database`                       |
 * | `user`, `password`                    | (the URI's user info); the password is `Redacted`       | `user`, `password`               |
 * | `sslmode`                             | `disable`, `prefer`, `require`, `verify-ca`, `verify-full` | `sslmode`                     |
 * | `sslrootcert`, `sslcert`, `sslkey`    | file paths, read by {@link toConnectOptions}            | `tls.ca`, `tls.cert`, `tls.key`  |
 * | `sslpassword`                         | the key's passphrase, `Redacted`                        | `tls.passphrase`                 |
 * | `application_name`                    | shown in `pg_stat_activity`                             | `applicationName`                |
 * | `fallback_application_name`           | used when `application_name` is not given               | `applicationName`                |
 * | `options`                             | command-line options (`-c search_path=app`)             | `options`                        |
 * | `connect_timeout`                     | seconds, 0-2147483; 0 waits for ever                    | the pool's `connectTimeout`      |
 * | `keepalives`, `keepalives_idle`       | 1 or 0; seconds                                         | `keepAlive`, `keepAliveInitialDelay` |
 * | `client_encoding`                     | `UTF8` only (pg always speaks UTF8)                     | (nothing)                        |
 * | `statement_timeout`, `lock_timeout`, `idle_in_transaction_session_timeout` | milliseconds (pg's)  | the same, in camelCase   |
 * | `query_timeout`                       | milliseconds (pg's); redial's also cancels on the server | the driver's `queryTimeout`     |
 * | `sslnegotiation`                      | `postgres` only (the default)                           | (nothing)                        |
 * | `uselibpqcompat`                      | `true` only (redial's sslmode is always libpq's)        | (nothing)                        |
 *
 * - **Refused, with a message that says why** (`reason: "Unsupported"`): a key libpq has and
 *   node-postgres cannot honour (`hostaddr`, `target_session_attrs`, `channel_binding`,
 *   `gssencmode`, `sslcrl`, `sslsni`, `service`, `passfile`, `keepalives_interval` …); several
 *   hosts or ports (`h1,h2`), libpq's failover list; `sslmode=allow` (pg cannot start plain and
 *   upgrade); `sslnegotiation=direct`, `replication`, `binary` (redial's driver does not pass
 *   them); pg's `ssl=true`, which libpq reads as `sslmode=require` and pg as `verify-full`:
 *   write the `sslmode` you mean. An unknown key is an error that names it (libpq rejects it
 *   too); a key written in another case or with other separators (`applicationName`) is told its
 *   libpq spelling.
 * - **Each key once**: a key given twice, or in two places (the path and `?dbname=`, the
 *   authority's host and `?host=`, the user info and `?user=`), is an error.
 * - **Values**: numbers are whole decimal numbers in their range (`10s`, `1e3`, `+5`, `0x10` are
 *   errors); an empty value is an error, except an empty password, which is none (as libpq).
 *   A NUL (`%00`) is an error in any value.
 * - **Together**: TLS files (`sslrootcert`, `sslcert`, `sslkey`, `sslpassword`) need an `sslmode`
 *   other than `disable`; `sslcert` and `sslkey` go together; `verify-ca` needs `sslrootcert`;
 *   a socket directory must leave room for `/.s.PGSQL.<port>` in a socket address (107 bytes).
 * - **Hosts**: `postgres:///db` and `postgres://u@/db` have no host (node-postgres then dials
 *   `localhost`); `?host=/var/run/postgresql` and `postgres://%2Fvar%2Frun%2Fpostgresql/db` are a
 *   Unix socket directory; `[::1]` is IPv6; a name in another script is dialled in its ASCII
 *   form (`xn--…`).
 *
 * **Where redial differs from pg-connection-string** (node-postgres's parser) and why:
 *
 * - pg reads any scheme (`pg://`, `mysql://`), the bare forms `/socket/dir dbname`,
 *   `socket:/dir?db=`, and a lone word as a database name; redial reads `postgres://`,
 *   `postgresql://` and libpq's keyword/value form only, so a string meant for another program
 *   fails instead of connecting somewhere.
 * - pg keeps unknown keys (`?max=18`) and the last of repeated keys; redial refuses both: a typo
 *   would silently keep a default.
 * - pg's `sslmode=prefer`, `require` and `verify-ca` all verify the certificate and the host name
 *   (pg 8's aliases for `verify-full`, unless `uselibpqcompat=true`); redial gives every mode
 *   libpq's meaning: `require` verifies nothing (the chain when `sslrootcert` is given), `verify-ca`
 *   the chain. pg's `no-verify` is read as libpq's `require`.
 * - pg reads `sslrootcert`, `sslcert` and `sslkey` with `readFileSync` while parsing (a missing
 *   file throws); redial's {@link parse} is pure and {@link toConnectOptions} reads them in an
 *   Effect, failing with {@link PgSslFileError} naming the file, never its content.
 * - pg decodes the database with `decodeURI` (`%2F` stays `%2F`) and the query with
 *   `URLSearchParams` (`+` is a space); redial decodes every part as libpq does (`%2F` is `/`, `+`
 *   is `+`). A malformed escape (`%zz`) is an error, where pg re-encodes the string and goes on.
 * - pg's `?host=` wins over the authority's host and pushes an encoded socket host into the
 *   database name; redial refuses a host given twice.
 * - pg ignores `connect_timeout`, `keepalives`, `keepalives_idle` and `sslpassword` in a URL (only
 *   its native libpq binding reads them); redial honours them.
 * - pg sends `statement_timeout=5s` as 5 ms (`parseInt`); redial refuses units.
 * - pg's default `sslmode` is `disable` and its default host `localhost`, where libpq prefers TLS
 *   and a Unix socket: redial keeps pg's defaults (the driver's). This module reads no
 *   environment variable (`PGHOST` …) and no `~/.postgresql` file; node-postgres itself still
 *   reads `PGDATABASE`, `PGPASSWORD`, `PGAPPNAME` and `PGOPTIONS` for what the options leave unset.
 * - libpq ends the user info at the first `@` of the authority; pg (WHATWG `URL`) and redial
 *   (core's rule) at the last, so a password may hold a raw `@`. Like libpq, an empty user name
 *   (`postgres://@h`, `postgres://:pw@h`) and an empty password are none.
 *
 * **Secrets**: the password and `sslpassword` are `Redacted`; `JSON.stringify` and `util.inspect`
 * show `<redacted>`, {@link format} `***`; no error message or parse issue contains them. Parsing
 * never throws and takes time linear in the input.
 *
 * @since 0.1.0
 */
import type { InvalidOption } from "@redial/core"
import type * as Config from "effect/Config"
import type * as Effect from "effect/Effect"
import type * as Either from "effect/Either"
import type * as Redacted from "effect/Redacted"
import type * as Schema from "effect/Schema"
import * as internal from "./internal/connectionString.js"
import type * as PgDriver from "./PgDriver.js"
import type * as PgPool from "./PgPool.js"

// ---------------------------------------------------------------------------
// Models
// ---------------------------------------------------------------------------

/**
 * The names of the keys an {@link Endpoint} holds, in the order {@link format} prints them.
 *
 * @since 0.1.0
 * @category constants
 */
export const optionNames: ReadonlyArray<string> = internal.optionNames

/**
 * One server and how to talk to it, as a connection string describes it. Also its `Schema`.
 * Every field is absent unless the string gives it (the driver's defaults then apply: host
 * `localhost`, port 5432, user `postgres`, `sslmode` `disable`).
 *
 * - `host`: a host name (ASCII), an IP address (IPv6 without brackets), or a socket directory;
 * - `sslrootcert`, `sslcert`, `sslkey`: file paths, read by {@link toConnectOptions};
 * - `connectTimeout` (whole seconds, or infinity for `connect_timeout=0`),
 *   `keepAliveInitialDelay` (whole seconds), `statementTimeout`, `lockTimeout`,
 *   `idleInTransactionSessionTimeout`, `queryTimeout` (whole milliseconds): `Duration`s;
 * - `password`, `sslpassword`: `Redacted`.
 *
 * @since 0.1.0
 * @category models
 */
export const Endpoint: typeof internal.Endpoint = internal.Endpoint

/**
 * @since 0.1.0
 * @category models
 */
export type Endpoint = internal.Endpoint

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

/**
 * A connection string that cannot be read. `part` says where (core's `ConnectionString.Part`; a
 * keyword/value string's settings are its `query`), `reason` what kind of problem it is:
 *
 * - `Unsupported`: a scheme other than `postgres` / `postgresql`, a key node-postgres cannot
 *   honour, several hosts, an unknown key;
 * - `Malformed`: a key given twice, a value that is not a number or not one of the key's values,
 *   settings that contradict each other, a broken keyword/value string;
 * - `OutOfRange`: a number outside its key's range, a socket path too long;
 * - `Empty`, `InvalidCharacter`, `Encoding`: an empty value, a NUL, a bad percent-escape (from
 *   core's grammar, with core's `ConnectionStringError` as the `cause`).
 *
 * `key` names the libpq key when the error is about one, `detail` says what is wrong in prose,
 * `position` (a 0-based index into the input) where, when known. Neither the fields nor the
 * message ever contain the password. It is a redial error (`isRedialError`).
 *
 * @example
 * ```ts
 * import { PgConnectionString } from "@redial/postgres"
 * import { Either } from "effect"
 *
 * const result = PgConnectionString.parseEither("postgres://app:s3cret@db/app?target_session_attrs=read-write")
 * if (Either.isLeft(result)) {
 *   console.log(result.left.reason) // "Unsupported"
 *   console.log(result.left.key) // "target_session_attrs"
 *   console.log(result.left.message)
 *   // Invalid connection string: target_session_attrs is a libpq option that node-postgres (pg 8.23) does not support
 * }
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export const PgConnectionStringError: typeof internal.PgConnectionStringError = internal.PgConnectionStringError

/**
 * @since 0.1.0
 * @category errors
 */
export type PgConnectionStringError = internal.PgConnectionStringError

/**
 * A TLS file named by the connection string (`sslrootcert`, `sslcert`, `sslkey`) that cannot be
 * read: `key` says which, `path` is the path as given, `code` the system's error code
 * (`ENOENT`, `EACCES` …). The message names the file, never its content.
 *
 * @since 0.1.0
 * @category errors
 */
export const PgSslFileError: typeof internal.PgSslFileError = internal.PgSslFileError

/**
 * @since 0.1.0
 * @category errors
 */
export type PgSslFileError = internal.PgSslFileError

// ---------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------

/**
 * Parses a connection string, a `postgres://` URI or a keyword/value string. A `Redacted` input
 * (a string read with `Config.redacted`) is read without being revealed anywhere else.
 *
 * @example
 * ```ts
 * import { PgConnectionString } from "@redial/postgres"
 * import { Duration, Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const endpoint = yield* PgConnectionString.parse(
 *     "postgres://app:s3cret@db.internal:5433/orders?sslmode=require&connect_timeout=10&application_name=api"
 *   )
 *   console.log(endpoint.host, endpoint.port, endpoint.database) // db.internal 5433 orders
 *   console.log(Duration.toSeconds(endpoint.connectTimeout ?? Duration.zero)) // 10
 *   console.log(PgConnectionString.format(endpoint))
 *   // postgres://app:***@db.internal:5433/orders?sslmode=require&application_name=api&connect_timeout=10
 *
 *   const socket = yield* PgConnectionString.parse("host=/var/run/postgresql dbname=test user=postgres")
 *   console.log(socket.host) // /var/run/postgresql
 * })
 *
 * Effect.runSync(program)
 * ```
 *
 * @since 0.1.0
 * @category parsing
 */
export const parse: (
  input: string | Redacted.Redacted<string>
) => Effect.Effect<Endpoint, PgConnectionStringError> = internal.parse

/**
 * {@link parse}, synchronously.
 *
 * @example
 * ```ts
 * import { PgConnectionString } from "@redial/postgres"
 * import { Either } from "effect"
 *
 * const result = PgConnectionString.parseEither("postgresql://%2Fvar%2Frun%2Fpostgresql/test")
 * if (Either.isRight(result)) console.log(result.right.host) // "/var/run/postgresql"
 *
 * const typo = PgConnectionString.parseEither("postgres://db/app?applicationName=api")
 * if (Either.isLeft(typo)) console.log(typo.left.message)
 * // Invalid connection string: unknown key "applicationName" in a PostgreSQL connection string; the key is written application_name (names are exact, as in libpq)
 * ```
 *
 * @since 0.1.0
 * @category parsing
 */
export const parseEither: (
  input: string | Redacted.Redacted<string>
) => Either.Either<Endpoint, PgConnectionStringError> = internal.parseEither

// ---------------------------------------------------------------------------
// Conversions
// ---------------------------------------------------------------------------

/**
 * The driver's `ConnectOptions` for an endpoint, with the TLS files read (`sslrootcert` as
 * `tls.ca`, `sslcert` as `tls.cert`, `sslkey` as a `Redacted` `tls.key`, `sslpassword` as
 * `tls.passphrase`). `fallbackApplicationName` becomes `applicationName` when that is absent.
 * Fails with {@link PgSslFileError} when a file cannot be read. The files are read once, here: a
 * certificate rotated on disk is read again by converting again (in the pool's `configure`).
 *
 * @example
 * ```ts
 * import { PgConnectionString } from "@redial/postgres"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const endpoint = yield* PgConnectionString.parse("postgres://postgres@127.0.0.1/test?statement_timeout=5000")
 *   const options = yield* PgConnectionString.toConnectOptions(endpoint)
 *   console.log(options.host, options.database) // 127.0.0.1 test
 * })
 *
 * Effect.runPromise(program)
 * ```
 *
 * @since 0.1.0
 * @category conversions
 */
export const toConnectOptions: (self: Endpoint) => Effect.Effect<PgDriver.ConnectOptions, PgSslFileError> =
  internal.toConnectOptions

/**
 * `PgPool.make`'s options for an endpoint: `connect` ({@link toConnectOptions}), and what belongs
 * to the pool and its driver: `connectTimeout` (`connect_timeout`) and `queryTimeout`
 * (`query_timeout`, absent when 0). Add the pool's own options (`size`, `name` …) to it.
 *
 * @example
 * ```ts
 * import { PgConnectionString, PgPool } from "@redial/postgres"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const endpoint = yield* PgConnectionString.parse(
 *     "postgres://postgres@127.0.0.1:5432/test?connect_timeout=5&application_name=example-url"
 *   )
 *   const options = yield* PgConnectionString.toPoolOptions(endpoint)
 *   const pool = yield* PgPool.make({ ...options, size: 2, name: "example" })
 *   const { rows } = yield* pool.query("select current_database() as db")
 *   console.log(rows) // [ { db: 'test' } ]
 * }).pipe(Effect.scoped)
 *
 * Effect.runPromise(program)
 * ```
 *
 * @since 0.1.0
 * @category conversions
 */
export const toPoolOptions: (self: Endpoint) => Effect.Effect<PgPool.Options, PgSslFileError> = internal.toPoolOptions

/**
 * `PgPool`'s `ConfigOptions` with their `url` read into them: the URL's settings, merged with
 * the options given beside it. A setting given both ways (`url` with a host and `connect.host`,
 * `connect_timeout` and `connectTimeout`) fails with `InvalidOption` (reason `Conflict`) naming
 * the option: neither silently wins. Without a `url`, the options as they are. This is what
 * `PgPool.layerConfig` does before `PgPool.make`.
 *
 * @example
 * ```ts
 * import { PgConnectionString } from "@redial/postgres"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const options = yield* PgConnectionString.resolveUrl({
 *     url: "postgres://postgres@127.0.0.1/test",
 *     connect: { applicationName: "billing" },
 *     size: 4
 *   })
 *   console.log(options.connect) // { host: '127.0.0.1', database: 'test', user: 'postgres', applicationName: 'billing' }
 * })
 *
 * Effect.runPromise(program)
 * ```
 *
 * @since 0.1.0
 * @category conversions
 */
export const resolveUrl: (
  options: PgPool.ConfigOptions
) => Effect.Effect<PgPool.Options, PgConnectionStringError | PgSslFileError | InvalidOption> = internal.resolveUrl

// ---------------------------------------------------------------------------
// Printing
// ---------------------------------------------------------------------------

/**
 * Prints an endpoint as a `postgres://` URI for logs, the password and `sslpassword` as `***`: a
 * socket directory percent-encoded in the authority, the database percent-encoded, the keys it
 * has in the order of {@link optionNames}. Without secrets, it parses back to the same endpoint.
 *
 * @since 0.1.0
 * @category printing
 */
export const format: (self: Endpoint) => string = internal.format

/**
 * The server, without user info or keys: `postgres://host:port/database`, each part only when
 * the endpoint has it.
 *
 * @since 0.1.0
 * @category printing
 */
export const describe: (self: Endpoint) => string = internal.describe

/**
 * A connection string as it may be shown (in a parse issue, a log line), parsed or not: a URI
 * with its password, the values of `password` and `sslpassword` and every text that holds them
 * as `***`; a keyword/value string with those values, and everything after a syntax error, as
 * `***`. Linear, never throws.
 *
 * @example
 * ```ts
 * import { PgConnectionString } from "@redial/postgres"
 *
 * console.log(PgConnectionString.redact("postgres://app:s3cret@db/app?sslmode=bogus"))
 * // postgres://app:***@db/app?sslmode=bogus
 * console.log(PgConnectionString.redact("host=db password='s3 cret' port=x"))
 * // host=db password=*** port=x
 * ```
 *
 * @since 0.1.0
 * @category printing
 */
export const redact: (input: string) => string = internal.redact

// ---------------------------------------------------------------------------
// Schemas and Config
// ---------------------------------------------------------------------------

/**
 * The `Schema` from a connection string to an {@link Endpoint}. A decoding failure carries the
 * error's message, and the input in the parse issue is {@link redact}ed. Encoding prints the
 * secrets in clear, so that decoding gives the same endpoint back; use {@link format} for
 * anything a person may read.
 *
 * @example
 * ```ts
 * import { PgConnectionString } from "@redial/postgres"
 * import { Schema } from "effect"
 *
 * const endpoint = Schema.decodeUnknownSync(PgConnectionString.FromString)("postgres://db:5433/app")
 * console.log(endpoint.port) // 5433
 * ```
 *
 * @since 0.1.0
 * @category schemas
 */
export const FromString: Schema.Schema<Endpoint, string> = internal.FromString

/**
 * Reads a connection string from the configuration, with `Config.redacted` (it may hold a
 * password); an invalid string is a `ConfigError.InvalidData` with the (password-free) message.
 *
 * @example
 * ```ts
 * import { PgConnectionString } from "@redial/postgres"
 * import { ConfigProvider, Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const endpoint = yield* PgConnectionString.config("DATABASE_URL")
 *   console.log(PgConnectionString.describe(endpoint)) // postgres://127.0.0.1/test
 * }).pipe(
 *   Effect.withConfigProvider(ConfigProvider.fromJson({ DATABASE_URL: "postgres://postgres:pw@127.0.0.1/test" }))
 * )
 *
 * Effect.runSync(program)
 * ```
 *
 * @since 0.1.0
 * @category config
 */
export const config: (name: string) => Config.Config<Endpoint> = internal.config
