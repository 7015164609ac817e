import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Effect, Either, FastCheck as fc, Option, ParseResult, pipe, Redacted, Schema } from "effect"
import * as util from "node:util"
import * as ConnectionString from "../src/ConnectionString.js"

type ConnectionString = ConnectionString.ConnectionString

const parts: ReadonlyArray<ConnectionString.Part> = ["scheme", "credentials", "host", "port", "path", "query"]
const reasons: ReadonlyArray<ConnectionString.Reason> = [
  "Empty",
  "Malformed",
  "InvalidCharacter",
  "Encoding",
  "OutOfRange"
]

const parseOk = (input: string): ConnectionString => {
  const result = ConnectionString.parseEither(input)
  if (Either.isLeft(result)) throw new Error(`expected ${JSON.stringify(input)} to parse: ${result.left.message}`)
  return result.right
}

const parseError = (input: string): ConnectionString.ConnectionStringError => {
  const result = ConnectionString.parseEither(input)
  if (Either.isRight(result)) throw new Error(`expected ${JSON.stringify(input)} to fail, got ${String(result.right)}`)
  return result.left
}

/** The parsed value as plain data, the password revealed, for comparisons. */
const plain = (cs: ConnectionString) => ({
  scheme: cs.scheme,
  username: Option.getOrNull(cs.username),
  password: Option.getOrNull(Option.map(cs.password, Redacted.value)),
  hosts: cs.hosts.map(({ host, port }) => ({ host, port: Option.getOrNull(port) })),
  path: cs.path,
  params: cs.params
})

/** Every way a parsed value or an error may end up in a log. */
const renderings = (value: object): ReadonlyArray<string> => [
  String(value),
  `${value}`,
  JSON.stringify(value),
  util.inspect(value, { depth: null })
]

const withPassword = (cs: ConnectionString, password: string): ConnectionString =>
  ConnectionString.ConnectionString.make({ ...cs, password: Option.some(Redacted.make(password)) })

describe("ConnectionString", () => {
  describe("parse: success", () => {
    it("reads every component of a single-host string", () => {
      expect(plain(parseOk("postgres://alice:s3cret@db.example.com:5432/app?sslmode=require"))).toEqual({
        scheme: "postgres",
        username: "alice",
        password: "s3cret",
        hosts: [{ host: "db.example.com", port: 5432 }],
        path: "/app",
        params: [["sslmode", "require"]]
      })
    })

    it("reads several hosts, in order, each with an optional port", () => {
      const cs = parseOk("esdb://node1:2113,node2,10.0.0.3:2114?tls=false")
      expect(plain(cs).hosts).toEqual([
        { host: "node1", port: 2113 },
        { host: "node2", port: null },
        { host: "10.0.0.3", port: 2114 }
      ])
      expect(cs.username).toEqual(Option.none())
      expect(cs.password).toEqual(Option.none())
    })

    it("reads IPv6 addresses in brackets, with an optional zone, and prints them back", () => {
      const cs = parseOk("postgres://[::1]:5432,[fe80::1%25eth0],[2001:db8::ffff:192.0.2.1]:6432/db")
      expect(plain(cs).hosts).toEqual([
        { host: "::1", port: 5432 },
        { host: "fe80::1%eth0", port: null },
        { host: "2001:db8::ffff:192.0.2.1", port: 6432 }
      ])
      expect(ConnectionString.format(cs)).toBe(
        "postgres://[::1]:5432,[fe80::1%25eth0],[2001:db8::ffff:192.0.2.1]:6432/db"
      )
    })

    it("leaves the port empty when there is none", () => {
      expect(parseOk("amqp://rabbit").hosts[0].port).toEqual(Option.none())
    })

    it("lowercases the scheme and keeps the host as written", () => {
      const cs = parseOk("ESDB+Discover://Cluster.Example.COM")
      expect(cs.scheme).toBe("esdb+discover")
      expect(cs.hosts[0].host).toBe("Cluster.Example.COM")
    })

    it("keeps the path with its leading slash, percent-decoded; no path is empty", () => {
      expect(parseOk("amqp://h").path).toBe("")
      expect(parseOk("amqp://h/").path).toBe("/")
      expect(parseOk("amqp://h/%2F").path).toBe("//")
      expect(parseOk("postgres://h/my%20db/x%C3%A9").path).toBe("/my db/xé")
      expect(parseOk("postgres://h/caf\u00e9").path).toBe("/café")
      expect(parseOk("postgres://h?x=1").path).toBe("")
    })

    it("percent-decodes the user name and password", () => {
      const cs = parseOk("amqp://us%40er:p%40ss%3Aw%2Fd%3F%25@host")
      expect(plain(cs).username).toBe("us@er")
      expect(plain(cs).password).toBe("p@ss:w/d?%")
    })

    it("allows a raw \"@\" and \":\" in the password: the user info ends at the last \"@\"", () => {
      const cs = parseOk("amqp://user:p@ss:w@host")
      expect(plain(cs)).toMatchObject({ username: "user", password: "p@ss:w", hosts: [{ host: "host", port: null }] })
    })

    it("distinguishes an empty password from none", () => {
      expect(plain(parseOk("amqp://user:@host")).password).toBe("")
      expect(plain(parseOk("amqp://user@host")).password).toBeNull()
    })

    it("keeps query pairs in order, with duplicates, empty values and names without \"=\"", () => {
      expect(parseOk("esdb://h?a=&b&c=1&&c=2&d=x=y&").params).toEqual([
        ["a", ""],
        ["b", ""],
        ["c", "1"],
        ["c", "2"],
        ["d", "x=y"]
      ])
      expect(parseOk("esdb://h?").params).toEqual([])
    })

    it("percent-decodes query names and values, and an \"@\" in a value is fine", () => {
      expect(parseOk("esdb://h?na%6De=v%26w%3D&user=a@b.example").params).toEqual([
        ["name", "v&w="],
        ["user", "a@b.example"]
      ])
    })

    it("reads \"+\" as a literal \"+\", not a space", () => {
      expect(parseOk("esdb://h?q=a+b&r=a%2Bb&s=a%20b").params).toEqual([["q", "a+b"], ["r", "a+b"], ["s", "a b"]])
      expect(plain(parseOk("amqp://u:p+w@h")).password).toBe("p+w")
    })
  })

  describe("parameters", () => {
    const cs = parseOk("esdb://h?keepAliveInterval=1&keep_alive_interval=2&KEEP-ALIVE-INTERVAL=3&tls=false")

    it("normalizeKey lowercases and drops \"_\" and \"-\"", () => {
      expect(ConnectionString.normalizeKey("keepAliveInterval")).toBe("keepaliveinterval")
      expect(ConnectionString.normalizeKey("keep_alive_interval")).toBe("keepaliveinterval")
      expect(ConnectionString.normalizeKey("KEEP-ALIVE-INTERVAL")).toBe("keepaliveinterval")
    })

    it("param gives the last matching value, ignoring case, \"_\" and \"-\"", () => {
      expect(ConnectionString.param(cs, "keepAliveInterval")).toEqual(Option.some("3"))
      expect(ConnectionString.param(cs, "Keep_Alive-Interval")).toEqual(Option.some("3"))
      expect(ConnectionString.param(cs, "TLS")).toEqual(Option.some("false"))
      expect(ConnectionString.param(cs, "tlsVerifyCert")).toEqual(Option.none())
      expect(pipe(cs, ConnectionString.param("keepaliveinterval"))).toEqual(Option.some("3"))
    })

    it("params gives every matching value in order", () => {
      expect(ConnectionString.params(cs, "keep-alive-interval")).toEqual(["1", "2", "3"])
      expect(pipe(cs, ConnectionString.params("nodePreference"))).toEqual([])
    })
  })

  describe("withDefaultPort", () => {
    it("sets the port of the hosts that have none, and keeps the rest", () => {
      const cs = parseOk("postgres://u:pw@db1,db2:5433,[::1]/app?x=1")
      const withPort = ConnectionString.withDefaultPort(cs, 5432)
      expect(plain(withPort)).toEqual({
        ...plain(cs),
        hosts: [{ host: "db1", port: 5432 }, { host: "db2", port: 5433 }, { host: "::1", port: 5432 }]
      })
      expect(withPort).toBeInstanceOf(ConnectionString.ConnectionString)
      expect(plain(pipe(cs, ConnectionString.withDefaultPort(1)))).toMatchObject({ hosts: [{ port: 1 }, {}, {}] })
    })

    it("refuses a port outside 1-65535", () => {
      const cs = parseOk("postgres://db1")
      expect(() => ConnectionString.withDefaultPort(cs, 0)).toThrow(RangeError)
      expect(() => ConnectionString.withDefaultPort(cs, 65536)).toThrow(RangeError)
      expect(() => ConnectionString.withDefaultPort(cs, 54.5)).toThrow(RangeError)
    })
  })

  describe("format and redaction", () => {
    const secret = "Sup3r-Secret"
    const cs = parseOk(`postgres://alice:${secret}@db1:5432,[::1]/app?sslmode=require`)

    it("prints the string back with the password as ***", () => {
      expect(ConnectionString.format(cs)).toBe("postgres://alice:***@db1:5432,[::1]/app?sslmode=require")
      expect(ConnectionString.format(parseOk("amqp://guest@h"))).toBe("amqp://guest@h")
    })

    it("percent-encodes what needs it", () => {
      const text = ConnectionString.format(parseOk("amqp://us%40er@h/%2F/a%20b?k%26=v%3D1+2"))
      expect(text).toBe("amqp://us%40er@h/%2F%2Fa%20b?k%26=v%3D1%2B2")
      expect(plain(parseOk(text))).toEqual(plain(parseOk("amqp://us%40er@h/%2F/a%20b?k%26=v%3D1+2")))
    })

    it("never shows the password in String, template literals, JSON or inspect", () => {
      for (const text of renderings(cs)) {
        expect(text).not.toContain(secret)
      }
      expect(String(cs)).toBe(ConnectionString.format(cs))
      expect(JSON.stringify(cs)).toContain("<redacted>")
      expect(Option.map(cs.password, Redacted.value)).toEqual(Option.some(secret))
    })
  })

  describe("parse: errors", () => {
    const cases: ReadonlyArray<{
      readonly input: string
      readonly part: ConnectionString.Part
      readonly reason: ConnectionString.Reason
      readonly message: string
      readonly position: number
      readonly secrets?: ReadonlyArray<string>
    }> = [
      { input: "", part: "scheme", reason: "Empty", message: "the connection string is empty", position: 0 },
      { input: "db.example.com/app", part: "scheme", reason: "Malformed", message: "missing the scheme", position: 0 },
      {
        input: "localhost:5432",
        part: "scheme",
        reason: "Malformed",
        message: "expected \"://\" after the scheme \"localhost\"",
        position: 9
      },
      { input: "://h", part: "scheme", reason: "Empty", message: "the scheme before \"://\" is empty", position: 0 },
      {
        input: "1pg://h",
        part: "scheme",
        reason: "InvalidCharacter",
        message: "invalid character in the scheme",
        position: 0
      },
      {
        input: "pg sql://h",
        part: "scheme",
        reason: "InvalidCharacter",
        message: "invalid character in the scheme",
        position: 2
      },
      { input: "postgres://", part: "host", reason: "Empty", message: "the host is empty", position: 11 },
      { input: "postgres:///db", part: "host", reason: "Empty", message: "the host is empty", position: 11 },
      { input: "postgres://user@/db", part: "host", reason: "Empty", message: "the host is empty", position: 16 },
      { input: "postgres://h1,,h3", part: "host", reason: "Empty", message: "host 2 of 3 is empty", position: 14 },
      { input: "postgres://h1,", part: "host", reason: "Empty", message: "host 2 of 2 is empty", position: 14 },
      // Without "@host", "user:password" reads as "host:port": the "port" is never quoted, it may be a password.
      {
        input: "postgres://:5432",
        part: "host",
        reason: "Empty",
        message: "the host name before the port is empty (not shown",
        position: 11,
        secrets: ["5432"]
      },
      {
        input: "postgres://u@:5432",
        part: "host",
        reason: "Empty",
        message: "the host name before port \"5432\" is empty",
        position: 13
      },
      {
        input: "postgres://ho st",
        part: "host",
        reason: "InvalidCharacter",
        message: "invalid character \" \" in host \"ho st\"",
        position: 13
      },
      {
        input: "postgres://h1, h2",
        part: "host",
        reason: "InvalidCharacter",
        message: "invalid character \" \" in host \" h2\"",
        position: 14
      },
      {
        input: "postgres://[::1",
        part: "host",
        reason: "Malformed",
        message: "unclosed \"[\" in host \"[::1\"",
        position: 11
      },
      {
        input: "postgres://[::1,h2]",
        part: "host",
        reason: "Malformed",
        message: "unclosed \"[\" in host \"[::1\"",
        position: 11
      },
      {
        input: "postgres://[zz::1]",
        part: "host",
        reason: "Malformed",
        message: "invalid IPv6 address \"[zz::1]\"",
        position: 12
      },
      {
        input: "postgres://[::1%eth0]",
        part: "host",
        reason: "Malformed",
        message: "invalid IPv6 address",
        position: 12
      },
      {
        input: "postgres://[::1]x",
        part: "host",
        reason: "Malformed",
        message: "unexpected characters after \"]\"",
        position: 16
      },
      {
        input: "postgres://::1",
        part: "host",
        reason: "Malformed",
        message: "an IPv6 address must be in brackets",
        position: 11
      },
      {
        input: "postgres://db1:99999/app",
        part: "port",
        reason: "OutOfRange",
        message: "the port of host \"db1\" is out of range 1-65535 (not shown",
        position: 15,
        secrets: ["99999"]
      },
      {
        input: "postgres://u@db1:99999/app",
        part: "port",
        reason: "OutOfRange",
        message: "port \"99999\" of host \"db1\" is out of range 1-65535",
        position: 17
      },
      {
        input: "postgres://h:0",
        part: "port",
        reason: "OutOfRange",
        message: "the port of host \"h\" is out of range 1-65535",
        position: 13
      },
      {
        input: "postgres://u:p@h:0",
        part: "port",
        reason: "OutOfRange",
        message: "port \"0\" of host \"h\" is out of range 1-65535",
        position: 17
      },
      {
        input: "postgres://h:65536",
        part: "port",
        reason: "OutOfRange",
        message: "the port of host \"h\" is out of range",
        position: 13,
        secrets: ["65536"]
      },
      {
        input: "postgres://h:54x",
        part: "port",
        reason: "Malformed",
        message: "the port of host \"h\" is not a number",
        position: 13,
        secrets: ["54x"]
      },
      {
        input: "postgres://u:pw@h:54x",
        part: "port",
        reason: "Malformed",
        message: "port \"54x\" of host \"h\" is not a number",
        position: 18
      },
      {
        input: "postgres://h:-1",
        part: "port",
        reason: "Malformed",
        message: "the port of host \"h\" is not a number",
        position: 13
      },
      {
        input: "postgres://u@h:-1",
        part: "port",
        reason: "Malformed",
        message: "port \"-1\" of host \"h\" is not a number",
        position: 15
      },
      {
        input: "postgres://a,b:",
        part: "port",
        reason: "Empty",
        message: "the port of host \"b\" is empty",
        position: 15
      },
      {
        input: "postgres://[::1]:0",
        part: "port",
        reason: "OutOfRange",
        message: "port \"0\" of host \"[::1]\" is out of range",
        position: 17
      },
      {
        input: "postgres://@h",
        part: "credentials",
        reason: "Empty",
        message: "the user name before \"@\" is empty",
        position: 11
      },
      {
        input: "postgres://:hunter2@h",
        part: "credentials",
        reason: "Empty",
        message: "the user name before \"@\" is empty",
        position: 11,
        secrets: ["hunter2"]
      },
      {
        input: "postgres://us%zzer@h",
        part: "credentials",
        reason: "Encoding",
        message: "malformed percent-escape \"%zz\" in the user name",
        position: 13
      },
      {
        input: "postgres://user:hunter%zz2@h",
        part: "credentials",
        reason: "Encoding",
        message: "malformed percent-escape in the password",
        position: 22,
        secrets: ["hunter", "%zz"]
      },
      {
        input: "postgres://user:hunter2%4@h",
        part: "credentials",
        reason: "Encoding",
        message: "malformed percent-escape in the password",
        position: 23,
        secrets: ["hunter2", "%4"]
      },
      {
        input: "postgres://user:hunter%C3@h",
        part: "credentials",
        reason: "Encoding",
        message: "percent-escapes in the password are not valid UTF-8",
        position: 22,
        secrets: ["hunter", "%C3"]
      },
      {
        input: "postgres://user:hunter\n2@h",
        part: "credentials",
        reason: "InvalidCharacter",
        message: "the password contains a control character",
        position: 22,
        secrets: ["hunter"]
      },
      {
        input: "postgres://h/%zz",
        part: "path",
        reason: "Encoding",
        message: "malformed percent-escape \"%zz\" in the path",
        position: 13
      },
      {
        input: "postgres://h/db%4",
        part: "path",
        reason: "Encoding",
        message: "malformed percent-escape \"%4\" in the path",
        position: 15
      },
      {
        input: "postgres://h/%FF",
        part: "path",
        reason: "Encoding",
        message: "percent-escapes \"%FF\" in the path are not valid UTF-8",
        position: 13
      },
      {
        input: "postgres://h/a\nb",
        part: "path",
        reason: "InvalidCharacter",
        message: "the path contains a control character",
        position: 14
      },
      {
        input: "postgres://h?%zz=1",
        part: "query",
        reason: "Encoding",
        message: "malformed percent-escape \"%zz\" in the name of query parameter 1",
        position: 13
      },
      {
        input: "postgres://h?a=1&b=%zz",
        part: "query",
        reason: "Encoding",
        message: "malformed percent-escape in the value of query parameter \"b\"",
        position: 19
      },
      {
        input: "postgres://h?a=1&=v",
        part: "query",
        reason: "Empty",
        message: "query parameter 2 has an empty name",
        position: 17
      },
      // A password with a raw "/" or "?" must not leak through the host, port or path messages.
      {
        input: "postgres://user:pw1/pw2@host/db",
        part: "path",
        reason: "Malformed",
        message: "unescaped \"@\" in the path",
        position: 23,
        secrets: ["pw1", "pw2"]
      },
      {
        input: "postgres://user:pw1@pw2/pw3@host/db",
        part: "path",
        reason: "Malformed",
        message: "unescaped \"@\" in the path",
        position: 27,
        secrets: ["pw2", "pw3"]
      },
      {
        input: "postgres://user:pw1?pw2@host",
        part: "credentials",
        reason: "Malformed",
        message: "invalid port (not shown: an \"@\" follows",
        position: 11,
        secrets: ["pw1", "pw2"]
      },
      {
        input: "postgres://user:123?pw2@host",
        part: "query",
        reason: "Malformed",
        message: "unescaped \"@\" in the name of query parameter 1",
        position: 23,
        secrets: ["pw2"]
      }
    ]

    for (const { input, message, part, position, reason, secrets } of cases) {
      it(`${JSON.stringify(input)}: ${part}, ${reason}`, () => {
        const error = parseError(input)
        expect(error).toBeInstanceOf(ConnectionString.ConnectionStringError)
        expect(error._tag).toBe("ConnectionStringError")
        expect(error.part).toBe(part)
        expect(error.reason).toBe(reason)
        expect(error.position).toBe(position)
        expect(error.message).toBe(`Invalid connection string: ${error.detail} (at position ${position})`)
        expect(error.detail).toContain(message)
        for (const secret of secrets ?? []) {
          for (const text of [error.message, ...renderings(error)]) {
            expect(text).not.toContain(secret)
          }
        }
      })
    }

    it("an adapter's own error has no position", () => {
      const error = new ConnectionString.ConnectionStringError({
        part: "query",
        reason: "Unsupported",
        detail: "unknown option \"x\""
      })
      expect(error.message).toBe("Invalid connection string: unknown option \"x\"")
      expect(error.reason).toBe("Unsupported")
    })
  })

  describe("as an Effect", () => {
    it.effect("parse succeeds with the value", () =>
      Effect.gen(function*() {
        const cs = yield* ConnectionString.parse("chronicle://admin:changeit@localhost:2113")
        expect(cs.scheme).toBe("chronicle")
      }))

    it.effect("parse fails with a ConnectionStringError that can be caught by tag", () =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(ConnectionString.parse("chronicle://h:0"))
        expect(error.part).toBe("port")
        const part = yield* ConnectionString.parse("chronicle://h:0").pipe(
          Effect.map(() => "none"),
          Effect.catchTag("ConnectionStringError", (e) => Effect.succeed(e.part))
        )
        expect(part).toBe("port")
      }))

    it.effect("config reads and parses a configuration value without leaking the password", () =>
      Effect.gen(function*() {
        const read = (value: string) =>
          Effect.gen(function*() {
            return yield* ConnectionString.config("DATABASE_URL")
          }).pipe(Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["DATABASE_URL", value]]))))
        const cs = yield* read("postgres://u:hunter2@db/app")
        expect(plain(cs).password).toBe("hunter2")
        const error = yield* Effect.flip(read("postgres://u:hunter2@db:0/app"))
        expect(String(error)).toContain("port \"0\" of host \"db\" is out of range 1-65535")
        expect(String(error)).not.toContain("hunter2")
      }))
  })

  describe("FromString", () => {
    it("decodes and encodes; encoding keeps the password so that it decodes back", () => {
      const cs = Schema.decodeSync(ConnectionString.FromString)("amqp://guest:gu%2Fest@h:5672/%2F?heartbeat=10")
      expect(plain(cs).password).toBe("gu/est")
      const text = Schema.encodeSync(ConnectionString.FromString)(cs)
      expect(text).toBe("amqp://guest:gu%2Fest@h:5672/%2F?heartbeat=10")
    })

    it("fails with the ConnectionStringError message, and the input with the password masked", () => {
      const input = "postgres://u:hunter2@db1:99999/app"
      const result = Schema.decodeUnknownEither(ConnectionString.FromString)(input)
      if (Either.isRight(result)) throw new Error("expected a failure")
      const expected = parseError(input).message
      expect(expected).toBe(
        "Invalid connection string: port \"99999\" of host \"db1\" is out of range 1-65535 (at position 25)"
      )
      expect(ParseResult.TreeFormatter.formatErrorSync(result.left)).toContain(expected)
      expect(ParseResult.ArrayFormatter.formatErrorSync(result.left)).toEqual([{
        _tag: "Transformation",
        path: [],
        message: expected
      }])
      for (const text of renderings(result.left)) {
        expect(text).not.toContain("hunter2")
      }
      // The issue built by FromString holds the input masked. (The enclosing Transformation node that
      // Schema adds holds the raw input, as for any schema; no rendering of the ParseError shows it.)
      const issue = result.left.issue
      if (issue._tag !== "Transformation" || issue.issue._tag !== "Type") throw new Error("unexpected issue")
      expect(issue.issue.actual).toBe("postgres://u:***@db1:99999/app")
    })

    it("composes: adapters refine the parsed value", () => {
      const AmqpUrl = ConnectionString.FromString.pipe(
        Schema.filter((cs) => cs.scheme === "amqp" || "expected amqp://")
      )
      expect(Either.isRight(Schema.decodeEither(AmqpUrl)("amqp://h"))).toBe(true)
      expect(Either.isLeft(Schema.decodeEither(AmqpUrl)("esdb://h"))).toBe(true)
    })

    it("the ConnectionString class validates what it is given", () => {
      const cs = parseOk("postgres://h/db")
      expect(() => ConnectionString.ConnectionString.make({ ...cs, path: "db" })).toThrow()
      expect(() => ConnectionString.ConnectionString.make({ ...cs, scheme: "Pg" })).toThrow()
      expect(() => ConnectionString.ConnectionString.make({ ...cs, hosts: [{ host: "h", port: Option.some(0) }] }))
        .toThrow()
    })
  })

  describe("properties", () => {
    /** What a successful parse must satisfy, whatever the input. */
    const checkResult = (input: string) => {
      const result = ConnectionString.parseEither(input)
      if (Either.isLeft(result)) {
        const error = result.left
        expect(error).toBeInstanceOf(ConnectionString.ConnectionStringError)
        expect(parts).toContain(error.part)
        expect(reasons).toContain(error.reason)
        expect(error.message.startsWith("Invalid connection string: ")).toBe(true)
        expect(error.position).toBeGreaterThanOrEqual(0)
        expect(error.position).toBeLessThanOrEqual(input.length)
        return result
      }
      const cs = result.right
      // The parser's checks agree with the schema's.
      expect(() => ConnectionString.ConnectionString.make({ ...cs })).not.toThrow()
      // Printing never throws, and the canonical form parses back to the same value.
      const encoded = Schema.encodeSync(ConnectionString.FromString)(cs)
      expect(plain(parseOk(encoded))).toEqual(plain(cs))
      expect(ConnectionString.format(cs)).toBe(ConnectionString.format(parseOk(encoded)))
      return result
    }

    it.prop("any string gives a typed result (UTF-16 code units)", [fc.string({ maxLength: 80 })], ([input]) => {
      checkResult(input)
    }, { fastCheck: { numRuns: 500 } })

    it.prop(
      "any string gives a typed result (full Unicode)",
      [fc.string({ unit: "binary", maxLength: 80 })],
      ([input]) => {
        checkResult(input)
      },
      { fastCheck: { numRuns: 500 } }
    )

    it.prop(
      "any string gives a typed result (lone surrogates)",
      [fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)), maxLength: 40 })],
      ([input]) => {
        checkResult(`pg://u:p@h/${input}?${input}=${input}`)
        checkResult(input)
      }
    )

    // Structurally plausible strings, most of them nearly valid.
    const piece = fc.string({
      unit: fc.constantFrom(
        "a",
        "0",
        "-",
        ".",
        "~",
        "%",
        "%20",
        "%41",
        "%zz",
        "%4",
        "%C3%A9",
        "%FF",
        "@",
        ":",
        "/",
        "?",
        "&",
        "=",
        "#",
        "[",
        "]",
        ",",
        " ",
        "+",
        "\u00e9",
        "\u{1F600}",
        "\n"
      ),
      maxLength: 8
    })
    const scheme = fc.constantFrom(
      "esdb",
      "ESDB+discover",
      "kurrentdb",
      "chronicle",
      "amqps",
      "postgres",
      "",
      "1x",
      "a b"
    )
    const host = fc.oneof(
      fc.domain(),
      fc.ipV4(),
      fc.ipV6().map((address) => `[${address}]`),
      fc.constantFrom("", "[::1", "[fe80::1%25eth0]", "::1", "[::1]x"),
      piece
    )
    const port = fc.oneof(
      fc.constant(""),
      fc.integer({ min: -5, max: 70_000 }).map((n) => `:${n}`),
      piece.map((p) => `:${p}`)
    )
    // Passwords start with "Zq", which nothing else generated contains, and hold raw special characters.
    // Not a raw "@" before a raw "?": "u:Zq@a?b=Zq@h" is a valid string whose password is "Zq", no parser
    // can tell.
    const password = piece.filter((p) => !/@.*\?/.test(p)).map((p) => `Zq${p}Zq`)
    const plausible = fc.tuple(
      scheme,
      fc.option(fc.tuple(fc.string({ unit: "binary", maxLength: 6 }).map(encodeURIComponent), fc.option(password))),
      fc.array(fc.tuple(host, port), { maxLength: 4 }),
      fc.option(piece),
      fc.option(fc.array(fc.tuple(piece, fc.option(piece)), { maxLength: 4 }))
    ).map(([scheme, credentials, hosts, path, query]) => {
      const userinfo = credentials === null
        ? ""
        : `${credentials[0]}${credentials[1] === null ? "" : `:${credentials[1]}`}@`
      const pathText = path === null ? "" : `/${path}`
      const queryText = query === null
        ? ""
        : `?${query.map(([k, v]) => v === null ? k : `${k}=${v}`).join("&")}`
      return `${scheme}://${userinfo}${hosts.map(([h, p]) => `${h}${p}`).join(",")}${pathText}${queryText}`
    })

    it.prop("plausible strings give a typed result and never show the password", [plausible], ([input]) => {
      const result = checkResult(input)
      const shown = Either.match(result, {
        onLeft: (error) => [error.message, error.detail, ...renderings(error)],
        onRight: (cs) => [ConnectionString.format(cs), ...renderings(cs)]
      })
      for (const text of shown) {
        expect(text).not.toContain("Zq")
      }
    }, { fastCheck: { numRuns: 1000 } })

    // Valid components, percent-encoded into a string, come back equal.
    const component = (minLength: number) => fc.string({ unit: "binary", minLength, maxLength: 12 })
    const validHost = fc.record({
      host: fc.oneof(
        fc.domain(),
        fc.ipV4(),
        fc.ipV6(),
        fc.tuple(fc.ipV6(), fc.stringMatching(/^[A-Za-z0-9._~-]{1,6}$/)).map(([address, zone]) => `${address}%${zone}`)
      ),
      port: fc.option(fc.integer({ min: 1, max: 65535 }))
    })
    const components = fc.record({
      scheme: fc.stringMatching(/^[a-z][a-z0-9+.-]{0,9}$/),
      credentials: fc.option(fc.record({ username: component(1), password: fc.option(component(0)) })),
      hosts: fc.array(validHost, { minLength: 1, maxLength: 4 }),
      path: fc.option(fc.array(component(0), { maxLength: 3 }).map((segments) => `/${segments.join("/")}`)),
      params: fc.array(fc.tuple(component(1), component(0)), { maxLength: 4 })
    })

    const build = (c: typeof components extends fc.Arbitrary<infer A> ? A : never): string => {
      const userinfo = c.credentials === null
        ? ""
        : `${encodeURIComponent(c.credentials.username)}${
          c.credentials.password === null ? "" : `:${encodeURIComponent(c.credentials.password)}`
        }@`
      const hosts = c.hosts.map(({ host, port }) =>
        `${host.includes(":") ? `[${host.replace("%", "%25")}]` : host}${port === null ? "" : `:${port}`}`
      )
      const path = c.path === null ? "" : c.path.split("/").map(encodeURIComponent).join("/")
      const query = c.params.length === 0
        ? ""
        : `?${c.params.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join("&")}`
      return `${c.scheme}://${userinfo}${hosts.join(",")}${path}${query}`
    }

    it.prop("valid components round-trip through a string", [components], ([c]) => {
      const cs = parseOk(build(c))
      expect(plain(cs)).toEqual({
        scheme: c.scheme,
        username: c.credentials?.username ?? null,
        password: c.credentials?.password ?? null,
        hosts: c.hosts,
        path: c.path ?? "",
        params: c.params
      })
      // Upper case in the scheme is accepted and lowercased.
      expect(parseOk(build({ ...c, scheme: c.scheme.toUpperCase() })).scheme).toBe(c.scheme)
      expect(plain(Schema.decodeSync(ConnectionString.FromString)(Schema.encodeSync(ConnectionString.FromString)(cs))))
        .toEqual(plain(cs))
    }, { fastCheck: { numRuns: 500 } })

    it.prop("format does not depend on the password and never shows it", [components], ([c]) => {
      const cs = parseOk(build(c))
      const text = ConnectionString.format(cs)
      if (Option.isSome(cs.password)) {
        expect(text).toBe(ConnectionString.format(withPassword(cs, "another password")))
        expect(text).toContain(":***@")
        expect(String(withPassword(cs, "a secret"))).toBe(text)
      }
      // Without a password, the printed form parses back to the same value.
      if (Option.isNone(cs.password)) {
        expect(plain(parseOk(text))).toEqual(plain(cs))
      }
    }, { fastCheck: { numRuns: 300 } })
  })
})
