import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Option, TestClock } from "effect"
import * as Waiters from "../src/internal/waiters.js"

const pending = () => undefined
const timeout = (millis: number) => ({ millis, onTimeout: () => `timeout ${millis}` })

describe("waiters (internal)", () => {
  it.effect("resumeAll resumes every waiter, timed or not", () =>
    Effect.gen(function*() {
      const waiters = Waiters.make<string, string>()
      const fibers = yield* Effect.forEach(
        [undefined, timeout(1000), undefined, timeout(50)],
        (t) => Effect.fork(waiters.wait(pending, t))
      )
      yield* Effect.yieldNow()
      expect(waiters.size()).toBe(4)
      waiters.resumeAll(Effect.succeed("up"))
      for (const fiber of fibers) expect(yield* Fiber.join(fiber)).toBe("up")
      expect(waiters.size()).toBe(0)
      // no stale timer fires for them later
      yield* TestClock.adjust("2 seconds")
    }))

  it.effect("timed waiters fail in deadline order, at their deadlines", () =>
    Effect.gen(function*() {
      const waiters = Waiters.make<string, string>()
      const failedAt: Array<[string, number]> = []
      const wait = (millis: number) =>
        waiters.wait(pending, timeout(millis)).pipe(
          Effect.catchAll((e) => TestClock.currentTimeMillis.pipe(Effect.map((t) => void failedAt.push([e, t]))))
        )
      const untimed = yield* Effect.fork(waiters.wait(pending))
      const fibers = yield* Effect.forEach([3000, 1000, 2000, 1000], (ms) => Effect.fork(wait(ms)))
      yield* TestClock.adjust("10 seconds")
      yield* Fiber.joinAll(fibers)
      expect(failedAt).toEqual([["timeout 1000", 1000], ["timeout 1000", 1000], ["timeout 2000", 2000], [
        "timeout 3000",
        3000
      ]])
      expect(Option.isNone(yield* Fiber.poll(untimed))).toBe(true)
      expect(waiters.size()).toBe(1)
    }))

  it.effect("an earlier deadline re-arms the timer", () =>
    Effect.gen(function*() {
      const waiters = Waiters.make<string, string>()
      const late = yield* Effect.fork(Effect.either(waiters.wait(pending, timeout(60_000))))
      yield* Effect.yieldNow()
      const early = yield* Effect.fork(Effect.either(waiters.wait(pending, timeout(100))))
      yield* TestClock.adjust("100 millis")
      expect(yield* Fiber.join(early)).toMatchObject({ _tag: "Left", left: "timeout 100" })
      expect(Option.isNone(yield* Fiber.poll(late))).toBe(true)
      yield* TestClock.adjust("60 seconds")
      expect(yield* Fiber.join(late)).toMatchObject({ _tag: "Left", left: "timeout 60000" })
    }))

  it.effect("an interrupted waiter removes itself", () =>
    Effect.gen(function*() {
      const waiters = Waiters.make<string, string>()
      const fibers = yield* Effect.forEach([undefined, timeout(1000)], (t) => Effect.fork(waiters.wait(pending, t)))
      yield* Effect.yieldNow()
      expect(waiters.size()).toBe(2)
      for (const fiber of fibers) yield* Fiber.interrupt(fiber)
      expect(waiters.size()).toBe(0)
      yield* TestClock.adjust("2 seconds")
    }))

  it.effect("a result available at registration is returned at once", () =>
    Effect.gen(function*() {
      const waiters = Waiters.make<string, string>()
      expect(yield* waiters.wait(() => Effect.succeed("now"))).toBe("now")
      expect(yield* Effect.exit(waiters.wait(() => Effect.fail("closed"), timeout(10)))).toEqual(Exit.fail("closed"))
      expect(waiters.size()).toBe(0)
    }))

  it.effect("shutdown stops the timer", () =>
    Effect.gen(function*() {
      const waiters = Waiters.make<string, string>()
      const fiber = yield* Effect.fork(waiters.wait(pending, timeout(1000)))
      yield* Effect.yieldNow()
      waiters.resumeAll(Effect.fail("closed"))
      yield* waiters.shutdown
      expect(yield* Effect.exit(Fiber.join(fiber))).toEqual(Exit.fail("closed"))
    }))
})
