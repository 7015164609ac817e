/**
 * Connection strings of the gRPC event stores, read into typed settings with
 * `Schema`, on top of `@redial/core`'s `ConnectionString` parser (which does the
 * grammar: hosts, IPv6 in brackets, percent-decoding, the `Redacted` password).
 *
 * ## KurrentDB / EventStoreDB
 *
 * ```text
 * scheme://[user:password@]host[:port][,host[:port]…][/][?key=value&…]
 * ```
 *
 * Schemes, in any case: `kurrentdb`, `esdb`, `kurrent`, `kdb`, each also with
 * `+discover` (the eight the KurrentDB Node client accepts). The default port is
 * 2113. The options and their defaults are those of the KurrentDB Node client
 * (`packages/db-client/src/Client/parseConnectionString.ts`, `Client/index.ts`
 * and `Client/discovery.ts` of kurrent-io/KurrentDB-Client-NodeJS):
 *
 * | option                 | value                                          | default  |
 * | ---------------------- | ---------------------------------------------- | -------- |
 * | `tls`                  | `true` / `false`                               | `true`   |
 * | `tlsVerifyCert`        | `true` / `false`                               | `true`   |
 * | `tlsCAFile`            | a file path                                    | none     |
 * | `userCertFile`         | a file path (with `userKeyFile`)               | none     |
 * | `userKeyFile`          | a file path (with `userCertFile`)              | none     |
 * | `keepAliveInterval`    | milliseconds, 1 to 2^31−1; `-1` disables       | `10000`  |
 * | `keepAliveTimeout`     | milliseconds, 1 to 2^31−1; `-1` for none       | `10000`  |
 * | `defaultDeadline`      | milliseconds, 1 to 2^31−1                      | `10000`  |
 * | `nodePreference`       | `leader`, `follower`, `random`, `read_only_replica` | `leader` |
 * | `maxDiscoverAttempts`  | a whole number ≥ 1                             | `10`     |
 * | `discoveryInterval`    | milliseconds, ≥ 0                              | `100`    |
 * | `gossipTimeout`        | **seconds**, ≥ 1 (as the Node and Go clients)  | `5`      |
 * | `connectionName`       | a name                                         | none (the client makes one up) |
 * | `throwOnAppendFailure` | `true` / `false`                               | `true`   |
 * | `dnsDiscover`          | `true` / `false`: overrides the scheme's `+discover` | from the scheme |
 *
 * Spear (Elixir) reads `tls`, `keepAliveInterval` and `keepAliveTimeout` from the
 * same strings, with the same meaning.
 *
 * - Whitespace around the string, the user info, each host, each option name and each option
 *   value is ignored, as the KurrentDB client trims it, so a string may be written over several
 *   lines (`THROWOnAppendFailure=false      &   KEEPALIVEinterval=200`); a line break inside a
 *   value is kept. Chronicle strings are read as written.
 * - A host is a host name (labels of letters, digits, `-` and `_`; a name in another script such
 *   as `морда-кошки.ru` too), an IPv4 address or an IPv6 address in brackets: the rule
 *   `GrpcChannel.make` applies. `host1;host2` and `kurrentdb://throwOnAppendFailure=false` (its
 *   `?` missing) are errors, not hosts.
 * - A raw `@` in the user name or password is an error (write `%40`): the KurrentDB client ends
 *   the user info at the first `@`, core's parser at the last, so such a string would mean other
 *   credentials to each.
 * - Option names ignore case, `_` and `-` (`keep_alive_interval`,
 *   `KEEP-ALIVE-INTERVAL`); when a name is given twice the last value wins.
 * - Booleans are exactly `true` or `false`, lowercase, as the KurrentDB client
 *   compares them. `nodePreference` ignores case, `_` and `-`, as the client does
 *   (`ReadOnlyReplica` is `read_only_replica`).
 * - Numbers are whole decimal numbers; anything else (`10ms`, `1e4`, `abc`) is
 *   an error, where the client's `parseInt` would read a prefix.
 * - **`tls` defaults to `true`.** Spear defaults to `false`, the KurrentDB client
 *   to `true`; EventStoreDB 20+ and KurrentDB run secure by default, so a string
 *   without `tls` talks TLS and a plaintext connection is always asked for.
 * - **`-1` disables keepalive**: `keepAliveInterval` / `keepAliveTimeout` are
 *   `Option<Duration>`, and `-1` is `Option.none()` (no pings, or no timeout on a
 *   ping: the channel then waits 2^31−1 ms, the longest timer Node runs). Both the
 *   KurrentDB client and Spear read `-1` this way. `0` is an error, as in
 *   `GrpcChannel.make`: every range here is the one `make` takes, so a string that
 *   parses never fails there.
 * - `discover` (`+discover`, or `dnsDiscover=true`): the hosts are gossip seeds,
 *   asked for the cluster's members, and `nodePreference` picks the node. Without
 *   it, one host is a single node and several hosts are nodes tried in order
 *   (failover). The KurrentDB Node client instead asks several hosts for gossip
 *   even without `+discover`; the hosts are kept in order either way.
 *
 * ## Chronicle
 *
 * ```text
 * chronicle://[clientId:secret@]host[:port][,host[:port]…][/][?key=value&…]
 * chronicle+srv://host[?…]          (one host, resolved with a DNS SRV lookup)
 * ```
 *
 * The default port is 35000 ({@link chronicleDefault} is `chronicle://localhost:35000`,
 * Chronicle's `ConnectionString.default/0`). Options, from Cratis/Chronicle.Elixir
 * `lib/chronicle/connections/connection_string.ex`: `disableTls` (`true` /
 * `false` in any case, default `false`), `skipTlsValidation` (default `false`),
 * `apiKey` (a secret), `certificatePath`, `certificatePassword` (a secret),
 * `authPort`, `loadBalancer` (`least-connections`, `round-robin`, `random`;
 * default `least-connections`) and `srvNameServer`. Client credentials and
 * `apiKey` together are an error.
 *
 * ## Unknown options are errors
 *
 * The KurrentDB client warns about an option it does not know and ignores it.
 * Here it is a {@link GrpcConnectionStringError} (`reason: "UnknownKey"`) that
 * names the option and lists the known ones: a typo such as
 * `keepAliveIntervall=-1` would otherwise leave a setting silently at its
 * default, which is found in production rather than at startup.
 *
 * ## Secrets
 *
 * The password, the Chronicle `secret`, `apiKey` and `certificatePassword` are
 * `Redacted`. `String(settings)` and {@link format} print them as `***`;
 * `JSON.stringify` and `util.inspect` show `<redacted>`; no error message or
 * parse issue contains them. Parsing never throws.
 *
 * @since 0.1.0
 */
import * as CoreConnectionString from "@redial/core/ConnectionString"
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as chronicle from "./internal/connectionString/chronicle.js"
import { unsupportedScheme } from "./internal/connectionString/common.js"
import * as internalError from "./internal/connectionString/error.js"
import * as esdb from "./internal/connectionString/esdb.js"
import * as Host from "./internal/connectionString/host.js"
import * as print from "./internal/connectionString/print.js"
import * as trim from "./internal/connectionString/trim.js"
import { MAX_TIMER_MILLIS } from "./internal/limits.js"

// ---------------------------------------------------------------------------
// Models
// ---------------------------------------------------------------------------

/** A field with a constructor default. */
const optional = <S extends Schema.Schema.Any>(schema: S, fallback: () => Schema.Schema.Type<S>) =>
  Schema.propertySignature(schema).pipe(Schema.withConstructorDefault(fallback))

const FiniteDuration = Schema.DurationFromSelf.pipe(
  Schema.filter((d) => Duration.isFinite(d) || "a finite duration")
)
const PositiveDuration = FiniteDuration.pipe(Schema.greaterThanDuration(0))
// A timer the channel runs, as GrpcChannel.make takes it (limits.ts): 1 ms to 2^31−1 ms.
const TimerDuration = FiniteDuration.pipe(
  Schema.betweenDuration(Duration.millis(1), Duration.millis(MAX_TIMER_MILLIS))
)

/**
 * The default port of KurrentDB / EventStoreDB: 2113.
 *
 * @since 0.1.0
 * @category constants
 */
export const esdbDefaultPort: number = esdb.defaultPort

/**
 * The default port of Chronicle: 35000.
 *
 * @since 0.1.0
 * @category constants
 */
export const chronicleDefaultPort: number = chronicle.defaultPort

/**
 * A port: an integer in 1-65535.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Port = Schema.Int.pipe(Schema.between(1, 65535))

/**
 * One host with its port (the default port filled in). The host is a host name or
 * an IP address, by the rule `GrpcChannel.make` applies to addresses; an IPv6
 * address has no brackets (`::1`, `fe80::1%eth0`).
 *
 * @since 0.1.0
 * @category models
 */
export const Endpoint = Schema.Struct({
  host: Schema.String.pipe(
    Schema.filter((host) => Option.getOrUndefined(Host.check(host)), {
      identifier: "Host",
      description: "a host name or an IP address"
    })
  ),
  port: Port
})

/**
 * @since 0.1.0
 * @category models
 */
export type Endpoint = typeof Endpoint.Type

/**
 * The scheme of a KurrentDB string, without `+discover`.
 *
 * @since 0.1.0
 * @category models
 */
export const EsdbScheme = Schema.Literal(...esdb.schemeNames)

/**
 * @since 0.1.0
 * @category models
 */
export type EsdbScheme = typeof EsdbScheme.Type

/**
 * Which cluster node to use: `leader` (the default), `follower`, `random` or
 * `read_only_replica`.
 *
 * @since 0.1.0
 * @category models
 */
export const NodePreference = Schema.Literal(...esdb.nodePreferences)

/**
 * @since 0.1.0
 * @category models
 */
export type NodePreference = typeof NodePreference.Type

/**
 * The user of a KurrentDB string (`user:password@`); the password is `Redacted`.
 *
 * @since 0.1.0
 * @category models
 */
export const EsdbCredentials = Schema.Struct({
  username: Schema.NonEmptyString,
  password: Schema.RedactedFromSelf(Schema.NonEmptyString)
})

/**
 * @since 0.1.0
 * @category models
 */
export type EsdbCredentials = typeof EsdbCredentials.Type

/**
 * The X.509 user certificate of a KurrentDB string: `userCertFile` and
 * `userKeyFile`, which come together.
 *
 * @since 0.1.0
 * @category models
 */
export const UserCertificate = Schema.Struct({
  certFile: Schema.NonEmptyString,
  keyFile: Schema.NonEmptyString
})

/**
 * @since 0.1.0
 * @category models
 */
export type UserCertificate = typeof UserCertificate.Type

/**
 * The settings of a KurrentDB / EventStoreDB connection string. Also its own
 * `Schema`; `EsdbSettings.make({ hosts })` fills in every default.
 *
 * - `scheme`, `discover`: the scheme (`kurrentdb+discover` is `kurrentdb` with
 *   `discover: true`); `dnsDiscover=…` overrides `discover`;
 * - `hosts`: in order, the default port 2113 filled in;
 * - `credentials`: `user:password@`, the password `Redacted`;
 * - `keepAliveInterval`, `keepAliveTimeout`: `Option.none()` when disabled (`-1`);
 * - `defaultDeadline`, `discoveryInterval`, `gossipTimeout`: `Duration`s;
 * - `userCertificate`: `userCertFile` and `userKeyFile` together;
 * - `connectionName`: `Option.none()` when not given (the client makes one up).
 *
 * `String(settings)` prints a connection string with the password as `***`.
 *
 * @example
 * ```ts
 * import { GrpcConnectionString } from "@redial/grpc"
 * import { Duration, Option } from "effect"
 *
 * const settings = GrpcConnectionString.EsdbSettings.make({
 *   hosts: [{ host: "node1", port: 2113 }],
 *   keepAliveInterval: Option.none(),
 *   defaultDeadline: Duration.seconds(30)
 * })
 * String(settings) // "kurrentdb://node1:2113?keepAliveInterval=-1&defaultDeadline=30000"
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export class EsdbSettings extends Schema.TaggedClass<EsdbSettings>()("EsdbSettings", {
  scheme: EsdbScheme.pipe(Schema.propertySignature, Schema.withConstructorDefault((): EsdbScheme => "kurrentdb")),
  discover: Schema.Boolean.pipe(Schema.propertySignature, Schema.withConstructorDefault(() => false)),
  hosts: Schema.NonEmptyArray(Endpoint),
  credentials: optional(Schema.OptionFromSelf(EsdbCredentials), Option.none<EsdbCredentials>),
  tls: Schema.Boolean.pipe(Schema.propertySignature, Schema.withConstructorDefault(() => true)),
  tlsVerifyCert: Schema.Boolean.pipe(Schema.propertySignature, Schema.withConstructorDefault(() => true)),
  tlsCAFile: optional(Schema.OptionFromSelf(Schema.NonEmptyString), Option.none<string>),
  userCertificate: optional(Schema.OptionFromSelf(UserCertificate), Option.none<UserCertificate>),
  keepAliveInterval: optional(Schema.OptionFromSelf(TimerDuration), () => Option.some(Duration.seconds(10))),
  keepAliveTimeout: optional(Schema.OptionFromSelf(TimerDuration), () => Option.some(Duration.seconds(10))),
  defaultDeadline: optional(TimerDuration, () => Duration.seconds(10)),
  nodePreference: optional(NodePreference, (): NodePreference => "leader"),
  maxDiscoverAttempts: optional(Schema.Int.pipe(Schema.greaterThanOrEqualTo(1)), () => 10),
  discoveryInterval: optional(FiniteDuration, () => Duration.millis(100)),
  gossipTimeout: optional(PositiveDuration, () => Duration.seconds(5)),
  connectionName: optional(Schema.OptionFromSelf(Schema.NonEmptyString), Option.none<string>),
  throwOnAppendFailure: Schema.Boolean.pipe(Schema.propertySignature, Schema.withConstructorDefault(() => true))
}) {
  /** Prints the settings as a connection string, with the password replaced by `***`. */
  override toString(): string {
    return print.formatEsdb(this)
  }
}

/**
 * How a Chronicle client authenticates: not at all, with client credentials
 * (`clientId:secret@`) or with an API key (`apiKey=…`). Secrets are `Redacted`.
 *
 * @since 0.1.0
 * @category models
 */
export const ChronicleAuth = Schema.Union(
  Schema.TaggedStruct("None", {}),
  Schema.TaggedStruct("ClientCredentials", {
    clientId: Schema.NonEmptyString,
    secret: Schema.RedactedFromSelf(Schema.NonEmptyString)
  }),
  Schema.TaggedStruct("ApiKey", {
    apiKey: Schema.RedactedFromSelf(Schema.NonEmptyString)
  })
)

/**
 * @since 0.1.0
 * @category models
 */
export type ChronicleAuth = typeof ChronicleAuth.Type

/**
 * How a Chronicle client picks among several hosts.
 *
 * @since 0.1.0
 * @category models
 */
export const LoadBalancer = Schema.Literal(...chronicle.loadBalancers)

/**
 * @since 0.1.0
 * @category models
 */
export type LoadBalancer = typeof LoadBalancer.Type

/**
 * The settings of a Chronicle connection string. Also its own `Schema`;
 * `ChronicleSettings.make({ hosts })` fills in every default.
 *
 * - `srv`: `chronicle+srv://` (one host, resolved with a DNS SRV lookup);
 * - `hosts`: in order, the default port 35000 filled in;
 * - `auth`: `None`, `ClientCredentials` (`clientId:secret@`) or `ApiKey`;
 * - `tls`: `!disableTls`, so `true` unless `disableTls=true`;
 * - `certificatePath`, `certificatePassword` (`Redacted`), `authPort`,
 *   `skipTlsValidation`, `loadBalancer`, `srvNameServer`.
 *
 * `String(settings)` prints a connection string with every secret as `***`.
 *
 * @since 0.1.0
 * @category models
 */
export class ChronicleSettings extends Schema.TaggedClass<ChronicleSettings>()("ChronicleSettings", {
  srv: Schema.Boolean.pipe(Schema.propertySignature, Schema.withConstructorDefault(() => false)),
  hosts: Schema.NonEmptyArray(Endpoint),
  auth: optional(ChronicleAuth, (): ChronicleAuth => ({ _tag: "None" })),
  tls: Schema.Boolean.pipe(Schema.propertySignature, Schema.withConstructorDefault(() => true)),
  skipTlsValidation: Schema.Boolean.pipe(Schema.propertySignature, Schema.withConstructorDefault(() => false)),
  certificatePath: optional(Schema.OptionFromSelf(Schema.NonEmptyString), Option.none<string>),
  certificatePassword: optional(
    Schema.OptionFromSelf(Schema.RedactedFromSelf(Schema.NonEmptyString)),
    Option.none<Redacted.Redacted<string>>
  ),
  authPort: optional(Schema.OptionFromSelf(Port), Option.none<number>),
  loadBalancer: optional(LoadBalancer, (): LoadBalancer => "least-connections"),
  srvNameServer: optional(Schema.OptionFromSelf(Schema.NonEmptyString), Option.none<string>)
}) {
  /** Prints the settings as a connection string, with every secret replaced by `***`. */
  override toString(): string {
    return print.formatChronicle(this)
  }
}

/**
 * The settings of either kind of string, told apart by `_tag`
 * (`"EsdbSettings"` / `"ChronicleSettings"`).
 *
 * @since 0.1.0
 * @category models
 */
export const Settings = Schema.Union(EsdbSettings, ChronicleSettings)

/**
 * @since 0.1.0
 * @category models
 */
export type Settings = typeof Settings.Type

/**
 * Chronicle's default: `chronicle://localhost:35000`, TLS on, no authentication
 * (Chronicle's `ConnectionString.default/0`).
 *
 * @since 0.1.0
 * @category constants
 */
export const chronicleDefault: ChronicleSettings = ChronicleSettings.make({
  hosts: [{ host: "localhost", port: chronicle.defaultPort }]
})

/**
 * The canonical names of the KurrentDB options, in the order they are printed.
 *
 * @since 0.1.0
 * @category constants
 */
export const esdbOptionNames: ReadonlyArray<string> = esdb.optionNames

/**
 * The canonical names of the Chronicle options, in the order they are printed.
 *
 * @since 0.1.0
 * @category constants
 */
export const chronicleOptionNames: ReadonlyArray<string> = chronicle.optionNames

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

/**
 * What is wrong with a connection string:
 *
 * - `Syntax`: the grammar (from core's parser; the `ConnectionStringError` is the `cause`);
 * - `Scheme`: not one of the schemes the function reads;
 * - `Credentials`: a user without a password, an empty password;
 * - `Path`: these strings have no path;
 * - `InvalidValue`: an option's value (`key` names the option);
 * - `UnknownKey`: an option these strings do not have (`key` is the name as written);
 * - `Conflict`: options that do not go together (client credentials and
 *   `apiKey`, `userCertFile` without `userKeyFile`, several `chronicle+srv` hosts).
 *
 * @since 0.1.0
 * @category errors
 */
export type Reason = internalError.Reason

/**
 * A connection string that cannot be read. `reason` says what kind of problem,
 * `key` which option (when it is about one), `detail` what is wrong. For
 * `Syntax`, `cause` is core's `ConnectionStringError`, whose own literal
 * `reason` says more (`Empty`, `Malformed`, `Encoding` …). The message never
 * contains a password, secret or API key. It is a redial error
 * (`isRedialError`).
 *
 * @example
 * ```ts
 * import { GrpcConnectionString } from "@redial/grpc"
 * import { Either } from "effect"
 *
 * const result = GrpcConnectionString.parseEsdbEither("esdb://node1?tls=yes")
 * if (Either.isLeft(result)) {
 *   result.left.reason // "InvalidValue"
 *   result.left.key // "tls"
 *   result.left.message // 'Invalid connection string: tls must be true or false, got "yes"'
 * }
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export const GrpcConnectionStringError: typeof internalError.GrpcConnectionStringError =
  internalError.GrpcConnectionStringError

/**
 * @since 0.1.0
 * @category errors
 */
export type GrpcConnectionStringError = internalError.GrpcConnectionStringError

// ---------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------

const parseWith = <A>(
  input: string | Redacted.Redacted<string>,
  from: (cs: CoreConnectionString.ConnectionString) => Either.Either<A, GrpcConnectionStringError>
): Either.Either<A, GrpcConnectionStringError> => {
  const raw = typeof input === "string" ? input : Redacted.value(input)
  if (!esdb.isScheme(trim.schemeOf(raw))) {
    return Either.flatMap(
      Either.mapLeft(CoreConnectionString.parseEither(raw), (e) => internalError.fromCoreError(e)),
      from
    )
  }
  // A KurrentDB string is read as the KurrentDB client reads it: whitespace trimmed.
  const trimmed = trim.trim(raw)
  if (trim.hasSeveralAts(trimmed.text)) {
    return internalError.fail(
      "Credentials",
      "the user info holds more than one \"@\" (the KurrentDB client ends it at the first, so the user name " +
        "and password would differ there): percent-encode \"@\" in the user name and password as %40"
    )
  }
  return Either.flatMap(
    Either.mapLeft(
      CoreConnectionString.parseEither(trimmed.text),
      (e) => internalError.fromCoreError(e, trimmed.position)
    ),
    from
  )
}

/**
 * Parses a KurrentDB / EventStoreDB connection string. A `Redacted` input (a
 * string read with `Config.redacted`) is read without being revealed anywhere else.
 *
 * @example
 * ```ts
 * import { GrpcConnectionString } from "@redial/grpc"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const settings = yield* GrpcConnectionString.parseEsdb(
 *     "kurrentdb+discover://admin:changeit@node1,node2:2114?nodePreference=follower&keepAliveInterval=-1"
 *   )
 *   settings.discover // true
 *   settings.hosts // [{ host: "node1", port: 2113 }, { host: "node2", port: 2114 }]
 *   settings.tls // true
 *   String(settings) // "kurrentdb+discover://admin:***@node1:2113,node2:2114?keepAliveInterval=-1&nodePreference=follower"
 * })
 * ```
 *
 * @since 0.1.0
 * @category parsing
 */
export const parseEsdb: (
  input: string | Redacted.Redacted<string>
) => Effect.Effect<EsdbSettings, GrpcConnectionStringError> = (input) => Effect.suspend(() => parseEsdbEither(input))

/**
 * {@link parseEsdb}, synchronously.
 *
 * @since 0.1.0
 * @category parsing
 */
export const parseEsdbEither: (
  input: string | Redacted.Redacted<string>
) => Either.Either<EsdbSettings, GrpcConnectionStringError> = (input) =>
  parseWith(input, (cs) => esdbFromConnectionString(cs))

/**
 * Parses a Chronicle connection string.
 *
 * @example
 * ```ts
 * import { GrpcConnectionString } from "@redial/grpc"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const settings = yield* GrpcConnectionString.parseChronicle("chronicle://localhost?disableTls=true&apiKey=k3y")
 *   settings.tls // false
 *   settings.auth._tag // "ApiKey"
 *   String(settings) // "chronicle://localhost:35000?disableTls=true&apiKey=***"
 * })
 * ```
 *
 * @since 0.1.0
 * @category parsing
 */
export const parseChronicle: (
  input: string | Redacted.Redacted<string>
) => Effect.Effect<ChronicleSettings, GrpcConnectionStringError> = (input) =>
  Effect.suspend(() => parseChronicleEither(input))

/**
 * {@link parseChronicle}, synchronously.
 *
 * @since 0.1.0
 * @category parsing
 */
export const parseChronicleEither: (
  input: string | Redacted.Redacted<string>
) => Either.Either<ChronicleSettings, GrpcConnectionStringError> = (input) =>
  parseWith(input, (cs) => chronicleFromConnectionString(cs))

/**
 * Parses either kind of string, chosen by its scheme.
 *
 * @example
 * ```ts
 * import { GrpcConnectionString } from "@redial/grpc"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const settings = yield* GrpcConnectionString.parse("chronicle://localhost")
 *   switch (settings._tag) {
 *     case "EsdbSettings":
 *       return settings.nodePreference
 *     case "ChronicleSettings":
 *       return settings.loadBalancer
 *   }
 * })
 * ```
 *
 * @since 0.1.0
 * @category parsing
 */
export const parse: (input: string | Redacted.Redacted<string>) => Effect.Effect<Settings, GrpcConnectionStringError> =
  (input) => Effect.suspend(() => parseEither(input))

/**
 * {@link parse}, synchronously.
 *
 * @since 0.1.0
 * @category parsing
 */
export const parseEither: (
  input: string | Redacted.Redacted<string>
) => Either.Either<Settings, GrpcConnectionStringError> = (input) => parseWith(input, (cs) => fromConnectionString(cs))

/**
 * Reads KurrentDB settings from a string parsed by core's `ConnectionString.parse`.
 *
 * @since 0.1.0
 * @category parsing
 */
export const esdbFromConnectionString: (
  cs: CoreConnectionString.ConnectionString
) => Either.Either<EsdbSettings, GrpcConnectionStringError> = (cs) =>
  Either.map(esdb.fromConnectionString(cs), (fields) => EsdbSettings.make(fields))

/**
 * Reads Chronicle settings from a string parsed by core's `ConnectionString.parse`.
 *
 * @since 0.1.0
 * @category parsing
 */
export const chronicleFromConnectionString: (
  cs: CoreConnectionString.ConnectionString
) => Either.Either<ChronicleSettings, GrpcConnectionStringError> = (cs) =>
  Either.map(chronicle.fromConnectionString(cs), (fields) => ChronicleSettings.make(fields))

/**
 * Reads either kind of settings from a string parsed by core's `ConnectionString.parse`.
 *
 * @since 0.1.0
 * @category parsing
 */
export const fromConnectionString: (
  cs: CoreConnectionString.ConnectionString
) => Either.Either<Settings, GrpcConnectionStringError> = (cs) => {
  if (esdb.isScheme(cs.scheme)) return esdbFromConnectionString(cs)
  if (chronicle.isScheme(cs.scheme)) return chronicleFromConnectionString(cs)
  return unsupportedScheme(cs.scheme, [...esdb.schemeList, ...chronicle.schemeList])
}

// ---------------------------------------------------------------------------
// Printing
// ---------------------------------------------------------------------------

/**
 * Prints settings as a connection string, every secret as `***`; this is what
 * `String(settings)` returns. Only options that differ from their defaults are
 * printed, in the order of {@link esdbOptionNames} / {@link chronicleOptionNames},
 * and every host with its port.
 *
 * @example
 * ```ts
 * import { GrpcConnectionString } from "@redial/grpc"
 * import { Effect } from "effect"
 *
 * Effect.gen(function*() {
 *   const settings = yield* GrpcConnectionString.parse("esdb://admin:changeit@[::1]?TLS=false")
 *   GrpcConnectionString.format(settings) // "esdb://admin:***@[::1]:2113?tls=false"
 * })
 * ```
 *
 * @since 0.1.0
 * @category printing
 */
export const format: (self: Settings) => string = print.format

// ---------------------------------------------------------------------------
// Schemas and Config
// ---------------------------------------------------------------------------

/**
 * The input as a parse issue holds it: core's redaction, which masks these strings' secret
 * options too. A host that core's grammar takes and this module refuses (`admin:1234,S3c;ret`)
 * may be part of a password when there is no user info: then everything after the authority's
 * first ":" is masked, as core masks a host it refuses itself.
 */
const redact = (input: string): string => {
  const colon = trim.suspectColon(input)
  if (colon !== -1) {
    const result = parseEither(input)
    if (Either.isLeft(result) && result.left.reason === "Syntax" && result.left.cause?.part === "host") {
      return `${input.slice(0, colon + 1)}***`
    }
  }
  return CoreConnectionString.redact(input)
}

const fromConfig = <A>(
  name: string,
  parse: (input: Redacted.Redacted<string>) => Either.Either<A, GrpcConnectionStringError>
): Config.Config<A> =>
  Config.mapOrFail(
    Config.redacted(name),
    (input) => Either.mapLeft(parse(input), (error) => ConfigError.InvalidData([name], error.message))
  )

/**
 * The `Schema` from a string to {@link EsdbSettings}. A decoding failure carries
 * the error's message, and the input in the issue has its secrets masked.
 * Encoding prints secrets in clear, so that decoding gives the same settings
 * back; use {@link format} for anything a person may read.
 *
 * @example
 * ```ts
 * import { GrpcConnectionString } from "@redial/grpc"
 * import { Schema } from "effect"
 *
 * const settings = Schema.decodeUnknownSync(GrpcConnectionString.EsdbFromString)("esdb://localhost?tls=false")
 * ```
 *
 * @since 0.1.0
 * @category schemas
 */
export const EsdbFromString: Schema.Schema<EsdbSettings, string> = CoreConnectionString.makeFromString({
  identifier: "EsdbFromString",
  to: EsdbSettings,
  decode: parseEsdbEither,
  encode: (self) => print.printEsdb(self, print.revealed),
  redact
})

/**
 * The `Schema` from a string to {@link ChronicleSettings}; see {@link EsdbFromString}.
 *
 * @since 0.1.0
 * @category schemas
 */
export const ChronicleFromString: Schema.Schema<ChronicleSettings, string> = CoreConnectionString.makeFromString({
  identifier: "ChronicleFromString",
  to: ChronicleSettings,
  decode: parseChronicleEither,
  encode: (self) => print.printChronicle(self, print.revealed),
  redact
})

/**
 * The `Schema` from a string to {@link Settings}, chosen by the scheme; see
 * {@link EsdbFromString}.
 *
 * @since 0.1.0
 * @category schemas
 */
export const FromString: Schema.Schema<Settings, string> = CoreConnectionString.makeFromString({
  identifier: "GrpcConnectionStringFromString",
  to: Settings,
  decode: parseEither,
  encode: (self) => print.printSettings(self, print.revealed),
  redact
})

/**
 * Reads a connection string of either kind from the configuration. The string
 * is read with `Config.redacted`, since it may hold a password; an invalid
 * string is a `ConfigError.InvalidData` with the (secret-free) error message.
 *
 * @example
 * ```ts
 * import { GrpcConnectionString } from "@redial/grpc"
 *
 * const eventStore = GrpcConnectionString.config("EVENT_STORE_URL")
 * ```
 *
 * @since 0.1.0
 * @category config
 */
export const config: (name: string) => Config.Config<Settings> = (name) => fromConfig(name, parseEither)

/**
 * Reads a KurrentDB / EventStoreDB connection string from the configuration;
 * see {@link config}.
 *
 * @example
 * ```ts
 * import { GrpcConnectionString } from "@redial/grpc"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const settings = yield* GrpcConnectionString.configEsdb("KURRENTDB_URL")
 *   return settings.hosts
 * })
 * ```
 *
 * @since 0.1.0
 * @category config
 */
export const configEsdb: (name: string) => Config.Config<EsdbSettings> = (name) => fromConfig(name, parseEsdbEither)

/**
 * Reads a Chronicle connection string from the configuration; see {@link config}.
 *
 * @since 0.1.0
 * @category config
 */
export const configChronicle: (name: string) => Config.Config<ChronicleSettings> = (name) =>
  fromConfig(name, parseChronicleEither)
