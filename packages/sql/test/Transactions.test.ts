/**
 * `withTransaction` through `SqlClient` on redial's pool, against the real server: commit (rows
 * invisible to others until then), rollback on failure, @effect/sql's nesting with savepoints,
 * interruption (rolled back, and nothing of the transaction is left on the connection for the
 * next statement), a statement error inside a transaction, and a raw `BEGIN` sent outside
 * `withTransaction`, caught when the connection is checked in (the next statement is not inside
 * that transaction). Every client has a pool of 1, so "the next statement" runs on the same slot;
 * every test checks that no backend is left once its client is released.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { SqlError } from "@effect/sql/SqlError"
import { describe, expect, it } from "@effect/vitest"
import { Cause, Deferred, Duration, Effect, Exit, Fiber, Logger, LogLevel, Option, Stream } from "effect"
import { RedialPgClient } from "../src/index.js"
import * as Pg from "./support/pg.js"

/** The rows of a test's table, read by the admin session (committed rows only). */
const committed = (table: string) =>
  Effect.map(Pg.admin<{ n: number }>(`select n from ${table} order by n`), (r) => r.rows.map((row) => row.n))

/** What the next statement sees: not inside a transaction (no xid), on a backend that is idle. */
const outsideTransaction = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const [row] = yield* sql<{ xid: string | null; state: string | null }>`
    select txid_current_if_assigned()::text as xid,
      (select state from pg_stat_activity where pid = pg_backend_pid()) as state`
  return row!
})

const backendPid = Effect.flatMap(
  SqlClient.SqlClient,
  (sql) => Effect.map(sql<{ pid: number }>`select pg_backend_pid() as pid`, (r) => r[0]!.pid)
)

/** Log lines at Warning and above, recorded. */
const recordingWarnings = <A, E, R>(f: (lines: ReadonlyArray<string>) => Effect.Effect<A, E, R>) => {
  const lines: Array<string> = []
  const logger = Logger.make(({ logLevel, message }) => {
    if (LogLevel.greaterThanEqual(logLevel, LogLevel.Warning)) lines.push(String(message))
  })
  return f(lines).pipe(Effect.provide(Logger.replace(Logger.defaultLogger, logger)))
}

describe("withTransaction", () => {
  it.live("commits: the rows are invisible to another session until the commit, visible after", () =>
    Pg.withTable("n int", (table) =>
      Pg.withClient("sqltx_commit", () =>
        Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          const result = yield* sql.withTransaction(Effect.gen(function*() {
            yield* sql`insert into ${sql(table)} values (1), (2)`
            expect(yield* committed(table)).toEqual([])
            // the transaction sees its own rows
            expect(yield* sql`select count(*)::int as n from ${sql(table)}`).toEqual([{ n: 2 }])
            return "done"
          }))
          expect(result).toBe("done")
          expect(yield* committed(table)).toEqual([1, 2])
          expect(yield* outsideTransaction).toEqual({ xid: null, state: "active" })
        }), { size: 1 })))

  it.live("rolls back when the effect fails, and fails with the effect's own error", () =>
    Pg.withTable("n int", (table) =>
      Pg.withClient("sqltx_rollback", () =>
        Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          const error = yield* Effect.flip(sql.withTransaction(Effect.gen(function*() {
            yield* sql`insert into ${sql(table)} values (1)`
            return yield* Effect.fail("no" as const)
          })))
          expect(error).toBe("no")
          expect(yield* committed(table)).toEqual([])
          // a defect rolls back as well
          const died = yield* Effect.exit(sql.withTransaction(Effect.gen(function*() {
            yield* sql`insert into ${sql(table)} values (2)`
            return yield* Effect.die("boom")
          })))
          expect(Exit.isFailure(died) && Cause.isDie(died.cause)).toBe(true)
          expect(yield* committed(table)).toEqual([])
          expect(yield* outsideTransaction).toEqual({ xid: null, state: "active" })
        }), { size: 1 })))

  it.live("nests with savepoints: an inner failure rolls back to its savepoint only, the outer commits", () =>
    Pg.withTable("n int", (table) =>
      Pg.withClient("sqltx_savepoint", () =>
        Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          const insert = (n: number) => sql`insert into ${sql(table)} values (${n})`
          yield* sql.withTransaction(Effect.gen(function*() {
            yield* insert(1)
            const outerPid = yield* backendPid
            yield* sql.withTransaction(Effect.gen(function*() {
              yield* insert(2)
              // one connection for the whole transaction, nested levels included
              expect(yield* backendPid).toBe(outerPid)
              const third = yield* Effect.either(sql.withTransaction(Effect.gen(function*() {
                yield* insert(3)
                return yield* Effect.fail("third fails")
              })))
              expect(third._tag).toBe("Left")
              yield* insert(4)
            }))
            // a failed statement inside a savepoint: rolled back to it, the transaction goes on
            const failed = yield* Effect.flip(sql.withTransaction(
              Effect.zipRight(insert(5), sql`select 1/0`)
            ))
            expect(Option.map(RedialPgClient.pgError(failed), (e) => e.code)).toEqual(Option.some("22012"))
            yield* insert(6)
            expect(yield* committed(table)).toEqual([])
          }))
          expect(yield* committed(table)).toEqual([1, 2, 4, 6])
          expect(yield* outsideTransaction).toEqual({ xid: null, state: "active" })
        }), { size: 1 })))

  it.live("an inner failure that the outer level does not catch rolls back everything", () =>
    Pg.withTable("n int", (table) =>
      Pg.withClient("sqltx_nested_fail", () =>
        Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          const error = yield* Effect.flip(sql.withTransaction(Effect.gen(function*() {
            yield* sql`insert into ${sql(table)} values (1)`
            yield* sql.withTransaction(Effect.zipRight(
              sql`insert into ${sql(table)} values (2)`,
              Effect.fail("inner" as const)
            ))
          })))
          expect(error).toBe("inner")
          expect(yield* committed(table)).toEqual([])
        }), { size: 1 })))

  it.live("interrupted during a statement: the statement is cancelled, the transaction rolled back, nothing leaks to the next statement", () =>
    Pg.withTable("n int", (table) =>
      Pg.withClient("sqltx_interrupt_stmt", (app) =>
        Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          const inserted = yield* Deferred.make<void>()
          const fiber = yield* sql.withTransaction(Effect.gen(function*() {
            yield* sql`insert into ${sql(table)} values (1)`
            yield* Deferred.succeed(inserted, undefined)
            yield* sql`select pg_sleep(30)`
          })).pipe(Effect.fork)
          yield* Deferred.await(inserted)
          // the sleep is running on the server
          yield* Pg.eventually(Pg.activity(app), (rows) => rows.some((r) => r.query.includes("pg_sleep(30)")))
          const [took, exit] = yield* Effect.timed(Fiber.interrupt(fiber))
          expect(Exit.isInterrupted(exit)).toBe(true)
          // cancelled, not waited for
          expect(Duration.toMillis(took)).toBeLessThan(5_000)
          expect(yield* committed(table)).toEqual([])
          expect(yield* outsideTransaction).toEqual({ xid: null, state: "active" })
          // and the server runs no pg_sleep for it any more
          const left = yield* Pg.activity(app)
          expect(left.filter((r) => r.state === "active" && r.query.includes("pg_sleep"))).toEqual([])
          expect(left.filter((r) => r.state?.startsWith("idle in transaction"))).toEqual([])
        }), { size: 1 })))

  it.live("interrupted between statements: the transaction is rolled back, nothing leaks to the next statement", () =>
    Pg.withTable("n int", (table) =>
      Pg.withClient("sqltx_interrupt_idle", (app) =>
        Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          const inserted = yield* Deferred.make<void>()
          const fiber = yield* sql.withTransaction(Effect.gen(function*() {
            yield* sql`insert into ${sql(table)} values (1)`
            yield* Deferred.succeed(inserted, undefined)
            return yield* Effect.never
          })).pipe(Effect.fork)
          yield* Deferred.await(inserted)
          expect((yield* Pg.activity(app)).map((r) => r.state)).toEqual(["idle in transaction"])
          yield* Fiber.interrupt(fiber)
          expect(yield* committed(table)).toEqual([])
          expect(yield* outsideTransaction).toEqual({ xid: null, state: "active" })
          expect((yield* Pg.activity(app)).map((r) => r.state)).toEqual(["idle"])
        }), { size: 1 })))

  it.live("a statement error inside a transaction fails it with an SqlError whose cause is the PgError; rolled back; the next transaction commits", () =>
    Pg.withTable("n int primary key", (table) =>
      Pg.withClient("sqltx_stmt_error", () =>
        Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          yield* sql`insert into ${sql(table)} values (1)`
          const error = yield* Effect.flip(sql.withTransaction(Effect.gen(function*() {
            yield* sql`insert into ${sql(table)} values (2)`
            yield* sql`insert into ${sql(table)} values (1)` // unique violation
            yield* sql`insert into ${sql(table)} values (3)`
          })))
          expect(error).toBeInstanceOf(SqlError)
          const pg = Option.getOrThrow(RedialPgClient.pgError(error))
          expect(pg.code).toBe("23505")
          expect(pg.constraint).toBe(`${table}_pkey`)
          expect(RedialPgClient.isRetryable(error)).toBe(false)
          expect(yield* committed(table)).toEqual([1])
          expect(yield* outsideTransaction).toEqual({ xid: null, state: "active" })
          yield* sql.withTransaction(sql`insert into ${sql(table)} values (4)`)
          expect(yield* committed(table)).toEqual([1, 4])
        }), { size: 1 })))

  it.live("a statement error caught inside the transaction: the next statement fails with 25P02 (in failed transaction), and nothing commits", () =>
    Pg.withTable("n int primary key", (table) =>
      Pg.withClient("sqltx_stmt_caught", () =>
        Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          const after = yield* Effect.flip(sql.withTransaction(Effect.gen(function*() {
            yield* sql`insert into ${sql(table)} values (1)`
            yield* Effect.ignore(sql`select 1/0`)
            yield* sql`insert into ${sql(table)} values (2)`
          })))
          expect(Option.map(RedialPgClient.pgError(after), (e) => e.code)).toEqual(Option.some("25P02"))
          expect(yield* committed(table)).toEqual([])
          expect(yield* outsideTransaction).toEqual({ xid: null, state: "active" })
        }), { size: 1 })))

  it.live("an error caught inside the transaction, and nothing after it: COMMIT is answered with ROLLBACK, and the transaction fails typed (25P02) instead of succeeding", () =>
    Pg.withTable("n int", (table) =>
      Pg.withClient("sqltx_commit_rolled_back", () =>
        Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          const exit = yield* Effect.exit(sql.withTransaction(Effect.gen(function*() {
            yield* sql`insert into ${sql(table)} values (1)`
            yield* Effect.ignore(sql`select 1/0`)
            return "looks committed"
          })))
          // the server rolled the transaction back: a success here would report rows that are not there
          expect(yield* committed(table)).toEqual([])
          expect(Exit.isFailure(exit) && !Cause.isDie(exit.cause)).toBe(true)
          const error = Exit.isFailure(exit) ? Option.getOrUndefined(Cause.failureOption(exit.cause)) : undefined
          expect(error).toBeInstanceOf(SqlError)
          const pg = Option.getOrThrow(RedialPgClient.pgError(error as SqlError))
          expect([pg.code, pg.operation]).toEqual(["25P02", "commit"])
          expect(RedialPgClient.isRetryable(error)).toBe(false)
          expect(yield* outsideTransaction).toEqual({ xid: null, state: "active" })
        }), { size: 1 })))

  it.live("a stream inside a transaction reads on the transaction's connection (its uncommitted rows)", () =>
    Pg.withTable("n int", (table) =>
      Pg.withClient("sqltx_stream", () =>
        Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          const seen = yield* sql.withTransaction(Effect.gen(function*() {
            yield* sql`insert into ${sql(table)} select g from generate_series(1, 300) g`
            return yield* Stream.runCount(sql`select n from ${sql(table)}`.stream)
          }))
          expect(seen).toBe(300)
          expect((yield* committed(table)).length).toBe(300)
        }), { size: 1 })))

  it.live("a raw BEGIN through sql.unsafe outside withTransaction is caught at check-in (the statement fails with StatusMismatch): the next statement is not inside that transaction", () =>
    Pg.withTable(
      "n int",
      (table) =>
        Pg.withClient("sqltx_raw_begin", (app) =>
          recordingWarnings((_warnings) =>
            Effect.gen(function*() {
              const sql = yield* SqlClient.SqlClient
              const before = yield* backendPid
              // the statement left a transaction open: the pool's check-in fails it (StatusMismatch,
              // inside the SqlError) and drops the connection
              const error = yield* Effect.flip(sql.unsafe("BEGIN"))
              expect(error.cause).toMatchObject({ _tag: "StatusMismatch", checkedIn: "transaction" })
              // the connection that came back in a transaction was dropped: a new backend
              const [assigned] = yield* sql<{ xid: string }>`select txid_current()::text as xid`
              expect(assigned?.xid).toMatch(/^\d+$/)
              expect(yield* outsideTransaction).toEqual({ xid: null, state: "active" })
              yield* sql`insert into ${sql(table)} values (1)`
              expect(yield* committed(table)).toEqual([1])
              expect(yield* backendPid).not.toBe(before)
              // the old backend is gone from the server (not idle in transaction, holding locks)
              const states = yield* Pg.eventually(Pg.activity(app), (rows) => rows.length === 1)
              expect(states.map((r) => [r.pid, r.state])).not.toContainEqual([before, "idle in transaction"])
            })
          ), { size: 1 })
    ))

  it.live("a deferred constraint violated at COMMIT fails the transaction with a typed SqlError (23505), not a defect", () =>
    Pg.withTable(
      "n int, constraint one_n unique (n) deferrable initially deferred",
      (table) =>
        Pg.withClient("sqltx_commit_deferred", () =>
          Effect.gen(function*() {
            const sql = yield* SqlClient.SqlClient
            const exit = yield* Effect.exit(sql.withTransaction(Effect.gen(function*() {
              yield* sql`insert into ${sql(table)} values (1)`
              yield* sql`insert into ${sql(table)} values (1)` // checked at COMMIT only
            })))
            expect(Exit.isFailure(exit) && !Cause.isDie(exit.cause)).toBe(true)
            const error = Exit.isFailure(exit) ? Option.getOrUndefined(Cause.failureOption(exit.cause)) : undefined
            expect(error).toBeInstanceOf(SqlError)
            const pg = Option.getOrThrow(RedialPgClient.pgError(error as SqlError))
            expect(pg.code).toBe("23505")
            expect(pg.constraint).toBe("one_n")
            expect(RedialPgClient.isRetryable(error)).toBe(false)
            expect(yield* committed(table)).toEqual([])
            expect(yield* outsideTransaction).toEqual({ xid: null, state: "active" })
          }), { size: 1 })
    ))

  it.live("a serialization failure at COMMIT is a typed, retryable SqlError (40001): Effect.retry({ while: isRetryable }) commits on the next attempt", () =>
    Pg.withTable(
      "class int, value int",
      (table) =>
        Pg.withClient("sqltx_commit_40001", () =>
          Effect.scoped(Effect.gen(function*() {
            const sql = yield* SqlClient.SqlClient
            yield* Pg.admin(`insert into ${table} values (1, 10), (2, 20)`)
            const other = yield* Pg.session()
            let attempts = 0
            const errors: Array<string> = []
            // write skew: this transaction reads class 1 and writes class 2, the other reads class 2
            // and writes class 1 and commits first; this one is then the pivot, cancelled at COMMIT
            const attempt = sql.withTransaction(Effect.gen(function*() {
              attempts++
              yield* sql`set transaction isolation level serializable`
              yield* sql`select sum(value) from ${sql(table)} where class = 1`
              yield* sql`insert into ${sql(table)} values (2, 30)`
              if (attempts === 1) {
                yield* other.query("begin isolation level serializable")
                yield* other.query(`select sum(value) from ${table} where class = 2`)
                yield* other.query(`insert into ${table} values (1, 30)`)
                yield* other.query("commit")
              }
            })).pipe(
              Effect.tapError((error) =>
                Effect.sync(() =>
                  errors.push(
                    Option.match(RedialPgClient.pgError(error as SqlError), {
                      onNone: () => String(error),
                      onSome: (e) => `${e.code}`
                    })
                  )
                )
              ),
              Effect.retry({ while: RedialPgClient.isRetryable, times: 3 })
            )
            yield* attempt
            expect(errors).toEqual(["40001"])
            expect(attempts).toBe(2)
            const rows = yield* Pg.admin<{ class: number; value: number }>(
              `select class, value from ${table} order by class, value`
            )
            expect(rows.rows).toEqual([
              { class: 1, value: 10 },
              { class: 1, value: 30 },
              { class: 2, value: 20 },
              { class: 2, value: 30 }
            ])
          })), { size: 1 })
    ))
})
