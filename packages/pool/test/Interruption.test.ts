import { describe, expect, it } from "@effect/vitest"
import { Reconnect } from "@redial/core"
import { Driver, Pool } from "@redial/pool"
import { TestTime } from "@redial/testing"
import { Duration, Effect, FastCheck as fc, Fiber, Option, Stream, TestClock } from "effect"
import * as Simple from "./support/simpleDriver.js"
import * as TestDriver from "./support/testDriver.js"

/** What one caller does once it has a connection. */
type Action =
  | { readonly _tag: "Hold"; readonly ms: number } // uses it for a while, then succeeds
  | { readonly _tag: "Fail"; readonly ms: number } // fails with its own error
  | { readonly _tag: "Break"; readonly ms: number } // a callback reports the connection broken
  | { readonly _tag: "Die"; readonly ms: number } // a defect
  | { readonly _tag: "Transaction"; readonly ms: number; readonly fail: boolean }

interface Caller {
  readonly start: number
  readonly action: Action
  /** Interrupted this long after it started (while queued or while holding), if set. */
  readonly interruptAfter: number | undefined
}

/** Times on a 50 ms grid, so that interruptions, releases and deadlines often fall on the same instant. */
const grid = (max: number) => fc.integer({ min: 0, max: max / 50 }).map((n) => n * 50)

const action: fc.Arbitrary<Action> = fc.oneof(
  fc.record({ _tag: fc.constant("Hold" as const), ms: grid(300) }),
  fc.record({ _tag: fc.constant("Fail" as const), ms: grid(300) }),
  fc.record({ _tag: fc.constant("Break" as const), ms: grid(300) }),
  fc.record({ _tag: fc.constant("Die" as const), ms: grid(300) }),
  fc.record({ _tag: fc.constant("Transaction" as const), ms: grid(300), fail: fc.boolean() })
)

const caller: fc.Arbitrary<Caller> = fc.record({
  start: grid(1000),
  action,
  interruptAfter: fc.option(grid(400), { nil: undefined })
})

const scenario = fc.record({
  size: fc.integer({ min: 1, max: 3 }),
  timeout: grid(600).map((t) => t + 100),
  callers: fc.array(caller, { minLength: 1, maxLength: 25 })
})

const perform = (conn: Pool.Checkout<Simple.SimpleTypes>, a: Action): Effect.Effect<unknown, unknown> => {
  const wait: Effect.Effect<void> = Effect.sleep(Duration.millis(a.ms))
  switch (a._tag) {
    case "Hold":
      return Effect.zipRight(wait, conn.query("select 1"))
    case "Fail":
      return Effect.zipRight(wait, Effect.fail("caller failed" as const))
    case "Break":
      return Effect.zipRight(wait, Effect.fail(new Driver.Disconnect({ cause: "broken pipe" })))
    case "Die":
      return Effect.zipRight(wait, Effect.die("caller bug"))
    case "Transaction":
      return conn.transaction((tx) => {
        const body: Effect.Effect<void, unknown> = a.fail
          ? tx.rollback("no" as const)
          : Effect.asVoid(tx.query("insert"))
        return Effect.zipRight(wait, body)
      })
  }
}

describe("Pool interruption safety", () => {
  it.effect.prop(
    "any interleaving of checkouts, interruptions, failures, broken connections and timeouts ends with every slot idle or reconnecting, nothing leaked",
    [scenario],
    ([{ callers, size, timeout }]) =>
      Effect.scoped(Effect.gen(function*() {
        const simple = Simple.make()
        const pool = yield* Pool.make(simple.driver, {
          size,
          timeout,
          queueTarget: 20,
          queueInterval: 100,
          minUptime: 0,
          policy: Reconnect.fixed("10 millis")
        })
        const origin = yield* TestClock.currentTimeMillis
        const fibers: Array<Fiber.RuntimeFiber<unknown, unknown>> = []
        const ordered = [...callers].sort((a, b) => a.start - b.start)
        for (const c of ordered) {
          const now = (yield* TestClock.currentTimeMillis) - origin
          if (c.start > now) yield* TestClock.adjust(Duration.millis(c.start - now))
          const fiber = yield* Effect.fork(Effect.exit(pool.run((conn) => perform(conn, c.action))))
          fibers.push(fiber)
          if (c.interruptAfter !== undefined) {
            yield* Effect.fork(Effect.zipRight(Effect.sleep(Duration.millis(c.interruptAfter)), Fiber.interrupt(fiber)))
          }
          yield* TestTime.settle(5)
        }
        // Let everything finish: the longest action, the timeouts, the reconnects.
        for (let i = 0; i < 12; i++) {
          yield* TestClock.adjust("250 millis")
          yield* TestTime.settle(5)
        }
        for (const fiber of fibers) yield* Fiber.await(fiber)
        const stats = yield* pool.stats
        expect(stats.busy).toBe(0)
        expect(stats.queued).toBe(0)
        expect(stats.idle + stats.connecting).toBe(size)
        // every slot is back: idle, with exactly one live connection each
        expect(stats.idle).toBe(size)
        expect(simple.connects() - simple.releases()).toBe(size)
        // and the pool still serves every slot
        const ids = yield* Effect.all(
          Array.from(
            { length: size },
            () => pool.run((conn) => Effect.as(Effect.sleep("1 millis"), conn.connection.id))
          ),
          { concurrency: "unbounded" }
        ).pipe(Effect.fork, Effect.tap(() => TestClock.adjust("1 millis")), Effect.flatMap(Fiber.join))
        expect(new Set(ids).size).toBe(size)
      })),
    { fastCheck: { numRuns: 50 } }
  )

  it.effect.prop(
    "streams, transactions and savepoints interrupted, failed, broken, lost or timed out anywhere leave no cursor, prepared query or transaction open",
    [fc.record({
      size: fc.integer({ min: 1, max: 2 }),
      timeout: grid(600).map((t) => t + 100),
      callers: fc.array(
        fc.record({
          start: grid(600),
          use: fc.oneof(
            fc.record({ _tag: fc.constant("Stream" as const), rows: fc.nat(12), take: fc.nat(12) }),
            fc.record({ _tag: fc.constant("StreamFails" as const), rows: fc.nat(12) }),
            fc.record({ _tag: fc.constant("Transaction" as const), fail: fc.boolean(), savepoint: fc.boolean() }),
            fc.record({ _tag: fc.constant("Break" as const) }),
            fc.record({ _tag: fc.constant("Lose" as const), midStream: fc.boolean() })
          ),
          inTransaction: fc.boolean(),
          interruptAfter: fc.option(grid(400), { nil: undefined })
        }),
        { minLength: 1, maxLength: 15 }
      )
    })],
    ([{ callers, size, timeout }]) =>
      Effect.scoped(Effect.gen(function*() {
        // every callback takes 10 ms (fetch 25 ms), so interruptions land inside them
        const driver = yield* TestDriver.make({
          savepoints: true,
          reportsLoss: true,
          delays: {
            prepare: "10 millis",
            declare: "10 millis",
            fetch: "25 millis",
            execute: "10 millis",
            begin: "10 millis"
          }
        })
        const pool = yield* Pool.make(driver, {
          size,
          timeout,
          queueTarget: 20,
          queueInterval: 100,
          minUptime: 0,
          policy: Reconnect.fixed("10 millis")
        })
        yield* TestDriver.awaitIdle(pool, size)
        const origin = yield* TestClock.currentTimeMillis
        const fibers: Array<Fiber.RuntimeFiber<unknown, unknown>> = []
        for (const c of [...callers].sort((a, b) => a.start - b.start)) {
          const now = (yield* TestClock.currentTimeMillis) - origin
          if (c.start > now) yield* TestClock.adjust(Duration.millis(c.start - now))
          const body = (conn: Pool.Checkout<TestDriver.TestTypes>): Effect.Effect<unknown, unknown> => {
            const u = c.use
            switch (u._tag) {
              case "Stream":
                return Stream.runDrain(Stream.take(conn.stream(`rows:${u.rows}`, [], { maxRows: 3 }), u.take))
              case "StreamFails":
                return Stream.runForEach(
                  conn.stream(`rows:${u.rows}`, [], { maxRows: 2 }),
                  (row) => row === 3 ? Effect.fail("consumer failed" as const) : Effect.void
                )
              case "Transaction":
                return conn.transaction(
                  (tx) => Effect.zipRight(tx.query("insert"), u.fail ? tx.rollback("no" as const) : Effect.void),
                  { savepoint: u.savepoint }
                )
              case "Break":
                return Effect.zipRight(conn.query("select"), Effect.fail(new Driver.Disconnect({ cause: "broken" })))
              case "Lose":
                // the server ends the session under the caller: mid-stream, or before a query
                return u.midStream
                  ? Stream.runForEach(
                    conn.stream("rows:6", [], { maxRows: 2 }),
                    (row) => row === 3 ? driver.kill(conn.connection.id) : Effect.void
                  )
                  : Effect.zipRight(driver.kill(conn.connection.id), conn.query("select"))
            }
          }
          const op = c.inTransaction ? pool.transaction(body) : pool.run(body)
          const fiber = yield* Effect.fork(Effect.exit(op))
          fibers.push(fiber)
          if (c.interruptAfter !== undefined) {
            yield* Effect.fork(Effect.zipRight(Effect.sleep(Duration.millis(c.interruptAfter)), Fiber.interrupt(fiber)))
          }
          yield* TestTime.settle(5)
        }
        for (let i = 0; i < 16; i++) {
          yield* TestClock.adjust("250 millis")
          yield* TestTime.settle(5)
        }
        for (const fiber of fibers) yield* Fiber.await(fiber)
        const stats = yield* pool.stats
        expect(stats).toMatchObject({ busy: 0, queued: 0, idle: size })
        expect(yield* driver.openCursors).toBe(0)
        expect(yield* driver.openPrepared).toBe(0)
        const violations = yield* driver.violations
        if (violations.length > 0) expect([violations, yield* driver.log]).toEqual([[], []])
        expect(yield* driver.openConnections).toBe(size)
        for (const id of yield* driver.connections) {
          expect(yield* driver.transactionStatus(id)).toEqual(Option.some("idle"))
          expect(yield* driver.savepointStack(id)).toEqual([])
        }
      })),
    { fastCheck: { numRuns: 40 } }
  )

  it.scoped("a waiter interrupted right after it was handed a connection gives it back", () =>
    Effect.gen(function*() {
      const simple = Simple.make()
      const pool = yield* Pool.make(simple.driver, { size: 1 })
      yield* TestTime.settle()
      let waiter: Fiber.RuntimeFiber<string, unknown> | undefined
      yield* pool.run(() =>
        Effect.gen(function*() {
          waiter = yield* Effect.fork(pool.run(() => Effect.succeed("served")))
          yield* TestTime.settle()
          expect((yield* pool.stats).queued).toBe(1)
        })
      )
      // the check-in above handed the connection to the waiter; interrupt it before it runs
      yield* Fiber.interrupt(waiter!)
      yield* TestTime.settle()
      const stats = yield* pool.stats
      expect(stats.busy).toBe(0)
      expect(stats.idle).toBe(1)
      expect(yield* pool.run(() => Effect.succeed("again"))).toBe("again")
    }))
})
