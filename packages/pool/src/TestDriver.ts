/**
 * An in-memory, scripted database for testing code that uses a pool: a `Driver` that records
 * every callback in order, tracks each connection's transaction status, prepared queries and
 * cursors (so a test can assert that nothing leaked), and lets a test script failures, defects,
 * hangs, delays and connect attempts. Every delay sleeps on `Clock`, so `TestClock` drives it.
 *
 * Queries are strings, with a small dialect:
 * - `"rows:N"`: a cursor over it yields the rows 1..N (any other query yields none);
 * - `"begin"`: executed, it opens a transaction behind the pool's back (a raw `BEGIN`);
 * - `"fail"`: executed, it fails with a `TestDriverError` (and aborts an open transaction);
 * - `"sleep:N"`: executed, it takes N ms (on `Clock`), or fails with `Disconnect` at once when the
 *   connection is killed meanwhile;
 * - anything else: executed, it returns a {@link TestResult} naming the connection, query and params.
 *
 * The driver checks the contract: a call on a released connection, an unknown prepared query or
 * cursor, `begin` inside a transaction or `commit` outside one is recorded in `violations`.
 * It also models an in-order protocol connection (on by default, option `inOrder`): once a
 * callback died or was interrupted mid-call, the connection is desynchronised (a real driver
 * would hand the next caller the previous caller's reply), and every later callback on it but
 * `disconnect` is a violation ("call execute on desynchronised connection 1"). With the option
 * `afterInterrupt` it offers the driver's `afterInterrupt`, as a driver that can stop an
 * interrupted call (a PostgreSQL cancel request): an interrupted connection is back in step once
 * `afterInterrupt` said so. Its `isFatal` calls a connect error fatal when it is marked so
 * (`new TestDriverError({ reason, fatal: true })`).
 *
 * @example
 * ```ts
 * import { Pool, TestDriver } from "@redial/pool"
 * import { Effect } from "effect"
 *
 * // the code under test
 * const countOrders = (pool: Pool.Pool<TestDriver.TestTypes>) => pool.query("select count(*) from orders")
 *
 * const test = Effect.gen(function*() {
 *   const driver = yield* TestDriver.make()
 *   const pool = yield* Pool.make(driver, { size: 2 })
 *   yield* driver.failNext("execute", new TestDriver.TestDriverError({ reason: "relation does not exist" }))
 *   const failed = yield* Effect.either(countOrders(pool))
 *   const statements = yield* TestDriver.statements(driver) // ["prepare 1 select …", "execute 1 select …", "close 1 select …"]
 *   const violations = yield* driver.violations // []
 *   return { failed, statements, violations }
 * }).pipe(Effect.scoped)
 *
 * Effect.runPromise(test).then(console.log)
 * ```
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Option from "effect/Option"
import type * as Driver from "./Driver.js"
import * as internal from "./internal/testDriver.js"

/**
 * The error of the fake database.
 *
 * @since 0.1.0
 * @category errors
 */
export class TestDriverError extends Data.TaggedError("TestDriverError")<{
  readonly reason: string
  /** A connect error no retry can fix: the driver's `isFatal` says so (default false). */
  readonly fatal?: boolean | undefined
}> {
  override get message(): string {
    return `test driver: ${this.reason}`
  }
}

/**
 * A connection of the fake database, numbered from 1 in connect order.
 *
 * @since 0.1.0
 * @category models
 */
export interface TestConnection {
  readonly id: number
}

/**
 * A prepared query.
 *
 * @since 0.1.0
 * @category models
 */
export interface TestPrepared {
  readonly id: number
  readonly query: string
}

/**
 * The result of `execute`: what ran, where.
 *
 * @since 0.1.0
 * @category models
 */
export interface TestResult {
  readonly connection: number
  readonly query: string
  readonly params: ReadonlyArray<unknown>
}

/**
 * A cursor.
 *
 * @since 0.1.0
 * @category models
 */
export interface TestCursor {
  readonly id: number
}

/**
 * The driver's types: queries are strings, rows are numbers.
 *
 * @since 0.1.0
 * @category models
 */
export interface TestTypes extends Driver.Types {
  readonly connection: TestConnection
  readonly query: string
  readonly prepared: TestPrepared
  readonly result: TestResult
  readonly row: number
  readonly cursor: TestCursor
  readonly error: TestDriverError
  readonly config: unknown
}

/**
 * The callbacks a test can script (`savepoint`, `release` and `rollbackTo` are the savepoint ones).
 *
 * @since 0.1.0
 * @category models
 */
export type Callback =
  | "checkout"
  | "checkin"
  | "ping"
  | "begin"
  | "commit"
  | "rollback"
  | "status"
  | "prepare"
  | "execute"
  | "close"
  | "declare"
  | "fetch"
  | "deallocate"
  | "savepoint"
  | "release"
  | "rollbackTo"

/**
 * What one connect attempt does (the shape of `@redial/testing`'s `TestConnector.Step`):
 * connect, fail with a `TestDriverError`, hang, wait then do another step, or die.
 *
 * @since 0.1.0
 * @category models
 */
export type ConnectStep =
  | { readonly _tag: "Succeed" }
  | { readonly _tag: "Fail"; readonly error: TestDriverError }
  | { readonly _tag: "Hang" }
  | { readonly _tag: "Delay"; readonly duration: Duration.DurationInput; readonly then: ConnectStep }
  | { readonly _tag: "Die"; readonly defect: unknown }

/**
 * What one call of `afterInterrupt` does: answer (after its connection was interrupted, `true`
 * puts it back in step, `false` leaves it desynchronised), die, hang until interrupted, or wait
 * then do another step. Anything but answering `true` leaves the connection desynchronised.
 *
 * @since 0.1.0
 * @category models
 */
export type AfterInterruptStep =
  | { readonly _tag: "Answer"; readonly recovered: boolean }
  | { readonly _tag: "Die"; readonly defect: unknown }
  | { readonly _tag: "Hang" }
  | { readonly _tag: "Delay"; readonly duration: Duration.DurationInput; readonly then: AfterInterruptStep }

/**
 * How to make a fake database.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Offer `savepoints` (default false). */
  readonly savepoints?: boolean | undefined
  /** The connect attempts, in order; then `connectOtherwise` (default: succeed). */
  readonly connectScript?: ReadonlyArray<ConnectStep> | undefined
  readonly connectOtherwise?: ConnectStep | undefined
  /** Offer `lost`, which completes when a connection is killed (default false). */
  readonly reportsLoss?: boolean | undefined
  /** A delay (on `Clock`) before every call of a callback. */
  readonly delays?: Partial<Record<Callback, Duration.DurationInput>> | undefined
  /**
   * Model an in-order protocol (default true): after a callback died or was interrupted mid-call,
   * every later callback on that connection but `disconnect` is a violation.
   */
  readonly inOrder?: boolean | undefined
  /**
   * Offer the driver's `afterInterrupt` (default: not offered). `true`: a driver that stops an
   * interrupted call cleanly; `afterInterrupt` answers `true` (`false` for a killed connection)
   * and the interrupted connection is back in step; until it answered, any callback on it is a
   * violation. `false`: a driver that cannot; `afterInterrupt` answers `false` and the connection
   * stays desynchronised. `scriptAfterInterrupt` overrides the next answers. Asking about a
   * connection already disconnected or released is a violation.
   */
  readonly afterInterrupt?: boolean | undefined
}

/**
 * The fake database: a `Driver` and the controls of a test.
 *
 * @since 0.1.0
 * @category models
 */
export interface TestDriver extends Driver.Driver<TestTypes> {
  /**
   * Every callback in call order: "connect 1", "begin 1", "execute 1 q", "afterInterrupt 1 true",
   * "disconnect 1", "released 1"…
   */
  readonly log: Effect.Effect<ReadonlyArray<string>>
  /** Empties the log. */
  readonly clearLog: Effect.Effect<void>
  /**
   * The next call of `callback` not scripted yet fails with `error` (called twice: the next two
   * calls fail). A `Disconnect` also breaks the connection, as a dead socket would: every later
   * call on it fails with `Disconnect` too.
   */
  readonly failNext: (callback: Callback, error: TestDriverError | Driver.Disconnect) => Effect.Effect<void>
  /** The `n`-th call of `callback` from now (1: the next) fails with `error`. */
  readonly failAt: (callback: Callback, n: number, error: TestDriverError | Driver.Disconnect) => Effect.Effect<void>
  /** The next call of `callback` not scripted yet dies with `defect` (and desynchronises its connection). */
  readonly dieNext: (callback: Callback, defect: unknown) => Effect.Effect<void>
  /**
   * The next call of `callback` not scripted yet never answers: it waits until its connection is
   * killed or released (then fails with `Disconnect`), or until its fiber is interrupted (which
   * desynchronises the connection).
   */
  readonly hangNext: (callback: Callback) => Effect.Effect<void>
  /** Every later call of `callback` first sleeps `duration` (on `Clock`); `undefined` removes it. */
  readonly delay: (callback: Callback, duration: Duration.DurationInput | undefined) => Effect.Effect<void>
  /** Replaces the remaining connect script. */
  readonly scriptConnect: (...steps: ReadonlyArray<ConnectStep>) => Effect.Effect<void>
  /** Sets the step used once the connect script is empty. */
  readonly connectOtherwise: (step: ConnectStep) => Effect.Effect<void>
  /** The next calls of `afterInterrupt` (when offered), in order; then the option's answer. */
  readonly scriptAfterInterrupt: (...steps: ReadonlyArray<AfterInterruptStep>) => Effect.Effect<void>
  /**
   * Breaks a connection, as a dead socket would: every later call on it fails with `Disconnect`,
   * a hanging call or a `"sleep:N"` query in flight fails at once; `lost` (if offered) completes.
   */
  readonly kill: (id: number) => Effect.Effect<void>
  /** How many connect attempts started. */
  readonly connectAttempts: Effect.Effect<number>
  /** The ids of the connections not released yet. */
  readonly connections: Effect.Effect<ReadonlyArray<number>>
  /** How many connections are not released yet. */
  readonly openConnections: Effect.Effect<number>
  /** Prepared queries not closed, over the open connections. */
  readonly openPrepared: Effect.Effect<number>
  /** Cursors not deallocated, over the open connections. */
  readonly openCursors: Effect.Effect<number>
  /** A connection's transaction status (none once released). */
  readonly transactionStatus: (id: number) => Effect.Effect<Option.Option<Driver.TransactionStatus>>
  /** A connection's savepoints, oldest first. */
  readonly savepointStack: (id: number) => Effect.Effect<ReadonlyArray<string>>
  /**
   * Whether a callback on the connection died or was interrupted mid-call (and, with
   * `afterInterrupt`, was not recovered).
   */
  readonly desynchronised: (id: number) => Effect.Effect<boolean>
  /** Misuses of the driver contract seen so far (empty: the contract was kept). */
  readonly violations: Effect.Effect<ReadonlyArray<string>>
}

/**
 * Makes a fake database.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: (options?: Options) => Effect.Effect<TestDriver> = internal.make

/**
 * The log without connects, pings, checkouts, checkins and disconnects: what ran on the database.
 *
 * @since 0.1.0
 * @category utils
 */
export const statements: (driver: TestDriver) => Effect.Effect<ReadonlyArray<string>> = internal.statements

/**
 * Waits (letting other fibers run, without moving the clock) until the pool has `idle` idle
 * connections; dies after `rounds` rounds of yields (default 100).
 *
 * @since 0.1.0
 * @category utils
 */
export const awaitIdle: (
  pool: { readonly stats: Effect.Effect<{ readonly idle: number }> },
  idle: number,
  rounds?: number
) => Effect.Effect<void> = internal.awaitIdle
