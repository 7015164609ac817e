/**
 * The pool on the real server under faults: every backend terminated again and again under load
 * (callers get typed errors only, the pool recovers, nothing crashes, no backend outlives the
 * scope); idle connections terminated (no `error` event without a listener); a connection cut
 * mid-query, mid-transaction and mid-stream; a server that accepts and resets every connection.
 */
import { describe, expect, it } from "@effect/vitest"
import { Closed, Reconnect, Timeout } from "@redial/core"
import { ConnectionBroken, Driver, Dropped, RolledBack, StatusMismatch } from "@redial/pool"
import { FaultProxy } from "@redial/testing"
import { Cause, Effect, Exit, Fiber, Logger, LogLevel, Option, Stream } from "effect"
import { PgError, PgPool } from "../src/index.js"
import * as Pg from "./support/pg.js"
import { eventually, ms, socketsTo } from "./support/probe.js"

const noBackendLeft = (app: string) => eventually(Pg.backends(app), (n) => n === 0, "10 seconds")

/** What a caller saw: its typed error's kind, or `defect` / `interrupted` (which must not happen). */
const kindOf = (cause: Cause.Cause<unknown>): string => {
  if (Cause.isDie(cause)) return `defect: ${Cause.pretty(cause)}`
  if (Cause.isInterruptedOnly(cause)) return "interrupted"
  const failure = Option.getOrUndefined(Cause.failureOption(cause))
  if (failure instanceof PgError.PgError) return `PgError ${failure.code ?? failure.reason}`
  if (failure instanceof Driver.Disconnect) {
    return failure.cause instanceof PgError.PgError
      ? `Disconnect(PgError ${failure.cause.code ?? failure.cause.reason})`
      : `Disconnect(untyped: ${String(failure.cause)})`
  }
  if (failure instanceof ConnectionBroken) return `ConnectionBroken ${failure.reason}`
  if (failure instanceof Dropped) return `Dropped ${failure.reason}`
  if (failure instanceof Timeout) return `Timeout ${failure.operation}`
  if (failure instanceof RolledBack) return `RolledBack ${failure.reason}`
  if (failure instanceof StatusMismatch) return "StatusMismatch"
  if (failure instanceof Closed) return `Closed ${failure.reason}`
  return `untyped: ${String(failure)}`
}

const typed = /^(PgError|Disconnect\(PgError|ConnectionBroken|Dropped|Timeout|RolledBack)/

/** Counts the process's uncaught exceptions while `effect` runs (an `error` event without a listener is one). */
const watchingCrashes = <A, E, R>(effect: (crashes: () => number) => Effect.Effect<A, E, R>) =>
  Effect.acquireUseRelease(
    Effect.sync(() => {
      const seen: Array<unknown> = []
      const listener = (error: unknown) => void seen.push(error)
      process.on("uncaughtException", listener)
      return { seen, listener }
    }),
    ({ seen }) => effect(() => seen.length),
    ({ listener }) => Effect.sync(() => void process.off("uncaughtException", listener))
  )

describe("faults", () => {
  it.live(
    "every backend terminated every 200 ms under load: typed errors only, the pool recovers, no crash, no backend left",
    () =>
      watchingCrashes((crashes) =>
        Effect.gen(function*() {
          const app = Pg.unique("faults_terminate")
          const table = Pg.unique("faults")
          yield* Pg.admin(`create table ${table} (id serial primary key, n int)`)
          const kinds = new Map<string, number>()
          let ok = 0
          let kills = 0
          yield* Effect.scoped(Effect.gen(function*() {
            const pool = yield* PgPool.make({
              connect: Pg.config(app),
              size: 8,
              name: app,
              policy: Reconnect.fixed("50 millis"),
              minUptime: "1 millis",
              timeout: "5 seconds"
            })
            let running = true
            const note = (exit: Exit.Exit<unknown, unknown>) =>
              Effect.sync(() => {
                if (Exit.isSuccess(exit)) ok += 1
                else {
                  const kind = kindOf(exit.cause)
                  kinds.set(kind, (kinds.get(kind) ?? 0) + 1)
                }
              })
            // Queries, transactions and streams, in a loop each.
            const work = (i: number) => {
              const one: Effect.Effect<unknown, unknown> = i % 4 === 0
                ? pool.transaction((conn) =>
                  Effect.zipRight(
                    conn.query(`insert into ${table} (n) values ($1)`, [i]),
                    conn.query("select pg_sleep(0.01)")
                  )
                )
                : i % 4 === 1
                ? Stream.runDrain(pool.stream("select g from generate_series(1, 3000) g", [], { maxRows: 500 }))
                : pool.query("select pg_sleep(0.005), $1::int as i", [i])
              return Effect.whileLoop({
                while: () => running,
                body: () => Effect.flatMap(Effect.exit(one), note),
                step: () => {}
              })
            }
            const workers = yield* Effect.forEach(
              Array.from({ length: 32 }, (_, i) => i),
              (i) => Effect.fork(work(i))
            )
            const killer = yield* Effect.fork(Effect.forever(
              Effect.zipRight(
                Effect.sleep("200 millis"),
                Effect.tap(Effect.orDie(Pg.terminateApp(app)), (n) =>
                  Effect.sync(() => {
                    kills += n
                  }))
              )
            ))
            yield* Effect.sleep("4 seconds")
            yield* Fiber.interrupt(killer)
            // Workers go on once the killing stopped: the pool recovers.
            const okBefore = ok
            yield* eventually(Effect.sync(() => ok), (n) => n > okBefore + 200, "15 seconds")
            running = false
            // every caller returned: none hangs on a connection that died under it
            const stuck = yield* Effect.timeoutOption(Fiber.joinAll(workers), "10 seconds")
            expect(Option.isSome(stuck)).toBe(true)
            // every slot serves again
            yield* eventually(pool.stats, (s) => s.idle === 8, "15 seconds")
            const pids = yield* Effect.forEach(
              Array.from({ length: 8 }),
              () => Effect.map(pool.query("select pg_backend_pid() as pid, pg_sleep(0.2)"), (r) => r.rows[0]!["pid"]),
              { concurrency: "unbounded" }
            )
            expect(new Set(pids).size).toBe(8)
          }))
          console.log(
            `terminated ${kills} backends; ${ok} calls succeeded; failures: ${
              JSON.stringify(Object.fromEntries(kinds))
            }`
          )
          expect(kills).toBeGreaterThan(40)
          expect(ok).toBeGreaterThan(200)
          const untyped = [...kinds.keys()].filter((kind) => !typed.test(kind))
          expect(untyped).toEqual([])
          expect(crashes()).toBe(0)
          yield* noBackendLeft(app)
          yield* Pg.admin(`drop table ${table}`)
        })
      ).pipe(Logger.withMinimumLogLevel(LogLevel.Error)),
    90_000
  )

  it.live(
    "idle connections terminated: no crash, each slot reconnects at once",
    () =>
      watchingCrashes((crashes) =>
        Effect.gen(function*() {
          const app = Pg.unique("faults_idle")
          yield* Effect.scoped(Effect.gen(function*() {
            const pool = yield* PgPool.make({
              connect: Pg.config(app),
              size: 4,
              name: app,
              policy: Reconnect.fixed("50 millis"),
              // idle pings far off: the loss is heard from the socket, not found by a ping
              idleInterval: "1 minute"
            })
            yield* eventually(Pg.backends(app), (n) => n === 4, "10 seconds")
            for (let round = 0; round < 5; round++) {
              const before = yield* Pg.admin<{ pid: number }>(
                "select pid from pg_stat_activity where application_name = $1",
                [app]
              )
              expect(yield* Pg.terminateApp(app)).toBe(4)
              yield* eventually(
                Pg.admin<{ pid: number }>("select pid from pg_stat_activity where application_name = $1", [app]),
                (r) => r.rows.length === 4 && r.rows.every((row) => !before.rows.some((old) => old.pid === row.pid)),
                "10 seconds"
              )
              yield* eventually(pool.stats, (s) => s.idle === 4, "10 seconds")
            }
            // the first query after finds a live connection: the dead ones were dropped as they died
            const result = yield* pool.query("select 1 as one")
            expect(result.rows).toEqual([{ one: 1 }])
          }))
          expect(crashes()).toBe(0)
          yield* noBackendLeft(app)
        })
      ),
    60_000
  )

  it.live(
    "terminated mid-transaction: the caller gets Disconnect with the server's 57P01, nothing is committed",
    () =>
      Effect.gen(function*() {
        const app = Pg.unique("faults_tx")
        const table = Pg.unique("faults_tx")
        yield* Pg.admin(`create table ${table} (n int)`)
        yield* Effect.scoped(Effect.gen(function*() {
          const pool = yield* PgPool.make({
            connect: Pg.config(app),
            size: 1,
            name: app,
            policy: Reconnect.fixed("50 millis")
          })
          const pid = yield* pool.run((conn) => Effect.succeed(conn.connection.pid))
          const fiber = yield* Effect.fork(
            pool.transaction((conn) =>
              Effect.zipRight(conn.query(`insert into ${table} values (1)`), conn.query("select pg_sleep(30)"))
            )
          )
          yield* eventually(Pg.activity(pid), (a) => a?.state === "active", "5 seconds")
          yield* Pg.terminate(pid)
          const exit = yield* Fiber.await(fiber)
          expect(Exit.isFailure(exit) && kindOf(exit.cause)).toBe("Disconnect(PgError 57P01)")
          const error = Option.getOrThrow(Cause.failureOption((exit as Exit.Failure<unknown, unknown>).cause))
          expect((error as Driver.Disconnect).cause).toMatchObject({ severity: "FATAL", retryable: true })
          const rows = yield* Pg.admin<{ n: number }>(`select count(*)::int as n from ${table}`)
          expect(rows.rows[0]!.n).toBe(0)
          const next = yield* pool.query("select pg_backend_pid() as pid")
          expect(next.rows[0]!["pid"]).not.toBe(pid)
        }))
        yield* noBackendLeft(app)
        yield* Pg.admin(`drop table ${table}`)
      }),
    30_000
  )

  it.live(
    "cut mid-query and mid-stream (a reset on the wire): the call fails with ConnectionBroken (Lost), then a new connection",
    () =>
      Effect.gen(function*() {
        const app = Pg.unique("faults_cut")
        yield* Effect.scoped(Effect.gen(function*() {
          const proxy = yield* FaultProxy.make({ target: { port: Pg.server.port } })
          const pool = yield* PgPool.make({
            // The backend notices the reset while pg_sleep runs.
            connect: Pg.config(app, {
              host: proxy.host,
              port: proxy.port,
              options: "-c client_connection_check_interval=100"
            }),
            size: 1,
            name: app,
            policy: Reconnect.fixed("50 millis"),
            minUptime: "1 millis"
          })
          const pid = yield* pool.run((conn) => Effect.succeed(conn.connection.pid))
          const query = yield* Effect.fork(pool.query("select pg_sleep(30)"))
          yield* eventually(Pg.activity(pid), (a) => a?.state === "active", "5 seconds")
          const [elapsed] = yield* Effect.timed(Effect.zipRight(proxy.cut, Fiber.await(query)))
          const exit = yield* Fiber.await(query)
          // the pool heard the loss from the driver first, and says so
          expect(Exit.isFailure(exit) && kindOf(exit.cause)).toBe("ConnectionBroken Lost")
          expect(ms(elapsed)).toBeLessThan(1000)
          yield* eventually(Pg.activity(pid), (a) => a === undefined, "5 seconds")
          // mid-stream: the read in flight fails, the stream with it
          const second = yield* pool.run((conn) => Effect.succeed(conn.connection.pid))
          expect(second).not.toBe(pid)
          const stream = yield* Effect.fork(Stream.runDrain(
            pool.stream(
              "select g, case when g = 1500 then pg_sleep(30) end from generate_series(1, 5000) g",
              [],
              { maxRows: 1000 }
            )
          ))
          yield* eventually(Pg.activity(second), (a) => a?.state === "active", "5 seconds")
          yield* Effect.sleep("100 millis")
          yield* proxy.cut
          const streamed = yield* Fiber.await(stream)
          expect(Exit.isFailure(streamed) && kindOf(streamed.cause)).toBe("ConnectionBroken Lost")
          const third = yield* pool.query("select pg_backend_pid() as pid")
          expect([pid, second]).not.toContain(third.rows[0]!["pid"])
        }))
        yield* noBackendLeft(app)
      }),
    30_000
  )

  it.live(
    "the connection lost between a cursor's last rows and the server's ReadyForQuery: the stream fails, it does not hang",
    () =>
      Effect.gen(function*() {
        const app = Pg.unique("faults_cursor_done")
        yield* Effect.scoped(Effect.gen(function*() {
          const proxy = yield* FaultProxy.make({ target: { port: Pg.server.port } })
          const pool = yield* PgPool.make({
            connect: Pg.config(app, { host: proxy.host, port: proxy.port }),
            size: 1,
            name: app,
            policy: Reconnect.fixed("50 millis"),
            minUptime: "1 millis",
            timeout: "30 seconds"
          })
          const conn = yield* pool.run((c) => Effect.succeed(c.connection))
          // pg-cursor closes the portal when its rows end and waits a round trip for ReadyForQuery:
          // the connection is cut in between.
          yield* proxy.latency("50 millis")
          const wire = (conn.client as unknown as { connection: NodeJS.EventEmitter }).connection
          wire.once("commandComplete", () => void Effect.runFork(proxy.cut))
          const [elapsed, exit] = yield* Effect.timed(Effect.exit(Stream.runCollect(
            pool.stream("select g from generate_series(1, 10) g", [], { maxRows: 1000 })
          )))
          expect(Exit.isFailure(exit) && kindOf(exit.cause)).toBe("ConnectionBroken Lost")
          expect(ms(elapsed)).toBeLessThan(2000)
          yield* proxy.latency(0)
          const next = yield* pool.query("select pg_backend_pid() as pid")
          expect(next.rows[0]!["pid"]).not.toBe(conn.pid)
        }))
        yield* noBackendLeft(app)
      }),
    30_000
  )

  it.live(
    "a server that accepts and resets every connection: callers fail typed, the pool serves once it is back",
    () =>
      Effect.gen(function*() {
        const app = Pg.unique("faults_refuse")
        const base = yield* socketsTo(Pg.server.port)
        yield* Effect.scoped(Effect.gen(function*() {
          const proxy = yield* FaultProxy.make({ target: { port: Pg.server.port } })
          yield* proxy.refuse(true)
          const pool = yield* PgPool.make({
            connect: Pg.config(app, { host: proxy.host, port: proxy.port }),
            size: 2,
            name: app,
            policy: Reconnect.fixed("50 millis"),
            timeout: "300 millis"
          })
          const failures = yield* Effect.forEach(
            Array.from({ length: 5 }),
            () =>
              Effect.map(
                Effect.exit(pool.query("select 1")),
                (exit) => Exit.isFailure(exit) ? kindOf(exit.cause) : "ok"
              )
          )
          expect(failures.every((kind) => /^(Dropped|Timeout)/.test(kind))).toBe(true)
          // the reason a caller can read: the last connect error, a retryable PgError
          const dropped = yield* Effect.flip(pool.query("select 1"))
          const cause = (dropped as { cause?: { cause?: unknown } }).cause?.cause
          expect(cause).toBeInstanceOf(PgError.PgError)
          expect(cause).toMatchObject({ operation: "connect", retryable: true, fatal: false })
          expect((yield* proxy.connections).total).toBeGreaterThan(4)
          yield* proxy.refuse(false)
          const result = yield* eventually(
            Effect.either(pool.query("select 1 as one")),
            (r) => r._tag === "Right",
            "10 seconds"
          )
          expect(result).toMatchObject({ _tag: "Right" })
        }))
        yield* noBackendLeft(app)
        expect(yield* eventually(socketsTo(Pg.server.port), (n) => n === base, "5 seconds")).toBe(base)
      }),
    30_000
  )
})
