/**
 * A slot: one connection of the pool, with its own connection manager (which connects and
 * reconnects by the pool's policy) and one `state`, changed only by `move`. A slot's fiber puts each
 * new connection into service and, when the pool takes it out of service, runs the driver's
 * `disconnect` before the manager closes the connection's scope and reconnects.
 *
 * @internal
 */
import { Closed } from "@redial/core"
import * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FiberId from "effect/FiberId"
import * as Random from "effect/Random"
import type * as Driver from "../../Driver.js"
import * as Checkout from "./checkout.js"
import * as Codel from "./codel.js"
import type { IdleState, Live, PoolState, Slot, SlotState } from "./state.js"

/**
 * The one writer of a slot's state. An idle slot is also put in the idle index; a connection
 * taken out of service wakes the slot's fiber, which disconnects it.
 *
 * @internal
 */
export const move = <T extends Driver.Types>(pool: PoolState<T>, slot: Slot<T>, next: SlotState<T>): void => {
  slot.state = next
  if (next._tag === "Idle") {
    const idle = pool.idle
    idle.push(next)
    // An entry whose slot moved on without being taken (pinged, retired) stays until it is shifted:
    // an idle pool, pinged every interval, would grow its index for ever. Past twice the pool's
    // size, drop them (amortised O(1) a move).
    if (idle.length > 2 * pool.slots.length) idle.retain((entry) => entry.slot.state === entry)
  } else if (next._tag === "Disconnecting") Deferred.unsafeDone(next.live.retired, Exit.succeed(next.cause))
}

/** An error's message for a log annotation (one `message` per line: the cause goes in `error`). @internal */
export const messageOf = (error: unknown): string =>
  error instanceof Error ? `${error.name}: ${error.message}` : typeof error === "string" ? error : String(error)

/** The connection a slot has in service, if any. @internal */
export const liveOf = <T extends Driver.Types>(state: SlotState<T>): Live<T> | undefined =>
  state._tag === "Idle" || state._tag === "Held" || state._tag === "Pinging" ? state.live : undefined

/**
 * Takes a slot's connection out of service (if `live` is still the one in service): the slot's fiber
 * runs `disconnect` with `cause`, then the manager reconnects. A checkout holding it is marked
 * broken by its caller first.
 *
 * @internal
 */
export const retire = <T extends Driver.Types>(
  pool: PoolState<T>,
  slot: Slot<T>,
  live: Live<T>,
  cause: unknown
): boolean => {
  if (liveOf(slot.state) !== live) return false
  move(pool, slot, { _tag: "Disconnecting", live, cause })
  return true
}

/**
 * A connection is ready to serve (new, checked in, or pinged): replaced if its time is up; else, as
 * DBConnection's check-in, handed to the next request CoDel lets through, or idle.
 *
 * @internal
 */
export const ready = <T extends Driver.Types>(pool: PoolState<T>, slot: Slot<T>, live: Live<T>, now: number) => {
  if (live.expiresAt <= now || live.generation < pool.generation) {
    move(pool, slot, { _tag: "Disconnecting", live, cause: "max lifetime reached or disconnectAll" })
    return
  }
  const shedBefore = Codel.onCheckin(pool.codel, now)
  if (shedBefore > -Infinity && pool.queue.shed(shedBefore)) pool.alarm.wakeBy(-Infinity)
  const waiter = pool.queue.next()
  Codel.onServed(pool.codel, now, waiter?.sent)
  if (waiter === undefined) {
    move(pool, slot, { _tag: "Idle", slot, live, since: now })
    return
  }
  pool.queue.settle(waiter)
  const checkout = Checkout.hold(pool, slot, live, waiter.sent)
  waiter.served = checkout
  pool.metrics.wait.unsafeUpdate(now - waiter.sent, [])
  waiter.resume(Effect.succeed(checkout))
}

/** The idle slot that has waited longest, held at once; `undefined` when none is idle. @internal */
export const takeIdle = <T extends Driver.Types>(pool: PoolState<T>): IdleState<T> | undefined => {
  const idle = pool.idle
  for (let entry = idle.shift(); entry !== undefined; entry = idle.shift()) {
    if (entry.slot.state === entry) return entry
  }
  return undefined
}

/** Slots with a connection in service. @internal */
export const connected = <T extends Driver.Types>(pool: PoolState<T>): number => {
  let up = 0
  for (const slot of pool.slots) if (liveOf(slot.state) !== undefined) up += 1
  return up
}

/**
 * The error every request gets once no slot will connect again, if that is the case: a `Closed`
 * naming the pool, with the reason and failed attempt of the last slot that stopped.
 *
 * @internal
 */
export const stoppedError = <T extends Driver.Types>(pool: PoolState<T>): Closed | undefined => {
  let error: Closed | undefined
  for (const slot of pool.slots) {
    if (slot.state._tag !== "Stopped") return undefined
    error = slot.state.error
  }
  return error && new Closed({ connection: pool.name, kind: "Pool", reason: error.reason, error: error.error })
}

const lifetime = (range: readonly [number, number] | undefined): Effect.Effect<number> =>
  range === undefined
    ? Effect.succeed(Infinity)
    : range[0] === range[1]
    ? Effect.succeed(range[0])
    : Random.nextIntBetween(Math.floor(range[0]), Math.floor(range[1]) + 1)

/**
 * A slot's life: waits (on its manager, without polling) for each new connection, puts it into
 * service, and when it is taken out of service runs the driver's `disconnect` with the cause
 * (bounded by the pool's timeout) before telling the manager, which closes the connection's scope
 * and reconnects. Ends when the manager gives up: the slot is `Stopped`, and when every slot is,
 * waiting requests fail with its `Closed`.
 *
 * @internal
 */
export const run = <T extends Driver.Types>(pool: PoolState<T>, slot: Slot<T>): Effect.Effect<void> =>
  Effect.gen(function*() {
    const driver = pool.driver
    let previous: T["connection"] | undefined = undefined
    while (true) {
      const next = yield* Effect.either(slot.manager.awaitNext(previous))
      if (next._tag === "Left") {
        move(pool, slot, { _tag: "Stopped", error: next.left })
        const error = stoppedError(pool)
        if (error !== undefined) {
          Deferred.unsafeDone(pool.up, Exit.fail(error))
          for (const waiter of pool.queue.drain()) waiter.resume(Effect.fail(error))
        }
        return
      }
      const connection = next.right
      previous = connection
      const now = pool.clock.unsafeCurrentTimeMillis()
      const live: Live<T> = {
        connection,
        expiresAt: now + (yield* lifetime(pool.settings.lifetime)),
        generation: pool.generation,
        retired: Deferred.unsafeMake<unknown>(FiberId.none)
      }
      ready(pool, slot, live, now)
      pool.lastConnectError = undefined
      Deferred.unsafeDone(pool.up, Exit.void)
      const cause = yield* Deferred.await(live.retired)
      if (driver.disconnect) {
        yield* driver.disconnect(connection, cause).pipe(
          Effect.timeout(Duration.millis(pool.settings.timeout)),
          Effect.catchAllCause((failure) =>
            Effect.logWarning(`redial: pool "${pool.name}": disconnect failed`).pipe(
              Effect.annotateLogs({ pool: pool.name, slot: slot.index, error: messageOf(Cause.squash(failure)) })
            )
          )
        )
      }
      yield* slot.manager.invalidate(cause, connection)
      move(pool, slot, { _tag: "Connecting" })
    }
  })

/** A `Closed` for a pool whose scope ended: `Pool "name" is closed …`. @internal */
export const closedError = (name: string) => new Closed({ connection: name, kind: "Pool", reason: "ScopeClosed" })
