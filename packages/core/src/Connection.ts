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
  readonly config?: C | undefined
  /**
   * DBConnection's `configure`: runs before every attempt and returns the configuration that
   * attempt uses (e.g. the next host of a list, a fresh token). A failure fails the attempt.
   */
  readonly configure?: ((attempt: Attempt<C>) => Effect.Effect<C, E, R>) | undefined
  /**
   * Completes (or fails) when the live connection dies: the way a driver reports a loss (e.g. a
   * socket's `close` event). It runs in the connection's scope and is interrupted when the
   * connection is dropped for another reason.
   */
  readonly lost?: ((connection: A) => Effect.Effect<unknown, unknown, R | Scope.Scope>) | undefined
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
  readonly policy?: Schedule.Schedule<unknown, E | Timeout, never> | undefined
  /**
   * How long a connection must stay up to count as a successful connect (default 5 s; zero
   * counts every connection). One dropped sooner (a server that accepts and then resets) counts
   * as a failed attempt and the policy's delay applies before the next attempt, so a flapping
   * server is not reconnected to in a tight loop; one that lasted restarts the policy and is
   * reconnected at once. Fails with `InvalidOption` unless a finite duration of zero or more.
   */
  readonly minUptime?: Duration.DurationInput | undefined
  /**
   * How long one attempt (`configure` and `acquire`) may take; a hung attempt is interrupted,
   * its scope closed, and it counts as a failed attempt with a `Timeout` error. Default 15 s.
   */
  readonly connectTimeout?: Duration.DurationInput | undefined
  /** Connect as soon as the connection is made (default), or wait for `connect` / `await`. */
  readonly autoConnect?: boolean | undefined
  /**
   * Errors for which retrying cannot help (bad credentials, an unknown database): the connection
   * closes with reason `FatalError` instead of backing off. Defects are always fatal.
   */
  readonly isFatal?: ((error: E | Timeout) => boolean) | undefined
  /**
   * Losses for which reconnecting cannot help: asked about the cause a live connection was
   * dropped with (what `lost` returned or failed with, the `invalidate` cause, the health check's
   * error). When it says so the connection closes with reason `FatalError` (its `error` carrying
   * that cause) instead of reconnecting, e.g. a WebSocket the server closed with 1008 (policy
   * violation) or 4001 (unauthorised). Default: no loss is fatal.
   */
  readonly isFatalLoss?: ((cause: unknown) => boolean) | undefined
  /**
   * Runs once on every new connection before anyone can use it (DBConnection's
   * `after_connect`): set up a session, declare queues… A failure drops the connection and
   * counts as a failed attempt.
   */
  readonly afterConnect?: ((connection: A) => Effect.Effect<unknown, E, R | Scope.Scope>) | undefined
  /** How long `afterConnect` may take (default 15 s), → `Timeout` with operation `afterConnect`. */
  readonly afterConnectTimeout?: Duration.DurationInput | undefined
  /**
   * Pings the live connection every `interval`; a failure, or no answer within `timeout`
   * (default: the interval), drops it as lost and reconnects.
   */
  readonly healthCheck?: {
    readonly interval: Duration.DurationInput
    readonly timeout?: Duration.DurationInput | undefined
    readonly check: (connection: A) => Effect.Effect<unknown, unknown, R>
  } | undefined
  /** The name in every log line, metric, span and error. Default `"connection"`. */
  readonly name?: string | undefined
  /**
   * Whether `make` (and so the layer) waits for the first connection before it returns, as
   * `@effect/sql-pg`'s layer does. See {@link AwaitConnected}. Default `false`.
   */
  readonly awaitConnected?: boolean | AwaitConnected | undefined
}

/**
 * The `awaitConnected` option of `Connection.make` / `Connection.layer` (and of the pool's and
 * the gRPC channel's): `true`, or `{ timeout }`, makes the constructor wait until the first
 * connection is up before it returns, so the first call after `Effect.provide` finds it.
 *
 * - It succeeds as soon as an attempt connects (failed attempts are retried by the policy
 *   meanwhile, as always).
 * - It fails with `Timeout` (operation `await`) when `timeout` passes first: its `cause` is the
 *   last failed attempt's `ConnectFailed` (whose `cause` is the driver's error, e.g.
 *   `ECONNREFUSED`), absent when no attempt has finished yet (a hung first attempt).
 * - It fails with `Closed` when the connection closes first: the policy gave up
 *   (`PolicyExhausted`) or an attempt failed with a fatal error (`FatalError`); its `error` is
 *   that attempt's `ConnectFailed`.
 * - On either failure the connection is released (its scope ends), so a layer that fails leaves
 *   nothing running.
 *
 * `timeout` defaults to the `connectTimeout` (15 s unless set): one attempt's worth of time,
 * during which fast failures (a refused connection) are retried by the policy.
 * `Duration.infinity` waits until connected or closed. With `autoConnect: false` the wait starts
 * the connection.
 *
 * Why not the default: a redial connection exists to keep a program running while its server is
 * down, reconnecting in the background; a layer that fails when the server is unreachable at
 * start-up turns an outage of one dependency into a program that does not start. Opt in where
 * failing fast at start-up is what you want (a CLI, a migration, a health-gated deployment); else
 * `await` or `use` wait for the connection where it is needed.
 *
 * @since 0.1.0
 * @category models
 */
export interface AwaitConnected {
  /** How long to wait; default the `connectTimeout`. Must be positive (or infinite). */
  readonly timeout?: Duration.DurationInput | undefined
}

/**
 * The options of {@link Connection.use}.
 *
 * @since 0.1.0
 * @category models
 */
export interface UseOptions<E> {
  /**
   * Whether a failure of the effect says the connection is broken (a socket error, a protocol
   * error): then the connection is invalidated (only that one: a newer connection is kept) and
   * replaced, and `use` fails with the error. Other failures leave it in service. Default: no
   * failure invalidates it. Defects and interruptions never do.
   */
  readonly isTransportError?: ((error: E) => boolean) | undefined
  /** How long to wait for the connection (not for the effect): `Timeout` as `await`'s. */
  readonly timeout?: Duration.DurationInput | undefined
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
  /**
   * Runs `f` with the live connection, waiting for one first (as `await`, with the optional
   * `timeout`), and invalidates that connection when `f` fails with an error `isTransportError`
   * accepts, so the next `use` waits for a new connection instead of reusing a broken one. Fails
   * with `f`'s error (after the invalidation), `Closed` as `await`, and `Timeout` when a
   * `timeout` is given and no connection comes in time (its `cause`: the last connect error).
   *
   * @example
   * ```ts
   * import { Connection, RedialError } from "@redial/core"
   * import { Effect } from "effect"
   *
   * class SocketError extends RedialError("SocketError")<{ readonly reason: string }> {}
   * class NotFound extends RedialError("NotFound")<{ readonly key: string }> {}
   *
   * const program = Effect.gen(function*() {
   *   const conn = yield* Connection.make({ name: "kv", acquire: Effect.succeed({ id: 1 }) })
   *   const lookup = (_socket: { readonly id: number }) =>
   *     Effect.fail<SocketError | NotFound>(new NotFound({ key: "a" }))
   *   // NotFound keeps the connection; a SocketError would invalidate it (and reconnect).
   *   return yield* conn.use(lookup, {
   *     isTransportError: (e) => e._tag === "SocketError",
   *     timeout: "5 seconds"
   *   })
   * }).pipe(Effect.scoped)
   * ```
   */
  use<B, E2, R2>(
    f: (connection: A) => Effect.Effect<B, E2, R2>,
    options?: UseOptions<E2> & { readonly timeout?: undefined }
  ): Effect.Effect<B, E2 | Closed, R2>
  use<B, E2, R2>(
    f: (connection: A) => Effect.Effect<B, E2, R2>,
    options: UseOptions<E2>
  ): Effect.Effect<B, E2 | Closed | Timeout, R2>
}

/**
 * Makes a connection that lives as long as the current `Scope`. Fails with `InvalidOption`
 * when an option is invalid (a zero or negative timeout or interval, a negative or infinite
 * `minUptime`, an empty name), decoded with `Options.decode`. Returns at once, before anything
 * is connected, unless `awaitConnected` is set: then it waits for the first connection and may
 * also fail with `Timeout` or `Closed` (see {@link AwaitConnected}).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: {
  <A, E = never, R = never, C = void>(
    options: Options<A, E, R, C> & { readonly awaitConnected?: false | undefined }
  ): Effect.Effect<Connection<A>, InvalidOption, Scope.Scope | R>
  <A, E = never, R = never, C = void>(
    options: Options<A, E, R, C>
  ): Effect.Effect<Connection<A>, InvalidOption | Timeout | Closed, Scope.Scope | R>
} = internal.make

/**
 * A layer that provides a connection under `tag`, closed when the layer is released. Built
 * before anything is connected, unless `awaitConnected` is set: then building it waits for the
 * first connection, and fails with `Timeout` or `Closed` when none comes (see
 * {@link AwaitConnected}).
 *
 * @example
 * ```ts
 * import { Connection } from "@redial/core"
 * import { Context, Effect } from "effect"
 *
 * class Answer extends Context.Tag("Answer")<Answer, Connection.Connection<number>>() {}
 *
 * // Built once the first connection is up; fails (Timeout or Closed) if none comes in 5 s.
 * const AnswerLive = Connection.layer(Answer, {
 *   name: "answer",
 *   acquire: Effect.succeed(42),
 *   awaitConnected: { timeout: "5 seconds" }
 * })
 *
 * const program = Effect.gen(function*() {
 *   const answer = yield* Answer
 *   return yield* answer.get // connected: the layer waited for it
 * }).pipe(Effect.provide(AnswerLive))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export function layer<I, A, E = never, R = never, C = void>(
  tag: Context.Tag<I, Connection<A>>,
  options: Options<A, E, R, C> & { readonly awaitConnected?: false | undefined }
): Layer.Layer<I, InvalidOption, Exclude<R, Scope.Scope>>
export function layer<I, A, E = never, R = never, C = void>(
  tag: Context.Tag<I, Connection<A>>,
  options: Options<A, E, R, C>
): Layer.Layer<I, InvalidOption | Timeout | Closed, Exclude<R, Scope.Scope>>
export function layer<I, A, E, R, C>(
  tag: Context.Tag<I, Connection<A>>,
  options: Options<A, E, R, C>
): Layer.Layer<I, InvalidOption | Timeout | Closed, Exclude<R, Scope.Scope>> {
  return Layer.scoped(tag, make(options))
}
