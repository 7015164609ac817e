import { describe, expect, it } from "@effect/vitest"
import { isRedialError } from "@redial/core"
import { StringWork } from "@redial/testing"
import type { Options } from "amqplib"
import { connect } from "amqplib"
import { Cause, ConfigProvider, Duration, Effect, Either, FastCheck as fc, ParseResult, Redacted, Schema } from "effect"
import * as net from "node:net"
import * as util from "node:util"
import * as AmqpConnectionString from "../src/AmqpConnectionString.js"

type Endpoint = AmqpConnectionString.Endpoint
type AmqpConnectionStringError = AmqpConnectionString.AmqpConnectionStringError

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/** An endpoint as plain data: the password revealed, the connection timeout in milliseconds, absent keys absent. */
const plain = (endpoint: Endpoint): Record<string, unknown> => {
  const { connectionTimeout, password, ...rest } = endpoint
  return {
    ...rest,
    ...(password === undefined ? {} : { password: Redacted.value(password) }),
    ...(connectionTimeout === undefined ? {} : { connectionTimeout: Duration.toMillis(connectionTimeout) })
  }
}

const parsed = (input: string | Redacted.Redacted<string>) =>
  Effect.map(AmqpConnectionString.parse(input), plain).pipe(
    Effect.mapError((error) => new Error(`expected ${String(input)} to parse: ${error.message}`))
  )

const errorOf = (input: string | Redacted.Redacted<string>): Effect.Effect<AmqpConnectionStringError> =>
  AmqpConnectionString.parse(input).pipe(
    Effect.flatMap((endpoint) =>
      Effect.dieMessage(`expected ${String(input)} to fail, got ${AmqpConnectionString.format(endpoint)}`)
    ),
    Effect.flip
  )

/** The fields of an error that a caller matches on. */
const shape = (error: AmqpConnectionStringError) => ({
  tag: error._tag,
  part: error.part,
  reason: error.reason,
  ...(error.key === undefined ? {} : { key: error.key })
})

/** A guest/guest-free endpoint on `host` with every default. */
const defaults = (hostname: string, port = 5672): Record<string, unknown> => ({
  protocol: "amqp",
  hostname,
  port,
  vhost: "/"
})

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

const decode = Schema.decodeUnknownEither(AmqpConnectionString.FromString)

const fromConfig = (input: string) =>
  Effect.runSync(
    Effect.either(AmqpConnectionString.config("AMQP_URL")).pipe(
      Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["AMQP_URL", input]])))
    )
  )

/** Everything the parsers, the schema and the config say about `input`. */
const everything = (input: string): ReadonlyArray<string> => [
  ...[input, Redacted.make(input)].flatMap((value) =>
    Either.match(AmqpConnectionString.parseEither(value), {
      onLeft: shown,
      onRight: (endpoint) => [
        AmqpConnectionString.format(endpoint),
        AmqpConnectionString.describe(endpoint),
        ...shown(endpoint)
      ]
    })
  ),
  ...Either.match(decode(input), { onLeft: shown, onRight: () => [] }),
  ...Either.match(fromConfig(input), { onLeft: shown, onRight: () => [] })
]

// ---------------------------------------------------------------------------
// Ported: RabbitMQ URI spec, Appendix A
// (rabbitmq/rabbitmq-website docs/uri-spec.md, https://www.rabbitmq.com/docs/uri-spec#appendix-a-examples)
// ---------------------------------------------------------------------------

describe("AmqpConnectionString: the RabbitMQ URI spec's examples (Appendix A)", () => {
  it.effect("amqp://user:pass@host:10000/vhost", () =>
    Effect.gen(function*() {
      expect(yield* parsed("amqp://user:pass@host:10000/vhost")).toStrictEqual({
        protocol: "amqp",
        hostname: "host",
        port: 10000,
        username: "user",
        password: "pass",
        vhost: "vhost"
      })
    }))

  it.effect("amqp://user%61:%61pass@hoast:10000/v%2fhost: user, password and vhost are percent-decoded", () =>
    Effect.gen(function*() {
      expect(yield* parsed("amqp://user%61:%61pass@hoast:10000/v%2fhost")).toStrictEqual({
        protocol: "amqp",
        hostname: "hoast",
        port: 10000,
        username: "usera",
        password: "apass",
        vhost: "v/host"
      })
    }))

  it.effect("differs: a percent-escape in the host (the spec's ho%61st) is a typed error, amqplib would dial it", () =>
    Effect.gen(function*() {
      const error = yield* errorOf("amqp://user%61:%61pass@ho%61st:10000/v%2fhost")
      expect(shape(error)).toStrictEqual({
        tag: "AmqpConnectionStringError",
        part: "host",
        reason: "InvalidCharacter"
      })
      expect(error.cause?._tag).toBe("ConnectionStringError")
      expect(error.message).not.toContain("apass")
    }))

  // The spec leaves absent components to the implementation ("may cause an error"). An empty host
  // would make amqplib dial localhost: a URL that lost its host must not reach another broker.
  it.effect.each([
    { input: "amqp://", part: "host" },
    { input: "amqp://user@", part: "host" },
    { input: "amqp://user:pass@", part: "host" },
    { input: "amqp://:10000", part: "host" },
    { input: "amqp:///vhost", part: "host" },
    // The empty user name is read first (amqplib would log in as "").
    { input: "amqp://:@/", part: "credentials" }
  ])(
    "differs: $input (absent host or empty user name) is a typed Empty error, not localhost",
    ({ input, part }) =>
      Effect.gen(function*() {
        const error = yield* errorOf(input)
        expect(shape(error)).toStrictEqual({ tag: "AmqpConnectionStringError", part, reason: "Empty" })
        if (part === "host") expect(error.message).toContain("amqp://localhost")
      })
  )

  it.effect("amqp://host: defaults (port 5672, vhost /), no user info", () =>
    Effect.gen(function*() {
      expect(yield* parsed("amqp://host")).toStrictEqual(defaults("host"))
    }))

  it.effect("differs: amqp://host/ is the vhost \"/\" as in amqplib (the spec reads the empty vhost \"\")", () =>
    Effect.gen(function*() {
      expect(yield* parsed("amqp://host/")).toStrictEqual(defaults("host"))
    }))

  it.effect("amqp://host/%2f is the vhost \"/\"", () =>
    Effect.gen(function*() {
      expect(yield* parsed("amqp://host/%2f")).toStrictEqual(defaults("host"))
      expect((yield* parsed("amqp://host/%2fx")).vhost).toBe("/x")
    }))

  it.effect("amqp://[::1]: an IPv6 address, without its brackets", () =>
    Effect.gen(function*() {
      expect(yield* parsed("amqp://[::1]")).toStrictEqual(defaults("::1"))
    }))
})

// ---------------------------------------------------------------------------
// Ported: amqplib's tests of URL handling
// (amqp-node/amqplib test/connect.js, suite "Credentials" (credentialsFromUrl);
//  test/uri_spec.test.js "AMQP URI spec" (credentials, vhost); test/connect.test.js "Connect API")
// ---------------------------------------------------------------------------

describe("AmqpConnectionString: amqplib's URL tests", () => {
  describe("credentials (test/connect.js 'Credentials', test/uri_spec.test.js 'credentials')", () => {
    it.effect("no creds: no user name or password (the connection logs in as guest/guest, as amqplib)", () =>
      Effect.gen(function*() {
        const endpoint = yield* AmqpConnectionString.parse("amqp://localhost")
        expect(endpoint.username).toBeUndefined()
        expect(endpoint.password).toBeUndefined()
        const options = AmqpConnectionString.toAmqplib(endpoint)
        expect("username" in options || "password" in options).toBe(false)
      }))

    it.effect("usual user:pass", () =>
      Effect.gen(function*() {
        const endpoint = yield* parsed("amqp://user:pass@localhost")
        expect([endpoint.username, endpoint.password]).toStrictEqual(["user", "pass"])
      }))

    it.effect("differs: missing user (amqps://:password@localhost) is a typed error, amqplib sends \"\"", () =>
      Effect.gen(function*() {
        const error = yield* errorOf("amqps://:password@localhost")
        expect(shape(error)).toStrictEqual({ tag: "AmqpConnectionStringError", part: "credentials", reason: "Empty" })
        expect(error.message).not.toContain("password@")
      }))

    it.effect("missing password (amqps://username:@localhost): an empty password, not an absent one", () =>
      Effect.gen(function*() {
        const endpoint = yield* parsed("amqps://username:@localhost")
        expect([endpoint.username, endpoint.password, endpoint.port]).toStrictEqual(["username", "", 5671])
      }))

    it.effect.each([
      { input: "amqp://user%3Aname:pass%3Aword@localhost", username: "user:name", password: "pass:word" },
      { input: "amqp://user:p%40ssword@localhost", username: "user", password: "p@ssword" },
      { input: "amqp://user:passw%23rd@localhost", username: "user", password: "passw#rd" },
      { input: "amqp://user:pass%25word@localhost", username: "user", password: "pass%word" },
      { input: "amqp://user%61:%61pass@localhost", username: "usera", password: "apass" }
    ])("percent-escapes in the user info: $input", ({ input, password, username }) =>
      Effect.gen(function*() {
        const endpoint = yield* parsed(input)
        expect([endpoint.username, endpoint.password]).toStrictEqual([username, password])
      }))
  })

  describe("vhost (test/uri_spec.test.js 'vhost')", () => {
    it.effect.each([
      { input: "amqp://localhost:5672", vhost: "/" },
      { input: "amqp://localhost:5672/", vhost: "/" },
      { input: "amqp://localhost:5672/myvhost", vhost: "myvhost" },
      { input: "amqp://localhost:5672/%2F", vhost: "/" },
      { input: "amqp://localhost:5672/%2f", vhost: "/" },
      { input: "amqp://localhost:5672/v%2Fhost", vhost: "v/host" },
      { input: "amqp://localhost:5672/my%20vhost", vhost: "my vhost" }
    ])("$input is the vhost $vhost", ({ input, vhost }) =>
      Effect.gen(function*() {
        expect((yield* parsed(input)).vhost).toBe(vhost)
      }))
  })

  describe("Connect API (test/connect.test.js)", () => {
    it.effect("differs: 'bad URL' (blurble) is a typed error where amqplib throws", () =>
      Effect.gen(function*() {
        const error = yield* errorOf("blurble")
        expect(shape(error)).toStrictEqual({ tag: "AmqpConnectionStringError", part: "scheme", reason: "Malformed" })
        expect(isRedialError(error)).toBe(true)
      }))

    it.effect.each([
      { input: "amqp://localhost?frameMax=NOT_A_NUMBER", key: "frame_max" },
      { input: "amqp://localhost?heartbeat=NOT_A_NUMBER", key: "heartbeat" }
    ])(
      "differs: 'wrongly typed open option' ($key) fails at parse, not in amqplib's handshake",
      ({ input, key }) =>
        Effect.gen(function*() {
          const error = yield* errorOf(input)
          expect(shape(error)).toStrictEqual({
            tag: "AmqpConnectionStringError",
            part: "query",
            reason: "Malformed",
            key
          })
          expect(error.message).toContain(`${key} must be a whole number`)
          expect(error.message).toContain("\"NOT_A_NUMBER\"")
        })
    )

    it.effect("'ipv6' (amqp://[::1])", () =>
      Effect.gen(function*() {
        expect(AmqpConnectionString.toAmqplib(yield* AmqpConnectionString.parse("amqp://[::1]"))).toStrictEqual({
          protocol: "amqp",
          hostname: "::1",
          port: 5672,
          vhost: "/"
        })
      }))
  })
})

// ---------------------------------------------------------------------------
// Ported: the RabbitMQ Java client's URI tests
// (rabbitmq/rabbitmq-java-client src/test/java/com/rabbitmq/client/test/AmqpUriTest.java, uriParsing)
// ---------------------------------------------------------------------------

describe("AmqpConnectionString: the RabbitMQ Java client's URI tests (AmqpUriTest)", () => {
  it.effect.each([
    { input: "amqp://user:pass@host:10000/vhost", expected: ["user", "pass", "host", 10000, "vhost"] },
    { input: "aMQps://user%61:%61pass@host:10000/v%2fhost", expected: ["usera", "apass", "host", 10000, "v/host"] },
    { input: "amqp://host", expected: [undefined, undefined, "host", 5672, "/"] },
    // The Java client reads "amqp://host/" as the empty vhost; amqplib, and this module, as "/".
    { input: "amqp://host/", expected: [undefined, undefined, "host", 5672, "/"] },
    { input: "amqp://host/%2f", expected: [undefined, undefined, "host", 5672, "/"] },
    { input: "amqp://[::1]", expected: [undefined, undefined, "::1", 5672, "/"] },
    { input: "amqp://host:100", expected: [undefined, undefined, "host", 100, "/"] },
    { input: "amqp://[::1]:100", expected: [undefined, undefined, "::1", 100, "/"] },
    { input: "amqp://host/blah", expected: [undefined, undefined, "host", 5672, "blah"] },
    { input: "amqp://host:100/blah", expected: [undefined, undefined, "host", 100, "blah"] },
    { input: "amqp://[::1]/blah", expected: [undefined, undefined, "::1", 5672, "blah"] },
    { input: "amqp://[::1]:100/blah", expected: [undefined, undefined, "::1", 100, "blah"] },
    { input: "amqp://user:pass@host", expected: ["user", "pass", "host", 5672, "/"] },
    { input: "amqp://user:pass@[::1]", expected: ["user", "pass", "::1", 5672, "/"] },
    { input: "amqp://user:pass@[::1]:100", expected: ["user", "pass", "::1", 100, "/"] }
  ])("parses $input", ({ expected, input }) =>
    Effect.gen(function*() {
      const endpoint = yield* parsed(input)
      expect([endpoint.username, endpoint.password, endpoint.hostname, endpoint.port, endpoint.vhost]).toStrictEqual(
        expected
      )
    }))

  it.effect("differs: amqp:///vhost is a typed error (the Java client fills in localhost)", () =>
    Effect.gen(function*() {
      expect(shape(yield* errorOf("amqp:///vhost"))).toStrictEqual({
        tag: "AmqpConnectionStringError",
        part: "host",
        reason: "Empty"
      })
    }))

  it.effect.each([
    { input: "https://www.rabbitmq.com", part: "scheme", reason: "Unsupported" },
    { input: "amqp://foo[::1]", part: "host", reason: "Malformed" },
    { input: "amqp://foo:[::1]", part: "host", reason: "Malformed" },
    { input: "amqp://[::1]foo", part: "host", reason: "Malformed" },
    { input: "amqp://foo%1", part: "host", reason: "InvalidCharacter" },
    { input: "amqp://foo%1x", part: "host", reason: "InvalidCharacter" },
    { input: "amqp://foo%xy", part: "host", reason: "InvalidCharacter" }
  ])("refuses $input ($part, $reason)", ({ input, part, reason }) =>
    Effect.gen(function*() {
      expect(shape(yield* errorOf(input))).toStrictEqual({ tag: "AmqpConnectionStringError", part, reason })
    }))
})

// ---------------------------------------------------------------------------
// Ported: RabbitMQ's URI query parameters page
// (rabbitmq/rabbitmq-website docs/uri-query-parameters.md, examples A and B; the older
//  www.rabbitmq.com/uri-query-parameters.html example with frame_max)
// ---------------------------------------------------------------------------

describe("AmqpConnectionString: the RabbitMQ URI query parameters page", () => {
  it.effect("example A: amqp://myhost?heartbeat=5&connection_timeout=10000", () =>
    Effect.gen(function*() {
      expect(yield* parsed("amqp://myhost?heartbeat=5&connection_timeout=10000")).toStrictEqual({
        ...defaults("myhost"),
        heartbeat: 5,
        connectionTimeout: 10_000
      })
    }))

  it.effect("amqp://myhost?heartbeat=5&frame_max=8192", () =>
    Effect.gen(function*() {
      expect(yield* parsed("amqp://myhost?heartbeat=5&frame_max=8192")).toStrictEqual({
        ...defaults("myhost"),
        heartbeat: 5,
        frameMax: 8192
      })
    }))

  it.effect("differs: example B's TLS options (cacertfile …) are Unsupported: amqplib takes them as socket options", () =>
    Effect.gen(function*() {
      const error = yield* errorOf(
        "amqps://myhost?cacertfile=/path/to/ca_certificate.pem&certfile=/path/to/client_certificate.pem" +
          "&keyfile=/path/to/client_key.pem&verify=verify_peer&server_name_indication=myhost"
      )
      expect(shape(error)).toStrictEqual({
        tag: "AmqpConnectionStringError",
        part: "query",
        reason: "Unsupported",
        key: "cacertfile"
      })
      expect(error.message).toContain("socket options")
    }))

  it.effect("differs: auth_mechanism is Unsupported: amqplib takes the mechanism as the credentials socket option", () =>
    Effect.gen(function*() {
      const error = yield* errorOf("amqp://myhost?auth_mechanism=plain&auth_mechanism=amqplain")
      expect(shape(error)).toStrictEqual({
        tag: "AmqpConnectionStringError",
        part: "query",
        reason: "Unsupported",
        key: "auth_mechanism"
      })
      expect(error.message).toContain("credentials socket option")
    }))
})

// ---------------------------------------------------------------------------
// This module's own rules
// ---------------------------------------------------------------------------

describe("AmqpConnectionString: scheme", () => {
  it.effect.each([
    { input: "amqp://h", protocol: "amqp", port: 5672 },
    { input: "AMQP://h", protocol: "amqp", port: 5672 },
    { input: "amqps://h", protocol: "amqps", port: 5671 },
    { input: "AmQpS://h", protocol: "amqps", port: 5671 }
  ])("$input is $protocol, default port $port", ({ input, port, protocol }) =>
    Effect.gen(function*() {
      const endpoint = yield* parsed(input)
      expect([endpoint.protocol, endpoint.port]).toStrictEqual([protocol, port])
    }))

  it("the default ports", () => {
    expect(AmqpConnectionString.defaultPorts).toStrictEqual({ amqp: 5672, amqps: 5671 })
  })

  it.effect.each(["http://h", "amqp+ssl://h", "rabbitmq://h", "amqp1://h"])(
    "%s: Unsupported scheme",
    (input) =>
      Effect.gen(function*() {
        const error = yield* errorOf(input)
        expect(shape(error)).toStrictEqual({ tag: "AmqpConnectionStringError", part: "scheme", reason: "Unsupported" })
        expect(error.position).toBe(0)
        expect(error.message).toContain("expected amqp:// or amqps://")
      })
  )
})

describe("AmqpConnectionString: host", () => {
  it.effect("several hosts are a typed error that points to urls", () =>
    Effect.gen(function*() {
      const error = yield* errorOf("amqp://guest:pw@h1,h2:5673/vhost")
      expect(shape(error)).toStrictEqual({ tag: "AmqpConnectionStringError", part: "host", reason: "Unsupported" })
      expect(error.message).toContain("one host, got 2")
      expect(error.message).toContain("urls")
    }))

  it.effect.each([
    { input: "amqp://h;x", why: "\";\" is not allowed" },
    { input: "amqp://myhost&heartbeat=5", why: "options go after \"?\"" },
    { input: "amqp://a..b", why: "empty label" },
    { input: "amqp://-a.b", why: "starts or ends with \"-\"" },
    { input: "amqp://999.1.1.1", why: "not a valid IPv4 address" },
    { input: `amqp://${"a".repeat(64)}.b`, why: "longer than 63" },
    { input: `amqp://${"a.".repeat(127)}a`, why: "longer than 253" }
  ])("$input: not a host name (Malformed)", ({ input, why }) =>
    Effect.gen(function*() {
      const error = yield* errorOf(input)
      expect(shape(error)).toStrictEqual({ tag: "AmqpConnectionStringError", part: "host", reason: "Malformed" })
      expect(error.message).toContain(why)
    }))

  it.effect.each([
    { input: "amqp://10.0.0.1", hostname: "10.0.0.1" },
    { input: "amqp://my_rabbit-1.internal", hostname: "my_rabbit-1.internal" },
    { input: "amqp://[fe80::1%25eth0]:5673", hostname: "fe80::1%eth0" },
    { input: "amqp://морда-кошки.ru", hostname: "xn----7sblsjajqep7g.ru" }
  ])("$input: the host $hostname", ({ hostname, input }) =>
    Effect.gen(function*() {
      expect((yield* parsed(input)).hostname).toBe(hostname)
    }))
})

describe("AmqpConnectionString: user info", () => {
  it.effect("user@host: a user name and no password (amqplib then sends an empty one)", () =>
    Effect.gen(function*() {
      const endpoint = yield* AmqpConnectionString.parse("amqp://app@h")
      expect(endpoint.username).toBe("app")
      expect("password" in endpoint).toBe(false)
      expect(AmqpConnectionString.toAmqplib(endpoint)).toStrictEqual({
        protocol: "amqp",
        hostname: "h",
        port: 5672,
        vhost: "/",
        username: "app"
      })
    }))

  it.effect("percent-escapes are UTF-8 (amqplib's unescape would read %C3%A9 as two Latin-1 characters)", () =>
    Effect.gen(function*() {
      const endpoint = yield* parsed("amqp://%C3%A9l%C3%A8ve:mot%20de%20pass%C3%A9@h")
      expect([endpoint.username, endpoint.password]).toStrictEqual(["élève", "mot de passé"])
    }))

  it.effect("a + is a literal +, and a raw # or @ is part of the password (the user info ends at the last @)", () =>
    Effect.gen(function*() {
      const endpoint = yield* parsed("amqp://u+1:pa#s+s@w@rd@h/v+h")
      expect([endpoint.username, endpoint.password, endpoint.hostname, endpoint.vhost]).toStrictEqual([
        "u+1",
        "pa#s+s@w@rd",
        "h",
        "v+h"
      ])
    }))

  it.effect("a Redacted input parses as the string does", () =>
    Effect.gen(function*() {
      const input = "amqp://u:S3cret@h:1/v?heartbeat=3"
      expect(yield* parsed(Redacted.make(input))).toStrictEqual(yield* parsed(input))
    }))

  it("an untyped non-string input is a typed error, not a throw", () => {
    for (const input of [undefined, null, 42, {}, Redacted.make(42)]) {
      const result = AmqpConnectionString.parseEither(input as never)
      expect(Either.isLeft(result) && result.left.part).toBe("scheme")
    }
  })
})

describe("AmqpConnectionString: vhost", () => {
  it.effect.each(["amqp://h/a/b", "amqp://h//", "amqp://h/%2F/", "amqp://h/a/?heartbeat=1"])(
    "%s: a raw \"/\" in the vhost is Malformed (the spec's one segment; amqplib reads amqp://h// as \"/\")",
    (input) =>
      Effect.gen(function*() {
        const error = yield* errorOf(input)
        expect(shape(error)).toStrictEqual({ tag: "AmqpConnectionStringError", part: "path", reason: "Malformed" })
        expect(error.message).toContain("%2F")
        expect(error.position).toBe(input.indexOf("/", "amqp://h/".length))
      })
  )

  it.effect("a vhost of 255 bytes in UTF-8 is accepted, one of 256 bytes is OutOfRange", () =>
    Effect.gen(function*() {
      expect((yield* parsed(`amqp://h/${"v".repeat(255)}`)).vhost).toHaveLength(255)
      expect((yield* parsed(`amqp://h/${"%C3%A9".repeat(127)}v`)).vhost).toBe(`${"é".repeat(127)}v`)
      for (const input of [`amqp://h/${"v".repeat(256)}`, `amqp://h/${"%C3%A9".repeat(128)}`]) {
        expect(shape(yield* errorOf(input))).toStrictEqual({
          tag: "AmqpConnectionStringError",
          part: "path",
          reason: "OutOfRange"
        })
      }
    }))
})

describe("AmqpConnectionString: options", () => {
  it.effect("every option, at its bounds", () =>
    Effect.gen(function*() {
      expect(
        yield* parsed(
          "amqp://h?heartbeat=0&frame_max=4096&channel_max=0&max_frame_size=0&locale=fr_FR&connection_timeout=1"
        )
      ).toStrictEqual({
        ...defaults("h"),
        heartbeat: 0,
        frameMax: 4096,
        channelMax: 0,
        maxFrameSize: 0,
        locale: "fr_FR",
        connectionTimeout: 1
      })
      expect(
        yield* parsed(
          "amqp://h?heartbeat=65535&frame_max=4294967295&channel_max=65535&max_frame_size=4294967295" +
            `&locale=${"l".repeat(255)}&connection_timeout=2147483647`
        )
      ).toStrictEqual({
        ...defaults("h"),
        heartbeat: 65535,
        frameMax: 4294967295,
        channelMax: 65535,
        maxFrameSize: 4294967295,
        locale: "l".repeat(255),
        connectionTimeout: 2147483647
      })
      expect((yield* parsed("amqp://h?max_frame_size=4096")).maxFrameSize).toBe(4096)
    }))

  it.effect("an option that is not given is absent, not filled in with its default", () =>
    Effect.gen(function*() {
      const endpoint = yield* AmqpConnectionString.parse("amqp://h?locale=en_GB")
      expect(Object.keys(endpoint).sort()).toStrictEqual(["hostname", "locale", "port", "protocol", "vhost"])
    }))

  it.effect.each([
    { query: "frameMax=8192" },
    { query: "frame_max=8192" },
    { query: "FRAME-MAX=8192" },
    { query: "Frame_Max=8192" }
  ])("names ignore case, \"_\" and \"-\": $query", ({ query }) =>
    Effect.gen(function*() {
      expect((yield* parsed(`amqp://h?${query}`)).frameMax).toBe(8192)
    }))

  it.effect.each([
    { query: "heartbeat=65536", key: "heartbeat", reason: "OutOfRange", range: "0-65535" },
    { query: "heartbeat=-1", key: "heartbeat", reason: "OutOfRange", range: "0-65535" },
    { query: "heartbeat=5s", key: "heartbeat", reason: "Malformed", range: "0-65535" },
    { query: "heartbeat=+5", key: "heartbeat", reason: "Malformed", range: "0-65535" },
    { query: "heartbeat=1e3", key: "heartbeat", reason: "Malformed", range: "0-65535" },
    { query: "heartbeat", key: "heartbeat", reason: "Empty", range: "0-65535" },
    { query: "heartbeat=", key: "heartbeat", reason: "Empty", range: "0-65535" },
    { query: "frame_max=4095", key: "frame_max", reason: "OutOfRange", range: "4096-4294967295" },
    { query: "frame_max=0", key: "frame_max", reason: "OutOfRange", range: "4096-4294967295" },
    { query: "frameMax=4294967296", key: "frame_max", reason: "OutOfRange", range: "4096-4294967295" },
    { query: "channel_max=65536", key: "channel_max", reason: "OutOfRange", range: "0-65535" },
    { query: "channelMax=ten", key: "channel_max", reason: "Malformed", range: "0-65535" },
    { query: "max_frame_size=4095", key: "max_frame_size", reason: "OutOfRange", range: "4096-4294967295" },
    { query: "maxFrameSize=4294967296", key: "max_frame_size", reason: "OutOfRange", range: "4096-4294967295" },
    { query: "locale=", key: "locale", reason: "Empty", range: "at most 255 bytes" },
    { query: `locale=${"%C3%A9".repeat(128)}`, key: "locale", reason: "OutOfRange", range: "at most 255 bytes" },
    { query: "connection_timeout=0", key: "connection_timeout", reason: "OutOfRange", range: "1-2147483647" },
    {
      query: "connectionTimeout=2147483648",
      key: "connection_timeout",
      reason: "OutOfRange",
      range: "1-2147483647"
    },
    { query: "connection_timeout=10s", key: "connection_timeout", reason: "Malformed", range: "1-2147483647" }
  ])("$query: $reason, the message names $key and $range", ({ key, query, range, reason }) =>
    Effect.gen(function*() {
      const error = yield* errorOf(`amqp://guest:S3cret@h?${query}`)
      expect(shape(error)).toStrictEqual({ tag: "AmqpConnectionStringError", part: "query", reason, key })
      expect(error.message).toContain(`${key} must be`)
      expect(error.message).toContain(range)
    }))

  it.effect("an unknown option is Unsupported and named, with the list of options", () =>
    Effect.gen(function*() {
      const error = yield* errorOf("amqp://h?heartbeat=5&heartbeet=10")
      expect(shape(error)).toStrictEqual({
        tag: "AmqpConnectionStringError",
        part: "query",
        reason: "Unsupported",
        key: "heartbeet"
      })
      expect(error.message).toContain("unknown option \"heartbeet\"")
      for (const name of AmqpConnectionString.optionNames) expect(error.message).toContain(name)
    }))

  it.effect.each([
    { query: "heartbeat=1&heartbeat=1", key: "heartbeat", spellings: false },
    { query: "heartbeat=1&heartbeat=2", key: "heartbeat", spellings: false },
    { query: "frameMax=8192&frame_max=8192", key: "frame_max", spellings: true },
    { query: "locale=en_US&heartbeat=1&LOCALE=fr_FR", key: "locale", spellings: true }
  ])("$query: an option given twice is Malformed", ({ key, query, spellings }) =>
    Effect.gen(function*() {
      const error = yield* errorOf(`amqp://h?${query}`)
      expect(shape(error)).toStrictEqual({ tag: "AmqpConnectionStringError", part: "query", reason: "Malformed", key })
      expect(error.message).toContain(`${key} is given more than once`)
      expect(error.message.includes("names ignore case")).toBe(spellings)
    }))

  it("the option names", () => {
    expect(AmqpConnectionString.optionNames).toStrictEqual([
      "heartbeat",
      "frame_max",
      "channel_max",
      "max_frame_size",
      "locale",
      "connection_timeout"
    ])
  })
})

// ---------------------------------------------------------------------------
// toAmqplib, and what amqplib 2.3.1 makes of it in a real handshake
// ---------------------------------------------------------------------------

/** What a client said in the opening handshake (AMQP 0-9-1 section 2.2.4). */
interface Handshake {
  readonly username: string
  readonly password: string
  readonly locale: string
  readonly channelMax: number
  readonly frameMax: number
  readonly heartbeat: number
  readonly vhost: string
}

const methodFrame = (classId: number, methodId: number, args: Buffer): Buffer => {
  const header = Buffer.alloc(11)
  header.writeUInt8(1, 0)
  header.writeUInt16BE(0, 1)
  header.writeUInt32BE(args.length + 4, 3)
  header.writeUInt16BE(classId, 7)
  header.writeUInt16BE(methodId, 9)
  return Buffer.concat([header, args, Buffer.from([0xce])])
}

const longString = (text: string): Buffer => {
  const bytes = Buffer.from(text, "utf8")
  const length = Buffer.alloc(4)
  length.writeUInt32BE(bytes.length, 0)
  return Buffer.concat([length, bytes])
}

/** connection.start: version 0-9, no server properties, PLAIN, en_US. */
const start = Buffer.concat([Buffer.from([0, 9, 0, 0, 0, 0]), longString("PLAIN"), longString("en_US")])
/** connection.tune: no limits from the broker (0, 0, 0), so the client's own values come back. */
const tune = Buffer.alloc(8)

/**
 * A broker that answers amqplib's opening handshake up to `connection.open` and records what the
 * client sent (as amqplib's own test/uri_spec.test.js does), then drops the connection.
 */
const captureHandshake = (options: (port: number) => Options.Connect): Effect.Effect<Handshake> =>
  Effect.async<Handshake>((resume) => {
    const captured: { -readonly [K in keyof Handshake]?: Handshake[K] } = {}
    const server = net.createServer((socket) => {
      let buffer = Buffer.alloc(0)
      let started = false
      socket.on("data", (chunk) => {
        buffer = Buffer.concat([buffer, chunk])
        if (!started) {
          if (buffer.length < 8) return
          buffer = buffer.subarray(8)
          started = true
          socket.write(methodFrame(10, 10, start))
        }
        while (buffer.length >= 7 && buffer.length >= 8 + buffer.readUInt32BE(3)) {
          const size = buffer.readUInt32BE(3)
          const payload = buffer.subarray(7, 7 + size)
          buffer = buffer.subarray(8 + size)
          let at = 4
          const shortString = () => {
            const length = payload.readUInt8(at)
            at += 1 + length
            return payload.toString("utf8", at - length, at)
          }
          const long = () => {
            const length = payload.readUInt32BE(at)
            at += 4 + length
            return payload.toString("utf8", at - length, at)
          }
          switch (payload.readUInt16BE(2)) {
            case 11: { // start-ok: client-properties, mechanism, response, locale
              long()
              shortString()
              const [, username = "", password = ""] = long().split("\0")
              captured.username = username
              captured.password = password
              captured.locale = shortString()
              socket.write(methodFrame(10, 30, tune))
              break
            }
            case 31: // tune-ok: channel-max, frame-max, heartbeat
              captured.channelMax = payload.readUInt16BE(4)
              captured.frameMax = payload.readUInt32BE(6)
              captured.heartbeat = payload.readUInt16BE(10)
              break
            case 40: // open: virtual-host
              captured.vhost = shortString()
              socket.destroy()
              server.close()
              resume(Effect.succeed(captured as Handshake))
              break
          }
        }
      })
    })
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo
      // The connection is dropped after connection.open: amqplib's promise rejects, as expected.
      connect(options(port)).then((model) => model.close(), () => undefined)
    })
    return Effect.sync(() => server.close())
  })

const handshakeOf = (url: string): Effect.Effect<Handshake, AmqpConnectionStringError> =>
  Effect.flatMap(
    AmqpConnectionString.parse(url),
    (endpoint) => captureHandshake((port) => AmqpConnectionString.toAmqplib({ ...endpoint, port }))
  )

describe("AmqpConnectionString.toAmqplib", () => {
  it.effect("amqplib's Options.Connect: every field the endpoint has, the password revealed", () =>
    Effect.gen(function*() {
      const endpoint = yield* AmqpConnectionString.parse(
        "amqps://app:s3cret@rabbit:5000/orders?heartbeat=10&frame_max=8192&channel_max=7&max_frame_size=0" +
          "&locale=fr_FR&connection_timeout=2500"
      )
      expect(AmqpConnectionString.toAmqplib(endpoint)).toStrictEqual({
        protocol: "amqps",
        hostname: "rabbit",
        port: 5000,
        vhost: "orders",
        username: "app",
        password: "s3cret",
        heartbeat: 10,
        frameMax: 8192,
        channelMax: 7,
        maxFrameSize: 0,
        locale: "fr_FR"
      })
    }))

  it.effect("a % in the vhost is given as %25: amqplib percent-decodes the vhost of the object too", () =>
    Effect.gen(function*() {
      const endpoint = yield* AmqpConnectionString.parse("amqp://h/100%25%2541%2F")
      expect(endpoint.vhost).toBe("100%%41/")
      expect(AmqpConnectionString.toAmqplib(endpoint).vhost).toBe("100%25%2541/")
    }))

  it("a name in another script is given in its ASCII form", () => {
    const endpoint = AmqpConnectionString.Endpoint.make({
      protocol: "amqp",
      hostname: "морда-кошки.ru",
      port: 5672,
      vhost: "/"
    })
    expect(AmqpConnectionString.toAmqplib(endpoint).hostname).toBe("xn----7sblsjajqep7g.ru")
  })

  it.effect("amqplib sends guest/guest, vhost \"/\", en_US and its own tuning without user info or options", () =>
    Effect.gen(function*() {
      expect(yield* handshakeOf("amqp://127.0.0.1")).toStrictEqual({
        username: "guest",
        password: "guest",
        locale: "en_US",
        channelMax: 0,
        frameMax: 131072,
        heartbeat: 0,
        vhost: "/"
      })
    }))

  it.effect("amqplib sends the decoded user info, vhost and options (a % in the vhost survives its unescape)", () =>
    Effect.gen(function*() {
      const handshake = yield* handshakeOf(
        "amqp://us%3Aer:p%40ss%25w+rd%C3%A9@127.0.0.1/100%25%2541%2Fv%20h?heartbeat=7&frameMax=8192&channel_max=9&locale=fr_FR"
      )
      expect(handshake).toStrictEqual({
        username: "us:er",
        password: "p@ss%w+rdé",
        locale: "fr_FR",
        channelMax: 9,
        frameMax: 8192,
        heartbeat: 7,
        // Unescaped, amqplib would send "100%A/v h".
        vhost: "100%%41/v h"
      })
    }))

  it.effect("a user without a password: amqplib sends an empty password, not guest", () =>
    Effect.gen(function*() {
      const handshake = yield* handshakeOf("amqp://app@127.0.0.1/%2F")
      expect([handshake.username, handshake.password, handshake.vhost]).toStrictEqual(["app", "", "/"])
    }))
})

// ---------------------------------------------------------------------------
// Printing, Schema, Config
// ---------------------------------------------------------------------------

describe("AmqpConnectionString: printing", () => {
  it.effect("format: the password as ***, the port always, the vhost encoded, options in order", () =>
    Effect.gen(function*() {
      const cases: ReadonlyArray<readonly [string, string]> = [
        [
          "AMQPS://us%40er:s3cret@Rabbit/%2F?locale=fr_FR&frameMax=8192&connectionTimeout=250&heartbeat=5",
          "amqps://us%40er:***@Rabbit:5671/%2F?heartbeat=5&frame_max=8192&locale=fr_FR&connection_timeout=250"
        ],
        ["amqp://h", "amqp://h:5672/%2F"],
        ["amqp://app@h:1/v%20h", "amqp://app@h:1/v%20h"],
        ["amqp://app:@h", "amqp://app:***@h:5672/%2F"],
        ["amqp://[fe80::1%25eth0]:5673/a%2Fb", "amqp://[fe80::1%25eth0]:5673/a%2Fb"]
      ]
      for (const [input, formatted] of cases) {
        expect(AmqpConnectionString.format(yield* AmqpConnectionString.parse(input))).toBe(formatted)
      }
    }))

  it.effect("describe: the broker only, without user info or options", () =>
    Effect.gen(function*() {
      const endpoint = yield* AmqpConnectionString.parse("amqps://app:s3cret@[::1]/%2F?heartbeat=5")
      expect(AmqpConnectionString.describe(endpoint)).toBe("amqps://[::1]:5671/%2F")
    }))

  it.effect("JSON.stringify and util.inspect show the password as <redacted>", () =>
    Effect.gen(function*() {
      const endpoint = yield* AmqpConnectionString.parse("amqp://app:S3cret@h")
      expect(JSON.stringify(endpoint)).toContain("\"password\":\"<redacted>\"")
      expect(util.inspect(endpoint)).toContain("<redacted>")
      for (const text of shown(endpoint)) expect(text).not.toContain("S3cret")
    }))
})

describe("AmqpConnectionString: Schema and Config", () => {
  it.effect("FromString decodes, and encodes back with the password in clear (decoding gives the same endpoint)", () =>
    Effect.gen(function*() {
      const input = "amqp://app:S3cret@h:5673/v?heartbeat=5&connection_timeout=100"
      const endpoint = yield* Schema.decodeUnknown(AmqpConnectionString.FromString)(input)
      expect(plain(endpoint)).toStrictEqual(yield* parsed(input))
      const encoded = yield* Schema.encode(AmqpConnectionString.FromString)(endpoint)
      expect(encoded).toBe("amqp://app:S3cret@h:5673/v?heartbeat=5&connection_timeout=100")
      expect(plain(yield* Schema.decodeUnknown(AmqpConnectionString.FromString)(encoded))).toStrictEqual(
        plain(endpoint)
      )
    }))

  it("a FromString failure carries the message, and its issue holds the input with the password masked", () => {
    const result = decode("amqp://app:S3cret@h?heartbeat=x")
    if (Either.isRight(result)) throw new Error("expected a failure")
    expect(result.left.issue.actual).toBe("amqp://app:***@h?heartbeat=x")
    expect(JSON.stringify(result.left.issue)).not.toContain("S3cret")
    expect(result.left.message).toContain("heartbeat must be a whole number of seconds")
  })

  it("a FromString failure on a host this module refuses masks what may be user:password (admin:1234,S3cret)", () => {
    const result = decode("amqp://admin:1234,S3cret")
    if (Either.isRight(result)) throw new Error("expected a failure")
    expect(result.left.issue.actual).toBe("amqp://admin:***")
  })

  it.effect("config reads a string (as Config.redacted) into an endpoint", () =>
    Effect.gen(function*() {
      const result = fromConfig("amqp://app:S3cret@h/v")
      if (Either.isLeft(result)) throw new Error(`expected a value: ${result.left}`)
      expect(plain(result.right)).toStrictEqual(yield* parsed("amqp://app:S3cret@h/v"))
    }))

  it("config: an invalid string is an InvalidData error with the message, without the password", () => {
    const result = fromConfig("amqp://app:S3cret@h?frame_max=1")
    if (Either.isRight(result)) throw new Error("expected a failure")
    expect(result.left._op).toBe("InvalidData")
    expect(String(result.left)).toContain("frame_max must be a whole number of bytes in 4096-4294967295")
    expect(String(result.left)).not.toContain("S3cret")
  })
})

// ---------------------------------------------------------------------------
// Secrets
// ---------------------------------------------------------------------------

describe("AmqpConnectionString: no message ever shows the password", () => {
  it.each([
    "amqp://admin:S3cret",
    "amqp://admin:S3cret/vhost",
    "amqp://admin:S3cret?heartbeat=1",
    "amqp://admin:1234,S3cret",
    "amqp://admin:1234,S3c;ret",
    "amqp://ad;min:S3cret",
    "amqp://guest:S3cret@h?heartbeat=S3cret",
    "amqp://guest:S3cret@h?locale=xS3cretx&locale=1",
    "amqp://guest:S3cret@h?S3cret=1",
    "amqp://guest:S3cret@h?x=1&frameMax=S3cret",
    "amqp://guest:S3cret@h/S3cret/x",
    "amqp://guest:S3cret@h/%zzS3cret",
    "amqp://guest:S3cret@h;x",
    "amqp://guest:S3cret@h1,h2",
    "amqp://guest:S3cret@",
    "amqp://guest:S3cret@:5672",
    "amqp://:S3cret@h",
    "http://guest:S3cret@h",
    "amqp://guest:S3c?ret@h",
    "amqp://guest:S3c/ret@h",
    "amqp://guest:S3cret@h?password=S3cret&tls=1",
    "amqp://guest:S3cret@h?frameMax=1&frame_max=S3cret",
    "amqp://guest:S3cret@h:99999",
    "amqp://guest:S3cret@h?frameMax=S3cret",
    "amqp://guest:S3cret@[::1",
    // The password as written (still percent-encoded) in another value, which decodes to it (found by fast-check).
    "amqp://u:S3c%7aret@h?heartbeat=S3c%257aret",
    "amqp://:S3c%7a@h?heartbeat=S3c%257a",
    "amqp://u:S3c%7aret@h?locale=S3c%257aret&locale=x",
    // ...in an input core refuses (an empty user name), and in one it reads (found by fast-check in CI)
    "amqp://:S3c%7a@h?frameMax=8192&frame_max=S3c%257a",
    ":S3c%7a@h?frameMax=8192&frame_max=S3c%257a",
    "amqp://u:S3c%7a@h?frameMax=8192&frame_max=S3c%257a"
  ])("%s", (input) => {
    const texts = everything(input)
    expect(texts.length).toBeGreaterThan(0)
    for (const text of texts) expect(text).not.toContain("S3c")
  })

  const secret = fc.string({
    unit: fc.constantFrom("a", "B", "7", ":", "/", "?", "&", "=", "%", "#", " ", "é", "+", ",", "[", "]"),
    maxLength: 8
  }).map((s) => `Zq9${s}`)
  const malformed = fc.tuple(
    fc.constantFrom("amqp://", "amqps://", "AMQP://", "http://", ""),
    fc.constantFrom("", "guest", "u", "h1,guest"),
    secret,
    fc.constantFrom(
      "",
      "@h",
      "@h,h2",
      "@h/a/b",
      "@h;x",
      "@",
      "@:1",
      "@h?heartbeat=x",
      "@h?heartbeat=",
      "@h?locale=x&locale=",
      "@h?frameMax=8192&frame_max=",
      "@h?tls=",
      "@[::1",
      "/",
      ",h2",
      "?heartbeat=1"
    )
  ).map(([scheme, user, secret, tail]) =>
    // A tail ending in "=" repeats the secret where it does not belong (a misplaced password), encoded.
    `${scheme}${user}:${secret}${tail}${tail.endsWith("=") ? encodeURIComponent(secret) : ""}`
  )

  it.prop("no output for a string holding a password shows it", [malformed], ([input]) => {
    for (const text of everything(input)) expect(text).not.toContain("Zq9")
  }, { fastCheck: { numRuns: 500 } })
})

// ---------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------

describe("AmqpConnectionString: properties", () => {
  const entryPoints = (input: string): void => {
    const result = AmqpConnectionString.parseEither(input)
    if (Either.isRight(result)) {
      AmqpConnectionString.format(result.right)
      AmqpConnectionString.describe(result.right)
      AmqpConnectionString.toAmqplib(result.right)
    } else {
      expect(result.left._tag).toBe("AmqpConnectionStringError")
    }
    expect(Either.isEither(decode(input))).toBe(true)
  }
  const lone = fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c))

  it.prop("any string parses or fails typed, never throws", [
    fc.oneof(fc.string({ unit: "binary" }), fc.string({ unit: lone }))
  ], ([input]) => {
    entryPoints(input)
    entryPoints(`amqp://${input}`)
    entryPoints(`amqp://u:p@h/${input}`)
    entryPoints(`amqps://u:p@h?${input}=${input}&heartbeat=${input}`)
  }, { fastCheck: { numRuns: 300 } })

  const char = fc.oneof(
    fc.constantFrom("a", "Z", "0", "/", "%", "?", "#", "@", ":", "+", " ", "&", "=", "[", "]", ",", "\u0000", "~"),
    fc.string({ unit: "binary", minLength: 1, maxLength: 1 })
  )
  const text = (minLength: number, maxLength: number) => fc.string({ unit: char, minLength, maxLength })
  const label = fc.stringMatching(/^[a-z0-9]([a-z0-9_-]{0,8}[a-z0-9])?$/)
  const hostname = fc.oneof(
    fc.constantFrom("10.0.0.1", "::1", "fe80::1%eth0", "2001:db8::8a2e:370:7334", "xn--80ak6aa92e.com"),
    fc.array(label, { minLength: 1, maxLength: 4 }).map((labels) => labels.join(".")).filter((h) =>
      !/^[0-9.]+$/.test(h)
    )
  )
  const userInfo = fc.oneof(
    fc.constant({}),
    fc.record({ username: text(1, 12) }),
    fc.record({ username: text(1, 12), password: text(0, 12).map(Redacted.make) })
  )
  const options = fc.record({
    heartbeat: fc.integer({ min: 0, max: 65535 }),
    frameMax: fc.integer({ min: 4096, max: 0xffffffff }),
    channelMax: fc.integer({ min: 0, max: 65535 }),
    maxFrameSize: fc.oneof(fc.constant(0), fc.integer({ min: 4096, max: 0xffffffff })),
    locale: text(1, 12),
    connectionTimeout: fc.integer({ min: 1, max: 2 ** 31 - 1 }).map(Duration.millis)
  }, { requiredKeys: [] })
  const endpoint: fc.Arbitrary<Endpoint> = fc.tuple(
    fc.constantFrom("amqp" as const, "amqps" as const),
    hostname,
    fc.integer({ min: 1, max: 65535 }),
    userInfo,
    text(1, 40),
    options
  ).map(([protocol, hostname, port, user, vhost, options]) => ({
    protocol,
    hostname,
    port,
    ...user,
    vhost,
    ...options
  }))

  it.prop("every generated endpoint is valid by the Endpoint schema", [endpoint], ([endpoint]) => {
    expect(Schema.is(AmqpConnectionString.Endpoint)(endpoint)).toBe(true)
  }, { fastCheck: { numRuns: 200 } })

  it.prop("an encoded endpoint (FromString) parses back to the same endpoint", [endpoint], ([endpoint]) => {
    const encoded = Schema.encodeSync(AmqpConnectionString.FromString)(endpoint)
    const result = AmqpConnectionString.parseEither(encoded)
    if (Either.isLeft(result)) throw new Error(`${JSON.stringify(encoded)} does not parse: ${result.left.message}`)
    expect(plain(result.right)).toStrictEqual(plain(endpoint))
  }, { fastCheck: { numRuns: 500 } })

  it.prop("a formatted endpoint parses back to the same endpoint, its password ***", [endpoint], ([endpoint]) => {
    const formatted = AmqpConnectionString.format(endpoint)
    const result = AmqpConnectionString.parseEither(formatted)
    if (Either.isLeft(result)) throw new Error(`${JSON.stringify(formatted)} does not parse: ${result.left.message}`)
    expect(plain(result.right)).toStrictEqual(
      plain(endpoint.password === undefined ? endpoint : { ...endpoint, password: Redacted.make("***") })
    )
    expect(formatted.includes(":***@")).toBe(endpoint.password !== undefined)
  }, { fastCheck: { numRuns: 500 } })
})

// ---------------------------------------------------------------------------
// Linear time
// ---------------------------------------------------------------------------

describe("AmqpConnectionString: linear time", () => {
  const work = StringWork.work
  /** Inputs of about `n` characters, each repeating one segment that the parser scans. */
  const shapes: ReadonlyArray<readonly [string, (n: number) => string]> = [
    ["a long password", (n) => `amqp://u:${"s".repeat(n)}@h`],
    ["a user:password without @host", (n) => `amqp://guest:${"s".repeat(n)}`],
    ["a long vhost", (n) => `amqp://h/${"v".repeat(n)}`],
    ["raw \"/\" in the path", (n) => `amqp://h/${"a/".repeat(n / 2)}`],
    ["percent-escapes in the vhost", (n) => `amqp://h/${"%C3%A9".repeat(n / 6)}`],
    ["percent-escapes in the user name", (n) => `amqp://${"%C3%A9".repeat(n / 6)}:p@h`],
    ["many hosts", (n) => `amqp://${"h,".repeat(n / 2)}h`],
    ["many hosts without user info", (n) => `amqp://admin:1234,${"s,".repeat(n / 2)}s`],
    ["a long host name", (n) => `amqp://${"a".repeat(n)}`],
    ["unknown options", (n) => `amqp://h?${"x&".repeat(n / 2)}x`],
    ["a repeated option", (n) => `amqp://h?${"heartbeat=1&".repeat(n / 12)}heartbeat=1`],
    ["a long option value", (n) => `amqp://h?locale=${"l".repeat(n)}`],
    ["a long option name", (n) => `amqp://h?${"y".repeat(n)}=1`],
    ["the password repeated in values", (n) => `amqp://u:pw@h?locale=${"pw".repeat(n / 2)}`]
  ]
  const operations: ReadonlyArray<readonly [string, (input: string) => unknown]> = [
    ["parseEither", AmqpConnectionString.parseEither],
    ["FromString", decode],
    ["format", (input) => Either.map(AmqpConnectionString.parseEither(input), AmqpConnectionString.format)]
  ]
  for (const [shape, make] of shapes) {
    for (const [name, operation] of operations) {
      it(`${name}: ${shape}, 20 kB then 200 kB`, () => {
        // Counted work, not time (so the sizes need not be huge): 10 × the input costs ~10 × the
        // work when linear, ~100 × when quadratic.
        const small = work(() => operation(make(20_000)))
        const large = work(() => operation(make(200_000)))
        expect(small).toBeGreaterThan(0)
        expect(large / small).toBeLessThan(13)
      })
    }
  }
})
