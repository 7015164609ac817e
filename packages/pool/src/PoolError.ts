/**
 * The pool's own errors. A caller can also get core's `Timeout` (its deadline passed in the queue,
 * `operation: "queue"`, or while holding a connection, `operation: "hold"`), core's `Closed` (the
 * pool's scope ended, or every slot's connection manager gave up) and its driver's errors. Every one
 * carries redial's TypeId (`isRedialError`).
 *
 * @since 0.1.0
 */
import { ConnectFailed, RedialError } from "@redial/core"
import * as Duration from "effect/Duration"
import type { TransactionStatus } from "./Driver.js"

/** An error's message without its stack (a tagged error's tag first, unless its message has it). */
const messageOf = (error: unknown): string => {
  if (error instanceof Error) {
    const tag = "_tag" in error && typeof error._tag === "string" ? error._tag : error.name
    return error.message.includes(tag) ? error.message : `${tag}: ${error.message}`
  }
  return typeof error === "string" ? error : String(error)
}

/**
 * The request was dropped from the queue, or never queued: the pool cannot serve requests as
 * fast as they come (DBConnection's `:queue_timeout`).
 *
 * @since 0.1.0
 * @category errors
 */
export class Dropped extends RedialError("Dropped")<{
  readonly pool: string
  /** `QueueTimeout`: dropped by load shedding; `QueueDisabled`: `queue: false` and no connection free. */
  readonly reason: "QueueTimeout" | "QueueDisabled"
  /** How long the request waited in the queue. */
  readonly waited: Duration.Duration
  /** How many of the pool's connections were up when it was dropped (0: the database is unreachable). */
  readonly connected: number
  /**
   * With `connected: 0`, the last connect error of any slot (a `ConnectFailed` naming the slot as
   * `pool[i]`, whose `cause` is the driver's error), when one has failed since a slot last served.
   */
  readonly cause?: unknown
}> {
  override get message(): string {
    const last = this.cause instanceof ConnectFailed
      ? ` Last connect error: "${this.cause.connection}" attempt ${this.cause.attempt} failed: ${
        messageOf(this.cause.cause)
      }.`
      : ""
    if (this.reason === "QueueDisabled") {
      return `Pool "${this.pool}": connection not available and queuing is disabled.${last}`
    }
    if (this.connected === 0) {
      return `Pool "${this.pool}": no connection is up (every slot is reconnecting) and the request was dropped ` +
        `from the queue after ${Math.round(Duration.toMillis(this.waited))} ms. Ensure the database is available ` +
        `and that you can connect to it: each slot's connect attempts are logged (at Debug) under its name ("${this.pool}[0]", …).${last}`
    }
    return `Pool "${this.pool}": connection not available and request was dropped from queue after ${
      Math.round(Duration.toMillis(this.waited))
    } ms. This means requests are coming in and your connection pool cannot serve them fast enough. ` +
      `You can address this by: 1. ensuring your database is available and that you can connect to it; ` +
      `2. tracking down slow queries and making sure they run fast enough; 3. increasing the pool's size ` +
      `(at the cost of more connections); 4. letting requests wait longer by raising queueTarget and queueInterval.`
  }
}

/**
 * The checkout's connection was closed because of an error, a disconnect or a timeout: a call on
 * it reported `Disconnect`, died or was interrupted mid-call (its state is unknown), or the driver
 * reported it lost. It has been taken out of service and its slot reconnects; every later call on
 * this checkout fails with this error at once, without reaching the driver (DBConnection's
 * "connection is closed because of an error, disconnect or timeout").
 *
 * `reason`: `Disconnect` (a callback reported it), `Defect` (a callback died), `Interrupted` (a
 * callback was interrupted before it returned), `Lost` (the driver's `lost` fired), `StatusMismatch`
 * (checked in with another transaction status than it was checked out with).
 *
 * @since 0.1.0
 * @category errors
 */
export class ConnectionBroken extends RedialError("ConnectionBroken")<{
  readonly pool: string
  readonly reason: "Disconnect" | "Defect" | "Interrupted" | "Lost" | "StatusMismatch"
  readonly cause: unknown
}> {
  override get message(): string {
    const why = this.reason === "Disconnect"
      ? "a call reported a disconnect"
      : this.reason === "Defect"
      ? "a driver callback died"
      : this.reason === "Interrupted"
      ? "a driver callback was interrupted before it returned"
      : this.reason === "Lost"
      ? "the driver reported it lost"
      : "it was checked in with another transaction status"
    return `Pool "${this.pool}": the connection is closed because of an error, disconnect or timeout (${why}); ` +
      `this checkout cannot be used any more. Run the work again: the pool hands out another connection.`
  }
}

/**
 * `run` or `transaction` gave a connection back with another transaction status than it had when
 * it was checked out, e.g. after a raw `BEGIN` sent through `query` and never ended, or an aborted
 * transaction (DBConnection's `run`). The connection was disconnected, so the open transaction
 * cannot leak to the next caller.
 *
 * @since 0.1.0
 * @category errors
 */
export class StatusMismatch extends RedialError("StatusMismatch")<{
  readonly pool: string
  readonly checkedOut: TransactionStatus
  readonly checkedIn: TransactionStatus
}> {
  override get message(): string {
    return `Pool "${this.pool}": connection was checked out with status ${this.checkedOut} ` +
      `but it was checked in with status ${this.checkedIn}; it was disconnected.`
  }
}

/**
 * An inner transaction (or `rollback`) failed: until the outermost transaction rolls back, every
 * call on the connection but `run`, `transaction`, `rollback` and `close` fails with this.
 *
 * @since 0.1.0
 * @category errors
 */
export class TransactionRollingBack extends RedialError("TransactionRollingBack")<{ readonly pool: string }> {
  override get message(): string {
    return `Pool "${this.pool}": transaction rolling back: an inner transaction failed; the outermost transaction will roll back.`
  }
}

/**
 * The transaction was rolled back although its function succeeded (DBConnection's
 * `{:error, :rollback}`). `reason`: `InnerFailure` (an inner transaction failed or rolled back),
 * `AlreadyFailed` (a nested transaction started after an inner one failed: its function did not
 * run), `ConnectionBroken` (the connection broke: neither COMMIT nor ROLLBACK was sent on it; the
 * server aborts the transaction when the connection closes).
 *
 * @since 0.1.0
 * @category errors
 */
export class RolledBack extends RedialError("RolledBack")<{
  readonly pool: string
  readonly reason: "InnerFailure" | "AlreadyFailed" | "ConnectionBroken"
}> {
  override get message(): string {
    switch (this.reason) {
      case "InnerFailure":
        return `Pool "${this.pool}": the transaction was rolled back because an inner transaction failed.`
      case "AlreadyFailed":
        return `Pool "${this.pool}": the transaction was not run: an inner transaction failed before it, and the outermost will roll back.`
      case "ConnectionBroken":
        return `Pool "${this.pool}": the transaction's connection broke: it was not committed (the server aborts it).`
    }
  }
}
