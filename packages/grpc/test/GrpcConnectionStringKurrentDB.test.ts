/**
 * The KurrentDB Node client's own connection-string cases, ported: every case of
 * `packages/test/src/connection/parseConnectionStringMockups.ts` (`valid`, `invalid`, `warning`)
 * of kurrent-io/KurrentDB-Client-NodeJS (commit 8c95da31), run by its `parseConnectionString.test.ts`
 * as "connection string parser > Should parse valid connection strings > <string>" and so on.
 * Each title here is the client's. The expected values are the client's `ConnectionOptions`,
 * copied as they are; `expectedSettings` fills in the client's defaults to compare them with
 * redial's settings. The cases where redial differs on purpose are marked, and listed in the
 * grpc README.
 */
import { describe, expect, it } from "@effect/vitest"
import { Duration, Either, Option, Redacted } from "effect"
import * as GrpcConnectionString from "../src/GrpcConnectionString.js"

/** The client's `ConnectionOptions` (`parseConnectionString.ts`). */
interface ConnectionOptions {
  readonly dnsDiscover: boolean
  readonly hosts: ReadonlyArray<{ readonly address: string; readonly port: number }>
  readonly defaultCredentials?: { readonly username: string; readonly password: string }
  readonly userCertFile?: string
  readonly userKeyFile?: string
  readonly maxDiscoverAttempts?: number
  readonly connectionName?: string
  readonly defaultDeadline?: number
  readonly discoveryInterval?: number
  readonly gossipTimeout?: number
  readonly nodePreference?: GrpcConnectionString.NodePreference
  readonly tls?: boolean
  readonly tlsVerifyCert?: boolean
  readonly tlsCAFile?: string
  readonly throwOnAppendFailure?: boolean
  readonly keepAliveInterval?: number
  readonly keepAliveTimeout?: number
}

/** redial's settings as plain data: secrets revealed, durations in ms, `None` as `null`. */
const plain = (s: GrpcConnectionString.EsdbSettings) => ({
  discover: s.discover,
  hosts: s.hosts,
  credentials: Option.getOrNull(
    Option.map(s.credentials, (c) => ({ username: c.username, password: Redacted.value(c.password) }))
  ),
  tls: s.tls,
  tlsVerifyCert: s.tlsVerifyCert,
  tlsCAFile: Option.getOrNull(s.tlsCAFile),
  userCertificate: Option.getOrNull(s.userCertificate),
  keepAliveInterval: Option.getOrNull(Option.map(s.keepAliveInterval, Duration.toMillis)),
  keepAliveTimeout: Option.getOrNull(Option.map(s.keepAliveTimeout, Duration.toMillis)),
  defaultDeadline: Duration.toMillis(s.defaultDeadline),
  nodePreference: s.nodePreference,
  maxDiscoverAttempts: s.maxDiscoverAttempts,
  discoveryInterval: Duration.toMillis(s.discoveryInterval),
  gossipTimeout: Duration.toMillis(s.gossipTimeout),
  connectionName: Option.getOrNull(s.connectionName),
  throwOnAppendFailure: s.throwOnAppendFailure
})

/** What the client's options mean once its defaults (`Client/index.ts`, `Client/discovery.ts`) are filled in. */
const expectedSettings = (o: ConnectionOptions): Record<string, unknown> => {
  const disabled = (ms: number | undefined, fallback: number) => ms === -1 ? null : ms ?? fallback
  return {
    discover: o.dnsDiscover,
    hosts: o.hosts.map(({ address, port }) => ({ host: address, port })),
    credentials: o.defaultCredentials ?? null,
    tls: o.tls ?? true,
    tlsVerifyCert: o.tlsVerifyCert ?? true,
    tlsCAFile: o.tlsCAFile ?? null,
    userCertificate: o.userCertFile === undefined || o.userKeyFile === undefined
      ? null
      : { certFile: o.userCertFile, keyFile: o.userKeyFile },
    keepAliveInterval: disabled(o.keepAliveInterval, 10_000),
    keepAliveTimeout: disabled(o.keepAliveTimeout, 10_000),
    defaultDeadline: o.defaultDeadline ?? 10_000,
    nodePreference: o.nodePreference ?? "leader",
    maxDiscoverAttempts: o.maxDiscoverAttempts ?? 10,
    discoveryInterval: o.discoveryInterval ?? 100,
    // In seconds, as the client reads it.
    gossipTimeout: (o.gossipTimeout ?? 5) * 1000,
    connectionName: o.connectionName ?? null,
    throwOnAppendFailure: o.throwOnAppendFailure ?? true
  }
}

const parsed = (input: string) => {
  const result = GrpcConnectionString.parseEsdbEither(input)
  if (Either.isLeft(result)) throw new Error(`expected ${JSON.stringify(input)} to parse: ${result.left.message}`)
  return result.right
}

const failure = (input: string) => {
  const result = GrpcConnectionString.parseEsdbEither(input)
  if (Either.isRight(result)) throw new Error(`expected ${JSON.stringify(input)} to fail, got ${String(result.right)}`)
  return result.left
}

// The client's `valid` cases, as they are.
const valid: ReadonlyArray<readonly [string, ConnectionOptions]> = [
  ["kurrentdb://localhost", { dnsDiscover: false, hosts: [{ address: "localhost", port: 2113 }] }],
  ["kurrentdb://localhost:2114", { dnsDiscover: false, hosts: [{ address: "localhost", port: 2114 }] }],
  ["kurrentdb://user:pass@localhost:2114", {
    dnsDiscover: false,
    defaultCredentials: { username: "user", password: "pass" },
    hosts: [{ address: "localhost", port: 2114 }]
  }],
  ["kurrentdb://user:pass@localhost:2114/", {
    dnsDiscover: false,
    defaultCredentials: { username: "user", password: "pass" },
    hosts: [{ address: "localhost", port: 2114 }]
  }],
  ["kurrentdb://user:pass@localhost:2114/?throwOnAppendFailure=false", {
    dnsDiscover: false,
    throwOnAppendFailure: false,
    defaultCredentials: { username: "user", password: "pass" },
    hosts: [{ address: "localhost", port: 2114 }]
  }],
  ["kurrentdb://user:pass@localhost:2114?tls=false", {
    dnsDiscover: false,
    tls: false,
    defaultCredentials: { username: "user", password: "pass" },
    hosts: [{ address: "localhost", port: 2114 }]
  }],
  ["kurrentdb://host1,host2,host3", {
    dnsDiscover: false,
    hosts: [{ address: "host1", port: 2113 }, { address: "host2", port: 2113 }, { address: "host3", port: 2113 }]
  }],
  ["kurrentdb://host1:1234,host2:4321,host3:3231", {
    dnsDiscover: false,
    hosts: [{ address: "host1", port: 1234 }, { address: "host2", port: 4321 }, { address: "host3", port: 3231 }]
  }],
  [
    "kurrentdb://bubaqp2rh41uf5akmj0g-0.mesdb.eventstore.cloud:2113,bubaqp2rh41uf5akmj0g-1.mesdb.eventstore.cloud:2113,bubaqp2rh41uf5akmj0g-2.mesdb.eventstore.cloud:2113",
    {
      dnsDiscover: false,
      hosts: [
        { address: "bubaqp2rh41uf5akmj0g-0.mesdb.eventstore.cloud", port: 2113 },
        { address: "bubaqp2rh41uf5akmj0g-1.mesdb.eventstore.cloud", port: 2113 },
        { address: "bubaqp2rh41uf5akmj0g-2.mesdb.eventstore.cloud", port: 2113 }
      ]
    }
  ],
  ["kurrentdb://user:pass@host1:1234,host2:4321,host3:3231?nodePreference=follower", {
    dnsDiscover: false,
    nodePreference: "follower",
    defaultCredentials: { username: "user", password: "pass" },
    hosts: [{ address: "host1", port: 1234 }, { address: "host2", port: 4321 }, { address: "host3", port: 3231 }]
  }],
  ["kurrentdb://host1,host2,host3?tls=false", {
    dnsDiscover: false,
    tls: false,
    hosts: [{ address: "host1", port: 2113 }, { address: "host2", port: 2113 }, { address: "host3", port: 2113 }]
  }],
  ["kurrentdb://127.0.0.1:21573?tls=false", {
    dnsDiscover: false,
    tls: false,
    hosts: [{ address: "127.0.0.1", port: 21573 }]
  }],
  ["kurrentdb://host1,host2,host3?throwOnAppendFailure=false", {
    dnsDiscover: false,
    throwOnAppendFailure: false,
    hosts: [{ address: "host1", port: 2113 }, { address: "host2", port: 2113 }, { address: "host3", port: 2113 }]
  }],
  ["esdb+discover://user:pass@host?nodePreference=follower&throwOnAppendFailure=false", {
    dnsDiscover: true,
    nodePreference: "follower",
    throwOnAppendFailure: false,
    defaultCredentials: { username: "user", password: "pass" },
    hosts: [{ address: "host", port: 2113 }]
  }],
  ["esdb+discover://host?nodePreference=Follower", {
    dnsDiscover: true,
    nodePreference: "follower",
    hosts: [{ address: "host", port: 2113 }]
  }],
  ["kurrentdb://host?tlsCAFile=/home/user/dev/cert.ca", {
    dnsDiscover: false,
    tlsCAFile: "/home/user/dev/cert.ca",
    hosts: [{ address: "host", port: 2113 }]
  }],
  ["kurrentdb://host?tlsCAFile=./cert.ca", {
    dnsDiscover: false,
    tlsCAFile: "./cert.ca",
    hosts: [{ address: "host", port: 2113 }]
  }],
  ["kurrentdb://host?tlsCAFile=C:\\Certificates\\EventStore\\Cert.ca", {
    dnsDiscover: false,
    tlsCAFile: "C:\\Certificates\\EventStore\\Cert.ca",
    hosts: [{ address: "host", port: 2113 }]
  }],
  ["kurrentdb://host?tlsCAFile=..\\EventStore\\Cert.ca", {
    dnsDiscover: false,
    tlsCAFile: "..\\EventStore\\Cert.ca",
    hosts: [{ address: "host", port: 2113 }]
  }],
  ["kurrentdb://host?keepAliveInterval=-1&keepAliveTimeout=-1", {
    dnsDiscover: false,
    keepAliveInterval: -1,
    keepAliveTimeout: -1,
    hosts: [{ address: "host", port: 2113 }]
  }],
  [
    "kurrentdb://my%3Agreat%40username:UyeXx8%24%5EPsOo4jG88FlCauR1Coz25q@host?nodePreference=follower&throwOnAppendFailure=false&connectionName=wh%40t%3F%3A%26",
    {
      dnsDiscover: false,
      nodePreference: "follower",
      throwOnAppendFailure: false,
      connectionName: "wh@t?:&",
      defaultCredentials: { username: "my:great@username", password: "UyeXx8$^PsOo4jG88FlCauR1Coz25q" },
      hosts: [{ address: "host", port: 2113 }]
    }
  ],
  [
    "esdb+discover://user:pass@морда-кошки.ru,ощущение-картофеля.ru?nodePreference=follower&throwOnAppendFailure=false&connectionName=соединение",
    {
      dnsDiscover: true,
      nodePreference: "follower",
      throwOnAppendFailure: false,
      connectionName: "соединение",
      defaultCredentials: { username: "user", password: "pass" },
      hosts: [{ address: "морда-кошки.ru", port: 2113 }, { address: "ощущение-картофеля.ru", port: 2113 }]
    }
  ],
  [
    "kurrentdb://host?maxDiscoverAttempts=200&discoveryInterval=1000&gossipTimeout=1&nodePreference=leader&tls=false&tlsVerifyCert=true&throwOnAppendFailure=false&keepAliveInterval=10&defaultDeadline=10000000",
    {
      dnsDiscover: false,
      maxDiscoverAttempts: 200,
      discoveryInterval: 1000,
      defaultDeadline: 10_000_000,
      gossipTimeout: 1,
      nodePreference: "leader",
      tls: false,
      tlsVerifyCert: true,
      throwOnAppendFailure: false,
      keepAliveInterval: 10,
      hosts: [{ address: "host", port: 2113 }]
    }
  ],
  [
    "kurrentdb://host?MaxDiscoverAttempts=200&discoveryinterval=1000&GOSSIPTIMEOUT=1&nOdEpReFeReNcE=leader&TLS=false&TlsVerifyCert=true&THROWOnAppendFailure=false&KEEPALIVEinterval=200&CoNnEcTionNAME=wow, what a great connection",
    {
      dnsDiscover: false,
      maxDiscoverAttempts: 200,
      discoveryInterval: 1000,
      gossipTimeout: 1,
      nodePreference: "leader",
      tls: false,
      tlsVerifyCert: true,
      connectionName: "wow, what a great connection",
      throwOnAppendFailure: false,
      keepAliveInterval: 200,
      hosts: [{ address: "host", port: 2113 }]
    }
  ],
  [
    `kurrentdb://host?MaxDiscoverAttempts=200&discovery-interval=1000&GOSSIP_TIMEOUT=1&node_preference=ReadOnlyReplica&TLS=false&TlsVerifyCert=true&DEFAULTdEADLINE=12&THROWOnAppendFailure=false      &   KEEPALIVEinterval=200`,
    {
      dnsDiscover: false,
      maxDiscoverAttempts: 200,
      discoveryInterval: 1000,
      defaultDeadline: 12,
      gossipTimeout: 1,
      nodePreference: "read_only_replica",
      tls: false,
      tlsVerifyCert: true,
      throwOnAppendFailure: false,
      keepAliveInterval: 200,
      hosts: [{ address: "host", port: 2113 }]
    }
  ],
  [
    `kurrentdb://     host
      ?    MaxDiscoverAttempts=200
      &discoveryinterval=1000
      &GOSSIPTIMEOUT=1
      &nOdEpReFeReNcE=leader
      &TLS=false
      &TlsVerifyCert=true
      & CONNECTIONname = my great 
      connection
      &
      THROWOnAppendFailure
      =
      false      &   KEEPALIVEinterval=200`,
    {
      dnsDiscover: false,
      maxDiscoverAttempts: 200,
      discoveryInterval: 1000,
      gossipTimeout: 1,
      nodePreference: "leader",
      tls: false,
      tlsVerifyCert: true,
      connectionName: "my great \n      connection",
      throwOnAppendFailure: false,
      keepAliveInterval: 200,
      hosts: [{ address: "host", port: 2113 }]
    }
  ],
  ["kurrentdb://host?userCertFile=/home/user/dev/cert.ca&userKeyFile=/home/user/dev/cert.key", {
    dnsDiscover: false,
    userCertFile: "/home/user/dev/cert.ca",
    userKeyFile: "/home/user/dev/cert.key",
    hosts: [{ address: "host", port: 2113 }]
  }]
]

/**
 * The client's `invalid` cases, each with what redial says: the reason, and a part of the detail.
 * The client's own messages (its snapshot) point at the same place: the scheme, the credentials,
 * ";" or "=" where a host should end, the second port, the path, the value.
 */
const invalid: ReadonlyArray<readonly [string, GrpcConnectionString.Reason, string]> = [
  ["localhost", "Syntax", "missing the scheme"],
  ["https://console.eventstore.cloud/", "Scheme", "unsupported scheme \"https\""],
  ["esbd+discovery://localhost", "Scheme", "unsupported scheme \"esbd+discovery\""],
  [
    "kurrentdb://my:great@username:UyeXx8$^PsOo4jG88FlCauR1Coz25q@host?nodePreference=follower&throwOnAppendFailure=false",
    "Credentials",
    "more than one \"@\""
  ],
  [
    "kurrentdb://host1;host2;host3?throwOnAppendFailure=false",
    "Syntax",
    "host \"host1;host2;host3\" is not a valid host name or IP address: \";\" is not allowed"
  ],
  ["kurrentdb://host1,host2:200:300?throwOnAppendFailure=false", "Syntax", "more than one \":\""],
  [
    "kurrentdb://throwOnAppendFailure=false",
    "Syntax",
    "host \"throwOnAppendFailure=false\" is not a valid host name or IP address: \"=\" is not allowed (options go after \"?\")"
  ],
  ["kurrentdb://localhost/&throwOnAppendFailure=false", "Path", "has no path, got \"/&throwOnAppendFailure=false\""],
  [
    "kurrentdb://localhost?throwOnAppendFailure=false?nodePreference=follower",
    "InvalidValue",
    "throwOnAppendFailure must be true or false, got \"false?nodePreference=follower\""
  ],
  [
    "kurrentdb://localhost?throwOnAppendFailure=false&nodePreference=any",
    "InvalidValue",
    "nodePreference must be one of leader, follower, random, read_only_replica, got \"any\""
  ],
  [
    "kurrentdb://localhost?throwOnAppendFailure=if you feel like it",
    "InvalidValue",
    "throwOnAppendFailure must be true or false, got \"if you feel like it\""
  ],
  [
    "kurrentdb://localhost?throwOnAppendFailure=sometimes",
    "InvalidValue",
    "throwOnAppendFailure must be true or false, got \"sometimes\""
  ],
  ["kurrentdb://localhost?keepAliveTimeout=please", "InvalidValue", "keepAliveTimeout must be"],
  ["kurrentdb://localhost?keepAliveInterval=XXIV", "InvalidValue", "keepAliveInterval must be"]
]

describe("KurrentDB client: connection string parser", () => {
  describe("Should parse valid connection strings", () => {
    it.each(valid)("%s", (input, expected) => {
      expect(plain(parsed(input))).toEqual(expectedSettings(expected))
    })

    it("every case is here (the client has 27)", () => {
      expect(valid).toHaveLength(27)
    })
  })

  describe("Should throw on invalid strings", () => {
    it.each(invalid)("%s", (input, reason, detail) => {
      const error = failure(input)
      expect(error.reason).toBe(reason)
      expect(error.detail).toContain(detail)
    })

    it("every case is here (the client has 14)", () => {
      expect(invalid).toHaveLength(14)
    })

    it("no message shows the password of kurrentdb://my:great@username:UyeXx8$^…@host", () => {
      expect(failure(invalid[3]![0]).message).not.toContain("UyeXx8")
      expect(failure(invalid[3]![0]).message).not.toContain("great")
    })
  })

  describe("Should warn on unknown and unsupported keys", () => {
    // Deliberate difference: the client warns and ignores an option it does not know; redial
    // refuses it, so that a misspelt option cannot silently keep its default.
    it.each([
      ["kurrentdb://localhost?catchOnAppendFailure=true&throwOnAppendFailure=false", "catchOnAppendFailure"],
      ["kurrentdb://localhost?someNonsense=follower&doTheThing=true", "someNonsense"]
    ])("%s (redial: an UnknownKey error naming the option)", (input, key) => {
      const error = failure(input)
      expect(error.reason).toBe("UnknownKey")
      expect(error.key).toBe(key)
    })

    // The client warns that it ignores tlsVerifyCert=false; redial reads it the same and honours it.
    it("kurrentdb://localhost?tlsVerifyCert=false", () => {
      expect(plain(parsed("kurrentdb://localhost?tlsVerifyCert=false"))).toEqual(
        expectedSettings({ dnsDiscover: false, tlsVerifyCert: false, hosts: [{ address: "localhost", port: 2113 }] })
      )
    })
  })
})
