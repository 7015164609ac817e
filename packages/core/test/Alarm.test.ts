import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Scope, TestClock } from "effect"
import { Alarm } from "../src/index.js"

/** An alarm whose `onFire` records when it ran and answers with `next(now)`. */
const recording = (next: (now: number, alarm: Alarm.Alarm) => Effect.Effect<number> = () => Effect.succeed(Infinity)) =>
  Effect.gen(function*() {
    const fired: Array<number> = []
    const self: { alarm?: Alarm.Alarm } = {}
    const alarm = yield* Alarm.make((now) =>
      Effect.suspend(() => {
        fired.push(now)
        return next(now, self.alarm!)
      })
    )
    self.alarm = alarm
    return { alarm, fired }
  })

describe("Alarm", () => {
  it.scoped("fires at the earliest requested time, on the TestClock", () =>
    Effect.gen(function*() {
      const { alarm, fired } = yield* recording()
      alarm.wakeBy(300)
      alarm.wakeBy(100)
      alarm.wakeBy(200)
      yield* TestClock.adjust(99)
      expect(fired).toEqual([])
      yield* TestClock.adjust(1)
      expect(fired).toEqual([100])
      // The later requests were folded into the earlier one: nothing is pending any more.
      yield* TestClock.adjust(1000)
      expect(fired).toEqual([100])
    }))

  it.scoped("runs again at the time onFire returns, and not before", () =>
    Effect.gen(function*() {
      const { alarm, fired } = yield* recording((now) => Effect.succeed(now < 300 ? now + 100 : Infinity))
      alarm.wakeBy(100)
      yield* TestClock.adjust(50)
      expect(fired).toEqual([])
      yield* TestClock.adjust(1000)
      expect(fired).toEqual([100, 200, 300])
    }))

  it.scoped("a time already past fires at once", () =>
    Effect.gen(function*() {
      const { alarm, fired } = yield* recording()
      yield* TestClock.adjust(500)
      alarm.wakeBy(0)
      yield* Effect.yieldNow()
      expect(fired).toEqual([500])
    }))

  it.scoped("an earlier wakeBy cuts a pending sleep short", () =>
    Effect.gen(function*() {
      const { alarm, fired } = yield* recording()
      alarm.wakeBy(60_000)
      yield* TestClock.adjust(10)
      alarm.wakeBy(50)
      yield* TestClock.adjust(40)
      expect(fired).toEqual([50])
      // The earlier wake took the place of the later one: ask again for it.
      alarm.wakeBy(60_000)
      yield* TestClock.adjust(60_000)
      expect(fired).toEqual([50, 60_000])
    }))

  it.scoped("a wakeBy from inside onFire, earlier than what onFire returns, fires on time", () =>
    Effect.gen(function*() {
      // At 100 onFire asks for 150 (say, a deadline registered while it ran) and then answers 1000.
      const { alarm, fired } = yield* recording((now, self) =>
        Effect.sync(() => {
          if (now === 100) self.wakeBy(150)
          return now === 100 ? 1000 : Infinity
        })
      )
      alarm.wakeBy(100)
      yield* TestClock.adjust(100)
      expect(fired).toEqual([100])
      yield* TestClock.adjust(50)
      expect(fired).toEqual([100, 150])
    }))

  it.scoped("a wakeBy from another fiber while onFire is suspended is honoured", () =>
    Effect.gen(function*() {
      // onFire suspends before it answers 1000; another fiber asks for 120 in that gap.
      const running = yield* Deferred.make<void>()
      const proceed = yield* Deferred.make<void>()
      const { alarm, fired } = yield* recording((now) =>
        now === 100
          ? Deferred.succeed(running, undefined).pipe(Effect.zipRight(Deferred.await(proceed)), Effect.as(1000))
          : Effect.succeed(Infinity)
      )
      alarm.wakeBy(100)
      yield* TestClock.adjust(100)
      yield* Deferred.await(running)
      alarm.wakeBy(120)
      yield* Deferred.succeed(proceed, undefined)
      yield* TestClock.adjust(20)
      expect(fired).toEqual([100, 120])
    }))

  it.scoped("wakeBy for a time not earlier than the pending one changes nothing", () =>
    Effect.gen(function*() {
      const { alarm, fired } = yield* recording()
      alarm.wakeBy(100)
      for (let i = 0; i < 1000; i++) alarm.wakeBy(100 + i)
      yield* TestClock.adjust(100)
      expect(fired).toEqual([100])
      yield* TestClock.adjust(2000)
      expect(fired).toEqual([100])
    }))

  it.scoped("NaN is ignored", () =>
    Effect.gen(function*() {
      const { alarm, fired } = yield* recording()
      alarm.wakeBy(Number.NaN)
      alarm.wakeBy(10)
      yield* TestClock.adjust(10)
      expect(fired).toEqual([10])
    }))

  it.scoped("a defect in onFire is logged and the alarm goes on", () =>
    Effect.gen(function*() {
      const { alarm, fired } = yield* recording((now) => now === 10 ? Effect.die("boom") : Effect.succeed(Infinity))
      alarm.wakeBy(10)
      yield* TestClock.adjust(10)
      alarm.wakeBy(20)
      yield* TestClock.adjust(10)
      expect(fired).toEqual([10, 20])
    }))

  it.effect("the fiber ends with the scope: nothing fires after it closes", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const { alarm, fired } = yield* Scope.extend(recording(), scope)
      alarm.wakeBy(100)
      yield* Scope.close(scope, Exit.void)
      yield* TestClock.adjust(1000)
      expect(fired).toEqual([])
      // No sleeper is left on the clock either.
      expect((yield* TestClock.sleeps()).length).toBe(0)
    }))

  it.scoped("while nothing is pending the fiber is suspended, not sleeping or polling", () =>
    Effect.gen(function*() {
      const { fired } = yield* recording()
      yield* Effect.yieldNow()
      expect((yield* TestClock.sleeps()).length).toBe(0)
      yield* TestClock.adjust("1 hour")
      expect(fired).toEqual([])
    }))
})
