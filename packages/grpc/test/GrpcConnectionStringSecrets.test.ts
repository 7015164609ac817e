import { describe, expect, it } from "@effect/vitest"
import { StringWork } from "@redial/testing"
import { Cause, ConfigProvider, Effect, Either, Exit, FastCheck as fc, ParseResult, Schema } from "effect"
import * as util from "node:util"
import { GrpcChannel, GrpcConnectionString } from "../src/index.js"

const work = StringWork.work

const parsers = [
  GrpcConnectionString.parseEither,
  GrpcConnectionString.parseEsdbEither,
  GrpcConnectionString.parseChronicleEither
] as const

const decoders: ReadonlyArray<(input: unknown) => Either.Either<unknown, ParseResult.ParseError>> = [
  Schema.decodeUnknownEither(GrpcConnectionString.FromString),
  Schema.decodeUnknownEither(GrpcConnectionString.EsdbFromString),
  Schema.decodeUnknownEither(GrpcConnectionString.ChronicleFromString)
]

const configs = [GrpcConnectionString.config, GrpcConnectionString.configEsdb, GrpcConnectionString.configChronicle]

/** Every way an error (or a value) may end up in a log or a response. */
const shown = (value: unknown): ReadonlyArray<string> => {
  const texts = [String(value), util.inspect(value, { depth: null }), JSON.stringify(value) ?? ""]
  if (value instanceof Error) texts.push(value.message, Cause.pretty(Cause.fail(value)))
  if (ParseResult.isParseError(value)) {
    texts.push(JSON.stringify(value.issue), util.inspect(value.issue, { depth: null }))
    texts.push(ParseResult.TreeFormatter.formatErrorSync(value))
  }
  return texts
}

/** What GrpcChannel.make says about a connection string it cannot use (without connecting anywhere). */
const channelError = (input: string): ReadonlyArray<string> => {
  const exit = Effect.runSync(
    Effect.exit(Effect.scoped(GrpcChannel.make({ connectionString: input }).pipe(Effect.asVoid)))
  )
  return Exit.isFailure(exit) ? [...shown(Cause.squash(exit.cause)), Cause.pretty(exit.cause)] : []
}

/** Everything the parsers, schemas and configs say about `input`. */
const everything = (input: string): ReadonlyArray<string> => [
  ...parsers.flatMap((parse) =>
    Either.match(parse(input), {
      onLeft: shown,
      onRight: (settings) => [GrpcConnectionString.format(settings), ...shown(settings)]
    })
  ),
  ...decoders.flatMap((decode) => Either.match(decode(input), { onLeft: shown, onRight: () => [] })),
  ...configs.flatMap((config) =>
    Either.match(
      Effect.runSync(
        Effect.either(config("URL")).pipe(Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["URL", input]]))))
      ),
      { onLeft: shown, onRight: () => [] }
    )
  )
]

describe("GrpcConnectionString: a user:password without @host is never shown", () => {
  it.each([
    "esdb://admin:S3cret",
    "kurrentdb://admin:S3cret?tls=false",
    "esdb+discover://admin:S3cret,node2:2113",
    "esdb://admin:S3cret/",
    "esdb://:S3cret",
    "esdb://admin:S3:cret",
    "esdb://node1,admin:S3cret",
    "chronicle://client:S3cret",
    "chronicle+srv://client:S3cret?disableTls=true",
    "esdb://admin:S3cret@h:bad?tls=S3cret",
    "esdb://admin:S3c?ret@h",
    "esdb://h?apiKey=S3cret\ud800",
    "chronicle://h?apiKey=S3cret&x=%zz&y=S3cret",
    // whitespace, and hosts that are not host names
    "chronicle://h? apiKey=S3cret&x=1",
    "chronicle://h?apiKey =S3cret&x=%zz",
    "esdb://h? apiKey = S3cret ",
    "kurrentdb://  admin : S3cret  @ h;x",
    "esdb://admin:1234,S3cret;x",
    "esdb://admin:1234,h, S3cret=x",
    "esdb://admin:p@S3cret@h",
    "esdb://admin:S3cret@@h\n?tls=false"
  ])("%s", (input) => {
    const texts = [...everything(input), ...channelError(input)]
    expect(texts.length).toBeGreaterThan(0)
    for (const text of texts) expect(text).not.toContain("S3c")
  })

  it("the Schema issue, its message and the ConfigError say what is wrong without the secret", () => {
    const error = Either.getLeft(Schema.decodeUnknownEither(GrpcConnectionString.FromString)("esdb://admin:S3cret"))
    expect(error._tag === "Some" && error.value.issue.actual).toBe("esdb://admin:***")
    expect(error._tag === "Some" && error.value.message).toContain("the port of host \"admin\" is not a number")
  })

  it("decoding a lone surrogate in a secret option is a typed error, not a URIError", () => {
    const result = Schema.decodeUnknownEither(GrpcConnectionString.FromString)("esdb://h?apiKey=\ud800")
    expect(Either.isLeft(result)).toBe(true)
  })

  it.effect("GrpcChannel.make: a file path holding the password is not quoted in the InvalidOption", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(
        GrpcChannel.make({ connectionString: "esdb://admin:S3cret@localhost?tlsCAFile=/nonexistent/S3cret.pem" })
      )
      expect(error._tag).toBe("InvalidOption")
      expect(error.message).toContain("tlsCAFile")
      for (const text of shown(error)) expect(text).not.toContain("S3c")
    }).pipe(Effect.scoped))

  const secret = fc.string({
    unit: fc.constantFrom("a", "B", "7", ":", "/", "?", "&", "=", "%", "#", " ", "é", "+", ",", "[", "]"),
    maxLength: 8
  }).map((s) => `Zq9${s}`)
  // What follows the secret starts with a delimiter, so that the secret is all of the password; no "@"
  // anywhere: the secret is the password of a user:password that lacks its "@host".
  const piece = fc.tuple(
    fc.constantFrom("", "/", ",", " ", ":", "]"),
    fc.string({
      unit: fc.constantFrom("a", "0", ":", "/", "%", "%zz", "[", "]", ",", " ", "\ud800"),
      maxLength: 6
    })
  ).map(([delimiter, rest]) => delimiter === "" ? "" : `${delimiter}${rest}`)
  const malformed = fc.tuple(
    fc.constantFrom("esdb://", "kurrentdb+discover://", "chronicle://", "chronicle+srv://", ""),
    fc.constantFrom("", "admin", "id", "node1,admin"),
    secret,
    piece,
    fc.constantFrom("", "?apiKey=Zq9k", "?certificatePassword=Zq9p&x=%zz", "/", ",h2", "?tls=false", "?tls=")
  ).map(([scheme, user, secret, rest, tail]) =>
    // "?tls=" repeats the secret where it does not belong (a misplaced password), encoded.
    `${scheme}${user}:${secret}${rest}${tail}${tail === "?tls=" ? encodeURIComponent(secret) : ""}`
  )

  it.prop("no output for a malformed string holds a secret typed into it", [malformed], ([input]) => {
    for (const text of everything(input)) expect(text).not.toContain("Zq9")
  }, { fastCheck: { numRuns: 500 } })
})

describe("GrpcConnectionString: parsing never throws", () => {
  const entryPoints = (input: string): void => {
    for (const parse of parsers) {
      const result = parse(input)
      if (Either.isRight(result)) GrpcConnectionString.format(result.right)
    }
    for (const decode of decoders) expect(Either.isEither(decode(input))).toBe(true)
  }
  const lone = fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c))

  it.prop("for any string", [fc.oneof(fc.string({ unit: "binary" }), fc.string({ unit: lone }))], ([input]) => {
    entryPoints(input)
    entryPoints(`esdb://admin:pw@h?${input}=${input}&apiKey=${input}`)
    entryPoints(`chronicle://${input}?apiKey=${input}`)
  }, { fastCheck: { numRuns: 300 } })

  it.prop(
    "for huge strings",
    [fc.tuple(
      fc.string({ unit: lone, minLength: 1, maxLength: 8 }),
      fc.constantFrom("esdb://", "chronicle://h?apiKey=", "")
    )],
    ([[unit, prefix]]) => {
      entryPoints(`${prefix}${unit.repeat(Math.ceil(100_000 / unit.length))}`)
    },
    // ten 100 KB strings through every entry point: 5–25 s on a loaded 2-CPU machine, past the
    // default 30 s once in a CI run (a property of work done, not of time)
    { fastCheck: { numRuns: 10 }, timeout: 120_000 }
  )
})

describe("GrpcConnectionString: linear time", () => {
  const shapes: ReadonlyArray<readonly [string, (n: number) => string]> = [
    ["hosts", (n) => `esdb://${"h,".repeat(n / 2)}h`],
    ["query names", (n) => `esdb://h?${"x&".repeat(n / 2)}x`],
    ["repeated options", (n) => `esdb://h?${"tls=true&".repeat(n / 9)}tls=false`],
    ["repeated secret options", (n) => `chronicle://h?${"apiKey=ab&".repeat(n / 10)}disableTls=x`],
    ["secret options in a broken string", (n) => `chronicle://h?${"apiKey=ab&".repeat(n / 10)}x=%zz`],
    ["an unknown option after secrets", (n) => `chronicle://h?${"apiKey=ab&".repeat(n / 10)}${"y".repeat(n)}=1`],
    ["a user:password without @host", (n) => `esdb://admin:${"s".repeat(n)}`],
    ["hosts with whitespace around them", (n) => `esdb://${" h ,".repeat(n / 4)}h`],
    ["options with whitespace around them", (n) => `esdb://h?${" tls = true &".repeat(n / 12)}tls=false`],
    ["whitespace-only pairs", (n) => `esdb://h?${" &".repeat(n / 2)}tls=false`],
    ["a value over many lines", (n) => `esdb://h?connectionName=${"a\n".repeat(n / 2)}a`],
    ["an invalid last host", (n) => `esdb://${"h,".repeat(n / 2)}h;x`],
    ["a long host name", (n) => `esdb://${"a".repeat(n)}`],
    ["a raw \"@\" in the user info", (n) => `esdb://u:${"p@".repeat(n / 2)}h`]
  ]
  const operations: ReadonlyArray<readonly [string, (input: string) => unknown]> = [
    ["parseEither", GrpcConnectionString.parseEither],
    ["FromString", Schema.decodeUnknownEither(GrpcConnectionString.FromString)]
  ]
  for (const [shape, make] of shapes) {
    for (const [name, operation] of operations) {
      it(`${name}: ${shape}`, () => {
        // Counted work, not time: 10 × the input costs ~10 × the work when linear, ~100 × when quadratic.
        const small = work(() => operation(make(10_000)))
        const large = work(() => operation(make(100_000)))
        expect(small).toBeGreaterThan(0)
        expect(large / small).toBeLessThan(13)
      })
    }
  }
})
