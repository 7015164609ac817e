/**
 * The pool's state, in one place: its slots (each with one `state`), the idle index, the wait
 * queue and CoDel's record. Every count the pool reports is derived from it.
 *
 * @internal
 */
import type { Alarm, Closed, ConnectFailed, Connection } from "@redial/core"
import type * as Clock from "effect/Clock"
import type * as Deferred from "effect/Deferred"
import type * as Effect from "effect/Effect"
import type * as Driver from "../../Driver.js"
import type * as Pool from "../../Pool.js"
import type * as Codel from "./codel.js"
import type { Fifo } from "./fifo.js"
import type { Tagged } from "./metrics.js"
import type { Settings } from "./options.js"
import type { Waiter, WaitQueue } from "./waitQueue.js"

/** One connection of a slot, for as long as it is in service. @internal */
export interface Live<T extends Driver.Types> {
  readonly connection: T["connection"]
  /** When it must be replaced (max lifetime). */
  readonly expiresAt: number
  /** The `disconnectAll` generation it belongs to. */
  readonly generation: number
  /** Completed with the cause when it is taken out of service: the slot's fiber disconnects it. */
  readonly retired: Deferred.Deferred<unknown>
}

/**
 * What a slot is doing. Changed only by `Slot.move`.
 *
 * - `Connecting`: no connection in service; its manager connects (or backs off).
 * - `Idle`: in service, waiting for a caller (`since`: when it was checked in).
 * - `Held`: checked out by `checkout`.
 * - `Pinging`: the idle ping runs on it.
 * - `Disconnecting`: out of service; the driver's `disconnect` runs, then the manager reconnects.
 * - `Stopped`: its manager gave up (fatal error or policy exhausted), or the pool closed.
 *
 * @internal
 */
export type SlotState<T extends Driver.Types> =
  | { readonly _tag: "Connecting" }
  | IdleState<T>
  | CheckoutState<T>
  | { readonly _tag: "Pinging"; readonly live: Live<T> }
  | { readonly _tag: "Disconnecting"; readonly live: Live<T>; readonly cause: unknown }
  | { readonly _tag: "Stopped"; readonly error: Closed }

/** In service, waiting for a caller since `since`; also the slot's entry in the idle index. @internal */
export interface IdleState<T extends Driver.Types> {
  readonly _tag: "Idle"
  readonly slot: Slot<T>
  readonly live: Live<T>
  readonly since: number
}

/** @internal */
export interface Slot<T extends Driver.Types> {
  readonly index: number
  readonly manager: Connection.Connection<T["connection"]>
  state: SlotState<T>
}

/** Why a checkout's connection can no longer be used. @internal */
export interface Broken {
  /** `Timeout`: held past the pool's timeout; the others are `ConnectionBroken`'s reasons. */
  readonly reason: "Disconnect" | "Defect" | "Interrupted" | "Lost" | "StatusMismatch" | "Timeout"
  readonly cause: unknown
}

/** What a stream has opened on its connection. @internal */
export interface Cursor<T extends Driver.Types> {
  prepared: T["prepared"]
  hasPrepared: boolean
  cursor: T["cursor"]
  hasCursor: boolean
}

/**
 * A checkout's own state; the public `Pool.Checkout` object is this record (see checkout.ts).
 *
 * @internal
 */
export interface CheckoutState<T extends Driver.Types> {
  /** A held slot's state is its checkout. */
  readonly _tag: "Held"
  /** The pool (the public `pool` field is its name). */
  readonly owner: PoolState<T>
  readonly slot: Slot<T>
  readonly live: Live<T>
  /** When the request was made, and its deadline. */
  readonly sent: number
  readonly deadline: number
  /** Where it was taken (with `leakTimeout`). */
  readonly takenAt: string | undefined
  /** Checked in. */
  ended: boolean
  /** Set once a call broke the connection, or the pool took it away: every later call fails. */
  broken: Broken | undefined
  /** Reported as a leak already. */
  leaked: boolean
  /** Transaction depth (0: none). */
  depth: number
  /** An inner transaction failed: the outermost must roll back. */
  failed: boolean
  /** Streams' prepared queries and cursors still open: closed before the connection goes back. */
  cursors: Set<Cursor<T>> | undefined
  /** A call was made, or the raw connection read: the transaction status is checked at check-in. */
  used: boolean
}

/** A request waiting for a connection: served with its checkout. @internal */
export type PoolWaiter<T extends Driver.Types> = Waiter<CheckoutState<T>, Pool.CheckoutError<T>>

/** @internal */
export interface PoolState<T extends Driver.Types> {
  readonly settings: Settings
  readonly name: string
  readonly driver: Driver.Driver<T>
  /** The pool's clock: its timer runs on it, and so does every synchronous read of the time. */
  readonly clock: Clock.Clock
  readonly metrics: Tagged
  readonly slots: Array<Slot<T>>
  /** The `Idle` states in the order they became idle; an entry whose slot moved on is skipped. */
  readonly idle: Fifo<IdleState<T>>
  readonly queue: WaitQueue<CheckoutState<T>, Pool.CheckoutError<T>>
  readonly codel: Codel.Codel
  /** The pool's timer: the earliest deadline of the queue, the checkouts, the poll and idle pings. */
  alarm: Alarm.Alarm
  /** When the idle pings run next, and when the previous ones ran. */
  idleAt: number
  idleSince: number
  generation: number
  closed: boolean
  /**
   * The last failed connect attempt of any slot, since a slot last put a connection into service:
   * the cause of a wait that ends while no connection is up.
   */
  lastConnectError: ConnectFailed | undefined
  /** Done when a slot first puts a connection into service, or failed when every slot stopped. */
  readonly up: Deferred.Deferred<void, Closed>
  /** Runs an effect in the pool's scope, in the background (pings, disconnects). */
  readonly fork: (effect: Effect.Effect<void>) => void
}
