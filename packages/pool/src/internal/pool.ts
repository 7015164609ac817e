/**
 * The pool, wired from its parts (each DBConnection behaviour lives in one file of `pool/`):
 *
 * - `options.ts`: the options, decoded once;
 * - `state.ts`: the pool's state — slots with one `state` each, the idle index, the queue;
 * - `slot.ts`: a slot's state machine, its connection manager and fiber;
 * - `codel.ts`: DBConnection's load shedding, as pure decisions;
 * - `waitQueue.ts`: the requests waiting for a connection;
 * - `checkout.ts`: checking out and in, and every call on a held connection;
 * - `transaction.ts` and `cursor.ts`: transactions and streams on a held connection;
 * - `timer.ts`: one alarm for every deadline, the poll and the idle pings;
 * - `metrics.ts`.
 *
 * @internal
 */
import { Alarm, type Closed, ConnectFailed, Connection, InvalidOption, Reconnect, Timeout } from "@redial/core"
import * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as FiberSet from "effect/FiberSet"
import * as Metric from "effect/Metric"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Driver from "../Driver.js"
import type * as Pool from "../Pool.js"
import * as Checkout from "./pool/checkout.js"
import * as Codel from "./pool/codel.js"
import { Fifo } from "./pool/fifo.js"
import * as Metrics from "./pool/metrics.js"
import { settings } from "./pool/options.js"
import * as Slot from "./pool/slot.js"
import type { PoolState, Slot as SlotT } from "./pool/state.js"
import * as Timer from "./pool/timer.js"
import { WaitQueue } from "./pool/waitQueue.js"

/** @internal */
export const metrics = Metrics.metrics

/** A connect attempt that died or was interrupted is a failed attempt like any other: the slot backs off. */
const asFailure = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, unknown, R> =>
  Effect.catchAllCause(effect, (cause) => Effect.fail(Cause.squash(cause)))

/** One slot's connection manager: the driver's connect, the pool's policy and hooks. */
const manager = <T extends Driver.Types>(
  pool: PoolState<T>,
  options: Pool.Options<T>,
  index: number,
  slot: () => SlotT<T> | undefined
) => {
  const { driver } = pool
  const { afterConnect, configure } = options
  const lost = driver.lost
  const name = `${pool.name}[${index}]`
  // The attempt being made, so that the policy (stepped with every failed attempt's error, the
  // connect timeout's included) can record the pool's last connect error.
  let attemptNumber = 0
  // The typed error of this attempt (its `configure`'s, `connect`'s or `afterConnect`'s): the only
  // errors the driver's `isFatal` judges. Core also asks about its connect timeout's `Timeout`, and
  // the pool makes a defect or an interruption an attempt's error (`asFailure`): none is a
  // `T["error"]`, and none is fatal.
  let attemptError: { readonly error: unknown } | undefined
  const typed = <A, R>(effect: Effect.Effect<A, Driver.Failure<T>, R>): Effect.Effect<A, Driver.Failure<T>, R> =>
    Effect.tapError(effect, (error) =>
      Effect.sync(() => {
        if (!(error instanceof Driver.Disconnect)) attemptError = { error }
      }))
  const isFatal = driver.isFatal
  const policy = Schedule.tapInput(
    options.policy ?? Reconnect.defaultPolicy,
    (cause: unknown) =>
      Effect.sync(() => {
        pool.lastConnectError = new ConnectFailed({ connection: name, attempt: attemptNumber, cause })
      })
  )
  return Connection.make<T["connection"], unknown, never, T["config"]>({
    name,
    config: options.config as T["config"],
    ...(configure
      ? {
        configure: ({ attempt, config }: Connection.Attempt<T["config"]>) => {
          attemptNumber = attempt
          attemptError = undefined
          return asFailure(typed(configure({ attempt, slot: index, config })))
        }
      }
      : {}),
    acquire: (attempt) => {
      attemptNumber = attempt.attempt
      attemptError = undefined
      return asFailure(typed(driver.connect(attempt)))
    },
    // The driver's loss takes the connection out of service; the slot's fiber disconnects it and
    // then tells the manager (so `disconnect` always runs before the connection's scope closes).
    ...(lost
      ? {
        lost: (conn: T["connection"]) =>
          Effect.zipRight(
            lost(conn),
            Effect.suspend(() => {
              const current = slot()
              const live = current && Slot.liveOf(current.state)
              // Not in service (not yet, or being disconnected): the manager drops it itself.
              if (current === undefined || live === undefined || live.connection !== conn) return Effect.void
              const state = current.state
              if (state._tag === "Held") Checkout.breakWith(state, { reason: "Lost", cause: "connection lost" })
              else Slot.retire(pool, current, live, "connection lost")
              return Effect.never
            })
          )
      }
      : {}),
    ...(afterConnect
      ? {
        // A failed afterConnect is a failed attempt; the driver's disconnect runs before the scope closes.
        afterConnect: (conn: T["connection"]) =>
          asFailure(typed(afterConnect(conn))).pipe(
            Effect.tapError((cause) => driver.disconnect ? driver.disconnect(conn, cause) : Effect.void)
          )
      }
      : {}),
    policy,
    ...(isFatal
      ? {
        isFatal: (error: unknown) => {
          // (compared unwrapped: an error failed again inside a span is a proxy of itself)
          const own = attemptError !== undefined &&
            Cause.originalError(attemptError.error) === Cause.originalError(error)
          if (!own || !isFatal(error as T["error"])) return false
          // The policy, which records the last connect error, is not stepped with a fatal one.
          pool.lastConnectError = new ConnectFailed({ connection: name, attempt: attemptNumber, cause: error })
          return true
        }
      }
      : {}),
    ...(options.connectTimeout === undefined ? {} : { connectTimeout: options.connectTimeout }),
    ...(options.minUptime === undefined ? {} : { minUptime: options.minUptime })
  })
}

/** @internal */
export function make<T extends Driver.Types>(
  driver: Driver.Driver<T>,
  options?: Pool.Options<T> & { readonly awaitConnected?: false | undefined }
): Effect.Effect<Pool.Pool<T>, InvalidOption, Scope.Scope>
/** @internal */
export function make<T extends Driver.Types>(
  driver: Driver.Driver<T>,
  options: Pool.Options<T>
): Effect.Effect<Pool.Pool<T>, InvalidOption | Timeout | Closed, Scope.Scope>
export function make<T extends Driver.Types>(
  driver: Driver.Driver<T>,
  options: Pool.Options<T> = {}
): Effect.Effect<Pool.Pool<T>, InvalidOption | Timeout | Closed, Scope.Scope> {
  return Effect.gen(function*() {
    const s = yield* Effect.try({
      try: () => settings(options),
      catch: (error) =>
        error instanceof InvalidOption
          ? error
          : new InvalidOption({ option: "options", reason: "Invalid", detail: String(error) })
    })
    const name = s.name
    const clock = yield* Effect.clock
    const now = clock.unsafeCurrentTimeMillis()
    const fork = yield* FiberSet.makeRuntime<never, void, never>()
    const pool: PoolState<T> = {
      settings: s,
      name,
      driver,
      clock,
      metrics: Metrics.tagged(name),
      slots: [],
      idle: new Fifo(),
      queue: new WaitQueue(),
      codel: Codel.make(s.target, s.interval, now),
      alarm: { wakeBy: () => {} },
      idleAt: now + s.idleInterval,
      idleSince: now,
      generation: 0,
      closed: false,
      lastConnectError: undefined,
      up: yield* Deferred.make<void, Closed>(),
      fork: (effect) => void fork(effect)
    }
    pool.alarm = yield* Alarm.make((time) => Timer.fire(pool, time))
    pool.alarm.wakeBy(Math.min(pool.idleAt, pool.codel.poll))

    for (let index = 0; index < s.size; index++) {
      const made: { slot?: SlotT<T> } = {}
      const slot: SlotT<T> = {
        index,
        manager: yield* manager(pool, options, index, () => made.slot),
        state: { _tag: "Connecting" }
      }
      made.slot = slot
      pool.slots.push(slot)
      yield* Effect.forkScoped(Slot.run(pool, slot))
    }
    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        pool.closed = true
        const error = Slot.closedError(name)
        for (const waiter of pool.queue.drain()) waiter.resume(Effect.fail(error))
      })
    )

    // As `Effect.acquireRelease(acquire, checkin)`, without its save and restore of the fiber's
    // refs around the release (most of a transaction's cost in the pool): the checkout and its
    // finalizer are made in one uninterruptible step.
    const scoped = Effect.flatMap(Effect.scope, (scope) =>
      Effect.uninterruptibleMask((restore) =>
        Effect.tap(
          Checkout.acquire(pool, restore),
          (co) => Scope.addFinalizer(scope, Checkout.logMismatch(Checkout.checkin(co)))
        )
      ))

    // The path every `run`, `transaction` and `query` takes, in as few Effect steps as it can: an
    // idle connection is taken, used and given back without a wait or an extra suspension.
    const run = <A, E, R>(f: (conn: Pool.Checkout<T>) => Effect.Effect<A, E, R>) =>
      Effect.uninterruptibleMask((restore) => {
        if (driver.checkout === undefined && !pool.closed) {
          const idle = Slot.takeIdle(pool)
          if (idle !== undefined) {
            pool.metrics.wait.unsafeUpdate(0, [])
            return Checkout.use(Checkout.hold(pool, idle.slot, idle.live, clock.unsafeCurrentTimeMillis()), restore, f)
          }
        }
        return Effect.flatMap(Checkout.acquire(pool, restore), (co) => Checkout.use(co, restore, f))
      })

    const self: Pool.Pool<T> = {
      name,
      checkout: scoped,
      run,
      transaction: (f) => run((conn) => conn.transaction(f)),
      query: (q, params) => run((conn) => conn.query(q, params)),
      stream: (q, params, streamOptions) =>
        Stream.unwrapScoped(Effect.map(scoped, (co) => co.stream(q, params, streamOptions))),
      stats: Effect.sync(() => Timer.statsOf(pool)),
      disconnectAll: Effect.sync(() => {
        pool.generation += 1
        for (const slot of pool.slots) {
          const state = slot.state
          if (state._tag === "Idle") Slot.retire(pool, slot, state.live, "disconnectAll")
        }
      })
    }
    yield* Metric.set(pool.metrics.size, s.size)

    // awaitConnected: until a slot serves; on failure every slot stops, so nothing keeps connecting.
    const first = s.awaitConnected
    if (first !== undefined) {
      const duration = Duration.millis(first)
      yield* Deferred.await(pool.up).pipe(
        Number.isFinite(first)
          ? Effect.timeoutFail({
            duration,
            onTimeout: () =>
              new Timeout({
                connection: name,
                kind: "Pool",
                operation: "await",
                duration,
                cause: pool.lastConnectError
              })
          })
          : (wait) => wait,
        Effect.tapError(() =>
          Effect.suspend(() => {
            pool.closed = true
            return Effect.forEach(pool.slots, (slot) => slot.manager.close, { discard: true })
          })
        )
      )
    }
    return self
  })
}
