/**
 * KurrentDB / EventStoreDB strings (esdb://, kurrentdb://, kurrent://, kdb://, each with
 * +discover): the options and defaults of the KurrentDB Node client.
 *
 * @internal
 */
import * as ConnectionString from "@redial/core/ConnectionString"
import * as Duration from "effect/Duration"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import type { EsdbCredentials, EsdbScheme, EsdbSettings, UserCertificate } from "../../GrpcConnectionString.js"
import { MAX_TIMER_MILLIS } from "../limits.js"
import { checkPath, endpoints, readParams, unsupportedScheme } from "./common.js"
import type { GrpcConnectionStringError } from "./error.js"
import { fail } from "./error.js"

/** @internal */
export const defaultPort = 2113

/** @internal */
export const schemeNames = ["esdb", "kurrentdb", "kurrent", "kdb"] as const

/** @internal */
export const nodePreferences = ["leader", "follower", "random", "read_only_replica"] as const

/** What `EsdbSettings.make` takes. @internal */
export type Fields = ConstructorParameters<typeof EsdbSettings>[0]

const label = "a KurrentDB connection string"

interface SchemeInfo {
  readonly scheme: EsdbScheme
  readonly discover: boolean
}

const schemes: ReadonlyMap<string, SchemeInfo> = new Map(
  schemeNames.flatMap((scheme): ReadonlyArray<readonly [string, SchemeInfo]> => [
    [scheme, { scheme, discover: false }],
    [`${scheme}+discover`, { scheme, discover: true }]
  ])
)

/** @internal */
export const isScheme = (scheme: string): boolean => schemes.has(scheme)

const whole = (min: number) => ConnectionString.integerParam("", { min }).decode

const milliseconds = (name: string, min: number): ConnectionString.Param<Duration.Duration> =>
  ConnectionString.makeParam(name, {
    expected: `a whole number of milliseconds ≥ ${min}`,
    decode: (value) => Option.map(whole(min)(value), Duration.millis)
  })

/** A timer the channel runs: 1 ms to 2^31−1 ms, as `GrpcChannel.make` takes it (`limits.ts`). */
const timer = (name: string): ConnectionString.Param<Duration.Duration> =>
  ConnectionString.makeParam(name, {
    expected: `a whole number of milliseconds in 1-${MAX_TIMER_MILLIS}`,
    decode: (value) =>
      Option.map(ConnectionString.integerParam("", { min: 1, max: MAX_TIMER_MILLIS }).decode(value), Duration.millis)
  })

/**
 * -1 disables (the KurrentDB client and Spear both read -1 as "off"): `None`. Otherwise the range
 * `GrpcChannel.make` takes (`limits.ts`), so a string that parses never fails there: 0 is refused
 * (the client hands it to grpc-js, where it silently means no pings), and so is anything above
 * 2^31−1 ms (Node fires a longer timer after 1 ms).
 */
const keepAlive = (name: string): ConnectionString.Param<Option.Option<Duration.Duration>> =>
  ConnectionString.makeParam(name, {
    expected: `-1 (disabled) or a whole number of milliseconds in 1-${MAX_TIMER_MILLIS}`,
    decode: (value) =>
      Option.flatMap(
        ConnectionString.integerParam("", { min: -1, max: MAX_TIMER_MILLIS }).decode(value),
        (ms) => ms === 0 ? Option.none() : Option.some(ms === -1 ? Option.none() : Option.some(Duration.millis(ms)))
      )
  })

const params = {
  tls: ConnectionString.booleanParam("tls"),
  tlsVerifyCert: ConnectionString.booleanParam("tlsVerifyCert"),
  tlsCAFile: ConnectionString.nonEmptyParam("tlsCAFile", { what: "file path" }),
  userCertFile: ConnectionString.nonEmptyParam("userCertFile", { what: "file path" }),
  userKeyFile: ConnectionString.nonEmptyParam("userKeyFile", { what: "file path" }),
  keepAliveInterval: keepAlive("keepAliveInterval"),
  keepAliveTimeout: keepAlive("keepAliveTimeout"),
  defaultDeadline: timer("defaultDeadline"),
  // The client compares the flat case: READ_ONLY_REPLICA, read-only-replica and ReadOnlyReplica all match.
  nodePreference: ConnectionString.literalParam("nodePreference", nodePreferences, { normalize: true }),
  maxDiscoverAttempts: ConnectionString.integerParam("maxDiscoverAttempts", { min: 1 }),
  discoveryInterval: milliseconds("discoveryInterval", 0),
  gossipTimeout: ConnectionString.makeParam("gossipTimeout", {
    expected: "a whole number of seconds ≥ 1",
    decode: (value) => Option.map(whole(1)(value), Duration.seconds)
  }),
  connectionName: ConnectionString.nonEmptyParam("connectionName", { what: "name" }),
  throwOnAppendFailure: ConnectionString.booleanParam("throwOnAppendFailure"),
  dnsDiscover: ConnectionString.booleanParam("dnsDiscover")
} as const

/** @internal */
export const optionNames: ReadonlyArray<string> = Object.values(params).map((param) => param.name)

const credentials = (
  cs: ConnectionString.ConnectionString
): Either.Either<Option.Option<EsdbCredentials>, GrpcConnectionStringError> => {
  if (Option.isNone(cs.username)) return Either.right(Option.none())
  const username = cs.username.value
  if (Option.isNone(cs.password)) {
    return fail("Credentials", "the credentials need a user name and a password (user:password@host), got no password")
  }
  if (Redacted.value(cs.password.value) === "") {
    return fail("Credentials", "the password after \"user:\" is empty")
  }
  return Either.right(Option.some({ username, password: cs.password.value }))
}

const pairCertificate = (
  certFile: string | undefined,
  keyFile: string | undefined
): Either.Either<Option.Option<UserCertificate>, GrpcConnectionStringError> => {
  if (certFile !== undefined && keyFile !== undefined) return Either.right(Option.some({ certFile, keyFile }))
  if (certFile === undefined && keyFile === undefined) return Either.right(Option.none())
  return fail(
    "Conflict",
    `userCertFile and userKeyFile go together, got only ${certFile === undefined ? "userKeyFile" : "userCertFile"}`,
    certFile === undefined ? "userCertFile" : "userKeyFile"
  )
}

/** The settings of a parsed esdb:// string, as `EsdbSettings.make` takes them. @internal */
export const fromConnectionString = (
  cs: ConnectionString.ConnectionString
): Either.Either<Fields, GrpcConnectionStringError> =>
  Either.gen(function*() {
    const scheme = schemes.get(cs.scheme)
    if (scheme === undefined) return yield* unsupportedScheme(cs.scheme, schemes.keys())
    const secrets = ConnectionString.secretsOf(cs)
    const hosts = yield* endpoints(cs, defaultPort, secrets)
    yield* checkPath(cs, label, secrets)
    const user = yield* credentials(cs)
    const values = yield* readParams(cs, params, label, secrets)
    const userCertificate = yield* pairCertificate(values.userCertFile, values.userKeyFile)
    return {
      scheme: scheme.scheme,
      discover: values.dnsDiscover ?? scheme.discover,
      hosts,
      credentials: user,
      tls: values.tls ?? true,
      tlsVerifyCert: values.tlsVerifyCert ?? true,
      tlsCAFile: Option.fromNullable(values.tlsCAFile),
      userCertificate,
      keepAliveInterval: values.keepAliveInterval ?? Option.some(Duration.seconds(10)),
      keepAliveTimeout: values.keepAliveTimeout ?? Option.some(Duration.seconds(10)),
      defaultDeadline: values.defaultDeadline ?? Duration.seconds(10),
      nodePreference: values.nodePreference ?? "leader",
      maxDiscoverAttempts: values.maxDiscoverAttempts ?? 10,
      discoveryInterval: values.discoveryInterval ?? Duration.millis(100),
      gossipTimeout: values.gossipTimeout ?? Duration.seconds(5),
      connectionName: Option.fromNullable(values.connectionName),
      throwOnAppendFailure: values.throwOnAppendFailure ?? true
    } satisfies Fields
  })

/** @internal */
export const schemeList: ReadonlyArray<string> = Array.from(schemes.keys())
