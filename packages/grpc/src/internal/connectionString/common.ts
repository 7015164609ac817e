/**
 * What the esdb:// and chronicle:// readers share: the path check, endpoints (valid hosts, the
 * default port), scheme errors.
 *
 * @internal
 */
import * as ConnectionString from "@redial/core/ConnectionString"
import * as Arr from "effect/Array"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import type { Endpoint } from "../../GrpcConnectionString.js"
import { fail, fromParamError, GrpcConnectionStringError } from "./error.js"
import * as Host from "./host.js"

/** @internal */
export const checkPath = (
  cs: ConnectionString.ConnectionString,
  label: string,
  secrets: ConnectionString.Secrets
): Either.Either<void, GrpcConnectionStringError> =>
  cs.path === "" || cs.path === "/"
    ? Either.void
    : fail("Path", `${label} has no path, got ${ConnectionString.quote(cs.path, secrets)}; options go after "?"`)

/**
 * How many hosts a message may quote. Without user info, `user:password` reads as `host:port`
 * (core's rule), so from the first host with a port on, the text may be a password: that host's
 * name is shown, the hosts after it are not. An IPv6 address first means no password.
 */
const shownHosts = (cs: ConnectionString.ConnectionString): number => {
  if (Option.isSome(cs.username)) return cs.hosts.length
  const first = cs.hosts.findIndex(({ host, port }) => host.includes(":") || Option.isSome(port))
  return first === -1 || cs.hosts[first]?.host.includes(":") === true ? cs.hosts.length : first + 1
}

/** The hosts, each a valid host name or IP address, with the default port filled in. @internal */
export const endpoints = (
  cs: ConnectionString.ConnectionString,
  defaultPort: number,
  secrets: ConnectionString.Secrets
): Either.Either<Arr.NonEmptyReadonlyArray<Endpoint>, GrpcConnectionStringError> => {
  const shown = shownHosts(cs)
  for (const [index, { host }] of cs.hosts.entries()) {
    const problem = Host.check(host)
    if (Option.isSome(problem)) {
      const name = index < shown
        ? `host ${ConnectionString.quote(host, secrets)}`
        : `host ${index + 1} of ${cs.hosts.length} (not shown: without "@host", "user:password" reads as ` +
          "\"host:port\", so it may be a password)"
      const detail = `${name} is not a valid host name or IP address: ${problem.value}`
      return Either.left(
        new GrpcConnectionStringError({
          reason: "Syntax",
          detail,
          cause: new ConnectionString.ConnectionStringError({ part: "host", reason: "Malformed", detail })
        })
      )
    }
  }
  return Either.right(
    Arr.map(cs.hosts, ({ host, port }) => ({ host, port: Option.getOrElse(port, () => defaultPort) }))
  )
}

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
