import { expect, it } from "@effect/vitest"
import { Reconnect } from "@redial/core"
import { TestTime } from "@redial/testing"
import { Effect, Exit, Fiber, Stream, TestClock } from "effect"
import { Disconnect } from "../src/Driver.js"
import * as Pool from "../src/Pool.js"
import * as TestDriver from "../src/TestDriver.js"
import {
  captureLogs,
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
 *
 * These are the cases about failures: a callback that reports a disconnect, dies or is interrupted,
 * a status mismatch, failing connect hooks, pings that do not answer (the other ports are in
 * DBConnection.cases.test.ts).
 */

it.scoped("execute_test.exs: execute disconnect returns error — the caller gets the Disconnect, the connection is disconnected and replaced, nothing more is sent on it", () =>
  Effect.gen(function*() {
    const { driver, pool } = yield* setup()
    const disconnect = new Disconnect({ cause: "oops" })
    yield* driver.failNext("execute", disconnect)
    expect(yield* Effect.flip(pool.query("q"))).toBe(disconnect)
    expect(yield* connectionId(pool)).toBe(2)
    const log = yield* driver.log
    expectOrder(log, ["execute 1 q", "disconnect 1", "released 1", "connect 2"])
    expectUntouchedAfter(log, "execute 1 q", 1) // no close of the prepared query on the dead connection
    expect(yield* driver.violations).toEqual([])
  }))

it.scoped("execute_test.exs: execute raise raises and stops connection — the caller gets the defect; disconnect with the cause, then the scope closes; the slot reconnects", () =>
  Effect.gen(function*() {
    const { driver, pool } = yield* setup()
    yield* driver.dieNext("execute", "boom")
    const exit = yield* Effect.exit(pool.query("q"))
    expect(exit).toEqual(Exit.die("boom"))
    expect(yield* connectionId(pool)).toBe(2)
    const log = yield* driver.log
    expectOrder(log, ["execute 1 q", "disconnect 1", "released 1", "connect 2"])
    expectUntouchedAfter(log, "execute 1 q", 1)
    expect(yield* driver.violations).toEqual([])
  }))

it.scoped("close_test.exs: close logs raise — a defect in close takes the connection out of service", () =>
  Effect.gen(function*() {
    const { driver, pool } = yield* setup()
    yield* driver.dieNext("close", "boom")
    const exit = yield* Effect.exit(pool.run((conn) => Effect.flatMap(conn.prepare("q"), conn.close)))
    expect(exit).toEqual(Exit.die("boom"))
    expect(yield* connectionId(pool)).toBe(2)
    const log = yield* driver.log
    expectOrder(log, ["close 1 q", "disconnect 1", "released 1", "connect 2"])
    expectUntouchedAfter(log, "close 1 q", 1)
    expect(yield* driver.violations).toEqual([])
  }))

it.scoped("prepare_execute_test.exs: prepare_execute execute disconnect returns error — the prepared query is not closed on the dead connection; later calls on the checkout fail with ConnectionBroken without reaching the driver", () =>
  Effect.gen(function*() {
    const { driver, pool } = yield* setup()
    yield* driver.failNext("execute", new Disconnect({ cause: "oops" }))
    const [first, second] = yield* pool.run((conn) =>
      Effect.gen(function*() {
        const prepared = yield* conn.prepare("q")
        const first = yield* Effect.exit(conn.execute(prepared))
        const second = yield* Effect.exit(conn.close(prepared))
        return [first, second] as const
      })
    ).pipe(Effect.orDie)
    expect(kind(first)).toBe("Disconnect")
    expect(kind(second)).toBe("ConnectionBroken")
    const log = yield* driver.log
    expectUntouchedAfter(log, "execute 1 q", 1)
    expect(yield* connectionId(pool)).toBe(2)
    expect(yield* driver.violations).toEqual([])
  }))

it.scoped("transaction_test.exs: inner transaction rollback returns error on other transactions — a nested transaction after it fails at once (RolledBack) without running; the outermost rolls back", () =>
  Effect.gen(function*() {
    const { driver, pool } = yield* setup()
    let ran = false
    const exit = yield* Effect.exit(pool.transaction((conn) =>
      Effect.gen(function*() {
        expect(failureOf(yield* Effect.exit(conn.transaction((inner) => inner.rollback(new Oops({ n: 1 })))))).toEqual(
          new Oops({ n: 1 })
        )
        const nested = yield* Effect.exit(conn.transaction(() => Effect.sync(() => (ran = true))))
        expect(kind(nested)).toBe("RolledBack")
      })
    ))
    expect(ran).toBe(false)
    expect(kind(exit)).toBe("RolledBack")
    expect(yield* pool.transaction(() => Effect.succeed("result"))).toBe("result")
    expect(yield* TestDriver.statements(driver)).toEqual(["begin 1", "rollback 1", "begin 1", "commit 1"])
    yield* expectClean(driver)
  }))

it.scoped("transaction_test.exs: inner transaction raise returns error on other transactions — the inner defect reaches its caller; a nested transaction after it fails at once; the outermost rolls back", () =>
  Effect.gen(function*() {
    const { driver, pool } = yield* setup()
    let ran = false
    const exit = yield* Effect.exit(pool.transaction((conn) =>
      Effect.gen(function*() {
        expect(yield* Effect.exit(conn.transaction(() => Effect.die("oops")))).toEqual(Exit.die("oops"))
        const nested = yield* Effect.exit(conn.transaction(() => Effect.sync(() => (ran = true))))
        expect(kind(nested)).toBe("RolledBack")
      })
    ))
    expect(ran).toBe(false)
    expect(kind(exit)).toBe("RolledBack")
    expect(yield* TestDriver.statements(driver)).toEqual(["begin 1", "rollback 1"])
    yield* expectClean(driver)
  }))

it.scoped("transaction_test.exs: transaction begin raise raises and stops connection — the caller gets the defect; nothing more reaches the connection", () =>
  Effect.gen(function*() {
    const { driver, pool } = yield* setup()
    yield* driver.dieNext("begin", "boom")
    let ran = false
    expect(yield* Effect.exit(pool.transaction(() => Effect.sync(() => (ran = true))))).toEqual(Exit.die("boom"))
    expect(ran).toBe(false)
    expect(yield* connectionId(pool)).toBe(2)
    const log = yield* driver.log
    expectOrder(log, ["begin 1", "disconnect 1", "released 1", "connect 2"])
    expectUntouchedAfter(log, "begin 1", 1) // no rollback on a connection whose begin died
    expect(yield* driver.violations).toEqual([])
  }))

it.scoped("transaction_test.exs: transaction commit raise raises and stops connection — the defect; no rollback on the connection", () =>
  Effect.gen(function*() {
    const { driver, pool } = yield* setup()
    yield* driver.dieNext("commit", "boom")
    expect(yield* Effect.exit(pool.transaction(() => Effect.succeed("result")))).toEqual(Exit.die("boom"))
    expect(yield* connectionId(pool)).toBe(2)
    const log = yield* driver.log
    expectOrder(log, ["commit 1", "disconnect 1", "released 1", "connect 2"])
    expectUntouchedAfter(log, "commit 1", 1)
    expect(yield* driver.violations).toEqual([])
  }))

it.effect("transaction_test.exs: transaction rollback error raises error — in redial the user gets the transaction's own error and the rollback failure is logged", () => {
  const { layer, lines } = captureLogs()
  return Effect.gen(function*() {
    const { driver, pool } = yield* setup()
    yield* driver.failNext("rollback", new TestDriver.TestDriverError({ reason: "rollback broke" }))
    const error = yield* Effect.flip(pool.transaction((conn) => conn.rollback(new Oops({ n: 1 }))))
    expect(error).toEqual(new Oops({ n: 1 }))
    yield* TestTime.settle()
    expect(lines.join("\n")).toContain("rollback broke")
    // the connection's state is unknown after a failed rollback: it is not handed out in a transaction
    expect(yield* eventually(pool.transaction(() => Effect.succeed("result")))).toBe("result")
    expect(yield* driver.violations).toEqual([])
  }).pipe(Effect.scoped, Effect.provide(layer))
})

it.scoped("transaction_test.exs: status errors on unmatched run — checked out idle, checked in in a transaction (a raw BEGIN): StatusMismatch, disconnected", () =>
  Effect.gen(function*() {
    const { driver, pool } = yield* setup()
    const exit = yield* Effect.exit(pool.run((conn) => conn.query("begin")))
    expect(kind(exit)).toBe("StatusMismatch")
    const error = failureOf(exit)
    expect(error instanceof Error ? error.message : "").toContain(
      "checked out with status idle but it was checked in with status transaction"
    )
    expect(yield* connectionId(pool)).toBe(2)
    expectOrder(yield* driver.log, ["execute 1 begin", "disconnect 1", "released 1", "connect 2"])
    expect(yield* pool.run((conn) => conn.status)).toBe("idle")
    expect(yield* driver.violations).toEqual([])
  }))

it.scoped("status errors on unmatched run — also when the BEGIN went through the raw connection, not the checkout's calls", () =>
  Effect.gen(function*() {
    const driver = yield* TestDriver.make()
    // without checkout / checkin callbacks, a run that made no call of its own costs no status read
    const { checkin: _checkin, checkout: _checkout, ...callbacks } = driver
    const pool = yield* Pool.make(callbacks, { name: "dbc", policy: Reconnect.fixed("10 millis") })
    yield* TestDriver.awaitIdle(pool, 1)
    // the driver used directly on `conn.connection`: no call of the checkout saw it
    const exit = yield* Effect.exit(
      pool.run(({ connection }) =>
        Effect.flatMap(driver.prepare(connection, "begin"), (prepared) => driver.execute(connection, prepared, []))
      )
    )
    expect(kind(exit)).toBe("StatusMismatch")
    expect(yield* connectionId(pool)).toBe(2)
    expect(yield* driver.violations).toEqual([])
  }))

it.scoped("transaction_execute_test.exs: execute disconnect returns error — later calls fail with ConnectionBroken without reaching the driver; the transaction fails, no COMMIT or ROLLBACK is sent", () =>
  Effect.gen(function*() {
    const { driver, pool } = yield* setup()
    const disconnect = new Disconnect({ cause: "oops" })
    yield* driver.failNext("execute", disconnect)
    const exit = yield* Effect.exit(pool.transaction((conn) =>
      Effect.gen(function*() {
        expect(yield* Effect.flip(conn.query("q"))).toBe(disconnect)
        const again = yield* Effect.exit(conn.query("q"))
        expect(kind(again)).toBe("ConnectionBroken")
        return "closed"
      })
    ))
    expect(Exit.isFailure(exit)).toBe(true)
    const log = yield* driver.log
    expectUntouchedAfter(log, "execute 1 q", 1)
    expect(log).not.toContain("commit 1")
    expect(log).not.toContain("rollback 1")
    expect(yield* connectionId(pool)).toBe(2)
    expect(yield* driver.violations).toEqual([])
  }))

it.scoped("transaction_execute_test.exs: execute raise raises and stops connection — the caller gets the defect; later calls fail with ConnectionBroken; no COMMIT or ROLLBACK", () =>
  Effect.gen(function*() {
    const { driver, pool } = yield* setup()
    yield* driver.dieNext("execute", "boom")
    const exit = yield* Effect.exit(pool.transaction((conn) =>
      Effect.gen(function*() {
        expect(yield* Effect.exit(conn.query("q"))).toEqual(Exit.die("boom"))
        expect(kind(yield* Effect.exit(conn.query("q")))).toBe("ConnectionBroken")
        return "closed"
      })
    ))
    expect(Exit.isFailure(exit)).toBe(true)
    const log = yield* driver.log
    expectUntouchedAfter(log, "execute 1 q", 1)
    expect(yield* connectionId(pool)).toBe(2)
    expect(yield* driver.violations).toEqual([])
  }))

it.scoped("stream_test.exs: stream declare disconnects — the stream fails; nothing more is sent on the connection; the transaction fails", () =>
  Effect.gen(function*() {
    const { driver, pool } = yield* setup()
    yield* driver.failNext("declare", new Disconnect({ cause: "oops" }))
    const exit = yield* Effect.exit(
      pool.transaction((conn) =>
        Effect.as(Effect.exit(Stream.runCollect(conn.stream("rows:2", [], { maxRows: 1 }))), "hi")
      )
    )
    expect(Exit.isFailure(exit)).toBe(true)
    expectUntouchedAfter(yield* driver.log, "declare 1 rows:2", 1)
    expect(yield* connectionId(pool)).toBe(2)
    expect(yield* driver.violations).toEqual([])
  }))

it.scoped("stream_test.exs: stream logs first disconnects — a Disconnect from fetch: no deallocate, close or rollback on the dead connection", () =>
  Effect.gen(function*() {
    const { driver, pool } = yield* setup()
    yield* driver.failNext("fetch", new Disconnect({ cause: "oops" }))
    const exit = yield* Effect.exit(
      pool.transaction((conn) =>
        Effect.as(Effect.exit(Stream.runCollect(Stream.take(conn.stream("rows:4", [], { maxRows: 1 }), 1))), "hi")
      )
    )
    expect(Exit.isFailure(exit)).toBe(true)
    expectUntouchedAfter(yield* driver.log, "fetch 1 rows:4", 1)
    expect(yield* connectionId(pool)).toBe(2)
    expect(yield* driver.violations).toEqual([])
  }))

it.scoped("stream_test.exs: stream logs deallocate disconnect — the transaction fails although its function succeeded; no close, COMMIT or ROLLBACK on the dead connection", () =>
  Effect.gen(function*() {
    const { driver, pool } = yield* setup()
    yield* driver.failNext("deallocate", new Disconnect({ cause: "oops" }))
    const exit = yield* Effect.exit(
      pool.transaction((conn) =>
        Effect.as(Effect.exit(Stream.runCollect(Stream.take(conn.stream("rows:4", [], { maxRows: 1 }), 1))), "hi")
      )
    )
    expect(Exit.isFailure(exit)).toBe(true)
    expectUntouchedAfter(yield* driver.log, "deallocate 1 rows:4", 1)
    expect(yield* connectionId(pool)).toBe(2)
    expect(yield* driver.violations).toEqual([])
  }))

it.scoped("stream_test.exs: stream declare raise raises and stops connection — the defect; no close or rollback on the connection", () =>
  Effect.gen(function*() {
    const { driver, pool } = yield* setup()
    yield* driver.dieNext("declare", "boom")
    const exit = yield* Effect.exit(
      pool.transaction((conn) => Stream.runCollect(conn.stream("rows:2", [], { maxRows: 1 })))
    )
    expect(exit).toEqual(Exit.die("boom"))
    expectUntouchedAfter(yield* driver.log, "declare 1 rows:2", 1)
    expect(yield* connectionId(pool)).toBe(2)
    expect(yield* driver.violations).toEqual([])
  }))

it.scoped("stream_test.exs: stream deallocate raise raises and stops connection — the defect; no close or rollback on the connection", () =>
  Effect.gen(function*() {
    const { driver, pool } = yield* setup()
    yield* driver.dieNext("deallocate", "boom")
    const exit = yield* Effect.exit(
      pool.transaction((conn) => Stream.runCollect(Stream.take(conn.stream("rows:4", [], { maxRows: 1 }), 1)))
    )
    expect(kind(exit)).toBe("Die")
    expectUntouchedAfter(yield* driver.log, "deallocate 1 rows:4", 1)
    expect(yield* connectionId(pool)).toBe(2)
    expect(yield* driver.violations).toEqual([])
  }))

it.scoped("client_test.exs: reconnect when client exits — a caller interrupted mid-call: disconnect, reconnect; nothing more reaches the connection", () =>
  Effect.gen(function*() {
    const { driver, pool } = yield* setup()
    yield* driver.hangNext("execute")
    const fiber = yield* Effect.fork(pool.query("q"))
    yield* TestTime.settle()
    yield* Fiber.interrupt(fiber)
    expect(yield* connectionId(pool)).toBe(2)
    const log = yield* driver.log
    expectOrder(log, ["execute 1 q", "disconnect 1", "released 1", "connect 2"])
    expectUntouchedAfter(log, "execute 1 q", 1)
    expect(yield* driver.violations).toEqual([])
  }))

it.scoped("after_connect_test.exs: after_connect execute disconnect returns error — a failed afterConnect: driver.disconnect, then the scope closes; the slot retries", () =>
  Effect.gen(function*() {
    const driver = yield* TestDriver.make()
    let calls = 0
    const pool = yield* Pool.make(driver, {
      name: "dbc",
      policy: Reconnect.fixed("10 millis"),
      afterConnect: () =>
        Effect.suspend(() => ++calls === 1 ? Effect.fail(new Disconnect({ cause: "oops" })) : Effect.void)
    })
    expect(yield* connectionId(pool)).toBe(2)
    expectOrder(yield* driver.log, ["connect 1", "disconnect 1", "released 1", "connect 2"])
    expect(calls).toBe(2)
  }))

for (
  const [what, hook] of [
    ["raise raises and stops connection (a defect)", Effect.die("boom")],
    ["exit and reconnect (an interruption)", Effect.interrupt]
  ] as const
) {
  it.scoped(`after_connect_test.exs: after_connect execute ${what} — a failed connect attempt: disconnect, back off, retry; requests are served`, () =>
    Effect.gen(function*() {
      const driver = yield* TestDriver.make()
      let calls = 0
      const pool = yield* Pool.make(driver, {
        name: "dbc",
        policy: Reconnect.fixed("10 millis"),
        afterConnect: () => Effect.suspend(() => ++calls === 1 ? hook : Effect.void)
      })
      expect(yield* connectionId(pool)).toBe(2)
      expectOrder(yield* driver.log, ["connect 1", "disconnect 1", "released 1", "connect 2"])
    }))
}

for (
  const [what, options] of [
    ["a defect in connect", { connectScript: [{ _tag: "Die", defect: "boom" }] }]
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

for (
  const [what, configure] of [
    ["a defect", () => Effect.die("boom")],
    ["an interruption", () => Effect.interrupt]
  ] as const
) {
  it.scoped(`connect_test.exs: lazy configure connection with fun (${what} in configure) — a failed attempt: the slot backs off and retries`, () =>
    Effect.gen(function*() {
      const driver = yield* TestDriver.make()
      let calls = 0
      const pool = yield* Pool.make(driver, {
        name: "dbc",
        policy: Reconnect.fixed("10 millis"),
        configure: (attempt) => Effect.suspend(() => ++calls === 1 ? configure() : Effect.succeed(attempt.config))
      })
      expect(yield* connectionId(pool)).toBe(1)
      expect(calls).toBe(2)
    }))
}

it.scoped("connect_test.exs: backoff after failed after_connect — the next attempt waits for the policy's delay", () =>
  Effect.gen(function*() {
    const driver = yield* TestDriver.make()
    let calls = 0
    yield* Pool.make(driver, {
      name: "dbc",
      policy: Reconnect.fixed("1 second"),
      afterConnect: () => Effect.suspend(() => ++calls === 1 ? Effect.interrupt : Effect.void)
    })
    yield* TestTime.settle()
    expect(calls).toBe(1)
    yield* TestClock.adjust("500 millis")
    expect(calls).toBe(1)
    yield* TestClock.adjust("500 millis")
    yield* TestTime.settle()
    expect(calls).toBe(2)
  }))

it.scoped("idle_test.exs: a ping that does not answer within the ping timeout (default: the idle interval) is a lost connection", () =>
  Effect.gen(function*() {
    const { driver, pool } = yield* setup({}, { idleInterval: 100 })
    yield* driver.hangNext("ping")
    for (let i = 0; i < 6; i++) {
      yield* TestClock.adjust("100 millis")
      yield* TestTime.settle()
    }
    const log = yield* driver.log
    expectOrder(log, ["ping 1", "disconnect 1", "released 1", "connect 2"])
    expect(yield* connectionId(pool)).toBe(2)
    expect(yield* driver.violations).toEqual([])
  }))

it.scoped("metrics_test.exs: stats.busy is exact — 1,000 checkouts leaked and reclaimed by the timeout leave busy 0 in a pool of 10", () =>
  Effect.gen(function*() {
    const { pool } = yield* setup({}, {
      size: 10,
      timeout: 100,
      queueTarget: "10 seconds",
      queueInterval: "20 seconds"
    })
    const fibers = yield* Effect.forEach(
      Array.from({ length: 1000 }),
      () => Effect.fork(Effect.scoped(Effect.zipRight(pool.checkout, Effect.never)))
    )
    for (let i = 0; i < 20; i++) {
      yield* TestClock.adjust("100 millis")
      yield* TestTime.settle()
    }
    expect(yield* pool.stats).toMatchObject({ busy: 0, idle: 10, queued: 0 })
    yield* Fiber.interruptAll(fibers)
  }))

it.scoped("pool size above the documented maximum is InvalidOption", () =>
  Effect.gen(function*() {
    const driver = yield* TestDriver.make()
    const error = yield* Effect.flip(Pool.make(driver, { size: 1e9 }))
    expect(error).toMatchObject({ _tag: "InvalidOption", option: "size" })
  }))
