/** @internal */
import { Closed, Connection, InvalidOption, Options, Reconnect, Timeout } from "@redial/core"
import * as Cause from "effect/Cause"
import * as Chunk from "effect/Chunk"
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Metric from "effect/Metric"
import * as MetricBoundaries from "effect/MetricBoundaries"
import * as Option from "effect/Option"
import * as Random from "effect/Random"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Driver from "../Driver.js"
import type * as Pool from "../Pool.js"
import { Dropped, RolledBack, TransactionRollingBack } from "../PoolError.js"
import { Fifo } from "./queue.js"

// ---------------------------------------------------------------------------------------------
// Metrics
// ---------------------------------------------------------------------------------------------

/** @internal */
export const metrics = {
  size: Metric.gauge("redial_pool_size", { description: "Slots of the pool" }),
  idle: Metric.gauge("redial_pool_idle", { description: "Idle connections (sampled every idleInterval)" }),
  busy: Metric.gauge("redial_pool_busy", {
    description: "Connections checked out or being pinged (sampled every idleInterval)"
  }),
  queued: Metric.gauge("redial_pool_queued", { description: "Requests waiting (sampled every idleInterval)" }),
  wait: Metric.histogram(
    "redial_pool_wait_ms",
    MetricBoundaries.exponential({ start: 0.25, factor: 2, count: 18 }),
    "Time from a request to its checkout, in milliseconds"
  ),
  dropped: Metric.counter("redial_pool_dropped_total", {
    description: "Requests dropped by load shedding",
    incremental: true
  }),
  leaks: Metric.counter("redial_pool_leaks_total", {
    description: "Checkouts held longer than leakTimeout",
    incremental: true
  })
}

// ---------------------------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------------------------

const millis = (option: string, input: Duration.DurationInput): number =>
  Duration.toMillis(Options.positiveDuration(option, input, { finite: true }))

interface Settings {
  readonly name: string
  readonly size: number
  readonly target: number
  readonly interval: number
  readonly queue: boolean
  readonly timeout: number
  readonly idleInterval: number
  readonly lifetime: readonly [number, number] | undefined
  readonly leakTimeout: number | undefined
}

const settings = <T extends Driver.Types>(options: Pool.Options<T>): Settings => {
  const size = options.size ?? 1
  if (!Number.isSafeInteger(size) || size < 1) {
    throw new InvalidOption({ option: "size", reason: `must be a whole number of at least 1 (got ${size})` })
  }
  const name = options.name ?? "pool"
  if (name.length === 0) throw new InvalidOption({ option: "name", reason: "must not be empty" })
  let lifetime: readonly [number, number] | undefined
  if (options.maxLifetime !== undefined) {
    const range = options.maxLifetime
    if (typeof range === "object" && range !== null && "min" in range) {
      const min = millis("maxLifetime.min", range.min)
      const max = millis("maxLifetime.max", range.max)
      if (min > max) {
        throw new InvalidOption({
          option: "maxLifetime",
          reason: `min must not be greater than max (${min} ms > ${max} ms)`
        })
      }
      lifetime = [min, max]
    } else {
      const exact = millis("maxLifetime", range as Duration.DurationInput)
      lifetime = [exact, exact]
    }
  }
  return {
    name,
    size,
    target: millis("queueTarget", options.queueTarget ?? 50),
    interval: millis("queueInterval", options.queueInterval ?? 2000),
    queue: options.queue ?? true,
    timeout: millis("timeout", options.timeout ?? 15_000),
    idleInterval: millis("idleInterval", options.idleInterval ?? 1000),
    lifetime,
    leakTimeout: options.leakTimeout === undefined ? undefined : millis("leakTimeout", options.leakTimeout)
  }
}

// ---------------------------------------------------------------------------------------------
// State
// ---------------------------------------------------------------------------------------------

interface Slot<T extends Driver.Types> {
  readonly index: number
  readonly manager: Connection.Connection<T["connection"]>
  /** The live connection while the pool may hand it out. */
  conn: T["connection"] | undefined
  /** When the connection was last checked in (for idle pings). */
  checkedInAt: number
  /** When the connection must be replaced (max lifetime). */
  expiresAt: number
  /** The `disconnectAll` generation the connection belongs to. */
  generation: number
  /** Set when the connection is dropped: its monitor waits for the next one. */
  dropped: Deferred.Deferred<void> | undefined
  /** The checkout holding it, if any (a slot has at most one). */
  holder: Holder<T> | undefined
}

interface Waiter<T extends Driver.Types> {
  /** When the request was made (ms). */
  readonly sent: number
  readonly resume: (effect: Effect.Effect<Slot<T>, Dropped | Timeout | Closed>) => void
  /** Resumed, dropped, timed out or interrupted. */
  done: boolean
  /** The slot handed to it, until it takes it: an interrupted waiter gives it back. */
  slot: Slot<T> | undefined
}

interface Holder<T extends Driver.Types> {
  readonly slot: Slot<T>
  readonly conn: T["connection"]
  readonly sent: number
  readonly deadline: number
  readonly takenAt: string | undefined
  done: boolean
  /** The checkout outlived the pool's timeout: its connection was dropped. */
  expired: boolean
  /** A callback reported the connection broken. */
  broken: boolean
  /** Reported as a leak already. */
  leaked: boolean
  /** Transaction depth (0: none). */
  depth: number
  /** An inner transaction failed: the outermost must roll back. */
  failed: boolean
  checkout: Pool.Checkout<T> | undefined
  /** Streams' prepared queries and cursors still open: closed before the connection goes back. */
  open: Set<Cursor<T>> | undefined
}

/** What a stream has opened on its connection. */
interface Cursor<T extends Driver.Types> {
  prepared: T["prepared"]
  hasPrepared: boolean
  cursor: T["cursor"]
  hasCursor: boolean
}

/** CoDel, as DBConnection.ConnectionPool. */
interface Codel {
  /** The minimum wait seen in the current interval. */
  delay: number
  slow: boolean
  /** When the current interval ends. */
  next: number
  /** When the next poll runs, and the head's `sent` at the previous poll. */
  poll: number
  lastSent: number
  /** When the next idle ping runs, and the time of the previous one. */
  idle: number
  idleSince: number
}

const noResume = (): void => {}

/** How many shed requests the timer drops before it lets the event loop run. */
const SHED_SLICE = 256

/** `Checkout.rollback`: the transaction fails with `reason`, so it rolls back. */
const rollback = <E>(reason: E): Effect.Effect<never, E> => Effect.fail(reason)

const isDisconnect = (cause: Cause.Cause<unknown>): boolean =>
  Cause.failureOption(cause).pipe(Option.exists((error) => error instanceof Driver.Disconnect))

// ---------------------------------------------------------------------------------------------
// The pool
// ---------------------------------------------------------------------------------------------

/** @internal */
export const make = <T extends Driver.Types>(
  driver: Driver.Driver<T>,
  options: Pool.Options<T> = {}
): Effect.Effect<Pool.Pool<T>, InvalidOption, Scope.Scope> =>
  Effect.gen(function*() {
    const s = yield* Effect.try({
      try: () => settings(options),
      catch: (error) =>
        error instanceof InvalidOption ? error : new InvalidOption({ option: "options", reason: String(error) })
    })
    const name = s.name
    const wait = Metric.tagged(metrics.wait, "pool", name)
    const dropped = Metric.tagged(metrics.dropped, "pool", name)
    const leaks = Metric.tagged(metrics.leaks, "pool", name)

    const idle = new Fifo<Slot<T>>()
    const waiters = new Fifo<Waiter<T>>()
    const slots: Array<Slot<T>> = []
    let busy = 0
    let generation = 0
    let closed = false
    // The pool's clock: its timer fiber runs on it, and so does every time it reads synchronously
    // (a TestClock when the pool is made under one).
    const clock = yield* Effect.clock
    const now0 = clock.unsafeCurrentTimeMillis()
    const codel: Codel = {
      delay: 0,
      slow: false,
      next: now0,
      poll: now0 + s.interval,
      lastSent: now0,
      idle: now0 + s.idleInterval,
      idleSince: now0
    }

    // The timer sleeps until the earliest of its deadlines; a new, earlier deadline wakes it.
    let wake = Deferred.unsafeMake<void>(undefined as never)
    let wakeAt = Infinity
    const remind = (at: number) => {
      if (at < wakeAt) {
        wakeAt = at
        Deferred.unsafeDone(wake, Exit.void)
      }
    }

    // --- handing out connections ------------------------------------------------------------

    const closedError = () => new Closed({ connection: name, reason: "ScopeClosed" })

    /** Requests waiting (not yet served, dropped, timed out or gone). */
    let queued = 0

    /** Marks a waiter done, once; false if it was already. */
    const settle = (waiter: Waiter<T>): boolean => {
      if (waiter.done) return false
      waiter.done = true
      queued -= 1
      return true
    }

    /** Shifts the entries at the head that are done (served from behind the head, or gone). */
    const compact = () => {
      for (let first = waiters.peek(); first !== undefined && first.done; first = waiters.peek()) waiters.shift()
    }

    /** Slots with a connection in service. */
    const connected = (): number => {
      let up = 0
      for (const slot of slots) if (slot.conn !== undefined) up += 1
      return up
    }

    // Shedding may drop thousands of requests at once: their errors are made without a stack trace
    // (it would show the pool's queue, never the caller, and costs ~5 µs an error).
    const shedError = (waited: number): Dropped => {
      const limit = Error.stackTraceLimit
      Error.stackTraceLimit = 0
      try {
        return new Dropped({
          pool: name,
          reason: "QueueTimeout",
          waited: Duration.millis(waited),
          connected: connected()
        })
      } finally {
        Error.stackTraceLimit = limit
      }
    }

    const drop = (waiter: Waiter<T>, time: number) => {
      if (!settle(waiter)) return
      dropped.unsafeUpdate(1, [])
      waiter.resume(Effect.fail(shedError(time - waiter.sent)))
    }

    const give = (waiter: Waiter<T>, slot: Slot<T>, time: number) => {
      settle(waiter)
      waiter.slot = slot
      wait.unsafeUpdate(time - waiter.sent, [])
      waiter.resume(Effect.succeed(slot))
      compact()
    }

    /** The next live waiter, skipping those that left. */
    const head = (): Waiter<T> | undefined => {
      compact()
      return waiters.peek()
    }

    // Requests sent before `shedBefore` are being shed: the timer fiber drops them from the head of
    // the queue SHED_SLICE at a time, with a turn of the event loop between slices (`sleep(0)`), so
    // that dropping a backlog of thousands does not stall the process. DBConnection drops them in
    // the check-in itself: a cheap loop on the BEAM, ~10 µs a request here counting the failing
    // fiber. Until they are dropped, `next` skips them.
    let shedBefore = -Infinity
    const shed = (cutoff: number) => {
      if (cutoff <= shedBefore) return
      shedBefore = cutoff
      const first = waiters.peek()
      if (first !== undefined && first.sent < cutoff) remind(-Infinity)
    }

    /** The first live waiter not being shed (binary search past those being shed). */
    const next = (): Waiter<T> | undefined => {
      compact()
      const first = waiters.peek()
      if (first === undefined || first.sent >= shedBefore) return first
      for (
        let i = waiters.countBefore((w) => w.sent < shedBefore), w = waiters.at(i);
        w !== undefined;
        w = waiters.at(++i)
      ) {
        if (!w.done) return w
      }
      return undefined
    }

    /** Drops the requests being shed, a slice at a time. */
    const dropShed: Effect.Effect<void> = Effect.suspend(() => {
      const time = clock.unsafeCurrentTimeMillis()
      let n = 0
      for (let first = waiters.peek(); first !== undefined && first.sent < shedBefore; first = waiters.peek()) {
        if (n === SHED_SLICE) return Effect.zipRight(Effect.sleep(0), dropShed)
        waiters.shift()
        if (!first.done) {
          drop(first, time)
          n += 1
        }
      }
      compact()
      return Effect.void
    })

    // DBConnection's dequeue on check-in: at an interval boundary, serve the head and start a new
    // interval (slow if the last one's minimum wait exceeded the target); otherwise serve the head
    // when not slow, or, when slow, drop every request older than 2 × target and serve the next.
    const serve = (slot: Slot<T>, time: number): boolean => {
      if (time >= codel.next) {
        const slow = codel.delay > s.target
        codel.next = time + s.interval
        codel.slow = slow
        const first = next()
        if (first === undefined) {
          codel.delay = 0
          return false
        }
        codel.delay = time - first.sent
        give(first, slot, time)
        return true
      }
      if (codel.slow) shed(time - 2 * s.target)
      const first = next()
      if (first === undefined) {
        codel.delay = 0
        return false
      }
      const delay = time - first.sent
      if (delay < codel.delay) codel.delay = delay
      give(first, slot, time)
      return true
    }

    /** A slot is free: to the queue, or idle. */
    const release = (slot: Slot<T>, time: number) => {
      slot.checkedInAt = time
      if (!serve(slot, time)) idle.push(slot)
    }

    /**
     * Takes a slot's connection out of service (its monitor then waits for the next one); the
     * connection it had, if any.
     */
    const retire = (slot: Slot<T>): T["connection"] | undefined => {
      const conn = slot.conn
      if (conn === undefined) return undefined
      slot.conn = undefined
      idle.remove(slot)
      const signal = slot.dropped
      slot.dropped = undefined
      if (signal) Deferred.unsafeDone(signal, Exit.void)
      return conn
    }

    /** Drops a slot's connection: the slot reconnects by its policy, then serves again. */
    const dropSlot = (slot: Slot<T>, cause: unknown) => {
      const conn = retire(slot)
      if (conn === undefined) return Effect.void
      return Effect.zipRight(
        driver.disconnect ? driver.disconnect(conn, cause) : Effect.void,
        slot.manager.invalidate(cause, conn)
      )
    }

    /**
     * The driver reported the connection lost: out of service at once (the slot's manager
     * reconnects). A checkout holding it finds out from its next call; its check-in is a no-op.
     */
    const lostFrom = (slot: Slot<T> | undefined, conn: T["connection"]): Effect.Effect<void> =>
      Effect.suspend(() => {
        if (slot === undefined || slot.conn !== conn) return Effect.void
        retire(slot)
        return driver.disconnect ? driver.disconnect(conn, "connection lost") : Effect.void
      })

    const lifetime = Effect.suspend(() => {
      const range = s.lifetime
      if (range === undefined) return Effect.succeed(Infinity)
      return range[0] === range[1]
        ? Effect.succeed(range[0])
        : Random.nextIntBetween(Math.floor(range[0]), Math.floor(range[1]) + 1)
    })

    // Each slot: a core connection that reconnects by the policy, and a fiber that puts every new
    // connection into service and waits for it to be dropped.
    const makeSlot = (index: number) =>
      Effect.gen(function*() {
        const configure = options.configure
        const lost = driver.lost
        // The slot, once made (a connection can only be lost after the slot put it in service).
        const made: { slot: Slot<T> | undefined } = { slot: undefined }
        const manager = yield* Connection.make<T["connection"], unknown, never, T["config"]>({
          name: `${name}[${index}]`,
          config: options.config as T["config"],
          ...(configure
            ? {
              configure: ({ attempt, config }: Connection.Attempt<T["config"]>) =>
                configure({ attempt, slot: index, config })
            }
            : {}),
          acquire: (attempt) => driver.connect(attempt),
          ...(lost ? { lost: (conn: T["connection"]) => Effect.zipRight(lost(conn), lostFrom(made.slot, conn)) } : {}),
          ...(options.afterConnect ? { afterConnect: options.afterConnect } : {}),
          policy: options.policy ?? Reconnect.defaultPolicy,
          ...(options.connectTimeout === undefined ? {} : { connectTimeout: options.connectTimeout })
        })
        const slot: Slot<T> = {
          index,
          manager,
          conn: undefined,
          checkedInAt: 0,
          expiresAt: Infinity,
          generation: 0,
          dropped: undefined,
          holder: undefined
        }
        made.slot = slot
        const monitor = Effect.gen(function*() {
          let previous: T["connection"] | undefined = undefined
          while (true) {
            let conn = yield* manager.await()
            // A dropped connection may still be the manager's for a moment.
            while (conn === previous) {
              yield* Effect.yieldNow()
              conn = yield* manager.await()
            }
            previous = conn
            const signal = yield* Deferred.make<void>()
            const time = yield* Clock.currentTimeMillis
            slot.conn = conn
            slot.dropped = signal
            slot.generation = generation
            slot.expiresAt = time + (yield* lifetime)
            release(slot, time)
            yield* Deferred.await(signal)
          }
        }).pipe(Effect.catchAll(() => Effect.void))
        yield* Effect.forkScoped(monitor)
        slots.push(slot)
        return slot
      })

    // --- the timer ----------------------------------------------------------------------------

    const expire = (holder: Holder<T>) =>
      Effect.suspend(() => {
        holder.expired = true
        return dropSlot(
          holder.slot,
          new Timeout({
            connection: name,
            operation: "checkout (held past the pool's timeout)",
            duration: Duration.millis(s.timeout)
          })
        )
      })

    const reportLeak = (holder: Holder<T>, time: number) =>
      Metric.increment(leaks).pipe(
        Effect.zipRight(
          Effect.logWarning(
            `redial: pool "${name}": a connection has been checked out for ${
              Math.round(time - holder.sent)
            } ms (leakTimeout ${s.leakTimeout} ms)`,
            holder.takenAt ?? ""
          ).pipe(Effect.annotateLogs({ pool: name }))
        )
      )

    const ping = (slot: Slot<T>) =>
      Effect.suspend(() => {
        const conn = slot.conn
        if (conn === undefined) return Effect.void
        busy += 1
        return driver.ping(conn).pipe(
          Effect.matchCauseEffect({
            onFailure: (cause) =>
              Effect.sync(() => {
                busy -= 1
              }).pipe(Effect.zipRight(dropSlot(slot, Cause.squash(cause)))),
            onSuccess: () =>
              Effect.flatMap(Clock.currentTimeMillis, (time) =>
                Effect.sync(() => {
                  busy -= 1
                  if (slot.conn === conn) release(slot, time)
                }))
          })
        )
      })

    const tick: Effect.Effect<void> = Effect.gen(function*() {
      yield* dropShed
      const time = yield* Clock.currentTimeMillis
      // Requests whose deadline passed in the queue (deadlines are in queue order).
      for (let first = head(); first !== undefined && first.sent + s.timeout <= time; first = head()) {
        waiters.shift()
        settle(first)
        first.resume(
          Effect.fail(
            new Timeout({
              connection: name,
              operation: "checkout (deadline reached while in queue)",
              duration: Duration.millis(s.timeout)
            })
          )
        )
      }
      // Checkouts held past their deadline lose their connection, as DBConnection's do; those held
      // past leakTimeout are reported once. A slot has at most one checkout: scan the slots.
      for (const slot of slots) {
        const holder = slot.holder
        if (holder === undefined || holder.done) continue
        if (!holder.expired && holder.deadline <= time) yield* expire(holder)
        if (s.leakTimeout !== undefined && !holder.leaked && holder.sent + s.leakTimeout <= time) {
          holder.leaked = true
          yield* reportLeak(holder, time)
        }
      }
      // DBConnection's poll: when the queue made no progress over an interval, time it out.
      if (time >= codel.poll) {
        const first = head()
        if (first !== undefined && first.sent <= codel.lastSent && idle.length === 0) {
          const delay = time - first.sent
          if (time >= codel.next && codel.delay > s.target) {
            codel.slow = true
            codel.delay = delay
            codel.next = time + s.interval
            shed(time - 2 * s.target)
          } else if (time >= codel.next) {
            codel.slow = false
            codel.delay = delay
            codel.next = time + s.interval
          }
          codel.lastSent = first.sent
        } else {
          codel.lastSent = first === undefined ? time : first.sent
        }
        codel.poll = time + s.interval
        yield* dropShed
      }
      // Idle pings: connections idle since before the previous tick; expired ones are replaced.
      if (time >= codel.idle) {
        const since = codel.idleSince
        codel.idleSince = time
        codel.idle = time + s.idleInterval
        const due: Array<Slot<T>> = []
        for (const slot of idle) {
          if (slot.checkedInAt <= since || slot.expiresAt <= time || slot.generation < generation) due.push(slot)
        }
        for (const slot of due) {
          idle.remove(slot)
          if (slot.expiresAt <= time || slot.generation < generation) {
            yield* dropSlot(slot, "max lifetime reached or disconnectAll")
          } else {
            yield* Effect.forkDaemon(ping(slot))
          }
        }
        yield* Metric.set(Metric.tagged(metrics.idle, "pool", name), idle.length)
        yield* Metric.set(Metric.tagged(metrics.busy, "pool", name), busy)
        yield* Metric.set(Metric.tagged(metrics.queued, "pool", name), queued)
      }
    })

    const nextWake = (): number => {
      let at = Math.min(codel.poll, codel.idle)
      const w = head()
      if (w !== undefined) at = Math.min(at, w.sent + s.timeout)
      for (const slot of slots) {
        const holder = slot.holder
        if (holder === undefined || holder.done) continue
        if (!holder.expired) at = Math.min(at, holder.deadline)
        if (s.leakTimeout !== undefined && !holder.leaked) at = Math.min(at, holder.sent + s.leakTimeout)
      }
      return at
    }

    const timer: Effect.Effect<never> = Effect.gen(function*() {
      while (true) {
        yield* tick
        const at = nextWake()
        const time = yield* Clock.currentTimeMillis
        wake = yield* Deferred.make<void>()
        wakeAt = at
        yield* Effect.raceFirst(Effect.sleep(Math.max(0, at - time)), Deferred.await(wake))
      }
    })

    // --- checkout and check-in ----------------------------------------------------------------

    type Restore = <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>

    // Runs uninterruptibly but for the wait itself (`restore`). An interrupted waiter is marked done
    // (the queue skips it); a slot handed to it just before the interruption goes back to the pool.
    const waitForSlot = (time: number, restore: Restore): Effect.Effect<Holder<T>, Dropped | Timeout | Closed> => {
      const waiter: Waiter<T> = { sent: time, resume: noResume, done: false, slot: undefined }
      return Effect.matchCauseEffect(
        restore(
          Effect.async<Slot<T>, Dropped | Timeout | Closed>((resume) => {
            ;(waiter as { resume: Waiter<T>["resume"] }).resume = resume
            waiters.push(waiter)
            queued += 1
            remind(time + s.timeout)
          })
        ),
        {
          onFailure: (cause) => {
            settle(waiter)
            const slot = waiter.slot
            waiter.slot = undefined
            if (slot !== undefined) release(slot, clock.unsafeCurrentTimeMillis())
            return Effect.failCause(cause)
          },
          onSuccess: (slot) => {
            waiter.slot = undefined
            return Effect.succeed(hold(slot, time))
          }
        }
      )
    }

    const hold = (slot: Slot<T>, sent: number): Holder<T> => {
      const holder: Holder<T> = {
        slot,
        conn: slot.conn,
        sent,
        deadline: sent + s.timeout,
        takenAt: s.leakTimeout === undefined ? undefined : new Error("checked out here").stack,
        done: false,
        expired: false,
        leaked: false,
        broken: false,
        depth: 0,
        failed: false,
        checkout: undefined,
        open: undefined
      }
      busy += 1
      slot.holder = holder
      remind(holder.deadline)
      if (s.leakTimeout !== undefined) remind(sent + s.leakTimeout)
      return holder
    }

    /** An idle connection, held at once (a wait of 0); `undefined` when none is free. */
    const takeIdle = (time: number): Holder<T> | undefined => {
      const slot = idle.shift()
      if (slot === undefined) return undefined
      wait.unsafeUpdate(0, [])
      return hold(slot, time)
    }

    /**
     * Takes a connection: an idle one at once, or a place in the queue. Runs uninterruptibly but
     * for the wait (`restore`), so a holder is registered before anything can interrupt it.
     */
    const take = (restore: Restore): Effect.Effect<Holder<T>, Dropped | Timeout | Closed> => {
      if (closed) return Effect.fail(closedError())
      const time = clock.unsafeCurrentTimeMillis()
      const held = takeIdle(time)
      if (held !== undefined) return Effect.succeed(held)
      if (!s.queue) {
        return Effect.fail(
          new Dropped({ pool: name, reason: "QueueDisabled", waited: Duration.zero, connected: connected() })
        )
      }
      return waitForSlot(time, restore)
    }

    /**
     * Gives a checkout's connection back; `cause` is how the checkout ended, if it failed. Returns
     * what remains to run (a driver callback, a disconnect), or `undefined` when the connection is
     * back already.
     */
    const checkinNow = (
      holder: Holder<T>,
      cause: Cause.Cause<unknown> | undefined
    ): Effect.Effect<void> | undefined => {
      if (holder.done) return undefined
      holder.done = true
      busy -= 1
      const slot = holder.slot
      if (slot.holder === holder) slot.holder = undefined
      // Dropped under the checkout (held past the timeout, or lost): nothing to give back.
      if (slot.conn !== holder.conn) return undefined
      if (holder.broken || (cause !== undefined && isDisconnect(cause))) {
        return dropSlot(slot, cause === undefined ? "broken" : Cause.squash(cause))
      }
      if (driver.checkin === undefined) return back(slot)
      return driver.checkin(holder.conn).pipe(
        Effect.matchCauseEffect({
          onFailure: (cause) => dropSlot(slot, Cause.squash(cause)),
          onSuccess: () => back(slot) ?? Effect.void
        })
      )
    }

    /** A checked-in connection goes back into service, or is replaced when its time is up. */
    const back = (slot: Slot<T>): Effect.Effect<void> | undefined => {
      const time = clock.unsafeCurrentTimeMillis()
      if (slot.expiresAt <= time || slot.generation < generation) {
        return dropSlot(slot, "max lifetime reached or disconnectAll")
      }
      release(slot, time)
      return undefined
    }

    /**
     * Ends a checkout: closes what its streams left open (Effect closes an outer stream's scope
     * before an inner one's when a stream fails, so a stream on a checkout may still be open when
     * the checkout ends), then gives the connection back. `undefined`: nothing left to run.
     */
    const finish = (holder: Holder<T>, cause: Cause.Cause<unknown> | undefined): Effect.Effect<void> | undefined => {
      const open = holder.open
      if (open === undefined || open.size === 0 || holder.done) return checkinNow(holder, cause)
      const cursors = [...open]
      open.clear()
      return Effect.zipRight(
        Effect.forEach(cursors, (cursor) => closeCursor(holder, cursor), { discard: true }),
        Effect.suspend(() => checkinNow(holder, cause) ?? Effect.void)
      )
    }

    const checkin = (holder: Holder<T>, cause: Cause.Cause<unknown> | undefined): Effect.Effect<void> =>
      Effect.suspend(() => finish(holder, cause) ?? Effect.void)

    const causeOf = (exit: Exit.Exit<unknown, unknown>) => Exit.isFailure(exit) ? exit.cause : undefined

    /** The driver's checkout callback, when it has one; a failure gives the connection back. */
    const checkoutCallback = (holder: Holder<T>, restore: Restore): Effect.Effect<Holder<T>, Pool.CheckoutError<T>> =>
      driver.checkout === undefined ? Effect.succeed(holder) : restore(driver.checkout(holder.conn)).pipe(
        Effect.onExit((exit) => Exit.isFailure(exit) ? checkin(holder, exit.cause) : Effect.void),
        Effect.as(holder)
      )

    // Acquires a holder. Uninterruptible but for the wait in the queue and the driver's checkout
    // callback (a holder is registered before either can be interrupted).
    const acquireWith = (restore: Restore): Effect.Effect<Holder<T>, Pool.CheckoutError<T>> =>
      driver.checkout === undefined
        ? take(restore)
        : Effect.flatMap(take(restore), (holder) => checkoutCallback(holder, restore))

    const acquire: Effect.Effect<Holder<T>, Pool.CheckoutError<T>> = Effect.uninterruptibleMask(acquireWith)

    /** Runs `f` on a held connection; gives it back however `f` ends. */
    const useHolder = <A, E, R>(
      holder: Holder<T>,
      restore: Restore,
      f: (conn: Pool.Checkout<T>) => Effect.Effect<A, E, R>
    ): Effect.Effect<A, E, R> =>
      Effect.matchCauseEffect(restore(f(checkoutOf(holder))), {
        onFailure: (cause) => {
          const rest = finish(holder, cause)
          return rest === undefined ? Effect.failCause(cause) : Effect.zipRight(rest, Effect.failCause(cause))
        },
        onSuccess: (value) => {
          const rest = finish(holder, undefined)
          return rest === undefined ? Effect.succeed(value) : Effect.as(rest, value)
        }
      })

    // The path every `run`, `transaction` and `query` takes, kept to as few Effect steps as it can:
    // an idle connection is taken, used and given back without a wait or an extra suspension.
    const run = <A, E, R>(
      f: (conn: Pool.Checkout<T>) => Effect.Effect<A, E, R>
    ): Effect.Effect<A, E | Pool.CheckoutError<T>, R> =>
      Effect.uninterruptibleMask((restore) => {
        if (driver.checkout === undefined && !closed) {
          const held = takeIdle(clock.unsafeCurrentTimeMillis())
          if (held !== undefined) return useHolder(held, restore, f)
        }
        return Effect.flatMap(acquireWith(restore), (holder) => useHolder(holder, restore, f))
      })

    // --- a held connection ----------------------------------------------------------------------

    // A checkout object is made for every operation, so it is one small allocation: its methods
    // live on a prototype shared by every checkout of the pool. Each is bound to its checkout the
    // first time it is read and kept there, so `const { query } = conn` works as with plain fields.

    const expiredError = () =>
      new Timeout({
        connection: name,
        operation: "checkout (held past the pool's timeout)",
        duration: Duration.millis(s.timeout)
      })

    const guard = (
      holder: Holder<T>,
      allowWhileFailed: boolean
    ): Effect.Effect<never, Timeout | TransactionRollingBack | Driver.Disconnect> | undefined =>
      holder.done
        ? Effect.dieMessage(
          `redial: pool "${name}": a connection was used after its checkout ended (keep it inside run, transaction or checkout's scope)`
        )
        : holder.expired
        ? Effect.fail(expiredError())
        : holder.slot.conn !== holder.conn
        ? Effect.fail(new Driver.Disconnect({ cause: `pool "${name}": the connection was lost` }))
        : holder.failed && !allowWhileFailed
        ? Effect.fail(new TransactionRollingBack({ pool: name }))
        : undefined

    /** One driver callback on a held connection; a `Disconnect` marks the connection broken. */
    const call = <A>(
      holder: Holder<T>,
      effect: () => Effect.Effect<A, Driver.Failure<T>>,
      allowWhileFailed = false
    ): Effect.Effect<A, Pool.CallError<T>> =>
      Effect.suspend((): Effect.Effect<A, Pool.CallError<T>> => {
        const blocked = guard(holder, allowWhileFailed)
        if (blocked) return blocked
        return Effect.catchAll(effect(), (error): Effect.Effect<never, Pool.CallError<T>> => {
          // Held past the pool's timeout, the connection was closed under the call: say so.
          if (holder.expired) return Effect.fail(expiredError())
          if (error instanceof Driver.Disconnect) holder.broken = true
          return Effect.fail(error)
        })
      })

    const prepareOn = (holder: Holder<T>, query: T["query"]) => call(holder, () => driver.prepare(holder.conn, query))
    const executeOn = (holder: Holder<T>, prepared: T["prepared"], params: ReadonlyArray<unknown> = []) =>
      call(holder, () => driver.execute(holder.conn, prepared, params))
    const closeOn = (holder: Holder<T>, prepared: T["prepared"]) =>
      call(holder, () => driver.close(holder.conn, prepared), true)
    const queryOn = (holder: Holder<T>, query: T["query"], params: ReadonlyArray<unknown> = []) =>
      Effect.acquireUseRelease(
        prepareOn(holder, query),
        (prepared) => executeOn(holder, prepared, params),
        (prepared) => Effect.ignore(closeOn(holder, prepared))
      )

    /** A driver callback run without the checks of `call` (to clean up); `Disconnect` still counts. */
    const direct = <A>(holder: Holder<T>, effect: Effect.Effect<A, Driver.Failure<T>>): Effect.Effect<void> =>
      Effect.ignore(Effect.tapError(effect, (error) =>
        Effect.sync(() => {
          if (error instanceof Driver.Disconnect) holder.broken = true
        })))

    /**
     * Deallocates a stream's cursor, then closes its query; each at most once. Not on a connection
     * the pool dropped or a callback reported broken: its end closed them on the server.
     */
    const closeCursor = (holder: Holder<T>, open: Cursor<T>): Effect.Effect<void> =>
      Effect.suspend(() => {
        const conn = holder.conn
        if (holder.broken || holder.slot.conn !== conn) {
          open.hasCursor = false
          open.hasPrepared = false
          return Effect.void
        }
        const steps: Array<Effect.Effect<void>> = []
        if (open.hasCursor) {
          open.hasCursor = false
          steps.push(direct(holder, driver.deallocate(conn, open.prepared, open.cursor)))
        }
        if (open.hasPrepared) {
          open.hasPrepared = false
          steps.push(direct(holder, driver.close(conn, open.prepared)))
        }
        return Effect.all(steps, { discard: true })
      })

    const streamOn = (
      holder: Holder<T>,
      query: T["query"],
      params: ReadonlyArray<unknown>,
      options: { readonly maxRows: number }
    ): Stream.Stream<T["row"], Pool.CallError<T>> =>
      Stream.unwrapScoped(
        Effect.gen(function*() {
          const conn = holder.conn
          const open: Cursor<T> = { prepared: undefined, hasPrepared: false, cursor: undefined, hasCursor: false }
          // Registered with the checkout, which closes it if it ends first; else closed here.
          yield* Effect.acquireRelease(
            Effect.sync(() => (holder.open ??= new Set()).add(open)),
            () => holder.open?.delete(open) ? closeCursor(holder, open) : Effect.void
          )
          yield* Effect.uninterruptible(Effect.map(prepareOn(holder, query), (prepared) => {
            open.prepared = prepared
            open.hasPrepared = true
          }))
          yield* Effect.uninterruptible(
            Effect.map(call(holder, () => driver.declare(conn, open.prepared, params)), (cursor) => {
              open.cursor = cursor
              open.hasCursor = true
            })
          )
          return Stream.paginateChunkEffect(false, (done: boolean) =>
            done
              ? Effect.succeed([Chunk.empty<T["row"]>(), Option.none<boolean>()] as const)
              : Effect.map(
                call(holder, () => driver.fetch(conn, open.prepared, open.cursor, options)),
                (batch) =>
                  [
                    Chunk.unsafeFromArray(batch.rows),
                    batch.done ? Option.none<boolean>() : Option.some(false)
                  ] as const
              ))
        })
      )

    const transactionOn = <A, E, R>(
      holder: Holder<T>,
      f: (conn: Pool.Checkout<T>) => Effect.Effect<A, E, R>,
      txOptions: { readonly savepoint?: boolean } | undefined
    ): Effect.Effect<A, E | Pool.CallError<T> | RolledBack, R> =>
      Effect.uninterruptibleMask((restore) =>
        Effect.suspend((): Effect.Effect<A, E | Pool.CallError<T> | RolledBack, R> => {
          // A transaction may start while an outer one is rolling back (its calls will fail).
          const blocked = guard(holder, true)
          if (blocked) return blocked
          const conn = holder.conn
          const self = checkoutOf(holder)
          if (holder.depth === 0) {
            // The outermost transaction: begin; commit on success; roll back on anything else.
            return call(holder, () => driver.begin(conn)).pipe(
              Effect.zipRight(Effect.sync(() => {
                holder.depth = 1
                holder.failed = false
              })),
              Effect.zipRight(restore(f(self)).pipe(Effect.exit)),
              Effect.flatMap((exit) => {
                const failed = holder.failed
                holder.depth = 0
                holder.failed = false
                if (Exit.isSuccess(exit) && !failed) {
                  return Effect.as(call(holder, () => driver.commit(conn)), exit.value)
                }
                const outcome: Effect.Effect<A, E | RolledBack> = Exit.isSuccess(exit)
                  ? Effect.fail(new RolledBack({ pool: name }))
                  : exit
                // A broken connection cannot roll back (it is dropped, which aborts the
                // transaction); a rollback that fails does not hide the failure that caused it.
                return holder.broken
                  ? outcome
                  : Effect.zipRight(Effect.ignore(call(holder, () => driver.rollback(conn), true)), outcome)
              })
            )
          }
          const sp = driver.savepoints
          if (txOptions?.savepoint && sp) {
            // A nested transaction on a savepoint: a failure rolls back to it, and only it.
            const savepoint = `redial_savepoint_${holder.depth}`
            const failedBefore = holder.failed
            return call(holder, () => sp.create(conn, savepoint)).pipe(
              Effect.zipRight(Effect.sync(() => {
                holder.depth += 1
              })),
              Effect.zipRight(restore(f(self)).pipe(Effect.exit)),
              Effect.flatMap((exit) => {
                holder.depth -= 1
                if (Exit.isSuccess(exit)) return Effect.as(call(holder, () => sp.release(conn, savepoint)), exit.value)
                // Back to the savepoint: what failed inside it is undone, so is the failed mark.
                return call(holder, () => sp.rollbackTo(conn, savepoint), true).pipe(
                  Effect.tap(() =>
                    Effect.sync(() => {
                      holder.failed = failedBefore
                    })
                  ),
                  Effect.zipRight(exit)
                )
              })
            )
          }
          // DBConnection: a nested transaction is a run; if it fails, the whole transaction is failed.
          holder.depth += 1
          return restore(f(self)).pipe(
            Effect.onExit((exit) =>
              Effect.sync(() => {
                holder.depth -= 1
                if (Exit.isFailure(exit)) holder.failed = true
              })
            )
          )
        })
      )

    /** Keeps `value` on the checkout as its own `key`: read once, bound for good. */
    const keep = <K extends keyof Pool.Checkout<T>>(
      checkout: Pool.Checkout<T>,
      key: K,
      value: Pool.Checkout<T>[K]
    ): Pool.Checkout<T>[K] => {
      Object.defineProperty(checkout, key, { value, enumerable: true })
      return value
    }

    class Held implements Pool.Checkout<T> {
      readonly connection: T["connection"]
      constructor(readonly holder: Holder<T>) {
        this.connection = holder.conn
      }
      get pool() {
        return name
      }
      get prepare(): Pool.Checkout<T>["prepare"] {
        const holder = this.holder
        return keep(this, "prepare", (query) => prepareOn(holder, query))
      }
      get execute(): Pool.Checkout<T>["execute"] {
        const holder = this.holder
        return keep(this, "execute", (prepared, params) => executeOn(holder, prepared, params))
      }
      get close(): Pool.Checkout<T>["close"] {
        const holder = this.holder
        return keep(this, "close", (prepared) => closeOn(holder, prepared))
      }
      get query(): Pool.Checkout<T>["query"] {
        const holder = this.holder
        return keep(this, "query", (query, params) => queryOn(holder, query, params))
      }
      get stream(): Pool.Checkout<T>["stream"] {
        const holder = this.holder
        return keep(this, "stream", (query, params, options) => streamOn(holder, query, params, options))
      }
      get status(): Pool.Checkout<T>["status"] {
        const holder = this.holder
        return keep(this, "status", call(holder, () => driver.status(holder.conn)))
      }
      get run(): Pool.Checkout<T>["run"] {
        return keep(this, "run", (f) => f(this))
      }
      get transaction(): Pool.Checkout<T>["transaction"] {
        const holder = this.holder
        return keep(this, "transaction", (f, txOptions) => transactionOn(holder, f, txOptions))
      }
      get rollback(): Pool.Checkout<T>["rollback"] {
        return rollback
      }
    }

    const checkoutOf = (holder: Holder<T>): Pool.Checkout<T> => holder.checkout ??= new Held(holder)

    // --- life -------------------------------------------------------------------------------

    for (let index = 0; index < s.size; index++) yield* makeSlot(index)
    const timerFiber = yield* Effect.forkDaemon(timer)
    yield* Effect.addFinalizer(() =>
      Effect.suspend(() => {
        closed = true
        for (let w = head(); w !== undefined; w = head()) {
          waiters.shift()
          settle(w)
          w.resume(Effect.fail(closedError()))
        }
        return Fiber.interrupt(timerFiber)
      })
    )

    const pool: Pool.Pool<T> = {
      name,
      checkout: Effect.map(
        Effect.acquireRelease(acquire, (holder, exit) => checkin(holder, causeOf(exit))),
        checkoutOf
      ),
      run,
      transaction: (f) => run((conn) => conn.transaction(f)),
      query: (q, params) => run((conn) => conn.query(q, params)),
      stream: (q, params, streamOptions) =>
        Stream.unwrapScoped(
          Effect.map(
            Effect.acquireRelease(acquire, (holder, exit) => checkin(holder, causeOf(exit))),
            (holder) => checkoutOf(holder).stream(q, params, streamOptions)
          )
        ),
      stats: Effect.sync(() => {
        return { size: s.size, idle: idle.length, busy, connecting: s.size - connected(), queued }
      }),
      disconnectAll: Effect.suspend(() => {
        generation += 1
        const all = [...idle]
        return Effect.forEach(all, (slot) => dropSlot(slot, "disconnectAll"), { discard: true })
      })
    }
    yield* Metric.set(Metric.tagged(metrics.size, "pool", name), s.size)
    return pool
  })
