/**
 * Connection strings shared by the adapters (`esdb://`, `chronicle://`,
 * `amqp://`, `postgres://` …):
 *
 * ```text
 * scheme://[user[:password]@]host[:port][,host[:port]…][/path][?key=value&key=value…]
 * ```
 *
 * - The scheme is a letter followed by letters, digits, `+`, `-` or `.`; it is
 *   lowercased.
 * - Hosts are separated by commas; an IPv6 address is in brackets, with an
 *   optional zone (`[::1]:5432`, `[fe80::1%25eth0]`); a port is an integer in
 *   1-65535.
 * - User name, password, path, parameter names and values are percent-decoded
 *   (`%40` is `@`). A `+` is a literal `+`, never a space: connection strings are
 *   not HTML forms, and a `+` in a password must survive. Write a space as `%20`.
 * - The user info ends at the last `@` before the first `/` or `?`, so a
 *   password may hold a raw `@` or `:`, but `/` and `?` in it must be encoded
 *   (`%2F`, `%3F`). When they are not, the parser refuses rather than guesses
 *   wherever it can tell (a raw `@` in the path or in a parameter name, a bad
 *   host or port followed by an `@`), and its message never quotes the text
 *   that may be the password. `#` has no special meaning.
 * - The query is kept as ordered `[name, value]` pairs, duplicates included; a
 *   name without `=` has the value `""`. Look names up with {@link param}, which
 *   ignores case, `_` and `-`.
 * - The password is `Redacted`: printing, logging or serializing a parsed value
 *   shows `***` or `<redacted>`, and no error message ever contains it.
 *
 * Parsing never throws: every string gives a `ConnectionString` or a
 * `ConnectionStringError`.
 *
 * @since 0.1.0
 */
import type * as Config from "effect/Config"
import type * as Effect from "effect/Effect"
import type * as Either from "effect/Either"
import type * as Option from "effect/Option"
import type * as Schema from "effect/Schema"
import * as internal from "./internal/connectionString.js"

/**
 * A parsed connection string. It is also the `Schema` of its own type, for
 * adapters that compose it.
 *
 * - `scheme`: lowercased;
 * - `username`, `password`: percent-decoded; the password is `Redacted`;
 * - `hosts`: at least one, in order; an IPv6 host has no brackets and its zone
 *   decoded (`fe80::1%eth0`);
 * - `path`: percent-decoded as a whole, with its leading `/`, or `""` when there
 *   is none (so `amqp://host` and `amqp://host/` differ). The adapters read what
 *   follows the `/` as one name (a database, a virtual host): `amqp://host/%2F`
 *   has the path `//`, the virtual host `/`;
 * - `params`: percent-decoded `[name, value]` pairs in order.
 *
 * `String(cs)` prints it with the password as `***` (see {@link format});
 * `JSON.stringify` and `util.inspect` show the password as `<redacted>`.
 *
 * @since 0.1.0
 * @category models
 */
export const ConnectionString: typeof internal.ConnectionString = internal.ConnectionString

/**
 * @since 0.1.0
 * @category models
 */
export type ConnectionString = internal.ConnectionString

/**
 * One `host[:port]` of a connection string. Also its `Schema`.
 *
 * @since 0.1.0
 * @category models
 */
export const Host: typeof internal.Host = internal.Host

/**
 * @since 0.1.0
 * @category models
 */
export type Host = internal.Host

/**
 * Which part of a connection string an error is about.
 *
 * @since 0.1.0
 * @category errors
 */
export type Part = internal.Part

/**
 * A connection string that cannot be parsed: `part` says which part is wrong,
 * `reason` what is wrong, `position` (a 0-based index into the input) where.
 * Neither the fields nor the message ever contain the password. Adapters may
 * raise it too, for example for an option they do not accept.
 *
 * @example
 * ```ts
 * import { ConnectionString } from "@redial/core"
 *
 * const error = new ConnectionString.ConnectionStringError({ part: "query", reason: "unknown option \"tls\"" })
 * error.message // 'Invalid connection string: unknown option "tls"'
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export const ConnectionStringError: typeof internal.ConnectionStringError = internal.ConnectionStringError

/**
 * @since 0.1.0
 * @category errors
 */
export type ConnectionStringError = internal.ConnectionStringError

/**
 * Parses a connection string.
 *
 * @example
 * ```ts
 * import { ConnectionString } from "@redial/core"
 * import { Effect, Option } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const cs = yield* ConnectionString.parse("esdb://admin:changeit@node1:2113,node2?tls=false")
 *   cs.hosts.map((h) => h.host) // ["node1", "node2"]
 *   ConnectionString.param(cs, "TLS") // Option.some("false")
 *   String(cs) // "esdb://admin:***@node1:2113,node2?tls=false"
 * })
 * ```
 *
 * @since 0.1.0
 * @category parsing
 */
export const parse: (input: string) => Effect.Effect<ConnectionString, ConnectionStringError> = internal.parse

/**
 * Parses a connection string synchronously.
 *
 * @example
 * ```ts
 * import { ConnectionString } from "@redial/core"
 * import { Either } from "effect"
 *
 * const result = ConnectionString.parseEither("postgres://db1:99999/app")
 * if (Either.isLeft(result)) {
 *   result.left.part // "port"
 *   result.left.message
 *   // 'Invalid connection string: port "99999" of host "db1" is out of range 1-65535 (at position 15)'
 * }
 * ```
 *
 * @since 0.1.0
 * @category parsing
 */
export const parseEither: (input: string) => Either.Either<ConnectionString, ConnectionStringError> =
  internal.parseEither

/**
 * The `Schema` from a string to a `ConnectionString`, for adapters to compose
 * (`Schema.compose`, `Schema.filter`, `Schema.transform` into their options).
 * A decoding failure carries the `ConnectionStringError` message, and the
 * input in it has the password masked.
 *
 * Encoding prints the password in clear, so that decoding the result gives the
 * same value back; use {@link format} for anything a person may read.
 *
 * @example
 * ```ts
 * import { ConnectionString } from "@redial/core"
 * import { Schema } from "effect"
 *
 * const AmqpUrl = ConnectionString.FromString.pipe(
 *   Schema.filter((cs) => cs.scheme === "amqp" || cs.scheme === "amqps" || "expected amqp:// or amqps://")
 * )
 * ```
 *
 * @since 0.1.0
 * @category schemas
 */
export const FromString: Schema.Schema<ConnectionString, string> = internal.FromString

/**
 * Reads a connection string from the configuration.
 *
 * @example
 * ```ts
 * import { ConnectionString } from "@redial/core"
 *
 * const url = ConnectionString.config("DATABASE_URL")
 * ```
 *
 * @since 0.1.0
 * @category config
 */
export const config: (name: string) => Config.Config<ConnectionString> = internal.config

/**
 * Prints a connection string back, with the password replaced by `***`. This is
 * what `String(cs)` returns. Everything but letters, digits and `-._~` is
 * percent-encoded (a `/` after the path's first one too), so a printed string
 * without a password parses back to the same value.
 *
 * @example
 * ```ts
 * import { ConnectionString } from "@redial/core"
 * import { Effect } from "effect"
 *
 * Effect.gen(function*() {
 *   const cs = yield* ConnectionString.parse("amqp://guest:s3cret@[::1]:5672/%2F")
 *   ConnectionString.format(cs) // "amqp://guest:***@[::1]:5672/%2F"
 * })
 * ```
 *
 * @since 0.1.0
 * @category printing
 */
export const format: (self: ConnectionString) => string = internal.format

/**
 * The form under which parameter names are compared, as the KurrentDB client
 * does: lowercased, without `_` and `-`. `keepAliveInterval`,
 * `keep_alive_interval` and `KEEP-ALIVE-INTERVAL` are all `keepaliveinterval`.
 *
 * @since 0.1.0
 * @category parameters
 */
export const normalizeKey: (key: string) => string = internal.normalizeKey

/**
 * The value of the last parameter whose name matches `key` (compared with
 * {@link normalizeKey}), or `None`.
 *
 * @example
 * ```ts
 * import { ConnectionString } from "@redial/core"
 * import { Effect, pipe } from "effect"
 *
 * Effect.gen(function*() {
 *   const cs = yield* ConnectionString.parse("esdb://node?keep_alive_interval=10&KeepAliveInterval=20")
 *   ConnectionString.param(cs, "keepAliveInterval") // Option.some("20")
 *   pipe(cs, ConnectionString.param("keep-alive-interval")) // Option.some("20")
 * })
 * ```
 *
 * @since 0.1.0
 * @category parameters
 */
export const param: {
  (key: string): (self: ConnectionString) => Option.Option<string>
  (self: ConnectionString, key: string): Option.Option<string>
} = internal.param

/**
 * The values of every parameter whose name matches `key` (compared with
 * {@link normalizeKey}), in order.
 *
 * @since 0.1.0
 * @category parameters
 */
export const params: {
  (key: string): (self: ConnectionString) => ReadonlyArray<string>
  (self: ConnectionString, key: string): ReadonlyArray<string>
} = internal.params

/**
 * Gives every host without a port the port `port`.
 *
 * Throws a `RangeError` if `port` is not an integer in 1-65535: it is a
 * constant of the adapter, not user input.
 *
 * @example
 * ```ts
 * import { ConnectionString } from "@redial/core"
 * import { Effect } from "effect"
 *
 * Effect.gen(function*() {
 *   const cs = yield* ConnectionString.parse("postgres://db1,db2:5433/app")
 *   ConnectionString.withDefaultPort(cs, 5432).hosts // db1:5432, db2:5433
 * })
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const withDefaultPort: {
  (port: number): (self: ConnectionString) => ConnectionString
  (self: ConnectionString, port: number): ConnectionString
} = internal.withDefaultPort

/**
 * Percent-encodes everything but unreserved characters (RFC 3986), as `format` prints each part;
 * an unpaired surrogate becomes U+FFFD. Never throws. For adapters that print their own strings.
 *
 * @since 0.1.0
 * @category printing
 */
export const encodeComponent: (text: string) => string = internal.encode
