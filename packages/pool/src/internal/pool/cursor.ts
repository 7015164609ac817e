/**
 * Streams on a held connection: prepare, declare a cursor, fetch `maxRows` at a time, and
 * deallocate the cursor (then close the query) however the stream ends (DBConnection's `stream`).
 * The checkout tracks each stream's open cursor, because Effect may close a stream's scope after
 * the checkout's when the stream fails: the checkout then closes it before its check-in.
 *
 * @internal
 */
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import type * as Driver from "../../Driver.js"
import type * as Pool from "../../Pool.js"
import * as Checkout from "./checkout.js"
import type { CheckoutState, Cursor } from "./state.js"

/**
 * Deallocates a stream's cursor, then closes its query; each at most once. Nothing is sent on a
 * broken connection: its disconnect closes them on the server.
 *
 * @internal
 */
export const close = <T extends Driver.Types>(co: CheckoutState<T>, open: Cursor<T>): Effect.Effect<void> =>
  Effect.suspend(() => {
    const driver = co.owner.driver
    const conn = co.live.connection
    const steps: Array<Effect.Effect<void>> = []
    if (open.hasCursor) {
      open.hasCursor = false
      const cursor = open.cursor
      steps.push(
        Effect.suspend(() =>
          co.broken === undefined
            ? Effect.ignore(Checkout.invoke(co, driver.deallocate(conn, open.prepared, cursor)))
            : Effect.void
        )
      )
    }
    if (open.hasPrepared) {
      open.hasPrepared = false
      steps.push(
        Effect.suspend(() =>
          co.broken === undefined ? Effect.ignore(Checkout.invoke(co, driver.close(conn, open.prepared))) : Effect.void
        )
      )
    }
    return Effect.all(steps, { discard: true })
  })

/** @internal */
export const stream = <T extends Driver.Types>(
  co: CheckoutState<T>,
  query: T["query"],
  params: ReadonlyArray<unknown>,
  options: { readonly maxRows: number }
): Stream.Stream<T["row"], Pool.CallError<T>> =>
  Stream.unwrapScoped(
    Effect.gen(function*() {
      const driver = co.owner.driver
      const conn = co.live.connection
      const open: Cursor<T> = { prepared: undefined, hasPrepared: false, cursor: undefined, hasCursor: false }
      // Registered with the checkout, which closes it if it ends first; else closed here.
      yield* Effect.acquireRelease(
        Effect.sync(() => (co.cursors ??= new Set()).add(open)),
        () => co.cursors?.delete(open) ? close(co, open) : Effect.void
      )
      yield* Effect.uninterruptible(Effect.map(Checkout.call(co, () => driver.prepare(conn, query)), (prepared) => {
        open.prepared = prepared
        open.hasPrepared = true
      }))
      yield* Effect.uninterruptible(
        Effect.map(Checkout.call(co, () => driver.declare(conn, open.prepared, params)), (cursor) => {
          open.cursor = cursor
          open.hasCursor = true
        })
      )
      return Stream.paginateChunkEffect(false, (done: boolean) =>
        done
          ? Effect.succeed([Chunk.empty<T["row"]>(), Option.none<boolean>()] as const)
          : Effect.map(
            Checkout.call(co, () => driver.fetch(conn, open.prepared, open.cursor, options)),
            (batch) =>
              [Chunk.unsafeFromArray(batch.rows), batch.done ? Option.none<boolean>() : Option.some(false)] as const
          ))
    })
  )
