/**
 * Transactions on a held connection, as DBConnection's `transaction`: begin, run, commit on
 * success; roll back on a failure, a defect, an interruption or an inner failure. Nested in another
 * transaction it is a `run` whose failure fails the whole transaction (or, with `savepoint: true`
 * and a driver that has savepoints, a savepoint that a failure rolls back to).
 *
 * A connection that broke (a call reported `Disconnect`, died or was interrupted) is never sent
 * COMMIT or ROLLBACK: the transaction fails, and the server aborts it when the connection closes.
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Driver from "../../Driver.js"
import type * as Pool from "../../Pool.js"
import { RolledBack } from "../../PoolError.js"
import * as Checkout from "./checkout.js"
import type { CheckoutImpl } from "./checkout.js"

/** @internal */
export const transaction = <T extends Driver.Types, A, E, R>(
  co: CheckoutImpl<T>,
  f: (conn: Pool.Checkout<T>) => Effect.Effect<A, E, R>,
  options: { readonly savepoint?: boolean | undefined } | undefined
): Effect.Effect<A, E | Pool.CallError<T> | RolledBack, R> =>
  Effect.uninterruptibleMask((restore) =>
    Effect.suspend((): Effect.Effect<A, E | Pool.CallError<T> | RolledBack, R> => {
      if (co.depth === 0) return outermost(co, f, restore)
      // An inner transaction failed: the whole one rolls back; nothing more runs in it.
      if (co.failed) return Effect.fail(new RolledBack({ pool: co.owner.name, reason: "AlreadyFailed" }))
      const savepoints = co.owner.driver.savepoints
      if (options?.savepoint && savepoints) return onSavepoint(co, f, restore, savepoints)
      // DBConnection: a nested transaction is a run; if it fails, the whole transaction is failed.
      co.depth += 1
      return restore(f(co)).pipe(
        Effect.onExit((exit) =>
          Effect.sync(() => {
            co.depth -= 1
            if (Exit.isFailure(exit)) co.failed = true
          })
        )
      )
    })
  )

const messageOf = (error: unknown): string => error instanceof Error ? error.message : String(error)

const outermost = <T extends Driver.Types, A, E, R>(
  co: CheckoutImpl<T>,
  f: (conn: Pool.Checkout<T>) => Effect.Effect<A, E, R>,
  restore: Checkout.Restore
): Effect.Effect<A, E | Pool.CallError<T> | RolledBack, R> => {
  const driver = co.owner.driver
  const conn = co.live.connection
  return Checkout.call(co, () => driver.begin(conn)).pipe(
    Effect.zipRight(Effect.sync(() => {
      co.depth = 1
      co.failed = false
    })),
    Effect.zipRight(Effect.exit(restore(f(co)))),
    Effect.flatMap((exit) => {
      const failed = co.failed
      co.depth = 0
      co.failed = false
      const broken = co.broken
      if (broken !== undefined) {
        // Nothing is sent on a broken connection; its end aborts the transaction on the server. A
        // defect that broke it reaches the caller even when a stream's early stop swallowed it.
        if (Exit.isFailure(exit)) return exit
        return broken.reason === "Defect"
          ? Effect.die(broken.cause)
          : Effect.fail(new RolledBack({ pool: co.owner.name, reason: "ConnectionBroken" }))
      }
      if (Exit.isSuccess(exit) && !failed) return Effect.as(Checkout.call(co, () => driver.commit(conn)), exit.value)
      const outcome: Effect.Effect<A, E | RolledBack> = Exit.isSuccess(exit)
        ? Effect.fail(new RolledBack({ pool: co.owner.name, reason: "InnerFailure" }))
        : exit
      // A rollback that fails does not hide the failure that caused it; it is logged.
      return Checkout.call(co, () => driver.rollback(conn), true).pipe(
        Effect.catchAllCause((cause) =>
          Effect.logWarning(
            `redial: pool "${co.owner.name}": rollback failed: ${messageOf(Cause.squash(cause))}`,
            cause
          ).pipe(
            Effect.annotateLogs({ pool: co.owner.name })
          )
        ),
        Effect.zipRight(outcome)
      )
    })
  )
}

const onSavepoint = <T extends Driver.Types, A, E, R>(
  co: CheckoutImpl<T>,
  f: (conn: Pool.Checkout<T>) => Effect.Effect<A, E, R>,
  restore: Checkout.Restore,
  savepoints: NonNullable<Driver.Driver<T>["savepoints"]>
): Effect.Effect<A, E | Pool.CallError<T>, R> => {
  const conn = co.live.connection
  const name = `redial_savepoint_${co.depth}`
  return Checkout.call(co, () => savepoints.create(conn, name)).pipe(
    Effect.zipRight(Effect.sync(() => {
      co.depth += 1
    })),
    Effect.zipRight(Effect.exit(restore(f(co)))),
    Effect.flatMap((exit) => {
      co.depth -= 1
      if (Exit.isSuccess(exit)) return Effect.as(Checkout.call(co, () => savepoints.release(conn, name)), exit.value)
      // Back to the savepoint: what failed inside it is undone, and so is the failed mark.
      return Checkout.call(co, () => savepoints.rollbackTo(conn, name), true).pipe(
        Effect.tap(() =>
          Effect.sync(() => {
            co.failed = false
          })
        ),
        Effect.zipRight(exit)
      )
    })
  )
}
