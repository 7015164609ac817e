/**
 * `SqlClient` on redial's pool under faults, against the real server: the backend of a
 * transaction terminated (`pg_terminate_backend`) during a statement and between statements (the
 * transaction fails with an `SqlError` whose cause says the connection was terminated; the next
 * transaction succeeds); overload of a pool of 1 that sheds (`SqlError`s whose cause is the pool's
 * `Dropped`, retryable); a statement interrupted by `Effect.timeout` cancelled on the server; a
 * stream whose backend is terminated; `listen` going on by itself after its backend is terminated.
 * Every test checks that no backend is left once its client is released.
 */
import { PgClient } from "@effect/sql-pg"
import * as SqlClient from "@effect/sql/SqlClient"
import { SqlError } from "@effect/sql/SqlError"
import { describe, expect, it } from "@effect/vitest"
import { Timeout } from "@redial/core"
import { ConnectionBroken, Driver, Dropped } from "@redial/pool"
import { PgError } from "@redial/postgres"
import { Cause, Deferred, Duration, Effect, Exit, Fiber, Option, Stream } from "effect"
import { RedialPgClient } from "../src/index.js"
import * as Pg from "./support/pg.js"

/** What a caller saw, named: an SqlError's redial cause, or a defect / interruption (which must not happen). */
const kindOf = (exit: Exit.Exit<unknown, unknown>): string => {
  if (Exit.isSuccess(exit)) return "success"
  if (Cause.isDie(exit.cause)) return `defect: ${Cause.pretty(exit.cause)}`
  if (Cause.isInterruptedOnly(exit.cause)) return "interrupted"
  const failure = Option.getOrUndefined(Cause.failureOption(exit.cause))
  if (!(failure instanceof SqlError)) return `not an SqlError: ${String(failure)}`
  const cause = failure.cause
  if (cause instanceof Dropped) return "Dropped"
  if (cause instanceof Timeout) return `Timeout ${cause.operation}`
  if (cause instanceof PgError.PgError) return `PgError ${cause.code ?? cause.reason}`
  if (cause instanceof ConnectionBroken) return `ConnectionBroken ${cause.reason}`
  if (cause instanceof Driver.Disconnect) return "Disconnect"
  return `SqlError of ${String(cause)}`
}

/** The typed failure of a failed exit (throws when there is none). */
const failureOf = (exit: Exit.Exit<unknown, unknown>): SqlError => {
  const failure = Exit.isFailure(exit) ? Option.getOrUndefined(Cause.failureOption(exit.cause)) : undefined
  if (!(failure instanceof SqlError)) throw new Error(`not an SqlError: ${String(failure)}`)
  return failure
}

const backendPid = Effect.flatMap(
  SqlClient.SqlClient,
  (sql) => Effect.map(sql<{ pid: number }>`select pg_backend_pid() as pid`, (r) => r[0]!.pid)
)

const committed = (table: string) =>
  Effect.map(Pg.admin<{ n: number }>(`select n from ${table} order by n`), (r) => r.rows.map((row) => row.n))

describe("faults", () => {
  it.live("the transaction's backend terminated during a statement: an SqlError saying so, rolled back; the next transaction succeeds", () =>
    Pg.withTable("n int", (table) =>
      Pg.withClient("sqlf_term_stmt", (app) =>
        Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          const pid = yield* Deferred.make<number>()
          const fiber = yield* sql.withTransaction(Effect.gen(function*() {
            yield* sql`insert into ${sql(table)} values (1)`
            yield* Deferred.succeed(pid, yield* backendPid)
            yield* sql`select pg_sleep(30)`
          })).pipe(Effect.exit, Effect.fork)
          const victim = yield* Deferred.await(pid)
          yield* Pg.eventually(Pg.activity(app), (rows) => rows.some((r) => r.query.includes("pg_sleep(30)")))
          yield* Pg.terminate(victim)
          const exit = yield* Fiber.join(fiber)
          expect(kindOf(exit)).toMatch(/^(PgError 57P01|ConnectionBroken|Disconnect)/)
          const error = failureOf(exit)
          // the cause says the server terminated the connection (57P01 admin_shutdown)
          const pg = Option.getOrThrow(RedialPgClient.pgError(error))
          expect(pg.code).toBe("57P01")
          expect(RedialPgClient.isRetryable(error)).toBe(true)
          expect(yield* committed(table)).toEqual([])
          // the next transaction succeeds, on a new backend
          yield* sql.withTransaction(sql`insert into ${sql(table)} values (2)`)
          expect(yield* committed(table)).toEqual([2])
          expect(yield* backendPid).not.toBe(victim)
        }), { size: 1 })))

  it.live("the transaction's backend terminated between statements: the next statement fails with an SqlError saying so; the next transaction succeeds", () =>
    Pg.withTable("n int", (table) =>
      Pg.withClient("sqlf_term_idle", () =>
        Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          const exit = yield* Effect.exit(sql.withTransaction(Effect.gen(function*() {
            yield* sql`insert into ${sql(table)} values (1)`
            yield* Pg.terminate(yield* backendPid)
            yield* sql`insert into ${sql(table)} values (2)`
          })))
          // The pool hears of the loss from the socket (the driver's `lost`) before the next
          // statement is sent: the checkout is broken, and the statement fails without reaching
          // the driver (ConnectionBroken, reason Lost; the pool's `lost` carries no cause, so the
          // server's 57P01 is not in it). Should the statement get to the socket first, it fails
          // with the server's 57P01 itself.
          const kind = kindOf(exit)
          expect(kind).toMatch(/^(ConnectionBroken Lost|Disconnect|PgError 57P01)/)
          const error = failureOf(exit)
          if (kind === "ConnectionBroken Lost") {
            expect((error.cause as ConnectionBroken).reason).toBe("Lost")
          } else {
            expect(Option.map(RedialPgClient.pgError(error), (e) => e.code)).toEqual(Option.some("57P01"))
          }
          expect(RedialPgClient.isRetryable(error)).toBe(true)
          expect(yield* committed(table)).toEqual([])
          yield* sql.withTransaction(sql`insert into ${sql(table)} values (3)`)
          expect(yield* committed(table)).toEqual([3])
        }), { size: 1 })))

  it.live("overload: a pool of 1 that sheds gives SqlErrors whose cause is Dropped, retryable; the others succeed; no defect", () =>
    Pg.withClient("sqlf_overload", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        // connected before the burst
        yield* sql`select 1`
        const exits = yield* Effect.all(
          Array.from({ length: 60 }, () => Effect.exit(sql`select pg_sleep(0.05)`)),
          { concurrency: "unbounded" }
        )
        const kinds = exits.map(kindOf)
        const counts = new Map<string, number>()
        for (const kind of kinds) counts.set(kind, (counts.get(kind) ?? 0) + 1)
        expect([...counts.keys()].filter((k) => k !== "success" && k !== "Dropped")).toEqual([])
        expect(counts.get("Dropped") ?? 0).toBeGreaterThan(0)
        expect(counts.get("success") ?? 0).toBeGreaterThan(0)
        for (const exit of exits) {
          if (Exit.isFailure(exit)) {
            const error = failureOf(exit)
            expect(error).toBeInstanceOf(SqlError)
            expect(RedialPgClient.isRetryable(error)).toBe(true)
            expect(Option.getOrUndefined(RedialPgClient.redialError(error))).toBeInstanceOf(Dropped)
          }
        }
        // and the pool serves afterwards
        expect(yield* sql`select 1 as one`).toEqual([{ one: 1 }])
      }), { size: 1, queueTarget: "5 millis", queueInterval: "20 millis" }))

  it.live("cancel on interrupt: pg_sleep(30) under Effect.timeout of 100 ms is stopped on the server within a second", () =>
    Pg.withClient("sqlf_cancel", (app) =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const result = yield* sql`select pg_sleep(30)`.pipe(Effect.timeout("100 millis"), Effect.either)
        expect(result._tag).toBe("Left")
        const [took] = yield* Effect.timed(Pg.eventually(
          Pg.activity(app),
          (rows) => !rows.some((r) => r.state === "active" && r.query.includes("pg_sleep(30)")),
          "1 second",
          "10 millis"
        ))
        expect(Duration.toMillis(took)).toBeLessThan(1_000)
        // the connection serves the next statement (cancelled cleanly, or replaced)
        expect(yield* sql`select 1 as one`).toEqual([{ one: 1 }])
      }), { size: 1 }))

  it.live("a stream whose backend is terminated mid-stream fails with an SqlError saying so; the pool serves after", () =>
    Pg.withClient("sqlf_stream", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        let seen = 0
        const exit = yield* sql<{ n: number }>`select n, pg_backend_pid() as pid from generate_series(1, 100000) n`
          .stream.pipe(
            Stream.tap((row) =>
              Effect.gen(function*() {
                seen++
                if (seen === 1) yield* Pg.terminate((row as unknown as { pid: number }).pid)
              })
            ),
            Stream.runDrain,
            Effect.exit
          )
        expect(kindOf(exit)).toMatch(/^(PgError 57P01|ConnectionBroken|Disconnect)/)
        expect(seen).toBeLessThan(100000)
        expect(yield* sql`select 1 as one`).toEqual([{ one: 1 }])
      }), { size: 1 }))

  it.live("listen goes on after its backend is terminated: a notify sent once it is back arrives on the same stream", () =>
    Pg.withClient("sqlf_listen", (app) =>
      Effect.scoped(Effect.gen(function*() {
        const sql = yield* PgClient.PgClient
        const channel = Pg.unique("chan")
        const stream = yield* Pg.listening(sql, channel)
        yield* sql.notify(channel, "before")
        expect(yield* stream.take(1)).toEqual(["before"])
        // the listener's backend: the one of this app not running our statements
        const pool = yield* backendPid
        const rows = yield* Pg.activity(app)
        const listener = rows.find((r) => r.pid !== pool)
        expect(listener).toBeDefined()
        yield* Pg.terminate(listener!.pid)
        // a new backend for the listener, LISTENing again; notifications reach the same stream
        yield* Pg.eventually(Pg.activity(app), (now) => now.some((r) => r.pid !== pool && r.pid !== listener!.pid))
        yield* stream.awaitDelivery
        yield* sql.notify(channel, "after")
        expect(yield* stream.take(1)).toEqual(["after"])
      })), { size: 1 }))
})
