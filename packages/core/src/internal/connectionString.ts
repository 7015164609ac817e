import * as Arr from "effect/Array"
import type * as Config from "effect/Config"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { dual } from "effect/Function"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"

// ---------------------------------------------------------------------------
// Models
// ---------------------------------------------------------------------------

/** @internal */
export type Part = "scheme" | "credentials" | "host" | "port" | "path" | "query"

/** @internal */
export class ConnectionStringError extends Data.TaggedError("ConnectionStringError")<{
  readonly part: Part
  readonly reason: string
  readonly position?: number
}> {
  override get message(): string {
    const where = this.position === undefined ? "" : ` (at position ${this.position})`
    return `Invalid connection string: ${this.reason}${where}`
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

const fail = (part: Part, reason: string, position: number): Either.Either<never, ConnectionStringError> =>
  Either.left(new ConnectionStringError({ part, reason, position }))

const quote = (text: string): string => JSON.stringify(text)

const isAlpha = (c: number): boolean => (c >= 65 && c <= 90) || (c >= 97 && c <= 122)
const isDigit = (c: number): boolean => c >= 48 && c <= 57
const isHex = (c: number): boolean => isDigit(c) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102)
const isSchemeChar = (c: number): boolean => isAlpha(c) || isDigit(c) || c === 43 || c === 45 || c === 46
const isControl = (c: number): boolean => c < 0x20 || c === 0x7f

/** A UTF-16 code unit at `i` that is half of a surrogate pair with its other half missing. */
const isLoneSurrogate = (input: string, i: number): boolean => {
  const c = input.charCodeAt(i)
  if (c >= 0xd800 && c <= 0xdbff) {
    const next = input.charCodeAt(i + 1)
    return !(next >= 0xdc00 && next <= 0xdfff)
  }
  if (c >= 0xdc00 && c <= 0xdfff) {
    const previous = input.charCodeAt(i - 1)
    return !(previous >= 0xd800 && previous <= 0xdbff)
  }
  return false
}

/** Characters never allowed in a host name (besides whitespace and control characters). */
const hostDelimiters = "/?#@[]\\%,:\"<>^`{|}"

const isHostChar = (input: string, i: number): boolean => {
  const c = input.charCodeAt(i)
  if (c <= 0x20 || c === 0x7f || isLoneSurrogate(input, i)) return false
  if (c < 0x80) return !hostDelimiters.includes(input.charAt(i))
  return !/\s/u.test(input.charAt(i))
}

interface DecodeFailure {
  readonly kind: "escape" | "utf8" | "char"
  readonly position: number
  readonly text: string
}

/**
 * Percent-decodes `input[start, end)`. `+` stays a literal `+`. Raw control
 * characters and unpaired surrogates are rejected, so every decoded value can
 * be printed back exactly.
 */
const decode = (input: string, start: number, end: number): Either.Either<string, DecodeFailure> => {
  let out = ""
  let i = start
  while (i < end) {
    const c = input.charCodeAt(i)
    if (c === 37) {
      // Decode a whole run of escapes at once: one character may span several bytes.
      const run = i
      while (i < end && input.charCodeAt(i) === 37) {
        if (i + 3 > end || !isHex(input.charCodeAt(i + 1)) || !isHex(input.charCodeAt(i + 2))) {
          return Either.left({ kind: "escape", position: i, text: input.slice(i, Math.min(i + 3, end)) })
        }
        i += 3
      }
      try {
        out += decodeURIComponent(input.slice(run, i))
      } catch {
        return Either.left({ kind: "utf8", position: run, text: input.slice(run, i) })
      }
    } else if (isControl(c) || isLoneSurrogate(input, i)) {
      return Either.left({ kind: "char", position: i, text: input.charAt(i) })
    } else {
      out += input.charAt(i)
      i++
    }
  }
  return Either.right(out)
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
  Either.orElse(decode(input, start, end), (failure) => {
    switch (failure.kind) {
      case "escape":
        return fail(
          part,
          `malformed percent-escape${
            secret ? "" : ` ${quote(failure.text)}`
          } in ${what} (expected "%" and two hex digits)`,
          failure.position
        )
      case "utf8":
        return fail(
          part,
          `percent-escapes${secret ? "" : ` ${quote(failure.text)}`} in ${what} are not valid UTF-8`,
          failure.position
        )
      case "char":
        return fail(part, `${what} contains a control character or an unpaired surrogate`, failure.position)
    }
  })

/** Index of the first `char` in `input[start, end)`, or `end`. */
const indexIn = (input: string, char: string, start: number, end: number): number => {
  const i = input.indexOf(char, start)
  return i === -1 || i > end ? end : i
}

const scanScheme = (input: string): Either.Either<string, ConnectionStringError> => {
  if (input.length === 0) return fail("scheme", "the connection string is empty", 0)
  let i = 0
  while (i < input.length && isSchemeChar(input.charCodeAt(i)) && (i > 0 || isAlpha(input.charCodeAt(i)))) i++
  if (input.startsWith("://", i)) {
    return i === 0 ? fail("scheme", "the scheme before \"://\" is empty", 0) : Either.right(input.slice(0, i))
  }
  // The scheme text is quoted only when it stops at ":", so it can never reach into a password.
  if (i > 0 && input[i] === ":") {
    return fail("scheme", `expected "://" after the scheme ${quote(input.slice(0, i))}`, i)
  }
  if (input.includes("://")) {
    return fail(
      "scheme",
      "invalid character in the scheme (a scheme is a letter followed by letters, digits, \"+\", \"-\" or \".\")",
      i
    )
  }
  return fail("scheme", "missing the scheme (expected \"scheme://\" at the start)", 0)
}

const scanCredentials = (
  input: string,
  start: number,
  at: number
): Either.Either<{ readonly username: string; readonly password: Option.Option<string> }, ConnectionStringError> => {
  const colon = indexIn(input, ":", start, at)
  if (colon === start) return fail("credentials", "the user name before \"@\" is empty", start)
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

const scanPort = (
  input: string,
  start: number,
  end: number,
  host: string
): Either.Either<Option.Option<number>, ConnectionStringError> => {
  const text = input.slice(start, end)
  if (text === "") return fail("port", `the port of host ${quote(host)} is empty`, start)
  if (!/^[0-9]+$/.test(text)) return fail("port", `port ${quote(text)} of host ${quote(host)} is not a number`, start)
  const port = Number(text)
  if (port < 1 || port > 65535) {
    return fail("port", `port ${quote(text)} of host ${quote(host)} is out of range 1-65535`, start)
  }
  return Either.right(Option.some(port))
}

const scanHost = (
  input: string,
  start: number,
  end: number,
  index: number,
  count: number
): Either.Either<Host, ConnectionStringError> => {
  if (start === end) {
    return fail("host", count === 1 ? "the host is empty" : `host ${index + 1} of ${count} is empty`, start)
  }
  const entry = input.slice(start, end)
  if (input[start] === "[") {
    const close = indexIn(input, "]", start, end)
    if (close === end) return fail("host", `unclosed "[" in host ${quote(entry)}`, start)
    const bracketed = input.slice(start, close + 1)
    const address = scanIPv6(input.slice(start + 1, close))
    if (Option.isNone(address)) return fail("host", `invalid IPv6 address ${quote(bracketed)}`, start + 1)
    if (close + 1 === end) return Either.right({ host: address.value, port: Option.none() })
    if (input[close + 1] !== ":") {
      return fail("host", `unexpected characters after "]" in host ${quote(entry)}`, close + 1)
    }
    return Either.map(scanPort(input, close + 2, end, bracketed), (port) => ({ host: address.value, port }))
  }
  const colon = indexIn(input, ":", start, end)
  if (colon < end && indexIn(input, ":", colon + 1, end) < end) {
    return fail(
      "host",
      `host ${quote(entry)} has more than one ":" (an IPv6 address must be in brackets, e.g. [::1]:5432)`,
      start
    )
  }
  const host = input.slice(start, colon)
  if (host === "") {
    return fail("host", `the host name before port ${quote(input.slice(colon + 1, end))} is empty`, start)
  }
  for (let i = start; i < colon; i++) {
    if (!isHostChar(input, i)) {
      return fail("host", `invalid character ${quote(input.charAt(i))} in host ${quote(host)}`, i)
    }
  }
  if (colon === end) return Either.right({ host, port: Option.none() })
  return Either.map(scanPort(input, colon + 1, end, host), (port) => ({ host, port }))
}

const scanHosts = (
  input: string,
  start: number,
  end: number
): Either.Either<Arr.NonEmptyReadonlyArray<Host>, ConnectionStringError> => {
  const count = input.slice(start, end).split(",").length
  const hosts: Array<Host> = []
  let from = start
  for (let index = 0; index < count; index++) {
    const to = indexIn(input, ",", from, end)
    const host = scanHost(input, from, to, index, count)
    if (Either.isLeft(host)) return Either.left(host.left)
    hosts.push(host.right)
    from = to + 1
  }
  return Arr.isNonEmptyReadonlyArray(hosts) ? Either.right(hosts) : fail("host", "the host is empty", start)
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
      if (eq === from) return fail("query", `query parameter ${n} has an empty name`, from)
      const at = indexIn(input, "@", from, eq)
      if (at < eq) {
        // Most likely the rest of a password holding a raw "?": do not quote it.
        return fail(
          "query",
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

/** @internal */
export const parseEither = (input: string): Either.Either<ConnectionString, ConnectionStringError> =>
  Either.gen(function*() {
    const scheme = yield* scanScheme(input)
    const authorityStart = scheme.length + 3
    const queryStart = indexIn(input, "?", authorityStart, input.length)
    const authorityEnd = indexIn(input, "/", authorityStart, queryStart)
    // The user info ends at the last "@" of the authority, so a password may hold a raw "@" (not "/" or "?").
    const lastAt = input.lastIndexOf("@", authorityEnd - 1)
    const at = lastAt >= authorityStart ? lastAt : -1

    // A raw "@" in the path most likely ends a password holding a raw "/" (or "@" and "/"): refuse to guess.
    const strayAt = indexIn(input, "@", authorityEnd, queryStart)
    if (strayAt < queryStart) {
      return yield* fail(
        "path",
        "unescaped \"@\" in the path: percent-encode \"@\", \"/\" and \"?\" in the user name and password, " +
          "and \"@\" in the path as %40",
        strayAt
      )
    }

    const credentials = at === -1 ? undefined : yield* scanCredentials(input, authorityStart, at)
    const hostsStart = at === -1 ? authorityStart : at + 1
    const hosts = yield* Either.orElse(scanHosts(input, hostsStart, authorityEnd), (error) =>
      // Without user info, a password holding a raw "?" puts the host and the password's start in
      // the authority; never quote that text when an "@" follows.
      at === -1 && input.indexOf("@", authorityEnd) !== -1
        ? fail(
          "credentials",
          `invalid ${error.part} (not shown: an "@" follows, so it may hold part of a password); ` +
            "percent-encode \"/\" and \"?\" in the user name and password",
          hostsStart
        )
        : Either.left(error))
    const path = yield* decodePart(input, authorityEnd, queryStart, "path", "the path", false)
    const params = queryStart === input.length ? [] : yield* scanQuery(input, queryStart + 1)

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

const unreserved = /^[A-Za-z0-9\-._~]$/

/** Percent-encodes everything but unreserved characters. Never throws. @internal */
export const encode = (text: string): string => {
  let out = ""
  for (const char of text) {
    if (unreserved.test(char)) {
      out += char
    } else {
      const code = char.codePointAt(0) ?? 0
      // An unpaired surrogate has no UTF-8 form (encodeURIComponent throws): print U+FFFD.
      out += code >= 0xd800 && code <= 0xdfff ? "%EF%BF%BD" : encodeURIComponent(char)
    }
  }
  return out
}

const formatHost = ({ host, port }: Host): string => {
  const name = host.includes(":") ? `[${host.replace(/%/g, "%25")}]` : host
  return Option.isSome(port) ? `${name}:${port.value}` : name
}

const print = (self: ConnectionString, password: (secret: Redacted.Redacted<string>) => string): string => {
  const user = Option.match(self.username, {
    onNone: () => Option.isSome(self.password) ? `:${password(self.password.value)}@` : "",
    onSome: (username) =>
      `${encode(username)}${Option.match(self.password, { onNone: () => "", onSome: (p) => `:${password(p)}` })}@`
  })
  const query = self.params.length === 0
    ? ""
    : `?${self.params.map(([key, value]) => `${encode(key)}=${encode(value)}`).join("&")}`
  // The path is read as one name (a database, a virtual host), so a "/" after the first is printed as %2F.
  const path = self.path === "" ? "" : `/${encode(self.path.slice(1))}`
  return `${self.scheme}://${user}${self.hosts.map(formatHost).join(",")}${path}${query}`
}

/** @internal */
export const format = (self: ConnectionString): string => print(self, () => "***")

/** @internal */
export const unsafeFormat = (self: ConnectionString): string => print(self, (secret) => encode(Redacted.value(secret)))

/**
 * Masks everything that could be a password in a raw input: the text from the
 * first ":" after "://" to the last "@". Whatever way the input is read, a
 * password lies inside that span.
 *
 * @internal
 */
export const redactInput = (input: string): string => {
  const separator = input.indexOf("://")
  const start = separator === -1 ? 0 : separator + 3
  const at = input.lastIndexOf("@")
  if (at < start) return input
  const colon = input.indexOf(":", start)
  return colon === -1 || colon > at ? input : `${input.slice(0, colon + 1)}***${input.slice(at)}`
}

// ---------------------------------------------------------------------------
// Schema and Config
// ---------------------------------------------------------------------------

/** @internal */
export const FromString: Schema.Schema<ConnectionString, string> = Schema.transformOrFail(
  Schema.String,
  Schema.typeSchema(ConnectionString),
  {
    strict: true,
    decode: (input, _, ast) =>
      Either.mapLeft(parseEither(input), (error) => new ParseResult.Type(ast, redactInput(input), error.message)),
    encode: (self) => ParseResult.succeed(unsafeFormat(self))
  }
).annotations({ identifier: "ConnectionStringFromString" })

/** @internal */
export const config = (name: string): Config.Config<ConnectionString> => Schema.Config(name, FromString)

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/** @internal */
export const normalizeKey = (key: string): string => key.replace(/[-_]/g, "").toLowerCase()

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
