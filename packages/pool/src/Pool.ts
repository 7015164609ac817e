/**
 * DBConnection's pool as scoped Effects: a fixed number of slots, each a connection that
 * reconnects by its own `Reconnect` policy; a queue that sheds load as DBConnection's does
 * (CoDel); checkouts, runs and transactions; prepared queries and cursors as `Stream`s; idle
 * pings, max lifetime, leak detection, metrics.
 *
 * @example
 * ```ts
 * import { Pool, TestDriver } from "@redial/pool"
 * import { Effect, Stream } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   // the in-memory database of tests; a real driver (e.g. @redial/postgres) is used the same way
 *   const driver = yield* TestDriver.make()
 *   const pool = yield* Pool.make(driver, { size: 10, name: "orders" })
 *   yield* pool.transaction((conn) =>
 *     Effect.gen(function*() {
 *       yield* conn.query("insert into orders values ($1)", [42])
 *       const rows = yield* Stream.runCollect(conn.stream("select * from orders", [], { maxRows: 100 }))
 *       if (rows.length > 1000) return yield* conn.rollback("too many" as const)
 *     })
 *   )
 * }).pipe(Effect.scoped)
 *
 * Effect.runPromise(program)
 * ```
 *
 * @since 0.1.0
 */
import type { Closed, Connection, InvalidOption, Timeout } from "@redial/core"
import type * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import type * as Driver from "./Driver.js"
import * as internal from "./internal/pool.js"
import type { ConnectionBroken, Dropped, RolledBack, StatusMismatch, TransactionRollingBack } from "./PoolError.js"

/**
 * What a call on a held connection can fail with: the driver's errors, `TransactionRollingBack`
 * after an inner transaction failed, `ConnectionBroken` once a call broke the connection (every
 * later call fails with it at once), and `Timeout` (`operation: "hold"`) once the checkout outlived
 * the pool's timeout (the connection was then dropped, as DBConnection does).
 *
 * @since 0.1.0
 * @category errors
 */
export type CallError<T extends Driver.Types> =
  | Driver.Failure<T>
  | TransactionRollingBack
  | ConnectionBroken
  | Timeout

/**
 * What getting a connection can fail with: `Dropped` (load shedding, or `queue: false`),
 * `Timeout` (the deadline passed in the queue), `Closed` (the pool's scope ended), and the
 * driver's `checkout` callback's errors.
 *
 * @since 0.1.0
 * @category errors
 */
export type CheckoutError<T extends Driver.Types> = Dropped | Timeout | Closed | Driver.Failure<T>

/**
 * A connection held by a caller, for as long as its `run`, `transaction` or `checkout` scope
 * lasts. Its methods may be destructured (`({ query }) => query(...)`). Used after that scope
 * ended, a call dies with a message naming the pool: the connection may be someone else's by then.
 *
 * @since 0.1.0
 * @category models
 */
export interface Checkout<T extends Driver.Types> {
  /** The driver's connection. */
  readonly connection: T["connection"]
  /** The pool's name. */
  readonly pool: string
  readonly prepare: (query: T["query"]) => Effect.Effect<T["prepared"], CallError<T>>
  readonly execute: (
    prepared: T["prepared"],
    params?: ReadonlyArray<unknown>
  ) => Effect.Effect<T["result"], CallError<T>>
  readonly close: (prepared: T["prepared"]) => Effect.Effect<void, CallError<T>>
  /** prepare, execute and close in one. */
  readonly query: (query: T["query"], params?: ReadonlyArray<unknown>) => Effect.Effect<T["result"], CallError<T>>
  /**
   * The rows of a query as a `Stream`: prepares, declares a cursor, fetches `maxRows` at a time
   * and deallocates the cursor (and closes the query) when the stream ends, fails, is stopped
   * early or interrupted.
   */
  readonly stream: (
    query: T["query"],
    params: ReadonlyArray<unknown>,
    options: { readonly maxRows: number }
  ) => Stream.Stream<T["row"], CallError<T>>
  /** The driver's transaction status. */
  readonly status: Effect.Effect<Driver.TransactionStatus, CallError<T>>
  /** A sequence of calls on this connection (nested: just `f`). */
  readonly run: <A, E, R>(f: (conn: Checkout<T>) => Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  /**
   * A transaction on this connection. Nested in another, it is a `run` (DBConnection) unless
   * `savepoint: true` and the driver has savepoints: then a failure rolls back to the savepoint
   * only. See {@link Pool.transaction}.
   */
  readonly transaction: <A, E, R>(
    f: (conn: Checkout<T>) => Effect.Effect<A, E, R>,
    options?: { readonly savepoint?: boolean | undefined }
  ) => Effect.Effect<A, E | CallError<T> | RolledBack, R>
  /** Fails the current transaction with `reason` (typed): it rolls back and fails with it. */
  readonly rollback: <E>(reason: E) => Effect.Effect<never, E>
}

/**
 * Counts of the pool right now.
 *
 * @since 0.1.0
 * @category models
 */
export interface Stats {
  readonly size: number
  readonly idle: number
  /** Checked out, or being pinged. */
  readonly busy: number
  /** Slots connecting or waiting to reconnect. */
  readonly connecting: number
  /** Requests waiting for a connection. */
  readonly queued: number
}

/**
 * A pool.
 *
 * @since 0.1.0
 * @category models
 */
export interface Pool<T extends Driver.Types> {
  readonly name: string
  /** Holds one connection for the current scope. */
  readonly checkout: Effect.Effect<Checkout<T>, CheckoutError<T>, Scope.Scope>
  /**
   * Holds one connection while `f` runs (DBConnection's `run`). The connection must come back with
   * the transaction status it went out with (`idle`): otherwise (a raw `BEGIN` never ended) it is
   * disconnected and `run` fails with `StatusMismatch` (when `f` succeeded; `f`'s own failure wins).
   */
  readonly run: <A, E, R>(
    f: (conn: Checkout<T>) => Effect.Effect<A, E, R>
  ) => Effect.Effect<A, E | CheckoutError<T> | StatusMismatch, R>
  /**
   * Begins, runs `f`, commits; rolls back when `f` fails (its error, or `rollback(reason)`'s),
   * dies or is interrupted. If an inner transaction failed while `f` recovered, it still rolls
   * back and fails with `RolledBack`. A connection that broke during the transaction is sent
   * neither COMMIT nor ROLLBACK: the transaction fails (`RolledBack` with reason `ConnectionBroken`
   * when `f` succeeded) and the server aborts it when the connection closes.
   */
  readonly transaction: <A, E, R>(
    f: (conn: Checkout<T>) => Effect.Effect<A, E, R>
  ) => Effect.Effect<A, E | CheckoutError<T> | CallError<T> | RolledBack | StatusMismatch, R>
  /** prepare, execute and close on a connection of the pool. */
  readonly query: (
    query: T["query"],
    params?: ReadonlyArray<unknown>
  ) => Effect.Effect<T["result"], CheckoutError<T> | CallError<T> | StatusMismatch>
  /** {@link Checkout.stream} on a connection held for the stream's life. */
  readonly stream: (
    query: T["query"],
    params: ReadonlyArray<unknown>,
    options: { readonly maxRows: number }
  ) => Stream.Stream<T["row"], CheckoutError<T> | CallError<T>>
  readonly stats: Effect.Effect<Stats>
  /** Drops every connection: idle ones now, busy ones when they are checked in; each slot reconnects. */
  readonly disconnectAll: Effect.Effect<void>
}

/**
 * How to make a pool. Durations as `Duration` inputs.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options<T extends Driver.Types> {
  /** How many connections (slots); default 1, as DBConnection; at most 10,000 (a slot costs ~42 KB). */
  readonly size?: number | undefined
  /** The queue's target wait; default 50 ms. */
  readonly queueTarget?: Duration.DurationInput | undefined
  /** The interval over which the minimum wait is compared with the target; default 2000 ms. */
  readonly queueInterval?: Duration.DurationInput | undefined
  /** Queue requests when no connection is free (default), or drop them at once. */
  readonly queue?: boolean | undefined
  /** The deadline of a request, counted from the request, queue time included; default 15 s. */
  readonly timeout?: Duration.DurationInput | undefined
  /** How often idle connections are pinged; default 1000 ms. */
  readonly idleInterval?: Duration.DurationInput | undefined
  /** How long a ping may take before its connection counts as lost; default the idle interval. */
  readonly pingTimeout?: Duration.DurationInput | undefined
  /**
   * A connection lost sooner than this after it connected counts as a failed attempt, so its slot
   * backs off by the policy instead of reconnecting at once (a server that accepts and resets is
   * not hammered); default 5 s (see core's `Connection` option of the same name).
   */
  readonly minUptime?: Duration.DurationInput | undefined
  /** The reconnect policy of each slot (see `Reconnect`); default random exponential 1 s → 30 s. */
  readonly policy?: Schedule.Schedule<unknown, unknown> | undefined
  /** How long one connect attempt may take; default 15 s. */
  readonly connectTimeout?: Duration.DurationInput | undefined
  readonly config?: T["config"] | undefined
  /** Runs before every connect attempt and returns the config it uses. */
  readonly configure?:
    | ((
      attempt: { readonly attempt: number; readonly slot: number; readonly config: T["config"] }
    ) => Effect.Effect<T["config"], T["error"]>)
    | undefined
  /** Runs on every new connection before it serves; a failure is a failed connect attempt. */
  readonly afterConnect?: ((connection: T["connection"]) => Effect.Effect<void, Driver.Failure<T>>) | undefined
  /** Connections are dropped and replaced after a lifetime drawn in this range (or exactly this). */
  readonly maxLifetime?: Duration.DurationInput | {
    readonly min: Duration.DurationInput
    readonly max: Duration.DurationInput
  } | undefined
  /** A checkout held longer is reported (with where it was taken) and counted. */
  readonly leakTimeout?: Duration.DurationInput | undefined
  /** In every error, log line and metric. Default `"pool"`. */
  readonly name?: string | undefined
  /**
   * Whether `make` (and so the layer) waits until the pool can serve: until at least one slot has
   * a connection in service (not all: one server of several down, or one slot's bad luck, must
   * not keep the pool from starting; the other slots go on connecting). `true` waits as long as
   * `connectTimeout` (15 s unless set); `{ timeout }` as long as that (`Duration.infinity`: until
   * a slot connects or every slot has stopped). Fails with `Timeout` (`kind: "Pool"`, operation
   * `await`, its `cause` the last connect error of any slot, a `ConnectFailed` naming the slot
   * as `name[i]`) or `Closed` (`kind: "Pool"`) when every slot stopped first (fatal error, or
   * the policy gave up); on failure every slot stops, so nothing keeps connecting. Default `false`:
   * the pool is returned at once and requests queue until a slot connects, so a program starts
   * while its database is down (see core's `Connection.AwaitConnected` for the reasoning).
   */
  readonly awaitConnected?: boolean | Connection.AwaitConnected | undefined
}

/**
 * Makes a pool that lives as long as the current scope. Fails with `InvalidOption` for bad
 * options (a size below 1, a zero or negative duration, a lifetime range with min > max).
 * Returns at once, before any slot is connected, unless `awaitConnected` is set: then it waits
 * until one slot serves, and may also fail with `Timeout` or `Closed` (see
 * {@link Options.awaitConnected}).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: {
  <T extends Driver.Types>(
    driver: Driver.Driver<T>,
    options?: Options<T> & { readonly awaitConnected?: false | undefined }
  ): Effect.Effect<Pool<T>, InvalidOption, Scope.Scope>
  <T extends Driver.Types>(
    driver: Driver.Driver<T>,
    options: Options<T>
  ): Effect.Effect<Pool<T>, InvalidOption | Timeout | Closed, Scope.Scope>
} = internal.make

/**
 * A layer that provides a pool under `tag`, closed when the layer is released. With
 * `awaitConnected`, building it waits until the pool can serve (see {@link Options.awaitConnected}).
 *
 * @example
 * ```ts
 * import { Pool, TestDriver } from "@redial/pool"
 * import { Context, Effect, Layer } from "effect"
 *
 * class Db extends Context.Tag("Db")<Db, Pool.Pool<TestDriver.TestTypes>>() {}
 *
 * // TestDriver is the in-memory driver; a real one (e.g. @redial/postgres) is used the same way.
 * const DbLive = Layer.unwrapEffect(Effect.map(TestDriver.make(), (driver) =>
 *   Pool.layer(Db, driver, { size: 10, name: "db", queue: false, awaitConnected: true })))
 *
 * // With `queue: false`, a request finds no free connection unless the layer waited for one.
 * const program = Effect.gen(function*() {
 *   const db = yield* Db
 *   return yield* db.query("select 1")
 * }).pipe(Effect.provide(DbLive))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export function layer<I, T extends Driver.Types>(
  tag: Context.Tag<I, Pool<T>>,
  driver: Driver.Driver<T>,
  options?: Options<T> & { readonly awaitConnected?: false | undefined }
): Layer.Layer<I, InvalidOption>
export function layer<I, T extends Driver.Types>(
  tag: Context.Tag<I, Pool<T>>,
  driver: Driver.Driver<T>,
  options: Options<T>
): Layer.Layer<I, InvalidOption | Timeout | Closed>
export function layer<I, T extends Driver.Types>(
  tag: Context.Tag<I, Pool<T>>,
  driver: Driver.Driver<T>,
  options: Options<T> = {}
): Layer.Layer<I, InvalidOption | Timeout | Closed> {
  return Layer.scoped(tag, make(driver, options))
}
