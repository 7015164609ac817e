/**
 * Chronicle strings (chronicle://, chronicle+srv://): the options of Cratis/Chronicle.Elixir's
 * `connection_string.ex`.
 *
 * @internal
 */
import * as ConnectionString from "@redial/core/ConnectionString"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import type { ChronicleAuth, ChronicleSettings } from "../../GrpcConnectionString.js"
import { checkPath, endpoints, readParams, unsupportedScheme } from "./common.js"
import type { GrpcConnectionStringError } from "./error.js"
import { fail } from "./error.js"

/** @internal */
export const defaultPort = 35000

/** @internal */
export const loadBalancers = ["least-connections", "round-robin", "random"] as const

/** What `ChronicleSettings.make` takes. @internal */
export type Fields = ConstructorParameters<typeof ChronicleSettings>[0]

const label = "a Chronicle connection string"

const schemes: ReadonlyMap<string, { readonly srv: boolean }> = new Map([
  ["chronicle", { srv: false }],
  ["chronicle+srv", { srv: true }]
])

/** @internal */
export const isScheme = (scheme: string): boolean => schemes.has(scheme)

/** @internal */
export const schemeList: ReadonlyArray<string> = Array.from(schemes.keys())

const params = {
  disableTls: ConnectionString.booleanParam("disableTls", { ignoreCase: true }),
  skipTlsValidation: ConnectionString.booleanParam("skipTlsValidation", { ignoreCase: true }),
  apiKey: ConnectionString.nonEmptyParam("apiKey", { what: "key", secret: true }),
  certificatePath: ConnectionString.nonEmptyParam("certificatePath", { what: "file path" }),
  certificatePassword: ConnectionString.nonEmptyParam("certificatePassword", { what: "password", secret: true }),
  authPort: ConnectionString.integerParam("authPort", { min: 1, max: 65535, expected: "a port number in 1-65535" }),
  loadBalancer: ConnectionString.literalParam("loadBalancer", loadBalancers),
  srvNameServer: ConnectionString.nonEmptyParam("srvNameServer", { what: "host or host:port" })
} as const

/** @internal */
export const optionNames: ReadonlyArray<string> = Object.values(params).map((param) => param.name)

const auth = (
  cs: ConnectionString.ConnectionString,
  apiKey: string | undefined
): Either.Either<ChronicleAuth, GrpcConnectionStringError> => {
  if (Option.isNone(cs.username)) {
    return Either.right(apiKey === undefined ? { _tag: "None" } : { _tag: "ApiKey", apiKey: Redacted.make(apiKey) })
  }
  if (Option.isNone(cs.password)) {
    return fail("Credentials", "client credentials need a client id and a secret (clientId:secret@host), got no secret")
  }
  if (Redacted.value(cs.password.value) === "") {
    return fail("Credentials", "the secret after \"clientId:\" is empty")
  }
  if (apiKey !== undefined) {
    return fail("Conflict", "use either client credentials (clientId:secret@host) or apiKey, not both", "apiKey")
  }
  return Either.right({ _tag: "ClientCredentials", clientId: cs.username.value, secret: cs.password.value })
}

/** The settings of a parsed chronicle:// string, as `ChronicleSettings.make` takes them. @internal */
export const fromConnectionString = (
  cs: ConnectionString.ConnectionString
): Either.Either<Fields, GrpcConnectionStringError> =>
  Either.gen(function*() {
    const scheme = schemes.get(cs.scheme)
    if (scheme === undefined) return yield* unsupportedScheme(cs.scheme, schemes.keys())
    if (scheme.srv && cs.hosts.length > 1) {
      return yield* fail(
        "Conflict",
        `chronicle+srv:// takes one host, resolved with a DNS SRV lookup; got ${cs.hosts.length} hosts`
      )
    }
    const secrets = ConnectionString.secretsOf(cs)
    const hosts = yield* endpoints(cs, defaultPort, secrets)
    yield* checkPath(cs, label, secrets)
    const values = yield* readParams(cs, params, label, secrets)
    return {
      srv: scheme.srv,
      hosts,
      auth: yield* auth(cs, values.apiKey),
      tls: !(values.disableTls ?? false),
      skipTlsValidation: values.skipTlsValidation ?? false,
      certificatePath: Option.fromNullable(values.certificatePath),
      certificatePassword: Option.map(Option.fromNullable(values.certificatePassword), Redacted.make),
      authPort: Option.fromNullable(values.authPort),
      loadBalancer: values.loadBalancer ?? "least-connections",
      srvNameServer: Option.fromNullable(values.srvNameServer)
    } satisfies Fields
  })
