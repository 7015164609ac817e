/**
 * Cursors against the real server: 100,000 rows read `maxRows` at a time; a stream stopped early
 * closes its portal on the server (`pg_cursors` on that connection: 0) and its connection serves
 * the next query; an interrupted stream is cancelled on the server; a cursor inside a transaction
 * sees the transaction's rows; a read that fails leaves the connection usable.
 */
import { describe, expect, it } from "@effect/vitest"
import { FaultProxy } from "@redial/testing"
import { Chunk, Effect, Exit, Fiber, FiberId, Stream } from "effect"
import type { PgDriver } from "../src/index.js"
import { PgPool } from "../src/index.js"
import * as Pg from "./support/pg.js"
import { eventually, ms } from "./support/probe.js"

const noBackendLeft = (app: string) => eventually(Pg.backends(app), (n) => n === 0, "5 seconds")

const openCursors = (conn: { readonly query: PgPool.PgPool["query"] }) =>
  Effect.map(conn.query("select count(*)::int as n from pg_cursors"), (r) => r.rows[0]!["n"] as number)

const backendPid = (pool: PgPool.PgPool) =>
  Effect.map(pool.query("select pg_backend_pid() as pid"), (r) => r.rows[0]!["pid"] as number)

describe("cursors", () => {
  it.live("100,000 rows read fully, 1,000 at a time, in order", () =>
    Effect.gen(function*() {
      const app = Pg.unique("cursor_full")
      yield* Effect.scoped(Effect.gen(function*() {
        const pool = yield* PgPool.make({ connect: Pg.config(app), size: 1, name: app })
        let batches = 0
        const wire = yield* pool.run((conn) =>
          Effect.succeed((conn.connection.client as unknown as { connection: NodeJS.EventEmitter }).connection)
        )
        const onSuspended = () => {
          batches += 1
        }
        wire.on("portalSuspended", onSuspended)
        const [elapsed, rows] = yield* Effect.timed(Stream.runFold(
          pool.stream("select g as n from generate_series(1, 100000) g", [], { maxRows: 1000 }),
          { count: 0, inOrder: true },
          (acc, row: PgDriver.Row) => ({ count: acc.count + 1, inOrder: acc.inOrder && row["n"] === acc.count + 1 })
        ))
        wire.off("portalSuspended", onSuspended)
        console.log(`cursor: 100,000 rows in ${ms(elapsed).toFixed(0)} ms`)
        expect(rows).toEqual({ count: 100000, inOrder: true })
        // 100 full batches suspended the portal; the 101st read found its end
        expect(batches).toBe(100)
        expect(yield* pool.run(openCursors)).toBe(0)
      }))
      yield* noBackendLeft(app)
    }), 60_000)

  it.live(
    "stopped early after 2 batches: the portal is closed on the server, the connection serves the next query",
    () =>
      Effect.gen(function*() {
        const app = Pg.unique("cursor_early")
        yield* Effect.scoped(Effect.gen(function*() {
          const pool = yield* PgPool.make({ connect: Pg.config(app), size: 1, name: app })
          const pid = yield* backendPid(pool)
          const query = "select g as n from generate_series(1, 100000) g"
          // Inside a transaction the portal would outlive the stream if it were not closed.
          const [taken, left] = yield* pool.transaction((conn) =>
            Effect.gen(function*() {
              const taken = yield* Stream.runCollect(Stream.take(conn.stream(query, [], { maxRows: 1000 }), 1500))
              return [Chunk.size(taken), yield* openCursors(conn)] as const
            })
          )
          expect(taken).toBe(1500)
          expect(left).toBe(0)
          // Outside one, on the pool.
          const first = yield* Stream.runCollect(Stream.take(pool.stream(query, [], { maxRows: 1000 }), 1500))
          expect(Chunk.size(first)).toBe(1500)
          expect(yield* pool.run(openCursors)).toBe(0)
          expect(yield* backendPid(pool)).toBe(pid)
        }))
        yield* noBackendLeft(app)
      }),
    30_000
  )

  it.live(
    "interrupted mid-stream: the read is cancelled on the server, no portal is left, the same backend serves",
    () =>
      Effect.gen(function*() {
        const app = Pg.unique("cursor_interrupt")
        yield* Effect.scoped(Effect.gen(function*() {
          const pool = yield* PgPool.make({ connect: Pg.config(app), size: 1, name: app })
          const pid = yield* backendPid(pool)
          let seen = 0
          // The second batch sleeps at its 500th row.
          const fiber = yield* Effect.fork(Stream.runForEach(
            pool.stream(
              "select g as n, case when g = 1500 then pg_sleep(30) end from generate_series(1, 100000) g",
              [],
              { maxRows: 1000 }
            ),
            () =>
              Effect.sync(() => {
                seen += 1
              })
          ))
          yield* eventually(Pg.activity(pid), (a) => a?.state === "active" && seen === 1000, "5 seconds")
          yield* Effect.sleep("100 millis")
          const [elapsed, exit] = yield* Effect.timed(Fiber.interrupt(fiber))
          expect(Exit.isInterrupted(exit)).toBe(true)
          expect(ms(elapsed)).toBeLessThan(1000)
          expect((yield* Pg.activity(pid))?.state).toBe("idle")
          expect(yield* pool.run(openCursors)).toBe(0)
          expect(yield* backendPid(pool)).toBe(pid)
        }))
        yield* noBackendLeft(app)
      }),
    30_000
  )

  it.live(
    "a cursor inside a transaction reads the transaction's own rows; the transaction commits after it",
    () =>
      Effect.gen(function*() {
        const app = Pg.unique("cursor_tx")
        const table = Pg.unique("cursor_tx")
        yield* Pg.admin(`create table ${table} (n int)`)
        yield* Effect.scoped(Effect.gen(function*() {
          const pool = yield* PgPool.make({ connect: Pg.config(app), size: 1, name: app })
          const sum = yield* pool.transaction((conn) =>
            Effect.gen(function*() {
              yield* conn.query(`insert into ${table} select g from generate_series(1, 5000) g`)
              const total = yield* Stream.runFold(
                conn.stream(`select n from ${table} where n > $1 order by n`, [0], { maxRows: 700 }),
                0,
                (acc, row: PgDriver.Row) => acc + (row["n"] as number)
              )
              expect(yield* conn.status).toBe("transaction")
              expect(yield* openCursors(conn)).toBe(0)
              return total
            })
          )
          expect(sum).toBe(5000 * 5001 / 2)
          const committed = yield* Pg.admin<{ n: number }>(`select count(*)::int as n from ${table}`)
          expect(committed.rows[0]!.n).toBe(5000)
        }))
        yield* noBackendLeft(app)
        yield* Pg.admin(`drop table ${table}`)
      }),
    30_000
  )

  it.live(
    "a read that fails mid-stream fails the stream typed; the same backend serves the next query",
    () =>
      Effect.gen(function*() {
        const app = Pg.unique("cursor_error")
        yield* Effect.scoped(Effect.gen(function*() {
          const pool = yield* PgPool.make({ connect: Pg.config(app), size: 1, name: app })
          const pid = yield* backendPid(pool)
          // refused at once: the error comes before the first read
          const syntax = yield* Effect.flip(Stream.runDrain(pool.stream("selec 1", [], { maxRows: 10 })))
          expect(syntax).toMatchObject({ _tag: "PgError", code: "42601", operation: "cursor" })
          for (let i = 0; i < 20; i++) {
            const error = yield* Effect.flip(Stream.runDrain(
              pool.stream("select 1 / (g - 2500) as n from generate_series(1, 5000) g", [], { maxRows: 1000 })
            ))
            expect(error).toMatchObject({ _tag: "PgError", code: "22012", operation: "cursor" })
            expect(yield* backendPid(pool)).toBe(pid)
          }
          expect(yield* pool.run(openCursors)).toBe(0)
        }))
        yield* noBackendLeft(app)
      }),
    30_000
  )

  it.live(
    "interrupted after its read's error came in, before the server's ReadyForQuery: no cancel is sent",
    () =>
      Effect.gen(function*() {
        const app = Pg.unique("cursor_error_interrupt")
        yield* Effect.scoped(Effect.gen(function*() {
          const proxy = yield* FaultProxy.make({ target: { port: Pg.server.port } })
          const pool = yield* PgPool.make({
            connect: Pg.config(app, { host: proxy.host, port: proxy.port }),
            size: 1,
            name: app,
            timeout: "30 seconds"
          })
          const conn = yield* pool.run((c) => Effect.succeed(c.connection))
          yield* proxy.latency("50 millis")
          const before = (yield* proxy.connections).total
          const fiber = yield* Effect.fork(Stream.runDrain(
            pool.stream("select 1 / (g - 2500) as n from generate_series(1, 5000) g", [], { maxRows: 1000 })
          ))
          const wire = (conn.client as unknown as { connection: NodeJS.EventEmitter }).connection
          // pg-cursor answers the error with a Sync: its ReadyForQuery is a round trip (100 ms) away.
          wire.once("errorMessage", () => fiber.unsafeInterruptAsFork(FiberId.none))
          expect(Exit.isInterrupted(yield* Fiber.await(fiber))).toBe(true)
          expect((yield* proxy.connections).total).toBe(before)
          yield* proxy.latency(0)
          expect(yield* backendPid(pool)).toBe(conn.pid)
        }))
        yield* noBackendLeft(app)
      }),
    30_000
  )

  it.live("streams on every connection of a pool at once", () =>
    Effect.gen(function*() {
      const app = Pg.unique("cursor_parallel")
      yield* Effect.scoped(Effect.gen(function*() {
        const pool = yield* PgPool.make({ connect: Pg.config(app), size: 4, name: app })
        const counts = yield* Effect.forEach(
          [1, 2, 3, 4, 5, 6, 7, 8],
          (k) =>
            Stream.runCount(pool.stream("select g from generate_series(1, $1::int) g", [k * 3000], { maxRows: 500 })),
          { concurrency: "unbounded" }
        )
        expect(counts).toEqual([3000, 6000, 9000, 12000, 15000, 18000, 21000, 24000])
      }))
      yield* noBackendLeft(app)
    }), 30_000)

  it.live(
    "a parameter pg cannot send fails the stream typed (not a defect); the same backend serves on",
    () =>
      Effect.gen(function*() {
        const app = Pg.unique("cursor_bad_param")
        const circular: Record<string, unknown> = {}
        circular["self"] = circular
        yield* Effect.scoped(Effect.gen(function*() {
          const pool = yield* PgPool.make({ connect: Pg.config(app), size: 1, name: app })
          const pid = yield* backendPid(pool)
          const error = yield* Effect.flip(Stream.runDrain(pool.stream("select $1::json", [circular], { maxRows: 10 })))
          expect(error).toMatchObject({ _tag: "PgError", reason: "ClientError", operation: "cursor" })
          expect(yield* backendPid(pool)).toBe(pid)
        }))
        yield* noBackendLeft(app)
      }),
    30_000
  )
})
