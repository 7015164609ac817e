/**
 * What the esdb:// and chronicle:// readers share: the path check, endpoints with the default
 * port, scheme errors.
 *
 * @internal
 */
import * as ConnectionString from "@redial/core/ConnectionString"
import * as Arr from "effect/Array"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import type { Endpoint } from "../../GrpcConnectionString.js"
import type { GrpcConnectionStringError } from "./error.js"
import { fail, fromParamError } from "./error.js"

/** @internal */
export const checkPath = (
  cs: ConnectionString.ConnectionString,
  label: string,
  secrets: ConnectionString.Secrets
): Either.Either<void, GrpcConnectionStringError> =>
  cs.path === "" || cs.path === "/"
    ? Either.void
    : fail("Path", `${label} has no path, got ${ConnectionString.quote(cs.path, secrets)}; options go after "?"`)

/** @internal */
export const endpoints = (
  cs: ConnectionString.ConnectionString,
  defaultPort: number
): Arr.NonEmptyReadonlyArray<Endpoint> =>
  Arr.map(cs.hosts, ({ host, port }) => ({ host, port: Option.getOrElse(port, () => defaultPort) }))

/** @internal */
export const unsupportedScheme = (
  scheme: string,
  expected: Iterable<string>
): Either.Either<never, GrpcConnectionStringError> =>
  fail(
    "Scheme",
    `unsupported scheme ${ConnectionString.quote(scheme)}; expected one of ${
      Array.from(expected, (s) => `${s}://`).join(", ")
    }`
  )

/** @internal */
export const readParams = <P extends Record<string, ConnectionString.Param<unknown>>>(
  cs: ConnectionString.ConnectionString,
  spec: P,
  label: string,
  secrets: ConnectionString.Secrets
): Either.Either<ConnectionString.ParamValues<P>, GrpcConnectionStringError> =>
  Either.mapLeft(ConnectionString.readParams(cs, spec, { label, secrets }), fromParamError)
