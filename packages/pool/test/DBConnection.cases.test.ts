import { expect, it } from "@effect/vitest"
import { Reconnect } from "@redial/core"
import { TestTime } from "@redial/testing"
import { Cause, Chunk, Effect, Exit, Fiber, Stream, TestClock } from "effect"
import { Disconnect } from "../src/Driver.js"
import * as Pool from "../src/Pool.js"
import * as TestDriver from "../src/TestDriver.js"
import {
  connectionId,
  eventually,
  expectClean,
  expectOrder,
  expectUntouchedAfter,
  failureOf,
  kind,
  Oops,
  setup
} from "./support/dbconnection.js"

/**
 * DBConnection's integration cases (elixir-ecto/db_connection, integration_test/cases/*.exs and
 * integration_test/connection_pool/*.exs), ported to redial's API on TestDriver and TestClock.
 * Each test is titled with the file and test it ports; where redial's API differs (no
 * disconnect_and_retry, no log entries, typed errors instead of raises), it proves the same
 * behaviour in redial's terms. TestDriver models an in-order protocol: nothing may reach a
 * connection after a callback on it died or was interrupted (its `violations` stay empty).
 */

it.scoped("execute_test.exs: execute returns result — prepare, execute and close on one connection", () =>
  Effect.gen(function*() {
    const { driver, pool } = yield* setup()
    const result = yield* pool.query("q", [1])
    expect(result).toEqual({ connection: 1, query: "q", params: [1] })
    expect(yield* TestDriver.statements(driver)).toEqual(["prepare 1 q", "execute 1 q", "close 1 q"])
    yield* expectClean(driver)
  }))

it.scoped("execute_test.exs: execute error returns error — the driver's error, typed; the connection stays in service", () =>
  Effect.gen(function*() {
    const { driver, pool } = yield* setup()
    const oops = new TestDriver.TestDriverError({ reason: "oops" })
    yield* driver.failNext("execute", oops)
    expect(yield* Effect.flip(pool.query("q"))).toBe(oops)
    expect(yield* connectionId(pool)).toBe(1)
    expect(yield* driver.log).not.toContain("disconnect 1")
    yield* expectClean(driver)
  }))

it.scoped("prepare_test.exs: prepare returns query — prepare, then execute and close the prepared query", () =>
  Effect.gen(function*() {
    const { driver, pool } = yield* setup()
    const result = yield* pool.run((conn) =>
      Effect.gen(function*() {
        const prepared = yield* conn.prepare("q")
        expect(prepared.query).toBe("q")
        const result = yield* conn.execute(prepared, [2])
        yield* conn.close(prepared)
        return result
      })
    )
    expect(result.params).toEqual([2])
    expect(yield* TestDriver.statements(driver)).toEqual(["prepare 1 q", "execute 1 q", "close 1 q"])
    yield* expectClean(driver)
  }))

it.scoped("prepare_test.exs: prepare error returns error — typed, the connection stays in service", () =>
  Effect.gen(function*() {
    const { driver, pool } = yield* setup()
    const oops = new TestDriver.TestDriverError({ reason: "oops" })
    yield* driver.failNext("prepare", oops)
    expect(yield* Effect.flip(pool.run((conn) => conn.prepare("q")))).toBe(oops)
    expect(yield* connectionId(pool)).toBe(1)
    yield* expectClean(driver)
  }))

it.scoped("close_test.exs: close error returns error — typed, the connection stays in service", () =>
  Effect.gen(function*() {
    const { driver, pool } = yield* setup()
    const oops = new TestDriver.TestDriverError({ reason: "oops" })
    yield* driver.failNext("close", oops)
    const error = yield* Effect.flip(pool.run((conn) => Effect.flatMap(conn.prepare("q"), conn.close)))
    expect(error).toBe(oops)
    expect(yield* connectionId(pool)).toBe(1)
    expect(yield* driver.violations).toEqual([])
  }))

it.scoped("close_test.exs: close in failed transaction — close is allowed after an inner rollback; the outermost rolls back", () =>
  Effect.gen(function*() {
    const { driver, pool } = yield* setup()
    const exit = yield* Effect.exit(pool.transaction((conn) =>
      Effect.gen(function*() {
        const prepared = yield* conn.prepare("q")
        expect(kind(yield* Effect.exit(conn.transaction((inner) => inner.rollback(new Oops({ n: 1 })))))).toBe("Oops")
        yield* conn.close(prepared)
      })
    ))
    expect(kind(exit)).toBe("RolledBack")
    expect(yield* TestDriver.statements(driver)).toEqual(["begin 1", "prepare 1 q", "close 1 q", "rollback 1"])
    yield* expectClean(driver)
  }))

it.scoped("transaction_test.exs: transaction returns result — begin, commit, the function's result", () =>
  Effect.gen(function*() {
    const { driver, pool } = yield* setup()
    expect(yield* pool.transaction(() => Effect.succeed("result"))).toBe("result")
    expect(yield* TestDriver.statements(driver)).toEqual(["begin 1", "commit 1"])
    yield* expectClean(driver)
  }))

it.scoped("transaction_test.exs: transaction rollback returns error — rollback(reason) rolls back and fails with exactly the reason", () =>
  Effect.gen(function*() {
    const { driver, pool } = yield* setup()
    const error = yield* Effect.flip(pool.transaction((conn) => conn.rollback(new Oops({ n: 1 }))))
    expect(error).toEqual(new Oops({ n: 1 }))
    expect(yield* TestDriver.statements(driver)).toEqual(["begin 1", "rollback 1"])
    yield* expectClean(driver)
  }))

it.scoped("transaction_test.exs: outer transaction rolls back after inner rollback — the outer rollback(reason) wins", () =>
  Effect.gen(function*() {
    const { driver, pool } = yield* setup()
    const error = yield* Effect.flip(pool.transaction((conn) =>
      Effect.zipRight(
        Effect.exit(conn.transaction((inner) => inner.rollback(new Oops({ n: 1 })))),
        conn.rollback(new Oops({ n: 2 }))
      )
    ))
    expect(error).toEqual(new Oops({ n: 2 }))
    expect(yield* pool.transaction(() => Effect.succeed("result"))).toBe("result")
    expect(yield* TestDriver.statements(driver)).toEqual(["begin 1", "rollback 1", "begin 1", "commit 1"])
    yield* expectClean(driver)
  }))

it.scoped("transaction_test.exs: transaction and transaction returns result — nested, the same connection, one begin and commit", () =>
  Effect.gen(function*() {
    const { driver, pool } = yield* setup()
    const result = yield* pool.transaction((conn) =>
      conn.transaction((conn2) =>
        Effect.succeed(conn2.connection === conn.connection ? "result" : "another connection")
      )
    )
    expect(result).toBe("result")
    expect(yield* TestDriver.statements(driver)).toEqual(["begin 1", "commit 1"])
    yield* expectClean(driver)
  }))

it.scoped("transaction_test.exs: transaction and run returns result — run inside a transaction is the same connection", () =>
  Effect.gen(function*() {
    const { driver, pool } = yield* setup()
    const result = yield* pool.transaction((conn) =>
      conn.run((conn2) => Effect.succeed(conn2.connection === conn.connection ? "result" : "another connection"))
    )
    expect(result).toBe("result")
    expect(yield* TestDriver.statements(driver)).toEqual(["begin 1", "commit 1"])
    yield* expectClean(driver)
  }))

it.scoped("transaction_test.exs: transaction begin error raises error — the function does not run; the connection stays in service", () =>
  Effect.gen(function*() {
    const { driver, pool } = yield* setup()
    const oops = new TestDriver.TestDriverError({ reason: "oops" })
    yield* driver.failNext("begin", oops)
    let ran = false
    expect(yield* Effect.flip(pool.transaction(() => Effect.sync(() => (ran = true))))).toBe(oops)
    expect(ran).toBe(false)
    expect(yield* pool.transaction(() => Effect.succeed("result"))).toBe("result")
    expect(yield* TestDriver.statements(driver)).toEqual(["begin 1", "begin 1", "commit 1"])
    yield* expectClean(driver)
  }))

it.scoped("transaction_test.exs: transaction begin disconnect raises error — the function does not run; disconnect, reconnect", () =>
  Effect.gen(function*() {
    const { driver, pool } = yield* setup()
    const disconnect = new Disconnect({ cause: "oops" })
    yield* driver.failNext("begin", disconnect)
    let ran = false
    expect(yield* Effect.flip(pool.transaction(() => Effect.sync(() => (ran = true))))).toBe(disconnect)
    expect(ran).toBe(false)
    expect(yield* connectionId(pool)).toBe(2)
    const log = yield* driver.log
    expectOrder(log, ["begin 1", "disconnect 1", "released 1", "connect 2"])
    expectUntouchedAfter(log, "begin 1", 1)
    expect(yield* driver.violations).toEqual([])
  }))

it.scoped("transaction_test.exs: transaction commit error raises error — typed; the next transaction works", () =>
  Effect.gen(function*() {
    const { driver, pool } = yield* setup()
    const oops = new TestDriver.TestDriverError({ reason: "oops" })
    yield* driver.failNext("commit", oops)
    expect(yield* Effect.flip(pool.transaction(() => Effect.succeed("result")))).toBe(oops)
    expect(yield* pool.transaction(() => Effect.succeed("result"))).toBe("result")
    expect(yield* TestDriver.statements(driver)).toEqual(["begin 1", "commit 1", "begin 1", "commit 1"])
    yield* expectClean(driver)
  }))

it.scoped("transaction_test.exs: transaction commit disconnect raises error — disconnect, reconnect; no rollback on the dead connection", () =>
  Effect.gen(function*() {
    const { driver, pool } = yield* setup()
    const disconnect = new Disconnect({ cause: "oops" })
    yield* driver.failNext("commit", disconnect)
    expect(yield* Effect.flip(pool.transaction(() => Effect.succeed("result")))).toBe(disconnect)
    expect(yield* connectionId(pool)).toBe(2)
    const log = yield* driver.log
    expectOrder(log, ["begin 1", "commit 1", "disconnect 1", "released 1", "connect 2"])
    expectUntouchedAfter(log, "commit 1", 1)
    expect(yield* driver.violations).toEqual([])
  }))

it.scoped("transaction_test.exs: transaction fun raise rolls back and re-raises — a defect in the function rolls back and reaches the caller", () =>
  Effect.gen(function*() {
    const { driver, pool } = yield* setup()
    expect(yield* Effect.exit(pool.transaction(() => Effect.die("oops")))).toEqual(Exit.die("oops"))
    expect(yield* TestDriver.statements(driver)).toEqual(["begin 1", "rollback 1"])
    expect(yield* connectionId(pool)).toBe(1) // the user's defect is not the driver's: the connection is fine
    yield* expectClean(driver)
  }))

it.scoped("transaction_test.exs: status returns result — idle, transaction, error; a Disconnect from status drops the connection", () =>
  Effect.gen(function*() {
    const { driver, pool } = yield* setup()
    expect(yield* pool.run((conn) => conn.status)).toBe("idle")
    const inside = yield* Effect.flip(pool.transaction((conn) =>
      Effect.gen(function*() {
        const transaction = yield* conn.status
        yield* Effect.either(conn.query("fail"))
        const error = yield* conn.status
        return yield* conn.rollback([transaction, error] as const)
      })
    ))
    expect(inside).toEqual(["transaction", "error"])
    yield* driver.failNext("status", new Disconnect({ cause: "oops" }))
    expect(kind(yield* Effect.exit(pool.run((conn) => conn.status)))).toBe("Disconnect")
    expect(yield* connectionId(pool)).toBe(2)
    expect(yield* driver.log).toContain("disconnect 1")
    expect(yield* driver.violations).toEqual([])
  }))

it.scoped("transaction_test.exs: status returns result on successful run — a run handed back with the status it went out with succeeds", () =>
  Effect.gen(function*() {
    const { driver, pool } = yield* setup()
    expect(yield* pool.run((conn) => conn.query("q"))).toMatchObject({ query: "q" })
    expect(yield* connectionId(pool)).toBe(1)
    expect(yield* driver.log).not.toContain("disconnect 1")
    yield* expectClean(driver)
  }))

it.scoped("transaction_test.exs: status errors on unmatched run — also in a transaction: a function that recovered from a failed statement fails, and the connection comes back idle", () =>
  Effect.gen(function*() {
    const { driver, pool } = yield* setup()
    // the user's function recovers from the failed statement and commits: the database rolled back
    const exit = yield* Effect.exit(pool.transaction((conn) => Effect.either(conn.query("fail"))))
    expect(Exit.isFailure(exit)).toBe(true)
    expect(yield* eventually(pool.run((conn) => conn.status))).toBe("idle")
    expect(yield* driver.violations).toEqual([])
  }))

it.scoped("transaction_test.exs: run inside transaction — one begin and commit", () =>
  Effect.gen(function*() {
    const { driver, pool } = yield* setup()
    expect(yield* pool.transaction((conn) => conn.run(() => Effect.succeed("result")))).toBe("result")
    expect(yield* TestDriver.statements(driver)).toEqual(["begin 1", "commit 1"])
    yield* expectClean(driver)
  }))

it.scoped("transaction_test.exs: transaction inside run — begin and commit inside the run", () =>
  Effect.gen(function*() {
    const { driver, pool } = yield* setup()
    expect(yield* pool.run((conn) => conn.transaction(() => Effect.succeed("result")))).toBe("result")
    expect(yield* TestDriver.statements(driver)).toEqual(["begin 1", "commit 1"])
    yield* expectClean(driver)
  }))

it.scoped("transaction_execute_test.exs: execute returns result — inside a transaction", () =>
  Effect.gen(function*() {
    const { driver, pool } = yield* setup()
    const result = yield* pool.transaction((conn) => conn.query("q", [1]))
    expect(result.params).toEqual([1])
    expect(yield* TestDriver.statements(driver)).toEqual([
      "begin 1",
      "prepare 1 q",
      "execute 1 q",
      "close 1 q",
      "commit 1"
    ])
    yield* expectClean(driver)
  }))

it.scoped("transaction_execute_test.exs: execute error returns error — typed inside the transaction, which rolls back with it", () =>
  Effect.gen(function*() {
    const { driver, pool } = yield* setup()
    const oops = new TestDriver.TestDriverError({ reason: "oops" })
    yield* driver.failNext("execute", oops)
    expect(yield* Effect.flip(pool.transaction((conn) => conn.query("q")))).toBe(oops)
    const statements = yield* TestDriver.statements(driver)
    expect(statements[0]).toBe("begin 1")
    expect(statements.at(-1)).toBe("rollback 1")
    yield* expectClean(driver)
  }))

it.scoped("transaction_execute_test.exs: execute raises after inner transaction rollback — TransactionRollingBack; the outermost rolls back", () =>
  Effect.gen(function*() {
    const { driver, pool } = yield* setup()
    const exit = yield* Effect.exit(pool.transaction((conn) =>
      Effect.gen(function*() {
        yield* Effect.exit(conn.transaction((inner) => inner.rollback("oops")))
        expect(kind(yield* Effect.exit(conn.query("q")))).toBe("TransactionRollingBack")
      })
    ))
    expect(kind(exit)).toBe("RolledBack")
    expect(yield* TestDriver.statements(driver)).toEqual(["begin 1", "rollback 1"])
    yield* expectClean(driver)
  }))

it.scoped("stream_test.exs: stream returns result — declare, fetch until done, deallocate, inside the transaction", () =>
  Effect.gen(function*() {
    const { driver, pool } = yield* setup()
    const rows = yield* pool.transaction((conn) => Stream.runCollect(conn.stream("rows:2", [], { maxRows: 1 })))
    expect(Chunk.toReadonlyArray(rows)).toEqual([1, 2])
    expect(yield* TestDriver.statements(driver)).toEqual([
      "begin 1",
      "prepare 1 rows:2",
      "declare 1 rows:2",
      "fetch 1 rows:2",
      "fetch 1 rows:2",
      "deallocate 1 rows:2",
      "close 1 rows:2",
      "commit 1"
    ])
    yield* expectClean(driver)
  }))

it.scoped("stream_test.exs: stream deallocates after transaction failed — deallocate and close still run after an inner rollback; the outermost rolls back", () =>
  Effect.gen(function*() {
    const { driver, pool } = yield* setup()
    const exit = yield* Effect.exit(pool.transaction((conn) =>
      Stream.runForEach(
        conn.stream("rows:4", [], { maxRows: 1 }),
        () => Effect.zipRight(Effect.exit(conn.transaction((inner) => inner.rollback("oops"))), Effect.fail("escape"))
      )
    ))
    expect(failureOf(exit)).toBe("escape")
    expect(yield* TestDriver.statements(driver)).toEqual([
      "begin 1",
      "prepare 1 rows:4",
      "declare 1 rows:4",
      "fetch 1 rows:4",
      "deallocate 1 rows:4",
      "close 1 rows:4",
      "rollback 1"
    ])
    yield* expectClean(driver)
  }))

it.scoped("client_test.exs: reconnect when client timeout — a checkout held past the timeout loses its connection; its next call fails with Timeout without reaching the driver", () =>
  Effect.gen(function*() {
    const { driver, pool } = yield* setup({}, { timeout: 100 })
    const fiber = yield* Effect.fork(
      pool.run((conn) => Effect.zipRight(Effect.sleep("150 millis"), Effect.exit(conn.query("q"))))
    )
    yield* TestClock.adjust("150 millis")
    const exit = yield* Fiber.join(fiber)
    expect(kind(exit)).toBe("Timeout")
    expect(yield* driver.log).not.toContain("prepare 1 q")
    expect(yield* connectionId(pool)).toBe(2)
    expect(yield* driver.violations).toEqual([])
  }))

it.scoped("client_test.exs: fails when using an outdated connection reference — a checkout used after its run dies, naming the pool; nothing reaches the driver", () =>
  Effect.gen(function*() {
    const { driver, pool } = yield* setup()
    const outdated = yield* pool.run((conn) => Effect.succeed(conn))
    const outside = yield* Effect.exit(outdated.query("q"))
    const inside = yield* pool.run(() => Effect.exit(outdated.query("q")))
    for (const exit of [outside, inside]) {
      expect(kind(exit)).toBe("Die")
      expect(Exit.isFailure(exit) && Cause.pretty(exit.cause)).toContain("dbc")
    }
    expect(yield* TestDriver.statements(driver)).toEqual([])
  }))

it.scoped("after_connect_test.exs: after_connect execute — afterConnect runs on the new connection before it serves", () =>
  Effect.gen(function*() {
    const driver = yield* TestDriver.make()
    const pool = yield* Pool.make(driver, {
      name: "dbc",
      afterConnect: (connection) =>
        Effect.flatMap(driver.prepare(connection, "after_connect"), (p) => driver.close(connection, p))
    })
    yield* pool.query("client")
    const statements = yield* TestDriver.statements(driver)
    expect(statements.slice(0, 2)).toEqual(["prepare 1 after_connect", "close 1 after_connect"])
    expect(statements).toContain("prepare 1 client")
  }))

it.scoped("after_connect_test.exs: after_connect cancels timeout — a connection whose afterConnect succeeded stays up", () =>
  Effect.gen(function*() {
    const { driver, pool } = yield* setup({}, { afterConnect: () => Effect.void, idleInterval: "10 seconds" })
    yield* TestClock.adjust("30 seconds")
    expect(yield* driver.connectAttempts).toBe(1)
    expect(yield* connectionId(pool)).toBe(1)
  }))

for (
  const [what, options] of [
    ["a failed attempt", {
      connectScript: [{ _tag: "Fail", error: new TestDriver.TestDriverError({ reason: "down" }) }]
    }]
  ] as const
) {
  it.scoped(`connect_test.exs: backoff after failed initial connection attempt (${what}) — the slot retries after the policy's delay`, () =>
    Effect.gen(function*() {
      const driver = yield* TestDriver.make(options as TestDriver.Options)
      const pool = yield* Pool.make(driver, { name: "dbc", policy: Reconnect.fixed("1 second") })
      yield* TestTime.settle()
      expect(yield* driver.connectAttempts).toBe(1)
      yield* TestClock.adjust("999 millis")
      expect(yield* driver.connectAttempts).toBe(1)
      yield* TestClock.adjust("1 millis")
      yield* TestTime.settle()
      expect(yield* driver.connectAttempts).toBe(2)
      expect(yield* connectionId(pool)).toBe(1)
    }))
}

it.scoped("connect_test.exs: lazy configure connection with fun — configure runs before every attempt with its slot", () =>
  Effect.gen(function*() {
    const slots: Array<number> = []
    const { pool } = yield* setup({}, {
      size: 2,
      configure: (attempt) => Effect.sync(() => (slots.push(attempt.slot), attempt.config))
    })
    void pool
    expect([...slots].sort()).toEqual([0, 1])
  }))

it.scoped("connect_test.exs: backoff after disconnect and failed connection attempt — reconnect at once after the loss, then by the policy", () =>
  Effect.gen(function*() {
    const { driver, pool } = yield* setup(
      {},
      { policy: Reconnect.fixed("1 second"), minUptime: 0 } as Pool.Options<TestDriver.TestTypes>
    )
    yield* driver.scriptConnect({ _tag: "Fail", error: new TestDriver.TestDriverError({ reason: "down" }) })
    yield* driver.failNext("close", new Disconnect({ cause: "oops" }))
    yield* Effect.either(pool.query("q"))
    yield* TestTime.settle()
    expect(yield* driver.connectAttempts).toBe(2) // at once
    yield* TestClock.adjust("1 second")
    yield* TestTime.settle()
    expect(yield* driver.connectAttempts).toBe(3)
    expect(yield* connectionId(pool)).toBe(2)
  }))

it.scoped("queue_test.exs: queue: false raises on busy — Dropped (QueueDisabled) at once", () =>
  Effect.gen(function*() {
    const { pool } = yield* setup({}, { queue: false })
    const error = yield* pool.run(() => Effect.flip(pool.run(() => Effect.succeed("got connection"))))
    expect(error).toMatchObject({ _tag: "Dropped", reason: "QueueDisabled" })
  }))

it.scoped("queue_test.exs: queue many async — ten callers on one connection are all served", () =>
  Effect.gen(function*() {
    const { pool } = yield* setup()
    const fiber = yield* Effect.fork(Effect.all(
      Array.from({ length: 10 }, () => pool.run(() => Effect.sleep("20 millis"))),
      { concurrency: "unbounded" }
    ))
    yield* TestTime.advanceUntilDone(Fiber.join(fiber), { step: "20 millis" })
  }))

it.scoped("queue_test.exs: queue many async exits — interrupted waiters leave the queue; the pool serves after", () =>
  Effect.gen(function*() {
    const { pool } = yield* setup()
    const result = yield* pool.run(() =>
      Effect.gen(function*() {
        const waiters = yield* Effect.forEach(
          Array.from({ length: 10 }),
          () => Effect.fork(pool.run(() => Effect.succeed("ran")))
        )
        yield* TestTime.settle()
        expect((yield* pool.stats).queued).toBe(10)
        yield* Fiber.interruptAll(waiters)
        return (yield* pool.stats).queued
      })
    )
    expect(result).toBe(0)
    expect(yield* pool.run(() => Effect.succeed("result"))).toBe("result")
  }))

it.scoped("queue_test.exs: queue raises dropped from queue when disconnected — queue: false with no connection up: Dropped at once", () =>
  Effect.gen(function*() {
    const driver = yield* TestDriver.make({
      connectOtherwise: { _tag: "Fail", error: new TestDriver.TestDriverError({ reason: "down" }) }
    })
    const pool = yield* Pool.make(driver, { name: "dbc", queue: false, policy: Reconnect.fixed("30 seconds") })
    yield* TestTime.settle()
    const error = yield* Effect.flip(pool.run(() => Effect.succeed("got connection")))
    expect(error).toMatchObject({ _tag: "Dropped", reason: "QueueDisabled" })
  }))

it.scoped("queue_test.exs: queue handles holder that has been deleted — a holder past the timeout; the pool serves after", () =>
  Effect.gen(function*() {
    const { pool } = yield* setup({}, { timeout: 100 })
    const fiber = yield* Effect.fork(pool.run(() => Effect.sleep("1 second")))
    yield* TestClock.adjust("1 second")
    yield* Fiber.join(fiber)
    expect(yield* eventually(pool.run(() => Effect.succeed("ok")))).toBe("ok")
    expect((yield* pool.stats).busy).toBe(0)
  }))

it.scoped("idle_test.exs: ping after idle interval — an idle connection is pinged, again after use", () =>
  Effect.gen(function*() {
    const { driver, pool } = yield* setup({}, { idleInterval: 50 })
    yield* TestClock.adjust("100 millis")
    yield* TestTime.settle()
    const pings = (yield* driver.log).filter((entry) => entry === "ping 1").length
    expect(pings).toBeGreaterThanOrEqual(1)
    yield* pool.run(() => Effect.void)
    yield* TestClock.adjust("100 millis")
    yield* TestTime.settle()
    expect((yield* driver.log).filter((entry) => entry === "ping 1").length).toBeGreaterThan(pings)
  }))

it.scoped("idle_test.exs: ping multiple after idle interval — every idle connection is pinged", () =>
  Effect.gen(function*() {
    const { driver } = yield* setup({}, { idleInterval: 100, size: 2 })
    yield* TestClock.adjust("200 millis")
    yield* TestTime.settle()
    const log = yield* driver.log
    expect(log).toContain("ping 1")
    expect(log).toContain("ping 2")
  }))

it.scoped("disconnect_all_test.exs: disconnect on checkin — a busy connection is dropped when it comes back", () =>
  Effect.gen(function*() {
    const { driver, pool } = yield* setup()
    yield* pool.run(() => pool.disconnectAll)
    expect(yield* connectionId(pool)).toBe(2)
    expectOrder(yield* driver.log, ["disconnect 1", "released 1", "connect 2"])
  }))

it.scoped("disconnect_all_test.exs: disconnect on ping — an idle connection is dropped at once", () =>
  Effect.gen(function*() {
    const { driver, pool } = yield* setup()
    yield* pool.query("q")
    yield* pool.disconnectAll
    expect(yield* connectionId(pool)).toBe(2)
    expectOrder(yield* driver.log, ["execute 1 q", "disconnect 1", "released 1", "connect 2"])
  }))

it.scoped("max_lifetime_test.exs: disconnects and reconnects when idle ping fires before max_lifetime", () =>
  Effect.gen(function*() {
    const { driver, pool } = yield* setup({}, { maxLifetime: 200, idleInterval: 50 })
    yield* TestClock.adjust("150 millis")
    yield* TestTime.settle()
    expect(yield* driver.log).toContain("ping 1")
    for (let i = 0; i < 4; i++) {
      yield* TestClock.adjust("50 millis")
      yield* TestTime.settle()
    }
    expectOrder(yield* driver.log, ["ping 1", "disconnect 1", "released 1", "connect 2"])
    expect(yield* connectionId(pool)).toBe(2)
  }))

it.scoped("max_lifetime_test.exs: disconnects and reconnects after a long checkout exceeds max_lifetime", () =>
  Effect.gen(function*() {
    const { driver, pool } = yield* setup({}, { maxLifetime: 50 })
    const fiber = yield* Effect.fork(pool.run(() => Effect.sleep("500 millis")))
    yield* TestClock.adjust("500 millis")
    yield* Fiber.join(fiber)
    expect(yield* connectionId(pool)).toBe(2)
    expectOrder(yield* driver.log, ["disconnect 1", "released 1", "connect 2"])
  }))

it.scoped("metrics_test.exs: considers checkin/checkout in metrics when ready — busy while a query runs, idle after", () =>
  Effect.gen(function*() {
    const { pool } = yield* setup({ delays: { execute: "1 second" } })
    expect(yield* pool.stats).toMatchObject({ idle: 1, busy: 0, queued: 0 })
    const fiber = yield* Effect.fork(pool.query("client"))
    yield* TestTime.settle()
    expect(yield* pool.stats).toMatchObject({ idle: 0, busy: 1, queued: 0 })
    yield* TestClock.adjust("1 second")
    yield* Fiber.join(fiber)
    expect(yield* pool.stats).toMatchObject({ idle: 1, busy: 0, queued: 0 })
  }))

it.scoped("metrics_test.exs: considers enqueue/dequeue in metrics when busy — queued counts the waiters", () =>
  Effect.gen(function*() {
    const { pool } = yield* setup({ delays: { execute: "1 second" } }, {
      size: 2,
      queueTarget: "10 seconds",
      queueInterval: "20 seconds"
    })
    const fibers = yield* Effect.forEach([1, 2, 3], () => Effect.fork(pool.query("client")))
    yield* TestTime.settle()
    expect(yield* pool.stats).toMatchObject({ idle: 0, busy: 2, queued: 1 })
    yield* TestClock.adjust("1 second")
    yield* TestTime.settle()
    expect(yield* pool.stats).toMatchObject({ busy: 1, queued: 0 })
    yield* TestClock.adjust("1 second")
    yield* Fiber.joinAll(fibers)
    expect(yield* pool.stats).toMatchObject({ idle: 2, busy: 0, queued: 0 })
  }))
