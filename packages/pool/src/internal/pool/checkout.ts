/**
 * Checking a connection out and in, and every call on a held one. A checkout is one object: its
 * state (`CheckoutState`, also the held slot's state) and the public `Pool.Checkout` methods, which
 * live on the prototype and are bound the first time they are read (so `({ query }) => …` works).
 *
 * A call that reports `Disconnect`, dies or is interrupted before it returns leaves the connection
 * in an unknown state (an in-order protocol would hand the next caller this caller's reply): the
 * connection is taken out of service at once and every later call on the checkout fails with
 * `ConnectionBroken` without reaching the driver. An interrupted call is the exception when the
 * driver's `afterInterrupt` says it stopped the call cleanly.
 *
 * @internal
 */
import { Timeout } from "@redial/core"
import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import type * as Stream from "effect/Stream"
import * as Driver from "../../Driver.js"
import type * as Pool from "../../Pool.js"
import { ConnectionBroken, Dropped, StatusMismatch, TransactionRollingBack } from "../../PoolError.js"
import * as Cursor from "./cursor.js"
import * as Slot from "./slot.js"
import type {
  Broken,
  CheckoutState,
  Cursor as OpenCursor,
  Live,
  PoolState,
  PoolWaiter,
  Slot as SlotT
} from "./state.js"
import * as Transaction from "./transaction.js"

/** @internal */
export type Restore = <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>

// ---------------------------------------------------------------------------------------------
// Broken connections
// ---------------------------------------------------------------------------------------------

/** The error of every call on a checkout whose connection is gone. @internal */
export const brokenError = <T extends Driver.Types>(co: CheckoutState<T>, broken: Broken): Timeout | ConnectionBroken =>
  broken.reason === "Timeout"
    ? new Timeout({
      connection: co.owner.name,
      operation: "hold",
      duration: Duration.millis(co.owner.settings.timeout)
    })
    : new ConnectionBroken({ pool: co.owner.name, reason: broken.reason, cause: broken.cause })

/**
 * Marks a checkout's connection broken (once) and takes it out of service at once: the slot's fiber
 * disconnects it with the cause and the slot reconnects.
 *
 * @internal
 */
export const breakWith = <T extends Driver.Types>(co: CheckoutState<T>, broken: Broken): void => {
  if (co.broken !== undefined) return
  co.broken = broken
  co.owner.metrics.broken.unsafeUpdate(1, [])
  Slot.retire(co.owner, co.slot, co.live, broken.cause)
}

const isDisconnect = (error: unknown): error is Driver.Disconnect => error instanceof Driver.Disconnect

/**
 * Runs one driver callback on a held connection, watching how it ends: a `Disconnect`, a defect
 * or an interruption breaks the connection; a failure of a call the pool cut (the checkout was held
 * past the timeout, or the connection was lost) fails with the checkout's own error instead of the
 * driver's. Checks nothing first (see `call`).
 *
 * @internal
 */
export const invoke = <T extends Driver.Types, A>(
  co: CheckoutState<T>,
  effect: Effect.Effect<A, Driver.Failure<T>>
): Effect.Effect<A, Pool.CallError<T>> =>
  Effect.uninterruptibleMask((restore) => {
    co.used = true
    return Effect.matchCauseEffect(restore(effect), {
      onFailure: (cause): Effect.Effect<never, Pool.CallError<T>> => {
        const cut = co.broken
        const afterInterrupt = co.owner.driver.afterInterrupt
        // Interrupted, and the driver says it stopped the call cleanly: the connection stays.
        if (afterInterrupt !== undefined && cut === undefined && Cause.isInterruptedOnly(cause)) {
          return Effect.flatMap(recovered(co, afterInterrupt), (ok) => {
            if (!ok) noteFailure(co, cause)
            return Effect.failCause(cause)
          })
        }
        noteFailure(co, cause)
        // Cut by the pool under the call (held past the timeout, lost): say why, not what the socket said.
        return cut !== undefined && Option.isSome(Cause.failureOption(cause))
          ? Effect.fail(brokenError(co, cut))
          : Effect.failCause(cause)
      },
      onSuccess: Effect.succeed
    })
  })

/**
 * The driver's `afterInterrupt`: did it stop the interrupted call cleanly? The interrupted caller
 * waits for the answer, so it is bounded by the pool's timeout; it runs interruptibly (in the
 * timeout's own fiber, out of reach of the caller's interruption) so that the timeout can stop it.
 * No answer in time, or a defect, is a "no": the connection's state is unknown.
 */
const recovered = <T extends Driver.Types>(
  co: CheckoutState<T>,
  afterInterrupt: (connection: T["connection"]) => Effect.Effect<boolean>
): Effect.Effect<boolean> => {
  const pool = co.owner
  const timeout = Duration.millis(pool.settings.timeout)
  return Effect.interruptible(afterInterrupt(co.live.connection)).pipe(
    Effect.timeoutOption(timeout),
    Effect.flatMap((answer) =>
      Option.isSome(answer) ? Effect.succeed(answer.value === true) : Effect.as(
        Effect.logWarning(
          `redial: pool "${pool.name}": the driver's afterInterrupt did not answer within ${
            Duration.format(timeout)
          }; the connection is replaced`
        ),
        false
      )
    ),
    Effect.catchAllCause((cause) =>
      Effect.as(
        Effect.logWarning(
          `redial: pool "${pool.name}": the driver's afterInterrupt died; the connection is replaced`,
          cause
        ),
        false
      )
    ),
    Effect.annotateLogs({ pool: pool.name })
  )
}

/** A callback's failure: a `Disconnect`, a defect or an interruption breaks the connection. */
const noteFailure = <T extends Driver.Types>(co: CheckoutState<T>, cause: Cause.Cause<unknown>): void => {
  if (co.broken !== undefined) return
  const failure = Cause.failureOption(cause)
  if (Option.isSome(failure)) {
    if (isDisconnect(failure.value)) breakWith(co, { reason: "Disconnect", cause: failure.value })
  } else if (Cause.isDie(cause)) {
    breakWith(co, { reason: "Defect", cause: Cause.squash(cause) })
  } else if (Cause.isInterrupted(cause)) {
    breakWith(co, { reason: "Interrupted", cause: "a driver callback was interrupted before it returned" })
  }
}

const usedAfterEnd = (name: string) =>
  Effect.dieMessage(
    `redial: pool "${name}": a connection was used after its checkout ended (keep it inside run, transaction or checkout's scope)`
  )

/**
 * A call on a held connection: refused at once when the checkout ended (a defect: the connection
 * may be someone else's), its connection is broken, or (unless `whileFailed`) an inner transaction
 * failed.
 *
 * @internal
 */
export const call = <T extends Driver.Types, A>(
  co: CheckoutState<T>,
  effect: () => Effect.Effect<A, Driver.Failure<T>>,
  whileFailed = false
): Effect.Effect<A, Pool.CallError<T>> =>
  Effect.suspend((): Effect.Effect<A, Pool.CallError<T>> => {
    if (co.ended) return usedAfterEnd(co.owner.name)
    if (co.broken !== undefined) return Effect.fail(brokenError(co, co.broken))
    if (co.failed && !whileFailed) return Effect.fail(new TransactionRollingBack({ pool: co.owner.name }))
    return invoke(co, effect())
  })

// ---------------------------------------------------------------------------------------------
// The checkout object
// ---------------------------------------------------------------------------------------------

/** Keeps `value` on the checkout as its own `key`: read once, bound for good. */
const keep = <T extends Driver.Types, K extends keyof Pool.Checkout<T>>(
  checkout: Pool.Checkout<T>,
  key: K,
  value: Pool.Checkout<T>[K]
): Pool.Checkout<T>[K] => {
  Object.defineProperty(checkout, key, { value, enumerable: true })
  return value
}

/** `Checkout.rollback`: the transaction fails with `reason`, so it rolls back. */
const rollback = <E>(reason: E): Effect.Effect<never, E> => Effect.fail(reason)

const queryOn = <T extends Driver.Types>(co: CheckoutImpl<T>, query: T["query"], params: ReadonlyArray<unknown>) => {
  const driver = co.owner.driver
  const conn = co.live.connection
  const inOne = driver.query
  if (inOne !== undefined) return call(co, () => inOne(conn, query, params))
  return Effect.acquireUseRelease(
    call(co, () => driver.prepare(conn, query)),
    (prepared) => call(co, () => driver.execute(conn, prepared, params)),
    (prepared) => Effect.ignore(call(co, () => driver.close(conn, prepared), true))
  )
}

/** @internal */
export class CheckoutImpl<T extends Driver.Types> implements CheckoutState<T>, Pool.Checkout<T> {
  readonly _tag = "Held" as const
  ended = false
  broken: Broken | undefined = undefined
  leaked = false
  depth = 0
  failed = false
  cursors: Set<OpenCursor<T>> | undefined = undefined
  used = false
  constructor(
    readonly owner: PoolState<T>,
    readonly slot: SlotT<T>,
    readonly live: Live<T>,
    readonly sent: number,
    readonly deadline: number,
    readonly takenAt: string | undefined
  ) {}
  get connection(): T["connection"] {
    // Raw access: the caller may change the transaction status behind the pool's back.
    this.used = true
    return this.live.connection
  }
  get pool(): string {
    return this.owner.name
  }
  get prepare(): Pool.Checkout<T>["prepare"] {
    const { driver } = this.owner
    const conn = this.live.connection
    return keep(this, "prepare", (query) => call(this, () => driver.prepare(conn, query)))
  }
  get execute(): Pool.Checkout<T>["execute"] {
    const { driver } = this.owner
    const conn = this.live.connection
    return keep(this, "execute", (prepared, params = []) => call(this, () => driver.execute(conn, prepared, params)))
  }
  get close(): Pool.Checkout<T>["close"] {
    const { driver } = this.owner
    const conn = this.live.connection
    return keep(this, "close", (prepared) => call(this, () => driver.close(conn, prepared), true))
  }
  get query(): Pool.Checkout<T>["query"] {
    return keep(this, "query", (query, params = []) => queryOn(this, query, params))
  }
  get stream(): Pool.Checkout<T>["stream"] {
    return keep(
      this,
      "stream",
      (query, params, options): Stream.Stream<T["row"], Pool.CallError<T>> =>
        Cursor.stream(this, query, params, options)
    )
  }
  get status(): Pool.Checkout<T>["status"] {
    const { driver } = this.owner
    const conn = this.live.connection
    return keep(this, "status", call(this, () => driver.status(conn)))
  }
  get run(): Pool.Checkout<T>["run"] {
    return keep(this, "run", (f) => f(this))
  }
  get transaction(): Pool.Checkout<T>["transaction"] {
    return keep(this, "transaction", (f, options) => Transaction.transaction(this, f, options))
  }
  get rollback(): Pool.Checkout<T>["rollback"] {
    return rollback
  }
}

// ---------------------------------------------------------------------------------------------
// Checking out
// ---------------------------------------------------------------------------------------------

/**
 * Holds a slot's connection: the slot's state becomes the new checkout, whose deadline (and leak
 * report) the pool's timer is told of.
 *
 * @internal
 */
export const hold = <T extends Driver.Types>(
  pool: PoolState<T>,
  slot: SlotT<T>,
  live: Live<T>,
  sent: number
): CheckoutImpl<T> => {
  const { leakTimeout, timeout } = pool.settings
  const co = new CheckoutImpl(
    pool,
    slot,
    live,
    sent,
    sent + timeout,
    leakTimeout === undefined ? undefined : new Error("checked out here").stack
  )
  Slot.move(pool, slot, co)
  pool.alarm.wakeBy(co.deadline)
  if (leakTimeout !== undefined) pool.alarm.wakeBy(sent + leakTimeout)
  return co
}

const noResume = (): void => {}

/**
 * Waits in the queue. Runs uninterruptibly but for the wait itself (`restore`): an interrupted
 * waiter is marked done (the queue skips it); a checkout handed to it just before the interruption
 * is checked back in.
 */
const waitInQueue = <T extends Driver.Types>(
  pool: PoolState<T>,
  sent: number,
  restore: Restore
): Effect.Effect<CheckoutImpl<T>, Pool.CheckoutError<T>> => {
  const waiter: PoolWaiter<T> = { sent, resume: noResume, done: false, served: undefined }
  return Effect.matchCauseEffect(
    restore(
      Effect.async<CheckoutImpl<T>, Pool.CheckoutError<T>>((resume) => {
        waiter.resume = resume as PoolWaiter<T>["resume"]
        pool.queue.push(waiter)
        pool.alarm.wakeBy(sent + pool.settings.timeout)
      })
    ),
    {
      onFailure: (cause) => {
        pool.queue.settle(waiter)
        const served = waiter.served as CheckoutImpl<T> | undefined
        waiter.served = undefined
        return served === undefined
          ? Effect.failCause(cause)
          : Effect.zipRight(Effect.ignore(checkin(served)), Effect.failCause(cause))
      },
      onSuccess: (co) => {
        waiter.served = undefined
        return Effect.succeed(co)
      }
    }
  )
}

/**
 * Takes a connection: an idle one at once, or a place in the queue (dropped at once with
 * `queue: false`; failed at once when no slot will connect again). Runs uninterruptibly but for
 * the wait (`restore`), so a checkout is registered before anything can interrupt it.
 *
 * @internal
 */
export const take = <T extends Driver.Types>(
  pool: PoolState<T>,
  restore: Restore
): Effect.Effect<CheckoutImpl<T>, Pool.CheckoutError<T>> => {
  if (pool.closed) return Effect.fail(Slot.closedError(pool.name))
  const now = pool.clock.unsafeCurrentTimeMillis()
  const idle = Slot.takeIdle(pool)
  if (idle !== undefined) {
    pool.metrics.wait.unsafeUpdate(0, [])
    return Effect.succeed(hold(pool, idle.slot, idle.live, now))
  }
  const stopped = Slot.stoppedError(pool)
  if (stopped !== undefined) return Effect.fail(stopped)
  if (!pool.settings.queue) {
    const connected = Slot.connected(pool)
    return Effect.fail(
      new Dropped({
        pool: pool.name,
        reason: "QueueDisabled",
        waited: Duration.zero,
        connected,
        cause: connected === 0 ? pool.lastConnectError : undefined
      })
    )
  }
  return waitInQueue(pool, now, restore)
}

/**
 * Takes a connection and runs the driver's `checkout` callback on it, when it has one (a failure
 * checks the connection back in, or breaks it).
 *
 * @internal
 */
export const acquire = <T extends Driver.Types>(
  pool: PoolState<T>,
  restore: Restore
): Effect.Effect<CheckoutImpl<T>, Pool.CheckoutError<T>> => {
  const callback = pool.driver.checkout
  if (callback === undefined) return take(pool, restore)
  return Effect.flatMap(take(pool, restore), (co) =>
    invoke(co, restore(callback(co.live.connection))).pipe(
      Effect.onExit((exit) => Exit.isFailure(exit) ? Effect.ignore(checkin(co)) : Effect.void),
      Effect.as(co)
    ))
}

// ---------------------------------------------------------------------------------------------
// Checking in
// ---------------------------------------------------------------------------------------------

/** Closes what a checkout's streams left open: Effect may close a stream's scope after its checkout's. */
const closeCursors = <T extends Driver.Types>(co: CheckoutImpl<T>): Effect.Effect<void> | undefined => {
  const cursors = co.cursors
  if (cursors === undefined || cursors.size === 0) return undefined
  const open = [...cursors]
  cursors.clear()
  return Effect.forEach(open, (cursor) => Cursor.close(co, cursor), { discard: true })
}

/**
 * Reads the transaction status at check-in: a connection is checked out with status `idle`, so it
 * must come back with `idle` (DBConnection's `run` compares the two). Another status (a raw `BEGIN`
 * never ended, an aborted transaction) breaks the connection, so the transaction cannot leak to the
 * next caller.
 */
const checkStatus = <T extends Driver.Types>(co: CheckoutImpl<T>): Effect.Effect<void, StatusMismatch> =>
  Effect.matchCauseEffect(co.owner.driver.status(co.live.connection), {
    // A status that cannot be read: a Disconnect or a defect broke the connection; else the next
    // caller finds out. The caller's own outcome stands either way (as DBConnection's run).
    onFailure: (cause) => {
      noteFailure(co, cause)
      return backInService(co)
    },
    onSuccess: (status): Effect.Effect<void, StatusMismatch> => {
      if (status === "idle") return backInService(co)
      const error = new StatusMismatch({ pool: co.owner.name, checkedOut: "idle", checkedIn: status })
      breakWith(co, { reason: "StatusMismatch", cause: error })
      return Effect.fail(error)
    }
  })

/** The last step of a check-in: the connection is ready to serve again, unless the checkout broke it. */
const backInService = <T extends Driver.Types>(co: CheckoutImpl<T>): Effect.Effect<void> => {
  const pool = co.owner
  if (co.broken === undefined && co.slot.state === co) {
    Slot.ready(pool, co.slot, co.live, pool.clock.unsafeCurrentTimeMillis())
  }
  return Effect.void
}

/**
 * Gives a checkout's connection back. Closes what its streams left open, runs the driver's `checkin`
 * callback, checks the transaction status, then puts the connection back into service. Fails with
 * `StatusMismatch` when the status changed. `undefined` when the connection is back already: a
 * checkout that made no call and never read its raw connection cannot have changed the status, so
 * the no-op path (a run that did nothing) costs no Effect step.
 *
 * @internal
 */
export const checkinNow = <T extends Driver.Types>(
  co: CheckoutImpl<T>
): Effect.Effect<void, StatusMismatch> | undefined => {
  if (co.ended) return undefined
  co.ended = true
  if (co.broken !== undefined) return undefined
  const callback = co.owner.driver.checkin
  if (!co.used && callback === undefined) {
    backInService(co)
    return undefined
  }
  const back = checkStatus(co)
  const cursors = closeCursors(co)
  const before = callback === undefined ? cursors : Effect.zipRight(
    cursors ?? Effect.void,
    Effect.suspend(() =>
      co.broken === undefined ? Effect.ignore(invoke(co, callback(co.live.connection))) : Effect.void
    )
  )
  return before === undefined
    ? back
    : Effect.zipRight(before, Effect.suspend(() => co.broken === undefined ? back : Effect.void))
}

/** {@link checkinNow} as an effect. @internal */
export const checkin = <T extends Driver.Types>(co: CheckoutImpl<T>): Effect.Effect<void, StatusMismatch> =>
  Effect.suspend(() => checkinNow(co) ?? Effect.void)

/**
 * Runs `f` on a held connection and checks it in however `f` ends. `f`'s own failure wins over a
 * status mismatch found at check-in (which is then only logged: the connection is disconnected
 * either way).
 *
 * @internal
 */
export const use = <T extends Driver.Types, A, E, R>(
  co: CheckoutImpl<T>,
  restore: Restore,
  f: (conn: Pool.Checkout<T>) => Effect.Effect<A, E, R>
): Effect.Effect<A, E | StatusMismatch, R> =>
  Effect.matchCauseEffect(restore(f(co)), {
    onFailure: (cause) => {
      const rest = checkinNow(co)
      return rest === undefined ? Effect.failCause(cause) : Effect.zipRight(logMismatch(rest), Effect.failCause(cause))
    },
    onSuccess: (value) => {
      const rest = checkinNow(co)
      return rest === undefined ? Effect.succeed(value) : Effect.as(rest, value)
    }
  })

/** A check-in whose status mismatch cannot be returned (the caller failed, or a scope ended): logged. @internal */
export const logMismatch = (checkedIn: Effect.Effect<void, StatusMismatch>): Effect.Effect<void> =>
  Effect.catchAll(checkedIn, (error) => Effect.logWarning(`redial: ${error.message}`))
