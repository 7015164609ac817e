import * as ConnectionString from "@redial/core/ConnectionString"
import * as Arr from "effect/Array"
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"

// ---------------------------------------------------------------------------
// Constants
// ---------------------------------------------------------------------------

/** @internal */
export const esdbDefaultPort = 2113

/** @internal */
export const chronicleDefaultPort = 35000

// ---------------------------------------------------------------------------
// Models
// ---------------------------------------------------------------------------

/** @internal */
export const Port = Schema.Int.pipe(Schema.between(1, 65535))

/** @internal */
export const Endpoint = Schema.Struct({
  host: Schema.NonEmptyString,
  port: Port
})

/** @internal */
export type Endpoint = Schema.Schema.Type<typeof Endpoint>

/** @internal */
export const EsdbScheme = Schema.Literal("esdb", "kurrentdb", "kurrent", "kdb")

/** @internal */
export type EsdbScheme = Schema.Schema.Type<typeof EsdbScheme>

/** @internal */
export const NodePreference = Schema.Literal("leader", "follower", "random", "read_only_replica")

/** @internal */
export type NodePreference = Schema.Schema.Type<typeof NodePreference>

/** @internal */
export const EsdbCredentials = Schema.Struct({
  username: Schema.NonEmptyString,
  password: Schema.RedactedFromSelf(Schema.NonEmptyString)
})

/** @internal */
export type EsdbCredentials = Schema.Schema.Type<typeof EsdbCredentials>

/** @internal */
export const UserCertificate = Schema.Struct({
  certFile: Schema.NonEmptyString,
  keyFile: Schema.NonEmptyString
})

/** @internal */
export type UserCertificate = Schema.Schema.Type<typeof UserCertificate>

const FiniteDuration = Schema.DurationFromSelf.pipe(
  Schema.filter((d) => Duration.isFinite(d) || "a finite duration")
)
const PositiveDuration = FiniteDuration.pipe(Schema.greaterThanDuration(0))

/** @internal */
export class EsdbSettings extends Schema.TaggedClass<EsdbSettings>()("EsdbSettings", {
  scheme: EsdbScheme.pipe(Schema.propertySignature, Schema.withConstructorDefault((): EsdbScheme => "kurrentdb")),
  discover: Schema.Boolean.pipe(Schema.propertySignature, Schema.withConstructorDefault(() => false)),
  hosts: Schema.NonEmptyArray(Endpoint),
  credentials: Schema.OptionFromSelf(EsdbCredentials).pipe(
    Schema.propertySignature,
    Schema.withConstructorDefault(() => Option.none<EsdbCredentials>())
  ),
  tls: Schema.Boolean.pipe(Schema.propertySignature, Schema.withConstructorDefault(() => true)),
  tlsVerifyCert: Schema.Boolean.pipe(Schema.propertySignature, Schema.withConstructorDefault(() => true)),
  tlsCAFile: Schema.OptionFromSelf(Schema.NonEmptyString).pipe(
    Schema.propertySignature,
    Schema.withConstructorDefault(() => Option.none<string>())
  ),
  userCertificate: Schema.OptionFromSelf(UserCertificate).pipe(
    Schema.propertySignature,
    Schema.withConstructorDefault(() => Option.none<UserCertificate>())
  ),
  keepAliveInterval: Schema.OptionFromSelf(FiniteDuration).pipe(
    Schema.propertySignature,
    Schema.withConstructorDefault(() => Option.some(Duration.seconds(10)))
  ),
  keepAliveTimeout: Schema.OptionFromSelf(FiniteDuration).pipe(
    Schema.propertySignature,
    Schema.withConstructorDefault(() => Option.some(Duration.seconds(10)))
  ),
  defaultDeadline: PositiveDuration.pipe(
    Schema.propertySignature,
    Schema.withConstructorDefault(() => Duration.seconds(10))
  ),
  nodePreference: NodePreference.pipe(
    Schema.propertySignature,
    Schema.withConstructorDefault((): NodePreference => "leader")
  ),
  maxDiscoverAttempts: Schema.Int.pipe(Schema.greaterThanOrEqualTo(1)).pipe(
    Schema.propertySignature,
    Schema.withConstructorDefault(() => 10)
  ),
  discoveryInterval: FiniteDuration.pipe(
    Schema.propertySignature,
    Schema.withConstructorDefault(() => Duration.millis(100))
  ),
  gossipTimeout: PositiveDuration.pipe(
    Schema.propertySignature,
    Schema.withConstructorDefault(() => Duration.seconds(5))
  ),
  connectionName: Schema.OptionFromSelf(Schema.NonEmptyString).pipe(
    Schema.propertySignature,
    Schema.withConstructorDefault(() => Option.none<string>())
  ),
  throwOnAppendFailure: Schema.Boolean.pipe(Schema.propertySignature, Schema.withConstructorDefault(() => true))
}) {
  /** Prints the settings as a connection string, with the password replaced by `***`. */
  override toString(): string {
    return formatEsdb(this)
  }
}

/** @internal */
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

/** @internal */
export type ChronicleAuth = Schema.Schema.Type<typeof ChronicleAuth>

/** @internal */
export const LoadBalancer = Schema.Literal("least-connections", "round-robin", "random")

/** @internal */
export type LoadBalancer = Schema.Schema.Type<typeof LoadBalancer>

/** @internal */
export class ChronicleSettings extends Schema.TaggedClass<ChronicleSettings>()("ChronicleSettings", {
  srv: Schema.Boolean.pipe(Schema.propertySignature, Schema.withConstructorDefault(() => false)),
  hosts: Schema.NonEmptyArray(Endpoint),
  auth: ChronicleAuth.pipe(
    Schema.propertySignature,
    Schema.withConstructorDefault((): ChronicleAuth => ({ _tag: "None" }))
  ),
  tls: Schema.Boolean.pipe(Schema.propertySignature, Schema.withConstructorDefault(() => true)),
  skipTlsValidation: Schema.Boolean.pipe(Schema.propertySignature, Schema.withConstructorDefault(() => false)),
  certificatePath: Schema.OptionFromSelf(Schema.NonEmptyString).pipe(
    Schema.propertySignature,
    Schema.withConstructorDefault(() => Option.none<string>())
  ),
  certificatePassword: Schema.OptionFromSelf(Schema.RedactedFromSelf(Schema.NonEmptyString)).pipe(
    Schema.propertySignature,
    Schema.withConstructorDefault(() => Option.none<Redacted.Redacted<string>>())
  ),
  authPort: Schema.OptionFromSelf(Port).pipe(
    Schema.propertySignature,
    Schema.withConstructorDefault(() => Option.none<number>())
  ),
  loadBalancer: LoadBalancer.pipe(
    Schema.propertySignature,
    Schema.withConstructorDefault((): LoadBalancer => "least-connections")
  ),
  srvNameServer: Schema.OptionFromSelf(Schema.NonEmptyString).pipe(
    Schema.propertySignature,
    Schema.withConstructorDefault(() => Option.none<string>())
  )
}) {
  /** Prints the settings as a connection string, with every secret replaced by `***`. */
  override toString(): string {
    return formatChronicle(this)
  }
}

/** @internal */
export const Settings = Schema.Union(EsdbSettings, ChronicleSettings)

/** @internal */
export type Settings = EsdbSettings | ChronicleSettings

/** @internal */
export const chronicleDefault: ChronicleSettings = ChronicleSettings.make({
  hosts: [{ host: "localhost", port: chronicleDefaultPort }]
})

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

/** @internal */
export type Reason = "Syntax" | "Scheme" | "Credentials" | "Path" | "InvalidValue" | "UnknownKey" | "Conflict"

/** @internal */
export class GrpcConnectionStringError extends Data.TaggedError("GrpcConnectionStringError")<{
  readonly reason: Reason
  readonly detail: string
  readonly key?: string | undefined
  readonly cause?: ConnectionString.ConnectionStringError | undefined
}> {
  override get message(): string {
    return `Invalid connection string: ${this.detail}`
  }
}

const fail = (
  reason: Reason,
  detail: string,
  key?: string | undefined
): Either.Either<never, GrpcConnectionStringError> =>
  Either.left(new GrpcConnectionStringError(key === undefined ? { reason, detail } : { reason, detail, key }))

const fromCoreError = (cause: ConnectionString.ConnectionStringError): GrpcConnectionStringError =>
  new GrpcConnectionStringError({
    reason: "Syntax",
    detail: `${cause.reason}${cause.position === undefined ? "" : ` (at position ${cause.position})`}`,
    cause
  })

// ---------------------------------------------------------------------------
// Quoting: a message quotes user text only when no secret of the input is in it
// ---------------------------------------------------------------------------

/** Query parameters whose values are secrets, by normalized name. */
const secretKeys: ReadonlySet<string> = new Set(["apiKey", "certificatePassword"].map(ConnectionString.normalizeKey))

/** Every secret of a parsed string: the password and the values of secret parameters. */
const secretsOf = (cs: ConnectionString.ConnectionString): ReadonlyArray<string> =>
  [
    ...Option.toArray(Option.map(cs.password, Redacted.value)),
    ...cs.params.filter(([key]) => secretKeys.has(ConnectionString.normalizeKey(key))).map(([, value]) => value)
  ].filter((secret) => secret.length > 0)

/** `text` in double quotes, or a placeholder when it holds a secret (a password typed in the wrong place). */
const quote = (text: string, secrets: ReadonlyArray<string>): string =>
  secrets.some((secret) => text.includes(secret))
    ? "a value that contains a secret of this string (not shown)"
    : JSON.stringify(text)

// ---------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------

interface Key<A> {
  /** The documented spelling; the name in errors and in printed strings. */
  readonly name: string
  /** What a valid value is, for the message: "`name` must be `expected`, got …". */
  readonly expected: string
  /** Never quote the value. */
  readonly secret: boolean
  readonly decode: (value: string) => Option.Option<A>
}

const makeKey = <A>(
  name: string,
  expected: string,
  decode: (value: string) => Option.Option<A>,
  secret = false
): Key<A> => ({ name, expected, decode, secret })

/** Exactly `true` or `false`, as the KurrentDB client compares them. */
const strictBoolean = (name: string): Key<boolean> =>
  makeKey(
    name,
    "true or false",
    (value) => value === "true" || value === "false" ? Option.some(value === "true") : Option.none()
  )

/** `true` or `false` in any case, as the Chronicle clients compare them. */
const looseBoolean = (name: string): Key<boolean> =>
  makeKey(name, "true or false", (value) => {
    const lower = value.toLowerCase()
    return lower === "true" || lower === "false" ? Option.some(lower === "true") : Option.none()
  })

const wholeNumber = (min: number) => (value: string): Option.Option<number> => {
  if (!/^-?[0-9]+$/.test(value)) return Option.none()
  const n = Number(value)
  return Number.isSafeInteger(n) && n >= min ? Option.some(n === 0 ? 0 : n) : Option.none()
}

const nonEmpty = (name: string, what: string, secret = false): Key<string> =>
  makeKey(name, `a non-empty ${what}`, (value) => value === "" ? Option.none() : Option.some(value), secret)

const milliseconds = (name: string, min: number): Key<Duration.Duration> =>
  makeKey(
    name,
    `a whole number of milliseconds ≥ ${min}`,
    (value) => Option.map(wholeNumber(min)(value), Duration.millis)
  )

/** -1 disables (the KurrentDB client and Spear both read -1 as "off"): `None`. */
const keepAlive = (name: string): Key<Option.Option<Duration.Duration>> =>
  makeKey(
    name,
    "a whole number of milliseconds ≥ -1",
    (value) => Option.map(wholeNumber(-1)(value), (ms) => ms === -1 ? Option.none() : Option.some(Duration.millis(ms)))
  )

const esdbKeys = {
  tls: strictBoolean("tls"),
  tlsVerifyCert: strictBoolean("tlsVerifyCert"),
  tlsCAFile: nonEmpty("tlsCAFile", "file path"),
  userCertFile: nonEmpty("userCertFile", "file path"),
  userKeyFile: nonEmpty("userKeyFile", "file path"),
  keepAliveInterval: keepAlive("keepAliveInterval"),
  keepAliveTimeout: keepAlive("keepAliveTimeout"),
  defaultDeadline: milliseconds("defaultDeadline", 1),
  nodePreference: makeKey<NodePreference>(
    "nodePreference",
    `one of ${NodePreference.literals.join(", ")}`,
    // The client compares the flat case: READ_ONLY_REPLICA, read-only-replica and ReadOnlyReplica all match.
    (value) =>
      Arr.findFirst(
        NodePreference.literals,
        (literal) => ConnectionString.normalizeKey(literal) === ConnectionString.normalizeKey(value)
      )
  ),
  maxDiscoverAttempts: makeKey("maxDiscoverAttempts", "a whole number ≥ 1", wholeNumber(1)),
  discoveryInterval: milliseconds("discoveryInterval", 0),
  gossipTimeout: makeKey(
    "gossipTimeout",
    "a whole number of seconds ≥ 1",
    (value) => Option.map(wholeNumber(1)(value), Duration.seconds)
  ),
  connectionName: nonEmpty("connectionName", "name"),
  throwOnAppendFailure: strictBoolean("throwOnAppendFailure"),
  dnsDiscover: strictBoolean("dnsDiscover")
} as const

const chronicleKeys = {
  disableTls: looseBoolean("disableTls"),
  skipTlsValidation: looseBoolean("skipTlsValidation"),
  apiKey: nonEmpty("apiKey", "key", true),
  certificatePath: nonEmpty("certificatePath", "file path"),
  certificatePassword: nonEmpty("certificatePassword", "password", true),
  authPort: makeKey(
    "authPort",
    "a port number in 1-65535",
    (value) => Option.filter(wholeNumber(1)(value), (port) => port <= 65535)
  ),
  loadBalancer: makeKey<LoadBalancer>(
    "loadBalancer",
    `one of ${LoadBalancer.literals.join(", ")}`,
    (value) => Arr.findFirst(LoadBalancer.literals, (literal) => literal === value)
  ),
  srvNameServer: nonEmpty("srvNameServer", "host or host:port")
} as const

/** @internal */
export const esdbOptionNames: ReadonlyArray<string> = Object.values(esdbKeys).map((key) => key.name)

/** @internal */
export const chronicleOptionNames: ReadonlyArray<string> = Object.values(chronicleKeys).map((key) => key.name)

type Values<K> = { readonly [P in keyof K]?: K[P] extends Key<infer A> ? A : never }

/**
 * Reads every parameter in order: each value is checked, the last one of a
 * name wins (as the KurrentDB client does), and a name that is not an option
 * is an error.
 */
const readParams = <K extends Record<string, Key<unknown>>>(
  cs: ConnectionString.ConnectionString,
  keys: K,
  label: string,
  secrets: ReadonlyArray<string>
): Either.Either<Values<K>, GrpcConnectionStringError> => {
  const entries = Object.entries(keys) as ReadonlyArray<readonly [keyof K, Key<unknown>]>
  const byName = new Map(entries.map((entry) => [ConnectionString.normalizeKey(entry[1].name), entry] as const))
  const values: Partial<Record<keyof K, unknown>> = {}
  for (const [name, value] of cs.params) {
    const entry = byName.get(ConnectionString.normalizeKey(name))
    if (entry === undefined) {
      return fail(
        "UnknownKey",
        `unknown option ${quote(name, secrets)} in ${label}; the options are ${
          Object.values(keys).map((key) => key.name).join(", ")
        } (names ignore case, "_" and "-")`,
        quote(name, secrets) === JSON.stringify(name) ? name : undefined
      )
    }
    const [field, key] = entry
    const decoded = key.decode(value)
    if (Option.isNone(decoded)) {
      return fail(
        "InvalidValue",
        key.secret
          ? `${key.name} must be ${key.expected} (the value is a secret and is not shown)`
          : `${key.name} must be ${key.expected}, got ${quote(value, secrets)}`,
        key.name
      )
    }
    values[field] = decoded.value
  }
  return Either.right(values as Values<K>)
}

const checkPath = (
  cs: ConnectionString.ConnectionString,
  label: string,
  secrets: ReadonlyArray<string>
): Either.Either<void, GrpcConnectionStringError> =>
  cs.path === "" || cs.path === "/"
    ? Either.void
    : fail("Path", `${label} has no path, got ${quote(cs.path, secrets)}; options go after "?"`)

const endpoints = (
  cs: ConnectionString.ConnectionString,
  defaultPort: number
): Arr.NonEmptyReadonlyArray<Endpoint> =>
  Arr.map(cs.hosts, ({ host, port }) => ({ host, port: Option.getOrElse(port, () => defaultPort) }))

// ---------------------------------------------------------------------------
// esdb:// and kurrentdb://
// ---------------------------------------------------------------------------

interface EsdbSchemeInfo {
  readonly scheme: EsdbScheme
  readonly discover: boolean
}

const esdbSchemes: ReadonlyMap<string, EsdbSchemeInfo> = new Map(
  EsdbScheme.literals.flatMap((scheme): ReadonlyArray<readonly [string, EsdbSchemeInfo]> => [
    [scheme, { scheme, discover: false }],
    [`${scheme}+discover`, { scheme, discover: true }]
  ])
)

const chronicleSchemes: ReadonlyMap<string, { readonly srv: boolean }> = new Map([
  ["chronicle", { srv: false }],
  ["chronicle+srv", { srv: true }]
])

const esdbLabel = "a KurrentDB connection string"
const chronicleLabel = "a Chronicle connection string"

const listSchemes = (schemes: Iterable<string>): string => Array.from(schemes, (s) => `${s}://`).join(", ")

const unsupportedScheme = (
  scheme: string,
  expected: Iterable<string>
): Either.Either<never, GrpcConnectionStringError> =>
  fail("Scheme", `unsupported scheme ${JSON.stringify(scheme)}; expected one of ${listSchemes(expected)}`)

/** @internal */
export const esdbFromConnectionString = (
  cs: ConnectionString.ConnectionString
): Either.Either<EsdbSettings, GrpcConnectionStringError> =>
  Either.gen(function*() {
    const scheme = esdbSchemes.get(cs.scheme)
    if (scheme === undefined) return yield* unsupportedScheme(cs.scheme, esdbSchemes.keys())
    const secrets = secretsOf(cs)
    yield* checkPath(cs, esdbLabel, secrets)
    const credentials = yield* esdbCredentials(cs)
    const values = yield* readParams(cs, esdbKeys, esdbLabel, secrets)
    const userCertificate = yield* pairCertificate(values.userCertFile, values.userKeyFile)
    return EsdbSettings.make({
      scheme: scheme.scheme,
      discover: values.dnsDiscover ?? scheme.discover,
      hosts: endpoints(cs, esdbDefaultPort),
      credentials,
      tls: values.tls ?? true,
      tlsVerifyCert: values.tlsVerifyCert ?? true,
      tlsCAFile: Option.fromNullable(values.tlsCAFile),
      userCertificate,
      keepAliveInterval: values.keepAliveInterval ?? Option.some(Duration.seconds(10)),
      keepAliveTimeout: values.keepAliveTimeout ?? Option.some(Duration.seconds(10)),
      defaultDeadline: values.defaultDeadline ?? Duration.seconds(10),
      nodePreference: values.nodePreference ?? "leader",
      maxDiscoverAttempts: values.maxDiscoverAttempts ?? 10,
      discoveryInterval: values.discoveryInterval ?? Duration.millis(100),
      gossipTimeout: values.gossipTimeout ?? Duration.seconds(5),
      connectionName: Option.fromNullable(values.connectionName),
      throwOnAppendFailure: values.throwOnAppendFailure ?? true
    })
  })

const esdbCredentials = (
  cs: ConnectionString.ConnectionString
): Either.Either<Option.Option<EsdbCredentials>, GrpcConnectionStringError> => {
  if (Option.isNone(cs.username)) return Either.right(Option.none())
  const username = cs.username.value
  if (Option.isNone(cs.password)) {
    return fail("Credentials", "the credentials need a user name and a password (user:password@host), got no password")
  }
  if (Redacted.value(cs.password.value) === "") {
    return fail("Credentials", "the password after \"user:\" is empty")
  }
  return Either.right(Option.some({ username, password: cs.password.value }))
}

const pairCertificate = (
  certFile: string | undefined,
  keyFile: string | undefined
): Either.Either<Option.Option<UserCertificate>, GrpcConnectionStringError> => {
  if (certFile !== undefined && keyFile !== undefined) return Either.right(Option.some({ certFile, keyFile }))
  if (certFile === undefined && keyFile === undefined) return Either.right(Option.none())
  return fail(
    "Conflict",
    `userCertFile and userKeyFile go together, got only ${certFile === undefined ? "userKeyFile" : "userCertFile"}`,
    certFile === undefined ? "userCertFile" : "userKeyFile"
  )
}

// ---------------------------------------------------------------------------
// chronicle://
// ---------------------------------------------------------------------------

/** @internal */
export const chronicleFromConnectionString = (
  cs: ConnectionString.ConnectionString
): Either.Either<ChronicleSettings, GrpcConnectionStringError> =>
  Either.gen(function*() {
    const scheme = chronicleSchemes.get(cs.scheme)
    if (scheme === undefined) return yield* unsupportedScheme(cs.scheme, chronicleSchemes.keys())
    if (scheme.srv && cs.hosts.length > 1) {
      return yield* fail(
        "Conflict",
        `chronicle+srv:// takes one host, resolved with a DNS SRV lookup; got ${cs.hosts.length} hosts`
      )
    }
    const secrets = secretsOf(cs)
    yield* checkPath(cs, chronicleLabel, secrets)
    const values = yield* readParams(cs, chronicleKeys, chronicleLabel, secrets)
    const auth = yield* chronicleAuth(cs, values.apiKey)
    return ChronicleSettings.make({
      srv: scheme.srv,
      hosts: endpoints(cs, chronicleDefaultPort),
      auth,
      tls: !(values.disableTls ?? false),
      skipTlsValidation: values.skipTlsValidation ?? false,
      certificatePath: Option.fromNullable(values.certificatePath),
      certificatePassword: Option.map(Option.fromNullable(values.certificatePassword), Redacted.make),
      authPort: Option.fromNullable(values.authPort),
      loadBalancer: values.loadBalancer ?? "least-connections",
      srvNameServer: Option.fromNullable(values.srvNameServer)
    })
  })

const chronicleAuth = (
  cs: ConnectionString.ConnectionString,
  apiKey: string | undefined
): Either.Either<ChronicleAuth, GrpcConnectionStringError> => {
  if (Option.isNone(cs.username)) {
    return Either.right(apiKey === undefined ? { _tag: "None" } : { _tag: "ApiKey", apiKey: Redacted.make(apiKey) })
  }
  if (Option.isNone(cs.password)) {
    return fail(
      "Credentials",
      "client credentials need a client id and a secret (clientId:secret@host), got no secret"
    )
  }
  if (Redacted.value(cs.password.value) === "") {
    return fail("Credentials", "the secret after \"clientId:\" is empty")
  }
  if (apiKey !== undefined) {
    return fail(
      "Conflict",
      "use either client credentials (clientId:secret@host) or apiKey, not both",
      "apiKey"
    )
  }
  return Either.right({ _tag: "ClientCredentials", clientId: cs.username.value, secret: cs.password.value })
}

// ---------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------

const reveal = (input: string | Redacted.Redacted<string>): string =>
  typeof input === "string" ? input : Redacted.value(input)

const parseWith = <A>(
  input: string | Redacted.Redacted<string>,
  from: (cs: ConnectionString.ConnectionString) => Either.Either<A, GrpcConnectionStringError>
): Either.Either<A, GrpcConnectionStringError> =>
  Either.flatMap(Either.mapLeft(ConnectionString.parseEither(reveal(input)), fromCoreError), from)

/** @internal */
export const fromConnectionString = (
  cs: ConnectionString.ConnectionString
): Either.Either<Settings, GrpcConnectionStringError> => {
  if (esdbSchemes.has(cs.scheme)) return esdbFromConnectionString(cs)
  if (chronicleSchemes.has(cs.scheme)) return chronicleFromConnectionString(cs)
  return unsupportedScheme(cs.scheme, [...esdbSchemes.keys(), ...chronicleSchemes.keys()])
}

/** @internal */
export const parseEsdbEither = (
  input: string | Redacted.Redacted<string>
): Either.Either<EsdbSettings, GrpcConnectionStringError> => parseWith(input, esdbFromConnectionString)

/** @internal */
export const parseChronicleEither = (
  input: string | Redacted.Redacted<string>
): Either.Either<ChronicleSettings, GrpcConnectionStringError> => parseWith(input, chronicleFromConnectionString)

/** @internal */
export const parseEither = (
  input: string | Redacted.Redacted<string>
): Either.Either<Settings, GrpcConnectionStringError> => parseWith(input, fromConnectionString)

/** @internal */
export const parseEsdb = (
  input: string | Redacted.Redacted<string>
): Effect.Effect<EsdbSettings, GrpcConnectionStringError> => Effect.suspend(() => parseEsdbEither(input))

/** @internal */
export const parseChronicle = (
  input: string | Redacted.Redacted<string>
): Effect.Effect<ChronicleSettings, GrpcConnectionStringError> => Effect.suspend(() => parseChronicleEither(input))

/** @internal */
export const parse = (
  input: string | Redacted.Redacted<string>
): Effect.Effect<Settings, GrpcConnectionStringError> => Effect.suspend(() => parseEither(input))

// ---------------------------------------------------------------------------
// Printing
// ---------------------------------------------------------------------------

const encode = ConnectionString.encodeComponent

const formatHost = ({ host, port }: Endpoint): string =>
  `${host.includes(":") ? `[${host.replace(/%/g, "%25")}]` : host}:${port}`

/** How a secret is printed: `***`, or percent-encoded in clear for `Schema` encoding. */
type ShowSecret = (secret: Redacted.Redacted<string>) => string

const masked: ShowSecret = () => "***"
const revealed: ShowSecret = (secret) => encode(Redacted.value(secret))

const print = (
  scheme: string,
  userInfo: Option.Option<readonly [string, string]>,
  hosts: ReadonlyArray<Endpoint>,
  params: ReadonlyArray<readonly [string, string]>
): string => {
  const user = Option.match(userInfo, { onNone: () => "", onSome: ([name, secret]) => `${encode(name)}:${secret}@` })
  const query = params.length === 0 ? "" : `?${params.map(([key, value]) => `${key}=${value}`).join("&")}`
  return `${scheme}://${user}${hosts.map(formatHost).join(",")}${query}`
}

const ceilMillis = (duration: Duration.Duration): number => Math.ceil(Duration.toMillis(duration))

/** The parameters that differ from their defaults, in a fixed order. */
const changed = (
  entries: ReadonlyArray<readonly [string, string | undefined, string | undefined]>
): ReadonlyArray<readonly [string, string]> =>
  entries.flatMap(([key, value, fallback]) => value === undefined || value === fallback ? [] : [[key, value] as const])

const printEsdb = (self: EsdbSettings, show: ShowSecret): string => {
  const keepAlive = (value: Option.Option<Duration.Duration>) =>
    Option.match(value, { onNone: () => "-1", onSome: (d) => String(ceilMillis(d)) })
  const text = (value: Option.Option<string>) => Option.getOrUndefined(Option.map(value, encode))
  return print(
    `${self.scheme}${self.discover ? "+discover" : ""}`,
    Option.map(self.credentials, ({ password, username }) => [username, show(password)] as const),
    self.hosts,
    changed([
      ["tls", String(self.tls), "true"],
      ["tlsVerifyCert", String(self.tlsVerifyCert), "true"],
      ["tlsCAFile", text(self.tlsCAFile), undefined],
      ["userCertFile", text(Option.map(self.userCertificate, (c) => c.certFile)), undefined],
      ["userKeyFile", text(Option.map(self.userCertificate, (c) => c.keyFile)), undefined],
      ["keepAliveInterval", keepAlive(self.keepAliveInterval), "10000"],
      ["keepAliveTimeout", keepAlive(self.keepAliveTimeout), "10000"],
      ["defaultDeadline", String(ceilMillis(self.defaultDeadline)), "10000"],
      ["nodePreference", self.nodePreference, "leader"],
      ["maxDiscoverAttempts", String(self.maxDiscoverAttempts), "10"],
      ["discoveryInterval", String(ceilMillis(self.discoveryInterval)), "100"],
      ["gossipTimeout", String(Math.ceil(Duration.toSeconds(self.gossipTimeout))), "5"],
      ["connectionName", text(self.connectionName), undefined],
      ["throwOnAppendFailure", String(self.throwOnAppendFailure), "true"]
    ])
  )
}

const printChronicle = (self: ChronicleSettings, show: ShowSecret): string =>
  print(
    self.srv ? "chronicle+srv" : "chronicle",
    self.auth._tag === "ClientCredentials" ? Option.some([self.auth.clientId, show(self.auth.secret)]) : Option.none(),
    self.hosts,
    changed([
      ["disableTls", String(!self.tls), "false"],
      ["skipTlsValidation", String(self.skipTlsValidation), "false"],
      ["apiKey", self.auth._tag === "ApiKey" ? show(self.auth.apiKey) : undefined, undefined],
      ["certificatePath", Option.getOrUndefined(Option.map(self.certificatePath, encode)), undefined],
      ["certificatePassword", Option.getOrUndefined(Option.map(self.certificatePassword, show)), undefined],
      ["authPort", Option.getOrUndefined(Option.map(self.authPort, String)), undefined],
      ["loadBalancer", self.loadBalancer, "least-connections"],
      ["srvNameServer", Option.getOrUndefined(Option.map(self.srvNameServer, encode)), undefined]
    ])
  )

/** @internal */
export const formatEsdb = (self: EsdbSettings): string => printEsdb(self, masked)

/** @internal */
export const formatChronicle = (self: ChronicleSettings): string => printChronicle(self, masked)

/** @internal */
export const format = (self: Settings): string =>
  self._tag === "EsdbSettings" ? formatEsdb(self) : formatChronicle(self)

// ---------------------------------------------------------------------------
// Schemas and Config
// ---------------------------------------------------------------------------

const tryDecode = (text: string): string => {
  try {
    return decodeURIComponent(text)
  } catch {
    return text
  }
}

/** A parsed string printed back with every secret, and every value holding one, as `***`. */
const printRedacted = (cs: ConnectionString.ConnectionString): string => {
  const secrets = secretsOf(cs)
  const hidden = (text: string) => secrets.some((secret) => text.includes(secret))
  const user = Option.match(cs.username, {
    onNone: () => Option.isSome(cs.password) ? ":***@" : "",
    onSome: (name) => `${hidden(name) ? "***" : encode(name)}${Option.isSome(cs.password) ? ":***" : ""}@`
  })
  const hosts = cs.hosts.map(({ host, port }) =>
    `${host.includes(":") ? `[${host.replace(/%/g, "%25")}]` : host}${Option.isSome(port) ? `:${port.value}` : ""}`
  )
  const path = cs.path === "" ? "" : hidden(cs.path) ? "/***" : `/${encode(cs.path.slice(1))}`
  const params = cs.params.map(([key, value]) =>
    `${hidden(key) ? "***" : encode(key)}=${
      secretKeys.has(ConnectionString.normalizeKey(key)) || hidden(value) ? "***" : encode(value)
    }`
  )
  return `${cs.scheme}://${user}${hosts.join(",")}${path}${params.length === 0 ? "" : `?${params.join("&")}`}`
}

/**
 * The input as a parse issue shows it. A string core can parse is printed
 * back with its secrets as `***`. One it cannot parse is shown only when it
 * has no "@" (so no password), with the values of secret options masked;
 * otherwise only its scheme is shown, since nothing can tell which part of it
 * is the password.
 *
 * @internal
 */
export const redactInput = (input: string): string => {
  const parsed = ConnectionString.parseEither(input)
  if (Either.isRight(parsed)) return printRedacted(parsed.right)
  const separator = input.indexOf("://")
  const prefix = separator !== -1 && /^[A-Za-z][A-Za-z0-9+.-]*$/.test(input.slice(0, separator))
    ? input.slice(0, separator + 3)
    : ""
  if (input.includes("@")) return `${prefix}***`
  const query = input.indexOf("?")
  if (query === -1) return input
  const found: Array<string> = []
  const params = input.slice(query + 1).split("&").map((param) => {
    const eq = param.indexOf("=")
    if (eq === -1 || !secretKeys.has(ConnectionString.normalizeKey(tryDecode(param.slice(0, eq))))) return param
    found.push(param.slice(eq + 1))
    return `${param.slice(0, eq)}=***`
  })
  let out = `${input.slice(0, query + 1)}${params.join("&")}`
  const variants = found.flatMap((raw) => [raw, tryDecode(raw), encodeURIComponent(tryDecode(raw))])
    .filter((secret) => secret.length > 0 && secret !== "***")
  // Longest first, so that a secret is masked whole before any part of it.
  for (const secret of [...new Set(variants)].sort((a, b) => b.length - a.length)) {
    out = out.split(secret).join("***")
  }
  return out
}

const fromString = <A, I>(
  to: Schema.Schema<A, I>,
  identifier: string,
  parse: (input: string) => Either.Either<A, GrpcConnectionStringError>,
  print: (self: A) => string
): Schema.Schema<A, string> =>
  Schema.transformOrFail(Schema.String, Schema.typeSchema(to), {
    strict: true,
    decode: (input, _, ast) =>
      Either.mapLeft(parse(input), (error) => new ParseResult.Type(ast, redactInput(input), error.message)),
    encode: (self) => ParseResult.succeed(print(self))
  }).annotations({ identifier })

/** @internal */
export const EsdbFromString: Schema.Schema<EsdbSettings, string> = fromString(
  EsdbSettings,
  "EsdbFromString",
  parseEsdbEither,
  (self) => printEsdb(self, revealed)
)

/** @internal */
export const ChronicleFromString: Schema.Schema<ChronicleSettings, string> = fromString(
  ChronicleSettings,
  "ChronicleFromString",
  parseChronicleEither,
  (self) => printChronicle(self, revealed)
)

/** @internal */
export const FromString: Schema.Schema<Settings, string> = fromString(
  Settings,
  "GrpcConnectionStringFromString",
  parseEither,
  (self) => self._tag === "EsdbSettings" ? printEsdb(self, revealed) : printChronicle(self, revealed)
)

const fromConfig = <A>(
  name: string,
  parse: (input: Redacted.Redacted<string>) => Either.Either<A, GrpcConnectionStringError>
): Config.Config<A> =>
  Config.mapOrFail(
    Config.redacted(name),
    (input) => Either.mapLeft(parse(input), (error) => ConfigError.InvalidData([name], error.message))
  )

/** @internal */
export const config = (name: string): Config.Config<Settings> => fromConfig(name, parseEither)

/** @internal */
export const configEsdb = (name: string): Config.Config<EsdbSettings> => fromConfig(name, parseEsdbEither)

/** @internal */
export const configChronicle = (name: string): Config.Config<ChronicleSettings> =>
  fromConfig(name, parseChronicleEither)
