import { describe, expect, it } from "@effect/vitest"
import { Timeout } from "@redial/core"
import { TestTime } from "@redial/testing"
import { Chunk, Data, Effect, Exit, FastCheck as fc, Fiber, Option, Stream, TestClock } from "effect"
import { Disconnect } from "../src/Driver.js"
import * as Pool from "../src/Pool.js"
import * as TestDriver from "./support/testDriver.js"

class Stop extends Data.TaggedError("Stop")<{ readonly at: number }> {}

type Has<U, X> = [X] extends [U] ? true : false

const setup = (driverOptions: TestDriver.Options = {}, poolOptions: Pool.Options<TestDriver.TestTypes> = {}) =>
  Effect.gen(function*() {
    const driver = yield* TestDriver.make(driverOptions)
    const pool = yield* Pool.make(driver, { name: "streams", minUptime: 0, ...poolOptions })
    yield* TestDriver.awaitIdle(pool, poolOptions.size ?? 1)
    return { driver, pool }
  })

const count = (log: ReadonlyArray<string>, prefix: string) => log.filter((entry) => entry.startsWith(prefix)).length

/** Nothing left open on the database, the contract kept, the pool's connections all back. */
const expectClean = (driver: TestDriver.TestDriver, pool: Pool.Pool<TestDriver.TestTypes>) =>
  Effect.gen(function*() {
    expect(yield* driver.openCursors).toBe(0)
    expect(yield* driver.openPrepared).toBe(0)
    expect(yield* driver.violations).toEqual([])
    expect((yield* pool.stats).busy).toBe(0)
  })

const range = (n: number) => Array.from({ length: n }, (_, i) => i + 1)

/** The two ways to stream: on the pool, and on a held checkout. */
const sources = [
  {
    name: "pool.stream",
    stream: (pool: Pool.Pool<TestDriver.TestTypes>, query: string, maxRows: number) =>
      pool.stream(query, [], { maxRows })
  },
  {
    name: "checkout.stream",
    stream: (pool: Pool.Pool<TestDriver.TestTypes>, query: string, maxRows: number) =>
      Stream.unwrapScoped(Effect.map(pool.checkout, (conn) => conn.stream(query, [], { maxRows })))
  }
] as const

describe("Stream", () => {
  for (const source of sources) {
    describe(source.name, () => {
      it.scoped("streams every row in batches of maxRows, then deallocates and closes", () =>
        Effect.gen(function*() {
          const { driver, pool } = yield* setup()
          const rows = yield* Stream.runCollect(source.stream(pool, "rows:10", 3))
          expect(Chunk.toReadonlyArray(rows)).toEqual(range(10))
          const log = yield* TestDriver.statements(driver)
          expect(log).toEqual([
            "prepare 1 rows:10",
            "declare 1 rows:10",
            "fetch 1 rows:10",
            "fetch 1 rows:10",
            "fetch 1 rows:10",
            "fetch 1 rows:10",
            "deallocate 1 rows:10",
            "close 1 rows:10"
          ])
          yield* expectClean(driver, pool)
        }))

      it.scoped("an empty result: one fetch, no rows, deallocated", () =>
        Effect.gen(function*() {
          const { driver, pool } = yield* setup()
          const rows = yield* Stream.runCollect(source.stream(pool, "rows:0", 5))
          expect(Chunk.isEmpty(rows)).toBe(true)
          const log = yield* TestDriver.statements(driver)
          expect(count(log, "fetch")).toBe(1)
          expect(count(log, "deallocate")).toBe(1)
          expect(count(log, "close")).toBe(1)
          yield* expectClean(driver, pool)
        }))

      it.scoped("early stop (Stream.take): no more fetches, deallocate ran", () =>
        Effect.gen(function*() {
          const { driver, pool } = yield* setup()
          const rows = yield* Stream.runCollect(source.stream(pool, "rows:100", 5).pipe(Stream.take(7)))
          expect(Chunk.toReadonlyArray(rows)).toEqual(range(7))
          const log = yield* TestDriver.statements(driver)
          expect(count(log, "fetch")).toBe(2)
          expect(log.slice(-2)).toEqual(["deallocate 1 rows:100", "close 1 rows:100"])
          yield* expectClean(driver, pool)
        }))

      it.scoped("a failing consumer: the stream fails with its error, deallocate ran", () =>
        Effect.gen(function*() {
          const { driver, pool } = yield* setup()
          const error = yield* Effect.flip(
            source.stream(pool, "rows:20", 4).pipe(
              Stream.runForEach((row) => row === 6 ? Effect.fail(new Stop({ at: row })) : Effect.void)
            )
          )
          expect(error).toEqual(new Stop({ at: 6 }))
          const log = yield* TestDriver.statements(driver)
          expect(count(log, "fetch")).toBe(2)
          expect(log.slice(-2)).toEqual(["deallocate 1 rows:20", "close 1 rows:20"])
          yield* expectClean(driver, pool)
        }))

      it.scoped("a consumer's defect: deallocate ran", () =>
        Effect.gen(function*() {
          const { driver, pool } = yield* setup()
          const exit = yield* Effect.exit(
            source.stream(pool, "rows:3", 1).pipe(Stream.runForEach(() => Effect.die("consumer bug")))
          )
          expect(Exit.isFailure(exit)).toBe(true)
          expect(count(yield* TestDriver.statements(driver), "deallocate 1")).toBe(1)
          yield* expectClean(driver, pool)
        }))

      it.scoped("a fetch failing: the stream fails with the driver's error, typed; deallocate ran", () =>
        Effect.gen(function*() {
          const { driver, pool } = yield* setup()
          const failure = new TestDriver.TestDriverError({ reason: "fetch failed" })
          const stream = source.stream(pool, "rows:10", 3)
          const typed: Has<Stream.Stream.Error<typeof stream>, TestDriver.TestDriverError> = true
          expect(typed).toBe(true)
          yield* driver.failAt("fetch", 2, failure)
          const rows: Array<number> = []
          const exit = yield* Effect.exit(stream.pipe(Stream.runForEach((row) => Effect.sync(() => rows.push(row)))))
          expect(exit).toEqual(Exit.fail(failure))
          expect(rows).toEqual([1, 2, 3])
          const log = yield* TestDriver.statements(driver)
          expect(count(log, "fetch")).toBe(2)
          expect(log.slice(-2)).toEqual(["deallocate 1 rows:10", "close 1 rows:10"])
          yield* expectClean(driver, pool)
        }))

      it.scoped("a declare failing: the stream fails typed and the query is closed", () =>
        Effect.gen(function*() {
          const { driver, pool } = yield* setup()
          const failure = new TestDriver.TestDriverError({ reason: "no cursor" })
          yield* driver.failNext("declare", failure)
          const error = yield* Effect.flip(Stream.runCollect(source.stream(pool, "rows:3", 2)))
          expect(error).toEqual(failure)
          const log = yield* TestDriver.statements(driver)
          expect(count(log, "fetch")).toBe(0)
          expect(count(log, "deallocate")).toBe(0)
          expect(log.at(-1)).toBe("close 1 rows:3")
          yield* expectClean(driver, pool)
        }))

      it.scoped("a prepare failing: the stream fails typed, nothing to clean up", () =>
        Effect.gen(function*() {
          const { driver, pool } = yield* setup()
          const failure = new TestDriver.TestDriverError({ reason: "syntax error" })
          yield* driver.failNext("prepare", failure)
          const error = yield* Effect.flip(Stream.runCollect(source.stream(pool, "rows:3", 2)))
          expect(error).toEqual(failure)
          expect(yield* TestDriver.statements(driver)).toEqual(["prepare 1 rows:3"])
          yield* expectClean(driver, pool)
        }))

      it.scoped("interrupting the consuming fiber: deallocate ran", () =>
        Effect.gen(function*() {
          const { driver, pool } = yield* setup()
          const fiber = yield* Effect.fork(
            source.stream(pool, "rows:10", 2).pipe(
              Stream.runForEach((row) => row === 3 ? Effect.never : Effect.void)
            )
          )
          yield* TestTime.settle()
          expect(count(yield* TestDriver.statements(driver), "fetch")).toBeGreaterThanOrEqual(2)
          expect(yield* driver.openCursors).toBe(1)
          const exit = yield* Fiber.interrupt(fiber)
          expect(Exit.isInterrupted(exit)).toBe(true)
          const log = yield* TestDriver.statements(driver)
          expect(log.slice(-2)).toEqual(["deallocate 1 rows:10", "close 1 rows:10"])
          yield* expectClean(driver, pool)
        }))

      it.scoped("interrupted while a fetch is in flight: the connection leaves service, nothing more is sent on it", () =>
        Effect.gen(function*() {
          const { driver, pool } = yield* setup({ delays: { fetch: "1 second" } })
          const fiber = yield* Effect.fork(Stream.runCollect(source.stream(pool, "rows:10", 2)))
          yield* TestTime.settle()
          yield* TestClock.adjust("1500 millis")
          expect(count(yield* TestDriver.statements(driver), "fetch")).toBe(2)
          yield* Fiber.interrupt(fiber)
          yield* TestTime.settle()
          // the fetch never returned: its reply may still come, so the cursor is not deallocated on
          // that connection; it is disconnected (which closes the cursor on the server) and replaced
          expect(count(yield* TestDriver.statements(driver), "deallocate 1")).toBe(0)
          expect(yield* driver.log).toContain("disconnect 1")
          expect(yield* driver.connections).not.toContain(1)
          yield* expectClean(driver, pool)
        }))

      it.scoped("a Disconnect from fetch fails the stream and drops the slot", () =>
        Effect.gen(function*() {
          const { driver, pool } = yield* setup()
          const disconnect = new Disconnect({ cause: "reset" })
          yield* driver.failNext("fetch", disconnect)
          const error = yield* Effect.flip(Stream.runCollect(source.stream(pool, "rows:10", 2)))
          expect(error).toBe(disconnect)
          const id = yield* TestTime.advanceUntilDone(
            pool.run((conn) => Effect.succeed(conn.connection.id)),
            { step: "1 millis", limit: "10 millis" }
          )
          expect(id).toBe(2)
          expect(yield* driver.connections).toEqual([2])
          yield* expectClean(driver, pool)
        }))

      it.scoped("held past the pool's timeout mid-fetch: the stream fails with Timeout; nothing more is sent on the dropped connection", () =>
        Effect.gen(function*() {
          const { driver, pool } = yield* setup({ delays: { fetch: "40 millis" } }, { timeout: 100 })
          const fiber = yield* Effect.fork(Stream.runCollect(source.stream(pool, "rows:10", 2)))
          yield* TestClock.adjust("100 millis") // fetches at 0, 40, 80: the third is in flight
          yield* TestTime.settle()
          expect(yield* driver.log).toContain("disconnect 1") // the pool dropped the connection
          yield* TestClock.adjust("40 millis") // the fetch returns, failing: its socket was closed
          const error = yield* Effect.flip(Fiber.join(fiber))
          expect(error).toBeInstanceOf(Timeout)
          expect((error as Timeout).operation).toBe("hold")
          const log = yield* driver.log
          expect(log.slice(log.indexOf("disconnect 1"))).not.toContainEqual(expect.stringMatching(/ 1 rows:10$/))
          expect(yield* driver.violations).toEqual([])
          const id = yield* TestTime.advanceUntilDone(
            pool.run((conn) => Effect.succeed(conn.connection.id)),
            { step: "1 millis", limit: "10 millis" }
          )
          expect(id).toBe(2)
          yield* expectClean(driver, pool)
        }))

      it.effect.prop(
        "any row count and batch size: all rows, ceil(n / maxRows) fetches (at least 1), one deallocate",
        [fc.integer({ min: 0, max: 60 }), fc.integer({ min: 1, max: 25 })],
        ([n, maxRows]) =>
          Effect.gen(function*() {
            const { driver, pool } = yield* setup()
            const rows = yield* Stream.runCollect(source.stream(pool, `rows:${n}`, maxRows))
            expect(Chunk.toReadonlyArray(rows)).toEqual(range(n))
            const log = yield* TestDriver.statements(driver)
            expect(count(log, "fetch")).toBe(Math.max(1, Math.ceil(n / maxRows)))
            expect(count(log, "deallocate")).toBe(1)
            expect(count(log, "close")).toBe(1)
            yield* expectClean(driver, pool)
          }).pipe(Effect.scoped),
        { fastCheck: { numRuns: 30 } }
      )
    })
  }

  describe("on a checkout", () => {
    // Effect closes an outer stream's scope before an inner one's when a stream fails: the
    // checkout's end must still deallocate and close before its connection goes back.
    it.scoped("whatever ends the stream, deallocate and close reach the driver before the check-in", () =>
      Effect.gen(function*() {
        const { driver, pool } = yield* setup()
        const endings = [
          (s: Stream.Stream<number, unknown>) => Stream.runDrain(s),
          (s: Stream.Stream<number, unknown>) => Stream.runDrain(Stream.take(s, 1)),
          (s: Stream.Stream<number, unknown>) => Stream.runForEach(s, () => Effect.fail("consumer failed")),
          (s: Stream.Stream<number, unknown>) => Stream.runForEach(s, () => Effect.die("consumer died")),
          (s: Stream.Stream<number, unknown>) => Stream.runDrain(Stream.concat(s, Stream.fail("after the rows")))
        ]
        for (const [i, end] of endings.entries()) {
          for (const source of sources) {
            const before = (yield* driver.log).length
            yield* Effect.exit(end(source.stream(pool, "rows:4", 2)))
            const log = (yield* driver.log).slice(before).filter((entry) => /^(deallocate|close|checkin)/.test(entry))
            expect([i, source.name, log]).toEqual([i, source.name, [
              "deallocate 1 rows:4",
              "close 1 rows:4",
              "checkin 1"
            ]])
          }
        }
        yield* driver.failAt("fetch", 2, new TestDriver.TestDriverError({ reason: "fetch failed" }))
        const before = (yield* driver.log).length
        yield* Effect.exit(Stream.runDrain(sources[1].stream(pool, "rows:4", 2)))
        expect((yield* driver.log).slice(before).filter((entry) => /^(deallocate|close|checkin)/.test(entry)))
          .toEqual(["deallocate 1 rows:4", "close 1 rows:4", "checkin 1"])
        yield* expectClean(driver, pool)
      }))

    it.scoped("prepare / execute / close, query, and streams share the held connection", () =>
      Effect.gen(function*() {
        const { driver, pool } = yield* setup({}, { size: 2 })
        yield* Effect.scoped(Effect.gen(function*() {
          const conn = yield* pool.checkout
          const id = conn.connection.id
          expect(conn.pool).toBe("streams")
          const prepared = yield* conn.prepare("select $1")
          expect(prepared.query).toBe("select $1")
          expect(yield* driver.openPrepared).toBe(1)
          expect(yield* conn.execute(prepared, [1])).toEqual({ connection: id, query: "select $1", params: [1] })
          expect(yield* conn.execute(prepared, [2])).toEqual({ connection: id, query: "select $1", params: [2] })
          expect(yield* conn.execute(prepared)).toEqual({ connection: id, query: "select $1", params: [] })
          yield* conn.close(prepared)
          expect(yield* driver.openPrepared).toBe(0)
          expect(yield* conn.query("insert", ["a"])).toEqual({ connection: id, query: "insert", params: ["a"] })
          expect(yield* conn.query("ping")).toEqual({ connection: id, query: "ping", params: [] })
          const a = yield* Stream.runCollect(conn.stream("rows:3", [], { maxRows: 2 }))
          const b = yield* Stream.runCollect(conn.stream("rows:2", [], { maxRows: 5 }).pipe(Stream.take(1)))
          expect([Chunk.toReadonlyArray(a), Chunk.toReadonlyArray(b)]).toEqual([[1, 2, 3], [1]])
          expect(yield* conn.status).toBe("idle")
          const log = yield* TestDriver.statements(driver)
          expect(log.every((entry) => entry.split(" ")[1] === String(id))).toBe(true)
          expect(log).toEqual([
            `prepare ${id} select $1`,
            `execute ${id} select $1`,
            `execute ${id} select $1`,
            `execute ${id} select $1`,
            `close ${id} select $1`,
            `prepare ${id} insert`,
            `execute ${id} insert`,
            `close ${id} insert`,
            `prepare ${id} ping`,
            `execute ${id} ping`,
            `close ${id} ping`,
            `prepare ${id} rows:3`,
            `declare ${id} rows:3`,
            `fetch ${id} rows:3`,
            `fetch ${id} rows:3`,
            `deallocate ${id} rows:3`,
            `close ${id} rows:3`,
            `prepare ${id} rows:2`,
            `declare ${id} rows:2`,
            `fetch ${id} rows:2`,
            `deallocate ${id} rows:2`,
            `close ${id} rows:2`
          ])
        }))
        yield* expectClean(driver, pool)
      }))

    it.scoped("query closes its prepared query when execute fails", () =>
      Effect.gen(function*() {
        const { driver, pool } = yield* setup()
        const failure = new TestDriver.TestDriverError({ reason: "bad param" })
        yield* driver.failNext("execute", failure)
        expect(yield* Effect.flip(pool.query("insert", [1]))).toEqual(failure)
        expect(yield* TestDriver.statements(driver)).toEqual(["prepare 1 insert", "execute 1 insert", "close 1 insert"])
        yield* expectClean(driver, pool)
      }))

    it.scoped("a query interrupted during execute: its connection leaves service; close is not sent on it", () =>
      Effect.gen(function*() {
        const { driver, pool } = yield* setup({ delays: { execute: "1 second" } })
        const fiber = yield* Effect.fork(pool.query("slow"))
        yield* TestTime.settle()
        yield* TestClock.adjust("100 millis")
        yield* Fiber.interrupt(fiber)
        yield* TestTime.settle()
        expect(count(yield* TestDriver.statements(driver), "close 1 slow")).toBe(0)
        expect(yield* driver.log).toContain("disconnect 1")
        expect(yield* driver.connections).not.toContain(1)
        yield* expectClean(driver, pool)
      }))

    it.scoped("pool.query uses a connection and gives it back", () =>
      Effect.gen(function*() {
        const { driver, pool } = yield* setup()
        const results = yield* Effect.all([pool.query("a", [1]), pool.query("b", [2])], { concurrency: "unbounded" })
        expect(results.map((r) => [r.query, r.params])).toEqual([["a", [1]], ["b", [2]]])
        expect(Option.fromNullable((yield* driver.log).find((entry) => entry.startsWith("checkout")))).toEqual(
          Option.some("checkout 1")
        )
        yield* expectClean(driver, pool)
      }))

    it.scoped("a stream holds its connection for its life: another caller waits", () =>
      Effect.gen(function*() {
        // a queue target this long never sheds the waiting caller
        const { driver, pool } = yield* setup({ delays: { fetch: "1 second" } }, {
          queueTarget: "10 seconds",
          queueInterval: "20 seconds"
        })
        const streaming = yield* Effect.fork(Stream.runCollect(pool.stream("rows:4", [], { maxRows: 2 })))
        yield* TestTime.settle()
        const other = yield* Effect.fork(pool.query("other"))
        yield* TestTime.settle()
        expect((yield* pool.stats).queued).toBe(1)
        yield* TestClock.adjust("1 second")
        yield* TestTime.settle()
        expect(Option.isNone(yield* Fiber.poll(other))).toBe(true)
        yield* TestClock.adjust("1 second")
        const rows = yield* Fiber.join(streaming)
        expect(Chunk.toReadonlyArray(rows)).toEqual([1, 2, 3, 4])
        yield* Fiber.join(other)
        const log = yield* TestDriver.statements(driver)
        expect(log.indexOf("prepare 1 other")).toBeGreaterThan(log.indexOf("close 1 rows:4"))
        yield* expectClean(driver, pool)
      }))
  })

  it.scoped("after everything, nothing is left open", () =>
    Effect.gen(function*() {
      const { driver, pool } = yield* setup({}, { size: 2 })
      const failure = new TestDriver.TestDriverError({ reason: "x" })
      yield* Stream.runCollect(pool.stream("rows:5", [], { maxRows: 2 }))
      yield* Stream.runCollect(pool.stream("rows:5", [], { maxRows: 2 }).pipe(Stream.take(1)))
      yield* driver.failNext("fetch", failure)
      yield* Effect.either(Stream.runCollect(pool.stream("rows:5", [], { maxRows: 2 })))
      yield* Effect.either(pool.stream("rows:5", [], { maxRows: 2 }).pipe(Stream.runForEach(() => Effect.fail("stop"))))
      yield* pool.transaction((conn) => Stream.runCollect(conn.stream("rows:5", [], { maxRows: 2 })))
      yield* Effect.either(
        pool.transaction((conn) =>
          Stream.runForEach(conn.stream("rows:5", [], { maxRows: 2 }), () => conn.rollback("no"))
        )
      )
      yield* pool.query("q")
      const fiber = yield* Effect.fork(
        pool.stream("rows:5", [], { maxRows: 1 }).pipe(Stream.runForEach(() => Effect.never))
      )
      yield* TestTime.settle()
      yield* Fiber.interrupt(fiber)
      expect(yield* driver.openCursors).toBe(0)
      expect(yield* driver.openPrepared).toBe(0)
      expect(yield* driver.violations).toEqual([])
      expect(yield* driver.openConnections).toBe(2)
      expect((yield* pool.stats).busy).toBe(0)
    }))
})
