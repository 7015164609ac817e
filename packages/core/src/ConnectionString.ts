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
 * - Without user info, `user:password` reads as `host:port` (`esdb://admin:S3cret`
 *   lacks its `@host`). So when there is no `@`, no message quotes the text
 *   after the first `:` of the authority (a bad port, the hosts after it), and
 *   {@link redact} masks it. A password of 1-5 digits then reads as a valid port:
 *   nothing can tell `admin:1234` from `host:1234`.
 *
 * Parsing never throws and takes time linear in the input: every string gives a
 * `ConnectionString` or a `ConnectionStringError`. Messages quote at most 64
 * characters of any text.
 *
 * The helpers the adapters share are here too: {@link readParams} reads the
 * query into typed options, {@link quote} and {@link Secrets} keep secrets out
 * of messages, {@link redact} masks them in a raw input, {@link makeFromString}
 * builds a `Schema` whose parse issues never hold the raw input, and
 * {@link encodeComponent} / {@link decodeComponent} percent-encode.
 *
 * @since 0.1.0
 */
import type * as Config from "effect/Config"
import type * as Effect from "effect/Effect"
import type * as Either from "effect/Either"
import type * as Option from "effect/Option"
import type * as Schema from "effect/Schema"
import * as internal from "./internal/connectionString.js"
import * as hostName from "./internal/connectionString/hostName.js"
import type * as params_ from "./internal/connectionString/params.js"
import * as paramsInternal from "./internal/connectionString/params.js"
import type * as secrets_ from "./internal/connectionString/secrets.js"

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
 * `String(cs)` prints it with the password and secret parameters as `***` (see {@link format});
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
 * What is wrong with a connection string, machine-readable:
 *
 * - `Empty`: a part that must not be empty is (the whole string, the scheme,
 *   the user name, a host, a port, the name of a query parameter);
 * - `Malformed`: the structure is wrong (no `scheme://`, an unclosed `[`, an
 *   invalid IPv6 address, a port that is not a number, a host with several
 *   `:`, an unescaped `@` that most likely belongs to a password);
 * - `InvalidCharacter`: a character that is not allowed where it is (in the
 *   scheme or a host name, a control character or an unpaired surrogate);
 * - `Encoding`: a malformed percent-escape, or escapes that are not UTF-8;
 * - `OutOfRange`: a port outside 1-65535;
 * - `Unsupported`: valid, but not accepted by an adapter (a scheme, an
 *   option); `parse` never fails with it, adapters may.
 *
 * @since 0.1.0
 * @category errors
 */
export type Reason = internal.Reason

/**
 * A connection string that cannot be parsed: `part` says which part is wrong,
 * `reason` what kind of problem it is, `detail` says it in prose, `position`
 * (a 0-based index into the input) where. Neither the fields nor the message
 * ever contain the password. Adapters may raise it too, for example for an
 * option they do not accept. It is a redial error (`isRedialError`).
 *
 * @example
 * ```ts
 * import { ConnectionString } from "@redial/core"
 *
 * const error = new ConnectionString.ConnectionStringError({
 *   part: "query",
 *   reason: "Unsupported",
 *   detail: "unknown option \"tls\""
 * })
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
 * Effect.runSync(program)
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
 * const result = ConnectionString.parseEither("postgres://app@db1:99999/app")
 * if (Either.isLeft(result)) {
 *   result.left.part // "port"
 *   result.left.message
 *   // 'Invalid connection string: port "99999" of host "db1" is out of range 1-65535 (at position 19)'
 * }
 *
 * // Without "@host", "user:password" reads as "host:port": a bad port is never quoted.
 * ConnectionString.parseEither("postgres://admin:S3cret") // the message does not contain "S3cret"
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
 * A decoding failure carries the `ConnectionStringError` message; the parse
 * issue holds the input as {@link redact} shows it, never the raw input.
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
 * Prints a connection string back, with the password and the values of secret
 * parameters ({@link defaultSecretParams}: `token`, `apiKey` …) replaced by
 * `***`. This is what `String(cs)` returns. Everything but letters, digits and
 * `-._~` is percent-encoded (a `/` after the path's first one too), so a
 * printed string without secrets parses back to the same value.
 *
 * @example
 * ```ts
 * import { ConnectionString } from "@redial/core"
 * import { Effect } from "effect"
 *
 * Effect.gen(function*() {
 *   const cs = yield* ConnectionString.parse("amqp://guest:s3cret@[::1]:5672/%2F")
 *   ConnectionString.format(cs) // "amqp://guest:***@[::1]:5672/%2F"
 * }).pipe(Effect.runSync)
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
 * }).pipe(Effect.runSync)
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
 * }).pipe(Effect.runSync)
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

/**
 * Percent-decodes a text as the parser does (`+` stays `+`): `None` when an
 * escape is malformed, is not UTF-8, or a control character or an unpaired
 * surrogate is in it. Never throws.
 *
 * @example
 * ```ts
 * import { ConnectionString } from "@redial/core"
 *
 * ConnectionString.decodeComponent("a%20b+c") // Option.some("a b+c")
 * ConnectionString.decodeComponent("%zz") // Option.none()
 * ```
 *
 * @since 0.1.0
 * @category printing
 */
export const decodeComponent: (text: string) => Option.Option<string> = internal.decodeComponent

// ---------------------------------------------------------------------------
// Secrets
// ---------------------------------------------------------------------------

/**
 * A set of secrets (a password, the values of secret parameters) that tells,
 * in one pass over a text and however many secrets there are, whether the text
 * holds one (`contains`) and masks every one of them (`mask`). Empty secrets
 * are ignored.
 *
 * @since 0.1.0
 * @category secrets
 */
export type Secrets = secrets_.Secrets

/**
 * Makes {@link Secrets} from the texts given.
 *
 * @example
 * ```ts
 * import { ConnectionString } from "@redial/core"
 *
 * const secrets = ConnectionString.secrets(["hunter2"])
 * secrets.contains("my hunter2 name") // true
 * secrets.mask("a hunter2 b") // "a *** b"
 * ```
 *
 * @since 0.1.0
 * @category secrets
 */
export const secrets: (values: Iterable<string>) => Secrets = internal.makeSecrets

/**
 * The names of the parameters whose values are secrets unless an adapter says
 * otherwise (compared with {@link normalizeKey}): `password`, `passwd`, `pwd`,
 * `secret`, `clientSecret`, `token`, `accessToken`, `apiKey`, `sslPassword`,
 * `certificatePassword`.
 *
 * @since 0.1.0
 * @category secrets
 */
export const defaultSecretParams: ReadonlyArray<string> = internal.defaultSecretParams

/**
 * Options of the secret-aware helpers: which parameters hold secrets
 * (default {@link defaultSecretParams}).
 *
 * @since 0.1.0
 * @category secrets
 */
export interface SecretOptions {
  readonly secretParams?: Iterable<string> | undefined
}

/**
 * The secrets of a parsed string: its password and the values of its secret
 * parameters.
 *
 * @since 0.1.0
 * @category secrets
 */
export const secretsOf: (self: ConnectionString, options?: SecretOptions) => Secrets = internal.secretsOf

/**
 * `text` in double quotes for a message, cut after 64 characters; when
 * `secrets` are given and the text holds one (a password typed in the wrong
 * place), a placeholder instead. Never throws.
 *
 * @example
 * ```ts
 * import { ConnectionString } from "@redial/core"
 *
 * const secrets = ConnectionString.secrets(["hunter2"])
 * ConnectionString.quote("node1", secrets) // '"node1"'
 * ConnectionString.quote("hunter2", secrets) // "a value that contains a secret of this string (not shown)"
 * ```
 *
 * @since 0.1.0
 * @category secrets
 */
export const quote: (text: string, secrets?: Secrets) => string = internal.quoteText

/**
 * A raw input as it may be shown (in a parse issue, a log line): a string that
 * parses is printed back with its password, the values of its secret parameters
 * and every text that holds one of them as `***`; one that does not parse has
 * masked whatever may be a secret: from the first `:` after the scheme to the
 * last `@`, everything after the first `:` of a broken authority without `@`,
 * and the values of secret parameters wherever they appear. Linear, never throws.
 *
 * @example
 * ```ts
 * import { ConnectionString } from "@redial/core"
 *
 * ConnectionString.redact("amqp://guest:s3cret@h?token=t0k") // "amqp://guest:***@h?token=***"
 * ConnectionString.redact("amqp://guest:s3cret") // "amqp://guest:***"
 * ```
 *
 * @since 0.1.0
 * @category secrets
 */
export const redact: (input: string, options?: SecretOptions) => string = internal.redact

/**
 * Builds the `Schema` from a string to an adapter's settings, as {@link FromString}
 * is built: `decode` parses, `encode` prints back (secrets in clear, so that
 * decoding gives the same value), and every parse issue holds `redact(input)`
 * in place of the input. Schema's own `Transformation` nodes otherwise keep the
 * raw input, password included, in `issue.actual`.
 *
 * A schema that embeds this one (a `Schema.Struct` with a connection-string
 * field) still records its own input, the whole struct, in its issues.
 *
 * @example
 * ```ts
 * import { ConnectionString } from "@redial/core"
 * import { Either, Schema } from "effect"
 *
 * const AmqpFromString = ConnectionString.makeFromString({
 *   identifier: "AmqpFromString",
 *   to: ConnectionString.ConnectionString,
 *   decode: (input) =>
 *     Either.filterOrLeft(
 *       ConnectionString.parseEither(input),
 *       (cs) => cs.scheme === "amqp",
 *       () =>
 *         new ConnectionString.ConnectionStringError({
 *           part: "scheme",
 *           reason: "Unsupported",
 *           detail: "expected amqp://"
 *         })
 *     ),
 *   encode: (cs) => Schema.encodeSync(ConnectionString.FromString)(cs),
 *   redact: (input) => ConnectionString.redact(input)
 * })
 * ```
 *
 * @since 0.1.0
 * @category schemas
 */
export const makeFromString: <A, I, R>(options: {
  readonly identifier: string
  readonly to: Schema.Schema<A, I, R>
  readonly decode: (input: string) => Either.Either<A, { readonly message: string }>
  readonly encode: (value: A) => string
  readonly redact: (input: string) => string
}) => Schema.Schema<A, string> = internal.makeFromString

// ---------------------------------------------------------------------------
// Typed parameters
// ---------------------------------------------------------------------------

/**
 * One option an adapter reads from the query: its documented `name` (used in
 * messages), what a valid value is (`expected`), whether the value is a
 * `secret` (never quoted), and `decode`.
 *
 * @since 0.1.0
 * @category parameters
 */
export type Param<A> = params_.Param<A>

/**
 * The values {@link readParams} read: one optional field per option.
 *
 * @since 0.1.0
 * @category parameters
 */
export type ParamValues<P> = params_.ParamValues<P>

/**
 * A query parameter that an adapter does not accept: `reason` is `UnknownKey`
 * (`key` is the name as written, absent when it holds a secret) or
 * `InvalidValue` (`key` is the option's documented name); `detail` says what is
 * wrong in prose. The message never quotes a secret. It is a redial error
 * (`isRedialError`).
 *
 * @since 0.1.0
 * @category parameters
 */
export const ParamError: typeof paramsInternal.ParamError = paramsInternal.ParamError

/**
 * @since 0.1.0
 * @category parameters
 */
export type ParamError = paramsInternal.ParamError

/**
 * A {@link Param} with its own decoder.
 *
 * @example
 * ```ts
 * import { ConnectionString } from "@redial/core"
 * import { Option } from "effect"
 *
 * const heartbeat = ConnectionString.makeParam("heartbeat", {
 *   expected: "a whole number of seconds",
 *   decode: (value) => /^[0-9]{1,6}$/.test(value) ? Option.some(Number(value)) : Option.none()
 * })
 * ```
 *
 * @since 0.1.0
 * @category parameters
 */
export const makeParam: <A>(
  name: string,
  options: {
    readonly expected: string
    readonly decode: (value: string) => Option.Option<A>
    readonly secret?: boolean | undefined
  }
) => Param<A> = paramsInternal.makeParam

/**
 * `true` or `false`; exactly so by default, in any case with `ignoreCase`.
 *
 * @since 0.1.0
 * @category parameters
 */
export const booleanParam: (name: string, options?: { readonly ignoreCase?: boolean | undefined }) => Param<boolean> =
  paramsInternal.booleanParam

/**
 * A whole decimal number (an optional `-`, digits; no `1e4`, no `10ms`) in
 * `min`-`max`.
 *
 * @since 0.1.0
 * @category parameters
 */
export const integerParam: (
  name: string,
  options: { readonly min: number; readonly max?: number | undefined; readonly expected?: string | undefined }
) => Param<number> = paramsInternal.integerParam

/**
 * Any non-empty text (`what` names it in messages: "a non-empty file path").
 *
 * @since 0.1.0
 * @category parameters
 */
export const nonEmptyParam: (
  name: string,
  options: { readonly what: string; readonly secret?: boolean | undefined }
) => Param<string> = paramsInternal.nonEmptyParam

/**
 * One of `literals`; with `normalize`, compared with {@link normalizeKey}
 * (`ReadOnlyReplica` is `read_only_replica`).
 *
 * @since 0.1.0
 * @category parameters
 */
export const literalParam: <const L extends ReadonlyArray<string>>(
  name: string,
  literals: L,
  options?: { readonly normalize?: boolean | undefined }
) => Param<L[number]> = paramsInternal.literalParam

/**
 * Reads every query parameter in order into the options of `spec`: names are
 * compared with {@link normalizeKey}, the last value of a name wins (as the
 * KurrentDB client does), an invalid value or a name that is not an option is
 * a {@link ParamError}. `label` names the string in messages ("a KurrentDB
 * connection string"); `secrets` (default {@link secretsOf}) are never quoted.
 *
 * @example
 * ```ts
 * import { ConnectionString } from "@redial/core"
 * import { Effect } from "effect"
 *
 * const spec = {
 *   heartbeat: ConnectionString.integerParam("heartbeat", { min: 0 }),
 *   tls: ConnectionString.booleanParam("tls")
 * }
 *
 * Effect.gen(function*() {
 *   const cs = yield* ConnectionString.parse("amqp://h?heart_beat=10")
 *   const values = yield* ConnectionString.readParams(cs, spec, { label: "an AMQP URL" })
 *   values.heartbeat // 10
 *   values.tls // undefined
 * }).pipe(Effect.runSync)
 * ```
 *
 * @since 0.1.0
 * @category parameters
 */
export const readParams: <P extends Record<string, Param<unknown>>>(
  self: ConnectionString,
  spec: P,
  options: { readonly label: string; readonly secrets?: Secrets | undefined }
) => Either.Either<ParamValues<P>, ParamError> = internal.readParams

/**
 * Why a host (as {@link parse} gives it) is not a DNS name or an IPv4 address, or `undefined`
 * when it is one. Core's grammar takes any text without delimiters as a host (`h;x`,
 * `h&heartbeat=5`): an adapter checks its hosts with this, after its own cases (IPv6 addresses,
 * socket paths). `explain` may give a character its own message.
 *
 * @example
 * ```ts
 * import { ConnectionString } from "@redial/core"
 *
 * console.log(ConnectionString.hostNameProblem("db.example.com")) // undefined
 * console.log(ConnectionString.hostNameProblem("h&heartbeat=5")) // "&" is not allowed (options go after "?")
 * ```
 *
 * @since 0.1.0
 * @category hosts
 */
export const hostNameProblem: (
  host: string,
  explain?: (char: string) => string | undefined
) => string | undefined = hostName.hostNameProblem

/**
 * A host as it is dialled: a name in another script in its ASCII (punycode) form, `""` when it
 * has none.
 *
 * @since 0.1.0
 * @category hosts
 */
export const hostToAscii: (host: string) => string = hostName.toAscii
