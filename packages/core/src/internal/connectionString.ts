import * as Arr from "effect/Array"
import type * as Config from "effect/Config"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { dual } from "effect/Function"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import { RedialError } from "../Errors.js"
import * as Params from "./connectionString/params.js"
import * as schema from "./connectionString/schema.js"
import * as Secrets from "./connectionString/secrets.js"
import * as text from "./connectionString/text.js"

// ---------------------------------------------------------------------------
// Models
// ---------------------------------------------------------------------------

/** @internal */
export type Part = "scheme" | "credentials" | "host" | "port" | "path" | "query"

/** @internal */
export type Reason = "Empty" | "Malformed" | "InvalidCharacter" | "Encoding" | "OutOfRange" | "Unsupported"

/** @internal */
export class ConnectionStringError extends RedialError("ConnectionStringError")<{
  readonly part: Part
  readonly reason: Reason
  readonly detail: string
  readonly position?: number
}> {
  override get message(): string {
    const where = this.position === undefined ? "" : ` (at position ${this.position})`
    return `Invalid connection string: ${this.detail}${where}`
  }
}

/** @internal */
export const Port = Schema.Int.pipe(Schema.between(1, 65535))

/** @internal */
export const Host = Schema.Struct({
  host: Schema.NonEmptyString,
  port: Schema.OptionFromSelf(Port)
})

/** @internal */
export type Host = Schema.Schema.Type<typeof Host>

/** @internal */
export class ConnectionString extends Schema.Class<ConnectionString>("ConnectionString")({
  scheme: Schema.String.pipe(Schema.pattern(/^[a-z][a-z0-9+.-]*$/)),
  username: Schema.OptionFromSelf(Schema.NonEmptyString),
  password: Schema.OptionFromSelf(Schema.RedactedFromSelf(Schema.String)),
  hosts: Schema.NonEmptyArray(Host),
  path: Schema.String.pipe(Schema.filter((path) => path === "" || path.startsWith("/"), {
    message: () => "a path is empty or starts with \"/\""
  })),
  params: Schema.Array(Schema.Tuple(Schema.String, Schema.String))
}) {
  /** Prints the connection string with the password replaced by `***`. */
  override toString(): string {
    return format(this)
  }
}

// ---------------------------------------------------------------------------
// Scanner
// ---------------------------------------------------------------------------

const fail = (
  part: Part,
  reason: Reason,
  detail: string,
  position: number
): Either.Either<never, ConnectionStringError> =>
  Either.left(new ConnectionStringError({ part, reason, detail, position }))

const isAlpha = (c: number): boolean => (c >= 65 && c <= 90) || (c >= 97 && c <= 122)
const isDigit = (c: number): boolean => c >= 48 && c <= 57
const isSchemeChar = (c: number): boolean => isAlpha(c) || isDigit(c) || c === 43 || c === 45 || c === 46

/** Characters never allowed in a host name (besides whitespace and control characters). */
const hostDelimiters = "/?#@[]\\%,:\"<>^`{|}"

const isHostChar = (input: string, i: number): boolean => {
  const c = input.charCodeAt(i)
  if (c <= 0x20 || c === 0x7f || text.isLoneSurrogate(input, i)) return false
  if (c < 0x80) return !hostDelimiters.includes(input.charAt(i))
  return !/\s/u.test(input.charAt(i))
}

/**
 * Decodes one part, turning a failure into a `ConnectionStringError`. A
 * `secret` part never has its text quoted in the message.
 */
const decodePart = (
  input: string,
  start: number,
  end: number,
  part: Part,
  what: string,
  secret: boolean
): Either.Either<string, ConnectionStringError> =>
  Either.orElse(text.decode(input, start, end), (failure) => {
    switch (failure.kind) {
      case "escape":
        return fail(
          part,
          "Encoding",
          `malformed percent-escape${
            secret ? "" : ` ${text.quote(failure.text)}`
          } in ${what} (expected "%" and two hex digits)`,
          failure.position
        )
      case "utf8":
        return fail(
          part,
          "Encoding",
          `percent-escapes${secret ? "" : ` ${text.quote(failure.text)}`} in ${what} are not valid UTF-8`,
          failure.position
        )
      case "char":
        return fail(
          part,
          "InvalidCharacter",
          `${what} contains a control character or an unpaired surrogate`,
          failure.position
        )
    }
  })

const indexIn = text.indexIn
const quote = text.quote

/** The end of a valid scheme at the start of `input` (its length), or 0. */
const schemeEnd = (input: string): number => {
  let i = 0
  while (i < input.length && isSchemeChar(input.charCodeAt(i)) && (i > 0 || isAlpha(input.charCodeAt(i)))) i++
  return i
}

const scanScheme = (input: string): Either.Either<string, ConnectionStringError> => {
  if (input.length === 0) return fail("scheme", "Empty", "the connection string is empty", 0)
  const i = schemeEnd(input)
  if (input.startsWith("://", i)) {
    return i === 0 ? fail("scheme", "Empty", "the scheme before \"://\" is empty", 0) : Either.right(input.slice(0, i))
  }
  // The scheme text is quoted only when it stops at ":", so it can never reach into a password.
  if (i > 0 && input[i] === ":") {
    return fail("scheme", "Malformed", `expected "://" after the scheme ${quote(input.slice(0, i))}`, i)
  }
  if (input.includes("://")) {
    return fail(
      "scheme",
      "InvalidCharacter",
      "invalid character in the scheme (a scheme is a letter followed by letters, digits, \"+\", \"-\" or \".\")",
      i
    )
  }
  return fail("scheme", "Malformed", "missing the scheme (expected \"scheme://\" at the start)", 0)
}

const scanCredentials = (
  input: string,
  start: number,
  at: number
): Either.Either<{ readonly username: string; readonly password: Option.Option<string> }, ConnectionStringError> => {
  const colon = indexIn(input, ":", start, at)
  if (colon === start) return fail("credentials", "Empty", "the user name before \"@\" is empty", start)
  return Either.all({
    username: decodePart(input, start, colon, "credentials", "the user name", false),
    password: colon === at
      ? Either.right(Option.none())
      : Either.map(decodePart(input, colon + 1, at, "credentials", "the password", true), Option.some)
  })
}

/** Loose IPv6 check; returns the address with its zone (`%25eth0`) decoded. */
const scanIPv6 = (literal: string): Option.Option<string> => {
  const percent = literal.indexOf("%")
  const address = percent === -1 ? literal : literal.slice(0, percent)
  const validAddress = /^[0-9A-Fa-f:.]+$/.test(address) && address.includes(":") && !address.includes(":::") &&
    address.indexOf("::") === address.lastIndexOf("::")
  if (!validAddress) return Option.none()
  if (percent === -1) return Option.some(address)
  const zone = literal.slice(percent)
  return /^%25[A-Za-z0-9._~-]+$/.test(zone) ? Option.some(`${address}%${zone.slice(3)}`) : Option.none()
}

/**
 * Without user info, `user:password` reads as `host:port`, so text after the first ":" of the
 * authority may be a password (`esdb://admin:S3cret` lacks its `@host`). Messages quote no text
 * from `secretFrom` on.
 */
interface Authority {
  readonly input: string
  readonly secretFrom: number
  readonly count: number
}

const notShown = "(not shown: without \"@host\", \"user:password\" reads as \"host:port\", so it may be a password)"

const shown = (authority: Authority, end: number): boolean => end <= authority.secretFrom

const hostName = (authority: Authority, index: number): string =>
  authority.count === 1 ? "the host" : `host ${index + 1} of ${authority.count}`

const scanPort = (
  authority: Authority,
  start: number,
  end: number,
  host: string
): Either.Either<Option.Option<number>, ConnectionStringError> => {
  const input = authority.input
  if (start === end) return fail("port", "Empty", `the port of ${host} is empty`, start)
  const visible = shown(authority, end)
  let digits = true
  for (let i = start; i < end && digits; i++) digits = isDigit(input.charCodeAt(i))
  // A number that long is out of range whatever it is; do not build it.
  const port = digits && end - start <= 5 ? Number(input.slice(start, end)) : Infinity
  if (!digits) {
    return fail(
      "port",
      "Malformed",
      visible
        ? `port ${quote(input.slice(start, end))} of ${host} is not a number`
        : `the port of ${host} is not a number ${notShown}`,
      start
    )
  }
  if (port < 1 || port > 65535) {
    return fail(
      "port",
      "OutOfRange",
      visible
        ? `port ${quote(input.slice(start, end))} of ${host} is out of range 1-65535`
        : `the port of ${host} is out of range 1-65535 ${notShown}`,
      start
    )
  }
  return Either.right(Option.some(port))
}

const scanHost = (
  authority: Authority,
  start: number,
  end: number,
  index: number
): Either.Either<Host, ConnectionStringError> => {
  const input = authority.input
  if (start === end) {
    return fail(
      "host",
      "Empty",
      authority.count === 1 ? "the host is empty" : `host ${index + 1} of ${authority.count} is empty`,
      start
    )
  }
  const entry = () => shown(authority, end) ? `host ${quote(input.slice(start, end))}` : hostName(authority, index)
  if (input.charCodeAt(start) === 91) {
    const close = indexIn(input, "]", start, end)
    if (close === end) return fail("host", "Malformed", `unclosed "[" in ${entry()}`, start)
    const address = scanIPv6(input.slice(start + 1, close))
    if (Option.isNone(address)) {
      return fail(
        "host",
        "Malformed",
        shown(authority, close + 1)
          ? `invalid IPv6 address ${quote(input.slice(start, close + 1))}`
          : `invalid IPv6 address in ${hostName(authority, index)}`,
        start + 1
      )
    }
    if (close + 1 === end) return Either.right({ host: address.value, port: Option.none() })
    if (input.charCodeAt(close + 1) !== 58) {
      return fail("host", "Malformed", `unexpected characters after "]" in ${entry()}`, close + 1)
    }
    const label = shown(authority, close + 1)
      ? `host ${quote(input.slice(start, close + 1))}`
      : hostName(authority, index)
    return Either.map(scanPort(authority, close + 2, end, label), (port) => ({ host: address.value, port }))
  }
  const colon = indexIn(input, ":", start, end)
  if (colon < end && indexIn(input, ":", colon + 1, end) < end) {
    return fail(
      "host",
      "Malformed",
      `${entry()} has more than one ":" (an IPv6 address must be in brackets, e.g. [::1]:5432)`,
      start
    )
  }
  if (colon === start) {
    return fail(
      "host",
      "Empty",
      shown(authority, end)
        ? `the host name before port ${quote(input.slice(colon + 1, end))} is empty`
        : `the host name before the port is empty ${notShown}`,
      start
    )
  }
  const visible = shown(authority, colon)
  for (let i = start; i < colon; i++) {
    if (!isHostChar(input, i)) {
      return fail(
        "host",
        "InvalidCharacter",
        visible
          ? `invalid character ${quote(input.charAt(i))} in host ${quote(input.slice(start, colon))}`
          : `invalid character in ${hostName(authority, index)} ${notShown}`,
        i
      )
    }
  }
  const host = input.slice(start, colon)
  if (colon === end) return Either.right({ host, port: Option.none() })
  const label = visible ? `host ${quote(host)}` : hostName(authority, index)
  return Either.map(scanPort(authority, colon + 1, end, label), (port) => ({ host, port }))
}

const scanHosts = (
  input: string,
  start: number,
  end: number,
  secretFrom: number
): Either.Either<Arr.NonEmptyReadonlyArray<Host>, ConnectionStringError> => {
  const authority: Authority = { input, secretFrom, count: text.countIn(input, ",", start, end) + 1 }
  const hosts: Array<Host> = []
  let from = start
  for (let index = 0; index < authority.count; index++) {
    const to = indexIn(input, ",", from, end)
    const host = scanHost(authority, from, to, index)
    if (Either.isLeft(host)) return Either.left(host.left)
    hosts.push(host.right)
    from = to + 1
  }
  return Arr.isNonEmptyReadonlyArray(hosts) ? Either.right(hosts) : fail("host", "Empty", "the host is empty", start)
}

const scanQuery = (
  input: string,
  start: number
): Either.Either<ReadonlyArray<readonly [string, string]>, ConnectionStringError> => {
  const params: Array<readonly [string, string]> = []
  let from = start
  let n = 0
  while (from <= input.length) {
    const to = indexIn(input, "&", from, input.length)
    if (to > from) {
      n++
      const eq = indexIn(input, "=", from, to)
      if (eq === from) return fail("query", "Empty", `query parameter ${n} has an empty name`, from)
      const at = indexIn(input, "@", from, eq)
      if (at < eq) {
        // Most likely the rest of a password holding a raw "?": do not quote it.
        return fail(
          "query",
          "Malformed",
          `unescaped "@" in the name of query parameter ${n}: percent-encode "?" in the password as %3F, ` +
            "or \"@\" in the name as %40",
          at
        )
      }
      const key = decodePart(input, from, eq, "query", `the name of query parameter ${n}`, false)
      if (Either.isLeft(key)) return Either.left(key.left)
      const value = eq === to
        ? Either.right("")
        : decodePart(input, eq + 1, to, "query", `the value of query parameter ${quote(key.right)}`, true)
      if (Either.isLeft(value)) return Either.left(value.left)
      params.push([key.right, value.right])
    }
    from = to + 1
  }
  return Either.right(params)
}

/** The last "@" in `input[start, end)`, or -1. */
const lastIndexIn = (input: string, char: string, start: number, end: number): number => {
  const code = char.charCodeAt(0)
  for (let i = end - 1; i >= start; i--) {
    if (input.charCodeAt(i) === code) return i
  }
  return -1
}

/**
 * Where the text that may be a password starts when a string has no user info: the first ":"
 * of the authority, unless a "[" comes first (an IPv6 address, which no user name starts).
 */
const suspectColon = (input: string, start: number, end: number): number => {
  const colon = indexIn(input, ":", start, end)
  return colon < end && indexIn(input, "[", start, colon) === colon ? colon : -1
}

/**
 * The error with every quoted part (the prose is ours) that holds a secret, or a piece of one
 * (a quote cut at 64 characters), shown as `"***"`.
 */
const maskError = (error: ConnectionStringError, secrets: ReadonlyArray<string>): ConnectionStringError => {
  const detail = error.detail.replace(/"(?:[^"\\]|\\.)*"/g, (quoted) => {
    let inner: unknown
    try {
      inner = JSON.parse(quoted)
    } catch {
      return "\"***\""
    }
    const body = typeof inner === "string" && inner.endsWith("…") ? inner.slice(0, -1) : String(inner)
    const holds = secrets.some((secret) =>
      secret.length > 0 && (body.includes(secret) || (body.length >= 3 && secret.includes(body)))
    )
    return holds ? "\"***\"" : quoted
  })
  if (detail === error.detail) return error
  return new ConnectionStringError(
    error.position === undefined
      ? { part: error.part, reason: error.reason, detail }
      : { part: error.part, reason: error.reason, detail, position: error.position }
  )
}

/** @internal */
export const parseEither = (input: string): Either.Either<ConnectionString, ConnectionStringError> =>
  Either.gen(function*() {
    const scheme = yield* scanScheme(input)
    const authorityStart = scheme.length + 3
    const queryStart = indexIn(input, "?", authorityStart, input.length)
    const authorityEnd = indexIn(input, "/", authorityStart, queryStart)
    // The user info ends at the last "@" of the authority, so a password may hold a raw "@" (not "/" or "?").
    const at = lastIndexIn(input, "@", authorityStart, authorityEnd)

    // A raw "@" in the path most likely ends a password holding a raw "/" (or "@" and "/"): refuse to guess.
    const strayAt = indexIn(input, "@", authorityEnd, queryStart)
    if (strayAt < queryStart) {
      return yield* fail(
        "path",
        "Malformed",
        "unescaped \"@\" in the path: percent-encode \"@\", \"/\" and \"?\" in the user name and password, " +
          "and \"@\" in the path as %40",
        strayAt
      )
    }

    const credentials = at === -1 ? undefined : yield* scanCredentials(input, authorityStart, at)
    const hostsStart = at === -1 ? authorityStart : at + 1
    const colon = at === -1 ? suspectColon(input, authorityStart, authorityEnd) : -1
    const secretFrom = colon === -1 ? Infinity : colon + 1
    // A password typed where a host, port, path or option belongs (`u:S3cret@h:S3cret`) would be
    // quoted by the messages below: mask it, as written and as decoded.
    const secretTexts = credentials === undefined || Option.isNone(credentials.password)
      ? []
      : [input.slice(indexIn(input, ":", authorityStart, at) + 1, at), credentials.password.value]
    const masked = <A>(result: Either.Either<A, ConnectionStringError>): Either.Either<A, ConnectionStringError> =>
      secretTexts.length === 0 ? result : Either.mapLeft(result, (error) => maskError(error, secretTexts))
    const hosts = yield* masked(Either.orElse(scanHosts(input, hostsStart, authorityEnd, secretFrom), (error) =>
      // Without user info, a password holding a raw "?" puts the host and the password's start in
      // the authority; never quote that text when an "@" follows.
      at === -1 && indexIn(input, "@", authorityEnd, input.length) < input.length
        ? fail(
          "credentials",
          "Malformed",
          `invalid ${error.part} (not shown: an "@" follows, so it may hold part of a password); ` +
            "percent-encode \"/\" and \"?\" in the user name and password",
          hostsStart
        )
        : Either.left(error)))
    const path = yield* masked(decodePart(input, authorityEnd, queryStart, "path", "the path", false))
    const params = queryStart === input.length ? [] : yield* masked(scanQuery(input, queryStart + 1))

    return new ConnectionString({
      scheme: scheme.toLowerCase(),
      username: credentials === undefined ? Option.none() : Option.some(credentials.username),
      password: credentials === undefined ? Option.none() : Option.map(credentials.password, Redacted.make),
      hosts,
      path,
      params
    }, { disableValidation: true })
  })

/** @internal */
export const parse = (input: string): Effect.Effect<ConnectionString, ConnectionStringError> =>
  Effect.suspend(() => parseEither(input))

// ---------------------------------------------------------------------------
// Printing
// ---------------------------------------------------------------------------

/** Percent-encodes everything but unreserved characters. Never throws. @internal */
export const encode = text.encode

const print = (
  self: ConnectionString,
  password: (secret: Redacted.Redacted<string>) => string,
  value: (key: string, value: string) => string
): string => {
  const user = Option.match(self.username, {
    onNone: () => Option.isSome(self.password) ? `:${password(self.password.value)}@` : "",
    onSome: (username) =>
      `${encode(username)}${Option.match(self.password, { onNone: () => "", onSome: (p) => `:${password(p)}` })}@`
  })
  const query = self.params.length === 0
    ? ""
    : `?${self.params.map(([key, text]) => `${encode(key)}=${value(key, text)}`).join("&")}`
  // The path is read as one name (a database, a virtual host), so a "/" after the first is printed as %2F.
  const path = self.path === "" ? "" : `/${encode(self.path.slice(1))}`
  return `${self.scheme}://${user}${
    self.hosts.map(({ host, port }) => text.formatHost(host, port)).join(",")
  }${path}${query}`
}

/** @internal */
export const format = (self: ConnectionString): string =>
  print(self, () => "***", (key, value) => isDefaultSecretParam(key) ? "***" : encode(value))

/** @internal */
export const unsafeFormat = (self: ConnectionString): string =>
  print(self, (secret) => encode(Redacted.value(secret)), (_, value) => encode(value))

// ---------------------------------------------------------------------------
// Secrets and redaction
// ---------------------------------------------------------------------------

/** @internal */
export const defaultSecretParams: ReadonlyArray<string> = [
  "password",
  "passwd",
  "pwd",
  "secret",
  "clientSecret",
  "token",
  "accessToken",
  "apiKey",
  "sslPassword",
  "certificatePassword"
]

/**
 * A test for the names of secret parameters, compared with `normalizeKey`. Whitespace around a
 * name is ignored: ` apiKey ` is still a secret's name, whatever a reader then makes of it.
 */
const secretParamTest = (names: Iterable<string> | undefined): (name: string) => boolean => {
  const set = new Set(Array.from(names ?? defaultSecretParams, text.normalizeKey))
  return (name) => set.has(text.normalizeKey(name.trim()))
}

const isDefaultSecretParam = secretParamTest(undefined)

/** @internal */
export interface SecretOptions {
  readonly secretParams?: Iterable<string> | undefined
}

/** @internal */
export const secretsOf = (self: ConnectionString, options?: SecretOptions): Secrets.Secrets => {
  const isSecret = secretParamTest(options?.secretParams)
  const values = self.params.filter(([key]) => isSecret(key)).map(([, value]) => value)
  return Secrets.make([...Option.toArray(Option.map(self.password, Redacted.value)), ...values])
}

/** A parsed string printed back with every secret, and every text that holds one, as `***`. */
/**
 * The password as the input wrote it (percent-escapes and all), when it has one: another value
 * that decodes to this text (`?x=S3c%257a` for the password `S3c%7a`) shows the password as
 * written, and must be masked too.
 */
const writtenPassword = (input: string): ReadonlyArray<string> => {
  const start = input.indexOf("://")
  if (start < 0) return []
  const rest = input.slice(start + 3)
  const end = rest.search(/[/?#]/)
  const authority = end < 0 ? rest : rest.slice(0, end)
  const at = authority.lastIndexOf("@")
  const colon = at < 0 ? -1 : authority.indexOf(":")
  return colon < 0 || colon > at ? [] : [authority.slice(colon + 1, at)]
}

const printRedacted = (
  cs: ConnectionString,
  isSecret: (name: string) => boolean,
  written: ReadonlyArray<string> = []
): string => {
  const values = cs.params.filter(([key]) => isSecret(key)).map(([, value]) => value)
  const password = Option.map(cs.password, Redacted.value)
  const secrets = Secrets.make([
    ...Option.toArray(password),
    ...(Option.isSome(password) ? written : []),
    ...values
  ])
  const shown = (part: string) => secrets.contains(part) ? "***" : encode(part)
  const user = Option.match(cs.username, {
    onNone: () => Option.isSome(cs.password) ? ":***@" : "",
    onSome: (name) => `${shown(name)}${Option.isSome(cs.password) ? ":***" : ""}@`
  })
  const hosts = cs.hosts.map(({ host, port }) => secrets.contains(host) ? "***" : text.formatHost(host, port))
  const path = cs.path === "" ? "" : secrets.contains(cs.path) ? "/***" : `/${encode(cs.path.slice(1))}`
  const params = cs.params.map(([key, value]) => `${shown(key)}=${isSecret(key) ? "***" : shown(value)}`)
  return `${cs.scheme}://${user}${hosts.join(",")}${path}${params.length === 0 ? "" : `?${params.join("&")}`}`
}

const tryDecode = (raw: string): string => Option.getOrElse(text.decodeComponent(raw), () => raw)

/**
 * An input that does not parse, with whatever may be a secret masked. A password lies after a
 * ":" and before an "@", however the input is read, so:
 *
 * - with an "@" in the authority, the text from its first ":" to the last "@" (the password,
 *   exactly); with one after a "/" or "?", everything after the scheme: the password may hold
 *   those, and nothing tells where it ends;
 * - without one, when the authority is what is wrong, everything after its first ":": it may be
 *   `user:password` without its `@host`;
 * - the values of secret parameters;
 * - and each of these texts again wherever else it appears, raw, decoded or encoded.
 */
const redactUnparsed = (input: string, error: ConnectionStringError, isSecret: (name: string) => boolean): string => {
  const end = schemeEnd(input)
  const authorityStart = end > 0 && input.startsWith("://", end) ? end + 3 : 0
  const at = lastIndexIn(input, "@", 0, input.length)
  if (at === -1) {
    if (authorityStart === 0) {
      // No authority to tell apart: "admin:S3cret" may be a password's neighbourhood.
      if (indexIn(input, ":", 0, input.length) < input.length) return "***"
    } else if (error.part === "host" || error.part === "port") {
      const queryStart = indexIn(input, "?", authorityStart, input.length)
      const colon = suspectColon(input, authorityStart, indexIn(input, "/", authorityStart, queryStart))
      if (colon !== -1) return `${input.slice(0, colon + 1)}***`
    }
  }
  const queryStart = indexIn(input, "?", authorityStart, input.length)
  const authorityEnd = indexIn(input, "/", authorityStart, queryStart)
  if (at >= authorityEnd) return `${input.slice(0, authorityStart)}***`
  // Stretches to mask, [start, end) in order of their start.
  const stretches: Array<readonly [number, number]> = []
  let from = queryStart + 1
  while (from <= input.length) {
    const to = indexIn(input, "&", from, input.length)
    const eq = indexIn(input, "=", from, to)
    if (eq < to && isSecret(tryDecode(input.slice(from, eq)))) stretches.push([eq + 1, to])
    from = to + 1
  }
  if (at !== -1) {
    // Before the query, so before every other stretch.
    const colon = indexIn(input, ":", authorityStart, at)
    if (colon < at) stretches.unshift([colon + 1, at])
  }
  const found: Array<string> = []
  let masked = ""
  let shownFrom = 0
  for (const [start, stop] of stretches) {
    if (stop <= shownFrom) continue
    const begin = Math.max(start, shownFrom)
    found.push(input.slice(begin, stop))
    masked += `${input.slice(shownFrom, begin)}${begin === shownFrom && masked.endsWith("***") ? "" : "***"}`
    shownFrom = stop
  }
  masked += input.slice(shownFrom)
  return Secrets.make(found.flatMap((raw) => {
    const decoded = tryDecode(raw)
    // as written, decoded, and either encoded once more (another value that decodes to it)
    return [raw, decoded, encode(decoded), encode(raw)]
  })).mask(masked)
}

/** @internal */
export const redact = (input: string, options?: SecretOptions): string => {
  const isSecret = secretParamTest(options?.secretParams)
  const parsed = parseEither(input)
  return Either.isRight(parsed)
    ? printRedacted(parsed.right, isSecret, writtenPassword(input))
    : redactUnparsed(input, parsed.left, isSecret)
}

/** @internal */
export const redactInput = (input: string): string => redact(input)

// ---------------------------------------------------------------------------
// Schema and Config
// ---------------------------------------------------------------------------

/** @internal */
export const FromString: Schema.Schema<ConnectionString, string> = schema.fromString({
  identifier: "ConnectionStringFromString",
  to: ConnectionString,
  decode: parseEither,
  encode: unsafeFormat,
  redact: redactInput
})

/** @internal */
export const config = (name: string): Config.Config<ConnectionString> => Schema.Config(name, FromString)

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/** @internal */
export const normalizeKey = text.normalizeKey

/** @internal */
export const params: {
  (key: string): (self: ConnectionString) => ReadonlyArray<string>
  (self: ConnectionString, key: string): ReadonlyArray<string>
} = dual(2, (self: ConnectionString, key: string): ReadonlyArray<string> => {
  const wanted = normalizeKey(key)
  return self.params.filter(([k]) => normalizeKey(k) === wanted).map(([, value]) => value)
})

/** @internal */
export const param: {
  (key: string): (self: ConnectionString) => Option.Option<string>
  (self: ConnectionString, key: string): Option.Option<string>
} = dual(2, (self: ConnectionString, key: string): Option.Option<string> => Arr.last(params(self, key)))

/** @internal */
export const withDefaultPort: {
  (port: number): (self: ConnectionString) => ConnectionString
  (self: ConnectionString, port: number): ConnectionString
} = dual(2, (self: ConnectionString, port: number): ConnectionString => {
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new RangeError(`withDefaultPort: a port is an integer in 1-65535, got ${port}`)
  }
  return new ConnectionString({
    ...self,
    hosts: Arr.map(self.hosts, (host) => Option.isSome(host.port) ? host : { host: host.host, port: Option.some(port) })
  }, { disableValidation: true })
})

// ---------------------------------------------------------------------------
// Shared with the adapters
// ---------------------------------------------------------------------------

/** @internal */
export const decodeComponent = text.decodeComponent

/** @internal */
export const makeSecrets = Secrets.make

/** @internal */
export const quoteText = (value: string, secrets?: Secrets.Secrets): string =>
  secrets === undefined ? text.quote(value) : Secrets.quoteUnlessSecret(value, secrets)

/** @internal */
export const readParams = <P extends Record<string, Params.Param<unknown>>>(
  self: ConnectionString,
  spec: P,
  options: { readonly label: string; readonly secrets?: Secrets.Secrets | undefined }
): Either.Either<Params.ParamValues<P>, Params.ParamError> =>
  Params.readParams(self.params, spec, { label: options.label, secrets: options.secrets ?? secretsOf(self) })

/** @internal */
export const makeFromString = schema.fromString
