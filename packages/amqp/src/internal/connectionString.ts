/**
 * AMQP 0-9-1 connection strings (`amqp://`, `amqps://`) read into one broker `Endpoint`, on top
 * of core's `ConnectionString` parser (which does the grammar: the user info, IPv6 in brackets,
 * percent-decoding, the `Redacted` password, linear time). The meaning follows RabbitMQ's URI
 * spec (https://www.rabbitmq.com/docs/uri-spec, …/uri-query-parameters) and amqplib 2.3.1's own
 * reading (`lib/connect.js`: `connect`, `openFrames`, `credentialsFromUrl`), and every limit is
 * the one amqplib's encoder enforces (`lib/defs.js`), so an endpoint that parses never fails
 * there.
 *
 * @internal
 */
import { RedialError } from "@redial/core"
import * as ConnectionString from "@redial/core/ConnectionString"
import type { Options } from "amqplib"
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"

// ---------------------------------------------------------------------------
// Limits
// ---------------------------------------------------------------------------

/** The default ports: IANA's `amqp` and `amqps`, as amqplib fills them in. @internal */
export const defaultPorts = { amqp: 5672, amqps: 5671 } as const

/** AMQP's `short` fields (`channel-max`, `heartbeat` of `connection.tune-ok`). */
const MAX_SHORT = 0xffff
/** AMQP's `long` fields (`frame-max`). */
const MAX_LONG = 0xffffffff
/** AMQP's `frame-min-size`: amqplib 2.3 refuses a smaller `frameMax` from a server. */
const FRAME_MIN_SIZE = 4096
/** A `shortstr` (the vhost of `connection.open`, the locale of `start-ok`) holds at most 255 bytes. */
const MAX_SHORTSTR_BYTES = 255
/** The longest timer Node runs: a longer socket timeout fires after 1 ms. @internal */
export const MAX_TIMER_MILLIS = 2 ** 31 - 1

const utf8Length = (text: string): number => Buffer.byteLength(text, "utf8")

// ---------------------------------------------------------------------------
// Hosts
// ---------------------------------------------------------------------------

const toAscii = ConnectionString.hostToAscii

/**
 * Why `host` (as core's grammar gives it: an IPv6 address without brackets, already checked by
 * core) is not a host name or an IP address, or `undefined` when it is one. Core's grammar takes
 * any text without delimiters as a host, so `h;x` or `h&heartbeat=5` (a string missing its `?`)
 * would be one, and fail later in a DNS lookup.
 */
const hostProblem = (host: string): string | undefined =>
  host.includes(":")
    ? undefined
    : ConnectionString.hostNameProblem(host, (char) =>
      char === ";" ? "\";\" is not allowed (an AMQP URL has one host)" : undefined)

const formatHost = (hostname: string, port: number): string =>
  `${hostname.includes(":") ? `[${hostname.replace(/%/g, "%25")}]` : hostname}:${port}`

// ---------------------------------------------------------------------------
// Models
// ---------------------------------------------------------------------------

/** @internal */
export const Protocol = Schema.Literal("amqp", "amqps")

/** @internal */
export type Protocol = typeof Protocol.Type

/** @internal */
export const Port = Schema.Int.pipe(Schema.between(1, 65535))

/** @internal */
export const Hostname = Schema.String.pipe(
  Schema.filter((host) => hostProblem(host) === undefined, {
    identifier: "AmqpHostname",
    description: "a host name or an IP address (IPv6 without brackets)"
  })
)

/** A `shortstr`: non-empty here, at most 255 bytes in UTF-8. */
const ShortString = (identifier: string, what: string) =>
  Schema.String.pipe(
    Schema.filter((text) => text.length > 0 && utf8Length(text) <= MAX_SHORTSTR_BYTES, {
      identifier,
      description: `a non-empty ${what} of at most ${MAX_SHORTSTR_BYTES} bytes in UTF-8`
    })
  )

const Short = Schema.Int.pipe(Schema.between(0, MAX_SHORT))

const MaxFrameSize = Schema.Int.pipe(
  Schema.filter((n) => n === 0 || (n >= FRAME_MIN_SIZE && n <= MAX_LONG), {
    identifier: "AmqpMaxFrameSize",
    description: `0 (no limit) or a whole number in ${FRAME_MIN_SIZE}-${MAX_LONG}`
  })
)

const ConnectionTimeout = Schema.DurationFromSelf.pipe(
  Schema.filter((d) => {
    if (!Duration.isFinite(d)) return false
    const ms = Duration.toMillis(d)
    return Number.isInteger(ms) && ms >= 1 && ms <= MAX_TIMER_MILLIS
  }, {
    identifier: "AmqpConnectionTimeout",
    description: `a whole number of milliseconds in 1-${MAX_TIMER_MILLIS}`
  })
)

const optional = <S extends Schema.Schema.Any>(schema: S) => Schema.optionalWith(schema, { exact: true })

/** @internal */
export const Endpoint = Schema.Struct({
  protocol: Protocol,
  hostname: Hostname,
  port: Port,
  username: optional(Schema.NonEmptyString),
  password: optional(Schema.RedactedFromSelf(Schema.String)),
  vhost: ShortString("AmqpVhost", "virtual host name"),
  heartbeat: optional(Short),
  frameMax: optional(Schema.Int.pipe(Schema.between(FRAME_MIN_SIZE, MAX_LONG))),
  channelMax: optional(Short),
  maxFrameSize: optional(MaxFrameSize),
  locale: optional(ShortString("AmqpLocale", "locale")),
  connectionTimeout: optional(ConnectionTimeout)
}).annotations({ identifier: "AmqpEndpoint" })

/** @internal */
export type Endpoint = typeof Endpoint.Type

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

/** @internal */
export class AmqpConnectionStringError extends RedialError("AmqpConnectionStringError")<{
  readonly part: ConnectionString.Part
  readonly reason: ConnectionString.Reason
  readonly detail: string
  readonly position?: number | undefined
  readonly key?: string | undefined
  readonly cause?: ConnectionString.ConnectionStringError | undefined
}> {
  override get message(): string {
    const where = this.position === undefined ? "" : ` (at position ${this.position})`
    return `Invalid connection string: ${this.detail}${where}`
  }
}

const fail = (
  part: ConnectionString.Part,
  reason: ConnectionString.Reason,
  detail: string,
  extra?: { readonly position?: number | undefined; readonly key?: string | undefined }
): Either.Either<never, AmqpConnectionStringError> =>
  Either.left(
    new AmqpConnectionStringError({
      part,
      reason,
      detail,
      ...(extra?.position === undefined ? {} : { position: extra.position }),
      ...(extra?.key === undefined ? {} : { key: extra.key })
    })
  )

/** A grammar error of core's parser, with a hint where amqplib would have guessed. */
const fromCoreError = (error: ConnectionString.ConnectionStringError): AmqpConnectionStringError => {
  const hint = error.part === "host" && error.reason === "Empty"
    ? " (amqplib would dial localhost; write the broker's host, e.g. amqp://localhost)"
    : ""
  return new AmqpConnectionStringError({
    part: error.part,
    reason: error.reason,
    detail: `${error.detail}${hint}`,
    ...(error.position === undefined ? {} : { position: error.position }),
    cause: error
  })
}

// ---------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------

const label = "an AMQP URL"

const whole = (name: string, min: number, max: number, expected: string) =>
  ConnectionString.integerParam(name, { min, max, expected })

const params = {
  heartbeat: whole(
    "heartbeat",
    0,
    MAX_SHORT,
    `a whole number of seconds in 0-${MAX_SHORT} (0 disables heartbeats)`
  ),
  frameMax: whole(
    "frame_max",
    FRAME_MIN_SIZE,
    MAX_LONG,
    `a whole number of bytes in ${FRAME_MIN_SIZE}-${MAX_LONG}`
  ),
  channelMax: whole(
    "channel_max",
    0,
    MAX_SHORT,
    `a whole number in 0-${MAX_SHORT} (0 leaves the limit to the broker)`
  ),
  maxFrameSize: ConnectionString.makeParam("max_frame_size", {
    expected: `0 (no limit) or a whole number of bytes in ${FRAME_MIN_SIZE}-${MAX_LONG}`,
    decode: (value) =>
      Option.filter(
        ConnectionString.integerParam("", { min: 0, max: MAX_LONG }).decode(value),
        (n) => n === 0 || n >= FRAME_MIN_SIZE
      )
  }),
  locale: ConnectionString.makeParam("locale", {
    expected: `a non-empty locale of at most ${MAX_SHORTSTR_BYTES} bytes in UTF-8`,
    decode: (value) => value.length > 0 && utf8Length(value) <= MAX_SHORTSTR_BYTES ? Option.some(value) : Option.none()
  }),
  connectionTimeout: ConnectionString.makeParam("connection_timeout", {
    expected: `a whole number of milliseconds in 1-${MAX_TIMER_MILLIS}`,
    decode: (value) =>
      Option.map(ConnectionString.integerParam("", { min: 1, max: MAX_TIMER_MILLIS }).decode(value), Duration.millis)
  })
} as const

type Field = keyof typeof params

/** The options' names as documented and printed, in the order they are printed. @internal */
export const optionNames: ReadonlyArray<string> = Object.values(params).map((param) => param.name)

const byName: ReadonlyMap<string, readonly [Field, ConnectionString.Param<unknown>]> = new Map(
  (Object.entries(params) as ReadonlyArray<readonly [Field, ConnectionString.Param<unknown>]>).map((
    entry
  ) => [ConnectionString.normalizeKey(entry[1].name), entry] as const)
)

/**
 * Options of RabbitMQ's Erlang client (https://www.rabbitmq.com/docs/uri-query-parameters) that
 * amqplib takes elsewhere: TLS settings and SASL mechanisms are socket options there.
 */
const erlangClientOptions = new Set(
  ["cacertfile", "certfile", "keyfile", "verify", "fail_if_no_peer_cert", "server_name_indication", "depth"]
    .map(ConnectionString.normalizeKey)
)

/** What is wrong with a value its option refused: empty, a number out of range, or not a number. */
const reasonOf = (field: Field, value: string): ConnectionString.Reason => {
  if (value === "") return "Empty"
  if (field === "locale") return "OutOfRange"
  return /^-?[0-9]+$/.test(value) ? "OutOfRange" : "Malformed"
}

type Values = ConnectionString.ParamValues<typeof params>

/**
 * Reads the query: names compared as core's `param` does (case, `_` and `-` ignored), an unknown
 * name or a name given twice (in any spelling) refused, each value checked.
 */
const readOptions = (
  cs: ConnectionString.ConnectionString,
  secrets: ConnectionString.Secrets
): Either.Either<Values, AmqpConnectionStringError> => {
  const values: Partial<Record<Field, unknown>> = {}
  const seen = new Map<Field, string>()
  for (const [name, value] of cs.params) {
    const normalized = ConnectionString.normalizeKey(name)
    const entry = byName.get(normalized)
    if (entry === undefined) {
      const hint = normalized === "authmechanism"
        ? "; amqplib takes the SASL mechanism as the credentials socket option"
        : erlangClientOptions.has(normalized)
        ? "; amqplib takes TLS settings (ca, cert, key …) as socket options, not from the URL"
        : ""
      return fail(
        "query",
        "Unsupported",
        `unknown option ${ConnectionString.quote(name, secrets)} in ${label}; the options are ${
          optionNames.join(", ")
        } (names ignore case, "_" and "-")${hint}`,
        secrets.contains(name) ? undefined : { key: name }
      )
    }
    const [field, param] = entry
    const before = seen.get(field)
    if (before !== undefined) {
      const spellings = before === name
        ? ""
        : ` (as ${ConnectionString.quote(before, secrets)} and ${
          ConnectionString.quote(name, secrets)
        }: names ignore case, "_" and "-")`
      return fail("query", "Malformed", `${param.name} is given more than once${spellings}`, { key: param.name })
    }
    seen.set(field, name)
    const decoded = param.decode(value)
    if (Option.isNone(decoded)) {
      return fail(
        "query",
        reasonOf(field, value),
        `${param.name} must be ${param.expected}, got ${ConnectionString.quote(value, secrets)}`,
        { key: param.name }
      )
    }
    values[field] = decoded.value
  }
  return Either.right(values as Values)
}

// ---------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------

/** Index of the first `char` in `input[start, end)`, or `end`. */
const indexIn = (input: string, char: string, start: number, end: number): number => {
  const code = char.charCodeAt(0)
  for (let i = start; i < end; i++) {
    if (input.charCodeAt(i) === code) return i
  }
  return end
}

/** The last `char` in `input[start, end)`, or -1. */
const lastIndexIn = (input: string, char: string, start: number, end: number): number => {
  const code = char.charCodeAt(0)
  for (let i = end - 1; i >= start; i--) {
    if (input.charCodeAt(i) === code) return i
  }
  return -1
}

const schemePrefix = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//

/**
 * The password as written in `input`, still percent-encoded, by core's rule: from the first ":"
 * of the user info to the last "@" of the authority (which ends at the first "/" before the
 * first "?"); `undefined` when there is none.
 */
const rawPassword = (input: string): string | undefined => {
  const scheme = schemePrefix.exec(input)
  if (scheme === null) return undefined
  const start = scheme[0].length
  const queryStart = indexIn(input, "?", start, input.length)
  const end = indexIn(input, "/", start, queryStart)
  const at = lastIndexIn(input, "@", start, end)
  if (at === -1) return undefined
  const colon = indexIn(input, ":", start, at)
  return colon < at ? input.slice(colon + 1, at) : undefined
}

const secretNames = new Set(ConnectionString.defaultSecretParams.map(ConnectionString.normalizeKey))

/**
 * What no message quotes: core's secrets of the string (the password, the values of secret
 * parameters) and the password as written, still percent-encoded. A value that decodes to the
 * written form (`?heartbeat=p%2541` with the password written `p%41`) holds the password as
 * surely as one that holds it decoded.
 */
const secretsOf = (raw: string, cs: ConnectionString.ConnectionString): ConnectionString.Secrets =>
  ConnectionString.secrets([
    ...Option.toArray(Option.map(cs.password, Redacted.value)),
    ...(Option.isSome(cs.password) ? [rawPassword(raw) ?? ""] : []),
    ...cs.params.filter(([name]) => secretNames.has(ConnectionString.normalizeKey(name.trim()))).map(([, value]) =>
      value
    )
  ])

/**
 * The vhost: the path without its leading "/", percent-decoded; "/" (amqplib's default) when
 * there is no path or an empty one. Core decodes the path as a whole, so a raw "/" (a second
 * segment, which the spec forbids) is looked for in the raw input: `a/b` and `a%2Fb` decode alike.
 */
const readVhost = (
  raw: string,
  cs: ConnectionString.ConnectionString,
  secrets: ConnectionString.Secrets
): Either.Either<string, AmqpConnectionStringError> => {
  // Core's rule: the authority ends at the first "/" before the first "?" after "scheme://".
  const authorityStart = cs.scheme.length + 3
  const queryStart = indexIn(raw, "?", authorityStart, raw.length)
  const pathStart = indexIn(raw, "/", authorityStart, queryStart)
  const slash = pathStart < queryStart ? indexIn(raw, "/", pathStart + 1, queryStart) : queryStart
  if (slash < queryStart) {
    return fail(
      "path",
      "Malformed",
      `the path ${
        ConnectionString.quote(cs.path, secrets)
      } has more than one segment, but a vhost is one: write a "/" in the vhost as %2F ` +
        "(amqp://host/a%2Fb is the vhost \"a/b\", amqp://host/%2F the vhost \"/\")",
      { position: slash }
    )
  }
  const vhost = cs.path.length <= 1 ? "/" : cs.path.slice(1)
  if (utf8Length(vhost) > MAX_SHORTSTR_BYTES) {
    return fail(
      "path",
      "OutOfRange",
      `the vhost is longer than ${MAX_SHORTSTR_BYTES} bytes in UTF-8, the most AMQP's connection.open carries`,
      { position: pathStart + 1 }
    )
  }
  return Either.right(vhost)
}

const readHost = (
  cs: ConnectionString.ConnectionString,
  secrets: ConnectionString.Secrets
): Either.Either<string, AmqpConnectionStringError> => {
  if (cs.hosts.length > 1) {
    // No host is quoted: without user info, "user:password" reads as "host:port", so a host after
    // the first may be a password (amqp://admin:1234,S3cret).
    return fail(
      "host",
      "Unsupported",
      `${label} has one host, got ${cs.hosts.length}: give one URL per broker (urls) to fail over between them`
    )
  }
  const host = cs.hosts[0].host
  const problem = hostProblem(host)
  if (problem !== undefined) {
    return fail(
      "host",
      "Malformed",
      `host ${ConnectionString.quote(host, secrets)} is not a valid host name or IP address: ${problem}`
    )
  }
  return Either.right(toAscii(host))
}

const isProtocol = (scheme: string): scheme is Protocol => scheme === "amqp" || scheme === "amqps"

const fromConnectionString = (
  raw: string,
  cs: ConnectionString.ConnectionString
): Either.Either<Endpoint, AmqpConnectionStringError> =>
  Either.gen(function*() {
    const protocol = cs.scheme
    if (!isProtocol(protocol)) {
      return yield* fail(
        "scheme",
        "Unsupported",
        `unsupported scheme ${ConnectionString.quote(protocol)}; expected amqp:// or amqps://`,
        { position: 0 }
      )
    }
    const secrets = secretsOf(raw, cs)
    const hostname = yield* readHost(cs, secrets)
    const vhost = yield* readVhost(raw, cs, secrets)
    const options = yield* readOptions(cs, secrets)
    const endpoint: Endpoint = {
      protocol,
      hostname,
      port: Option.getOrElse(cs.hosts[0].port, () => defaultPorts[protocol]),
      ...(Option.isSome(cs.username) ? { username: cs.username.value } : {}),
      ...(Option.isSome(cs.password) ? { password: cs.password.value } : {}),
      vhost,
      ...options
    }
    return endpoint
  })

/** @internal */
export const parseEither = (
  input: string | Redacted.Redacted<string>
): Either.Either<Endpoint, AmqpConnectionStringError> => {
  // An untyped caller may pass anything: refuse it rather than throw.
  const raw: unknown = typeof input === "string" ? input : Redacted.isRedacted(input) ? Redacted.value(input) : input
  if (typeof raw !== "string") {
    return fail("scheme", "Malformed", "the connection string is not a string")
  }
  return Either.flatMap(
    Either.mapLeft(ConnectionString.parseEither(raw), fromCoreError),
    (cs) => fromConnectionString(raw, cs)
  )
}

/** @internal */
export const parse = (input: string | Redacted.Redacted<string>): Effect.Effect<Endpoint, AmqpConnectionStringError> =>
  Effect.suspend(() => parseEither(input))

// ---------------------------------------------------------------------------
// Printing
// ---------------------------------------------------------------------------

const encode = ConnectionString.encodeComponent

const optionValues = (self: Endpoint): ReadonlyArray<readonly [string, string | undefined]> => [
  [params.heartbeat.name, self.heartbeat === undefined ? undefined : String(self.heartbeat)],
  [params.frameMax.name, self.frameMax === undefined ? undefined : String(self.frameMax)],
  [params.channelMax.name, self.channelMax === undefined ? undefined : String(self.channelMax)],
  [params.maxFrameSize.name, self.maxFrameSize === undefined ? undefined : String(self.maxFrameSize)],
  [params.locale.name, self.locale],
  [
    params.connectionTimeout.name,
    self.connectionTimeout === undefined ? undefined : String(Duration.toMillis(self.connectionTimeout))
  ]
]

const print = (self: Endpoint, showPassword: (password: Redacted.Redacted<string>) => string): string => {
  const password = self.password === undefined ? "" : `:${showPassword(self.password)}`
  const user = self.username === undefined && self.password === undefined
    ? ""
    : `${self.username === undefined ? "" : encode(self.username)}${password}@`
  const query = optionValues(self).flatMap(([name, value]) => value === undefined ? [] : [`${name}=${encode(value)}`])
  return `${self.protocol}://${user}${formatHost(self.hostname, self.port)}/${encode(self.vhost)}${
    query.length === 0 ? "" : `?${query.join("&")}`
  }`
}

/** @internal */
export const format = (self: Endpoint): string => print(self, () => "***")

/** Prints the password in clear, for `Schema` encoding: decoding the result gives the endpoint back. @internal */
export const unsafeFormat = (self: Endpoint): string => print(self, (password) => encode(Redacted.value(password)))

/** @internal */
export const describe = (self: Endpoint): string =>
  `${self.protocol}://${formatHost(self.hostname, self.port)}/${encode(self.vhost)}`

/** @internal */
export const toAmqplib = (self: Endpoint): Options.Connect => {
  const options: Options.Connect = {
    protocol: self.protocol,
    hostname: toAscii(self.hostname),
    port: self.port,
    // amqplib percent-decodes the vhost of the object too (`openFrames`: QS.unescape): escape "%" so
    // that it decodes to the vhost itself.
    vhost: self.vhost.replace(/%/g, "%25")
  }
  if (self.username !== undefined) options.username = self.username
  if (self.password !== undefined) options.password = Redacted.value(self.password)
  if (self.heartbeat !== undefined) options.heartbeat = self.heartbeat
  if (self.frameMax !== undefined) options.frameMax = self.frameMax
  if (self.channelMax !== undefined) options.channelMax = self.channelMax
  if (self.maxFrameSize !== undefined) options.maxFrameSize = self.maxFrameSize
  if (self.locale !== undefined) options.locale = self.locale
  return options
}

// ---------------------------------------------------------------------------
// Schema and Config
// ---------------------------------------------------------------------------

/**
 * Where the text that may be a password starts when a string has no user info: the first ":" of
 * the authority, unless a "[" comes first (an IPv6 address). Core's rule, for the hosts core
 * takes and this module refuses.
 */
const suspectColon = (input: string): number => {
  const scheme = schemePrefix.exec(input)
  if (scheme === null) return -1
  const start = scheme[0].length
  const queryStart = indexIn(input, "?", start, input.length)
  const end = indexIn(input, "/", start, queryStart)
  if (indexIn(input, "@", start, end) < end) return -1
  const colon = indexIn(input, ":", start, end)
  return colon < end && indexIn(input, "[", start, colon) === colon ? colon : -1
}

/**
 * The input as a parse issue holds it: core's redaction, with the password as written masked in
 * every form (raw, decoded, and each of these percent-encoded: core masks the encoded form of the
 * decoded password only, and prints a value that decodes to the written form encoded again).
 * A host that core's grammar takes and this module refuses (`admin:1234,S3cret`, `ad;min:1234`)
 * without user info may be `user:password` missing its `@host`: then everything after the
 * authority's first ":" is masked.
 */
const redact = (input: string): string => {
  const colon = suspectColon(input)
  if (colon !== -1) {
    const result = parseEither(input)
    if (Either.isLeft(result) && result.left.part === "host" && result.left.cause === undefined) {
      return `${input.slice(0, colon + 1)}***`
    }
  }
  const shown = ConnectionString.redact(input)
  const written = rawPassword(input)
  if (written === undefined) return shown
  const decoded = Option.getOrElse(ConnectionString.decodeComponent(written), () => written)
  return ConnectionString.secrets([written, encode(written), decoded, encode(decoded)]).mask(shown)
}

/** @internal */
export const FromString: Schema.Schema<Endpoint, string> = ConnectionString.makeFromString({
  identifier: "AmqpFromString",
  to: Endpoint,
  decode: parseEither,
  encode: unsafeFormat,
  redact
})

/** @internal */
export const config = (name: string): Config.Config<Endpoint> =>
  Config.mapOrFail(
    Config.redacted(name),
    (input) => Either.mapLeft(parseEither(input), (error) => ConfigError.InvalidData([name], error.message))
  )
