/**
 * Electric's connection manager (`Electric.Connection.Manager`) for Effect: one instance of a
 * service active at a time, by an exclusive PostgreSQL advisory lock.
 *
 * - **The lock**: a dedicated connection runs `SELECT pg_advisory_lock(hashtext(name))`, which
 *   blocks while another session holds it (the manager is `Waiting` and logs so every 10 s), and
 *   holds it for as long as the connection lives.
 * - **Then the pool**: once the lock is held (`Starting`), the manager reads the server's
 *   `server_version_num` and starts a {@link PgPool} on the same connect options; when the pool
 *   serves, the manager is `Active` and starts `onActive` (what the service runs while it is the
 *   active instance: a replication stream, a LISTEN connection, workers…) with the pool.
 * - **Losing the lock**: when the lock connection dies (the server restarted, the backend was
 *   terminated, the network broke) the lock is gone, so the manager is `Waiting` at once, stops
 *   `onActive`, closes the pool and the lock connection, and starts over: two instances never run
 *   `Active` at once. A session that lasted `minUptime` starts over at once; one that did not
 *   counts as a failed attempt and backs off. The server releases the lock only when the lock's
 *   backend ends, and a manager learns that its connection is gone from its socket at once, or,
 *   on a network gone silent, from its `healthCheck` (40 s at most by default): keep that shorter
 *   than the time the server takes to drop a silent client (its `tcp_keepalives_*` settings), so
 *   that a manager cut off from the server stops before another one can take the lock.
 * - **Fallbacks from the server's answer**, each logged once and kept from then on: a server that
 *   does not support SSL is connected to without it (unless `sslmode` is `require` / `verify-*` or
 *   a CA is given); with `family: 6`, a host that does not resolve over IPv6 or an unreachable
 *   IPv6 network is connected to over IPv4.
 * - **Errors**: a fatal one (`PgError.fatal`: bad password, no such database, a certificate that
 *   does not verify …) closes the manager with that error (`Closed`, reason `FatalError`); any other
 *   backs off by the `policy` (Electric's {@link electricPolicy} by default) and tries again.
 *
 * @example
 * ```ts
 * import { PgManager } from "@redial/postgres"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const manager = yield* PgManager.make({
 *     name: "example-manager",
 *     connect: { host: "127.0.0.1", database: "test", user: "postgres", applicationName: "example-manager" },
 *     pool: { size: 2 }
 *   })
 *   const pool = yield* manager.awaitActive({ timeout: "10 seconds" })
 *   const { rows } = yield* pool.query("select 1 + 1 as two")
 *   console.log(rows, yield* manager.serverVersion) // [ { two: 2 } ] 150020
 * }).pipe(Effect.scoped)
 *
 * Effect.runPromise(program)
 * ```
 *
 * @since 0.1.0
 */
import type { Closed, InvalidOption, Timeout } from "@redial/core"
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import * as internal from "./internal/manager.js"
import * as status from "./internal/managerStatus.js"
import type * as PgDriver from "./PgDriver.js"
import type * as PgListen from "./PgListen.js"
import type * as PgPool from "./PgPool.js"

/**
 * The status of a manager:
 *
 * - `Waiting`: the exclusive lock is not held: connecting to take it, blocked while another
 *   session holds it, or backing off after a failed attempt;
 * - `Starting`: the lock is held and the pool is starting;
 * - `Active`: the lock is held and the pool serves; `onActive` runs;
 * - `Closed`: not running. `reason` says why: `FatalError` (its `error` is the `PgError`, or the
 *   `InvalidOption` of a bad pool option), `PolicyExhausted` (the policy gave up; `error` is the
 *   last error when it is a `PgError`), `UserClosed` (`close`) or `ScopeClosed`.
 *
 * @since 0.1.0
 * @category models
 */
export type Status = status.Status

/**
 * Constructors and matchers of {@link Status} (`Status.Waiting()`, `Status.$is("Active")(s)`).
 *
 * @since 0.1.0
 * @category models
 */
export const Status = status.Status

/**
 * What a manager cannot give yet: the `pool` (before `Active`) or the `serverVersion` (before the
 * lock was first held). Carries the current `status` and the last failed attempt (`lastError`, a
 * `ConnectFailed` whose `cause` is the `PgError`), if any. `awaitActive` waits instead.
 *
 * @since 0.1.0
 * @category errors
 */
export type NotReady = status.NotReady

/**
 * The class of {@link NotReady} errors (`error instanceof PgManager.NotReady`).
 *
 * @since 0.1.0
 * @category errors
 */
export const NotReady: typeof status.NotReady = status.NotReady

/**
 * Electric's reconnect policy: no jitter, 2 s doubling to 10 s (2000, 4000, 8000, 10000,
 * 10000 … ms), as `:backoff.init(1000, 10_000)` whose first `fail` already doubles. The default.
 *
 * @example
 * ```ts
 * import { Reconnect } from "@redial/core"
 * import { PgManager } from "@redial/postgres"
 * import { Duration, Effect } from "effect"
 *
 * Effect.runPromise(Reconnect.delays(PgManager.electricPolicy, 5)).then((ds) =>
 *   console.log(ds.map(Duration.toMillis)) // [ 2000, 4000, 8000, 10000, 10000 ]
 * )
 * ```
 *
 * @since 0.1.0
 * @category policies
 */
export const electricPolicy: Schedule.Schedule<Duration.Duration> = internal.electricPolicy

/**
 * How to make a manager.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options<E = never, R = never> {
  /**
   * The lock's name: the manager holds `pg_advisory_lock(hashtext(name))`, so every instance of
   * one service must use the same name (Electric uses its replication slot's). Also the name in
   * logs and errors, and the pool's default name.
   */
  readonly name: string
  /**
   * Where and how to connect, for the lock connection and the pool. `sslmode` unset means
   * `prefer`: TLS when the server has it (not verified), plain when it answers that it has none
   * (as Electric; the plain connection is then kept, see the module's doc). With a `tls.ca` and
   * `sslmode` unset or `prefer`, it means `require` verified with that CA: never plain.
   * `family: 6` is Electric's `ipv6: true`.
   */
  readonly connect: PgDriver.ConnectOptions
  /**
   * The pool started once the lock is held: every `PgPool.Options` but `connect` (the manager's,
   * after its fallbacks) and `awaitConnected` (the manager waits until the pool serves). Its
   * `name` defaults to the manager's, its `policy` to the manager's `policy`, its
   * `connectTimeout` to the manager's.
   */
  readonly pool?: Omit<PgPool.Options, "connect" | "awaitConnected"> | undefined
  /**
   * The reconnect policy, stepped with the error of every failed attempt (a connect error, an
   * error of the lock query, a session lost before `minUptime`). Default {@link electricPolicy}.
   * When it gives up, the manager closes (`PolicyExhausted`).
   */
  readonly policy?: Schedule.Schedule<unknown, unknown> | undefined
  /**
   * How long the lock connection's connect (TCP, TLS, startup) may take; default 15 s. The wait
   * for the lock itself has no limit.
   */
  readonly connectTimeout?: Duration.DurationInput | undefined
  /**
   * How long a session must stay `Active` to count as a success (default 5 s): one lost sooner
   * counts as a failed attempt and the policy's delay applies; one that lasted restarts the
   * policy and starts over at once.
   */
  readonly minUptime?: Duration.DurationInput | undefined
  /**
   * A `SELECT 1` on the lock connection every `interval` (default 30 s) answered within
   * `timeout` (default 10 s; the `interval` when only that is given) once the lock is held, or
   * the lock connection is taken for lost
   * (back to `Waiting`); `false` turns it off. The lock connection sends nothing while it holds
   * the lock, so without it a silently broken network (a black hole, a NAT that forgot the
   * connection) would leave the manager `Active` until the OS gives up on the socket.
   */
  readonly healthCheck?:
    | { readonly interval: Duration.DurationInput; readonly timeout?: Duration.DurationInput | undefined }
    | false
    | undefined
  /**
   * The listener behind {@link PgManager.listen}: every `PgListen.Options` but `connect` (the
   * manager's). Its `name` defaults to the manager's with `-listen`, its `connectTimeout` to the
   * manager's.
   */
  readonly listen?: Omit<PgListen.Options, "connect"> | undefined
  /**
   * What runs while the manager is `Active`, with its pool: started each time the manager
   * becomes `Active`, in a scope that is closed (interrupting it, and releasing what it acquired)
   * as soon as the manager leaves `Active`, before the pool closes. It may return at once after
   * forking work into its scope, or run for as long as it is active. A failure (or defect) is
   * logged and ends the session as a lost lock does: the manager starts over (after the policy's
   * delay when it failed before `minUptime`).
   */
  readonly onActive?: ((pool: PgPool.PgPool) => Effect.Effect<unknown, E, R | Scope.Scope>) | undefined
}

/**
 * A manager.
 *
 * @since 0.1.0
 * @category models
 */
export interface PgManager {
  /** The lock's name. */
  readonly name: string
  /** The current status. */
  readonly status: Effect.Effect<Status>
  /**
   * The current status, then every change, in order (a status is published once, when it
   * changes). Ends after `Closed` with reason `ScopeClosed`.
   */
  readonly changes: Stream.Stream<Status>
  /**
   * Waits until the manager is `Active`, then succeeds with its pool (at once when it is active).
   * Fails with `Closed` when the manager is or becomes closed, and with `Timeout` (operation
   * `await`, its `cause` the last failed attempt) when a `timeout` is given and passes first.
   * An interrupted waiter leaves nothing behind.
   */
  awaitActive(options?: { readonly timeout?: undefined }): Effect.Effect<PgPool.PgPool, Closed>
  awaitActive(options: { readonly timeout: Duration.DurationInput }): Effect.Effect<PgPool.PgPool, Closed | Timeout>
  /**
   * The pool now, never waiting: fails with {@link NotReady} unless `Active`, and with `Closed`
   * once closed. The pool is closed when the manager leaves `Active`: its calls then fail with
   * the pool's `Closed`; take the next one from `awaitActive`.
   */
  readonly pool: Effect.Effect<PgPool.PgPool, NotReady | Closed>
  /**
   * The server's `server_version_num` (e.g. `150020` for 15.20), read on the lock connection
   * each time the lock is taken, and known from the first time on (also while `Waiting` again
   * later). Before that it fails with {@link NotReady} (with `Closed` when the manager closed
   * before it ever held the lock).
   */
  readonly serverVersion: Effect.Effect<number, NotReady | Closed>
  /**
   * The notifications of `channel` (`PgListen.listen`), on a connection of their own that
   * reconnects and issues `LISTEN` again (made on the first call, with the manager's connect
   * options and its `listen` options; closed with the manager's scope). It does not need the
   * lock: every instance, active or waiting, receives the notifications.
   */
  listen(channel: string, options?: PgListen.StreamOptions): Stream.Stream<PgListen.Notification, PgListen.ListenError>
  /**
   * Stops the manager: `onActive`, the pool and the lock connection are released (the lock with
   * it), the status becomes `Closed` (`UserClosed`) and `awaitActive` waiters fail with `Closed`.
   */
  readonly close: Effect.Effect<void>
  /**
   * Starts a closed manager again (after `close`, a fatal error or the policy giving up); does
   * nothing while it runs. Fails with `Closed` once the manager's scope has ended.
   */
  readonly connect: Effect.Effect<void, Closed>
}

/**
 * The service tag of a manager provided by {@link layer}.
 *
 * @since 0.1.0
 * @category tags
 */
export const PgManager: Context.Tag<PgManager, PgManager> = Context.GenericTag<PgManager>(
  "@redial/postgres/PgManager"
)

/**
 * Makes a manager that runs for the current scope. Returns at once (status `Waiting`), before the
 * lock is taken; `awaitActive` waits for it. Fails with `InvalidOption` for an empty `name`, a
 * zero or negative `connectTimeout`, or a negative `minUptime` (the pool's options are checked
 * when the pool starts: a bad one closes the manager with `FatalError` and that error). When the
 * scope ends, `onActive`, the pool and the lock connection are released, in that order.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: <E = never, R = never>(
  options: Options<E, R>
) => Effect.Effect<PgManager, InvalidOption, Scope.Scope | Exclude<R, Scope.Scope>> = internal.make

/**
 * A layer that provides {@link PgManager}, stopped when the layer is released. Built at once;
 * use `awaitActive` to wait for the lock and the pool.
 *
 * @example
 * ```ts
 * import { PgManager } from "@redial/postgres"
 * import { Effect } from "effect"
 *
 * const ManagerLive = PgManager.layer({
 *   name: "example-layer",
 *   connect: { host: "127.0.0.1", database: "test", user: "postgres", applicationName: "example-layer" },
 *   // runs while this instance holds the lock, stopped when it loses it
 *   onActive: (pool) => Effect.flatMap(pool.query("select pg_backend_pid() as pid"), ({ rows }) =>
 *     Effect.log(`active on backend ${rows[0]?.["pid"]}`))
 * })
 *
 * const program = Effect.gen(function*() {
 *   const manager = yield* PgManager.PgManager
 *   yield* manager.awaitActive({ timeout: "10 seconds" })
 *   console.log(yield* manager.status) // { _tag: "Active" }
 * })
 *
 * Effect.runPromise(Effect.provide(program, ManagerLive))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = <E = never, R = never>(
  options: Options<E, R>
): Layer.Layer<PgManager, InvalidOption, Exclude<R, Scope.Scope>> => Layer.scoped(PgManager, make(options))
