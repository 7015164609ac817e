/**
 * The pool's own errors. A caller can also get core's `Timeout` (its deadline passed, in the queue
 * or while holding a connection), core's `Closed` (the pool's scope ended) and its driver's errors.
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"

/**
 * The request was dropped from the queue, or never queued: the pool cannot serve requests as
 * fast as they come (DBConnection's `:queue_timeout`).
 *
 * @since 0.1.0
 * @category errors
 */
export class Dropped extends Data.TaggedError("Dropped")<{
  readonly pool: string
  /** `QueueTimeout`: dropped by load shedding; `QueueDisabled`: `queue: false` and no connection free. */
  readonly reason: "QueueTimeout" | "QueueDisabled"
  /** How long the request waited in the queue. */
  readonly waited: Duration.Duration
  /** How many of the pool's connections were up when it was dropped (0: the database is unreachable). */
  readonly connected: number
}> {
  override get message(): string {
    if (this.reason === "QueueDisabled") {
      return `Pool "${this.pool}": connection not available and queuing is disabled.`
    }
    if (this.connected === 0) {
      return `Pool "${this.pool}": no connection is up (every slot is reconnecting) and the request was dropped ` +
        `from the queue after ${Math.round(Duration.toMillis(this.waited))} ms. Ensure the database is available ` +
        `and that you can connect to it: each slot's connect errors are logged under its name ("${this.pool}[0]", …).`
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
 * An inner transaction (or `rollback`) failed: until the outermost transaction rolls back, every
 * call on the connection but `run`, `transaction`, `rollback` and `close` fails with this.
 *
 * @since 0.1.0
 * @category errors
 */
export class TransactionRollingBack extends Data.TaggedError("TransactionRollingBack")<{ readonly pool: string }> {
  override get message(): string {
    return `Pool "${this.pool}": transaction rolling back: an inner transaction failed; the outermost transaction will roll back.`
  }
}

/**
 * The outermost transaction rolled back although its function succeeded, because an inner
 * transaction failed or rolled back (DBConnection's `{:error, :rollback}`).
 *
 * @since 0.1.0
 * @category errors
 */
export class RolledBack extends Data.TaggedError("RolledBack")<{ readonly pool: string }> {
  override get message(): string {
    return `Pool "${this.pool}": the transaction was rolled back because an inner transaction failed.`
  }
}
