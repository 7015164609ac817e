/**
 * The contract between the pool and a database driver: DBConnection's callbacks in Effect form.
 *
 * A driver says how to connect (a scoped effect: the scope's end disconnects), how to ping, run
 * transactions, prepare and execute queries and walk cursors. Any callback may fail with
 * {@link Disconnect} to report that the connection is broken (DBConnection's
 * `{:disconnect, exception, state}`): the pool then drops that connection and reconnects the
 * slot, and the caller gets the failure. A callback that dies, or is interrupted before it
 * returns, leaves the connection in an unknown state: the pool drops it the same way (the caller
 * gets the defect or the interruption), so a driver need not make any callback safe to interrupt —
 * unless the driver can stop an interrupted call cleanly and says so through `afterInterrupt`
 * (PostgreSQL's cancel request): then the connection stays in service.
 *
 * The types a driver works with are named once, in a {@link Types} record.
 *
 * @since 0.1.0
 */
import { type Connection, RedialError } from "@redial/core"
import type * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"

/**
 * The types of a driver: its connection, query, prepared query, result, row, cursor, error and
 * configuration.
 *
 * @since 0.1.0
 * @category models
 */
export interface Types {
  readonly connection: unknown
  readonly query: unknown
  readonly prepared: unknown
  readonly result: unknown
  readonly row: unknown
  readonly cursor: unknown
  readonly error: unknown
  readonly config: unknown
}

/**
 * The transaction status of a connection (DBConnection's `handle_status`).
 *
 * @since 0.1.0
 * @category models
 */
export type TransactionStatus = "idle" | "transaction" | "error"

/**
 * A callback's report that the connection is broken: the pool drops it and reconnects the slot.
 *
 * @since 0.1.0
 * @category errors
 */
export class Disconnect extends RedialError("Disconnect")<{ readonly cause: unknown }> {
  override get message(): string {
    const cause = this.cause instanceof Error ? this.cause.message : String(this.cause)
    return `the connection is broken: ${cause}`
  }
}

/**
 * What a driver callback can fail with.
 *
 * @since 0.1.0
 * @category models
 */
export type Failure<T extends Types> = T["error"] | Disconnect

/**
 * A batch of rows from a cursor; `done` when the cursor has no more.
 *
 * @since 0.1.0
 * @category models
 */
export interface Batch<Row> {
  readonly rows: ReadonlyArray<Row>
  readonly done: boolean
}

/**
 * A database driver.
 *
 * @since 0.1.0
 * @category models
 */
export interface Driver<T extends Types> {
  /** One connect attempt. Its scope is closed when the connection is dropped. */
  readonly connect: (
    attempt: Connection.Attempt<T["config"]>
  ) => Effect.Effect<T["connection"], T["error"], Scope.Scope>
  /**
   * Completes when the connection is lost on its own (its socket closed, the server ended the
   * session): the pool drops it at once, idle or not, and its slot reconnects. Without it a dead
   * idle connection is found by the next idle ping or the next caller (DBConnection's connection
   * process hears of it from its socket).
   *
   * @example
   * lost: (client) => Effect.async<void>((resume) => void client.once("end", () => resume(Effect.void)))
   */
  readonly lost?: (connection: T["connection"]) => Effect.Effect<void>
  /**
   * Called when a connection is taken out of service, with the reason (DBConnection's
   * `disconnect/2`), before its scope closes; bounded by the pool's `timeout`.
   */
  readonly disconnect?: (connection: T["connection"], cause: unknown) => Effect.Effect<void>
  /**
   * Asked after a callback on the connection was interrupted mid-call: `true` when the driver
   * stopped the call cleanly (PostgreSQL: a cancel request the server honoured, the query ended
   * before the callback returned), so the connection stays in service for the next caller.
   * Without it, or when it answers `false`, an interrupted callback takes the connection out of
   * service (its state is unknown). Bounded by the pool's `timeout`: no answer in time, or a
   * defect, counts as `false`. Keep it quick: do the waiting in the interrupted callback's own
   * finalizer (the interruption completes only when it has run) and answer from what it recorded.
   */
  readonly afterInterrupt?: (connection: T["connection"]) => Effect.Effect<boolean>
  /**
   * Whether a connect error is one no retry can fix (bad credentials, no such database): the
   * slot stops at once instead of backing off, and once every slot has stopped the pool fails
   * its requests (and `awaitConnected`) with `Closed` carrying that error. Asked only about the
   * attempt's own typed errors (from `connect`, `configure` and `afterConnect`; not a `Disconnect`,
   * the connect timeout or a defect). Default: none is.
   */
  readonly isFatal?: (error: T["error"]) => boolean
  /** Called when a connection is handed to a caller. */
  readonly checkout?: (connection: T["connection"]) => Effect.Effect<void, Failure<T>>
  /** Called when a caller gives a connection back. */
  readonly checkin?: (connection: T["connection"]) => Effect.Effect<void, Failure<T>>
  /** Checks an idle connection (DBConnection's `ping/1`); a failure drops it. */
  readonly ping: (connection: T["connection"]) => Effect.Effect<void, Failure<T>>
  readonly begin: (connection: T["connection"]) => Effect.Effect<void, Failure<T>>
  readonly commit: (connection: T["connection"]) => Effect.Effect<void, Failure<T>>
  readonly rollback: (connection: T["connection"]) => Effect.Effect<void, Failure<T>>
  readonly status: (connection: T["connection"]) => Effect.Effect<TransactionStatus, Failure<T>>
  readonly prepare: (connection: T["connection"], query: T["query"]) => Effect.Effect<T["prepared"], Failure<T>>
  readonly execute: (
    connection: T["connection"],
    prepared: T["prepared"],
    params: ReadonlyArray<unknown>
  ) => Effect.Effect<T["result"], Failure<T>>
  readonly close: (connection: T["connection"], prepared: T["prepared"]) => Effect.Effect<void, Failure<T>>
  /**
   * prepare, execute and close in one call (DBConnection's `prepare_execute`), used by `query`
   * when present: a driver can then run a one-shot query in one step (an unnamed statement) and
   * keep a named one prepared for the next `query` of the same name instead of closing it.
   * Without it, `query` calls `prepare`, `execute` and `close`.
   */
  readonly query?: (
    connection: T["connection"],
    query: T["query"],
    params: ReadonlyArray<unknown>
  ) => Effect.Effect<T["result"], Failure<T>>
  readonly declare: (
    connection: T["connection"],
    prepared: T["prepared"],
    params: ReadonlyArray<unknown>
  ) => Effect.Effect<T["cursor"], Failure<T>>
  readonly fetch: (
    connection: T["connection"],
    prepared: T["prepared"],
    cursor: T["cursor"],
    options: { readonly maxRows: number }
  ) => Effect.Effect<Batch<T["row"]>, Failure<T>>
  readonly deallocate: (
    connection: T["connection"],
    prepared: T["prepared"],
    cursor: T["cursor"]
  ) => Effect.Effect<void, Failure<T>>
  /** Savepoints, when the database has them: used by `transaction(f, { savepoint: true })` when nested. */
  readonly savepoints?: {
    readonly create: (connection: T["connection"], name: string) => Effect.Effect<void, Failure<T>>
    readonly release: (connection: T["connection"], name: string) => Effect.Effect<void, Failure<T>>
    readonly rollbackTo: (connection: T["connection"], name: string) => Effect.Effect<void, Failure<T>>
  }
}
