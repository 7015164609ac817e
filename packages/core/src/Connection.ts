/**
 * A resilient connection: a manager that connects with `acquire`, keeps the connection while it
 * lives, reconnects when it is lost (at once) or when an attempt fails (after the delay its
 * `Reconnect` policy gives), and reports every step as a typed status.
 *
 * The shape of Retort, Spear and Chronicle's connection processes, as a scoped Effect:
 * `get` (the connection now, or `NotConnected`), `await` (wait for it), `status` / `changes`,
 * `close` / `connect`, `invalidate`.
 *
 * @example
 * ```ts
 * import { Connection, Reconnect } from "@redial/core"
 * import { Context, Effect, Layer } from "effect"
 * import * as net from "node:net"
 *
 * // One connect attempt: a socket, closed when the connection is dropped.
 * const acquire = Effect.acquireRelease(
 *   Effect.async<net.Socket, Error>((resume) => {
 *     const socket = net.connect(6379, "127.0.0.1")
 *     socket.once("connect", () => resume(Effect.succeed(socket)))
 *     socket.once("error", (error) => resume(Effect.fail(error)))
 *     return Effect.sync(() => socket.destroy())
 *   }),
 *   (socket) => Effect.sync(() => socket.destroy())
 * )
 *
 * class Redis extends Context.Tag("Redis")<Redis, Connection.Connection<net.Socket>>() {}
 *
 * const RedisLive = Connection.layer(Redis, {
 *   name: "redis",
 *   acquire,
 *   // the socket closing means the connection is lost
 *   lost: (socket) => Effect.async<void>((resume) => void socket.once("close", () => resume(Effect.void))),
 *   policy: Reconnect.exponential({ min: "100 millis", max: "5 seconds" }),
 *   connectTimeout: "2 seconds"
 * })
 *
 * const program = Effect.gen(function*() {
 *   const redis = yield* Redis
 *   const socket = yield* redis.await({ timeout: "5 seconds" })
 *   socket.write("PING\r\n")
 * }).pipe(Effect.provide(RedisLive))
 * ```
 *
 * @since 0.1.0
 */
import type * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import type { Closed, InvalidOption, NotConnected, Timeout } from "./Errors.js"
import * as internal from "./internal/connection.js"
import * as status from "./internal/status.js"

/**
 * The status of a connection:
 *
 * - `Idle`: made with `autoConnect: false` and not started yet;
 * - `Connecting`: attempt `attempt` is running (counted from 1 since the last connection that
 *   lasted `minUptime`; after the loss of such a connection the next attempt is `Connecting`
 *   with attempt 1, at once);
 * - `Connected`: live, reached on attempt `attempt`;
 * - `Backoff`: attempt `attempt` failed with `error` (or its connection was dropped before
 *   `minUptime`); the next one starts after `delay`;
 * - `Closed`: not connected and not reconnecting; `reason` says why.
 *
 * @since 0.1.0
 * @category models
 */
export type Status = status.Status

/**
 * Constructors and matchers for {@link Status} (`Status.Connected({ attempt: 1 })`,
 * `Status.$is("Connected")(s)`, `Status.$match(s, { … })`).
 *
 * @since 0.1.0
 * @category models
 */
export const Status = status.Status

/**
 * What a connect attempt knows: its number (from 1 since the last successful connect), the
 * connection's name, and the configuration this attempt uses (the `config` option, as changed
 * by `configure`).
 *
 * @since 0.1.0
 * @category models
 */
export interface Attempt<C> {
  readonly attempt: number
  readonly name: string
  readonly config: C
}

/**
 * How to make and keep a connection.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options<A, E, R, C = void> {
  /**
   * One connect attempt. Runs in a `Scope` that is closed exactly once, when this connection is
   * dropped (lost, invalidated, closed, or the connection's own scope ends) or when the attempt
   * fails: register the connection's release there (`Effect.acquireRelease`). A function receives
   * the {@link Attempt}.
   */
  readonly acquire:
    | Effect.Effect<A, E, R | Scope.Scope>
    | ((attempt: Attempt<C>) => Effect.Effect<A, E, R | Scope.Scope>)
  /** The configuration handed to `configure` and `acquire` (e.g. a URL, a host list). */
  readonly config?: C
  /**
   * DBConnection's `configure`: runs before every attempt and returns the configuration that
   * attempt uses (e.g. the next host of a list, a fresh token). A failure fails the attempt.
   */
  readonly configure?: (attempt: Attempt<C>) => Effect.Effect<C, E, R>
  /**
   * Completes (or fails) when the live connection dies: the way a driver reports a loss (e.g. a
   * socket's `close` event). It runs in the connection's scope and is interrupted when the
   * connection is dropped for another reason.
   */
  readonly lost?: (connection: A) => Effect.Effect<unknown, unknown, R | Scope.Scope>
  /**
   * The reconnect policy, stepped with the error of every failed attempt: any `Schedule`
   * (see `Reconnect`). Default `Reconnect.randomExponential()` (1 s to 30 s).
   *
   * - A failed attempt (including a `connectTimeout` or `afterConnect` failure) steps the policy:
   *   it says how long to back off, or gives up (status `Closed`, reason `PolicyExhausted`).
   * - A connection dropped (lost, invalidated, failing its health check) before `minUptime` also
   *   counts as a failed attempt: the policy is stepped with the cause the drop was reported with
   *   (what `lost` returned or failed with, the `invalidate` cause, the health check's error) and
   *   the attempt counter goes on.
   * - A connection dropped after `minUptime` restarts the policy from its beginning and
   *   reconnects at once, without a delay, unless the restarted policy gives up at its very
   *   first step: `Reconnect.stop` (and `Reconnect.limit(policy, 0)`) never reconnect, so after
   *   a loss the connection closes with `PolicyExhausted`, as DBConnection's `:stop` backoff
   *   stops its connection process on a disconnect.
   */
  readonly policy?: Schedule.Schedule<unknown, E | Timeout, never>
  /**
   * How long a connection must stay up to count as a successful connect (default 5 s; zero
   * counts every connection). One dropped sooner (a server that accepts and then resets) counts
   * as a failed attempt and the policy's delay applies before the next attempt, so a flapping
   * server is not reconnected to in a tight loop; one that lasted restarts the policy and is
   * reconnected at once. Fails with `InvalidOption` unless a finite duration of zero or more.
   */
  readonly minUptime?: Duration.DurationInput
  /**
   * How long one attempt (`configure` and `acquire`) may take; a hung attempt is interrupted,
   * its scope closed, and it counts as a failed attempt with a `Timeout` error. Default 15 s.
   */
  readonly connectTimeout?: Duration.DurationInput
  /** Connect as soon as the connection is made (default), or wait for `connect` / `await`. */
  readonly autoConnect?: boolean
  /**
   * Errors for which retrying cannot help (bad credentials, an unknown database): the connection
   * closes with reason `FatalError` instead of backing off. Defects are always fatal.
   */
  readonly isFatal?: (error: E | Timeout) => boolean
  /**
   * Runs once on every new connection before anyone can use it (DBConnection's
   * `after_connect`): set up a session, declare queues… A failure drops the connection and
   * counts as a failed attempt.
   */
  readonly afterConnect?: (connection: A) => Effect.Effect<unknown, E, R | Scope.Scope>
  /** How long `afterConnect` may take (default 15 s), → `Timeout` with operation `afterConnect`. */
  readonly afterConnectTimeout?: Duration.DurationInput
  /**
   * Pings the live connection every `interval`; a failure, or no answer within `timeout`
   * (default: the interval), drops it as lost and reconnects.
   */
  readonly healthCheck?: {
    readonly interval: Duration.DurationInput
    readonly timeout?: Duration.DurationInput
    readonly check: (connection: A) => Effect.Effect<unknown, unknown, R>
  }
  /** The name in every log line, metric, span and error. Default `"connection"`. */
  readonly name?: string
}

/**
 * A managed connection to a live resource of type `A`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Connection<A> {
  /** The name given in the options. */
  readonly name: string
  /**
   * The live connection now, never waiting: fails with `NotConnected` (carrying the status and
   * the last connect error) while down, and with `Closed` once closed.
   */
  readonly get: Effect.Effect<A, NotConnected | Closed>
  /**
   * Waits until connected, then succeeds with the connection. Fails with `Closed` when the
   * connection is or becomes closed (by `close`, a fatal error, the policy giving up, or the end
   * of its scope), and with `Timeout` when a `timeout` is given and passes first (a zero or
   * negative timeout: at once, unless connected now). An interrupted waiter leaves nothing
   * behind, at once, whatever its timeout. Starts a connection made with `autoConnect: false`.
   *
   * A `timeout` whose type is a `DurationInput` is always valid. One whose type is not known
   * (read from untyped configuration) may not be a duration: then `await` fails with
   * `InvalidOption` (option `timeout`, reason `Invalid`), never with a defect.
   */
  await(options?: { readonly timeout?: undefined }): Effect.Effect<A, Closed>
  await(options: { readonly timeout: Duration.DurationInput }): Effect.Effect<A, Closed | Timeout>
  await(options: { readonly timeout: unknown }): Effect.Effect<A, Closed | Timeout | InvalidOption>
  /**
   * Waits for a live connection other than `previous`, on an event (never polling): returns at
   * once when the live connection is not `previous` (or, with `undefined`, when there is one);
   * otherwise waits until the manager hands out its next connection, and returns that one. For
   * a user that held `previous` and saw it die: call `invalidate(cause, previous)`, then
   * `awaitNext(previous)`. Fails with `Closed` as `await` does; starts a connection made with
   * `autoConnect: false`; an interrupted waiter leaves nothing behind.
   */
  awaitNext(previous: A | undefined): Effect.Effect<A, Closed>
  /** The current status. */
  readonly status: Effect.Effect<Status>
  /**
   * The current status, then every transition in order. Ends after `Closed` with reason
   * `ScopeClosed`.
   */
  readonly changes: Stream.Stream<Status>
  /**
   * Drops the connection (closing its scope) and stops reconnecting: status `Closed` with reason
   * `UserClosed`; waiters fail with `Closed`. Spear's `:close`.
   */
  readonly close: Effect.Effect<void>
  /**
   * Starts connecting when idle or closed (Spear's `:connect`); does nothing while connecting or
   * connected. Fails with `Closed` once the connection's scope has ended.
   */
  readonly connect: Effect.Effect<void, Closed>
  /**
   * Reports the live connection broken (e.g. a call failed at the transport level): it is
   * dropped, and when this effect completes `get`, `await` and `awaitNext` no longer return it;
   * its scope is closed and a new connection is made (at once, or after the policy's delay when
   * it lived less than `minUptime`). With `connection`, only that connection is dropped, so a
   * report about an older connection does not drop a newer one.
   */
  invalidate(cause: unknown, connection?: A): Effect.Effect<void>
}

/**
 * Makes a connection that lives as long as the current `Scope`. Fails with `InvalidOption`
 * when an option is invalid (a zero or negative timeout or interval, a negative or infinite
 * `minUptime`, an empty name), decoded with `Options.decode`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: <A, E = never, R = never, C = void>(
  options: Options<A, E, R, C>
) => Effect.Effect<Connection<A>, InvalidOption, Scope.Scope | R> = internal.make

/**
 * A layer that provides a connection under `tag`, closed when the layer is released.
 *
 * @example
 * ```ts
 * import { Connection } from "@redial/core"
 * import { Context, Effect } from "effect"
 *
 * class Clock2 extends Context.Tag("Clock2")<Clock2, Connection.Connection<number>>() {}
 * const Clock2Live = Connection.layer(Clock2, { acquire: Effect.succeed(42), name: "answer" })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = <I, A, E = never, R = never, C = void>(
  tag: Context.Tag<I, Connection<A>>,
  options: Options<A, E, R, C>
): Layer.Layer<I, InvalidOption, Exclude<R, Scope.Scope>> => Layer.scoped(tag, make(options))
