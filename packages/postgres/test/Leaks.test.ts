/**
 * Nothing accumulates on the query path: heap read after a full GC stays flat over 10,000
 * connect / disconnect cycles, 100,000 queries (plain, named, failing, streamed) and 1,000
 * cancelled queries; no TCP socket to the server outlives its connection or its cancel request.
 */
import { describe, expect, it } from "@effect/vitest"
import { Reconnect } from "@redial/core"
import { Effect, Fiber, Logger, LogLevel, Stream } from "effect"
import { PgPool } from "../src/index.js"
import * as Pg from "./support/pg.js"
import { eventually, exposeGc, heapAfterGc, ms, socketsTo } from "./support/probe.js"

const MiB = 1024 * 1024
const mib = (bytes: number) => `${bytes >= 0 ? "+" : ""}${(bytes / MiB).toFixed(2)} MiB`

const noBackendLeft = (app: string) => eventually(Pg.backends(app), (n) => n === 0, "10 seconds")

/** The pool logs every dropped connection: thousands of lines here, none of them the subject. */
const quiet = Logger.withMinimumLogLevel(LogLevel.Error)

describe("no leaks", () => {
  const gc = exposeGc()

  it.live("10,000 connect / disconnect cycles: heap flat, no socket left", () =>
    Effect.gen(function*() {
      const app = Pg.unique("leaks_connect")
      const base = yield* socketsTo(Pg.server.port)
      yield* Effect.scoped(Effect.gen(function*() {
        const pool = yield* PgPool.make({
          connect: Pg.config(app),
          size: 1,
          name: app,
          policy: Reconnect.fixed("1 millis"),
          minUptime: "1 millis"
        })
        let last = 0
        // Each cycle: a query on a new connection, then the connection is dropped.
        const cycle = Effect.gen(function*() {
          const result = yield* pool.query("select pg_backend_pid() as pid")
          const pid = result.rows[0]!["pid"] as number
          expect(pid).not.toBe(last)
          last = pid
          yield* pool.disconnectAll
        })
        yield* Effect.repeatN(cycle, 999)
        const warm = yield* heapAfterGc(gc)
        const [elapsed] = yield* Effect.timed(Effect.repeatN(cycle, 8999))
        const end = yield* heapAfterGc(gc)
        console.log(
          `10,000 connect / disconnect cycles (${(ms(elapsed) / 9000).toFixed(1)} ms each): heap over the last 9,000 ${
            mib(end - warm)
          }`
        )
        // a connection's driver state is some KB: a leak of one per cycle would be tens of MiB
        expect(end - warm).toBeLessThan(4 * MiB)
        expect((yield* socketsTo(Pg.server.port)) - base).toBeLessThanOrEqual(1)
      }))
      yield* noBackendLeft(app)
      expect(yield* eventually(socketsTo(Pg.server.port), (n) => n === base, "10 seconds")).toBe(base)
    }).pipe(quiet), 600_000)

  it.live(
    "100,000 queries on two connections (plain, named, failing, streamed): heap flat",
    () =>
      Effect.gen(function*() {
        const app = Pg.unique("leaks_queries")
        yield* Effect.scoped(Effect.gen(function*() {
          const pool = yield* PgPool.make({ connect: Pg.config(app), size: 2, name: app })
          const named = { name: Pg.unique("leak_stmt"), text: "select $1::int + 1 as n" }
          const round = (i: number): Effect.Effect<unknown, unknown> =>
            i % 50 === 0
              ? Stream.runDrain(pool.stream("select g from generate_series(1, 100) g", [], { maxRows: 30 }))
              : i % 10 === 0
              ? Effect.ignore(pool.query("select 1/0"))
              : i % 2 === 0
              ? pool.query(named, [i])
              : pool.query("select $1::int as n", [i])
          const batch = (from: number, count: number) =>
            Effect.forEach(Array.from({ length: count }, (_, k) => from + k), round, { concurrency: 4, discard: true })
          yield* batch(0, 10000)
          const warm = yield* heapAfterGc(gc)
          const [elapsed] = yield* Effect.timed(batch(10000, 90000))
          const end = yield* heapAfterGc(gc)
          console.log(
            `100,000 queries (${(90000 / (ms(elapsed) / 1000)).toFixed(0)} per second): heap over the last 90,000 ${
              mib(end - warm)
            }`
          )
          expect(end - warm).toBeLessThan(4 * MiB)
        }))
        yield* noBackendLeft(app)
      }).pipe(quiet),
    600_000
  )

  it.live("1,000 cancelled queries: heap flat, no cancel socket left", () =>
    Effect.gen(function*() {
      const app = Pg.unique("leaks_cancel")
      const base = yield* socketsTo(Pg.server.port)
      yield* Effect.scoped(Effect.gen(function*() {
        const pool = yield* PgPool.make({ connect: Pg.config(app), size: 1, name: app })
        const pid = yield* pool.run((conn) => Effect.succeed(conn.connection.pid))
        const cancelOne = Effect.gen(function*() {
          const fiber = yield* Effect.fork(pool.query("select pg_sleep(30)"))
          yield* eventually(Pg.activity(pid), (a) => a?.state === "active", "5 seconds", "2 millis")
          yield* Fiber.interrupt(fiber)
        })
        yield* Effect.repeatN(cancelOne, 99)
        const warm = yield* heapAfterGc(gc)
        yield* Effect.repeatN(cancelOne, 899)
        const end = yield* heapAfterGc(gc)
        console.log(`1,000 cancels: heap over the last 900 ${mib(end - warm)}`)
        expect(end - warm).toBeLessThan(4 * MiB)
        expect(yield* pool.run((conn) => Effect.succeed(conn.connection.pid))).toBe(pid)
        expect((yield* socketsTo(Pg.server.port)) - base).toBe(1)
      }))
      yield* noBackendLeft(app)
      expect(yield* eventually(socketsTo(Pg.server.port), (n) => n === base, "10 seconds")).toBe(base)
    }).pipe(quiet), 600_000)
})
