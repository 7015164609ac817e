/**
 * The limits that `GrpcChannel.make` and the connection-string parsers both enforce, in one
 * place, so a value one accepts the other accepts too.
 *
 * - Timers (keepalive interval and timeout, deadlines): whole milliseconds from 1 to
 *   {@link MAX_TIMER_MILLIS}. Node runs no timer longer than 2^31−1 ms: it fires a longer one
 *   after 1 ms (a keepalive timeout of 2^31 ms drops every connection at once), and Effect's
 *   clock and grpc-js never fire one. Zero is not "off" (keepalive is off with `keepAlive: false`,
 *   or -1 in a connection string); a deadline of `Duration.infinity` is no deadline.
 * - Ports: 1 to 65535.
 * - Hosts: an IPv4 address, an IPv6 address in brackets (`[::1]`, `[fe80::1%eth0]`), or a host
 *   name of dot-separated labels of letters, digits, `-` and `_` (at most 63 characters each,
 *   253 in all, not starting or ending with `-`).
 *
 * @internal
 */
import { Options } from "@redial/core"
import * as Duration from "effect/Duration"
import type * as Schema from "effect/Schema"
import * as net from "node:net"

/** The longest timer Node, Effect's clock and grpc-js run: 2^31−1 ms (about 24.8 days). @internal */
export const MAX_TIMER_MILLIS = 2 ** 31 - 1

/** @internal */
export const MIN_PORT = 1
/** @internal */
export const MAX_PORT = 65535

/** A keepalive time: 1 ms to {@link MAX_TIMER_MILLIS}. @internal */
export const timer: Schema.Schema<Duration.Duration, Duration.DurationInput> = Options.duration({
  min: "1 millis",
  max: Duration.millis(MAX_TIMER_MILLIS)
})

/**
 * A deadline: 1 ms to {@link MAX_TIMER_MILLIS}, or `Duration.infinity` for none (decoded to
 * `undefined`). grpc-js throws "Deadline is too far in the future" from inside a promise for a
 * deadline of 10^8 hours or more (an unhandled rejection), and fires none beyond 2^31−1 ms.
 *
 * @internal
 */
export const deadline: Schema.Schema<Duration.Duration, Duration.DurationInput> = Options.duration({
  min: "1 millis",
  finite: false
}).pipe(
  Options.check((duration: Duration.Duration) =>
    Duration.isFinite(duration) && Duration.toMillis(duration) > MAX_TIMER_MILLIS
      ? {
        reason: "OutOfRange",
        detail: `must be at most ${MAX_TIMER_MILLIS}ms (about 24.8 days), or infinite for none`
      }
      : undefined
  )
)

/** `undefined` for an infinite deadline: grpc-js is given none. @internal */
export const finiteDeadline = (duration: Duration.Duration | undefined): Duration.Duration | undefined =>
  duration === undefined || !Duration.isFinite(duration) ? undefined : duration

const LABEL = /^(?!-)[A-Za-z0-9_-]{1,63}(?<!-)$/
const DOTTED_NUMBERS = /^[\d.]+$/

/**
 * Whether `host` (without a port; an IPv6 address without its brackets) is an IP address or a
 * host name.
 *
 * @internal
 */
export const isHost = (host: string): boolean => {
  if (net.isIP(host) !== 0) return true
  // "999.1.1.1" and "1.2.3" are not addresses, and no resolver takes them as names either.
  if (host.length === 0 || host.length > 253 || DOTTED_NUMBERS.test(host)) return false
  return host.split(".").every((label) => LABEL.test(label))
}

/**
 * Why `address` is not `"host:port"` (an IPv6 host in brackets), or `undefined` when it is.
 * Never quotes it: a malformed address may be a URL with credentials in it.
 *
 * @internal
 */
export const addressIssue = (
  address: string
): { readonly reason: "Invalid" | "OutOfRange"; readonly detail: string } | undefined => {
  const colon = address.lastIndexOf(":")
  if (colon <= 0) return { reason: "Invalid", detail: "must be \"host:port\" (not a URL)" }
  const host = address.slice(0, colon)
  const port = address.slice(colon + 1)
  if (!/^\d{1,5}$/.test(port)) return { reason: "Invalid", detail: "must be \"host:port\" (not a URL)" }
  const bracketed = host.startsWith("[") && host.endsWith("]")
  const valid = bracketed ? net.isIPv6(host.slice(1, -1)) : !host.includes(":") && isHost(host)
  if (!valid) {
    return {
      reason: "Invalid",
      detail: !bracketed && net.isIPv6(host)
        ? "must be \"host:port\" with an IPv6 host in brackets"
        : host.includes(":") || host.includes("/") || host.includes("@")
        ? "must be \"host:port\" (not a URL)"
        : "must have a valid host name or IP address"
    }
  }
  const n = Number(port)
  return n < MIN_PORT || n > MAX_PORT
    ? { reason: "OutOfRange", detail: `must have a port from ${MIN_PORT} to ${MAX_PORT}` }
    : undefined
}
