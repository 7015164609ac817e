import { describe, expect, it } from "@effect/vitest"
import { Cause, ConfigProvider, Effect, Either, FastCheck as fc, Option, ParseResult, Schema } from "effect"
import * as util from "node:util"
import * as ConnectionString from "../src/ConnectionString.js"

/** Every way an error (or a value) may end up in a log or a response. */
const shown = (value: unknown): ReadonlyArray<string> => {
  const texts = [String(value), util.inspect(value, { depth: null }), JSON.stringify(value) ?? ""]
  if (value instanceof Error) texts.push(value.message, Cause.pretty(Cause.fail(value)))
  if (ParseResult.isParseError(value)) {
    texts.push(JSON.stringify(value.issue), util.inspect(value.issue, { depth: null }))
    texts.push(ParseResult.TreeFormatter.formatErrorSync(value))
    texts.push(JSON.stringify(ParseResult.ArrayFormatter.formatErrorSync(value)))
  }
  return texts
}

/** Everything any entry point says about `input`: results, errors, parse issues, config errors. */
const everything = (input: string): ReadonlyArray<string> => {
  const parsed = ConnectionString.parseEither(input)
  const decoded = Schema.decodeUnknownEither(ConnectionString.FromString)(input)
  const configured = Effect.runSync(
    Effect.either(ConnectionString.config("URL")).pipe(
      Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["URL", input]])))
    )
  )
  return [
    ...shown(Either.isLeft(parsed) ? parsed.left : ConnectionString.format(parsed.right)),
    ...(Either.isLeft(decoded) ? shown(decoded.left) : []),
    ...(Either.isLeft(configured) ? shown(configured.left) : []),
    ConnectionString.redact(input)
  ]
}

describe("ConnectionString: a user:password without @host is never shown", () => {
  it.each([
    "amqp://guest:S3cret",
    "postgres://u:S3cret",
    "postgres://u:S3cret/db",
    "postgres://u:S3cret?sslmode=require",
    "postgres://u:S3cret,db2",
    "postgres://u:S3:cret",
    "postgres://u:S3 cret",
    "postgres://u:S3cret]",
    "postgres://:S3cret",
    "postgres://u:99999S3cret",
    "postgres://h1,u:S3cret",
    "postgres://u:x,S3cret host",
    "postgres://u:x,[S3cret",
    "postgres://u:x,S3cret::1",
    "u:S3cret",
    "u:S3cret@",
    "postgres://u:S3cret@h:bad?x=S3cret",
    "postgres://u:S3c/ret@h",
    "postgres://u:S3c?ret@h",
    "postgres://h?password=S3cret&x=%zz&y=S3cret",
    "postgres://h?token=S3cr%65t&x=%zz&y=S3cret"
  ])("%s", (input) => {
    const texts = everything(input)
    expect(texts.length).toBeGreaterThan(0)
    for (const text of texts) expect(text).not.toContain("S3cr")
  })

  it.each([
    "postgres://u:S3cret@h:S3cret",
    "postgres://u:S3cret@h:1,S3cret:x",
    "postgres://u:S3cret@[S3cret]",
    "amqp://u:S3cret@h/%zzS3cret",
    "postgres://u:S3cret@h?x=%zzS3cret",
    "postgres://u:S3c%72et@h:S3c%72et",
    "postgres://u:S3c%72et@h:S3cret",
    `postgres://u:S3cret${"x".repeat(80)}@h:S3cret${"x".repeat(80)}`,
    `postgres://u:S3c%22ret@h:S3c"ret`
  ])("a password typed where a host, port, path or option belongs is masked: %s", (input) => {
    const texts = everything(input)
    expect(Either.isLeft(ConnectionString.parseEither(input))).toBe(true)
    for (const text of texts) {
      expect(text).not.toContain("S3cr")
      expect(text).not.toContain("S3c%72")
    }
  })

  it("the parse issue of FromString holds the input redacted, in every node", () => {
    const result = Schema.decodeUnknownEither(ConnectionString.FromString)("amqp://guest:S3cret")
    const error = Either.getLeft(result).pipe(Option.getOrThrow)
    expect(error.issue.actual).toBe("amqp://guest:***")
    expect(error.message).toContain("the port of host \"guest\" is not a number (not shown")
  })

  it("with @host, the same port is quoted: it cannot be a password", () => {
    const error = Either.getLeft(ConnectionString.parseEither("amqp://guest:pw@h:S3x")).pipe(Option.getOrThrow)
    expect(error.reason).toBe("Malformed")
    expect(error.detail).toBe("port \"S3x\" of host \"h\" is not a number")
  })

  // Secrets start with "Zq9", which nothing else generated contains; no "@" (it would make them credentials
  // of a valid string, "u:Zq9@host"), and not a number (a password of digits reads as a valid port).
  const secret = fc.string({
    unit: fc.constantFrom("a", "B", "7", ":", "/", "?", "&", "=", "%", "#", " ", "é", "+", ",", "[", "]", "\u{1F600}"),
    maxLength: 8
  }).map((s) => `Zq9${s}`)
  // What follows the secret starts with a delimiter, so that the secret is all of the password; no "@"
  // anywhere: the secret is the password of a user:password that lacks its "@host".
  const piece = fc.tuple(
    fc.constantFrom("", "/", ",", " ", ":", "]"),
    fc.string({
      // No "?", "&" or "=": they would rename the secret options of the tail ("??token" is not "token").
      unit: fc.constantFrom("a", "0", ":", "/", "%", "%zz", "[", "]", ",", " ", "\ud800"),
      maxLength: 6
    })
  ).map(([delimiter, rest]) => delimiter === "" ? "" : `${delimiter}${rest}`)
  const malformed = fc.tuple(
    fc.constantFrom("amqp://", "postgres://", "esdb://", "", "x:"),
    fc.constantFrom("", "guest", "u", "h1,u"),
    secret,
    piece,
    fc.constantFrom("", "?token=Zq9k", "?password=Zq9p&x=%zz", "/db", ",h2", "?a=b")
  ).map(([scheme, user, secret, rest, tail]) => `${scheme}${user}:${secret}${rest}${tail}`)

  it.prop("no output for a malformed string holds a secret typed into it", [malformed], ([input]) => {
    for (const text of everything(input)) expect(text).not.toContain("Zq9")
  }, { fastCheck: { numRuns: 1000 } })
})

describe("ConnectionString: parsing never throws", () => {
  const entryPoints = (input: string): void => {
    const parsed = ConnectionString.parseEither(input)
    if (Either.isRight(parsed)) {
      ConnectionString.format(parsed.right)
      Schema.encodeSync(ConnectionString.FromString)(parsed.right)
    }
    expect(Either.isEither(Schema.decodeUnknownEither(ConnectionString.FromString)(input))).toBe(true)
    expect(typeof ConnectionString.redact(input)).toBe("string")
  }
  const lone = fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c))

  it.prop("for any string", [fc.oneof(fc.string({ unit: "binary" }), fc.string({ unit: lone }))], ([input]) => {
    entryPoints(input)
    entryPoints(`amqp://u:p@h/${input}?${input}=${input}&token=${input}`)
    entryPoints(`amqp://${input}`)
  }, { fastCheck: { numRuns: 500 } })

  it.prop(
    "for huge strings",
    [fc.tuple(
      fc.string({ unit: lone, minLength: 1, maxLength: 8 }),
      fc.constantFrom("amqp://", "amqp://u:p@h?k=", "")
    )],
    ([[unit, prefix]]) => {
      entryPoints(`${prefix}${unit.repeat(Math.ceil(200_000 / unit.length))}`)
    },
    { fastCheck: { numRuns: 20 } }
  )

  it("on a lone surrogate in a secret option or the password", () => {
    for (
      const input of ["amqp://h?token=\ud800", "amqp://u:\udc00@h", "amqp://h?token=%ED%A0%80&x=%zz", "amqp://u:\ud800"]
    ) {
      entryPoints(input)
    }
  })
})

describe("ConnectionString: the helpers the adapters share", () => {
  it("encodeComponent and decodeComponent round-trip, and never throw", () => {
    expect(ConnectionString.encodeComponent("a b/é!\u{1F600}")).toBe("a%20b%2F%C3%A9%21%F0%9F%98%80")
    expect(ConnectionString.encodeComponent("\ud800")).toBe("%EF%BF%BD")
    expect(ConnectionString.decodeComponent("a%20b+c")).toEqual(Option.some("a b+c"))
    expect(ConnectionString.decodeComponent("%zz")).toEqual(Option.none())
    expect(ConnectionString.decodeComponent("%ED%A0%80")).toEqual(Option.none())
    expect(ConnectionString.decodeComponent("\ud800")).toEqual(Option.none())
  })

  it.prop(
    "encodeComponent agrees with encodeURIComponent on every well-formed string",
    [fc.string({ unit: "binary" })],
    ([s]) => {
      expect(ConnectionString.decodeComponent(ConnectionString.encodeComponent(s))).toEqual(Option.some(s))
      expect(decodeURIComponent(ConnectionString.encodeComponent(s))).toBe(s)
    }
  )

  it("Secrets find and mask any of many secrets in one pass", () => {
    const secrets = ConnectionString.secrets(["hunter2", "", "ter", "s3cret", "s3cret"])
    expect(secrets.size).toBe(3)
    expect(secrets.contains("a hunter2 b")).toBe(true)
    expect(secrets.contains("xtery")).toBe(true)
    expect(secrets.contains("hunte")).toBe(false)
    expect(secrets.mask("a hunter2 b s3cret ters")).toBe("a *** b *** ***s")
    expect(secrets.mask("s3cres3cret")).toBe("s3cre***")
    expect(ConnectionString.secrets([]).mask("x")).toBe("x")
  })

  it.prop(
    "Secrets.contains agrees with includes",
    [
      fc.array(fc.string({ minLength: 1, maxLength: 4, unit: fc.constantFrom("a", "b", "c") }), { maxLength: 6 }),
      fc.string({ maxLength: 30, unit: fc.constantFrom("a", "b", "c") })
    ],
    ([list, text]) => {
      const secrets = ConnectionString.secrets(list)
      expect(secrets.contains(text)).toBe(list.some((s) => text.includes(s)))
      const masked = secrets.mask(text)
      for (const s of list) expect(masked).not.toContain(s)
    }
  )

  it("quote quotes, cuts long texts, and hides a text that holds a secret", () => {
    const secrets = ConnectionString.secrets(["hunter2"])
    expect(ConnectionString.quote("node1")).toBe("\"node1\"")
    expect(ConnectionString.quote("my-hunter2", secrets)).toBe(
      "a value that contains a secret of this string (not shown)"
    )
    expect(ConnectionString.quote("x".repeat(100))).toBe(`"${"x".repeat(64)}…" (100 characters)`)
  })

  it("secretsOf holds the password and the values of secret options", () => {
    const cs = Either.getOrThrow(ConnectionString.parseEither("amqp://u:pw@h?Access_Token=tk&apiKey=ak&x=1"))
    const secrets = ConnectionString.secretsOf(cs)
    expect(["pw", "tk", "ak"].every((s) => secrets.contains(s))).toBe(true)
    expect(secrets.contains("1")).toBe(false)
    expect(ConnectionString.secretsOf(cs, { secretParams: ["x"] }).contains("1")).toBe(true)
  })

  it("redact masks the password, secret options and every text holding them", () => {
    expect(ConnectionString.redact("amqp://guest:s3cret@h?token=t0k")).toBe("amqp://guest:***@h?token=***")
    expect(ConnectionString.redact("amqp://guest:s3cret")).toBe("amqp://guest:***")
    expect(ConnectionString.redact("amqp://u:pw@h/pw?x=apw")).toBe("amqp://u:***@h/***?x=***")
    // the password as written (with a needless escape) in a value that decodes to it
    expect(ConnectionString.redact("amqp://u:S3c%7a@h?x=S3c%257a")).toBe("amqp://u:***@h?x=***")
    expect(ConnectionString.redact("amqp://:S3c%7a@h?x=S3c%257a")).toBe("amqp://:***@h?x=***")
    expect(ConnectionString.redact("amqp://h?key=K1&x=%zz&y=K1", { secretParams: ["key"] })).toBe(
      "amqp://h?key=***&x=%zz&y=***"
    )
    expect(ConnectionString.redact("amqp://h:0/a%zz")).toBe("amqp://h:***")
    expect(ConnectionString.redact("amqp://[::1]:0/a")).toBe("amqp://[::1]:0/a")
  })

  it("a secret option's name with whitespace around it is still a secret's name", () => {
    expect(ConnectionString.redact("amqp://h?%20token%20=t0k&x=1")).toBe("amqp://h?%20token%20=***&x=1")
    expect(ConnectionString.redact("amqp://h? apiKey\t=k3y&x=%zz")).not.toContain("k3y")
    const cs = Either.getOrThrow(ConnectionString.parseEither("amqp://h?%20password=pw"))
    expect(ConnectionString.secretsOf(cs).contains("pw")).toBe(true)
  })

  const spec = {
    heartbeat: ConnectionString.integerParam("heartbeat", { min: 0, max: 3600 }),
    tls: ConnectionString.booleanParam("tls"),
    mode: ConnectionString.literalParam("mode", ["read_only", "read_write"], { normalize: true }),
    name: ConnectionString.nonEmptyParam("name", { what: "name" }),
    token: ConnectionString.nonEmptyParam("token", { what: "token", secret: true })
  }
  const read = (input: string) =>
    ConnectionString.readParams(Either.getOrThrow(ConnectionString.parseEither(input)), spec, { label: "an AMQP URL" })

  it("readParams reads typed options, names compared with normalizeKey, the last one winning", () => {
    expect(read("amqp://h?heart_beat=10&TLS=false&Mode=ReadOnly&mode=READ-WRITE&name=x")).toEqual(
      Either.right({ heartbeat: 10, tls: false, mode: "read_write", name: "x" })
    )
    expect(read("amqp://h")).toEqual(Either.right({}))
  })

  it("readParams refuses an unknown name or an invalid value, and never quotes a secret", () => {
    const unknown = Either.getLeft(read("amqp://h?hartbeat=1")).pipe(Option.getOrThrow)
    expect(unknown).toBeInstanceOf(ConnectionString.ParamError)
    expect(unknown).toMatchObject({ _tag: "ParamError", reason: "UnknownKey", key: "hartbeat" })
    expect(unknown.message).toBe(
      "Invalid connection string: unknown option \"hartbeat\" in an AMQP URL; the options are heartbeat, tls, mode, name, " +
        "token (names ignore case, \"_\" and \"-\")"
    )
    expect(Either.getLeft(read("amqp://h?heartbeat=3601")).pipe(Option.getOrThrow)).toMatchObject({
      reason: "InvalidValue",
      key: "heartbeat",
      detail: "heartbeat must be a whole number in 0-3600, got \"3601\""
    })
    const secret = Either.getLeft(read("amqp://u:pw@h?token=&name=xpwx")).pipe(Option.getOrThrow)
    expect(secret.detail).toBe("token must be a non-empty token (the value is a secret and is not shown)")
    const misplaced = Either.getLeft(read("amqp://u:pw@h?heartbeat=pw")).pipe(Option.getOrThrow)
    expect(misplaced.detail).not.toContain("pw\"")
    const named = Either.getLeft(read("amqp://u:pw@h?pw=1")).pipe(Option.getOrThrow)
    expect(named.key).toBeUndefined()
    expect(named.message).not.toContain("\"pw\"")
  })

  it("makeFromString: issues hold the redacted input; typeSchema and encodedSchema are its two sides", () => {
    const Url = ConnectionString.makeFromString({
      identifier: "Url",
      to: ConnectionString.ConnectionString,
      decode: ConnectionString.parseEither,
      encode: (cs) => Schema.encodeSync(ConnectionString.FromString)(cs),
      redact: (input) => ConnectionString.redact(input)
    })
    const cs = Schema.decodeUnknownSync(Url)("amqp://u:pw@h")
    expect(Schema.encodeSync(Url)(cs)).toBe("amqp://u:pw@h")
    expect(Schema.is(Schema.typeSchema(Url))(cs)).toBe(true)
    expect(Schema.is(Schema.typeSchema(Url))("amqp://h")).toBe(false)
    expect(Schema.decodeUnknownSync(Schema.encodedSchema(Url))("anything")).toBe("anything")
    const error = Either.getLeft(Schema.decodeUnknownEither(Url)("amqp://u:pw@h:0")).pipe(Option.getOrThrow)
    expect(error.issue.actual).toBe("amqp://u:***@h:0")
    expect(ParseResult.ArrayFormatter.formatErrorSync(error)).toEqual([{
      _tag: "Transformation",
      path: [],
      message: "Invalid connection string: port \"0\" of host \"h\" is out of range 1-65535 (at position 14)"
    }])
    const notString = Either.getLeft(Schema.decodeUnknownEither(Url)(42)).pipe(Option.getOrThrow)
    expect(notString.message).toContain("Expected string, actual 42")
  })
})
