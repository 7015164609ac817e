/**
 * Printing settings back as connection strings: every secret as `***` for people, or in clear
 * for `Schema` encoding (so that decoding gives the same settings back).
 *
 * @internal
 */
import * as ConnectionString from "@redial/core/ConnectionString"
import * as Duration from "effect/Duration"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import type { ChronicleSettings, Endpoint, EsdbSettings, Settings } from "../../GrpcConnectionString.js"

const encode = ConnectionString.encodeComponent

const formatHost = ({ host, port }: Endpoint): string =>
  `${host.includes(":") ? `[${host.replace(/%/g, "%25")}]` : host}:${port}`

/** How a secret is printed: `***`, or percent-encoded in clear for `Schema` encoding. @internal */
export type ShowSecret = (secret: Redacted.Redacted<string>) => string

/** @internal */
export const masked: ShowSecret = () => "***"

/** @internal */
export const revealed: ShowSecret = (secret) => encode(Redacted.value(secret))

const print = (
  scheme: string,
  userInfo: Option.Option<readonly [string, string]>,
  hosts: ReadonlyArray<Endpoint>,
  params: ReadonlyArray<readonly [string, string]>
): string => {
  const user = Option.match(userInfo, { onNone: () => "", onSome: ([name, secret]) => `${encode(name)}:${secret}@` })
  const query = params.length === 0 ? "" : `?${params.map(([key, value]) => `${key}=${value}`).join("&")}`
  return `${scheme}://${user}${hosts.map(formatHost).join(",")}${query}`
}

const ceilMillis = (duration: Duration.Duration): number => Math.ceil(Duration.toMillis(duration))

/** The parameters that differ from their defaults, in a fixed order. */
const changed = (
  entries: ReadonlyArray<readonly [string, string | undefined, string | undefined]>
): ReadonlyArray<readonly [string, string]> =>
  entries.flatMap(([key, value, fallback]) => value === undefined || value === fallback ? [] : [[key, value] as const])

/** @internal */
export const printEsdb = (self: EsdbSettings, show: ShowSecret): string => {
  const keepAlive = (value: Option.Option<Duration.Duration>) =>
    Option.match(value, { onNone: () => "-1", onSome: (d) => String(ceilMillis(d)) })
  const text = (value: Option.Option<string>) => Option.getOrUndefined(Option.map(value, encode))
  return print(
    `${self.scheme}${self.discover ? "+discover" : ""}`,
    Option.map(self.credentials, ({ password, username }) => [username, show(password)] as const),
    self.hosts,
    changed([
      ["tls", String(self.tls), "true"],
      ["tlsVerifyCert", String(self.tlsVerifyCert), "true"],
      ["tlsCAFile", text(self.tlsCAFile), undefined],
      ["userCertFile", text(Option.map(self.userCertificate, (c) => c.certFile)), undefined],
      ["userKeyFile", text(Option.map(self.userCertificate, (c) => c.keyFile)), undefined],
      ["keepAliveInterval", keepAlive(self.keepAliveInterval), "10000"],
      ["keepAliveTimeout", keepAlive(self.keepAliveTimeout), "10000"],
      ["defaultDeadline", String(ceilMillis(self.defaultDeadline)), "10000"],
      ["nodePreference", self.nodePreference, "leader"],
      ["maxDiscoverAttempts", String(self.maxDiscoverAttempts), "10"],
      ["discoveryInterval", String(ceilMillis(self.discoveryInterval)), "100"],
      ["gossipTimeout", String(Math.ceil(Duration.toSeconds(self.gossipTimeout))), "5"],
      ["connectionName", text(self.connectionName), undefined],
      ["throwOnAppendFailure", String(self.throwOnAppendFailure), "true"]
    ])
  )
}

/** @internal */
export const printChronicle = (self: ChronicleSettings, show: ShowSecret): string =>
  print(
    self.srv ? "chronicle+srv" : "chronicle",
    self.auth._tag === "ClientCredentials" ? Option.some([self.auth.clientId, show(self.auth.secret)]) : Option.none(),
    self.hosts,
    changed([
      ["disableTls", String(!self.tls), "false"],
      ["skipTlsValidation", String(self.skipTlsValidation), "false"],
      ["apiKey", self.auth._tag === "ApiKey" ? show(self.auth.apiKey) : undefined, undefined],
      ["certificatePath", Option.getOrUndefined(Option.map(self.certificatePath, encode)), undefined],
      ["certificatePassword", Option.getOrUndefined(Option.map(self.certificatePassword, show)), undefined],
      ["authPort", Option.getOrUndefined(Option.map(self.authPort, String)), undefined],
      ["loadBalancer", self.loadBalancer, "least-connections"],
      ["srvNameServer", Option.getOrUndefined(Option.map(self.srvNameServer, encode)), undefined]
    ])
  )

/** @internal */
export const printSettings = (self: Settings, show: ShowSecret): string =>
  self._tag === "EsdbSettings" ? printEsdb(self, show) : printChronicle(self, show)

/** @internal */
export const formatEsdb = (self: EsdbSettings): string => printEsdb(self, masked)

/** @internal */
export const formatChronicle = (self: ChronicleSettings): string => printChronicle(self, masked)

/** @internal */
export const format = (self: Settings): string => printSettings(self, masked)
