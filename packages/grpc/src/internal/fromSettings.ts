/**
 * What a parsed connection string means for a channel: addresses, TLS, call credentials,
 * keepalive and the default deadline.
 *
 * @internal
 */
import * as grpc from "@grpc/grpc-js"
import { InvalidOption } from "@redial/core"
import * as ConnectionString from "@redial/core/ConnectionString"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as fs from "node:fs/promises"
import type * as GrpcChannel from "../GrpcChannel.js"
import type * as GrpcConnectionString from "../GrpcConnectionString.js"
import * as Host from "./connectionString/host.js"
import { MAX_TIMER_MILLIS } from "./limits.js"

// A name in another script is dialled in its punycode form, the form the channel's address check takes.
const address = (endpoint: GrpcConnectionString.Endpoint): string =>
  endpoint.host.includes(":")
    ? `[${endpoint.host}]:${endpoint.port}`
    : `${Host.toAscii(endpoint.host)}:${endpoint.port}`

/** Every secret of the settings: a file path that holds one (typed in the wrong place) is never quoted. */
const secretsOf = (settings: GrpcConnectionString.Settings): ConnectionString.Secrets => {
  const values: Array<Redacted.Redacted<string>> = []
  if (settings._tag === "EsdbSettings") {
    if (Option.isSome(settings.credentials)) values.push(settings.credentials.value.password)
  } else {
    if (settings.auth._tag === "ClientCredentials") values.push(settings.auth.secret)
    if (settings.auth._tag === "ApiKey") values.push(settings.auth.apiKey)
    if (Option.isSome(settings.certificatePassword)) values.push(settings.certificatePassword.value)
  }
  return ConnectionString.secrets(values.map(Redacted.value))
}

const readFile = (option: string, path: string, secrets: ConnectionString.Secrets) =>
  Effect.tryPromise({
    try: () => fs.readFile(path),
    catch: (error) => {
      // Node's message repeats the path: when the path is not shown, give only the error code.
      const cause = error instanceof Error ? error.message : String(error)
      const code = typeof error === "object" && error !== null && "code" in error ? String(error.code) : "error"
      return new InvalidOption({
        option,
        reason: "Invalid",
        detail: `cannot read ${ConnectionString.quote(path, secrets)}: ${secrets.contains(cause) ? code : cause}`
      })
    }
  })

/**
 * The metadata key a Chronicle `apiKey` is sent in: `api-key`, as Cratis' own clients send it
 * (Cratis/Chronicle.TypeScript `Source/connection/ChronicleConnection.ts`: `metadata.set('api-key', …)`;
 * Cratis/Chronicle.Elixir `lib/chronicle/connections/connection.ex`, `auth_headers/1`; the Kotlin
 * client in Cratis/Chronicle `Source/Clients/Kotlin/…/ChronicleConnection.kt`). The Chronicle
 * server (Cratis/Chronicle `Source/Kernel`, commit 369b1a2d) reads only `authorization: Bearer …`
 * so far; no client sends `x-api-key`.
 *
 * @internal
 */
export const defaultApiKeyHeader = "api-key"

/** Call credentials that add one header to every call, its value read from a Redacted. @internal */
export const headerCredentials = (header: string, value: Redacted.Redacted<string>): grpc.CallCredentials =>
  grpc.credentials.createFromMetadataGenerator((_params, callback) => {
    const metadata = new grpc.Metadata()
    metadata.add(header, Redacted.value(value))
    callback(null, metadata)
  })

const basic = (user: string, secret: Redacted.Redacted<string>): grpc.CallCredentials =>
  headerCredentials(
    "authorization",
    Redacted.make(`Basic ${Buffer.from(`${user}:${Redacted.value(secret)}`).toString("base64")}`)
  )

/** `keepAliveTimeout=-1` (no timeout on a ping): the longest timer Node has, as close to none as grpc-js gets. */
const noKeepAliveTimeout = Duration.millis(MAX_TIMER_MILLIS)

const keepAlive = (
  interval: Option.Option<Duration.Duration>,
  timeout: Option.Option<Duration.Duration>
): NonNullable<GrpcChannel.Options["keepAlive"]> =>
  Option.match(interval, {
    onNone: () => false,
    onSome: (interval) => ({ interval, timeout: Option.getOrElse(timeout, () => noKeepAliveTimeout) })
  })

/** @internal */
export const fromSettings = (
  settings: GrpcConnectionString.Settings,
  apiKeyHeader: string = defaultApiKeyHeader
): Effect.Effect<GrpcChannel.Options, InvalidOption> =>
  Effect.gen(function*() {
    const addresses = settings.hosts.map(address)
    const secrets = secretsOf(settings)
    if (settings._tag === "EsdbSettings") {
      const ca = Option.isSome(settings.tlsCAFile)
        ? yield* readFile("tlsCAFile", settings.tlsCAFile.value, secrets)
        : undefined
      const user = Option.isSome(settings.userCertificate)
        ? {
          cert: yield* readFile("userCertFile", settings.userCertificate.value.certFile, secrets),
          key: yield* readFile("userKeyFile", settings.userCertificate.value.keyFile, secrets)
        }
        : undefined
      const credentials = settings.tls
        ? grpc.credentials.createSsl(ca ?? null, user?.key ?? null, user?.cert ?? null, {
          rejectUnauthorized: settings.tlsVerifyCert
        })
        : grpc.credentials.createInsecure()
      return {
        address: addresses,
        credentials,
        ...(Option.isSome(settings.credentials)
          ? { callCredentials: basic(settings.credentials.value.username, settings.credentials.value.password) }
          : {}),
        keepAlive: keepAlive(settings.keepAliveInterval, settings.keepAliveTimeout),
        defaultDeadline: settings.defaultDeadline
      } satisfies GrpcChannel.Options
    }
    const ca = Option.isSome(settings.certificatePath)
      ? yield* readFile("certificatePath", settings.certificatePath.value, secrets)
      : undefined
    const credentials = settings.tls
      ? grpc.credentials.createSsl(ca ?? null, null, null, { rejectUnauthorized: !settings.skipTlsValidation })
      : grpc.credentials.createInsecure()
    const auth = settings.auth
    return {
      address: addresses,
      credentials,
      ...(auth._tag === "ApiKey"
        ? { callCredentials: headerCredentials(apiKeyHeader, auth.apiKey) }
        : auth._tag === "ClientCredentials"
        ? { callCredentials: basic(auth.clientId, auth.secret) }
        : {})
    } satisfies GrpcChannel.Options
  })
