/**
 * AMQP 0-9-1 connection strings (RabbitMQ), read into one typed broker {@link Endpoint} on top of
 * `@redial/core`'s `ConnectionString` parser (which does the grammar: the user info, IPv6 in
 * brackets, percent-decoding, the `Redacted` password, linear time):
 *
 * ```text
 * amqp://[user[:password]@]host[:port][/vhost][?key=value&…]
 * amqps://…                                    (TLS)
 * ```
 *
 * The meaning is that of RabbitMQ's URI spec (https://www.rabbitmq.com/docs/uri-spec) and of
 * amqplib 2.3.1's own reading of a URL (`lib/connect.js`), except where noted below.
 *
 * - **Scheme**: `amqp` (default port 5672) or `amqps` (TLS, default port 5671), in any case.
 *   Any other scheme is an error (`reason: "Unsupported"`, `part: "scheme"`).
 * - **One host**: a host name, an IPv4 address or an IPv6 address in brackets (`amqp://[::1]`).
 *   Several hosts (`amqp://h1,h2`) are an error: to fail over between brokers, give one URL per
 *   broker. An empty host (`amqp://`, `amqp://:10000`, `amqp:///vhost`) is an error too, where
 *   amqplib would dial localhost: a string that lost its host in a deployment should not reach
 *   the wrong broker. A percent-escape in the host (the spec's `ho%61st`) is an error: amqplib
 *   would look up the name with the escape in it.
 * - **User info**: the user name and password are percent-decoded as UTF-8 (`%40` is `@`, `+`
 *   is a `+`); the password is `Redacted`. Without user info both are absent, and the connection
 *   then logs in as amqplib does: `guest` / `guest` (which RabbitMQ accepts only from
 *   localhost). `user@host` has a user name and no password (amqplib sends an empty one). An
 *   empty user name (`amqp://:password@host`) is an error, where amqplib would send `""`.
 * - **Virtual host**: the path without its leading `/`, percent-decoded: `amqp://h/%2F` is the
 *   vhost `/`, `amqp://h/v%2Fhost` the vhost `v/host`. No path, or an empty one
 *   (`amqp://h/`), is the vhost `/`, as in amqplib (the spec reads `amqp://h/` as the empty
 *   vhost `""`, which RabbitMQ has no use for). A raw `/` in the vhost (`amqp://h/a/b`) is an
 *   error: the spec makes the vhost one path segment. At most 255 bytes in UTF-8.
 * - **Options** (the query), names compared ignoring case, `_` and `-` (so `frameMax`, amqplib's
 *   spelling, and `frame_max`, RabbitMQ's, are the same option; amqplib itself reads only the
 *   first):
 *
 * | option               | value                                                     | default           |
 * | -------------------- | --------------------------------------------------------- | ----------------- |
 * | `heartbeat`          | seconds, 0-65535; 0 disables heartbeats                   | the broker's      |
 * | `frame_max`          | bytes, 4096-4294967295                                    | amqplib's: 131072 |
 * | `channel_max`        | 0-65535; 0 leaves the limit to the broker                 | 0                 |
 * | `max_frame_size`     | bytes, 0 (no limit) or 4096-4294967295 (amqplib 2.3)      | amqplib's: 64 MiB |
 * | `locale`             | a non-empty locale, at most 255 bytes                     | `en_US`           |
 * | `connection_timeout` | milliseconds, 1-2147483647 (RabbitMQ's Erlang client)     | none              |
 *
 *   An option that is not given is absent from the endpoint, never filled in with its default.
 *   An unknown option is an error that names it (`reason: "Unsupported"`; amqplib ignores it,
 *   so a typo would silently keep the default), and so is an option given twice, in any
 *   spelling, and a value out of range (the message names the option and its range). Numbers
 *   are whole decimal numbers: `10s`, `1e4` and `+5` are errors where amqplib's `parseInt` would
 *   read a prefix. TLS settings and SASL mechanisms (the Erlang client's `cacertfile`,
 *   `verify`, `auth_mechanism` …) are not read from the URL: amqplib takes them as socket options.
 *
 * Each limit is the one amqplib's encoder or handshake enforces, so an endpoint that parses never
 * fails there. The connection calls `amqplib.connect(toAmqplib(endpoint), socketOptions)` with
 * {@link toAmqplib}'s object, so the password never travels inside a URL string.
 *
 * **Secrets**: `String`, `JSON.stringify` and `util.inspect` show the password as `<redacted>`,
 * {@link format} as `***`; no error message or parse issue contains it. Parsing never throws and
 * takes time linear in the input.
 *
 * @since 0.1.0
 */
import type { Options } from "amqplib"
import type * as Config from "effect/Config"
import type * as Effect from "effect/Effect"
import type * as Either from "effect/Either"
import type * as Redacted from "effect/Redacted"
import type * as Schema from "effect/Schema"
import * as internal from "./internal/connectionString.js"

// ---------------------------------------------------------------------------
// Models
// ---------------------------------------------------------------------------

/**
 * The default ports: 5672 for `amqp`, 5671 for `amqps`.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultPorts: { readonly amqp: 5672; readonly amqps: 5671 } = internal.defaultPorts

/**
 * The documented names of the options, in the order {@link format} prints them: `heartbeat`,
 * `frame_max`, `channel_max`, `max_frame_size`, `locale`, `connection_timeout`.
 *
 * @since 0.1.0
 * @category constants
 */
export const optionNames: ReadonlyArray<string> = internal.optionNames

/**
 * `amqp` (plain TCP) or `amqps` (TLS).
 *
 * @since 0.1.0
 * @category models
 */
export const Protocol: typeof internal.Protocol = internal.Protocol

/**
 * @since 0.1.0
 * @category models
 */
export type Protocol = internal.Protocol

/**
 * One broker, as a connection string describes it. Also its `Schema` (`Endpoint.make` checks a
 * value built by hand).
 *
 * - `protocol`: `amqp` or `amqps`;
 * - `hostname`: a host name (a name in another script in its ASCII form, `xn--…`) or an IP
 *   address, an IPv6 address without brackets (`::1`, `fe80::1%eth0`);
 * - `port`: the default port of the protocol filled in;
 * - `username`, `password`: absent without user info (the connection then logs in as
 *   `guest` / `guest`, as amqplib does); the password is `Redacted`;
 * - `vhost`: `/` when the string has none;
 * - `heartbeat` (seconds), `frameMax`, `channelMax`, `maxFrameSize`, `locale`,
 *   `connectionTimeout` (a `Duration`): absent unless the string gives them.
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
 * A connection string that cannot be read. `part` says which part is wrong and `reason` what
 * kind of problem it is, with core's `ConnectionString` vocabulary:
 *
 * - `Unsupported`: a scheme other than `amqp` / `amqps`, several hosts, an unknown option;
 * - `Malformed`: a raw `/` in the vhost, an option given twice, a value that is not a number,
 *   a host that is not a host name or an IP address;
 * - `OutOfRange`: a value outside its option's range, a vhost longer than 255 bytes;
 * - `Empty`, `InvalidCharacter`, `Encoding`: from core's grammar (an empty host, a bad
 *   percent-escape …), with core's `ConnectionStringError` as the `cause`.
 *
 * `key` names the option when the error is about one, `detail` says what is wrong in prose,
 * `position` (a 0-based index into the input) where, when known. Neither the fields nor the
 * message ever contain the password. It is a redial error (`isRedialError`).
 *
 * @example
 * ```ts
 * import { AmqpConnectionString } from "@redial/amqp"
 * import { Either } from "effect"
 *
 * const result = AmqpConnectionString.parseEither("amqp://guest:s3cret@rabbit?heartbeat=100000")
 * if (Either.isLeft(result)) {
 *   result.left.reason // "OutOfRange"
 *   result.left.key // "heartbeat"
 *   result.left.message
 *   // 'Invalid connection string: heartbeat must be a whole number of seconds in 0-65535 (0 disables heartbeats), got "100000"'
 * }
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export const AmqpConnectionStringError: typeof internal.AmqpConnectionStringError = internal.AmqpConnectionStringError

/**
 * @since 0.1.0
 * @category errors
 */
export type AmqpConnectionStringError = internal.AmqpConnectionStringError

// ---------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------

/**
 * Parses an AMQP connection string. A `Redacted` input (a string read with `Config.redacted`)
 * is read without being revealed anywhere else.
 *
 * @example
 * ```ts
 * import { AmqpConnectionString } from "@redial/amqp"
 * import { Duration, Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const endpoint = yield* AmqpConnectionString.parse(
 *     "amqps://app:s3cret@rabbit.internal/orders?heartbeat=30&connection_timeout=5000"
 *   )
 *   endpoint.port // 5671
 *   endpoint.vhost // "orders"
 *   endpoint.heartbeat // 30
 *   Duration.toMillis(endpoint.connectionTimeout ?? Duration.zero) // 5000
 *   AmqpConnectionString.format(endpoint)
 *   // "amqps://app:***@rabbit.internal:5671/orders?heartbeat=30&connection_timeout=5000"
 * })
 * Effect.runSync(program)
 * ```
 *
 * @since 0.1.0
 * @category parsing
 */
export const parse: (
  input: string | Redacted.Redacted<string>
) => Effect.Effect<Endpoint, AmqpConnectionStringError> = internal.parse

/**
 * {@link parse}, synchronously.
 *
 * @example
 * ```ts
 * import { AmqpConnectionString } from "@redial/amqp"
 * import { Either } from "effect"
 *
 * const result = AmqpConnectionString.parseEither("amqp://rabbit/%2F")
 * if (Either.isRight(result)) {
 *   result.right.vhost // "/"
 *   result.right.username // undefined: the connection logs in as guest / guest
 * }
 * ```
 *
 * @since 0.1.0
 * @category parsing
 */
export const parseEither: (
  input: string | Redacted.Redacted<string>
) => Either.Either<Endpoint, AmqpConnectionStringError> = internal.parseEither

// ---------------------------------------------------------------------------
// Conversions and printing
// ---------------------------------------------------------------------------

/**
 * The object to give `amqplib.connect` (its `Options.Connect`): `protocol`, `hostname`, `port`,
 * `vhost`, and `username`, `password` (revealed), `heartbeat`, `frameMax`, `channelMax`,
 * `maxFrameSize`, `locale` when the endpoint has them. Without a user name and password amqplib
 * logs in as `guest` / `guest`. amqplib percent-decodes the `vhost` of this object too, so a `%`
 * in the vhost is given as `%25` (it decodes to the vhost itself).
 *
 * `connectionTimeout` is not in it: it is the `timeout` socket option of `amqplib.connect`.
 *
 * @example
 * ```ts
 * import { AmqpConnectionString } from "@redial/amqp"
 * import { Either } from "effect"
 *
 * const endpoint = Either.getOrThrow(AmqpConnectionString.parseEither("amqp://app:s3cret@rabbit?frameMax=8192"))
 * AmqpConnectionString.toAmqplib(endpoint)
 * // { protocol: "amqp", hostname: "rabbit", port: 5672, vhost: "/", username: "app", password: "s3cret", frameMax: 8192 }
 * ```
 *
 * @since 0.1.0
 * @category conversions
 */
export const toAmqplib: (self: Endpoint) => Options.Connect = internal.toAmqplib

/**
 * Prints an endpoint as a connection string for logs, the password as `***`: the port always,
 * the vhost percent-encoded (`/` is `/%2F`), the options it has in the order of
 * {@link optionNames}. Without the password, it parses back to the same endpoint.
 *
 * @since 0.1.0
 * @category printing
 */
export const format: (self: Endpoint) => string = internal.format

/**
 * The broker, without user info or options: `amqp://host:port/vhost`, the vhost
 * percent-encoded (`amqp://rabbit:5672/%2F`).
 *
 * @since 0.1.0
 * @category printing
 */
export const describe: (self: Endpoint) => string = internal.describe

// ---------------------------------------------------------------------------
// Schemas and Config
// ---------------------------------------------------------------------------

/**
 * The `Schema` from a connection string to an {@link Endpoint}. A decoding failure carries the
 * error's message, and the input in the parse issue has its password masked. Encoding prints the
 * password in clear, so that decoding gives the same endpoint back; use {@link format} for
 * anything a person may read.
 *
 * @example
 * ```ts
 * import { AmqpConnectionString } from "@redial/amqp"
 * import { Schema } from "effect"
 *
 * const endpoint = Schema.decodeUnknownSync(AmqpConnectionString.FromString)("amqp://rabbit:5673/dev")
 * endpoint.port // 5673
 * ```
 *
 * @since 0.1.0
 * @category schemas
 */
export const FromString: Schema.Schema<Endpoint, string> = internal.FromString

/**
 * Reads an AMQP connection string from the configuration. The string is read with
 * `Config.redacted`, since it may hold a password; an invalid string is a
 * `ConfigError.InvalidData` with the (password-free) error message.
 *
 * @example
 * ```ts
 * import { AmqpConnectionString } from "@redial/amqp"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const endpoint = yield* AmqpConnectionString.config("AMQP_URL")
 *   return AmqpConnectionString.describe(endpoint)
 * })
 * ```
 *
 * @since 0.1.0
 * @category config
 */
export const config: (name: string) => Config.Config<Endpoint> = internal.config
