/**
 * Transactions against the real server: commit, rollback, nested savepoints; a failed statement
 * puts the transaction in status `error` (read from the server's own ReadyForQuery, at once) and
 * the transaction rolls back; a COMMIT of a failed transaction fails typed; a serialization
 * failure between two SERIALIZABLE transactions is a retryable 40001 and the retry commits; a
 * unique violation is a 23505 with its fields, not retryable, on a connection that stays usable.
 */
import { describe, expect, it } from "@effect/vitest"
import { RolledBack } from "@redial/pool"
import { FaultProxy } from "@redial/testing"
import { Deferred, Effect, Either, Fiber, Stream } from "effect"
import { PgError, PgPool } from "../src/index.js"
import * as Pg from "./support/pg.js"
import { eventually } from "./support/probe.js"

const noBackendLeft = (app: string) => eventually(Pg.backends(app), (n) => n === 0, "5 seconds")

/** A table of its own for one test, dropped afterwards; `f` gets its name. */
const withTable = <A, E, R>(columns: string, f: (table: string) => Effect.Effect<A, E, R>) =>
  Effect.acquireUseRelease(
    Effect.map(Effect.sync(() => Pg.unique("tx")), (table) => table).pipe(
      Effect.tap((table) => Pg.admin(`create table ${table} (${columns})`))
    ),
    f,
    (table) => Effect.orDie(Pg.admin(`drop table if exists ${table}`))
  )

const rowsOf = (table: string) =>
  Effect.map(Pg.admin<{ n: number }>(`select n from ${table} order by n`), (r) => r.rows.map((row) => row.n))

describe("transactions", () => {
  it.live("commit makes the rows visible; a failure rolls them back", () =>
    withTable("n int", (table) =>
      Effect.gen(function*() {
        const app = Pg.unique("tx_commit")
        yield* Effect.scoped(Effect.gen(function*() {
          const pool = yield* PgPool.make({ connect: Pg.config(app), size: 1, name: app })
          yield* pool.transaction((conn) =>
            Effect.gen(function*() {
              yield* conn.query(`insert into ${table} values (1)`)
              expect(yield* conn.status).toBe("transaction")
              // not visible outside before the commit
              expect(yield* rowsOf(table)).toEqual([])
            })
          )
          expect(yield* rowsOf(table)).toEqual([1])
          const failed = yield* Effect.flip(pool.transaction((conn) =>
            Effect.zipRight(conn.query(`insert into ${table} values (2)`), conn.rollback("no" as const))
          ))
          expect(failed).toBe("no")
          expect(yield* rowsOf(table)).toEqual([1])
          expect(
            yield* pool.run((conn) =>
              conn.status
            )
          ).toBe("idle")
        }))
        yield* noBackendLeft(app)
      })))

  it.live("savepoints nested: an inner failure rolls back to its savepoint only; the outer commits", () =>
    withTable("n int", (table) =>
      Effect.gen(function*() {
        const app = Pg.unique("tx_savepoint")
        yield* Effect.scoped(Effect.gen(function*() {
          const pool = yield* PgPool.make({ connect: Pg.config(app), size: 1, name: app })
          yield* pool.transaction((conn) =>
            Effect.gen(function*() {
              yield* conn.query(`insert into ${table} values (1)`)
              yield* conn.transaction((inner) =>
                Effect.gen(function*() {
                  yield* inner.query(`insert into ${table} values (2)`)
                  const deeper = yield* Effect.either(inner.transaction((third) =>
                    Effect.zipRight(
                      third.query(`insert into ${table} values (3)`),
                      third.query("select 1/0")
                    ), { savepoint: true }))
                  expect(Either.isLeft(deeper)).toBe(true)
                  // the failed savepoint was rolled back to: the transaction goes on
                  expect(yield* inner.status).toBe("transaction")
                }), { savepoint: true })
              const failed = yield* Effect.either(conn.transaction(
                (inner) =>
                  Effect.zipRight(inner.query(`insert into ${table} values (4)`), inner.rollback("undo" as const)),
                { savepoint: true }
              ))
              expect(failed).toEqual(Either.left("undo"))
              yield* conn.query(`insert into ${table} values (5)`)
            })
          )
          expect(yield* rowsOf(table)).toEqual([1, 2, 5])
        }))
        yield* noBackendLeft(app)
      })))

  it.live(
    "a failed statement puts the transaction in status error at once; the transaction rolls back",
    () =>
      withTable("n int", (table) =>
        Effect.gen(function*() {
          const app = Pg.unique("tx_failed")
          yield* Effect.scoped(Effect.gen(function*() {
            // Latency keeps the server's ReadyForQuery well behind its ErrorResponse.
            const proxy = yield* FaultProxy.make({ target: { port: Pg.server.port } })
            const pool = yield* PgPool.make({
              connect: Pg.config(app, { host: proxy.host, port: proxy.port }),
              size: 1,
              name: app,
              timeout: "30 seconds"
            })
            yield* pool.query("select 1")
            yield* proxy.latency("50 millis")
            const simple = yield* Effect.flip(pool.transaction((conn) =>
              Effect.gen(function*() {
                yield* conn.query(`insert into ${table} values (1)`)
                const error = yield* Effect.flip(conn.query("select 1/0"))
                expect(error).toMatchObject({ code: "22012", condition: "division_by_zero" })
                expect(yield* conn.status).toBe("error")
                // every later statement fails until the transaction ends
                const next = yield* Effect.flip(conn.query("select 1"))
                expect(next).toMatchObject({ code: "25P02" })
                return yield* Effect.fail(error)
              })
            ))
            expect(simple).toMatchObject({ code: "22012" })
            // a cursor's error: pg-cursor sends Sync only once the error came in
            const streamed = yield* Effect.flip(pool.transaction((conn) =>
              Effect.gen(function*() {
                yield* conn.query(`insert into ${table} values (2)`)
                // read by pulls, so that the status is read while the stream is still open
                return yield* Effect.scoped(Effect.gen(function*() {
                  const pull = yield* Stream.toPull(
                    conn.stream("select 1 / (g - 2500) as n from generate_series(1, 5000) g", [], { maxRows: 1000 })
                  )
                  const error = yield* Effect.flip(Effect.forever(pull))
                  expect(error).toMatchObject({ _tag: "Some", value: { code: "22012" } })
                  expect(yield* conn.status).toBe("error")
                  return yield* Effect.fail((error as { value: unknown }).value)
                }))
              })
            ))
            expect(streamed).toMatchObject({ code: "22012" })
            yield* proxy.latency(0)
            expect(yield* rowsOf(table)).toEqual([])
            expect(yield* pool.run((conn) => conn.status)).toBe("idle")
          }))
          yield* noBackendLeft(app)
        })),
    30_000
  )

  it.live("COMMIT of a failed transaction fails with InvalidTransactionState; the connection is idle again", () =>
    Effect.gen(function*() {
      const app = Pg.unique("tx_commit_failed")
      yield* Effect.scoped(Effect.gen(function*() {
        const pool = yield* PgPool.make({ connect: Pg.config(app), size: 1, name: app })
        const pid = yield* pool.run((conn) => Effect.succeed(conn.connection.pid))
        // The caller swallows the statement's error: the transaction still failed on the server.
        const error = yield* Effect.flip(pool.transaction((conn) => Effect.ignore(conn.query("select 1/0"))))
        expect(error).toBeInstanceOf(PgError.PgError)
        expect(error).toMatchObject({
          reason: "InvalidTransactionState",
          operation: "commit",
          code: "25P02",
          condition: "in_failed_sql_transaction"
        })
        const again = yield* pool.query("select pg_backend_pid() as pid")
        expect(again.rows[0]!["pid"]).toBe(pid)
        expect(yield* pool.run((conn) => conn.status)).toBe("idle")
      }))
      yield* noBackendLeft(app)
    }))

  it.live("a serialization failure between two SERIALIZABLE transactions: a retryable 40001, and the retry commits", () =>
    withTable("id int primary key, n int", (table) =>
      Effect.gen(function*() {
        const app = Pg.unique("tx_serializable")
        yield* Pg.admin(`insert into ${table} values (1, 0)`)
        yield* Effect.scoped(Effect.gen(function*() {
          const pool = yield* PgPool.make({ connect: Pg.config(app), size: 2, name: app })
          const firstRead = yield* Deferred.make<void>()
          const secondCommitted = yield* Deferred.make<void>()
          let attempts = 0
          // Reads, waits for the other to commit its update, then updates the same row.
          const first = pool.transaction((conn) =>
            Effect.gen(function*() {
              attempts += 1
              yield* conn.query("set transaction isolation level serializable")
              const read = yield* conn.query(`select n from ${table} where id = 1`)
              yield* Deferred.succeed(firstRead, undefined)
              if (attempts === 1) yield* Deferred.await(secondCommitted)
              yield* conn.query(`update ${table} set n = $1 where id = 1`, [(read.rows[0]!["n"] as number) + 1])
            })
          )
          const fiber = yield* Effect.fork(Effect.either(first))
          yield* Deferred.await(firstRead)
          yield* pool.transaction((conn) =>
            Effect.zipRight(
              conn.query("set transaction isolation level serializable"),
              conn.query(`update ${table} set n = n + 10 where id = 1`)
            )
          )
          yield* Deferred.succeed(secondCommitted, undefined)
          const outcome = yield* Fiber.join(fiber)
          expect(Either.isLeft(outcome)).toBe(true)
          const error = (outcome as Either.Left<unknown, void>).left
          expect(error).toBeInstanceOf(PgError.PgError)
          expect(error).toMatchObject({
            code: "40001",
            condition: "serialization_failure",
            reason: "TransactionRollback",
            retryable: true,
            fatal: false
          })
          // The same work again, as a caller would on a retryable error: it commits.
          yield* first
          expect(attempts).toBe(2)
          const rows = yield* Pg.admin<{ n: number }>(`select n from ${table} where id = 1`)
          expect(rows.rows[0]!.n).toBe(11)
        }))
        yield* noBackendLeft(app)
      })))

  it.live("a unique violation: 23505 with its constraint, table and detail, not retryable; the connection stays", () =>
    withTable("id int primary key", (table) =>
      Effect.gen(function*() {
        const app = Pg.unique("tx_unique")
        yield* Effect.scoped(Effect.gen(function*() {
          const pool = yield* PgPool.make({ connect: Pg.config(app), size: 1, name: app })
          const pid = yield* pool.run((conn) => Effect.succeed(conn.connection.pid))
          yield* pool.query(`insert into ${table} values (1)`)
          const error = yield* Effect.flip(
            pool.transaction((conn) => conn.query(`insert into ${table} values ($1)`, [1]))
          )
          expect(error).toBeInstanceOf(PgError.PgError)
          expect(error).toMatchObject({
            reason: "IntegrityConstraintViolation",
            code: "23505",
            condition: "unique_violation",
            constraint: `${table}_pkey`,
            table,
            schema: "public",
            detail: "Key (id)=(1) already exists.",
            retryable: false,
            fatal: false
          })
          const again = yield* pool.query("select pg_backend_pid() as pid")
          expect(again.rows[0]!["pid"]).toBe(pid)
        }))
        yield* noBackendLeft(app)
      })))

  it.live("a transaction whose function succeeds after an inner one failed rolls back with RolledBack", () =>
    withTable("n int", (table) =>
      Effect.gen(function*() {
        const app = Pg.unique("tx_inner")
        yield* Effect.scoped(Effect.gen(function*() {
          const pool = yield* PgPool.make({ connect: Pg.config(app), size: 1, name: app })
          const error = yield* Effect.flip(pool.transaction((conn) =>
            Effect.gen(function*() {
              yield* conn.query(`insert into ${table} values (1)`)
              yield* Effect.ignore(conn.transaction((inner) => inner.query("select 1/0")))
            })
          ))
          expect(error).toBeInstanceOf(RolledBack)
          expect(yield* rowsOf(table)).toEqual([])
        }))
        yield* noBackendLeft(app)
      })))
})
