/**
 * A TCP proxy on loopback that sits between a client and a real server and
 * injects network faults on demand: cut every connection, refuse new ones,
 * black-hole traffic, or add latency.
 *
 * Point the client at `proxy.address` instead of the server, then drive the
 * faults from the test.
 *
 * @since 0.1.0
 */
import type { RedialError } from "@redial/core"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as internal from "./internal/faultProxy.js"

/**
 * A running fault proxy. Faults apply from the moment their effect completes;
 * several may be on at once (`refuse` wins over `blackhole` for new
 * connections).
 *
 * @since 0.1.0
 * @category models
 */
export interface FaultProxy {
  /**
   * The address the proxy listens on, e.g. `"127.0.0.1"`.
   */
  readonly host: string
  /**
   * The port the proxy listens on (the ephemeral port chosen when `port` was 0).
   */
  readonly port: number
  /**
   * `host:port` (IPv6 hosts in brackets), e.g. `"127.0.0.1:40123"`.
   */
  readonly address: string
  /**
   * Resets every open connection at once: the client side with a TCP RST (the
   * client sees `ECONNRESET`, as after a real network failure) and the target
   * side too (the server sees the connection drop). New connections are
   * accepted and forwarded as usual afterwards.
   */
  readonly cut: Effect.Effect<void>
  /**
   * While on, every new connection is accepted and reset at once (the client
   * sees `ECONNRESET` or the connection closed); nothing is forwarded to the
   * target. Open connections are untouched.
   */
  readonly refuse: (on: boolean) => Effect.Effect<void>
  /**
   * While on:
   *
   * - a new connection is accepted (the client's connect succeeds) but never
   *   connected to the target and never answered: the half-open peer. What the
   *   client sends is read and discarded. Such a connection stays a black hole
   *   for its whole life, even after `blackhole(false)`, until the client
   *   closes it, `cut` or the scope ends.
   * - on open connections, every byte is silently dropped in both directions,
   *   including bytes already delayed by `latency`: the connection stays open
   *   but goes silent, like a network partition. Dropped bytes are lost, not
   *   delivered later. Closes and resets still pass through, so a side that
   *   closes its socket still closes the other one.
   *
   * After `blackhole(false)`, new connections are forwarded again and open
   * connections carry the bytes sent from then on.
   */
  readonly blackhole: (on: boolean) => Effect.Effect<void>
  /**
   * Delays every chunk forwarded, in each direction, by `delay` (a number is
   * milliseconds), so a request/response round trip takes at least twice as
   * long. Order is kept per direction; the end of a stream is delayed like the
   * data before it. A chunk keeps the latency in force when it arrived. `0`
   * turns it off. Delays run on Effect's `Clock`.
   */
  readonly latency: (delay: Duration.DurationInput) => Effect.Effect<void>
  /**
   * Turns `refuse`, `blackhole` and `latency` off. Connections already black-holed
   * at accept stay so (see `blackhole`).
   */
  readonly restore: Effect.Effect<void>
  /**
   * Connection counts: `open` is the client connections currently open through
   * the proxy (including black-holed ones); `total` is every connection
   * accepted since the proxy started, including refused ones.
   */
  readonly connections: Effect.Effect<FaultProxy.Connections>
}

/**
 * @since 0.1.0
 */
export declare namespace FaultProxy {
  /**
   * @since 0.1.0
   * @category models
   */
  export interface Options {
    /** The server to forward to. `host` defaults to `"127.0.0.1"`. */
    readonly target: { readonly host?: string; readonly port: number }
    /** The host to listen on; defaults to `"127.0.0.1"`. */
    readonly host?: string
    /** The port to listen on; defaults to 0, an ephemeral port. */
    readonly port?: number
  }

  /**
   * @since 0.1.0
   * @category models
   */
  export interface Connections {
    readonly open: number
    readonly total: number
  }
}

/**
 * The proxy could not start. `reason` is `"Listen"`: the listen address was
 * taken or not local. It is a redial error (`isRedialError`).
 *
 * @since 0.1.0
 * @category errors
 */
export interface FaultProxyError extends RedialError {
  readonly _tag: "FaultProxyError"
  readonly reason: "Listen"
  /** The address the proxy tried to listen on. */
  readonly address: string
  readonly cause: unknown
}

/**
 * @since 0.1.0
 * @category errors
 */
export const FaultProxyError: new(
  args: { readonly reason: "Listen"; readonly address: string; readonly cause: unknown }
) => FaultProxyError = internal.FaultProxyError

/**
 * Starts a proxy listening on loopback (an ephemeral port unless `port` is
 * given) that forwards every connection to `target`. Backpressure is kept in
 * both directions, so large transfers work.
 *
 * Closing the scope stops listening, destroys every open socket on both sides,
 * and completes once the server is closed. If the target cannot be reached, the
 * client's connection is reset.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import * as FaultProxy from "@redial/testing/FaultProxy"
 *
 * const program = Effect.gen(function*() {
 *   const proxy = yield* FaultProxy.make({ target: { port: 5432 } })
 *   // connect the client under test to proxy.address instead of port 5432 ...
 *   yield* proxy.latency("100 millis")
 *   yield* proxy.cut // every open connection sees ECONNRESET
 *   yield* proxy.refuse(true) // reconnect attempts fail
 *   yield* proxy.restore // reconnects succeed again
 *   const { open, total } = yield* proxy.connections
 *   yield* Effect.log(`${open} open, ${total} accepted`)
 * }).pipe(Effect.scoped)
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: (options: FaultProxy.Options) => Effect.Effect<FaultProxy, FaultProxyError, Scope.Scope> =
  internal.make
