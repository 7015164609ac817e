/**
 * The pool's timer: one `Alarm` set to the earliest of its deadlines. When it fires it drops the
 * requests CoDel shed (a slice at a time), times out requests whose deadline passed in the queue,
 * takes the connection from checkouts held past the pool's timeout (as DBConnection does) and
 * reports leaks, runs DBConnection's poll, and pings idle connections.
 *
 * @internal
 */
import { Timeout } from "@redial/core"
import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import type * as Driver from "../../Driver.js"
import { Dropped } from "../../PoolError.js"
import * as Checkout from "./checkout.js"
import * as Codel from "./codel.js"
import * as Slot from "./slot.js"
import type { CheckoutState, PoolState, PoolWaiter } from "./state.js"

/**
 * How many shed requests the timer drops before it lets the event loop run: dropping a backlog of
 * thousands in one go would stall the process (~10 µs a request counting the failing fiber).
 */
const SHED_SLICE = 256

// Shedding may drop thousands of requests at once: their errors are made without a stack trace
// (it would show the pool's queue, never the caller, and costs ~5 µs an error).
const shedError = <T extends Driver.Types>(pool: PoolState<T>, waited: number): Dropped => {
  const limit = Error.stackTraceLimit
  Error.stackTraceLimit = 0
  try {
    const connected = Slot.connected(pool)
    return new Dropped({
      pool: pool.name,
      reason: "QueueTimeout",
      waited: Duration.millis(waited),
      connected,
      cause: connected === 0 ? pool.lastConnectError : undefined
    })
  } finally {
    Error.stackTraceLimit = limit
  }
}

/** Drops up to a slice of the requests being shed; true when more remain. */
const dropShed = <T extends Driver.Types>(pool: PoolState<T>, now: number): boolean => {
  const queue = pool.queue
  const cutoff = queue.shedBefore
  for (let n = 0; n < SHED_SLICE; n++) {
    const first = queue.shiftIf((w) => w.sent < cutoff)
    if (first === undefined) return false
    drop(pool, first, now)
  }
  const head = queue.head()
  return head !== undefined && head.sent < cutoff
}

/** Runs the timer again at once, after a turn of the event loop (`sleep(0)` is a macrotask). */
const nextSlice = (now: number): Effect.Effect<number> => Effect.as(Effect.sleep(0), now)

const drop = <T extends Driver.Types>(pool: PoolState<T>, waiter: PoolWaiter<T>, now: number) => {
  if (!pool.queue.settle(waiter)) return
  pool.metrics.dropped.unsafeUpdate(1, [])
  waiter.resume(Effect.fail(shedError(pool, now - waiter.sent)))
}

/** A request's deadline passed in the queue; while no connection is up, its cause is the last connect error. */
const queueTimeout = <T extends Driver.Types>(pool: PoolState<T>) =>
  new Timeout({
    connection: pool.name,
    operation: "queue",
    duration: Duration.millis(pool.settings.timeout),
    cause: Slot.connected(pool) === 0 ? pool.lastConnectError : undefined
  })

const reportLeak = <T extends Driver.Types>(pool: PoolState<T>, co: CheckoutState<T>, now: number) =>
  Metric.increment(pool.metrics.leaks).pipe(
    Effect.zipRight(
      Effect.logWarning(
        `redial: pool "${pool.name}": a connection has been checked out for ${
          Math.round(now - co.sent)
        } ms (leakTimeout ${pool.settings.leakTimeout} ms)`
      ).pipe(
        Effect.annotateLogs(co.takenAt === undefined ? { pool: pool.name } : { pool: pool.name, takenAt: co.takenAt })
      )
    )
  )

/**
 * Pings an idle connection (DBConnection's `ping`), bounded by `pingTimeout`: a ping that fails,
 * dies or does not answer in time takes the connection out of service (its state is unknown).
 */
const ping = <T extends Driver.Types>(pool: PoolState<T>, slot: PoolState<T>["slots"][number]) => {
  const state = slot.state
  if (state._tag !== "Idle") return
  const live = state.live
  Slot.move(pool, slot, { _tag: "Pinging", live })
  pool.fork(
    pool.driver.ping(live.connection).pipe(
      Effect.timeoutFail({
        duration: Duration.millis(pool.settings.pingTimeout),
        onTimeout: () =>
          new Timeout({
            // the ping of one slot's connection: named as that connection ("orders[2]")
            connection: `${pool.name}[${slot.index}]`,
            operation: "ping",
            duration: Duration.millis(pool.settings.pingTimeout)
          })
      }),
      Effect.exit,
      Effect.flatMap((exit) =>
        Effect.sync(() => {
          if (slot.state._tag !== "Pinging" || slot.state.live !== live) return
          if (exit._tag === "Success") Slot.ready(pool, slot, live, pool.clock.unsafeCurrentTimeMillis())
          else Slot.retire(pool, slot, live, Cause.squash(exit.cause))
        })
      )
    )
  )
}

/** One run of the timer at `now`; returns when it must run next. @internal */
export const fire = <T extends Driver.Types>(pool: PoolState<T>, now: number): Effect.Effect<number> =>
  Effect.suspend(() => {
    const { codel, queue, settings } = pool
    // Shed requests first, a slice at a time: more left means run again at once, after a turn of
    // the event loop.
    if (dropShed(pool, now)) return nextSlice(now)
    // Requests whose deadline passed in the queue (deadlines are in queue order).
    for (
      let w = queue.shiftIf((w) => w.sent + settings.timeout <= now);
      w !== undefined;
      w = queue.shiftIf((w) => w.sent + settings.timeout <= now)
    ) {
      if (queue.settle(w)) w.resume(Effect.fail(queueTimeout(pool)))
    }
    const effects: Array<Effect.Effect<void>> = []
    // Checkouts held past their deadline lose their connection, as DBConnection's do; those held past
    // leakTimeout are reported once. A slot has at most one checkout: scan the slots.
    for (const slot of pool.slots) {
      const co = slot.state
      if (co._tag !== "Held" || co.ended) continue
      if (co.broken === undefined && co.deadline <= now) {
        Checkout.breakWith(co, {
          reason: "Timeout",
          cause: new Timeout({ connection: pool.name, operation: "hold", duration: Duration.millis(settings.timeout) })
        })
      }
      if (settings.leakTimeout !== undefined && !co.leaked && co.sent + settings.leakTimeout <= now) {
        co.leaked = true
        effects.push(reportLeak(pool, co, now))
      }
    }
    // DBConnection's poll: when the queue made no progress over an interval, shed.
    if (now >= codel.poll) {
      const head = queue.head()
      const shedBefore = Codel.onPoll(codel, now, head?.sent, hasIdle(pool))
      if (shedBefore > -Infinity && queue.shed(shedBefore) && dropShed(pool, now)) return nextSlice(now)
    }
    // Idle pings: connections idle since before the previous round; expired ones are replaced.
    if (now >= pool.idleAt) {
      const since = pool.idleSince
      pool.idleSince = now
      pool.idleAt = now + settings.idleInterval
      for (const slot of pool.slots) {
        const state = slot.state
        if (state._tag !== "Idle") continue
        if (state.live.expiresAt <= now || state.live.generation < pool.generation) {
          Slot.retire(pool, slot, state.live, "max lifetime reached or disconnectAll")
        } else if (state.since <= since) {
          ping(pool, slot)
        }
      }
      const stats = statsOf(pool)
      effects.push(
        Metric.set(pool.metrics.idle, stats.idle),
        Metric.set(pool.metrics.busy, stats.busy),
        Metric.set(pool.metrics.queued, stats.queued)
      )
    }
    return Effect.as(Effect.all(effects, { discard: true }), nextWake(pool))
  })

const hasIdle = <T extends Driver.Types>(pool: PoolState<T>): boolean => {
  for (const slot of pool.slots) if (slot.state._tag === "Idle") return true
  return false
}

/** The earliest time the timer must run again. */
const nextWake = <T extends Driver.Types>(pool: PoolState<T>): number => {
  let at = Math.min(pool.codel.poll, pool.idleAt)
  const head = pool.queue.head()
  if (head !== undefined) at = Math.min(at, head.sent + pool.settings.timeout)
  const leakTimeout = pool.settings.leakTimeout
  for (const slot of pool.slots) {
    const co = slot.state
    if (co._tag !== "Held" || co.ended) continue
    if (co.broken === undefined) at = Math.min(at, co.deadline)
    if (leakTimeout !== undefined && !co.leaked) at = Math.min(at, co.sent + leakTimeout)
  }
  return at
}

/** The pool's counts, derived from its slots' states and its queue. @internal */
export const statsOf = <T extends Driver.Types>(pool: PoolState<T>) => {
  let idle = 0
  let busy = 0
  for (const slot of pool.slots) {
    const tag = slot.state._tag
    if (tag === "Idle") idle += 1
    else if (tag === "Held" || tag === "Pinging") busy += 1
  }
  const size = pool.settings.size
  return { size, idle, busy, connecting: size - idle - busy, queued: pool.queue.size }
}
