import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Option, Scope, TestClock } from "effect"
import * as Waiters from "../src/internal/waiters.js"

const pending = () => undefined
const timeout = (millis: number) => ({ millis, onTimeout: () => `timeout ${millis}` })

describe("waiters (internal)", () => {
  it.scoped("resumeAll resumes every waiter, timed or not", () =>
    Effect.gen(function*() {
      const waiters = yield* Waiters.make<string, string>()
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

  it.scoped("timed waiters fail in deadline order, at their deadlines", () =>
    Effect.gen(function*() {
      const waiters = yield* Waiters.make<string, string>()
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

  it.scoped("an earlier deadline re-arms the timer", () =>
    Effect.gen(function*() {
      const waiters = yield* Waiters.make<string, string>()
      const late = yield* Effect.fork(Effect.either(waiters.wait(pending, timeout(60_000))))
      yield* Effect.yieldNow()
      const early = yield* Effect.fork(Effect.either(waiters.wait(pending, timeout(100))))
      yield* TestClock.adjust("100 millis")
      expect(yield* Fiber.join(early)).toMatchObject({ _tag: "Left", left: "timeout 100" })
      expect(Option.isNone(yield* Fiber.poll(late))).toBe(true)
      yield* TestClock.adjust("60 seconds")
      expect(yield* Fiber.join(late)).toMatchObject({ _tag: "Left", left: "timeout 60000" })
    }))

  it.scoped("an interrupted waiter removes itself", () =>
    Effect.gen(function*() {
      const waiters = yield* Waiters.make<string, string>()
      const fibers = yield* Effect.forEach([undefined, timeout(1000)], (t) => Effect.fork(waiters.wait(pending, t)))
      yield* Effect.yieldNow()
      expect(waiters.size()).toBe(2)
      expect(waiters.timed()).toBe(1)
      for (const fiber of fibers) yield* Fiber.interrupt(fiber)
      expect(waiters.size()).toBe(0)
      expect(waiters.timed()).toBe(0)
      yield* TestClock.adjust("2 seconds")
    }))

  it.scoped("a result available at registration is returned at once", () =>
    Effect.gen(function*() {
      const waiters = yield* Waiters.make<string, string>()
      expect(yield* waiters.wait(() => Effect.succeed("now"))).toBe("now")
      expect(yield* Effect.exit(waiters.wait(() => Effect.fail("closed"), timeout(10)))).toEqual(Exit.fail("closed"))
      expect(waiters.size()).toBe(0)
    }))

  it.scoped("interrupted timed waiters leave the deadline heap at once, before their deadline", () =>
    Effect.gen(function*() {
      const waiters = yield* Waiters.make<string, string>()
      const N = 10_000
      const fibers = yield* Effect.forEach(
        Array.from({ length: N }, (_, i) => i),
        (i) => Effect.fork(waiters.wait(pending, timeout(3_600_000 + (i * 7919) % 1000)))
      )
      const survivor = yield* Effect.fork(Effect.either(waiters.wait(pending, timeout(3_600_500))))
      yield* Effect.yieldNow()
      expect(waiters.timed()).toBe(N + 1)
      // Interrupt all but the survivor, in an order unrelated to their deadlines.
      for (let i = 0; i < N; i += 2) yield* Fiber.interrupt(fibers[i]!)
      for (let i = 1; i < N; i += 2) yield* Fiber.interrupt(fibers[i]!)
      expect(waiters.size()).toBe(1)
      expect(waiters.timed()).toBe(1)
      // The heap is still ordered: the survivor times out at its own deadline.
      yield* TestClock.adjust(3_600_499)
      expect(Option.isNone(yield* Fiber.poll(survivor))).toBe(true)
      yield* TestClock.adjust(1)
      expect(yield* Fiber.join(survivor)).toMatchObject({ _tag: "Left", left: "timeout 3600500" })
      expect(waiters.timed()).toBe(0)
    }))

  it.scoped("removing from the middle keeps deadline order (random deadlines, random removals)", () =>
    Effect.gen(function*() {
      const waiters = yield* Waiters.make<string, string>()
      const failedAt: Array<number> = []
      const deadlines = Array.from({ length: 200 }, (_, i) => 1 + ((i * 7919) % 997))
      const fibers = yield* Effect.forEach(deadlines, (ms) =>
        Effect.fork(
          waiters.wait(pending, timeout(ms)).pipe(
            Effect.catchAll(() => TestClock.currentTimeMillis.pipe(Effect.map((t) => void failedAt.push(t))))
          )
        ))
      yield* Effect.yieldNow()
      const kept: Array<number> = []
      for (let i = 0; i < fibers.length; i++) {
        if (i % 3 === 0) yield* Fiber.interrupt(fibers[i]!)
        else kept.push(deadlines[i]!)
      }
      yield* TestClock.adjust(1000)
      expect(failedAt).toEqual(kept.sort((a, b) => a - b))
    }))

  it.effect("closing the scope stops the timer", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const waiters = yield* Scope.extend(Waiters.make<string, string>(), scope)
      const fiber = yield* Effect.fork(waiters.wait(pending, timeout(1000)))
      yield* Effect.yieldNow()
      waiters.resumeAll(Effect.fail("closed"))
      yield* Scope.close(scope, Exit.void)
      expect(yield* Effect.exit(Fiber.join(fiber))).toEqual(Exit.fail("closed"))
      yield* TestClock.adjust(2000)
      expect((yield* TestClock.sleeps()).length).toBe(0)
    }))
})
