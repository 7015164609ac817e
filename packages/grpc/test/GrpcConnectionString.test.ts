import { describe, expect, it } from "@effect/vitest"
import { isRedialError } from "@redial/core"
import * as ConnectionString from "@redial/core/ConnectionString"
import type { ParseResult } from "effect"
import { ConfigProvider, Duration, Effect, Either, FastCheck as fc, Option, Redacted, Schema } from "effect"
import * as util from "node:util"
import * as GrpcConnectionString from "../src/GrpcConnectionString.js"

type EsdbSettings = GrpcConnectionString.EsdbSettings
type ChronicleSettings = GrpcConnectionString.ChronicleSettings
type GrpcConnectionStringError = GrpcConnectionString.GrpcConnectionStringError

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

const esdbOk = (input: string): EsdbSettings => {
  const result = GrpcConnectionString.parseEsdbEither(input)
  if (Either.isLeft(result)) throw new Error(`expected ${JSON.stringify(input)} to parse: ${result.left.message}`)
  return result.right
}

const chronicleOk = (input: string): ChronicleSettings => {
  const result = GrpcConnectionString.parseChronicleEither(input)
  if (Either.isLeft(result)) throw new Error(`expected ${JSON.stringify(input)} to parse: ${result.left.message}`)
  return result.right
}

const errorOf = (input: string | Redacted.Redacted<string>): GrpcConnectionStringError => {
  const result = GrpcConnectionString.parseEither(input)
  if (Either.isRight(result)) throw new Error(`expected ${String(input)} to fail, got ${String(result.right)}`)
  return result.left
}

const ms = (duration: Duration.Duration): number => Duration.toMillis(duration)

/** The settings as plain data, secrets revealed, durations in milliseconds, `None` as `null`. */
const plainEsdb = (s: EsdbSettings) => ({
  scheme: s.scheme,
  discover: s.discover,
  hosts: s.hosts,
  credentials: Option.getOrNull(
    Option.map(s.credentials, (c) => ({ username: c.username, password: Redacted.value(c.password) }))
  ),
  tls: s.tls,
  tlsVerifyCert: s.tlsVerifyCert,
  tlsCAFile: Option.getOrNull(s.tlsCAFile),
  userCertificate: Option.getOrNull(s.userCertificate),
  keepAliveInterval: Option.getOrNull(Option.map(s.keepAliveInterval, ms)),
  keepAliveTimeout: Option.getOrNull(Option.map(s.keepAliveTimeout, ms)),
  defaultDeadline: ms(s.defaultDeadline),
  nodePreference: s.nodePreference,
  maxDiscoverAttempts: s.maxDiscoverAttempts,
  discoveryInterval: ms(s.discoveryInterval),
  gossipTimeout: ms(s.gossipTimeout),
  connectionName: Option.getOrNull(s.connectionName),
  throwOnAppendFailure: s.throwOnAppendFailure
})

type PlainEsdb = ReturnType<typeof plainEsdb>

/** The KurrentDB client's defaults, as read in its source. */
const esdbDefaults: PlainEsdb = {
  scheme: "esdb",
  discover: false,
  hosts: [{ host: "localhost", port: 2113 }],
  credentials: null,
  tls: true,
  tlsVerifyCert: true,
  tlsCAFile: null,
  userCertificate: null,
  keepAliveInterval: 10_000,
  keepAliveTimeout: 10_000,
  defaultDeadline: 10_000,
  nodePreference: "leader",
  maxDiscoverAttempts: 10,
  discoveryInterval: 100,
  gossipTimeout: 5_000,
  connectionName: null,
  throwOnAppendFailure: true
}

const plainAuth = (auth: GrpcConnectionString.ChronicleAuth) => {
  switch (auth._tag) {
    case "None":
      return { _tag: "None" }
    case "ClientCredentials":
      return { _tag: "ClientCredentials", clientId: auth.clientId, secret: Redacted.value(auth.secret) }
    case "ApiKey":
      return { _tag: "ApiKey", apiKey: Redacted.value(auth.apiKey) }
  }
}

const plainChronicle = (s: ChronicleSettings) => ({
  srv: s.srv,
  hosts: s.hosts,
  auth: plainAuth(s.auth),
  tls: s.tls,
  skipTlsValidation: s.skipTlsValidation,
  certificatePath: Option.getOrNull(s.certificatePath),
  certificatePassword: Option.getOrNull(Option.map(s.certificatePassword, Redacted.value)),
  authPort: Option.getOrNull(s.authPort),
  loadBalancer: s.loadBalancer,
  srvNameServer: Option.getOrNull(s.srvNameServer)
})

type PlainChronicle = ReturnType<typeof plainChronicle>

const chronicleDefaults: PlainChronicle = {
  srv: false,
  hosts: [{ host: "localhost", port: 35000 }],
  auth: { _tag: "None" },
  tls: true,
  skipTlsValidation: false,
  certificatePath: null,
  certificatePassword: null,
  authPort: null,
  loadBalancer: "least-connections",
  srvNameServer: null
}

/** Every way a value may end up in a log. */
const renderings = (value: object): ReadonlyArray<string> => [
  String(value),
  `${value}`,
  JSON.stringify(value),
  util.inspect(value, { depth: null })
]

const sameEsdb = Schema.equivalence(GrpcConnectionString.EsdbSettings)
const sameChronicle = Schema.equivalence(GrpcConnectionString.ChronicleSettings)

/** `keepAliveInterval` as `KEEP_ALIVE_INTERVAL`, `keep-alive-interval`, … */
const spellings = (name: string): ReadonlyArray<string> => {
  const words = name.replace(/([A-Z])/g, " $1").toLowerCase().split(" ")
  return [
    name.toLowerCase(),
    name.toUpperCase(),
    words.join("_"),
    words.join("-"),
    words.join("_").toUpperCase(),
    words.map((w, i) => i % 2 === 0 ? w.toUpperCase() : w).join("-_")
  ]
}

// ---------------------------------------------------------------------------
// KurrentDB / EventStoreDB
// ---------------------------------------------------------------------------

describe("GrpcConnectionString: esdb:// and kurrentdb://", () => {
  describe("defaults", () => {
    it("a bare host gets every default of the KurrentDB client", () => {
      expect(plainEsdb(esdbOk("esdb://localhost"))).toEqual(esdbDefaults)
    })

    it("tls defaults to true (secure by default, as the KurrentDB client and EventStoreDB 20+; Spear says false)", () => {
      expect(esdbOk("esdb://localhost").tls).toBe(true)
      expect(esdbOk("esdb://localhost?keepAliveInterval=10000").tls).toBe(true)
      expect(esdbOk("esdb://localhost?tls=false").tls).toBe(false)
    })

    it("EsdbSettings.make fills in the same defaults", () => {
      const made = GrpcConnectionString.EsdbSettings.make({ hosts: [{ host: "localhost", port: 2113 }] })
      expect(sameEsdb(made, esdbOk("kurrentdb://localhost"))).toBe(true)
      expect(plainEsdb(made)).toEqual({ ...esdbDefaults, scheme: "kurrentdb" })
    })

    it("the default port is 2113", () => {
      expect(GrpcConnectionString.esdbDefaultPort).toBe(2113)
      expect(esdbOk("esdb://node1,node2:2114,node3").hosts).toEqual([
        { host: "node1", port: 2113 },
        { host: "node2", port: 2114 },
        { host: "node3", port: 2113 }
      ])
    })
  })

  describe("schemes", () => {
    it.each(
      [
        ["esdb", "esdb", false],
        ["esdb+discover", "esdb", true],
        ["kurrentdb", "kurrentdb", false],
        ["kurrentdb+discover", "kurrentdb", true],
        ["kurrent", "kurrent", false],
        ["kurrent+discover", "kurrent", true],
        ["kdb", "kdb", false],
        ["kdb+discover", "kdb", true]
      ] as const
    )("%s:// is scheme %s, discover %s", (input, scheme, discover) => {
      const settings = esdbOk(`${input}://node1`)
      expect(settings.scheme).toBe(scheme)
      expect(settings.discover).toBe(discover)
      expect(String(settings)).toBe(`${input}://node1:2113`)
    })

    it("the scheme ignores case", () => {
      expect(esdbOk("ESDB+DISCOVER://node1").discover).toBe(true)
      expect(esdbOk("KurrentDB://node1").scheme).toBe("kurrentdb")
    })

    it("dnsDiscover overrides the scheme, as in the KurrentDB client", () => {
      expect(esdbOk("esdb://seed?dnsDiscover=true").discover).toBe(true)
      expect(esdbOk("esdb+discover://seed?dnsDiscover=false").discover).toBe(false)
      expect(String(esdbOk("esdb://seed?dnsDiscover=true"))).toBe("esdb+discover://seed:2113")
    })

    it.each(["chronicle://node1", "http://node1", "esdb+srv://node1", "kurrentdb+discovery://node1"])(
      "parseEsdb refuses %s",
      (input) => {
        const error = Either.getLeft(GrpcConnectionString.parseEsdbEither(input)).pipe(Option.getOrThrow)
        expect(error.reason).toBe("Scheme")
        expect(error.message).toContain("expected one of esdb://, esdb+discover://, kurrentdb://")
        expect(error.message).not.toContain("chronicle://,")
      }
    )
  })

  describe("hosts", () => {
    it("keeps several hosts in order: a cluster of direct nodes without +discover", () => {
      const settings = esdbOk("esdb://a:1,b:2,c:3")
      expect(settings.discover).toBe(false)
      expect(settings.hosts.map((h) => h.host)).toEqual(["a", "b", "c"])
    })

    it("keeps gossip seeds in order with +discover", () => {
      const settings = esdbOk("esdb+discover://seed1:2113,seed2:2113,seed3")
      expect(settings.discover).toBe(true)
      expect(settings.hosts.map((h) => h.host)).toEqual(["seed1", "seed2", "seed3"])
    })

    it("reads IPv6 hosts, with and without a port, with a zone", () => {
      const settings = esdbOk("esdb://[::1],[2001:db8::2]:2114,[fe80::1%25eth0]:2115")
      expect(settings.hosts).toEqual([
        { host: "::1", port: 2113 },
        { host: "2001:db8::2", port: 2114 },
        { host: "fe80::1%eth0", port: 2115 }
      ])
      expect(String(settings)).toBe("esdb://[::1]:2113,[2001:db8::2]:2114,[fe80::1%25eth0]:2115")
    })

    it("accepts a trailing slash before the options, and nothing else as a path", () => {
      expect(plainEsdb(esdbOk("esdb://localhost/"))).toEqual(esdbDefaults)
      expect(esdbOk("esdb://localhost/?tls=false").tls).toBe(false)
      const error = errorOf("esdb://localhost/db?tls=false")
      expect(error.reason).toBe("Path")
      expect(error.message).toBe(
        "Invalid connection string: a KurrentDB connection string has no path, got \"/db\"; options go after \"?\""
      )
    })

    it("wraps the grammar errors of core's parser, typed, with the ConnectionStringError as cause", () => {
      const error = errorOf("esdb://node1:99999")
      expect(error.reason).toBe("Syntax")
      expect(error.cause).toBeInstanceOf(ConnectionString.ConnectionStringError)
      expect(error.cause?.part).toBe("port")
      expect(error.cause?.reason).toBe("OutOfRange")
      expect(error.detail).toBe(`${error.cause?.detail} (at position 13)`)
      // Without "@host", "node1:99999" may be "user:password": the port is not quoted.
      expect(error.message).toBe(
        "Invalid connection string: the port of host \"node1\" is out of range 1-65535 (not shown: without " +
          "\"@host\", \"user:password\" reads as \"host:port\", so it may be a password) (at position 13)"
      )
      expect(errorOf("esdb://admin:changeit@node1:99999").message).toBe(
        "Invalid connection string: port \"99999\" of host \"node1\" is out of range 1-65535 (at position 28)"
      )
      expect(errorOf("").reason).toBe("Syntax")
      expect(errorOf("esdb://").reason).toBe("Syntax")
      expect(errorOf("esdb://a,,b").reason).toBe("Syntax")
      expect(errorOf("esdb://::1").reason).toBe("Syntax")
      expect(errorOf("").cause?.reason).toBe("Empty")
      expect(errorOf("esdb://a,,b").cause?.reason).toBe("Empty")
      expect(errorOf("esdb://::1").cause?.reason).toBe("Malformed")
    })
  })

  describe("credentials", () => {
    it("reads user:password@, percent-decoded, the password Redacted", () => {
      const settings = esdbOk("esdb://admin:chang%3Ae%40it@node1")
      const credentials = Option.getOrThrow(settings.credentials)
      expect(credentials.username).toBe("admin")
      expect(Redacted.isRedacted(credentials.password)).toBe(true)
      expect(Redacted.value(credentials.password)).toBe("chang:e@it")
    })

    it("a user without a password is an error", () => {
      const error = errorOf("esdb://admin@node1")
      expect(error.reason).toBe("Credentials")
      expect(error.message).toBe(
        "Invalid connection string: the credentials need a user name and a password (user:password@host), got no password"
      )
    })

    it("an empty password is an error", () => {
      expect(errorOf("esdb://admin:@node1").reason).toBe("Credentials")
    })
  })

  describe("options: valid values", () => {
    const cases: ReadonlyArray<readonly [string, Partial<PlainEsdb>]> = [
      ["tls=false", { tls: false }],
      ["tls=true", { tls: true }],
      ["tlsVerifyCert=false", { tlsVerifyCert: false }],
      ["tlsVerifyCert=true", { tlsVerifyCert: true }],
      ["tlsCAFile=%2Fetc%2Fssl%2Fca.pem", { tlsCAFile: "/etc/ssl/ca.pem" }],
      ["tlsCAFile=certs/ca.crt", { tlsCAFile: "certs/ca.crt" }],
      ["userCertFile=user.crt&userKeyFile=user.key", {
        userCertificate: { certFile: "user.crt", keyFile: "user.key" }
      }],
      ["keepAliveInterval=20000", { keepAliveInterval: 20_000 }],
      ["keepAliveInterval=2147483647", { keepAliveInterval: 2_147_483_647 }],
      ["keepAliveInterval=010", { keepAliveInterval: 10 }],
      ["keepAliveInterval=-1", { keepAliveInterval: null }],
      ["keepAliveTimeout=5000", { keepAliveTimeout: 5_000 }],
      ["keepAliveTimeout=-1", { keepAliveTimeout: null }],
      ["keepAliveTimeout=1", { keepAliveTimeout: 1 }],
      ["defaultDeadline=1", { defaultDeadline: 1 }],
      ["defaultDeadline=60000", { defaultDeadline: 60_000 }],
      ["defaultDeadline=2147483647", { defaultDeadline: 2_147_483_647 }],
      ["nodePreference=leader", { nodePreference: "leader" }],
      ["nodePreference=follower", { nodePreference: "follower" }],
      ["nodePreference=random", { nodePreference: "random" }],
      ["nodePreference=read_only_replica", { nodePreference: "read_only_replica" }],
      ["nodePreference=LEADER", { nodePreference: "leader" }],
      ["nodePreference=Follower", { nodePreference: "follower" }],
      ["nodePreference=ReadOnlyReplica", { nodePreference: "read_only_replica" }],
      ["nodePreference=read-only-replica", { nodePreference: "read_only_replica" }],
      ["nodePreference=READ_ONLY_REPLICA", { nodePreference: "read_only_replica" }],
      ["nodePreference=readonlyreplica", { nodePreference: "read_only_replica" }],
      ["maxDiscoverAttempts=1", { maxDiscoverAttempts: 1 }],
      ["maxDiscoverAttempts=25", { maxDiscoverAttempts: 25 }],
      ["discoveryInterval=0", { discoveryInterval: 0 }],
      ["discoveryInterval=250", { discoveryInterval: 250 }],
      ["gossipTimeout=1", { gossipTimeout: 1_000 }],
      ["gossipTimeout=30", { gossipTimeout: 30_000 }],
      ["connectionName=orders-1", { connectionName: "orders-1" }],
      ["connectionName=my%20app", { connectionName: "my app" }],
      ["throwOnAppendFailure=false", { throwOnAppendFailure: false }],
      ["throwOnAppendFailure=true", { throwOnAppendFailure: true }],
      ["dnsDiscover=true", { discover: true }],
      ["dnsDiscover=false", { discover: false }]
    ]

    it.each(cases)("?%s", (query, expected) => {
      expect(plainEsdb(esdbOk(`esdb://localhost?${query}`))).toEqual({ ...esdbDefaults, ...expected })
    })

    it("reads Spear's strings (tls, keepAliveInterval, keepAliveTimeout)", () => {
      expect(
        plainEsdb(esdbOk("esdb://admin:changeit@localhost:2113?tls=true&keepAliveInterval=30000&keepAliveTimeout=-1"))
      )
        .toEqual({
          ...esdbDefaults,
          credentials: { username: "admin", password: "changeit" },
          keepAliveInterval: 30_000,
          keepAliveTimeout: null
        })
    })

    it("-1 disables keepalive: Option.none()", () => {
      const settings = esdbOk("esdb://localhost?keepAliveInterval=-1&keepAliveTimeout=-1")
      expect(Option.isNone(settings.keepAliveInterval)).toBe(true)
      expect(Option.isNone(settings.keepAliveTimeout)).toBe(true)
      expect(String(settings)).toBe("esdb://localhost:2113?keepAliveInterval=-1&keepAliveTimeout=-1")
    })

    it("gossipTimeout is in seconds, as in the KurrentDB Node and Go clients", () => {
      expect(Duration.toSeconds(esdbOk("esdb://localhost?gossipTimeout=7").gossipTimeout)).toBe(7)
    })

    it("reads every option at once", () => {
      const settings = esdbOk(
        "kurrentdb+discover://ops:p%40ss@n1:1113,[::1]:2113?tls=false&tlsVerifyCert=false&tlsCAFile=ca.pem" +
          "&userCertFile=u.crt&userKeyFile=u.key&keepAliveInterval=15000&keepAliveTimeout=-1&defaultDeadline=20000" +
          "&nodePreference=random&maxDiscoverAttempts=3&discoveryInterval=500&gossipTimeout=2&connectionName=app" +
          "&throwOnAppendFailure=false"
      )
      expect(plainEsdb(settings)).toEqual({
        scheme: "kurrentdb",
        discover: true,
        hosts: [{ host: "n1", port: 1113 }, { host: "::1", port: 2113 }],
        credentials: { username: "ops", password: "p@ss" },
        tls: false,
        tlsVerifyCert: false,
        tlsCAFile: "ca.pem",
        userCertificate: { certFile: "u.crt", keyFile: "u.key" },
        keepAliveInterval: 15_000,
        keepAliveTimeout: null,
        defaultDeadline: 20_000,
        nodePreference: "random",
        maxDiscoverAttempts: 3,
        discoveryInterval: 500,
        gossipTimeout: 2_000,
        connectionName: "app",
        throwOnAppendFailure: false
      })
      expect(String(settings)).toBe(
        "kurrentdb+discover://ops:***@n1:1113,[::1]:2113?tls=false&tlsVerifyCert=false&tlsCAFile=ca.pem" +
          "&userCertFile=u.crt&userKeyFile=u.key&keepAliveInterval=15000&keepAliveTimeout=-1&defaultDeadline=20000" +
          "&nodePreference=random&maxDiscoverAttempts=3&discoveryInterval=500&gossipTimeout=2&connectionName=app" +
          "&throwOnAppendFailure=false"
      )
    })
  })

  describe("options: invalid values name the option and the reason", () => {
    const bool = (key: string, value: string) => [key, value, `${key} must be true or false, got "${value}"`] as const
    const ms = (key: string, min: number, value: string) =>
      [key, value, `${key} must be a whole number of milliseconds ≥ ${min}, got "${value}"`] as const
    const keepAlive = (key: string, value: string) =>
      [
        key,
        value,
        `${key} must be -1 (disabled) or a whole number of milliseconds in 1-2147483647, got "${value}"`
      ] as const
    const cases: ReadonlyArray<readonly [string, string, string]> = [
      bool("tls", "yes"),
      bool("tls", "TRUE"),
      bool("tls", "False"),
      bool("tls", "1"),
      bool("tls", ""),
      bool("tlsVerifyCert", "no"),
      bool("throwOnAppendFailure", "0"),
      bool("dnsDiscover", "on"),
      ["tlsCAFile", "", "tlsCAFile must be a non-empty file path, got \"\""],
      ["userCertFile", "", "userCertFile must be a non-empty file path, got \"\""],
      ["userKeyFile", "", "userKeyFile must be a non-empty file path, got \"\""],
      ["connectionName", "", "connectionName must be a non-empty name, got \"\""],
      keepAlive("keepAliveInterval", "abc"),
      keepAlive("keepAliveInterval", "-2"),
      keepAlive("keepAliveInterval", "1.5"),
      keepAlive("keepAliveInterval", "10ms"),
      keepAlive("keepAliveInterval", "1e4"),
      keepAlive("keepAliveInterval", "+5"),
      keepAlive("keepAliveInterval", "0x10"),
      keepAlive("keepAliveInterval", "99999999999999999999"),
      keepAlive("keepAliveInterval", ""),
      // 0 and anything above Node's timer limit are what GrpcChannel.make refuses: one rule in both places.
      keepAlive("keepAliveInterval", "0"),
      keepAlive("keepAliveInterval", "2147483648"),
      keepAlive("keepAliveTimeout", "0"),
      keepAlive("keepAliveTimeout", "2147483648"),
      keepAlive("keepAliveTimeout", "-5"),
      keepAlive("keepAliveTimeout", "ten"),
      ...["0", "-1", "soon", "2147483648"].map((value) =>
        [
          "defaultDeadline",
          value,
          `defaultDeadline must be a whole number of milliseconds in 1-2147483647, got "${value}"`
        ] as const
      ),
      ms("discoveryInterval", 0, "-1"),
      ms("discoveryInterval", 0, "fast"),
      [
        "nodePreference",
        "boss",
        "nodePreference must be one of leader, follower, random, read_only_replica, got \"boss\""
      ],
      ["nodePreference", "", "nodePreference must be one of leader, follower, random, read_only_replica, got \"\""],
      [
        "nodePreference",
        "read only",
        "nodePreference must be one of leader, follower, random, read_only_replica, got \"read only\""
      ],
      ["maxDiscoverAttempts", "0", "maxDiscoverAttempts must be a whole number ≥ 1, got \"0\""],
      ["maxDiscoverAttempts", "-3", "maxDiscoverAttempts must be a whole number ≥ 1, got \"-3\""],
      ["maxDiscoverAttempts", "many", "maxDiscoverAttempts must be a whole number ≥ 1, got \"many\""],
      ["gossipTimeout", "0", "gossipTimeout must be a whole number of seconds ≥ 1, got \"0\""],
      ["gossipTimeout", "5s", "gossipTimeout must be a whole number of seconds ≥ 1, got \"5s\""]
    ]

    it.each(cases)("%s=%s", (key, value, detail) => {
      const error = errorOf(`esdb://localhost?${key}=${encodeURIComponent(value)}`)
      expect(error._tag).toBe("GrpcConnectionStringError")
      expect(error.reason).toBe("InvalidValue")
      expect(error.key).toBe(key)
      expect(error.detail).toBe(detail)
      expect(error.message).toBe(`Invalid connection string: ${detail}`)
    })

    it("a name without \"=\" has the empty value", () => {
      expect(errorOf("esdb://localhost?tls").message).toBe(
        "Invalid connection string: tls must be true or false, got \"\""
      )
    })

    it("userCertFile and userKeyFile come together", () => {
      const error = errorOf("esdb://localhost?userCertFile=u.crt")
      expect(error.reason).toBe("Conflict")
      expect(error.key).toBe("userKeyFile")
      expect(error.message).toBe(
        "Invalid connection string: userCertFile and userKeyFile go together, got only userCertFile"
      )
      expect(errorOf("esdb://localhost?userKeyFile=u.key").message).toContain("got only userKeyFile")
    })
  })

  describe("option names", () => {
    const samples: Record<string, string> = {
      tls: "false",
      tlsVerifyCert: "false",
      tlsCAFile: "ca.pem",
      userCertFile: "u.crt",
      userKeyFile: "u.key",
      keepAliveInterval: "-1",
      keepAliveTimeout: "20000",
      defaultDeadline: "1234",
      nodePreference: "follower",
      maxDiscoverAttempts: "3",
      discoveryInterval: "7",
      gossipTimeout: "9",
      connectionName: "app",
      throwOnAppendFailure: "false",
      dnsDiscover: "true"
    }
    const partner: Record<string, string> = { userCertFile: "&userKeyFile=u.key", userKeyFile: "&userCertFile=u.crt" }

    it("are every option of the KurrentDB client", () => {
      expect(GrpcConnectionString.esdbOptionNames).toEqual(Object.keys(samples))
    })

    it.each(Object.keys(samples))("%s ignores case, \"_\" and \"-\"", (name) => {
      const canonical = esdbOk(`esdb://localhost?${name}=${samples[name]}${partner[name] ?? ""}`)
      expect(sameEsdb(canonical, esdbOk("esdb://localhost"))).toBe(false)
      for (const spelling of spellings(name)) {
        const settings = esdbOk(`esdb://localhost?${spelling}=${samples[name]}${partner[name] ?? ""}`)
        expect(sameEsdb(settings, canonical)).toBe(true)
      }
    })

    it("the last value of a name wins, whatever its spelling", () => {
      const settings = esdbOk("esdb://localhost?keepAliveInterval=1&keep_alive_interval=2&KEEP-ALIVE-INTERVAL=3")
      expect(Option.map(settings.keepAliveInterval, ms)).toEqual(Option.some(3))
    })

    it("every value is checked, not only the last", () => {
      expect(errorOf("esdb://localhost?tls=yes&tls=true").key).toBe("tls")
    })

    it("an unknown option is an error that names it and lists the known ones", () => {
      const error = errorOf("esdb://localhost?tls=false&keepAliveIntervall=-1")
      expect(error.reason).toBe("UnknownKey")
      expect(error.key).toBe("keepAliveIntervall")
      expect(error.message).toBe(
        "Invalid connection string: unknown option \"keepAliveIntervall\" in a KurrentDB connection string; " +
          "the options are tls, tlsVerifyCert, tlsCAFile, userCertFile, userKeyFile, keepAliveInterval, " +
          "keepAliveTimeout, defaultDeadline, nodePreference, maxDiscoverAttempts, discoveryInterval, gossipTimeout, " +
          "connectionName, throwOnAppendFailure, dnsDiscover (names ignore case, \"_\" and \"-\")"
      )
    })

    it("Chronicle options are unknown in a KurrentDB string", () => {
      expect(errorOf("esdb://localhost?disableTls=true").reason).toBe("UnknownKey")
      expect(errorOf("esdb://localhost?apiKey=k").reason).toBe("UnknownKey")
    })
  })
})

describe("GrpcConnectionString: whitespace, as the KurrentDB client trims it", () => {
  it("trims whitespace around the string, each host, each name and each value", () => {
    const settings = esdbOk(
      "  kurrentdb://  admin:changeit  @  node1 , node2:2114\t?  tls = false &\n keepAliveInterval=\t-1  \n"
    )
    expect(settings.hosts).toEqual([{ host: "node1", port: 2113 }, { host: "node2", port: 2114 }])
    expect(Option.map(settings.credentials, (c) => [c.username, Redacted.value(c.password)])).toEqual(
      Option.some(["admin", "changeit"])
    )
    expect(settings.tls).toBe(false)
    expect(Option.isNone(settings.keepAliveInterval)).toBe(true)
    expect(String(settings)).toBe("kurrentdb://admin:***@node1:2113,node2:2114?tls=false&keepAliveInterval=-1")
  })

  it("reads a string written over several lines; a line break inside a value is kept", () => {
    const settings = esdbOk(
      "esdb://node1\n  ?tls=false\n  &connectionName=first\n    second\n  &nodePreference=follower\n"
    )
    expect(settings.connectionName).toEqual(Option.some("first\n    second"))
    expect(settings.nodePreference).toBe("follower")
    // and prints it percent-encoded, so the printed string parses back to the same settings
    expect(String(settings)).toBe(
      "esdb://node1:2113?tls=false&nodePreference=follower&connectionName=first%0A%20%20%20%20second"
    )
    expect(sameEsdb(esdbOk(String(settings)), settings)).toBe(true)
  })

  it("drops a pair that is only whitespace, as an empty one", () => {
    expect(esdbOk("esdb://h?tls=false&   &\n&keepAliveInterval=-1").tls).toBe(false)
  })

  it("keeps whitespace inside a host entry: \"host :2113\" is an error, not the host \"host \"", () => {
    const error = errorOf("esdb://node1 :2113")
    expect(error.reason).toBe("Syntax")
    expect(error.cause?.part).toBe("host")
  })

  it("error positions are those of the input as written, before trimming", () => {
    const input = "esdb://   node1,   node2:99999"
    const error = errorOf(input)
    expect(error.cause?.position).toBe(input.indexOf("99999"))
    expect(error.detail).toContain(`(at position ${input.indexOf("99999")})`)
  })

  it("does not trim Chronicle strings, which the KurrentDB client does not read", () => {
    expect(errorOf("chronicle:// node1").reason).toBe("Syntax")
    expect(errorOf("chronicle://node1?disableTls= true").reason).toBe("InvalidValue")
  })

  it("a raw \"@\" in the user info is an error: the KurrentDB client ends the credentials at the first \"@\"", () => {
    const error = errorOf("esdb://admin:p@ss@node1")
    expect(error.reason).toBe("Credentials")
    expect(error.message).toContain("percent-encode \"@\"")
    expect(error.message).not.toContain("p@ss")
    expect(Redacted.value(Option.getOrThrow(esdbOk("esdb://admin:p%40ss@node1").credentials).password)).toBe("p@ss")
    // Chronicle strings keep core's rule: the user info ends at the last "@".
    expect(chronicleOk("chronicle://id:p@ss@node1").auth).toMatchObject({ _tag: "ClientCredentials", clientId: "id" })
  })
})

describe("GrpcConnectionString: a host is a host name or an IP address", () => {
  it.each([
    "localhost",
    "node-1.example.com",
    "node_1",
    "xn--80akhbyknj4f.xn--p1ai",
    "морда-кошки.ru",
    "host.123",
    "10.0.0.1",
    "255.255.255.255",
    "[::1]",
    "[fe80::1%25eth0]",
    `${"a".repeat(63)}.com`
  ])("%s is one", (host) => {
    expect(esdbOk(`esdb://${host}`).hosts).toHaveLength(1)
    expect(chronicleOk(`chronicle://${host}`).hosts).toHaveLength(1)
  })

  it.each([
    ["host1;host2;host3", "\";\" is not allowed (hosts are separated by \",\")"],
    ["throwOnAppendFailure=false", "\"=\" is not allowed (options go after \"?\")"],
    ["a&b", "\"&\" is not allowed (options go after \"?\")"],
    ["a..b", "it has an empty label"],
    [".a", "it has an empty label"],
    ["-a.com", "a label starts or ends with \"-\""],
    ["a-.com", "a label starts or ends with \"-\""],
    ["a$b", "\"$\" is not allowed"],
    ["a*b", "\"*\" is not allowed"],
    ["a!b", "\"!\" is not allowed"],
    ["256.0.0.1", "it is not a valid IPv4 address"],
    ["10.0.0", "it is not a valid IPv4 address"],
    ["010.0.0.1", "it is not a valid IPv4 address"],
    ["2113", "it is not a valid IPv4 address"],
    ["example.com.", "it has an empty label"],
    [`${"a".repeat(64)}.com`, "a label is longer than 63 characters"],
    [Array.from({ length: 64 }, () => "abc").join("."), "it is longer than 253 characters"]
  ])("%s is not: %s", (host, why) => {
    for (const input of [`esdb://${host}?tls=false`, `chronicle://${host}`, `esdb://ok,${host}`]) {
      const error = errorOf(input)
      expect(error.reason).toBe("Syntax")
      expect(error.cause).toBeInstanceOf(ConnectionString.ConnectionStringError)
      expect(error.cause?.part).toBe("host")
      expect(error.detail).toContain(why)
      expect(isRedialError(error)).toBe(true)
    }
  })

  it("names the host it refuses, unless it may be part of a password", () => {
    expect(errorOf("esdb://ok,a;b").message).toBe(
      "Invalid connection string: host \"a;b\" is not a valid host name or IP address: " +
        "\";\" is not allowed (hosts are separated by \",\")"
    )
    // "admin:1234,S3c;ret" may be "user:password" without its "@host": the second host is not shown.
    const error = errorOf("esdb://admin:1234,S3c;ret")
    expect(error.message).toContain("host 2 of 2 (not shown")
    expect(error.message).not.toContain("S3c")
    // With user info, nothing after the "@" is a password.
    expect(errorOf("esdb://admin:pw@h:1,a;b").message).toContain("host \"a;b\"")
  })

  it("the settings' own Schema refuses the same hosts", () => {
    expect(() => GrpcConnectionString.EsdbSettings.make({ hosts: [{ host: "a;b", port: 2113 }] })).toThrow()
    expect(() => GrpcConnectionString.ChronicleSettings.make({ hosts: [{ host: "a b", port: 35000 }] })).toThrow()
    expect(() => GrpcConnectionString.EsdbSettings.make({ hosts: [{ host: "fe80::1%eth0", port: 2113 }] })).not
      .toThrow()
    expect(() => GrpcConnectionString.EsdbSettings.make({ hosts: [{ host: "h:1", port: 2113 }] })).toThrow()
  })
})

// ---------------------------------------------------------------------------
// Chronicle
// ---------------------------------------------------------------------------

describe("GrpcConnectionString: chronicle://", () => {
  describe("defaults", () => {
    it("a bare host gets Chronicle's defaults: port 35000, TLS, no authentication", () => {
      expect(plainChronicle(chronicleOk("chronicle://localhost"))).toEqual(chronicleDefaults)
      expect(GrpcConnectionString.chronicleDefaultPort).toBe(35000)
    })

    it("chronicleDefault is chronicle://localhost:35000 (Chronicle's ConnectionString.default/0)", () => {
      expect(String(GrpcConnectionString.chronicleDefault)).toBe("chronicle://localhost:35000")
      expect(sameChronicle(GrpcConnectionString.chronicleDefault, chronicleOk("chronicle://localhost:35000"))).toBe(
        true
      )
    })

    it("ChronicleSettings.make fills in the same defaults", () => {
      const made = GrpcConnectionString.ChronicleSettings.make({ hosts: [{ host: "localhost", port: 35000 }] })
      expect(plainChronicle(made)).toEqual(chronicleDefaults)
    })
  })

  describe("scheme and hosts", () => {
    it("the scheme ignores case", () => {
      expect(plainChronicle(chronicleOk("CHRONICLE://localhost"))).toEqual(chronicleDefaults)
    })

    it("reads several hosts in order, IPv6 in brackets, the default port filled in", () => {
      expect(chronicleOk("chronicle://a,b:36000,[::1],[2001:db8::1]:1").hosts).toEqual([
        { host: "a", port: 35000 },
        { host: "b", port: 36000 },
        { host: "::1", port: 35000 },
        { host: "2001:db8::1", port: 1 }
      ])
    })

    it("chronicle+srv:// takes one host", () => {
      const settings = chronicleOk("chronicle+srv://chronicle.internal?srvNameServer=10.0.0.2:53")
      expect(settings.srv).toBe(true)
      expect(Option.getOrNull(settings.srvNameServer)).toBe("10.0.0.2:53")
      const error = errorOf("chronicle+srv://a,b")
      expect(error.reason).toBe("Conflict")
      expect(error.message).toBe(
        "Invalid connection string: chronicle+srv:// takes one host, resolved with a DNS SRV lookup; got 2 hosts"
      )
    })

    it("accepts a trailing slash, and no other path", () => {
      expect(chronicleOk("chronicle://localhost/?disableTls=true").tls).toBe(false)
      expect(errorOf("chronicle://localhost/x").reason).toBe("Path")
    })

    it("parseChronicle refuses other schemes", () => {
      const error = Either.getLeft(GrpcConnectionString.parseChronicleEither("esdb://localhost")).pipe(
        Option.getOrThrow
      )
      expect(error.reason).toBe("Scheme")
      expect(error.message).toBe(
        "Invalid connection string: unsupported scheme \"esdb\"; expected one of chronicle://, chronicle+srv://"
      )
    })
  })

  describe("options", () => {
    const cases: ReadonlyArray<readonly [string, Partial<PlainChronicle>]> = [
      ["disableTls=true", { tls: false }],
      ["disableTls=false", { tls: true }],
      ["disableTls=TRUE", { tls: false }],
      ["disableTls=False", { tls: true }],
      ["skipTlsValidation=true", { skipTlsValidation: true }],
      ["apiKey=k3y", { auth: { _tag: "ApiKey", apiKey: "k3y" } }],
      ["apiKey=a%26b%3Dc", { auth: { _tag: "ApiKey", apiKey: "a&b=c" } }],
      ["certificatePath=%2Fcerts%2Fclient.pfx", { certificatePath: "/certs/client.pfx" }],
      ["certificatePassword=pfx-pass", { certificatePassword: "pfx-pass" }],
      ["authPort=8080", { authPort: 8080 }],
      ["loadBalancer=round-robin", { loadBalancer: "round-robin" }],
      ["loadBalancer=random", { loadBalancer: "random" }],
      ["loadBalancer=least-connections", { loadBalancer: "least-connections" }],
      ["srvNameServer=dns.local", { srvNameServer: "dns.local" }]
    ]

    it.each(cases)("?%s", (query, expected) => {
      expect(plainChronicle(chronicleOk(`chronicle://localhost?${query}`))).toEqual({
        ...chronicleDefaults,
        ...expected
      })
    })

    const invalid: ReadonlyArray<readonly [string, string, string]> = [
      ["disableTls", "yes", "disableTls must be true or false, got \"yes\""],
      ["disableTls", "", "disableTls must be true or false, got \"\""],
      ["skipTlsValidation", "1", "skipTlsValidation must be true or false, got \"1\""],
      ["certificatePath", "", "certificatePath must be a non-empty file path, got \"\""],
      ["authPort", "0", "authPort must be a port number in 1-65535, got \"0\""],
      ["authPort", "65536", "authPort must be a port number in 1-65535, got \"65536\""],
      ["authPort", "http", "authPort must be a port number in 1-65535, got \"http\""],
      [
        "loadBalancer",
        "Round-Robin",
        "loadBalancer must be one of least-connections, round-robin, random, got \"Round-Robin\""
      ],
      ["srvNameServer", "", "srvNameServer must be a non-empty host or host:port, got \"\""],
      ["apiKey", "", "apiKey must be a non-empty key (the value is a secret and is not shown)"],
      [
        "certificatePassword",
        "",
        "certificatePassword must be a non-empty password (the value is a secret and is not shown)"
      ]
    ]

    it.each(invalid)("%s=%s is an error", (key, value, detail) => {
      const error = errorOf(`chronicle://localhost?${key}=${encodeURIComponent(value)}`)
      expect(error.reason).toBe("InvalidValue")
      expect(error.key).toBe(key)
      expect(error.message).toBe(`Invalid connection string: ${detail}`)
    })

    it("option names ignore case, \"_\" and \"-\"", () => {
      for (const spelling of spellings("disableTls")) {
        expect(chronicleOk(`chronicle://localhost?${spelling}=true`).tls).toBe(false)
      }
      for (const spelling of spellings("apiKey")) {
        expect(chronicleOk(`chronicle://localhost?${spelling}=k`).auth._tag).toBe("ApiKey")
      }
      for (const spelling of spellings("certificatePath")) {
        expect(Option.getOrNull(chronicleOk(`chronicle://localhost?${spelling}=c.pem`).certificatePath)).toBe("c.pem")
      }
    })

    it("are every option of the Chronicle client", () => {
      expect(GrpcConnectionString.chronicleOptionNames).toEqual([
        "disableTls",
        "skipTlsValidation",
        "apiKey",
        "certificatePath",
        "certificatePassword",
        "authPort",
        "loadBalancer",
        "srvNameServer"
      ])
    })

    it("an unknown option is an error that names it and lists the known ones", () => {
      const error = errorOf("chronicle://localhost?tls=false")
      expect(error.reason).toBe("UnknownKey")
      expect(error.key).toBe("tls")
      expect(error.message).toBe(
        "Invalid connection string: unknown option \"tls\" in a Chronicle connection string; the options are " +
          "disableTls, skipTlsValidation, apiKey, certificatePath, certificatePassword, authPort, loadBalancer, " +
          "srvNameServer (names ignore case, \"_\" and \"-\")"
      )
    })
  })

  describe("authentication", () => {
    it("clientId:secret@ is client credentials, the secret Redacted", () => {
      const settings = chronicleOk("chronicle://chronicle-dev-client:chronicle-dev-secret@localhost")
      expect(plainAuth(settings.auth)).toEqual({
        _tag: "ClientCredentials",
        clientId: "chronicle-dev-client",
        secret: "chronicle-dev-secret"
      })
      expect(settings.auth._tag === "ClientCredentials" && Redacted.isRedacted(settings.auth.secret)).toBe(true)
    })

    it("apiKey is an API key, Redacted", () => {
      const settings = chronicleOk("chronicle://localhost?apiKey=S3cr3tApiKey")
      expect(settings.auth._tag === "ApiKey" && Redacted.isRedacted(settings.auth.apiKey)).toBe(true)
      expect(String(settings)).toBe("chronicle://localhost:35000?apiKey=***")
    })

    it("client credentials and apiKey together are an error that shows neither", () => {
      const error = errorOf("chronicle://client:S3cr3tSecret@localhost?apiKey=S3cr3tApiKey")
      expect(error.reason).toBe("Conflict")
      expect(error.key).toBe("apiKey")
      expect(error.message).toBe(
        "Invalid connection string: use either client credentials (clientId:secret@host) or apiKey, not both"
      )
      for (const text of [error.message, ...renderings(error)]) {
        expect(text).not.toContain("S3cr3t")
      }
    })

    it("a client id without a secret is an error", () => {
      expect(errorOf("chronicle://client@localhost").reason).toBe("Credentials")
      expect(errorOf("chronicle://client:@localhost").reason).toBe("Credentials")
    })
  })
})

// ---------------------------------------------------------------------------
// Dispatch, Effect, Schema, Config
// ---------------------------------------------------------------------------

describe("GrpcConnectionString: parse", () => {
  it("chooses by the scheme", () => {
    const esdb = GrpcConnectionString.parseEither("esdb://a")
    const chronicle = GrpcConnectionString.parseEither("chronicle://a")
    expect(Either.map(esdb, (s) => s._tag)).toEqual(Either.right("EsdbSettings"))
    expect(Either.map(chronicle, (s) => s._tag)).toEqual(Either.right("ChronicleSettings"))
  })

  it("an unsupported scheme lists the supported ones", () => {
    const error = errorOf("amqp://guest:guest@localhost")
    expect(error.reason).toBe("Scheme")
    expect(error.message).toBe(
      "Invalid connection string: unsupported scheme \"amqp\"; expected one of esdb://, esdb+discover://, " +
        "kurrentdb://, kurrentdb+discover://, kurrent://, kurrent+discover://, kdb://, kdb+discover://, " +
        "chronicle://, chronicle+srv://"
    )
  })

  it("accepts a Redacted input", () => {
    const settings = GrpcConnectionString.parseEither(Redacted.make("esdb://admin:changeit@localhost"))
    expect(Either.map(settings, String)).toEqual(Either.right("esdb://admin:***@localhost:2113"))
  })

  it("fromConnectionString reads a string parsed by core", () => {
    const cs = Either.getOrThrow(ConnectionString.parseEither("kdb://h?tls=false"))
    const settings = Either.getOrThrow(GrpcConnectionString.fromConnectionString(cs))
    expect(settings._tag === "EsdbSettings" && settings.tls).toBe(false)
    expect(Either.isRight(GrpcConnectionString.esdbFromConnectionString(cs))).toBe(true)
    expect(Either.isLeft(GrpcConnectionString.chronicleFromConnectionString(cs))).toBe(true)
  })

  it.effect("parseEsdb and parseChronicle are Effects", () =>
    Effect.gen(function*() {
      const esdb = yield* GrpcConnectionString.parseEsdb("esdb://localhost?tls=false")
      expect(esdb.tls).toBe(false)
      const chronicle = yield* GrpcConnectionString.parseChronicle("chronicle://localhost?disableTls=true")
      expect(chronicle.tls).toBe(false)
      const settings = yield* GrpcConnectionString.parse("kurrentdb://localhost")
      expect(settings._tag).toBe("EsdbSettings")
    }))

  it.effect("failures are typed, tagged and yieldable", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(GrpcConnectionString.parseEsdb("esdb://localhost?tls=yes"))
      expect(error).toBeInstanceOf(GrpcConnectionString.GrpcConnectionStringError)
      expect(error._tag).toBe("GrpcConnectionStringError")
      expect(isRedialError(error)).toBe(true)
      expect(isRedialError(errorOf("esdb://node1:99999").cause)).toBe(true)
      const caught = yield* GrpcConnectionString.parseChronicle("chronicle://localhost?disableTls=maybe").pipe(
        Effect.catchTag("GrpcConnectionStringError", (e) => Effect.succeed(e.key))
      )
      expect(caught).toBe("disableTls")
      const yielded = yield* Effect.flip(
        Effect.gen(function*() {
          return yield* new GrpcConnectionString.GrpcConnectionStringError({ reason: "Conflict", detail: "x" })
        })
      )
      expect(yielded.message).toBe("Invalid connection string: x")
    }))

  it("format prints only the options that differ from their defaults, secrets as ***", () => {
    expect(String(esdbOk("esdb://admin:changeit@node1,node2:2114?tls=false&keep_alive_interval=-1"))).toBe(
      "esdb://admin:***@node1:2113,node2:2114?tls=false&keepAliveInterval=-1"
    )
    expect(GrpcConnectionString.format(esdbOk("esdb://admin:changeit@[::1]?TLS=false"))).toBe(
      "esdb://admin:***@[::1]:2113?tls=false"
    )
    expect(
      GrpcConnectionString.format(
        chronicleOk("chronicle://localhost?apiKey=k&certificatePassword=p&certificatePath=c.pfx&authPort=5001")
      )
    ).toBe("chronicle://localhost:35000?apiKey=***&certificatePath=c.pfx&certificatePassword=***&authPort=5001")
    expect(String(chronicleOk("chronicle://id:s3cret@localhost?disableTls=true&loadBalancer=random"))).toBe(
      "chronicle://id:***@localhost:35000?disableTls=true&loadBalancer=random"
    )
  })

  it("the documented examples hold", () => {
    const made = GrpcConnectionString.EsdbSettings.make({
      hosts: [{ host: "node1", port: 2113 }],
      keepAliveInterval: Option.none(),
      defaultDeadline: Duration.seconds(30)
    })
    expect(String(made)).toBe("kurrentdb://node1:2113?keepAliveInterval=-1&defaultDeadline=30000")
    const settings = esdbOk(
      "kurrentdb+discover://admin:changeit@node1,node2:2114?nodePreference=follower&keepAliveInterval=-1"
    )
    expect(String(settings)).toBe(
      "kurrentdb+discover://admin:***@node1:2113,node2:2114?keepAliveInterval=-1&nodePreference=follower"
    )
    expect(String(chronicleOk("chronicle://localhost?disableTls=true&apiKey=k3y"))).toBe(
      "chronicle://localhost:35000?disableTls=true&apiKey=***"
    )
  })

  it("a formatted string parses back (the secrets then read \"***\")", () => {
    const esdb = esdbOk("esdb+discover://admin:changeit@a,b?nodePreference=random&gossipTimeout=9")
    const again = esdbOk(String(esdb))
    expect(plainEsdb(again)).toEqual({ ...plainEsdb(esdb), credentials: { username: "admin", password: "***" } })
    const chronicle = chronicleOk("chronicle://localhost?apiKey=k")
    expect(plainChronicle(chronicleOk(String(chronicle))).auth).toEqual({ _tag: "ApiKey", apiKey: "***" })
  })
})

describe("GrpcConnectionString: Schema", () => {
  it("EsdbFromString decodes, and encodes back with the password in clear", () => {
    const settings = Schema.decodeUnknownSync(GrpcConnectionString.EsdbFromString)("esdb://admin:changeit@h?tls=false")
    expect(settings).toBeInstanceOf(GrpcConnectionString.EsdbSettings)
    const encoded = Schema.encodeSync(GrpcConnectionString.EsdbFromString)(settings)
    expect(encoded).toBe("esdb://admin:changeit@h:2113?tls=false")
    expect(sameEsdb(Schema.decodeSync(GrpcConnectionString.EsdbFromString)(encoded), settings)).toBe(true)
  })

  it("ChronicleFromString and FromString decode", () => {
    const chronicle = Schema.decodeUnknownSync(GrpcConnectionString.ChronicleFromString)("chronicle://h?apiKey=k")
    expect(chronicle.auth._tag).toBe("ApiKey")
    expect(Schema.encodeSync(GrpcConnectionString.ChronicleFromString)(chronicle)).toBe("chronicle://h:35000?apiKey=k")
    const any = Schema.decodeUnknownSync(GrpcConnectionString.FromString)("esdb://h")
    expect(any._tag).toBe("EsdbSettings")
    expect(Schema.is(GrpcConnectionString.Settings)(any)).toBe(true)
  })

  it("a decoding failure carries the error message and no secret", () => {
    const esdb = Schema.decodeUnknownEither(GrpcConnectionString.EsdbFromString)
    const chronicle = Schema.decodeUnknownEither(GrpcConnectionString.ChronicleFromString)
    const any = Schema.decodeUnknownEither(GrpcConnectionString.FromString)
    const cases: ReadonlyArray<
      readonly [(input: unknown) => Either.Either<unknown, ParseResult.ParseError>, string, string]
    > = [
      [esdb, "esdb://admin:S3cr3tPassword@h?tls=yes", "tls must be true or false"],
      [esdb, "esdb://admin:S3cr3tPassword@h:99999", "out of range"],
      [chronicle, "chronicle://h?apiKey=S3cr3tKey&foo=1", "unknown option \"foo\""],
      [any, "chronicle://id:S3cr3tSecret@h?certificatePassword=S3cr3tPfx&apiKey=S3cr3tKey", "not both"]
    ]
    for (const [decode, input, expected] of cases) {
      const result = decode(input)
      const error = Either.getLeft(result).pipe(Option.getOrThrow)
      expect(error.message).toContain(expected)
      for (const text of [error.message, String(error), JSON.stringify(error), util.inspect(error, { depth: null })]) {
        expect(text).not.toContain("S3cr3t")
      }
    }
  })

  it.each([
    [
      "chronicle://id:S3cr3t@h?apiKey=S3cr3tKey&certificate_password=S3cr3tPfx&x=1",
      "chronicle://id:***@h?apiKey=***&certificate_password=***&x=1"
    ],
    ["esdb://admin:S3cr3t@h?tls=S3cr3t", "esdb://admin:***@h?tls=***"],
    ["esdb://admin:S3cr3t@h?tls=yes", "esdb://admin:***@h?tls=yes"],
    ["esdb://admin:S3cr3t@h:bad?tls=S3cr3t", "esdb://admin:***@h:bad?tls=***"],
    ["esdb://admin:S3c?r3t@h:bad?tls=S3cr3t", "esdb://***"],
    ["esdb://admin:S3cr3t", "esdb://admin:***"],
    ["esdb://admin:S3cr3t?tls=false", "esdb://admin:***"],
    ["chronicle://h:bad?apiKey=S3cr3tKey&x=S3cr3tKey", "chronicle://h:***"],
    ["chronicle://h/x?apiKey=S3cr3tKey&x=S3cr3tKey&y=%zz", "chronicle://h/x?apiKey=***&x=***&y=%zz"],
    ["esdb://h?apiKey=\ud800", "esdb://h?apiKey=***"],
    ["esdb://h?tls=yes", "esdb://h?tls=yes"]
  ])("the issue shows %s as %s", (input, shown) => {
    const result = Schema.decodeUnknownEither(GrpcConnectionString.FromString)(input)
    const issue = Either.getLeft(result).pipe(Option.getOrThrow).issue
    const inner = issue._tag === "Transformation" ? issue.issue : issue
    expect(inner._tag).toBe("Type")
    expect((inner as ParseResult.Type).actual).toBe(shown)
  })

  it("no node of the issue holds the raw input, not even Effect's Transformation around it", () => {
    const result = Schema.decodeUnknownEither(GrpcConnectionString.EsdbFromString)("esdb://admin:S3cr3t@h?tls=yes")
    const error = Either.getLeft(result).pipe(Option.getOrThrow)
    expect(error.issue._tag).toBe("Transformation")
    expect(error.issue.actual).toBe("esdb://admin:***@h?tls=yes")
    expect(util.inspect(error.issue, { depth: null })).not.toContain("S3cr3t")
    expect(error.message).not.toContain("S3cr3t")
  })
})

describe("GrpcConnectionString: Config", () => {
  const withConfig = (entries: ReadonlyArray<readonly [string, string]>) =>
    Effect.withConfigProvider(ConfigProvider.fromMap(new Map(entries)))

  it.effect("configEsdb reads the whole string as Redacted and parses it", () =>
    Effect.gen(function*() {
      const settings = yield* GrpcConnectionString.configEsdb("KURRENTDB_URL")
      expect(plainEsdb(settings).credentials).toEqual({ username: "admin", password: "changeit" })
      const chronicle = yield* GrpcConnectionString.configChronicle("CHRONICLE_URL")
      expect(chronicle.auth._tag).toBe("ApiKey")
      const any = yield* GrpcConnectionString.config("CHRONICLE_URL")
      expect(any._tag).toBe("ChronicleSettings")
    }).pipe(
      withConfig([["KURRENTDB_URL", "esdb://admin:changeit@localhost"], ["CHRONICLE_URL", "chronicle://h?apiKey=k"]])
    ))

  it.effect("an invalid string is a ConfigError with the message and without the secret", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(GrpcConnectionString.configEsdb("URL"))
      const text = String(error)
      expect(text).toContain("tls must be true or false, got \"yes\"")
      expect(text).toContain("URL")
      for (const rendering of [text, ...renderings(error)]) {
        expect(rendering).not.toContain("S3cr3tPassword")
      }
      const missing = yield* Effect.flip(GrpcConnectionString.configEsdb("MISSING"))
      expect(String(missing)).toContain("MISSING")
    }).pipe(withConfig([["URL", "esdb://admin:S3cr3tPassword@localhost?tls=yes"]])))
})

// ---------------------------------------------------------------------------
// Secrets
// ---------------------------------------------------------------------------

describe("GrpcConnectionString: secrets never show", () => {
  const esdb = () => esdbOk("esdb://admin:S3cr3tPassword@localhost")
  const chronicleCredentials = () => chronicleOk("chronicle://id:S3cr3tSecret@h?certificatePassword=S3cr3tPfx")
  const chronicleApiKey = () => chronicleOk("chronicle://h?apiKey=S3cr3tKey")

  it.each(
    [["esdb", esdb], ["chronicle credentials", chronicleCredentials], ["chronicle apiKey", chronicleApiKey]] as const
  )(
    "in String, template literals, JSON.stringify, util.inspect and format (%s)",
    (_, make) => {
      const settings = make()
      for (const text of [...renderings(settings), GrpcConnectionString.format(settings)]) {
        expect(text).not.toContain("S3cr3t")
      }
      expect(JSON.stringify(settings)).toContain("<redacted>")
      expect(util.inspect(settings, { depth: null })).toContain("<redacted>")
      expect(String(settings)).toContain("***")
    }
  )

  it.each([
    "esdb://admin:S3cr3tPassword@localhost?tls=S3cr3tPassword",
    "esdb://admin:S3cr3tPassword@localhost?keepAliveInterval=xS3cr3tPasswordx",
    "esdb://admin:S3cr3tPassword@localhost?S3cr3tPassword=1",
    "esdb://admin:S3cr3tPassword@localhost/S3cr3tPassword",
    "esdb://admin:S3cr3t/Password@localhost",
    "esdb://admin:S3cr3t?Password@localhost",
    "esdb://admin:S3cr3t%zzPassword@localhost",
    "esdb://admin:S3cr3tPassword@local host",
    "esdb://admin:S3cr3tPassword@h:bad",
    "http://admin:S3cr3tPassword@localhost",
    "chronicle://h?apiKey=S3cr3tKey&loadBalancer=S3cr3tKey",
    "chronicle://h?apiKey=S3cr3tKey&disableTls=S3cr3tKey",
    "chronicle://h?apiKey=S3cr3t%zzKey",
    "chronicle://h?certificatePassword=S3cr3tPfx&authPort=S3cr3tPfx",
    "chronicle://id:S3cr3tSecret@h?apiKey=S3cr3tKey",
    "chronicle+srv://id:S3cr3tSecret@a,b"
  ])("in the error for %s", (input) => {
    const error = errorOf(input)
    for (const text of [error.message, error.detail, ...renderings(error)]) {
      expect(text).not.toContain("S3cr3t")
    }
  })
})

// ---------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------

describe("GrpcConnectionString: properties", () => {
  const parsers = [
    GrpcConnectionString.parseEither,
    GrpcConnectionString.parseEsdbEither,
    GrpcConnectionString.parseChronicleEither
  ] as const

  const typedResult = (input: string): void => {
    for (const parse of parsers) {
      const result = parse(input)
      expect(Either.isEither(result)).toBe(true)
      if (Either.isLeft(result)) {
        expect(result.left).toBeInstanceOf(GrpcConnectionString.GrpcConnectionStringError)
        expect(typeof result.left.message).toBe("string")
      } else {
        expect(() => GrpcConnectionString.format(result.right)).not.toThrow()
      }
    }
  }

  it.prop("any string gives a typed result, never a throw", [fc.string({ unit: "binary", maxLength: 80 })], ([s]) => {
    typedResult(s)
  }, { fastCheck: { numRuns: 300 } })

  const piece = fc.string({
    unit: fc.constantFrom("a", "0", "-", "1", "%", "%20", "%zz", "@", ":", "/", "?", "&", "=", "[", "]", ",", " ", "é"),
    maxLength: 6
  })
  const optionName = fc.constantFrom(
    ...GrpcConnectionString.esdbOptionNames,
    ...GrpcConnectionString.chronicleOptionNames,
    "keep_alive_interval",
    "TLS",
    "unknown"
  )
  const optionValue = fc.oneof(
    fc.constantFrom("true", "false", "-1", "0", "10000", "leader", "ReadOnlyReplica", "random", "round-robin", ""),
    piece
  )
  const schemes = fc.constantFrom(
    "esdb",
    "esdb+discover",
    "KurrentDB",
    "kdb+discover",
    "chronicle",
    "chronicle+srv",
    "x"
  )

  /** Nearly valid strings: a scheme, credentials, hosts and options drawn from the real ones. */
  const plausible = fc.tuple(
    schemes,
    fc.option(fc.tuple(fc.constantFrom("admin", "id", ""), fc.option(piece))),
    fc.array(fc.tuple(fc.constantFrom("h", "node1", "[::1]", "10.0.0.1", "", "[::1"), fc.option(piece)), {
      minLength: 1,
      maxLength: 3
    }),
    fc.array(fc.tuple(optionName, fc.option(optionValue)), { maxLength: 4 })
  ).map(([scheme, credentials, hosts, options]) => {
    const user = credentials === null ? "" : `${credentials[0]}${credentials[1] === null ? "" : `:${credentials[1]}`}@`
    const query = options.length === 0 ? "" : `?${options.map(([k, v]) => v === null ? k : `${k}=${v}`).join("&")}`
    return `${scheme}://${user}${hosts.map(([h, p]) => p === null ? h : `${h}:${p}`).join(",")}${query}`
  })

  it.prop("plausible strings give a typed result, never a throw", [plausible], ([s]) => {
    typedResult(s)
  }, { fastCheck: { numRuns: 1000 } })

  // Secrets start with "Zq9", which nothing else generated, printed or said contains.
  const secret = fc.string({
    unit: fc.constantFrom("a", "B", "7", "@", ":", "/", "?", "&", "=", "%", "#", " ", "é", "+"),
    minLength: 1,
    maxLength: 10
  })
    .map((s) => `Zq9${s}`)
  /** Where the secret goes: into a secret option, or (encoded) into an option that can never accept it. */
  const placement = fc.oneof(
    fc.tuple(fc.constant("secret" as const), fc.constantFrom("apiKey", "api_key", "certificatePassword"), fc.boolean()),
    fc.tuple(
      fc.constant("misplaced" as const),
      fc.constantFrom("tls", "keepAliveInterval", "nodePreference", "disableTls", "loadBalancer", "authPort"),
      fc.constant(false)
    ),
    fc.tuple(fc.constant("other" as const), optionName, fc.constant(false))
  )
  const leaky = fc.tuple(
    schemes,
    secret,
    fc.option(fc.tuple(fc.constantFrom("admin", "id"), fc.boolean())),
    fc.array(
      fc.tuple(fc.constantFrom("h", "node1", "[::1]", "h:bad", ""), fc.option(fc.integer({ min: 0, max: 70000 }))),
      {
        minLength: 1,
        maxLength: 2
      }
    ),
    fc.array(fc.tuple(placement, optionValue), { maxLength: 4 })
  ).map(([scheme, secret, credentials, hosts, options]) => {
    // Raw only without "%": a raw "%" would decode into another secret than the one generated.
    const show = (raw: boolean) => raw && !secret.includes("%") ? secret : encodeURIComponent(secret)
    // A misplaced secret is the secret of the string (its password), else nothing could tell it is one.
    const holder = options.some(([[kind]]) => kind === "secret")
    const misplaced = options.some(([[kind]]) => kind === "misplaced")
    const user = credentials !== null
      ? `${credentials[0]}:${show(credentials[1])}@`
      : misplaced && !holder
      ? `admin:${encodeURIComponent(secret)}@`
      : ""
    const query = options.length === 0 ?
      "" :
      `?${options.map(([[kind, name, raw], value]) => `${name}=${kind === "other" ? value : show(raw)}`).join("&")}`
    return `${scheme}://${user}${hosts.map(([h, p]) => p === null ? h : `${h}:${p}`).join(",")}${query}`
  })

  it.prop("strings with secrets never show them: not in format, renderings, errors or parse errors", [leaky], ([s]) => {
    for (const parse of parsers) {
      const shown = Either.match(parse(s), {
        onLeft: (error) => [error.message, error.detail, ...renderings(error)],
        onRight: (settings) => [GrpcConnectionString.format(settings), ...renderings(settings)]
      })
      for (const text of shown) {
        expect(text).not.toContain("Zq9")
      }
    }
    const decoded = Schema.decodeUnknownEither(GrpcConnectionString.FromString)(s)
    if (Either.isLeft(decoded)) {
      for (const text of [decoded.left.message, String(decoded.left), util.inspect(decoded.left, { depth: null })]) {
        expect(text).not.toContain("Zq9")
      }
      // The issue this module raises holds the input with its secrets masked.
      const issue = decoded.left.issue
      const inner = issue._tag === "Transformation" ? issue.issue : issue
      expect(util.inspect(inner._tag === "Type" ? inner.actual : undefined)).not.toContain("Zq9")
    }
  }, { fastCheck: { numRuns: 1000 } })

  // Valid settings, generated, printed with Schema encoding, parse back to the same settings.
  const text = fc.string({ unit: "binary", minLength: 1, maxLength: 10 })
  const endpoint = fc.record({
    host: fc.oneof(
      fc.domain(),
      fc.ipV4(),
      fc.ipV6(),
      fc.tuple(fc.ipV6(), fc.stringMatching(/^[A-Za-z0-9.-]{1,6}$/)).map(([address, zone]) => `${address}%${zone}`)
    ),
    port: fc.integer({ min: 1, max: 65535 })
  })
  const hosts = fc.array(endpoint, { minLength: 1, maxLength: 4 }) as fc.Arbitrary<
    [GrpcConnectionString.Endpoint, ...Array<GrpcConnectionString.Endpoint>]
  >
  const millis = (min: number) => fc.integer({ min, max: 1_000_000_000 }).map(Duration.millis)
  const option = <A>(arb: fc.Arbitrary<A>) => fc.option(arb).map(Option.fromNullable)

  const esdbSettings = fc.record({
    scheme: fc.constantFrom(...GrpcConnectionString.EsdbScheme.literals),
    discover: fc.boolean(),
    hosts,
    credentials: option(fc.record({ username: text, password: text.map(Redacted.make) })),
    tls: fc.boolean(),
    tlsVerifyCert: fc.boolean(),
    tlsCAFile: option(text),
    userCertificate: option(fc.record({ certFile: text, keyFile: text })),
    keepAliveInterval: option(fc.integer({ min: 1, max: 2_147_483_647 }).map(Duration.millis)),
    keepAliveTimeout: option(fc.integer({ min: 1, max: 2_147_483_647 }).map(Duration.millis)),
    defaultDeadline: millis(1),
    nodePreference: fc.constantFrom(...GrpcConnectionString.NodePreference.literals),
    maxDiscoverAttempts: fc.integer({ min: 1, max: 1000 }),
    discoveryInterval: millis(0),
    gossipTimeout: fc.integer({ min: 1, max: 100_000 }).map(Duration.seconds),
    connectionName: option(text),
    throwOnAppendFailure: fc.boolean()
  }).map((fields) => GrpcConnectionString.EsdbSettings.make(fields))

  it.prop("esdb settings → string → parse gives the same settings", [esdbSettings], ([settings]) => {
    const encoded = Schema.encodeSync(GrpcConnectionString.EsdbFromString)(settings)
    const parsed = esdbOk(encoded)
    expect(sameEsdb(parsed, settings)).toBe(true)
    expect(plainEsdb(parsed)).toEqual(plainEsdb(settings))
    // The redacted form parses too, and differs only in the password.
    const redacted = esdbOk(String(settings))
    expect(plainEsdb(redacted)).toEqual({
      ...plainEsdb(settings),
      credentials: Option.getOrNull(
        Option.map(settings.credentials, (c) => ({ username: c.username, password: "***" }))
      )
    })
  }, { fastCheck: { numRuns: 300 } })

  const chronicleSettings = fc.record({
    srv: fc.boolean(),
    hosts,
    auth: fc.oneof(
      fc.constant({ _tag: "None" as const }),
      fc.record({ _tag: fc.constant("ClientCredentials" as const), clientId: text, secret: text.map(Redacted.make) }),
      fc.record({ _tag: fc.constant("ApiKey" as const), apiKey: text.map(Redacted.make) })
    ),
    tls: fc.boolean(),
    skipTlsValidation: fc.boolean(),
    certificatePath: option(text),
    certificatePassword: option(text.map(Redacted.make)),
    authPort: option(fc.integer({ min: 1, max: 65535 })),
    loadBalancer: fc.constantFrom(...GrpcConnectionString.LoadBalancer.literals),
    srvNameServer: option(text)
  }).map((fields) =>
    GrpcConnectionString.ChronicleSettings.make(fields.srv ? { ...fields, hosts: [fields.hosts[0]] } : fields)
  )

  it.prop("chronicle settings → string → parse gives the same settings", [chronicleSettings], ([settings]) => {
    const encoded = Schema.encodeSync(GrpcConnectionString.ChronicleFromString)(settings)
    const parsed = chronicleOk(encoded)
    expect(sameChronicle(parsed, settings)).toBe(true)
    expect(plainChronicle(parsed)).toEqual(plainChronicle(settings))
    expect(Either.isRight(GrpcConnectionString.parseChronicleEither(String(settings)))).toBe(true)
  }, { fastCheck: { numRuns: 300 } })

  const secretText = fc.string({ unit: "binary", minLength: 1, maxLength: 10 }).map((s) => `Zq9${s}`)

  it.prop(
    "format never shows generated secrets",
    [esdbSettings, secretText, chronicleSettings],
    ([esdb, password, chronicle]) => {
      const withPassword = GrpcConnectionString.EsdbSettings.make({
        ...esdb,
        credentials: Option.some({ username: "admin", password: Redacted.make(password) })
      })
      const withApiKey = GrpcConnectionString.ChronicleSettings.make({
        ...chronicle,
        auth: { _tag: "ApiKey", apiKey: Redacted.make(password) },
        certificatePassword: Option.some(Redacted.make(password))
      })
      for (const settings of [withPassword, withApiKey]) {
        for (const shown of [GrpcConnectionString.format(settings), ...renderings(settings)]) {
          expect(shown).not.toContain(password)
          expect(shown).not.toContain(encodeURIComponent(password))
        }
      }
    },
    { fastCheck: { numRuns: 200 } }
  )

  const respell = (name: string) =>
    fc.array(fc.tuple(fc.boolean(), fc.constantFrom("", "", "_", "-")), {
      minLength: name.length,
      maxLength: name.length
    }).map((choices) =>
      Array.from(name, (c, i) => `${choices[i]![1]}${choices[i]![0] ? c.toUpperCase() : c.toLowerCase()}`).join("")
    )

  it.prop(
    "option names ignore case, \"_\" and \"-\" wherever they are",
    [respell("keepAliveInterval"), respell("nodePreference"), respell("disableTls")],
    ([keepAlive, nodePreference, disableTls]) => {
      const esdb = esdbOk(`esdb://h?${keepAlive}=-1&${nodePreference}=follower`)
      expect(Option.isNone(esdb.keepAliveInterval)).toBe(true)
      expect(esdb.nodePreference).toBe("follower")
      expect(chronicleOk(`chronicle://h?${disableTls}=true`).tls).toBe(false)
    }
  )
})
