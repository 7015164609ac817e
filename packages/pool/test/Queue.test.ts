import { describe, expect, it } from "@effect/vitest"
import { Timeout } from "@redial/core"
import { Reconnect } from "@redial/core"
import { Dropped, Pool } from "@redial/pool"
import { TestTime } from "@redial/testing"
import { Deferred, Duration, Effect, Fiber, Metric, Option, TestClock } from "effect"
import { metrics } from "../src/internal/pool.js"
import * as Simple from "./support/simpleDriver.js"

/**
 * A request that holds a connection until `release` is completed, recording when it got it.
 */
const request = (pool: Pool.Pool<Simple.SimpleTypes>, log: Array<string>, name: string) =>
  Effect.gen(function*() {
    const release = yield* Deferred.make<void>()
    const fiber = yield* Effect.fork(
      pool.run((conn) =>
        Effect.gen(function*() {
          log.push(`${name} got ${conn.connection.id} at ${yield* TestClock.currentTimeMillis}`)
          yield* Deferred.await(release)
        })
      )
    )
    yield* TestTime.settle()
    return { fiber, release: Deferred.succeed(release, undefined) }
  })

const at = (millis: number) =>
  Effect.flatMap(TestClock.currentTimeMillis, (now) => TestClock.adjust(Duration.millis(millis - now)))

const setup = (options: Partial<Pool.Options<Simple.SimpleTypes>> = {}) =>
  Effect.gen(function*() {
    const simple = Simple.make()
    const pool = yield* Pool.make(simple.driver, {
      size: 1,
      queueTarget: 50,
      queueInterval: 100,
      minUptime: 0, // a young connection dropped reconnects at once here; MinUptime.test.ts covers the default
      ...options
    })
    yield* TestTime.settle()
    return { pool, simple }
  })

describe("Pool queue (DBConnection's CoDel)", () => {
  it.scoped("not slow: every check-in serves the head of the queue, in order", () =>
    Effect.gen(function*() {
      const { pool } = yield* setup({ queueInterval: 1000 })
      const log: Array<string> = []
      const a = yield* request(pool, log, "a")
      const b = yield* request(pool, log, "b")
      const c = yield* request(pool, log, "c")
      expect((yield* pool.stats).queued).toBe(2)
      yield* at(10)
      yield* a.release
      yield* TestTime.settle()
      yield* at(20)
      yield* b.release
      yield* TestTime.settle()
      expect(log).toEqual(["a got 1 at 0", "b got 1 at 10", "c got 1 at 20"])
      yield* c.release
    }))

  it.scoped("slow: after an interval whose minimum wait exceeded the target, requests older than 2 × target are dropped", () =>
    Effect.gen(function*() {
      const { pool } = yield* setup()
      const log: Array<string> = []
      const a = yield* request(pool, log, "a") // holds from 0
      const w1 = yield* request(pool, log, "w1") // queued at 0
      const w2 = yield* request(pool, log, "w2") // queued at 0
      // t=120: first check-in at an interval boundary: not slow yet (the last interval's minimum
      // was 0); w1 is served after waiting 120 ms, which starts the new interval's minimum.
      yield* at(120)
      yield* a.release
      yield* TestTime.settle()
      // t=130: inside the interval, not slow: the head (w2, waited 130) is served.
      yield* at(130)
      yield* w1.release
      yield* TestTime.settle()
      // more requests queue up
      yield* at(150)
      const w3 = yield* request(pool, log, "w3")
      const w4 = yield* request(pool, log, "w4")
      yield* at(240)
      const w5 = yield* request(pool, log, "w5")
      // t=250: an interval boundary; the last interval's minimum wait was 120 > 50: slow. The head
      // (w3) is served anyway, as DBConnection's dequeue_first does.
      yield* at(250)
      yield* w2.release
      yield* TestTime.settle()
      // t=260: slow: w4 waited 110 > 2 × 50 and is dropped; w5 (20 ms) is served.
      yield* at(260)
      yield* w3.release
      yield* TestTime.settle()
      expect(log).toEqual(["a got 1 at 0", "w1 got 1 at 120", "w2 got 1 at 130", "w3 got 1 at 250", "w5 got 1 at 260"])
      const error = yield* Effect.flip(Fiber.join(w4.fiber))
      expect(error).toBeInstanceOf(Dropped)
      expect(error).toMatchObject({ reason: "QueueTimeout", pool: "pool", connected: 1 })
      expect(Duration.toMillis((error as Dropped).waited)).toBe(110)
      expect(error.message).toContain("dropped from queue after 110 ms")
      expect(error.message).toContain(`Pool "pool"`)
      yield* w5.release
    }))

  it.scoped("a backlog of thousands is shed in slices: the check-in serves the first young request at once, every old one gets Dropped with its own wait", () =>
    Effect.gen(function*() {
      const { pool } = yield* setup({ queueInterval: 1000 })
      const log: Array<string> = []
      const a = yield* request(pool, log, "a")
      const w1 = yield* request(pool, log, "w1") // waits from 0
      // t=1000: the poll sees no progress; the interval's minimum (0) is under the target: not slow,
      // and the new interval's minimum starts at w1's wait (1000 ms)
      yield* at(1010)
      yield* a.release // w1 served after 1010 ms
      yield* TestTime.settle()
      // 3,000 requests, one every 0.05 ms from t=1011 to t=1161, each giving its connection back at once
      const backlog: Array<Fiber.RuntimeFiber<void, unknown>> = []
      const sent: Array<number> = []
      for (let i = 0; i < 3000; i++) {
        if (i % 20 === 0) yield* at(1011 + i / 20)
        sent.push(yield* TestClock.currentTimeMillis)
        backlog.push(yield* Effect.fork(pool.run(() => Effect.void)))
      }
      yield* TestTime.settle()
      yield* at(1950)
      const young = yield* request(pool, log, "young")
      expect((yield* pool.stats).queued).toBe(3001)
      // t=2005: a boundary, slow (1000 > 50): the head is served, as dequeue_first does; it gives
      // its connection back at once, and that check-in, slow, sheds every request sent before 1905
      // and serves the young one
      yield* at(2005)
      yield* w1.release
      yield* TestTime.settle()
      expect(log.at(-1)).toBe("young got 1 at 2005")
      const outcomes = yield* Effect.forEach(backlog, (fiber) => Effect.either(Fiber.join(fiber)))
      expect(outcomes[0]!._tag).toBe("Right")
      const waits = outcomes.slice(1).map((outcome) =>
        outcome._tag === "Left" && outcome.left instanceof Dropped ? Duration.toMillis(outcome.left.waited) : undefined
      )
      expect(waits).toEqual(sent.slice(1).map((time) => 2005 - time))
      expect(yield* pool.stats).toMatchObject({ queued: 0, busy: 1 })
      const dropped = yield* Metric.value(Metric.tagged(metrics.dropped, "pool", "pool"))
      expect(dropped.count).toBeGreaterThanOrEqual(2999)
      yield* young.release
    }))

  it.scoped("recovery: when the minimum wait of an interval falls under the target, the pool stops dropping", () =>
    Effect.gen(function*() {
      const { pool } = yield* setup()
      const log: Array<string> = []
      // make the pool slow, as above
      const a = yield* request(pool, log, "a")
      const w1 = yield* request(pool, log, "w1")
      yield* at(120)
      yield* a.release
      yield* TestTime.settle()
      yield* at(150)
      const w2 = yield* request(pool, log, "w2")
      yield* at(230)
      yield* w1.release // at a boundary (next = 220): slow = 120 > 50; w2 served after 80
      yield* TestTime.settle()
      // load falls: a request that waits only 10 ms in this interval
      yield* at(300)
      const w3 = yield* request(pool, log, "w3")
      yield* at(310)
      yield* w2.release // slow; w3 waited 10: served, the interval minimum is now 10
      yield* TestTime.settle()
      yield* at(320)
      const old = yield* request(pool, log, "old")
      // t=440: boundary (next = 330): the last minimum, 10, is under the target: not slow, so the
      // head is served even though it waited 120 ms (> 2 × target)
      yield* at(440)
      yield* w3.release
      yield* TestTime.settle()
      expect(log.at(-1)).toBe("old got 1 at 440")
      yield* old.release
    }))

  it.scoped("the timer drops requests when the queue makes no progress", () =>
    Effect.gen(function*() {
      const { pool } = yield* setup({ queueInterval: 1000 })
      const log: Array<string> = []
      yield* request(pool, log, "stuck") // never released
      yield* at(10)
      const w1 = yield* request(pool, log, "w1")
      // poll at 1000: the head is new since the last poll: remember it
      yield* at(1000)
      expect(Option.isNone(yield* Fiber.poll(w1.fiber))).toBe(true)
      // poll at 2000: no progress; the minimum delay of the interval (0) is under the target: not slow yet
      yield* at(2000)
      expect(Option.isNone(yield* Fiber.poll(w1.fiber))).toBe(true)
      // poll at 3000: still no progress, and the last minimum (1990) is over the target: slow, drop
      yield* at(3000)
      const error = yield* Effect.flip(Fiber.join(w1.fiber))
      expect(error).toBeInstanceOf(Dropped)
      expect(Duration.toMillis((error as Dropped).waited)).toBe(2990)
    }))

  it.scoped("queue: false drops at once when no connection is free", () =>
    Effect.gen(function*() {
      const { pool } = yield* setup({ queue: false })
      const log: Array<string> = []
      const a = yield* request(pool, log, "a")
      const error = yield* Effect.flip(pool.run(() => Effect.void))
      expect(error).toBeInstanceOf(Dropped)
      expect(error).toMatchObject({ reason: "QueueDisabled" })
      expect(error.message).toContain("queuing is disabled")
      yield* a.release
    }))

  it.scoped("a request whose deadline passes in the queue fails with Timeout, counted from the request", () =>
    Effect.gen(function*() {
      const { pool, simple } = yield* setup({ queueInterval: 10_000, timeout: 500 })
      const log: Array<string> = []
      const a = yield* request(pool, log, "a")
      // a's own deadline (500) drops its connection first; with the database down the slot
      // cannot come back before w's deadline
      simple.up(false)
      yield* at(100)
      const w = yield* request(pool, log, "w")
      yield* at(599)
      expect(Option.isNone(yield* Fiber.poll(w.fiber))).toBe(true)
      yield* at(600)
      const error = yield* Effect.flip(Fiber.join(w.fiber))
      expect(error).toBeInstanceOf(Timeout)
      expect((error as Timeout).operation).toBe("queue")
      expect((error as Timeout).message).toContain("deadline reached while in queue")
      yield* a.release
    }))

  it.scoped("a checkout held past its deadline loses its connection (dropped and replaced), as DBConnection", () =>
    Effect.gen(function*() {
      const { pool, simple } = yield* setup({ queueInterval: 10_000, timeout: 500 })
      const fiber = yield* Effect.fork(pool.run((conn) =>
        Effect.gen(function*() {
          yield* Effect.sleep("1 second")
          return yield* conn.query("select 1")
        })
      ))
      yield* TestTime.settle()
      yield* at(500)
      yield* TestTime.settle()
      expect(simple.releases()).toBe(1)
      yield* at(1000)
      const error = yield* Effect.flip(Fiber.join(fiber))
      expect(error).toBeInstanceOf(Timeout)
      // the slot reconnected and serves
      const id = yield* pool.run((conn) => Effect.succeed(conn.connection.id))
      expect(id).toBe(2)
    }))

  it.scoped("while the database is down callers queue and are shed; the pool serves as soon as one slot is back", () =>
    Effect.gen(function*() {
      const simple = Simple.make()
      simple.up(false)
      const pool = yield* Pool.make(simple.driver, {
        size: 2,
        queueTarget: 50,
        queueInterval: 1000,
        timeout: 60_000,
        policy: Reconnect.fixed("100 millis"),
        minUptime: 0
      })
      yield* TestTime.settle()
      expect((yield* pool.stats).connecting).toBe(2)
      const early = yield* Effect.fork(pool.run(() => Effect.void))
      yield* TestTime.settle()
      // the timer sheds it once the queue made no progress over two intervals
      yield* at(3000)
      const shed = yield* Effect.flip(Fiber.join(early))
      expect(shed).toBeInstanceOf(Dropped)
      // its message says what is wrong: no connection is up, not a slow pool
      expect(shed).toMatchObject({ connected: 0, reason: "QueueTimeout" })
      expect(shed.message).toContain(`Pool "pool": no connection is up (every slot is reconnecting)`)
      expect(shed.message).toContain(`"pool[0]"`)
      // the database comes back: the slots reconnect by their policy, and queued callers are served
      const waiting = yield* Effect.fork(pool.run((conn) => Effect.succeed(conn.connection.id)))
      yield* TestTime.settle()
      simple.up(true)
      const id = yield* TestTime.advanceUntilDone(Fiber.join(waiting), { step: "10 millis", limit: "500 millis" })
      expect(id).toBe(1)
      expect((yield* pool.stats).queued).toBe(0)
    }))

  it.scoped("idle connections are pinged every idleInterval; a failed ping drops and replaces the connection", () =>
    Effect.gen(function*() {
      const { pool, simple } = yield* setup({ idleInterval: 1000, queueInterval: 10_000 })
      yield* pool.run(() => Effect.void)
      yield* at(1000)
      yield* TestTime.settle()
      // checked in at 0, before the previous tick (0): pinged at 1000
      expect(simple.pings()).toBe(1)
      simple.pingFails(true)
      yield* at(2000)
      yield* TestTime.settle()
      expect(simple.pings()).toBe(2)
      expect(simple.releases()).toBe(1)
      simple.pingFails(false)
      expect(yield* pool.run((conn) => Effect.succeed(conn.connection.id))).toBe(2)
    }))

  it.scoped("max lifetime replaces connections, spread over the range", () =>
    Effect.gen(function*() {
      const { pool, simple } = yield* setup({
        size: 4,
        maxLifetime: { min: "10 seconds", max: "20 seconds" },
        queueInterval: 10_000
      })
      expect(simple.connects()).toBe(4)
      yield* at(9_000)
      expect(simple.releases()).toBe(0)
      // replaced at the first idle tick after each one's own lifetime, drawn in [10 s, 20 s]
      for (let t = 10_000; t <= 21_000; t += 1000) {
        yield* at(t)
        yield* TestTime.settle()
      }
      expect(simple.releases()).toBe(4)
      expect(simple.connects()).toBe(8)
      expect((yield* pool.stats).idle).toBe(4)
    }))

  it.scoped("disconnectAll replaces idle connections now and busy ones at check-in", () =>
    Effect.gen(function*() {
      const { pool, simple } = yield* setup({ size: 2, queueInterval: 10_000 })
      const log: Array<string> = []
      const a = yield* request(pool, log, "a")
      yield* pool.disconnectAll
      yield* TestTime.settle()
      expect(simple.releases()).toBe(1)
      yield* a.release
      yield* Fiber.join(a.fiber)
      yield* TestTime.settle()
      expect(simple.releases()).toBe(2)
      expect(simple.connects()).toBe(4)
    }))

  it.scoped("leaks: a checkout held past leakTimeout is reported with where it was taken, and counted", () =>
    Effect.gen(function*() {
      const { pool } = yield* setup({ leakTimeout: "2 seconds", timeout: "1 minute", queueInterval: 10_000 })
      const log: Array<string> = []
      const a = yield* request(pool, log, "a")
      yield* at(2000)
      yield* TestTime.settle()
      const leaks = yield* Metric.value(Metric.tagged(metrics.leaks, "pool", "pool"))
      expect(leaks.count).toBe(1)
      yield* a.release
    }))
})
