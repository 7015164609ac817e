/**
 * Cancel on interrupt against the real server: an interrupted query is stopped on the server by a
 * CancelRequest and its connection (the same backend) serves the next caller; inside a
 * transaction the transaction rolls back; a cancel that cannot reach the server is bounded by
 * `cancelTimeout` and the slot reconnects; `queryTimeout` stops the server too; a query that had
 * already finished is left alone; a hundred cancels in a row leak no socket and never cancel the
 * query that follows.
 */
import { describe, expect, it } from "@effect/vitest"
import { Reconnect } from "@redial/core"
import { ConnectionBroken } from "@redial/pool"
import { FaultProxy } from "@redial/testing"
import { Duration, Effect, Exit, Fiber, FiberId } from "effect"
import { PgError, PgPool } from "../src/index.js"
import * as Pg from "./support/pg.js"
import { eventually, ms, socketsTo } from "./support/probe.js"

const pidOf = (pool: PgPool.PgPool) => pool.run((conn) => Effect.succeed(conn.connection.pid))

const backendPid = (pool: PgPool.PgPool) =>
  Effect.map(pool.query("select pg_backend_pid() as pid"), (r) => r.rows[0]!["pid"] as number)

/** Waits until the backend runs a query (its state `active`). */
const awaitActive = (pid: number) => eventually(Pg.activity(pid), (a) => a?.state === "active", "5 seconds")

/** No backend of `app` is left once its pool's scope has ended. */
const noBackendLeft = (app: string) => eventually(Pg.backends(app), (n) => n === 0, "5 seconds")

describe("cancel on interrupt", () => {
  it.live(
    "pg_sleep(30) interrupted after 100 ms ends on the server within a second; the same backend serves the next query",
    () =>
      Effect.gen(function*() {
        const app = Pg.unique("cancel")
        yield* Effect.scoped(Effect.gen(function*() {
          const pool = yield* PgPool.make({ connect: Pg.config(app), size: 1, name: app })
          const pid = yield* pidOf(pool)
          const fiber = yield* Effect.fork(pool.query("select pg_sleep(30)"))
          yield* awaitActive(pid)
          yield* Effect.sleep("100 millis")
          const [interrupting, exit] = yield* Effect.timed(Fiber.interrupt(fiber))
          expect(Exit.isInterrupted(exit)).toBe(true)
          const [stopping] = yield* Effect.timed(
            eventually(Pg.activity(pid), (a) => a?.state === "idle", "1 second")
          )
          const latency = ms(interrupting) + ms(stopping)
          console.log(
            `cancel: interrupt returned in ${ms(interrupting).toFixed(1)} ms, server idle after ${
              latency.toFixed(1)
            } ms`
          )
          expect(latency).toBeLessThan(1000)
          expect(yield* backendPid(pool)).toBe(pid)
        }))
        yield* noBackendLeft(app)
      }),
    30_000
  )

  it.live(
    "interrupted inside a transaction: the transaction rolls back, the next one commits on the same backend",
    () =>
      Effect.gen(function*() {
        const app = Pg.unique("cancel_tx")
        const table = Pg.unique("cancel_tx")
        yield* Pg.admin(`create table ${table} (n int)`)
        yield* Effect.scoped(Effect.gen(function*() {
          const pool = yield* PgPool.make({ connect: Pg.config(app), size: 1, name: app })
          const pid = yield* pidOf(pool)
          const fiber = yield* Effect.fork(pool.transaction((conn) =>
            Effect.zipRight(
              conn.query(`insert into ${table} values (1)`),
              conn.query("select pg_sleep(30)")
            )
          ))
          yield* awaitActive(pid)
          yield* Effect.sleep("100 millis")
          const [elapsed] = yield* Effect.timed(Fiber.interrupt(fiber))
          expect(ms(elapsed)).toBeLessThan(1000)
          const rows = yield* Pg.admin<{ n: number }>(`select count(*)::int as n from ${table}`)
          expect(rows.rows[0]!.n).toBe(0)
          yield* pool.transaction((conn) => conn.query(`insert into ${table} values (2)`))
          const after = yield* Pg.admin<{ n: number }>(`select n from ${table}`)
          expect(after.rows).toEqual([{ n: 2 }])
          expect(yield* backendPid(pool)).toBe(pid)
        }))
        yield* noBackendLeft(app)
        yield* Pg.admin(`drop table ${table}`)
      }),
    30_000
  )

  it.live(
    "a cancel that cannot reach the server: bounded by cancelTimeout, the slot reconnects",
    () =>
      Effect.gen(function*() {
        const app = Pg.unique("cancel_blackhole")
        yield* Effect.scoped(Effect.gen(function*() {
          const proxy = yield* FaultProxy.make({ target: { port: Pg.server.port } })
          const pool = yield* PgPool.make({
            // The backend notices its client is gone while pg_sleep runs (else it sleeps 30 s).
            connect: Pg.config(app, {
              host: proxy.host,
              port: proxy.port,
              options: "-c client_connection_check_interval=100"
            }),
            size: 1,
            name: app,
            cancelTimeout: "500 millis",
            connectTimeout: "1 second",
            policy: Reconnect.fixed("100 millis"),
            minUptime: "1 millis"
          })
          const pid = yield* pidOf(pool)
          const fiber = yield* Effect.fork(pool.query("select pg_sleep(30)"))
          yield* awaitActive(pid)
          // The connection goes silent, and the cancel request's new connection is never answered.
          yield* proxy.blackhole(true)
          const [elapsed, exit] = yield* Effect.timed(Fiber.interrupt(fiber))
          console.log(
            `cancel through a black hole: interrupt returned in ${ms(elapsed).toFixed(1)} ms (cancelTimeout 500 ms)`
          )
          expect(Exit.isInterrupted(exit)).toBe(true)
          expect(ms(elapsed)).toBeGreaterThanOrEqual(450)
          expect(ms(elapsed)).toBeLessThan(2500)
          // The socket was destroyed: the server ends the backend.
          yield* eventually(Pg.activity(pid), (a) => a === undefined, "5 seconds")
          yield* proxy.blackhole(false)
          const next = yield* backendPid(pool)
          expect(next).not.toBe(pid)
        }))
        yield* noBackendLeft(app)
      }),
    30_000
  )

  it.live(
    "queryTimeout: a long query fails with 57014 within the timeout, the server stopped it, the connection is reused",
    () =>
      Effect.gen(function*() {
        const app = Pg.unique("query_timeout")
        yield* Effect.scoped(Effect.gen(function*() {
          const pool = yield* PgPool.make({ connect: Pg.config(app), size: 1, name: app, queryTimeout: "300 millis" })
          const pid = yield* pidOf(pool)
          const [elapsed, error] = yield* Effect.timed(Effect.flip(pool.query("select pg_sleep(30)")))
          console.log(`queryTimeout 300 ms: failed after ${ms(elapsed).toFixed(1)} ms`)
          expect(error).toBeInstanceOf(PgError.PgError)
          expect(error).toMatchObject({ code: "57014", reason: "OperatorIntervention", retryable: true })
          expect((error as PgError.PgError).message).toContain("timed out after")
          expect(ms(elapsed)).toBeGreaterThanOrEqual(290)
          expect(ms(elapsed)).toBeLessThan(1300)
          const state = yield* Pg.activity(pid)
          expect(state?.state).toBe("idle")
          expect(yield* backendPid(pool)).toBe(pid)
          // A quick query is not touched by the timer.
          const quick = yield* pool.query("select pg_sleep(0.1) as slept")
          expect(quick.rowCount).toBe(1)
        }))
        yield* noBackendLeft(app)
      }),
    30_000
  )

  it.live("queryTimeout racing the query's own end never cancels the next query", () =>
    Effect.gen(function*() {
      const app = Pg.unique("timeout_race")
      yield* Effect.scoped(Effect.gen(function*() {
        const pool = yield* PgPool.make({ connect: Pg.config(app), size: 1, name: app, queryTimeout: "20 millis" })
        let timedOut = 0
        const failures: Array<string> = []
        for (let i = 0; i < 100; i++) {
          yield* pool.run((conn) =>
            Effect.gen(function*() {
              // A query that ends on its own at about the timeout: the cancel request is often
              // still on its way when the reply comes.
              const first = yield* Effect.either(conn.query(`select pg_sleep(${(18 + (i % 5)) / 1000})`))
              if (first._tag === "Left") {
                expect(first.left).toMatchObject({ code: "57014" })
                timedOut += 1
              }
              // Straight after, on the same backend, a statement long enough to be running when a
              // late signal lands (sent on the client itself: the driver's timer would stop it).
              const next = yield* Effect.either(
                Effect.tryPromise(() => conn.connection.client.query("select pg_sleep(0.05)"))
              )
              if (next._tag === "Left") failures.push(String(next.left.cause))
            })
          )
        }
        console.log(`queryTimeout races: ${timedOut} of 100 timed out, ${failures.length} next statements failed`)
        expect(failures).toEqual([])
      }))
      yield* noBackendLeft(app)
    }), 120_000)

  it.live(
    "interrupting a query that had already finished sends no cancel and keeps the connection",
    () =>
      Effect.gen(function*() {
        const app = Pg.unique("cancel_done")
        yield* Effect.scoped(Effect.gen(function*() {
          const proxy = yield* FaultProxy.make({ target: { port: Pg.server.port } })
          const pool = yield* PgPool.make({
            connect: Pg.config(app, { host: proxy.host, port: proxy.port }),
            size: 1,
            name: app
          })
          const conn = yield* pool.run((c) => Effect.succeed(c.connection))
          const before = (yield* proxy.connections).total
          for (let i = 0; i < 20; i++) {
            const fiber = yield* Effect.fork(pool.query("select 1 as one"))
            // The interruption is signalled once the server has answered, before the reply reaches
            // the caller: the query ended, so nothing is left to cancel.
            const wire = (conn.client as unknown as { connection: NodeJS.EventEmitter }).connection
            wire.once("commandComplete", () => fiber.unsafeInterruptAsFork(FiberId.none))
            // The interruption won the race against the reply: the caller sees it.
            expect(Exit.isInterrupted(yield* Fiber.await(fiber))).toBe(true)
            expect(yield* backendPid(pool)).toBe(conn.pid)
          }
          expect((yield* proxy.connections).total).toBe(before)
        }))
        yield* noBackendLeft(app)
      }),
    30_000
  )

  it.live(
    "a cancel racing the query's own end never cancels the next query (the server has signalled before the connection is reused)",
    () =>
      Effect.gen(function*() {
        const app = Pg.unique("cancel_race")
        yield* Effect.scoped(Effect.gen(function*() {
          const pool = yield* PgPool.make({ connect: Pg.config(app), size: 1, name: app })
          const pid = yield* pidOf(pool)
          let interrupted = 0
          const failures: Array<string> = []
          for (let i = 0; i < 100; i++) {
            // A 10 ms query interrupted at about its end: the cancel request often reaches the
            // server after the query ended on its own.
            const fiber = yield* Effect.fork(pool.query("select pg_sleep(0.01)"))
            yield* Effect.sleep(Duration.millis(8 + (i % 5)))
            const exit = yield* Fiber.interrupt(fiber)
            if (Exit.isInterrupted(exit)) interrupted += 1
            // Long enough to be running when a late signal would land.
            const next = yield* Effect.either(pool.query("select pg_sleep(0.05), pg_backend_pid() as pid"))
            if (next._tag === "Left") failures.push(String(next.left))
            else expect(next.right.rows[0]!["pid"]).toBe(pid)
          }
          console.log(`cancel races: ${interrupted} of 100 interrupted, ${failures.length} next queries failed`)
          expect(failures).toEqual([])
        }))
        yield* noBackendLeft(app)
      }),
    120_000
  )

  it.live(
    "100 cancelled queries in a row: the next query after each succeeds on the same backend, no socket leaks",
    () =>
      Effect.gen(function*() {
        const app = Pg.unique("cancel_many")
        const base = yield* socketsTo(Pg.server.port)
        yield* Effect.scoped(Effect.gen(function*() {
          const pool = yield* PgPool.make({ connect: Pg.config(app), size: 1, name: app })
          const pid = yield* pidOf(pool)
          let spurious = 0
          let slowest = 0
          for (let i = 0; i < 100; i++) {
            const fiber = yield* Effect.fork(pool.query("select pg_sleep(30)"))
            // Half wait until the server runs it; half interrupt as soon as it is sent.
            if (i % 2 === 0) yield* awaitActive(pid)
            else yield* Effect.sleep(Duration.millis(i % 7))
            const [elapsed] = yield* Effect.timed(Fiber.interrupt(fiber))
            slowest = Math.max(slowest, ms(elapsed))
            const next = yield* Effect.either(pool.query("select pg_backend_pid() as pid"))
            if (next._tag === "Left") {
              spurious += 1
              console.log(`after cancel ${i}: ${String(next.left)}`)
            } else {
              expect(next.right.rows[0]!["pid"]).toBe(pid)
            }
          }
          console.log(`100 cancels: slowest interrupt ${slowest.toFixed(1)} ms`)
          expect(spurious).toBe(0)
          // The pool's connection, and no cancel socket left open.
          expect((yield* socketsTo(Pg.server.port)) - base).toBe(1)
        }))
        yield* noBackendLeft(app)
        expect(yield* eventually(socketsTo(Pg.server.port), (n) => n === base, "5 seconds")).toBe(base)
      }),
    120_000
  )

  it.live(
    "over a Unix socket: the cancel request goes to the socket's directory, the same backend serves next",
    () =>
      Effect.gen(function*() {
        const app = Pg.unique("cancel_unix")
        yield* Effect.scoped(Effect.gen(function*() {
          const pool = yield* PgPool.make({
            connect: Pg.config(app, { host: "/var/run/postgresql" }),
            size: 1,
            name: app
          })
          const pid = yield* pidOf(pool)
          const fiber = yield* Effect.fork(pool.query("select pg_sleep(30)"))
          yield* awaitActive(pid)
          const [elapsed] = yield* Effect.timed(Fiber.interrupt(fiber))
          expect(ms(elapsed)).toBeLessThan(1000)
          expect((yield* Pg.activity(pid))?.state).toBe("idle")
          expect(yield* backendPid(pool)).toBe(pid)
        }))
        yield* noBackendLeft(app)
      }),
    30_000
  )

  it.live(
    "queryTimeout when the cancel cannot reach the server: the connection is dropped within queryTimeout + cancelTimeout, the slot reconnects",
    () =>
      Effect.gen(function*() {
        const app = Pg.unique("timeout_blackhole")
        yield* Effect.scoped(Effect.gen(function*() {
          const proxy = yield* FaultProxy.make({ target: { port: Pg.server.port } })
          const pool = yield* PgPool.make({
            connect: Pg.config(app, {
              host: proxy.host,
              port: proxy.port,
              options: "-c client_connection_check_interval=100"
            }),
            size: 1,
            name: app,
            queryTimeout: "300 millis",
            cancelTimeout: "300 millis",
            connectTimeout: "1 second",
            policy: Reconnect.fixed("100 millis"),
            minUptime: "1 millis"
          })
          const pid = yield* pidOf(pool)
          yield* proxy.blackhole(true)
          const [elapsed, error] = yield* Effect.timed(Effect.flip(pool.query("select pg_sleep(30)")))
          console.log(`queryTimeout through a black hole: failed after ${ms(elapsed).toFixed(1)} ms`)
          // the socket was destroyed: the pool heard of the loss first, and says so
          expect(error).toBeInstanceOf(ConnectionBroken)
          expect(error).toMatchObject({ reason: "Lost" })
          expect(ms(elapsed)).toBeGreaterThanOrEqual(550)
          expect(ms(elapsed)).toBeLessThan(2500)
          yield* proxy.blackhole(false)
          yield* eventually(Pg.activity(pid), (a) => a === undefined, "5 seconds")
          expect(yield* backendPid(pool)).not.toBe(pid)
        }))
        yield* noBackendLeft(app)
      }),
    30_000
  )

  it.live(
    "the server's own statement_timeout: 57014 from the server, the connection serves on",
    () =>
      Effect.gen(function*() {
        const app = Pg.unique("statement_timeout")
        yield* Effect.scoped(Effect.gen(function*() {
          const pool = yield* PgPool.make({
            connect: Pg.config(app, { statementTimeout: "200 millis" }),
            size: 1,
            name: app
          })
          const pid = yield* pidOf(pool)
          const error = yield* Effect.flip(pool.query("select pg_sleep(30)"))
          expect(error).toMatchObject({ _tag: "PgError", code: "57014", retryable: true })
          expect((error as PgError.PgError).text).toContain("statement timeout")
          expect(yield* backendPid(pool)).toBe(pid)
        }))
        yield* noBackendLeft(app)
      }),
    30_000
  )
})
