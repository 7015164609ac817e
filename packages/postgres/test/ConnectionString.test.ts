/**
 * PgConnectionString: libpq's URI and keyword/value examples (PostgreSQL 15 docs, section
 * 34.1.1), the cases of pg-connection-string's own suite that apply (brianc/node-postgres,
 * packages/pg-connection-string/test/parse.ts and clientConfig.ts, 2.14), every key, the checks
 * across keys, conversions (TLS files read in an Effect), printing, secrets, properties and
 * linear time.
 */
import { describe, expect, it } from "@effect/vitest"
import { isRedialError } from "@redial/core"
import { StringWork } from "@redial/testing"
import {
  Cause,
  ConfigProvider,
  Duration,
  Effect,
  Either,
  Exit,
  FastCheck as fc,
  ParseResult,
  Redacted,
  Schema
} from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as util from "node:util"
import { PgConnectionString } from "../src/index.js"

type Endpoint = PgConnectionString.Endpoint
type PgConnectionStringError = PgConnectionString.PgConnectionStringError

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

const durationFields = [
  "connectTimeout",
  "keepAliveInitialDelay",
  "statementTimeout",
  "lockTimeout",
  "idleInTransactionSessionTimeout",
  "queryTimeout"
] as const

/** An endpoint as plain data: secrets revealed, durations in milliseconds (infinity as "infinity"). */
const plain = (endpoint: Endpoint): Record<string, unknown> => {
  const out: Record<string, unknown> = { ...endpoint }
  if (endpoint.password !== undefined) out["password"] = Redacted.value(endpoint.password)
  if (endpoint.sslpassword !== undefined) out["sslpassword"] = Redacted.value(endpoint.sslpassword)
  for (const field of durationFields) {
    const d = endpoint[field]
    if (d !== undefined) out[field] = Duration.isFinite(d) ? Duration.toMillis(d) : "infinity"
  }
  return out
}

const parsed = (input: string): Record<string, unknown> =>
  Either.match(PgConnectionString.parseEither(input), {
    onLeft: (error) => {
      throw new Error(`expected ${JSON.stringify(input)} to parse: ${error.message}`)
    },
    onRight: plain
  })

const errorOf = (input: string): PgConnectionStringError =>
  Either.match(PgConnectionString.parseEither(input), {
    onLeft: (error) => error,
    onRight: (endpoint) => {
      throw new Error(`expected ${JSON.stringify(input)} to fail, got ${PgConnectionString.format(endpoint)}`)
    }
  })

/** The fields of an error that a caller matches on. */
const shape = (error: PgConnectionStringError) => ({
  part: error.part,
  reason: error.reason,
  ...(error.key === undefined ? {} : { key: error.key })
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

const decode = Schema.decodeUnknownEither(PgConnectionString.FromString)

const fromConfig = (input: string) =>
  Effect.runSync(
    Effect.either(PgConnectionString.config("DATABASE_URL")).pipe(
      Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["DATABASE_URL", input]])))
    )
  )

/** Everything the parser, the printers, the schema and the config say about `input`. */
const everything = (input: string): ReadonlyArray<string> => [
  PgConnectionString.redact(input),
  ...[input, Redacted.make(input)].flatMap((value) =>
    Either.match(PgConnectionString.parseEither(value), {
      onLeft: shown,
      // The endpoint's secret fields (a password also given as, say, the application name is that
      // field's value: the endpoint holds it, format masks it).
      onRight: (endpoint) => [
        PgConnectionString.format(endpoint),
        PgConnectionString.describe(endpoint),
        ...shown({ password: endpoint.password, sslpassword: endpoint.sslpassword })
      ]
    })
  ),
  ...Either.match(decode(input), { onLeft: shown, onRight: () => [] }),
  ...Either.match(fromConfig(input), { onLeft: shown, onRight: () => [] })
]

// ---------------------------------------------------------------------------
// Ported: libpq's examples (PostgreSQL 15, 34.1.1.1 Keyword/Value Connection Strings and
// 34.1.1.2 Connection URIs, https://www.postgresql.org/docs/15/libpq-connect.html#LIBPQ-CONNSTRING)
// ---------------------------------------------------------------------------

describe("PgConnectionString: libpq's examples (PostgreSQL 15, 34.1.1)", () => {
  it.each([
    ["postgresql://", {}],
    ["postgresql://localhost", { host: "localhost" }],
    ["postgresql://localhost:5433", { host: "localhost", port: 5433 }],
    ["postgresql://localhost/mydb", { host: "localhost", database: "mydb" }],
    ["postgresql://user@localhost", { host: "localhost", user: "user" }],
    ["postgresql://user:secret@localhost", { host: "localhost", user: "user", password: "secret" }],
    [
      "postgresql://other@localhost/otherdb?connect_timeout=10&application_name=myapp",
      { host: "localhost", user: "other", database: "otherdb", connectTimeout: 10_000, applicationName: "myapp" }
    ],
    ["postgresql:///mydb?host=localhost&port=5433", { host: "localhost", port: 5433, database: "mydb" }],
    [
      "postgresql://user@localhost:5433/mydb?options=-c%20synchronous_commit%3Doff",
      { host: "localhost", port: 5433, user: "user", database: "mydb", options: "-c synchronous_commit=off" }
    ],
    ["postgresql://[2001:db8::1234]/database", { host: "2001:db8::1234", database: "database" }],
    ["postgresql:///dbname?host=/var/lib/postgresql", { host: "/var/lib/postgresql", database: "dbname" }],
    ["postgresql://%2Fvar%2Flib%2Fpostgresql/dbname", { host: "/var/lib/postgresql", database: "dbname" }],
    [
      "host=localhost port=5432 dbname=mydb connect_timeout=10",
      { host: "localhost", port: 5432, database: "mydb", connectTimeout: 10_000 }
    ]
  ])("%s", (input, expected) => {
    expect(parsed(input)).toStrictEqual(expected)
  })

  it("differs: the multi-host example is refused, node-postgres connects to one host", () => {
    const error = errorOf("postgresql://host1:123,host2:456/somedb?target_session_attrs=any&application_name=myapp")
    expect(shape(error)).toStrictEqual({ part: "host", reason: "Unsupported", key: "host" })
    expect(error.message).toContain("node-postgres does not support")
    // Each part of the example alone: one host with target_session_attrs is refused for that key.
    expect(shape(errorOf("postgresql://host1:123/somedb?target_session_attrs=any"))).toStrictEqual({
      part: "query",
      reason: "Unsupported",
      key: "target_session_attrs"
    })
  })
})

// ---------------------------------------------------------------------------
// Ported: pg-connection-string's suite (brianc/node-postgres, packages/pg-connection-string/test/
// parse.ts and clientConfig.ts). Its `pg://` scheme is written postgres:// here (redial reads
// postgres:// and postgresql:// only); each case where redial differs says so.
// ---------------------------------------------------------------------------

describe("PgConnectionString: pg-connection-string's cases", () => {
  it("using connection string in client constructor", () => {
    expect(parsed("postgres://brian:pw@boom:381/lala")).toStrictEqual({
      host: "boom",
      port: 381,
      user: "brian",
      password: "pw",
      database: "lala"
    })
  })

  it("escape spaces if present / do not double escape spaces", () => {
    expect(parsed("postgres://localhost/post gres").database).toBe("post gres")
    expect(parsed("postgres://localhost/post%20gres").database).toBe("post gres")
  })

  it("password contains < and/or > characters; password contains colons", () => {
    expect(parsed("postgres://brian:hello<ther>e@localhost:5432/postgres").password).toBe("hello<ther>e")
    expect(parsed("postgres://brian:hello:pass:world@localhost:5432/postgres").password).toBe("hello:pass:world")
  })

  it("url is properly encoded", () => {
    expect(parsed("postgres://bi%25na%25%25ry%20:s%40f%23@localhost/%20u%2520rl")).toStrictEqual({
      host: "localhost",
      user: "bi%na%%ry ",
      password: "s@f#",
      database: " u%20rl"
    })
  })

  it("differs: username or password contains weird characters (a malformed escape) is an Encoding error", () => {
    // pg re-encodes the string and reads "my f%irst name"; a malformed escape is refused here.
    const error = errorOf("postgres://my f%irst name:is&%awesome!@localhost:9000")
    expect(shape(error)).toStrictEqual({ part: "credentials", reason: "Encoding" })
    expect(error.message).not.toContain("awesome")
  })

  it("no pathname returns no database; pathname of \"/\" returns no database", () => {
    expect(parsed("postgres://myhost")).toStrictEqual({ host: "myhost" })
    expect(parsed("postgres://myhost/")).toStrictEqual({ host: "myhost" })
  })

  it("configuration parameter host (an empty host in the authority)", () => {
    expect(parsed("postgres://user:pass@/dbname?host=/unix/socket")).toStrictEqual({
      user: "user",
      password: "pass",
      host: "/unix/socket",
      database: "dbname"
    })
  })

  it("url with encoded socket", () => {
    expect(parsed("postgres://user:pass@%2Funix%2Fsocket/dbname")).toStrictEqual({
      user: "user",
      password: "pass",
      host: "/unix/socket",
      database: "dbname"
    })
  })

  it("differs: url with real host and an encoded db name: %2F decodes to \"/\" (libpq), pg keeps \"%2Fdbname\"", () => {
    expect(parsed("postgres://user:pass@localhost/%2Fdbname").database).toBe("/dbname")
  })

  it("differs: a host in the authority and in ?host= is refused; pg lets the query win (or moves it into the database)", () => {
    for (
      const input of [
        "postgres://user:pass@localhost/dbname?host=/unix/socket",
        "postgres://user:pass@%2Funix%2Fsocket/dbname?host=localhost"
      ]
    ) {
      const error = errorOf(input)
      expect(shape(error)).toStrictEqual({ part: "query", reason: "Malformed", key: "host" })
      expect(error.message).toContain("host is given more than once (in the authority and as ?host=)")
      expect(error.message).not.toContain("pass")
    }
  })

  it("configuration parameters application_name, fallback_application_name, options", () => {
    expect(parsed("postgres:///?application_name=TheApp")).toStrictEqual({ applicationName: "TheApp" })
    expect(parsed("postgres:///?fallback_application_name=TheAppFallback")).toStrictEqual({
      fallbackApplicationName: "TheAppFallback"
    })
    expect(parsed("postgres:///?options=-c geqo=off")).toStrictEqual({ options: "-c geqo=off" })
  })

  it("converts query params (client_encoding=utf8 is accepted: pg always speaks UTF8)", () => {
    expect(
      parsed(
        "postgres:///?application_name=TheApp&fallback_application_name=TheAppFallback&client_encoding=utf8&options=-c geqo=off"
      )
    ).toStrictEqual({
      applicationName: "TheApp",
      fallbackApplicationName: "TheAppFallback",
      clientEncoding: "UTF8",
      options: "-c geqo=off"
    })
  })

  it("differs: ssl=true, ssl=1, ssl=0 are refused (libpq reads ssl=true as require, pg as verify-full)", () => {
    for (const value of ["true", "1", "0"]) {
      const error = errorOf(`postgres://myhost/db?ssl=${value}`)
      expect(shape(error)).toStrictEqual({ part: "query", reason: "Unsupported", key: "ssl" })
      expect(error.message).toContain("write the sslmode you mean")
    }
  })

  it("configuration parameter sslnegotiation=postgres is read; differs: direct is refused", () => {
    expect(parsed("postgres:///?sslnegotiation=postgres")).toStrictEqual({})
    expect(shape(errorOf("postgres:///?sslnegotiation=direct"))).toStrictEqual({
      part: "query",
      reason: "Unsupported",
      key: "sslnegotiation"
    })
    expect(shape(errorOf("postgres:///?sslnegotiation=direct&sslmode=require"))).toStrictEqual({
      part: "query",
      reason: "Unsupported",
      key: "sslnegotiation"
    })
  })

  it("configuration parameter sslmode: disable, prefer, require, verify-full with libpq's meaning; no-verify is require", () => {
    for (const mode of ["disable", "prefer", "require", "verify-full"]) {
      expect(parsed(`postgres:///?sslmode=${mode}`)).toStrictEqual({ sslmode: mode })
      // uselibpqcompat=true asks pg for libpq's meaning, which redial always gives.
      expect(parsed(`postgres:///?sslmode=${mode}&uselibpqcompat=true`)).toStrictEqual({ sslmode: mode })
    }
    expect(parsed("postgres:///?sslmode=no-verify")).toStrictEqual({ sslmode: "require" })
  })

  it("sslmode=verify-ca without sslrootcert is refused (as with uselibpqcompat); with it, read", () => {
    expect(shape(errorOf("postgres:///?sslmode=verify-ca&uselibpqcompat=true"))).toStrictEqual({
      part: "query",
      reason: "Malformed",
      key: "sslmode"
    })
    expect(parsed("postgres:///?sslmode=verify-ca&uselibpqcompat=true&sslrootcert=/etc/ca.pem")).toStrictEqual({
      sslmode: "verify-ca",
      sslrootcert: "/etc/ca.pem"
    })
  })

  it("differs: uselibpqcompat=false is refused (redial always gives sslmode libpq's meaning)", () => {
    expect(shape(errorOf("postgres:///?uselibpqcompat=false"))).toStrictEqual({
      part: "query",
      reason: "Unsupported",
      key: "uselibpqcompat"
    })
  })

  it("when the string is invalid, no error shows the password", () => {
    // pg's case: `new URL` throws on it and pg redacts the input. Core's grammar takes the user
    // info to the last "@", so the string parses; a variant that does not parse shows nothing either.
    const password = "g#4624$@F$#v`"
    const endpoint = parsed(`postgres://user:${password}@localhost:5432/db`)
    expect(endpoint["password"]).toBe(password)
    for (const text of everything(`postgres://user:${password}@localhost:5432/db`)) {
      expect(text).not.toContain("4624")
    }
    for (const text of everything(`postgres://user:${password}@localhost:5432/db?port=x`)) {
      expect(text).not.toContain("4624")
    }
  })

  it("differs: other params like max, min, unknown ones are refused (pg passes them on)", () => {
    const error = errorOf("postgres://myhost/db?max=18&min=4")
    expect(shape(error)).toStrictEqual({ part: "query", reason: "Unsupported", key: "max" })
    expect(shape(errorOf("postgres:///?ThereIsNoSuchPostgresParameter=1234"))).toStrictEqual({
      part: "query",
      reason: "Unsupported",
      key: "ThereIsNoSuchPostgresParameter"
    })
  })

  it("configuration parameter keepalives; differs: a repeated parameter is refused (pg keeps the last)", () => {
    expect(parsed("postgres:///?keepalives=1")).toStrictEqual({ keepAlive: true })
    const error = errorOf("postgres:///?keepalives=1&keepalives=0")
    expect(shape(error)).toStrictEqual({ part: "query", reason: "Malformed", key: "keepalives" })
    expect(error.message).toContain("keepalives is given more than once (as ?keepalives=, twice)")
  })

  it("use the port specified in the query parameters", () => {
    expect(parsed("postgres:///?host=localhost&port=1234")).toStrictEqual({ host: "localhost", port: 1234 })
  })

  it("prototype pollution: __proto__, constructor, prototype, toString are unknown keys, and nothing is polluted", () => {
    for (const key of ["__proto__", "constructor", "prototype", "toString", "hasOwnProperty"]) {
      expect(shape(errorOf(`postgres://localhost/db?${key}=evil`))).toStrictEqual({
        part: "query",
        reason: "Unsupported",
        key
      })
    }
    expect(({} as Record<string, unknown>)["evil"]).toBeUndefined()
  })

  it("handles an empty user name (postgres://@boom): no user, as libpq and pg", () => {
    expect(parsed("postgres://@boom:381/lala")).toStrictEqual({ host: "boom", port: 381, database: "lala" })
    expect(parsed("postgres://:pw@boom")).toStrictEqual({ host: "boom", password: "pw" })
  })

  it.each([
    ["/const/run/", "a bare socket directory"],
    ["/const/run/ mydb", "a bare socket directory and database"],
    ["socket:/some path/?db=my[db]&encoding=utf8", "pg's socket: scheme"],
    ["socket://brian:pw@/const/run/?db=mydb", "pg's socket:// scheme"],
    ["different_db_on_default_host", "a lone database name"]
  ])("differs: %s (%s) is refused: redial reads postgres:// and keyword/value strings only", (input) => {
    const error = errorOf(input)
    expect(error._tag).toBe("PgConnectionStringError")
    expect(error.message).not.toContain("pw")
  })
})

// ---------------------------------------------------------------------------
// The keys
// ---------------------------------------------------------------------------

describe("PgConnectionString: every key", () => {
  it("the schemes postgres and postgresql, in any case; any other is Unsupported", () => {
    expect(parsed("POSTGRES://h")).toStrictEqual({ host: "h" })
    expect(parsed("PostgreSQL://h")).toStrictEqual({ host: "h" })
    for (const input of ["pg://h", "mysql://h", "http://h", "postgres+ssl://h"]) {
      expect(shape(errorOf(input))).toStrictEqual({ part: "scheme", reason: "Unsupported" })
    }
  })

  it("host: a name, IPv4, IPv6 with a zone, a socket directory; a name in another script in its ASCII form", () => {
    expect(parsed("postgres://db-1.internal").host).toBe("db-1.internal")
    expect(parsed("postgres://10.0.0.1").host).toBe("10.0.0.1")
    expect(parsed("postgres://[fe80::1%25eth0]:5433").host).toBe("fe80::1%eth0")
    expect(parsed("postgres://bücher.example").host).toBe("xn--bcher-kva.example")
    expect(parsed("postgres:///?host=::1").host).toBe("::1")
    expect(parsed("postgres:///?host=%2Ftmp").host).toBe("/tmp")
  })

  it("host: not a host name, an IP address or a socket directory is Malformed", () => {
    for (
      const input of [
        "postgres://h;x",
        "postgres://h..x",
        "postgres://-h",
        "postgres://999.1.1.1",
        "postgres:///?host=a%20b",
        "postgres:///?host=[::1]"
      ]
    ) {
      expect(shape(errorOf(input))).toMatchObject({ reason: "Malformed", key: "host" })
    }
  })

  it("host: several hosts, in the authority or in ?host=, and several ports are Unsupported", () => {
    expect(shape(errorOf("postgres://h1,h2/db"))).toStrictEqual({ part: "host", reason: "Unsupported", key: "host" })
    expect(shape(errorOf("postgres:///db?host=h1,h2"))).toStrictEqual({
      part: "query",
      reason: "Unsupported",
      key: "host"
    })
    expect(shape(errorOf("postgres:///db?host=h&port=1,2"))).toStrictEqual({
      part: "query",
      reason: "Unsupported",
      key: "port"
    })
  })

  it("host: a socket directory that leaves no room for /.s.PGSQL.<port> is OutOfRange", () => {
    // "/" and 92 characters, and "/.s.PGSQL.5432": 107 bytes.
    expect(parsed(`postgres:///?host=/${"d".repeat(92)}`).host).toHaveLength(93)
    expect(parsed(`postgres:///?host=/${"d".repeat(92)}///`).host).toHaveLength(96)
    expect(shape(errorOf(`postgres:///?host=/${"d".repeat(93)}`))).toStrictEqual({
      part: "query",
      reason: "OutOfRange",
      key: "host"
    })
  })

  it("port: 1-65535 in the authority (core) and in ?port=; not a number or out of range is typed", () => {
    expect(parsed("postgres://h:1").port).toBe(1)
    expect(parsed("postgres://h?port=65535").port).toBe(65535)
    expect(shape(errorOf("postgres://h:0"))).toStrictEqual({ part: "port", reason: "OutOfRange" })
    expect(shape(errorOf("postgres://h?port=0"))).toStrictEqual({ part: "query", reason: "OutOfRange", key: "port" })
    expect(shape(errorOf("postgres://h?port=65536"))).toStrictEqual({
      part: "query",
      reason: "OutOfRange",
      key: "port"
    })
    for (const value of ["+5", "5e3", "0x10", "5432 ", "-1", "٥"]) {
      expect(shape(errorOf(`postgres://h?port=${encodeURIComponent(value)}`))).toStrictEqual({
        part: "query",
        reason: "Malformed",
        key: "port"
      })
    }
    expect(shape(errorOf("postgres://h?port="))).toStrictEqual({ part: "query", reason: "Empty", key: "port" })
  })

  it("dbname, user and password in the query, when the URI's parts do not give them", () => {
    expect(parsed("postgres://h?dbname=app&user=bob&password=pw")).toStrictEqual({
      host: "h",
      database: "app",
      user: "bob",
      password: "pw"
    })
  })

  it("each of dbname, user, password, port given in two places is Malformed, saying where", () => {
    const cases: ReadonlyArray<readonly [string, string, string]> = [
      ["postgres://h/app?dbname=other", "dbname", "in the path and as ?dbname="],
      ["postgres://bob@h?user=ann", "user", "in the user info and as ?user="],
      ["postgres://bob:pw@h?password=pw2", "password", "in the user info and as ?password="],
      ["postgres://h:5433?port=5434", "port", "in the authority and as ?port="],
      ["host=a dbname=x host=b", "host", "as host=, twice"]
    ]
    for (const [input, key, where] of cases) {
      const error = errorOf(input)
      expect(shape(error)).toMatchObject({ reason: "Malformed", key })
      expect(error.message).toContain(`${key} is given more than once (${where})`)
      expect(error.message).not.toMatch(/pw/)
    }
  })

  it("an empty password is none (libpq), wherever it is written", () => {
    expect(parsed("postgres://bob:@h")).toStrictEqual({ host: "h", user: "bob" })
    expect(parsed("postgres://bob@h?password=")).toStrictEqual({ host: "h", user: "bob" })
    expect(parsed("host=h password=''")).toStrictEqual({ host: "h" })
  })

  it("sslmode: allow is Unsupported, anything else Malformed", () => {
    const allow = errorOf("postgres://h?sslmode=allow")
    expect(shape(allow)).toStrictEqual({ part: "query", reason: "Unsupported", key: "sslmode" })
    expect(allow.message).toContain("use disable or prefer")
    expect(shape(errorOf("postgres://h?sslmode=REQUIRE"))).toStrictEqual({
      part: "query",
      reason: "Malformed",
      key: "sslmode"
    })
  })

  it("the TLS files and sslpassword are read with a TLS mode", () => {
    expect(
      parsed(
        "postgres://h?sslmode=verify-full&sslrootcert=/ca.pem&sslcert=/c.pem&sslkey=/k.pem&sslpassword=pass%20phrase"
      )
    ).toStrictEqual({
      host: "h",
      sslmode: "verify-full",
      sslrootcert: "/ca.pem",
      sslcert: "/c.pem",
      sslkey: "/k.pem",
      sslpassword: "pass phrase"
    })
  })

  it("connect_timeout: whole seconds; 0 waits for ever (libpq)", () => {
    expect(parsed("postgres://h?connect_timeout=1").connectTimeout).toBe(1000)
    expect(parsed("postgres://h?connect_timeout=0").connectTimeout).toBe("infinity")
    expect(parsed("postgres://h?connect_timeout=2147483").connectTimeout).toBe(2_147_483_000)
    expect(shape(errorOf("postgres://h?connect_timeout=2147484"))).toMatchObject({ reason: "OutOfRange" })
    expect(shape(errorOf("postgres://h?connect_timeout=10s"))).toMatchObject({ reason: "Malformed" })
    expect(shape(errorOf("postgres://h?connect_timeout=-1"))).toMatchObject({ reason: "Malformed" })
  })

  it("keepalives 0/1 and keepalives_idle in seconds", () => {
    expect(parsed("postgres://h?keepalives=0&keepalives_idle=30")).toStrictEqual({
      host: "h",
      keepAlive: false,
      keepAliveInitialDelay: 30_000
    })
    expect(shape(errorOf("postgres://h?keepalives=2"))).toMatchObject({ reason: "Malformed", key: "keepalives" })
    expect(shape(errorOf("postgres://h?keepalives=true"))).toMatchObject({ reason: "Malformed", key: "keepalives" })
  })

  it("client_encoding: UTF8 in PostgreSQL's spellings; any other encoding is Unsupported", () => {
    for (const value of ["UTF8", "utf8", "UTF-8", "unicode"]) {
      expect(parsed(`postgres://h?client_encoding=${value}`).clientEncoding).toBe("UTF8")
    }
    for (const value of ["LATIN1", "auto", "SQL_ASCII"]) {
      expect(shape(errorOf(`postgres://h?client_encoding=${value}`))).toStrictEqual({
        part: "query",
        reason: "Unsupported",
        key: "client_encoding"
      })
    }
  })

  it("pg's statement_timeout, lock_timeout, idle_in_transaction_session_timeout, query_timeout: whole milliseconds", () => {
    expect(
      parsed(
        "postgres://h?statement_timeout=5000&lock_timeout=0&idle_in_transaction_session_timeout=60000&query_timeout=2147483647"
      )
    ).toStrictEqual({
      host: "h",
      statementTimeout: 5000,
      lockTimeout: 0,
      idleInTransactionSessionTimeout: 60_000,
      queryTimeout: 2_147_483_647
    })
    // pg's parseInt would send 5 ms for "5s".
    const error = errorOf("postgres://h?statement_timeout=5s")
    expect(shape(error)).toStrictEqual({ part: "query", reason: "Malformed", key: "statement_timeout" })
    expect(error.message).toContain("statement_timeout must be a whole number of milliseconds in 0-2147483647")
    expect(shape(errorOf("postgres://h?lock_timeout=2147483648"))).toMatchObject({ reason: "OutOfRange" })
  })

  it("every libpq key node-postgres cannot honour is Unsupported, saying so", () => {
    const keys = [
      "hostaddr",
      "passfile",
      "channel_binding",
      "keepalives_interval",
      "keepalives_count",
      "tcp_user_timeout",
      "gssencmode",
      "gsslib",
      "krbsrvname",
      "requiressl",
      "sslcompression",
      "sslcrl",
      "sslcrldir",
      "sslsni",
      "ssl_min_protocol_version",
      "ssl_max_protocol_version",
      "requirepeer",
      "service",
      "target_session_attrs",
      "require_auth",
      "sslcertmode",
      "load_balance_hosts"
    ]
    for (const key of keys) {
      const error = errorOf(`postgres://h?${key}=1`)
      expect(shape(error)).toStrictEqual({ part: "query", reason: "Unsupported", key })
      expect(error.message).toContain(`${key} is a libpq option that node-postgres (pg 8.23) does not support`)
    }
  })

  it("replication and binary (pg reads them) are Unsupported by redial's driver", () => {
    expect(shape(errorOf("postgres://h?replication=database"))).toMatchObject({ reason: "Unsupported" })
    expect(shape(errorOf("postgres://h?binary=true"))).toMatchObject({ reason: "Unsupported" })
  })

  it("names are exact: another spelling of a key is told libpq's", () => {
    const error = errorOf("postgres://h?applicationName=x")
    expect(shape(error)).toStrictEqual({ part: "query", reason: "Unsupported", key: "applicationName" })
    expect(error.message).toContain("the key is written application_name")
    expect(errorOf("postgres://h?SSLMODE=require").message).toContain("the key is written sslmode")
    expect(errorOf("postgres://h?connect-timeout=1").message).toContain("the key is written connect_timeout")
  })

  it("an empty value is Empty; a NUL in any value is InvalidCharacter", () => {
    expect(shape(errorOf("postgres://h?application_name="))).toStrictEqual({
      part: "query",
      reason: "Empty",
      key: "application_name"
    })
    expect(shape(errorOf("postgres://h?sslmode"))).toStrictEqual({ part: "query", reason: "Empty", key: "sslmode" })
    expect(shape(errorOf("postgres://h?options=a%00b"))).toMatchObject({ reason: "InvalidCharacter" })
    expect(shape(errorOf("postgres://h/a%00b"))).toMatchObject({ reason: "InvalidCharacter", key: "dbname" })
    expect(shape(errorOf("postgres://u:p%00w@h"))).toMatchObject({ reason: "InvalidCharacter", key: "password" })
  })

  it("core's grammar errors keep their part and reason, with the position in the input", () => {
    const error = errorOf("postgres://u@:99999/db")
    expect(shape(error)).toStrictEqual({ part: "port", reason: "OutOfRange" })
    // The empty host was given a placeholder for core; the position is the input's.
    expect(error.position).toBe(14)
    expect(error.cause?._tag).toBe("ConnectionStringError")
    expect(errorOf("postgres://%2Ftmp:x/db").position).toBe(18)
  })
})

describe("PgConnectionString: settings that only make sense together", () => {
  it("TLS files without a TLS mode, or with disable, are Malformed", () => {
    for (const input of ["postgres://h?sslrootcert=/ca.pem", "postgres://h?sslmode=disable&sslrootcert=/ca.pem"]) {
      const error = errorOf(input)
      expect(shape(error)).toStrictEqual({ part: "query", reason: "Malformed", key: "sslrootcert" })
      expect(error.message).toContain("no effect without TLS")
    }
  })

  it("sslcert without sslkey, sslkey without sslcert, sslpassword without sslkey are Malformed", () => {
    expect(shape(errorOf("postgres://h?sslmode=require&sslcert=/c"))).toMatchObject({ key: "sslcert" })
    expect(shape(errorOf("postgres://h?sslmode=require&sslkey=/k"))).toMatchObject({ key: "sslkey" })
    expect(shape(errorOf("postgres://h?sslmode=require&sslpassword=x"))).toMatchObject({ key: "sslpassword" })
  })
})

// ---------------------------------------------------------------------------
// Keyword/value strings
// ---------------------------------------------------------------------------

describe("PgConnectionString: libpq's keyword/value form", () => {
  it("spaces around \"=\", quoted values with spaces, backslash escapes", () => {
    expect(parsed(" host = /var/run/postgresql  dbname='my db' user=o\\'brien password='it\\'s \\\\ me' "))
      .toStrictEqual({
        host: "/var/run/postgresql",
        database: "my db",
        user: "o'brien",
        password: "it's \\ me"
      })
    expect(parsed("host=h\tport=5433\napplication_name='x y'")).toMatchObject({ port: 5433, applicationName: "x y" })
    // As in libpq, a closing quote ends the value: what follows is the next key.
    expect(shape(errorOf("host=h application_name='x'y"))).toStrictEqual({ part: "query", reason: "Malformed" })
  })

  it("a missing \"=\", an unterminated quote, a setting without a key are Malformed / Empty, quoting nothing", () => {
    const missing = errorOf("host=h S3cret")
    expect(shape(missing)).toStrictEqual({ part: "query", reason: "Malformed" })
    expect(missing.position).toBe(7)
    expect(errorOf("host=h password 'x'").message).toContain("missing \"=\" after the key \"password\"")
    const unterminated = errorOf("host=h password='S3cret")
    expect(unterminated.message).toContain("unterminated quoted value of the key \"password\"")
    expect(unterminated.message).not.toContain("S3cret")
    expect(shape(errorOf("host=h =x"))).toStrictEqual({ part: "query", reason: "Empty" })
  })

  it("the same keys and checks as a URI", () => {
    expect(shape(errorOf("host=h sslmode=allow"))).toMatchObject({ reason: "Unsupported", key: "sslmode" })
    expect(shape(errorOf("host=h target_session_attrs=any"))).toMatchObject({ reason: "Unsupported" })
    expect(shape(errorOf("host=h nosuch=1"))).toMatchObject({ reason: "Unsupported", key: "nosuch" })
    expect(shape(errorOf("host=h1,h2"))).toMatchObject({ reason: "Unsupported", key: "host" })
  })

  it("an empty or blank string is Empty", () => {
    expect(shape(errorOf(""))).toStrictEqual({ part: "scheme", reason: "Empty" })
    expect(shape(errorOf("  \t "))).toStrictEqual({ part: "scheme", reason: "Empty" })
  })
})

// ---------------------------------------------------------------------------
// Conversions
// ---------------------------------------------------------------------------

describe("PgConnectionString: conversions", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "redial-pgcs-"))
  const file = (name: string, content: string) => {
    const p = path.join(dir, name)
    fs.writeFileSync(p, content)
    return p
  }
  const ca = file("example.ca", "example ca\n")
  const cert = file("example.cert", "example cert\n")
  const key = file("example.key", "example key\n")

  it.effect("toConnectOptions: every field, fallback_application_name as applicationName", () =>
    Effect.gen(function*() {
      const endpoint = yield* PgConnectionString.parse(
        "postgres://bob:pw@db:5433/app?fallback_application_name=fb&options=-c%20x%3D1&keepalives=1&keepalives_idle=5" +
          "&statement_timeout=100&lock_timeout=200&idle_in_transaction_session_timeout=300&sslmode=prefer"
      )
      const options = yield* PgConnectionString.toConnectOptions(endpoint)
      const { password, ...rest } = options
      expect(Redacted.value(password!)).toBe("pw")
      expect({
        ...rest,
        keepAliveInitialDelay: Duration.toMillis(Duration.decode(rest.keepAliveInitialDelay!)),
        statementTimeout: Duration.toMillis(Duration.decode(rest.statementTimeout!)),
        lockTimeout: Duration.toMillis(Duration.decode(rest.lockTimeout!)),
        idleInTransactionSessionTimeout: Duration.toMillis(Duration.decode(rest.idleInTransactionSessionTimeout!))
      }).toStrictEqual({
        host: "db",
        port: 5433,
        database: "app",
        user: "bob",
        sslmode: "prefer",
        applicationName: "fb",
        options: "-c x=1",
        keepAlive: true,
        keepAliveInitialDelay: 5000,
        statementTimeout: 100,
        lockTimeout: 200,
        idleInTransactionSessionTimeout: 300
      })
      const both = yield* PgConnectionString.parse("postgres://h?application_name=a&fallback_application_name=fb")
      expect((yield* PgConnectionString.toConnectOptions(both)).applicationName).toBe("a")
    }))

  it.effect("toConnectOptions reads sslrootcert, sslcert and sslkey (ported: converts ssl cert options)", () =>
    Effect.gen(function*() {
      const endpoint = yield* PgConnectionString.parse(
        `postgres:///?sslmode=require&sslcert=${cert}&sslkey=${key}&sslrootcert=${ca}&sslpassword=s3cret`
      )
      const { tls } = yield* PgConnectionString.toConnectOptions(endpoint)
      expect(String(tls?.ca)).toBe("example ca\n")
      expect(String(tls?.cert)).toBe("example cert\n")
      expect(Redacted.isRedacted(tls?.key)).toBe(true)
      expect(String(Redacted.value(tls!.key!))).toBe("example key\n")
      expect(Redacted.value(tls!.passphrase!)).toBe("s3cret")
      expect(util.inspect(tls)).not.toContain("example key")
    }))

  it.effect("a TLS file that cannot be read is a PgSslFileError naming the key and the file, never its content", () =>
    Effect.gen(function*() {
      const missing = path.join(dir, "missing.pem")
      const endpoint = yield* PgConnectionString.parse(`postgres://h?sslmode=verify-ca&sslrootcert=${missing}`)
      const error = yield* Effect.flip(PgConnectionString.toConnectOptions(endpoint))
      expect(error._tag).toBe("PgSslFileError")
      expect(isRedialError(error)).toBe(true)
      expect(error.key).toBe("sslrootcert")
      expect(error.path).toBe(missing)
      expect(error.code).toBe("ENOENT")
      expect(error.message).toBe(`Cannot read the sslrootcert file: ${JSON.stringify(missing)}: ENOENT`)
      const directory = yield* PgConnectionString.parse(`postgres://h?sslmode=require&sslcert=${dir}&sslkey=${key}`)
      const eisdir = yield* Effect.flip(PgConnectionString.toConnectOptions(directory))
      expect({ key: eisdir.key, code: eisdir.code }).toStrictEqual({ key: "sslcert", code: "EISDIR" })
      for (const text of shown(eisdir)) expect(text).not.toContain("example key")
    }))

  it.effect("toPoolOptions: connect_timeout to the pool's connectTimeout, query_timeout to the driver's (0: none)", () =>
    Effect.gen(function*() {
      const options = yield* PgConnectionString.toPoolOptions(
        yield* PgConnectionString.parse("postgres://h/db?connect_timeout=7&query_timeout=1500")
      )
      expect(options.connect).toStrictEqual({ host: "h", database: "db" })
      expect(Duration.toMillis(Duration.decode(options.connectTimeout!))).toBe(7000)
      expect(Duration.toMillis(Duration.decode(options.queryTimeout!))).toBe(1500)
      const forever = yield* PgConnectionString.toPoolOptions(
        yield* PgConnectionString.parse("postgres://h?connect_timeout=0&query_timeout=0")
      )
      expect(Duration.isFinite(Duration.decode(forever.connectTimeout!))).toBe(false)
      expect("queryTimeout" in forever).toBe(false)
    }))

  it.effect("resolveUrl: the URL merged with the options beside it; a setting given twice is a Conflict", () =>
    Effect.gen(function*() {
      const merged = yield* PgConnectionString.resolveUrl({
        url: Redacted.make("postgres://bob:pw@h/db?sslmode=require&sslrootcert=" + ca),
        connect: { applicationName: "x", tls: { servername: "db.internal" } },
        size: 3
      })
      expect(merged.size).toBe(3)
      expect(merged.connect?.applicationName).toBe("x")
      expect(merged.connect?.host).toBe("h")
      expect(String(merged.connect?.tls?.ca)).toBe("example ca\n")
      expect(merged.connect?.tls?.servername).toBe("db.internal")
      const cases: ReadonlyArray<readonly [Parameters<typeof PgConnectionString.resolveUrl>[0], string]> = [
        [{ url: "postgres://h", connect: { host: "other" } }, "connect.host"],
        [{ url: "postgres://u:pw@h", connect: { password: Redacted.make("x") } }, "connect.password"],
        [{ url: `postgres://h?sslmode=require&sslrootcert=${ca}`, connect: { tls: { ca: "x" } } }, "connect.tls.ca"],
        [{ url: "postgres://h?connect_timeout=5", connectTimeout: "1 second" }, "connectTimeout"],
        [{ url: "postgres://h?query_timeout=5", queryTimeout: "1 second" }, "queryTimeout"]
      ]
      for (const [options, option] of cases) {
        const error = yield* Effect.flip(PgConnectionString.resolveUrl(options))
        expect(error._tag).toBe("InvalidOption")
        expect(error).toMatchObject({ option, reason: "Conflict" })
      }
      // An explicit undefined is no setting.
      const undefinedHost = yield* PgConnectionString.resolveUrl({ url: "postgres://h", connect: { host: undefined } })
      expect(undefinedHost.connect?.host).toBe("h")
      // Without a url, the options as they are.
      expect(yield* PgConnectionString.resolveUrl({ size: 2 })).toStrictEqual({ size: 2 })
    }))

  it.effect("resolveUrl: a URL that does not parse is a PgConnectionStringError without the password", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(PgConnectionString.resolveUrl({ url: "postgres://u:S3cret@h?port=x" }))
      expect(Exit.isFailure(exit)).toBe(true)
      if (Exit.isFailure(exit)) {
        expect(Cause.pretty(exit.cause)).toContain("port must be a whole number in 1-65535")
        expect(Cause.pretty(exit.cause)).not.toContain("S3cret")
      }
    }))
})

// ---------------------------------------------------------------------------
// Printing, Schema, Config
// ---------------------------------------------------------------------------

describe("PgConnectionString: printing, Schema and Config", () => {
  it("format: secrets as ***, the socket directory encoded in the authority, keys in their order", () => {
    const endpoint = Either.getOrThrow(
      PgConnectionString.parseEither(
        "host=/var/run/postgresql port=5433 user=bob password=pw dbname=a/b sslpassword=x sslkey=/k sslcert=/c sslmode=require application_name=api"
      )
    )
    expect(PgConnectionString.format(endpoint)).toBe(
      "postgres://bob:***@%2Fvar%2Frun%2Fpostgresql:5433/a%2Fb?sslmode=require&sslcert=%2Fc&sslkey=%2Fk&sslpassword=***&application_name=api"
    )
    expect(PgConnectionString.describe(endpoint)).toBe("postgres://%2Fvar%2Frun%2Fpostgresql:5433/a%2Fb")
    expect(PgConnectionString.format(Either.getOrThrow(PgConnectionString.parseEither("postgres://:pw@[::1]")))).toBe(
      "postgres://:***@[::1]"
    )
    expect(PgConnectionString.format(Either.getOrThrow(PgConnectionString.parseEither("postgresql://")))).toBe(
      "postgres://"
    )
  })

  it("an endpoint shows no secret in String, JSON or inspect", () => {
    const endpoint = Either.getOrThrow(
      PgConnectionString.parseEither("postgres://bob:S3cret@h?sslmode=require&sslcert=/c&sslkey=/k&sslpassword=Ph4se")
    )
    for (const text of shown(endpoint)) {
      expect(text).not.toContain("S3cret")
      expect(text).not.toContain("Ph4se")
    }
  })

  it("FromString: decodes, encodes with secrets in clear, and a failure's issue holds the redacted input", () => {
    const endpoint = Schema.decodeUnknownSync(PgConnectionString.FromString)("postgres://u:pw@h/db")
    expect(plain(endpoint)).toStrictEqual({ host: "h", user: "u", password: "pw", database: "db" })
    expect(Schema.encodeSync(PgConnectionString.FromString)(endpoint)).toBe("postgres://u:pw@h/db")
    const result = decode("postgres://u:S3cret@h/db?port=x")
    expect(Either.isLeft(result)).toBe(true)
    for (const text of Either.match(result, { onLeft: shown, onRight: () => [] })) expect(text).not.toContain("S3cret")
  })

  it("config: reads the string redacted; an invalid one is an InvalidData error without the password", () => {
    const result = fromConfig("postgres://app:S3cret@h?connect_timeout=x")
    if (Either.isRight(result)) throw new Error("expected a failure")
    expect(result.left._op).toBe("InvalidData")
    expect(String(result.left)).toContain("connect_timeout must be a whole number of seconds")
    expect(String(result.left)).not.toContain("S3cret")
    expect(Either.isRight(fromConfig("postgres://app:S3cret@h"))).toBe(true)
  })

  it("redact: URIs and keyword/value strings", () => {
    expect(PgConnectionString.redact("postgres://u:S3cret@h?sslpassword=Ph4se&x=1")).toBe(
      "postgres://u:***@h?sslpassword=***&x=1"
    )
    expect(PgConnectionString.redact("postgres://admin:S3cret")).toBe("postgres://admin:***")
    expect(PgConnectionString.redact("host=h password='S3 cret' sslpassword=Ph4se")).toBe(
      "host=h password=*** sslpassword=***"
    )
    expect(PgConnectionString.redact("host=h password='S3cret")).toBe("host=h ***")
  })
})

// ---------------------------------------------------------------------------
// Secrets
// ---------------------------------------------------------------------------

describe("PgConnectionString: no output ever shows the password", () => {
  it.each([
    "postgres://admin:S3cret",
    "postgres://admin:S3cret/db",
    "postgres://admin:S3cret?sslmode=require",
    "postgres://admin:1234,S3cret",
    "postgres://admin:1234,S3c;ret",
    "postgres://ad;min:S3cret",
    "postgres://:S3cret",
    "postgres://u:S3cret@h?application_name=S3cret",
    "postgres://u:S3cret@h?application_name=xS3cretx&application_name=1",
    "postgres://u:S3cret@h?S3cret=1",
    "postgres://u:S3cret@h?port=S3cret",
    "postgres://u:S3cret@h/S3cret?port=x",
    "postgres://u:S3cret@h/%zzS3cret",
    "postgres://u:S3cret@h;x",
    "postgres://u:S3cret@h1,h2",
    "postgres://u:S3cret@",
    "postgres://u:S3cret@:5432",
    "postgres://u:S3cret@:99999",
    "postgres://u:S3cret@%2Ftmp:x",
    "postgres://u:S3cret@%2F%zz",
    "postgres://:S3cret@h?port=x",
    "http://u:S3cret@h",
    "postgres://u:S3c?ret@h",
    "postgres://u:S3c/ret@h",
    "postgres://u:S3cret@h?password=S3cret",
    "postgres://u:S3cret@h?sslpassword=S3cret&x=1",
    "postgres://u@h?password=S3cret&x=1",
    "postgres://u@h?password=S3cret&host=S3cret",
    "postgres://u:S3cret@h?sslmode=S3cret",
    "postgres://u:S3cret@[::1",
    "postgres://u:S3c%7aret@h?options=S3c%257aret&x=1",
    "host=h password=S3cret port=x",
    "host=h password=S3cret nosuch=1",
    "host=h password=S3cret S3cret=1",
    "host=h password=S3cret host=x",
    "host=h password='S3cret",
    "host=h password=S3cret application_name=S3cret&&",
    "host=h password=S3cret sslmode=S3cret",
    "S3cret",
    "user:S3cret"
  ])("%s", (input) => {
    const texts = everything(input)
    expect(texts.length).toBeGreaterThan(0)
    for (const text of texts) expect(text).not.toContain("S3c")
  })

  const secret = fc.string({
    unit: fc.constantFrom("a", "B", "7", ":", "/", "?", "&", "=", "%", "#", " ", "é", "+", ",", "[", "]", "'", "\\"),
    maxLength: 8
  }).map((s) => `Zq9${s}`)
  const uri = fc.tuple(
    fc.constantFrom("postgres://", "postgresql://", "POSTGRES://", "http://", ""),
    fc.constantFrom("", "bob", "u", "h1,bob"),
    secret,
    fc.constantFrom(
      "",
      "@h",
      "@h,h2",
      "@h/a/b",
      "@h;x",
      "@",
      "@:1",
      "@%2Ftmp",
      "@h?port=x",
      "@h?port=",
      "@h?application_name=x&application_name=",
      "@h?sslmode=",
      "@h?nosuch=",
      "@h?host=",
      "@[::1",
      "/",
      ",h2",
      "?port=1"
    )
  ).map(([scheme, user, secret, tail]) =>
    // A tail ending in "=" repeats the secret where it does not belong (a misplaced password), encoded.
    `${scheme}${user}:${secret}${tail}${tail.endsWith("=") ? encodeURIComponent(secret) : ""}`
  )
  const keywords = fc.tuple(
    secret,
    fc.constantFrom("", " port=x", " nosuch=1", " host=", " application_name=", " sslmode=", " host=a,", " x")
  ).map(([secret, tail]) => {
    const quoted = `'${secret.replace(/[\\']/g, (c) => `\\${c}`)}'`
    return `host=h password=${quoted}${tail}${tail.endsWith("=") ? quoted : ""}`
  })

  it.prop("no output for a string holding a password shows it", [fc.oneof(uri, keywords)], ([input]) => {
    for (const text of everything(input)) expect(text).not.toContain("Zq9")
  }, { fastCheck: { numRuns: 500 } })
})

// ---------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------

describe("PgConnectionString: properties", () => {
  const entryPoints = (input: string): void => {
    const result = PgConnectionString.parseEither(input)
    if (Either.isRight(result)) {
      PgConnectionString.format(result.right)
      PgConnectionString.describe(result.right)
    } else {
      expect(result.left._tag).toBe("PgConnectionStringError")
    }
    PgConnectionString.redact(input)
    expect(Either.isEither(decode(input))).toBe(true)
  }
  const lone = fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c))

  it.prop("any string parses or fails typed, never throws", [
    fc.oneof(fc.string({ unit: "binary" }), fc.string({ unit: lone }))
  ], ([input]) => {
    entryPoints(input)
    entryPoints(`postgres://${input}`)
    entryPoints(`postgres://u:p@h/${input}`)
    entryPoints(`postgresql://u:p@h?${input}=${input}&port=${input}`)
    entryPoints(`host=${input} dbname='${input}'`)
  }, { fastCheck: { numRuns: 300 } })

  const char = fc.oneof(
    fc.constantFrom("a", "Z", "0", "/", "%", "?", "#", "@", ":", "+", " ", "&", "=", "[", "]", ",", "'", "\\", "~"),
    fc.string({ unit: "binary", minLength: 1, maxLength: 1 }).filter((c) => c !== "\u0000")
  )
  const text = (minLength: number, maxLength: number) => fc.string({ unit: char, minLength, maxLength })
  const label = fc.stringMatching(/^[a-z0-9]([a-z0-9_-]{0,8}[a-z0-9])?$/)
  const host = fc.oneof(
    fc.constantFrom("10.0.0.1", "::1", "fe80::1%eth0", "2001:db8::8a2e:370:7334", "xn--80ak6aa92e.com"),
    fc.array(label, { minLength: 1, maxLength: 4 }).map((labels) => labels.join(".")).filter((h) =>
      !/^[0-9.]+$/.test(h)
    ),
    fc.array(text(1, 8).map((s) => s.replace(/\//g, "")).filter((s) => s.length > 0), { maxLength: 3 }).map((
      parts
    ) => `/${parts.join("/")}`)
  )
  const seconds = fc.integer({ min: 0, max: 2_147_483 }).map(Duration.seconds)
  const millis = fc.integer({ min: 0, max: 2 ** 31 - 1 }).map(Duration.millis)
  const options = fc.record({
    host,
    port: fc.integer({ min: 1, max: 65535 }),
    database: text(1, 16),
    user: text(1, 12),
    // Secrets no other generated text holds (one that does is masked by format: see "no output ever shows").
    password: text(0, 12).map((s) => Redacted.make(`Zq9${s}`)),
    applicationName: text(1, 12),
    fallbackApplicationName: text(1, 12),
    options: text(1, 20),
    connectTimeout: fc.oneof(
      fc.constant(Duration.infinity),
      fc.integer({ min: 1, max: 2_147_483 }).map(Duration.seconds)
    ),
    keepAlive: fc.boolean(),
    keepAliveInitialDelay: seconds,
    clientEncoding: fc.constant("UTF8" as const),
    statementTimeout: millis,
    lockTimeout: millis,
    idleInTransactionSessionTimeout: millis,
    queryTimeout: millis
  }, { requiredKeys: [] })
  const tls = fc.oneof(
    fc.constant({}),
    fc.record({
      sslmode: fc.constantFrom("disable" as const, "prefer" as const, "require" as const, "verify-full" as const)
    }),
    fc.record({
      sslmode: fc.constantFrom("prefer" as const, "require" as const, "verify-ca" as const, "verify-full" as const),
      sslrootcert: text(1, 12)
    }),
    fc.record({
      sslmode: fc.constantFrom("require" as const, "verify-full" as const),
      sslcert: text(1, 12),
      sslkey: text(1, 12),
      sslpassword: text(0, 12).map((s) => Redacted.make(`Xk7${s}`))
    }, { requiredKeys: ["sslmode", "sslcert", "sslkey"] })
  )
  const endpoint: fc.Arbitrary<Endpoint> = fc.tuple(options, tls).map(([options, tls]) => ({ ...options, ...tls }))
    .filter((e) =>
      e.host === undefined || !e.host.startsWith("/") ||
      Buffer.byteLength(`${e.host}/.s.PGSQL.${e.port ?? 5432}`) <= 107
    )

  it.prop("every generated endpoint is valid by the Endpoint schema", [endpoint], ([endpoint]) => {
    expect(Schema.is(PgConnectionString.Endpoint)(endpoint)).toBe(true)
  }, { fastCheck: { numRuns: 200 } })

  it.prop("an encoded endpoint (FromString) parses back to the same endpoint", [endpoint], ([endpoint]) => {
    const encoded = Schema.encodeSync(PgConnectionString.FromString)(endpoint)
    const result = PgConnectionString.parseEither(encoded)
    if (Either.isLeft(result)) throw new Error(`${JSON.stringify(encoded)} does not parse: ${result.left.message}`)
    expect(plain(result.right)).toStrictEqual(plain(endpoint))
  }, { fastCheck: { numRuns: 500 } })

  it.prop("a formatted endpoint parses back to the same endpoint, its secrets ***", [endpoint], ([endpoint]) => {
    const formatted = PgConnectionString.format(endpoint)
    const result = PgConnectionString.parseEither(formatted)
    if (Either.isLeft(result)) throw new Error(`${JSON.stringify(formatted)} does not parse: ${result.left.message}`)
    const masked = Redacted.make("***")
    expect(plain(result.right)).toStrictEqual(plain({
      ...endpoint,
      ...(endpoint.password === undefined ? {} : { password: masked }),
      ...(endpoint.sslpassword === undefined ? {} : { sslpassword: masked })
    }))
    expect(formatted.includes(":***@")).toBe(endpoint.password !== undefined)
    if (endpoint.password !== undefined && Redacted.value(endpoint.password).length >= 3) {
      expect(formatted).not.toContain(`:${encodeURIComponent(Redacted.value(endpoint.password))}@`)
    }
  }, { fastCheck: { numRuns: 500 } })
})

// ---------------------------------------------------------------------------
// Linear time
// ---------------------------------------------------------------------------

describe("PgConnectionString: linear time", () => {
  const work = StringWork.work
  /** Inputs of about `n` characters, each repeating one segment that the parser scans. */
  const shapes: ReadonlyArray<readonly [string, (n: number) => string]> = [
    ["a long password", (n) => `postgres://u:${"s".repeat(n)}@h`],
    ["a user:password without @host", (n) => `postgres://u:${"s".repeat(n)}`],
    ["a long database", (n) => `postgres://h/${"d".repeat(n)}`],
    ["percent-escapes in the database", (n) => `postgres://h/${"%C3%A9".repeat(n / 6)}`],
    ["a long socket directory in the authority", (n) => `postgres://%2F${"%2Fd".repeat(n / 4)}/db`],
    ["many hosts", (n) => `postgres://${"h,".repeat(n / 2)}h`],
    ["many hosts without user info", (n) => `postgres://admin:1234,${"s,".repeat(n / 2)}s`],
    ["a long host name", (n) => `postgres://${"a".repeat(n)}`],
    ["an unknown key", (n) => `postgres://h?${"x".repeat(n)}=1`],
    ["many empty parameters", (n) => `postgres://h?${"&".repeat(n)}port=1`],
    ["a repeated key", (n) => `postgres://h?${"port=1&".repeat(n / 7)}port=1`],
    ["a long value", (n) => `postgres://h?options=${"o".repeat(n)}`],
    ["the password repeated in values", (n) => `postgres://u:pw@h?options=${"pw".repeat(n / 2)}&port=x`],
    ["keywords: many settings", (n) => `${"options=x ".repeat(n / 10)}`],
    ["keywords: a long quoted value with escapes", (n) => `options='${"\\'".repeat(n / 2)}'`],
    ["keywords: an unterminated quote", (n) => `password='${"s".repeat(n)}`],
    ["keywords: a long key", (n) => `${"k".repeat(n)}=1`]
  ]
  const operations: ReadonlyArray<readonly [string, (input: string) => unknown]> = [
    ["parseEither", PgConnectionString.parseEither],
    ["FromString", decode],
    ["redact", PgConnectionString.redact],
    ["format", (input) => Either.map(PgConnectionString.parseEither(input), PgConnectionString.format)]
  ]
  for (const [name, make] of shapes) {
    for (const [operation, run] of operations) {
      it(`${operation}: ${name}, 20 kB then 200 kB`, () => {
        // Counted work, not time: 10 × the input costs ~10 × the work when linear, ~100 × when quadratic.
        const small = work(() => run(make(20_000)))
        const large = work(() => run(make(200_000)))
        expect(small).toBeGreaterThan(0)
        expect(large / small).toBeLessThan(13)
      })
    }
  }
})
