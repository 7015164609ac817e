import { describe, expect, it } from "@effect/vitest"
import { Connection, isRedialError, Reconnect } from "@redial/core"
import { Effect, Exit, Fiber, Option, Scope, TestClock } from "effect"
import { TestConnector, TestTime } from "../src/index.js"

describe("TestConnector", () => {
  it.scoped("runs its script in order, then `otherwise`", () =>
    Effect.gen(function*() {
      const connector = yield* TestConnector.make<TestConnector.TestConnectError | "custom" | "after">({
        script: [TestConnector.fail(), TestConnector.fail("custom" as const), TestConnector.succeed],
        otherwise: TestConnector.fail("after" as const)
      })
      const run = Effect.exit(Effect.scoped(connector.acquire))
      const first = yield* run
      expect(Exit.isFailure(first) && Exit.causeOption(first)).toBeTruthy()
      expect(yield* Effect.flip(Effect.scoped(connector.acquire))).toBe("custom")
      const connection = yield* Effect.scoped(connector.acquire)
      expect(connection).toMatchObject({ id: 1, attempt: 3 })
      expect(yield* Effect.flip(Effect.scoped(connector.acquire))).toBe("after")
      expect(yield* connector.attempts).toBe(4)
      expect(String(Exit.isFailure(first) ? first.cause : "")).toContain("scripted failure")
    }))

  it.scoped("the default failure is a TestConnectError, a redial error", () =>
    Effect.gen(function*() {
      const connector = yield* TestConnector.make({ script: [TestConnector.fail()] })
      const error = yield* Effect.flip(Effect.scoped(connector.acquire))
      expect(error).toBeInstanceOf(TestConnector.TestConnectError)
      expect(error._tag).toBe("TestConnectError")
      expect(isRedialError(error)).toBe(true)
      expect(error.message).toBe("test connect failed: scripted failure")
    }))

  it.scoped("records the Clock time of every attempt", () =>
    Effect.gen(function*() {
      const connector = yield* TestConnector.make()
      yield* Effect.scoped(connector.acquire)
      yield* TestClock.adjust("1500 millis")
      yield* Effect.scoped(connector.acquire)
      expect(yield* connector.attemptTimes).toEqual([0, 1500])
    }))

  it.scoped("hang never completes; delay waits on the Clock", () =>
    Effect.gen(function*() {
      const connector = yield* TestConnector.make({
        script: [TestConnector.hang, TestConnector.delay("2 seconds", TestConnector.succeed)]
      })
      const hung = yield* Effect.fork(Effect.scoped(connector.acquire))
      const delayed = yield* Effect.fork(Effect.scoped(connector.acquire))
      yield* TestClock.adjust("1 second")
      expect(Option.isNone(yield* Fiber.poll(delayed))).toBe(true)
      yield* TestClock.adjust("1 second")
      expect((yield* Fiber.join(delayed)).attempt).toBe(2)
      expect(Option.isNone(yield* Fiber.poll(hung))).toBe(true)
      yield* Fiber.interrupt(hung)
    }))

  it.scoped("die makes the attempt die", () =>
    Effect.gen(function*() {
      const connector = yield* TestConnector.make({ script: [TestConnector.die("bug")] })
      const exit = yield* Effect.exit(Effect.scoped(connector.acquire))
      expect(Exit.isFailure(exit) && exit.cause._tag).toBe("Die")
    }))

  it.scoped("counts connections acquired and released, each released once", () =>
    Effect.gen(function*() {
      const connector = yield* TestConnector.make()
      const scope = yield* Scope.make()
      const connection = yield* connector.acquire.pipe(Scope.extend(scope))
      expect(yield* connector.live).toEqual(Option.some(connection))
      expect(yield* connector.acquired).toBe(1)
      expect(yield* connector.released).toBe(0)
      yield* Scope.close(scope, Exit.void)
      expect(yield* connector.released).toBe(1)
      expect(yield* connector.releaseCount(connection)).toBe(1)
      expect(yield* connector.live).toEqual(Option.none())
    }))

  it.scoped("lose completes `lost` for the live connection only", () =>
    Effect.gen(function*() {
      const connector = yield* TestConnector.make()
      expect(yield* connector.lose()).toBe(false)
      const connection = yield* connector.acquire
      const lost = yield* Effect.fork(connector.lost(connection))
      const stale = yield* Effect.fork(connector.lost({ id: 99, attempt: 99, connectedAt: 0 }))
      expect(yield* connector.lose("cable cut")).toBe(true)
      expect(yield* Fiber.join(lost)).toBe("cable cut")
      yield* TestTime.settle()
      expect(Option.isNone(yield* Fiber.poll(stale))).toBe(true)
    }))

  it.scoped("script replaces what is left of the script", () =>
    Effect.gen(function*() {
      const connector = yield* TestConnector.make({ script: [TestConnector.fail(), TestConnector.fail()] })
      yield* connector.script(TestConnector.succeed)
      expect((yield* Effect.scoped(connector.acquire)).attempt).toBe(1)
    }))

  it("succeedAfter(n) is n failures then a success", () => {
    const steps = TestConnector.succeedAfter(3)
    expect(steps.map((s) => s._tag)).toEqual(["Fail", "Fail", "Fail", "Succeed"])
    expect(TestConnector.succeedAfter(1, "e").at(0)).toEqual({ _tag: "Fail", error: "e" })
  })
})

describe("TestTime", () => {
  it.scoped("advanceUntilDone moves the clock until the effect completes", () =>
    Effect.gen(function*() {
      const connector = yield* TestConnector.make({ script: TestConnector.succeedAfter(3) })
      const conn = yield* Connection.make({ acquire: connector.acquire, policy: Reconnect.fixed("10 seconds") })
      const connection = yield* TestTime.advanceUntilDone(conn.await(), { step: "5 seconds" })
      expect(connection.attempt).toBe(4)
      expect(yield* connector.attemptTimes).toEqual([0, 10_000, 20_000, 30_000])
    }))

  it.scoped("advanceUntilDone dies when the limit passes first", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(TestTime.advanceUntilDone(Effect.never, { step: "1 minute", limit: "5 minutes" }))
      expect(Exit.isFailure(exit) && exit.cause._tag).toBe("Die")
    }))

  it.scoped("awaitStatus waits for a status by tag or predicate", () =>
    Effect.gen(function*() {
      const connector = yield* TestConnector.make({ script: TestConnector.succeedAfter(1) })
      const conn = yield* Connection.make({ acquire: connector.acquire, policy: Reconnect.fixed("1 second") })
      const backoff = yield* TestTime.awaitStatus(conn, "Backoff")
      expect(backoff).toMatchObject({ _tag: "Backoff", attempt: 1 })
      const connected = yield* Effect.fork(TestTime.awaitStatus(conn, (s) => s._tag === "Connected"))
      yield* TestClock.adjust("1 second")
      expect(yield* Fiber.join(connected)).toMatchObject({ _tag: "Connected", attempt: 2 })
    }))
})
