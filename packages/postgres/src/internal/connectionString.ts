/**
 * PostgreSQL connection strings (`postgres://` / `postgresql://` URIs and libpq's keyword/value
 * form) read into one typed `Endpoint`, on top of core's `ConnectionString` grammar (the user
 * info, IPv6 in brackets, percent-decoding, the `Redacted` password, linear time). The keys and
 * their meaning are libpq's (PostgreSQL 15, `libpq-connect.html#LIBPQ-PARAMKEYWORDS`), limited to
 * what node-postgres 8.23 can do (`lib/connection-parameters.js`, `lib/client.js`,
 * pg-connection-string 2.14), plus pg's own `statement_timeout`, `lock_timeout`,
 * `idle_in_transaction_session_timeout` and `query_timeout`.
 *
 * Core's grammar takes neither an empty host (`postgres:///db`, `postgres://u@:5433`) nor a
 * percent-escape in a host (`postgres://%2Ftmp/db`, libpq's Unix socket in the authority), and
 * refuses an empty user name (`postgres://@h`, `postgres://:pw@h`), all of which libpq accepts.
 * So those parts are replaced by placeholders before core parses the string, read here, and
 * core's error positions are mapped back to the input.
 *
 * @internal
 */
import { InvalidOption, RedialError } from "@redial/core"
import * as ConnectionString from "@redial/core/ConnectionString"
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as fs from "node:fs/promises"
import * as net from "node:net"
import type * as PgDriver from "../PgDriver.js"
import type * as PgPool from "../PgPool.js"

// ---------------------------------------------------------------------------
// Limits
// ---------------------------------------------------------------------------

/** PostgreSQL's GUCs in milliseconds (`statement_timeout` …) are C ints. */
const MAX_MILLIS = 2 ** 31 - 1
/** Seconds whose milliseconds still fit a Node timer. */
const MAX_SECONDS = Math.floor(MAX_MILLIS / 1000)
/** `sockaddr_un.sun_path` holds 108 bytes with its NUL on Linux. */
const MAX_SOCKET_PATH_BYTES = 107
const DEFAULT_PORT = 5432

const utf8Length = (text: string): number => Buffer.byteLength(text, "utf8")

// ---------------------------------------------------------------------------
// Hosts
// ---------------------------------------------------------------------------

const toAscii = ConnectionString.hostToAscii

const isSocketDir = (host: string): boolean => host.startsWith("/")

/**
 * Why `host` is not a host name, an IP address (IPv6 without brackets, with an optional zone) or
 * the absolute path of a Unix socket directory; `undefined` when it is one.
 */
const hostProblem = (host: string): string | undefined => {
  if (host.length === 0) return "it is empty"
  if (isSocketDir(host)) return host.includes("\u0000") ? "it contains a NUL character" : undefined
  if (host.includes(":")) {
    const percent = host.indexOf("%")
    const address = percent === -1 ? host : host.slice(0, percent)
    const zone = percent === -1 ? "" : host.slice(percent + 1)
    if (!net.isIPv6(address)) return "it is not a valid IPv6 address"
    return percent === -1 || /^[A-Za-z0-9._~-]+$/.test(zone) ? undefined : "its IPv6 zone is not valid"
  }
  return ConnectionString.hostNameProblem(host)
}

/** The socket's path, as node-postgres builds it (`${host}/.s.PGSQL.${port}`), the directory's trailing "/" dropped. */
const socketPath = (dir: string, port: number): string => {
  let end = dir.length
  while (end > 1 && dir.charCodeAt(end - 1) === 47) end--
  return `${dir.slice(0, end)}/.s.PGSQL.${port}`
}

// ---------------------------------------------------------------------------
// Models
// ---------------------------------------------------------------------------

const optional = <S extends Schema.Schema.Any>(schema: S) => Schema.optionalWith(schema, { exact: true })

/** @internal */
export const SslMode = Schema.Literal("disable", "prefer", "require", "verify-ca", "verify-full")

/** @internal */
export const Host = Schema.String.pipe(
  Schema.filter((host) => hostProblem(host) === undefined, {
    identifier: "PgHost",
    description: "a host name, an IP address (IPv6 without brackets) or the absolute path of a Unix socket directory"
  })
)

/** A non-empty text without NUL (the protocol's strings end at a NUL). */
const Text = (identifier: string, what: string) =>
  Schema.String.pipe(
    Schema.filter((text) => text.length > 0 && !text.includes("\u0000"), {
      identifier,
      description: `a non-empty ${what} without NUL characters`
    })
  )

const whole = (d: Duration.Duration, unit: number, max: number): boolean => {
  if (!Duration.isFinite(d)) return false
  const ms = Duration.toMillis(d)
  return Number.isInteger(ms / unit) && ms >= 0 && ms / unit <= max
}

const Seconds = (identifier: string, infinite: boolean) =>
  Schema.DurationFromSelf.pipe(
    Schema.filter((d) => (infinite && !Duration.isFinite(d)) || whole(d, 1000, MAX_SECONDS), {
      identifier,
      description: `a whole number of seconds in 0-${MAX_SECONDS}${infinite ? ", or infinity" : ""}`
    })
  )

const Millis = (identifier: string) =>
  Schema.DurationFromSelf.pipe(
    Schema.filter((d) => whole(d, 1, MAX_MILLIS), {
      identifier,
      description: `a whole number of milliseconds in 0-${MAX_MILLIS}`
    })
  )

/** @internal */
export const Endpoint = Schema.Struct({
  host: optional(Host),
  port: optional(Schema.Int.pipe(Schema.between(1, 65535))),
  database: optional(Text("PgDatabase", "database name")),
  user: optional(Text("PgUser", "user name")),
  password: optional(Schema.RedactedFromSelf(Schema.String)),
  sslmode: optional(SslMode),
  sslrootcert: optional(Text("PgSslRootCert", "file path")),
  sslcert: optional(Text("PgSslCert", "file path")),
  sslkey: optional(Text("PgSslKey", "file path")),
  sslpassword: optional(Schema.RedactedFromSelf(Schema.String)),
  applicationName: optional(Text("PgApplicationName", "application name")),
  fallbackApplicationName: optional(Text("PgApplicationName", "application name")),
  options: optional(Text("PgOptions", "command-line options text")),
  connectTimeout: optional(Seconds("PgConnectTimeout", true)),
  keepAlive: optional(Schema.Boolean),
  keepAliveInitialDelay: optional(Seconds("PgKeepAliveIdle", false)),
  clientEncoding: optional(Schema.Literal("UTF8")),
  statementTimeout: optional(Millis("PgStatementTimeout")),
  lockTimeout: optional(Millis("PgLockTimeout")),
  idleInTransactionSessionTimeout: optional(Millis("PgIdleInTransactionSessionTimeout")),
  queryTimeout: optional(Millis("PgQueryTimeout"))
}).annotations({ identifier: "PgEndpoint" })

/** @internal */
export type Endpoint = typeof Endpoint.Type

type Field = keyof Endpoint

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

/** @internal */
export class PgConnectionStringError extends RedialError("PgConnectionStringError")<{
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

/** @internal */
export class PgSslFileError extends RedialError("PgSslFileError")<{
  readonly key: "sslrootcert" | "sslcert" | "sslkey"
  readonly path: string
  /** The system's error code (`ENOENT`, `EACCES`, `EISDIR` …), when there is one. */
  readonly code?: string | undefined
  readonly detail: string
}> {
  override get message(): string {
    return `Cannot read the ${this.key} file: ${this.detail}`
  }
}

interface Problem {
  readonly part: ConnectionString.Part
  readonly reason: ConnectionString.Reason
  readonly detail: string
  readonly position?: number | undefined
  readonly key?: string | undefined
}

const fail = (problem: Problem): Either.Either<never, PgConnectionStringError> =>
  Either.left(
    new PgConnectionStringError({
      part: problem.part,
      reason: problem.reason,
      detail: problem.detail,
      ...(problem.position === undefined ? {} : { position: problem.position }),
      ...(problem.key === undefined ? {} : { key: problem.key })
    })
  )

// ---------------------------------------------------------------------------
// Keys
// ---------------------------------------------------------------------------

const label = "a PostgreSQL connection string"

type Decoded = Either.Either<unknown, { readonly reason: ConnectionString.Reason; readonly detail: string }>

interface Key {
  /** libpq's (or pg's) name: exact, as libpq compares it. */
  readonly name: string
  /** The endpoint's field; `undefined` for a key that is read and then has no effect. */
  readonly field: Field | undefined
  readonly secret: boolean
  readonly decode: (value: string) => Decoded
}

const bad = (reason: ConnectionString.Reason, detail: string): Decoded => Either.left({ reason, detail })

const wholeNumber = (value: string, min: number, max: number): Option.Option<number> => {
  if (!/^[0-9]{1,10}$/.test(value)) return Option.none()
  const n = Number(value)
  return n >= min && n <= max ? Option.some(n) : Option.none()
}

const numberReason = (value: string): ConnectionString.Reason =>
  value === "" ? "Empty" : /^[0-9]+$/.test(value) ? "OutOfRange" : "Malformed"

const makeKey = (
  name: string,
  field: Field | undefined,
  decode: (value: string) => Decoded,
  secret = false
): Key => ({ name, field, decode, secret })

/** A key whose value is a number in a range, `expected` in prose. */
const numberKey = (
  name: string,
  field: Field,
  range: { readonly min: number; readonly max: number },
  expected: string,
  map: (n: number) => unknown
): Key =>
  makeKey(name, field, (value) =>
    Option.match(wholeNumber(value, range.min, range.max), {
      onNone: () => bad(numberReason(value), `${name} must be ${expected}`),
      onSome: (n) => Either.right(map(n))
    }))

const textKey = (name: string, field: Field, what: string, secret = false): Key =>
  makeKey(name, field, (value) =>
    value === ""
      ? bad("Empty", `${name} must be a non-empty ${what}`)
      : value.includes("\u0000")
      ? bad("InvalidCharacter", `${name} must not contain a NUL character (%00)`)
      : Either.right(secret ? Redacted.make(value) : value), secret)

const millisKey = (name: string, field: Field, what: string): Key =>
  numberKey(
    name,
    field,
    { min: 0, max: MAX_MILLIS },
    `a whole number of milliseconds in 0-${MAX_MILLIS} (${what})`,
    Duration.millis
  )

const unsupported = (name: string, detail: string): Key =>
  makeKey(name, undefined, () => bad("Unsupported", `${name} ${detail}`))

const pgLacks = "is a libpq option that node-postgres (pg 8.23) does not support"

/** libpq's keys (PostgreSQL 15 to 17) that pg cannot honour. */
const libpqOnly = [
  "hostaddr",
  "passfile",
  "channel_binding",
  "keepalives_interval",
  "keepalives_count",
  "tcp_user_timeout",
  "gssencmode",
  "gsslib",
  "gssdelegation",
  "krbsrvname",
  "requiressl",
  "sslcompression",
  "sslcrl",
  "sslcrldir",
  "sslsni",
  "sslcertmode",
  "ssl_min_protocol_version",
  "ssl_max_protocol_version",
  "requirepeer",
  "require_auth",
  "service",
  "target_session_attrs",
  "load_balance_hosts"
]

const isUtf8Name = (value: string): boolean => /^(?:utf-?8|unicode)$/i.test(value)

const keys: ReadonlyArray<Key> = [
  makeKey("host", "host", (value) => Either.right(value)),
  numberKey("port", "port", { min: 1, max: 65535 }, "a whole number in 1-65535", (n) => n),
  textKey("dbname", "database", "database name"),
  textKey("user", "user", "user name"),
  textKey("password", "password", "password", true),
  makeKey("sslmode", "sslmode", (value) => {
    switch (value) {
      case "disable":
      case "prefer":
      case "require":
      case "verify-ca":
      case "verify-full":
        return Either.right(value)
      // pg's own mode: TLS without verifying the certificate, which is libpq's require.
      case "no-verify":
        return Either.right("require")
      case "allow":
        return bad(
          "Unsupported",
          "sslmode=allow (plain first, TLS if the server insists) is not supported by node-postgres; " +
            "use disable or prefer"
        )
      default:
        return bad(
          value === "" ? "Empty" : "Malformed",
          "sslmode must be one of disable, prefer, require, verify-ca, verify-full (or pg's no-verify, read as require)"
        )
    }
  }),
  textKey("sslrootcert", "sslrootcert", "file path"),
  textKey("sslcert", "sslcert", "file path"),
  textKey("sslkey", "sslkey", "file path"),
  textKey("sslpassword", "sslpassword", "passphrase", true),
  textKey("application_name", "applicationName", "application name"),
  textKey("fallback_application_name", "fallbackApplicationName", "application name"),
  textKey("options", "options", "command-line options text"),
  numberKey(
    "connect_timeout",
    "connectTimeout",
    { min: 0, max: MAX_SECONDS },
    `a whole number of seconds in 0-${MAX_SECONDS} (0 waits for ever)`,
    (n) => n === 0 ? Duration.infinity : Duration.seconds(n)
  ),
  makeKey("keepalives", "keepAlive", (value) =>
    value === "0" || value === "1"
      ? Either.right(value === "1")
      : bad(value === "" ? "Empty" : "Malformed", "keepalives must be 1 (on) or 0 (off)")),
  numberKey(
    "keepalives_idle",
    "keepAliveInitialDelay",
    { min: 0, max: MAX_SECONDS },
    `a whole number of seconds in 0-${MAX_SECONDS} (0 keeps the system's default)`,
    Duration.seconds
  ),
  makeKey("client_encoding", "clientEncoding", (value) =>
    isUtf8Name(value)
      ? Either.right("UTF8")
      : bad(
        value === "" ? "Empty" : "Unsupported",
        "client_encoding must be UTF8: node-postgres always speaks UTF8 (it sends client_encoding=UTF8 at startup)"
      )),
  millisKey("statement_timeout", "statementTimeout", "0 is not sent: the server's default"),
  millisKey("lock_timeout", "lockTimeout", "0 is not sent: the server's default"),
  millisKey(
    "idle_in_transaction_session_timeout",
    "idleInTransactionSessionTimeout",
    "0 is not sent: the server's default"
  ),
  millisKey("query_timeout", "queryTimeout", "0: none"),
  makeKey("sslnegotiation", undefined, (value) =>
    value === "postgres"
      ? Either.right(undefined)
      : bad(
        value === "direct" ? "Unsupported" : "Malformed",
        "sslnegotiation must be postgres: redial's driver does not pass node-postgres's direct TLS negotiation"
      )),
  makeKey("uselibpqcompat", undefined, (value) =>
    value === "true"
      ? Either.right(undefined)
      : bad("Unsupported", "uselibpqcompat must be true: redial always gives sslmode libpq's meaning")),
  unsupported(
    "ssl",
    "is not read: libpq reads ssl=true as sslmode=require, node-postgres as verify-full; write the sslmode you mean"
  ),
  unsupported("binary", "is not supported: redial's driver reads results as text"),
  unsupported("replication", "is not supported: a pool's connections are not replication connections"),
  ...libpqOnly.map((name) => unsupported(name, pgLacks))
]

const byName: ReadonlyMap<string, Key> = new Map(keys.map((key) => [key.name, key]))

/** Normalized spellings of the keys, for a hint when a key is written another way (`applicationName`). */
const byNormalized: ReadonlyMap<string, Key> = new Map(
  keys.map((key) => [ConnectionString.normalizeKey(key.name), key])
)

/** The names of the keys an endpoint holds, in the order {@link format} prints them. @internal */
export const optionNames: ReadonlyArray<string> = keys.filter((key) => key.field !== undefined).map((key) => key.name)

const accepted = keys.filter((key) => key.field !== undefined || key.name === "sslnegotiation").map((key) => key.name)

// ---------------------------------------------------------------------------
// Reading settings
// ---------------------------------------------------------------------------

/** One setting as the string gives it: from the URI's parts, its query, or a keyword/value pair. */
interface Setting {
  readonly key: string
  readonly value: string
  /** Where it was given, for messages: "in the path", "as ?dbname=" … */
  readonly where: string
  readonly part: ConnectionString.Part
  readonly position?: number | undefined
}

type Values = { -readonly [K in Field]?: Endpoint[K] }

const secretNames = new Set(["password", "sslpassword"])
const isSecretName = (name: string): boolean => secretNames.has(ConnectionString.normalizeKey(name.trim()))

/** The value of `?host=` or `host=`: one host name, IP address or socket directory. */
const readHost = (setting: Setting, secrets: ConnectionString.Secrets): Either.Either<string, Problem> => {
  const value = setting.value
  const at = { part: setting.part, key: "host", position: setting.position }
  if (!isSocketDir(value) && value.includes(",")) {
    return Either.left({
      ...at,
      reason: "Unsupported",
      detail: "several hosts are a libpq feature that node-postgres does not support: give one host"
    })
  }
  const problem = hostProblem(value)
  if (problem !== undefined) {
    return Either.left({
      ...at,
      reason: value === "" ? "Empty" : "Malformed",
      detail: `host ${ConnectionString.quote(value, secrets)} is not a host name, an IP address or the ` +
        `absolute path of a socket directory: ${problem}`
    })
  }
  return Either.right(isSocketDir(value) || value.includes(":") ? value : toAscii(value))
}

/**
 * Keys are words (`application_name`); a "key" with other characters (`user:S3cret`, from a string
 * that is not what it should be) may be a secret, and is neither quoted nor shown.
 */
const isWord = (key: string): boolean => /^[A-Za-z0-9_-]+$/.test(key)

const unknownKey = (setting: Setting, secrets: ConnectionString.Secrets): Problem => {
  const word = isWord(setting.key)
  const shown = word ? ConnectionString.quote(setting.key, secrets) : "(not shown: it is not a word, as keys are)"
  const near = byNormalized.get(ConnectionString.normalizeKey(setting.key))
  const hint = near === undefined
    ? `; the keys are ${accepted.join(", ")} (libpq rejects an unknown key too)`
    : `; the key is written ${near.name} (names are exact, as in libpq)`
  return {
    part: setting.part,
    reason: "Unsupported",
    detail: `unknown key ${shown} in ${label}${hint}`,
    position: setting.position,
    ...(!word || secrets.contains(setting.key) ? {} : { key: setting.key })
  }
}

/**
 * Reads every setting in order: a key libpq and pg both know is decoded into its field, one
 * given twice (in any two places) is refused, an unknown key is refused with a hint.
 */
const readSettings = (
  settings: ReadonlyArray<Setting>,
  secrets: ConnectionString.Secrets
): Either.Either<Values, Problem> => {
  const values: Values = {}
  const seen = new Map<string, Setting>()
  for (const setting of settings) {
    const key = byName.get(setting.key)
    if (key === undefined) return Either.left(unknownKey(setting, secrets))
    const at = { part: setting.part, key: key.name, position: setting.position }
    // libpq reads an empty password as none; so does redial, wherever it is written.
    if (key.name === "password" && setting.value === "") continue
    const before = seen.get(key.name)
    if (before !== undefined) {
      const places = before.where === setting.where
        ? `${setting.where}, twice`
        : `${before.where} and ${setting.where}`
      return Either.left({ ...at, reason: "Malformed", detail: `${key.name} is given more than once (${places})` })
    }
    seen.set(key.name, setting)
    if (key.name === "host") {
      const host = readHost(setting, secrets)
      if (Either.isLeft(host)) return Either.left(host.left)
      values.host = host.right
      continue
    }
    if (key.name === "port" && setting.value.includes(",")) {
      return Either.left({
        ...at,
        reason: "Unsupported",
        detail: "several ports (one per host) are a libpq feature that node-postgres does not support: give one port"
      })
    }
    const decoded = key.decode(setting.value)
    if (Either.isLeft(decoded)) {
      const got = key.secret || decoded.left.reason === "Unsupported"
        ? ""
        : `, got ${ConnectionString.quote(setting.value, secrets)}`
      return Either.left({ ...at, reason: decoded.left.reason, detail: `${decoded.left.detail}${got}` })
    }
    if (key.field !== undefined) (values as Record<string, unknown>)[key.field] = decoded.right
  }
  return Either.right(values)
}

/** What the settings mean together: TLS files need a TLS mode, verify-ca a root certificate … */
const checkTogether = (values: Values, part: ConnectionString.Part): Either.Either<Values, Problem> => {
  const problem = (key: string, detail: string): Either.Either<never, Problem> =>
    Either.left({ part, reason: "Malformed", key, detail })
  const files = (["sslrootcert", "sslcert", "sslkey", "sslpassword"] as const).filter((key) =>
    values[key] !== undefined
  )
  const mode = values.sslmode
  const first = files[0]
  if (first !== undefined && (mode === undefined || mode === "disable")) {
    return problem(
      first,
      `${files.join(", ")} ${files.length === 1 ? "has" : "have"} no effect without TLS: ` +
        "give sslmode=require, verify-ca or verify-full (the default is disable, as in node-postgres)"
    )
  }
  if (mode === "verify-ca" && values.sslrootcert === undefined) {
    return problem(
      "sslmode",
      "sslmode=verify-ca needs sslrootcert: against the system's public CAs it would accept any certificate " +
        "they signed, for any host (use verify-full for a publicly signed server)"
    )
  }
  if (values.sslcert !== undefined && values.sslkey === undefined) {
    return problem("sslcert", "sslcert needs sslkey (the certificate's private key)")
  }
  if (values.sslkey !== undefined && values.sslcert === undefined) {
    return problem("sslkey", "sslkey needs sslcert (the client certificate)")
  }
  if (values.sslpassword !== undefined && values.sslkey === undefined) {
    return problem("sslpassword", "sslpassword (the passphrase of sslkey) needs sslkey")
  }
  if (values.host !== undefined && isSocketDir(values.host)) {
    const path = socketPath(values.host, values.port ?? DEFAULT_PORT)
    if (utf8Length(path) > MAX_SOCKET_PATH_BYTES) {
      return Either.left({
        part,
        reason: "OutOfRange",
        key: "host",
        detail: `the socket path ${ConnectionString.quote(path)} is longer than ${MAX_SOCKET_PATH_BYTES} bytes, ` +
          "the most a Unix socket address holds"
      })
    }
  }
  return Either.right(values)
}

// ---------------------------------------------------------------------------
// URIs
// ---------------------------------------------------------------------------

const schemePrefix = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//

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

/** Where the parts of a URI are, by core's rules (the user info ends at the last "@" of the authority). */
interface Layout {
  readonly authorityStart: number
  readonly authorityEnd: number
  readonly queryStart: number
  /** The "@" ending the user info, or -1. */
  readonly at: number
  readonly hostsStart: number
}

const layoutOf = (input: string): Layout | undefined => {
  const scheme = schemePrefix.exec(input)
  if (scheme === null) return undefined
  const authorityStart = scheme[0].length
  const queryStart = indexIn(input, "?", authorityStart, input.length)
  const authorityEnd = indexIn(input, "/", authorityStart, queryStart)
  const at = lastIndexIn(input, "@", authorityStart, authorityEnd)
  return { authorityStart, authorityEnd, queryStart, at, hostsStart: at === -1 ? authorityStart : at + 1 }
}

/** A part of the input replaced before core parses it: `[start, end)` by `text`. */
interface Edit {
  readonly start: number
  readonly end: number
  readonly text: string
}

const USER_PLACEHOLDER = "u"
const HOST_PLACEHOLDER = "localhost"

/**
 * The parts core's grammar refuses and libpq accepts: an empty user name (`@h`, `:pw@h`) and a
 * host that is empty or a percent-encoded socket directory (`%2Ftmp`). Each is replaced by a
 * placeholder; `host` is what the authority's host really is (`undefined`: none, or several).
 */
const editsOf = (
  input: string,
  layout: Layout
): { readonly edits: ReadonlyArray<Edit>; readonly emptyUser: boolean; readonly socket: string | undefined } => {
  const edits: Array<Edit> = []
  let emptyUser = false
  if (layout.at !== -1 && (layout.at === layout.authorityStart || input[layout.authorityStart] === ":")) {
    emptyUser = true
    edits.push({ start: layout.authorityStart, end: layout.authorityStart, text: USER_PLACEHOLDER })
  }
  let socket: string | undefined
  const { authorityEnd, hostsStart } = layout
  if (input[hostsStart] !== "[" && indexIn(input, ",", hostsStart, authorityEnd) === authorityEnd) {
    const hostEnd = indexIn(input, ":", hostsStart, authorityEnd)
    const host = input.slice(hostsStart, hostEnd)
    if (host === "" || /^%2f/i.test(host)) {
      socket = host
      edits.push({ start: hostsStart, end: hostEnd, text: HOST_PLACEHOLDER })
    }
  }
  return { edits, emptyUser, socket }
}

const applyEdits = (input: string, edits: ReadonlyArray<Edit>): string => {
  let out = ""
  let from = 0
  for (const edit of edits) {
    out += input.slice(from, edit.start) + edit.text
    from = edit.end
  }
  return out + input.slice(from)
}

/** A position in the edited input, as a position in the input. */
const originalPosition = (position: number, edits: ReadonlyArray<Edit>): number => {
  let shift = 0
  for (const edit of edits) {
    const start = edit.start + shift
    if (position < start) break
    if (position < start + edit.text.length) return edit.start
    shift += edit.text.length - (edit.end - edit.start)
  }
  return position - shift
}

/**
 * The password as written in `input`, still percent-encoded, by core's rule: from the first ":"
 * of the user info to the last "@" of the authority; `undefined` when there is none.
 */
const rawPassword = (input: string, layout: Layout | undefined): string | undefined => {
  if (layout === undefined || layout.at === -1) return undefined
  const colon = indexIn(input, ":", layout.authorityStart, layout.at)
  return colon < layout.at ? input.slice(colon + 1, layout.at) : undefined
}

const fromCoreError = (
  error: ConnectionString.ConnectionStringError,
  edits: ReadonlyArray<Edit>
): PgConnectionStringError =>
  new PgConnectionStringError({
    part: error.part,
    reason: error.reason,
    detail: error.detail,
    ...(error.position === undefined ? {} : { position: originalPosition(error.position, edits) }),
    cause: error
  })

const withProblem = (result: Either.Either<Values, Problem>): Either.Either<Values, PgConnectionStringError> =>
  Either.isLeft(result) ? fail(result.left) : Either.right(result.right)

const parseUri = (input: string, layout: Layout): Either.Either<Endpoint, PgConnectionStringError> =>
  Either.gen(function*() {
    const { edits, emptyUser, socket } = editsOf(input, layout)
    const cs = yield* Either.mapLeft(
      ConnectionString.parseEither(applyEdits(input, edits)),
      (error) => fromCoreError(error, edits)
    )
    if (cs.scheme !== "postgres" && cs.scheme !== "postgresql") {
      return yield* fail({
        part: "scheme",
        reason: "Unsupported",
        detail: `unsupported scheme ${ConnectionString.quote(cs.scheme)}; expected postgres:// or postgresql://`,
        position: 0
      })
    }
    const written = rawPassword(input, layout)
    const secrets = ConnectionString.secrets([
      ...Option.toArray(Option.map(cs.password, Redacted.value)),
      ...(written === undefined ? [] : [written]),
      ...cs.params.filter(([name]) => isSecretName(name)).map(([, value]) => value)
    ])
    if (cs.hosts.length > 1) {
      // No host is quoted: without user info, "user:password" reads as "host:port", so a host
      // after the first may be a password (postgres://admin:1234,S3cret).
      return yield* fail({
        part: "host",
        reason: "Unsupported",
        key: "host",
        detail: `several hosts (${cs.hosts.length}) are a libpq feature that node-postgres does not support: ` +
          "give one host",
        position: layout.hostsStart
      })
    }
    const settings: Array<Setting> = []
    const authority = cs.hosts[0]
    if (socket === undefined) {
      settings.push({
        key: "host",
        value: authority.host,
        where: "in the authority",
        part: "host",
        position: layout.hostsStart
      })
    } else if (socket !== "") {
      const dir = ConnectionString.decodeComponent(socket)
      if (Option.isNone(dir)) {
        return yield* fail({
          part: "host",
          reason: "Encoding",
          detail: "malformed percent-escape in the socket directory of the authority",
          position: layout.hostsStart
        })
      }
      settings.push({
        key: "host",
        value: dir.value,
        where: "in the authority",
        part: "host",
        position: layout.hostsStart
      })
    }
    if (Option.isSome(authority.port)) {
      settings.push({ key: "port", value: String(authority.port.value), where: "in the authority", part: "port" })
    }
    if (!emptyUser && Option.isSome(cs.username)) {
      settings.push({ key: "user", value: cs.username.value, where: "in the user info", part: "credentials" })
    }
    if (Option.isSome(cs.password)) {
      settings.push({
        key: "password",
        value: Redacted.value(cs.password.value),
        where: "in the user info",
        part: "credentials"
      })
    }
    if (cs.path.length > 1) {
      settings.push({ key: "dbname", value: cs.path.slice(1), where: "in the path", part: "path" })
    }
    for (const [key, value] of cs.params) {
      settings.push({ key, value, where: `as ?${key}=`, part: "query" })
    }
    const values = yield* withProblem(Either.flatMap(readSettings(settings, secrets), (v) => checkTogether(v, "query")))
    return values as Endpoint
  })

// ---------------------------------------------------------------------------
// Keyword/value strings
// ---------------------------------------------------------------------------

const isSpace = (c: number): boolean => c === 32 || (c >= 9 && c <= 13)

interface Scanned {
  readonly settings: ReadonlyArray<Setting>
  /** Where scanning stopped on a syntax error (the start of the broken setting), or -1. */
  readonly brokenAt: number
  readonly problem: Problem | undefined
}

/**
 * libpq's keyword/value syntax (`conninfo_parse`): `key = value` pairs separated by whitespace; a
 * value in single quotes may hold whitespace; a backslash escapes the next character. A syntax
 * error quotes no text: it may be a password. A key is quoted only when it is one libpq knows.
 */
const scanKeywords = (input: string): Scanned => {
  const settings: Array<Setting> = []
  const n = input.length
  let i = 0
  const broken = (start: number, reason: ConnectionString.Reason, detail: string): Scanned => ({
    settings,
    brokenAt: start,
    problem: { part: "query", reason, detail, position: start }
  })
  const known = (key: string): string => byName.has(key) ? ` ${JSON.stringify(key)}` : ""
  while (i < n) {
    if (isSpace(input.charCodeAt(i))) {
      i++
      continue
    }
    const start = i
    while (i < n && input.charCodeAt(i) !== 61 && !isSpace(input.charCodeAt(i))) i++
    const key = input.slice(start, i)
    while (i < n && isSpace(input.charCodeAt(i))) i++
    if (key === "") return broken(start, "Empty", "a setting has no key before \"=\"")
    if (i === n || input.charCodeAt(i) !== 61) {
      return broken(start, "Malformed", `missing "=" after the key${known(key)} (settings are key=value)`)
    }
    i++
    while (i < n && isSpace(input.charCodeAt(i))) i++
    let value = ""
    if (i < n && input.charCodeAt(i) === 39) {
      i++
      let from = i
      for (;;) {
        if (i === n) return broken(start, "Malformed", `unterminated quoted value of the key${known(key)}`)
        const c = input.charCodeAt(i)
        if (c === 92) {
          value += input.slice(from, i)
          from = i + 1
          i += 2
          if (i > n) i = n
        } else if (c === 39) {
          value += input.slice(from, i)
          i++
          break
        } else {
          i++
        }
      }
    } else {
      let from = i
      while (i < n && !isSpace(input.charCodeAt(i))) {
        if (input.charCodeAt(i) === 92) {
          value += input.slice(from, i)
          from = i + 1
          i += 2
          if (i > n) i = n
        } else {
          i++
        }
      }
      value += input.slice(from, i)
    }
    settings.push({ key, value, where: `as ${key}=`, part: "query", position: start })
  }
  return { settings, brokenAt: -1, problem: undefined }
}

const keywordSecrets = (settings: ReadonlyArray<Setting>): ConnectionString.Secrets =>
  ConnectionString.secrets(settings.filter((s) => isSecretName(s.key)).map((s) => s.value))

const parseKeywords = (input: string): Either.Either<Endpoint, PgConnectionStringError> => {
  const scanned = scanKeywords(input)
  if (scanned.problem !== undefined) return fail(scanned.problem)
  if (scanned.settings.length === 0) {
    return fail({ part: "query", reason: "Empty", detail: "the connection string has no settings", position: 0 })
  }
  const secrets = keywordSecrets(scanned.settings)
  return Either.map(
    withProblem(Either.flatMap(readSettings(scanned.settings, secrets), (v) => checkTogether(v, "query"))),
    (values) => values as Endpoint
  )
}

// ---------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------

/** A string that starts as a URI does (`scheme:`); anything else is read as keyword/value settings. */
const looksLikeUri = (input: string): boolean => /^[A-Za-z][A-Za-z0-9+.-]*:/.test(input)

/** @internal */
export const parseEither = (
  input: string | Redacted.Redacted<string>
): Either.Either<Endpoint, PgConnectionStringError> => {
  // An untyped caller may pass anything: refuse it rather than throw.
  const raw: unknown = typeof input === "string" ? input : Redacted.isRedacted(input) ? Redacted.value(input) : input
  if (typeof raw !== "string") {
    return fail({ part: "scheme", reason: "Malformed", detail: "the connection string is not a string" })
  }
  if (raw.trim() === "") {
    return fail({ part: "scheme", reason: "Empty", detail: "the connection string is empty", position: 0 })
  }
  if (!looksLikeUri(raw)) return parseKeywords(raw)
  const layout = layoutOf(raw)
  if (layout === undefined) {
    // Core says what is wrong with the scheme.
    return Either.flatMap(
      Either.mapLeft(ConnectionString.parseEither(raw), (error) => fromCoreError(error, [])),
      () => fail({ part: "scheme", reason: "Malformed", detail: "expected postgres://", position: 0 })
    )
  }
  return parseUri(raw, layout)
}

/** @internal */
export const parse = (input: string | Redacted.Redacted<string>): Effect.Effect<Endpoint, PgConnectionStringError> =>
  Effect.suspend(() => parseEither(input))

// ---------------------------------------------------------------------------
// Printing
// ---------------------------------------------------------------------------

const encode = ConnectionString.encodeComponent

const seconds = (d: Duration.Duration): string => Duration.isFinite(d) ? String(Duration.toSeconds(d)) : "0"
const millis = (d: Duration.Duration): string => String(Duration.toMillis(d))

/** The keys an endpoint prints, in order, with their values as text; `secret` marks the secrets. */
const queryOf = (
  self: Endpoint
): ReadonlyArray<readonly [string, string | Redacted.Redacted<string> | undefined]> => [
  ["sslmode", self.sslmode],
  ["sslrootcert", self.sslrootcert],
  ["sslcert", self.sslcert],
  ["sslkey", self.sslkey],
  ["sslpassword", self.sslpassword],
  ["application_name", self.applicationName],
  ["fallback_application_name", self.fallbackApplicationName],
  ["options", self.options],
  ["connect_timeout", self.connectTimeout === undefined ? undefined : seconds(self.connectTimeout)],
  ["keepalives", self.keepAlive === undefined ? undefined : self.keepAlive ? "1" : "0"],
  ["keepalives_idle", self.keepAliveInitialDelay === undefined ? undefined : seconds(self.keepAliveInitialDelay)],
  ["client_encoding", self.clientEncoding],
  ["statement_timeout", self.statementTimeout === undefined ? undefined : millis(self.statementTimeout)],
  ["lock_timeout", self.lockTimeout === undefined ? undefined : millis(self.lockTimeout)],
  [
    "idle_in_transaction_session_timeout",
    self.idleInTransactionSessionTimeout === undefined ? undefined : millis(self.idleInTransactionSessionTimeout)
  ],
  ["query_timeout", self.queryTimeout === undefined ? undefined : millis(self.queryTimeout)]
]

/**
 * How a printer shows each text: `secret` a secret value, `text` any other (a user name, a host,
 * a value), already percent-encoded.
 */
interface Shown {
  readonly secret: (value: Redacted.Redacted<string>) => string
  readonly text: (value: string) => string
}

/** The secrets as `***`, and any other text that holds one too (a password copied into the database name). */
const masked = (self: Endpoint): Shown => {
  const secrets = ConnectionString.secrets([
    ...(self.password === undefined ? [] : [Redacted.value(self.password)]),
    ...(self.sslpassword === undefined ? [] : [Redacted.value(self.sslpassword)])
  ])
  return { secret: () => "***", text: (value) => secrets.contains(value) ? "***" : encode(value) }
}

const clear: Shown = { secret: (value) => encode(Redacted.value(value)), text: (value) => encode(value) }

/** `host[:port]` of the authority: a socket directory percent-encoded, an IPv6 address in brackets. */
const authorityOf = (self: Endpoint, shown: Shown): string => {
  const host = self.host === undefined
    ? ""
    : isSocketDir(self.host)
    ? shown.text(self.host)
    : shown.text(self.host) === "***"
    ? "***"
    : self.host.includes(":")
    ? `[${self.host.replace(/%/g, "%25")}]`
    : self.host
  return `${host}${self.port === undefined ? "" : `:${self.port}`}`
}

const print = (self: Endpoint, shown: Shown): string => {
  const password = self.password === undefined ? "" : `:${shown.secret(self.password)}`
  const user = self.user === undefined && self.password === undefined
    ? ""
    : `${self.user === undefined ? "" : shown.text(self.user)}${password}@`
  const path = self.database === undefined ? "" : `/${shown.text(self.database)}`
  const query = queryOf(self).flatMap(([name, value]) =>
    value === undefined ? [] : [`${name}=${typeof value === "string" ? shown.text(value) : shown.secret(value)}`]
  )
  return `postgres://${user}${authorityOf(self, shown)}${path}${query.length === 0 ? "" : `?${query.join("&")}`}`
}

/** @internal */
export const format = (self: Endpoint): string => print(self, masked(self))

/** Prints the secrets in clear, for `Schema` encoding: decoding the result gives the endpoint back. @internal */
export const unsafeFormat = (self: Endpoint): string => print(self, clear)

/** @internal */
export const describe = (self: Endpoint): string => {
  const shown = masked(self)
  return `postgres://${authorityOf(self, shown)}${self.database === undefined ? "" : `/${shown.text(self.database)}`}`
}

// ---------------------------------------------------------------------------
// Conversions
// ---------------------------------------------------------------------------

const readFile = (
  key: "sslrootcert" | "sslcert" | "sslkey",
  path: string
): Effect.Effect<Buffer, PgSslFileError> =>
  Effect.tryPromise({
    try: (signal) => fs.readFile(path, { signal }),
    catch: (error) => {
      const code = typeof error === "object" && error !== null && "code" in error && typeof error.code === "string"
        ? error.code
        : undefined
      return new PgSslFileError({
        key,
        path,
        ...(code === undefined ? {} : { code }),
        detail: `${ConnectionString.quote(path)}: ${code ?? "the file could not be read"}`
      })
    }
  })

const defined = <A extends Record<string, unknown>>(record: A): A =>
  Object.fromEntries(Object.entries(record).filter(([, value]) => value !== undefined)) as A

/** @internal */
export const toConnectOptions = (self: Endpoint): Effect.Effect<PgDriver.ConnectOptions, PgSslFileError> =>
  Effect.gen(function*() {
    const [ca, cert, key] = yield* Effect.all([
      self.sslrootcert === undefined ? Effect.succeed(undefined) : readFile("sslrootcert", self.sslrootcert),
      self.sslcert === undefined ? Effect.succeed(undefined) : readFile("sslcert", self.sslcert),
      self.sslkey === undefined ? Effect.succeed(undefined) : readFile("sslkey", self.sslkey)
    ], { concurrency: "unbounded" })
    const tls: PgDriver.Tls = defined({
      ca,
      cert,
      key: key === undefined ? undefined : Redacted.make(key),
      passphrase: self.sslpassword
    })
    return defined({
      host: self.host,
      port: self.port,
      database: self.database,
      user: self.user,
      password: self.password,
      sslmode: self.sslmode,
      tls: Object.keys(tls).length === 0 ? undefined : tls,
      applicationName: self.applicationName ?? self.fallbackApplicationName,
      options: self.options,
      keepAlive: self.keepAlive,
      keepAliveInitialDelay: self.keepAliveInitialDelay,
      statementTimeout: self.statementTimeout,
      lockTimeout: self.lockTimeout,
      idleInTransactionSessionTimeout: self.idleInTransactionSessionTimeout
    }) satisfies PgDriver.ConnectOptions
  })

/** @internal */
export const toPoolOptions = (self: Endpoint): Effect.Effect<PgPool.Options, PgSslFileError> =>
  Effect.map(toConnectOptions(self), (connect) =>
    defined({
      connect,
      connectTimeout: self.connectTimeout,
      queryTimeout: self.queryTimeout === undefined || Duration.isZero(self.queryTimeout)
        ? undefined
        : self.queryTimeout
    }))

// ---------------------------------------------------------------------------
// Merging a URL with explicit options (PgPool.layerConfig)
// ---------------------------------------------------------------------------

const conflict = (option: string): InvalidOption =>
  new InvalidOption({
    option,
    reason: "Conflict",
    detail: "is set by url too: give each setting once, in the URL or as an option"
  })

/**
 * The pool's options with `url` read into them. A setting given both by the URL and by its own
 * option is an `InvalidOption` (`Conflict`) naming the option: neither silently wins.
 *
 * @internal
 */
export const resolveUrl = (
  options: PgPool.ConfigOptions
): Effect.Effect<PgPool.Options, PgConnectionStringError | PgSslFileError | InvalidOption> =>
  Effect.gen(function*() {
    const { url: input, ...rest } = options
    if (input === undefined) return rest
    const endpoint = yield* parse(input)
    const fromUrl = yield* toPoolOptions(endpoint)
    const connect = fromUrl.connect ?? {}
    const explicit = rest.connect ?? {}
    for (const key of Object.keys(connect) as Array<keyof PgDriver.ConnectOptions>) {
      if (key === "tls" || explicit[key] === undefined) continue
      return yield* conflict(`connect.${key}`)
    }
    const tls = connect.tls ?? {}
    const explicitTls = explicit.tls ?? {}
    for (const key of Object.keys(tls) as Array<keyof PgDriver.Tls>) {
      if (explicitTls[key] !== undefined) return yield* conflict(`connect.tls.${key}`)
    }
    if (fromUrl.connectTimeout !== undefined && rest.connectTimeout !== undefined) {
      return yield* conflict("connectTimeout")
    }
    if (fromUrl.queryTimeout !== undefined && rest.queryTimeout !== undefined) {
      return yield* conflict("queryTimeout")
    }
    const mergedTls = { ...tls, ...defined({ ...explicitTls }) }
    return {
      ...defined({ connectTimeout: fromUrl.connectTimeout, queryTimeout: fromUrl.queryTimeout }),
      ...rest,
      connect: {
        ...connect,
        ...defined({ ...explicit }),
        ...(Object.keys(mergedTls).length === 0 ? {} : { tls: mergedTls })
      }
    }
  })

// ---------------------------------------------------------------------------
// Schema and Config
// ---------------------------------------------------------------------------

/** A keyword/value string as an issue may hold it: secret values and whatever follows a syntax error masked. */
const redactKeywords = (input: string): string => {
  const scanned = scanKeywords(input)
  const secrets = keywordSecrets(scanned.settings)
  const quoteValue = (value: string): string => {
    let plain = value !== ""
    let out = ""
    let from = 0
    for (let i = 0; i < value.length; i++) {
      const c = value.charCodeAt(i)
      if (isSpace(c)) plain = false
      if (c === 39 || c === 92) {
        plain = false
        out += `${value.slice(from, i)}\\`
        from = i
      }
    }
    return plain ? value : `'${out}${value.slice(from)}'`
  }
  const shown = scanned.settings.map((s) =>
    isWord(s.key) && !secrets.contains(s.key)
      ? `${s.key}=${isSecretName(s.key) || secrets.contains(s.value) ? "***" : quoteValue(s.value)}`
      : "***"
  )
  if (scanned.brokenAt !== -1) shown.push("***")
  return shown.join(" ")
}

/**
 * Where the text that may be a password starts when a URI has no user info: the first ":" of the
 * authority, unless a "[" comes first (an IPv6 address). Core's rule.
 */
const suspectColon = (input: string, layout: Layout): number => {
  if (layout.at !== -1) return -1
  const colon = indexIn(input, ":", layout.authorityStart, layout.authorityEnd)
  return colon < layout.authorityEnd && indexIn(input, "[", layout.authorityStart, colon) === colon ? colon : -1
}

/**
 * A URI that core's grammar reads once its empty user name and host are given placeholders,
 * printed back with every secret (the password, the values of `password` and `sslpassword`), and
 * every part that holds one, as `***`; `undefined` when core cannot read it.
 */
const printRedacted = (input: string, layout: Layout): string | undefined => {
  const { edits, emptyUser, socket } = editsOf(input, layout)
  const parsed = ConnectionString.parseEither(applyEdits(input, edits))
  if (Either.isLeft(parsed)) return undefined
  const cs = parsed.right
  const written = rawPassword(input, layout)
  const secrets = ConnectionString.secrets([
    ...Option.toArray(Option.map(cs.password, Redacted.value)),
    ...(written === undefined ? [] : [written, encode(written)]),
    ...cs.params.filter(([name]) => isSecretName(name)).map(([, value]) => value)
  ])
  const shown = (text: string): string => secrets.contains(text) ? "***" : encode(text)
  const user = emptyUser || Option.isNone(cs.username) ? "" : shown(cs.username.value)
  const userInfo = Option.isSome(cs.password) ? `${user}:***@` : user === "" && !emptyUser ? "" : `${user}@`
  const hosts = cs.hosts.map(({ host, port }, i) => {
    const name = i === 0 && socket !== undefined
      ? socket === "" ? "" : shown(Option.getOrElse(ConnectionString.decodeComponent(socket), () => socket))
      : secrets.contains(host)
      ? "***"
      : host.includes(":")
      ? `[${host.replace(/%/g, "%25")}]`
      : host
    return Option.isSome(port) ? `${name}:${port.value}` : name
  })
  const path = cs.path === "" ? "" : `/${shown(cs.path.slice(1))}`
  const params = cs.params.map(([key, value]) => `${shown(key)}=${isSecretName(key) ? "***" : shown(value)}`)
  return `${cs.scheme}://${userInfo}${hosts.join(",")}${path}${params.length === 0 ? "" : `?${params.join("&")}`}`
}

/**
 * A URI as a parse issue holds it: core's redaction, with the password as written masked in
 * every form (raw, decoded, and each percent-encoded). Without user info, a string that fails on
 * its host may be `user:password` missing its `@host`: then everything after the authority's
 * first ":" is masked.
 */
const redactUri = (input: string): string => {
  const layout = layoutOf(input)
  // "scheme:" without "//": not a URI at all ("user:password@host" lacking its scheme).
  if (layout === undefined) return `${input.slice(0, indexIn(input, ":", 0, input.length) + 1)}***`
  const colon = suspectColon(input, layout)
  if (colon !== -1) {
    const result = parseEither(input)
    if (Either.isLeft(result) && (result.left.part === "host" || result.left.part === "port")) {
      return `${input.slice(0, colon + 1)}***`
    }
  }
  const printed = printRedacted(input, layout)
  if (printed !== undefined) return printed
  const shown = ConnectionString.redact(input)
  const written = rawPassword(input, layout)
  if (written === undefined) return shown
  const decoded = Option.getOrElse(ConnectionString.decodeComponent(written), () => written)
  const secrets = ConnectionString.secrets([written, encode(written), decoded, encode(decoded)])
  // A segment of the path or query that decodes to a text holding the password (`%25` for a "%"
  // of the written password) is masked whole.
  const holds = (segment: string): boolean =>
    secrets.contains(segment) ||
    secrets.contains(Option.getOrElse(ConnectionString.decodeComponent(segment), () => segment))
  const masked = secrets.mask(shown)
  const query = masked.indexOf("?")
  const [head, tail] = query === -1 ? [masked, undefined] : [masked.slice(0, query), masked.slice(query + 1)]
  const slash = head.indexOf("/", head.indexOf("://") + 3)
  const path = slash === -1
    ? head
    : `${head.slice(0, slash)}${holds(head.slice(slash + 1)) ? "/***" : head.slice(slash)}`
  if (tail === undefined) return path
  return `${path}?${tail.split("&").map((segment) => holds(segment) ? "***" : segment).join("&")}`
}

/** @internal */
export const redact = (input: string): string => looksLikeUri(input) ? redactUri(input) : redactKeywords(input)

/** @internal */
export const FromString: Schema.Schema<Endpoint, string> = ConnectionString.makeFromString({
  identifier: "PgEndpointFromString",
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
