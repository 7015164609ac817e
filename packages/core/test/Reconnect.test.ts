import { describe, expect, it } from "@effect/vitest"
import type { Schedule } from "effect"
import { ConfigProvider, Duration, Effect, Either, FastCheck as fc, Random } from "effect"
import { InvalidOption, Reconnect } from "../src/index.js"

const ms = (policy: Schedule.Schedule<unknown, unknown>, n: number) =>
  Reconnect.delays(policy, n).pipe(Effect.map((delays) => delays.map(Duration.toMillis)))

const invalid = (thunk: () => unknown): InvalidOption => {
  try {
    thunk()
  } catch (error) {
    if (error instanceof InvalidOption) return error
    throw error
  }
  throw new Error("expected InvalidOption")
}

/** Arbitrary valid bounds in ms: 1 ≤ min ≤ max ≤ 10 min. */
const bounds = fc.integer({ min: 1, max: 600_000 }).chain((min) =>
  fc.integer({ min, max: 600_000 }).map((max) => ({ min, max }))
)

describe("Reconnect", () => {
  describe("exponential", () => {
    it.effect("gives DBConnection's exp delays: 1000, 2000, 4000, 8000, 16000, 30000, 30000", () =>
      Effect.gen(function*() {
        expect(yield* ms(Reconnect.exponential(), 8)).toEqual([1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000])
      }))

    it.effect("honours min, max and factor", () =>
      Effect.gen(function*() {
        expect(yield* ms(Reconnect.exponential({ min: "100 millis", max: "1 second", factor: 3 }), 5)).toEqual([
          100,
          300,
          900,
          1000,
          1000
        ])
        // Chronicle's preset: 1 s to 10 s
        expect(yield* ms(Reconnect.exponential({ min: "1 second", max: "10 seconds" }), 5)).toEqual([
          1000,
          2000,
          4000,
          8000,
          10000
        ])
      }))

    it.effect.prop("never leaves [min, max] and never shrinks", [bounds, fc.double({ min: 1, max: 10, noNaN: true })], (
      [{ max, min }, factor]
    ) =>
      Effect.gen(function*() {
        const delays = yield* ms(Reconnect.exponential({ min, max, factor }), 30)
        expect(delays[0]).toBe(min)
        delays.forEach((d, i) => {
          expect(d).toBeGreaterThanOrEqual(min)
          expect(d).toBeLessThanOrEqual(max)
          if (i > 0) expect(d).toBeGreaterThanOrEqual(delays[i - 1]!)
        })
      }))
  })

  describe("random", () => {
    it.effect.prop(
      "every delay is a whole number of ms in [min, max]",
      [bounds, fc.integer()],
      ([{ max, min }, seed]) =>
        Effect.gen(function*() {
          const delays = yield* ms(Reconnect.random({ min, max }), 50).pipe(Effect.withRandom(Random.make(seed)))
          for (const d of delays) {
            expect(Number.isInteger(d)).toBe(true)
            expect(d).toBeGreaterThanOrEqual(min)
            expect(d).toBeLessThanOrEqual(max)
          }
        })
    )

    it.effect("spreads over the whole range", () =>
      Effect.gen(function*() {
        const delays = yield* ms(Reconnect.random({ min: 1, max: 4 }), 400)
        expect(new Set(delays)).toEqual(new Set([1, 2, 3, 4]))
      }))
  })

  describe("randomExponential", () => {
    it.effect.prop(
      "follows rand_exp: first in [min, min(3·min, max)], then in [min(prev, lower), min(3·prev, max)]",
      [bounds],
      ([{ max, min }]) =>
        Effect.gen(function*() {
          const lower = Math.max(min, Math.floor(max / 3))
          const delays = yield* ms(Reconnect.randomExponential({ min, max }), 40)
          let prev = min
          for (const d of delays) {
            expect(Number.isInteger(d)).toBe(true)
            expect(d).toBeGreaterThanOrEqual(Math.min(prev, lower))
            expect(d).toBeLessThanOrEqual(Math.min(prev * 3, max))
            prev = d
          }
        })
    )

    it.effect("is the default policy, between 1 s and 30 s, and reaches the upper range", () =>
      Effect.gen(function*() {
        const delays = yield* ms(Reconnect.defaultPolicy, 200)
        expect(delays[0]).toBeGreaterThanOrEqual(1000)
        expect(delays[0]).toBeLessThanOrEqual(3000)
        for (const d of delays) {
          expect(d).toBeGreaterThanOrEqual(1000)
          expect(d).toBeLessThanOrEqual(30000)
        }
        // once grown, delays stay at or above lower = 10 s (max div 3)
        expect(Math.min(...delays.slice(100))).toBeGreaterThanOrEqual(10000)
      }))
  })

  describe("fixed, stop and limit", () => {
    it.effect("fixed repeats its interval forever (Spear: 500 ms)", () =>
      Effect.gen(function*() {
        expect(yield* ms(Reconnect.fixed("500 millis"), 4)).toEqual([500, 500, 500, 500])
      }))

    it.effect("stop never retries", () =>
      Effect.gen(function*() {
        expect(yield* ms(Reconnect.stop, 3)).toEqual([])
      }))

    it.effect.prop(
      "limit(policy, n) allows exactly n retries",
      [fc.integer({ min: 0, max: 50 })],
      ([n]) =>
        Effect.gen(function*() {
          expect((yield* ms(Reconnect.limit(Reconnect.fixed(10), n), 100)).length).toBe(n)
          expect((yield* ms(Reconnect.limit(Reconnect.exponential(), n), 100)).length).toBe(n)
        })
    )

    it.effect("limit keeps the delays of the policy it limits", () =>
      Effect.gen(function*() {
        expect(yield* ms(Reconnect.limit(Reconnect.exponential(), 3), 10)).toEqual([1000, 2000, 4000])
      }))
  })

  describe("invalid options", () => {
    it("are rejected with an InvalidOption that names the option", () => {
      const cases: Array<[() => unknown, string]> = [
        [() => Reconnect.exponential({ min: 0 }), "min"],
        [() => Reconnect.exponential({ min: -1 }), "min"],
        [() => Reconnect.exponential({ max: "0 millis" }), "max"],
        [() => Reconnect.exponential({ min: 2000, max: 1000 }), "min"],
        [() => Reconnect.exponential({ factor: 0.5 }), "factor"],
        [() => Reconnect.exponential({ factor: Number.NaN }), "factor"],
        [() => Reconnect.random({ min: 5000, max: 10 }), "min"],
        [() => Reconnect.random({ max: Duration.infinity }), "max"],
        [() => Reconnect.randomExponential({ min: -10 }), "min"],
        [() => Reconnect.fixed(0), "interval"],
        [() => Reconnect.fixed(-500), "interval"],
        [() => Reconnect.limit(Reconnect.stop, -1), "attempts"],
        [() => Reconnect.limit(Reconnect.stop, 1.5), "attempts"]
      ]
      for (const [thunk, option] of cases) {
        const error = invalid(thunk)
        expect(error.option).toBe(option)
        expect(error.message).toContain(`"${option}"`)
      }
    })

    it("a delay below 1 ms is rejected: it would retry every 0 ms for ever", () => {
      const cases: Array<[() => unknown, string, string]> = [
        [() => Reconnect.fixed("400 micros"), "interval", "must be at least 1ms (got 0.4ms)"],
        [() => Reconnect.fixed(0.999), "interval", "must be at least 1ms (got 0.999ms)"],
        [() => Reconnect.fixed(Duration.nanos(999_999n)), "interval", "must be at least 1ms"],
        [() => Reconnect.exponential({ min: 0.4 }), "min", "must be at least 1ms (got 0.4ms)"],
        [() => Reconnect.exponential({ max: "10 micros" }), "max", "must be at least 1ms"],
        [() => Reconnect.random({ min: 0.5, max: 10 }), "min", "must be at least 1ms"],
        [() => Reconnect.randomExponential({ min: "999 micros" }), "min", "must be at least 1ms"]
      ]
      for (const [thunk, option, detail] of cases) {
        const error = invalid(thunk)
        expect(error).toMatchObject({ option, reason: "OutOfRange" })
        expect(error.detail).toContain(detail)
      }
      // 1 ms is the smallest delay that means something
      expect(Effect.runSync(ms(Reconnect.fixed("1 millis"), 2))).toEqual([1, 1])
      expect(Effect.runSync(ms(Reconnect.exponential({ min: 1, max: 4 }), 4))).toEqual([1, 2, 4, 4])
    })

    it("NaN is reported as NaN, never as 0", () => {
      for (
        const thunk of [
          () => Reconnect.fixed(Number.NaN),
          () => Reconnect.exponential({ min: Number.NaN }),
          () => Reconnect.random({ max: [Number.NaN, 0] }),
          () => Reconnect.exponential({ factor: Number.NaN }),
          () => Reconnect.limit(Reconnect.stop, Number.NaN)
        ]
      ) {
        const error = invalid(thunk)
        expect(error.reason).toBe("Invalid")
        expect(error.detail).toContain("(got NaN)")
        expect(error.detail).not.toContain("got 0")
      }
    })

    it("reasons are machine-readable: OutOfRange, Conflict, Invalid", () => {
      expect(invalid(() => Reconnect.fixed(-500)).reason).toBe("OutOfRange")
      expect(invalid(() => Reconnect.fixed(Duration.infinity)).reason).toBe("OutOfRange")
      expect(invalid(() => Reconnect.exponential({ min: 2000, max: 1000 }))).toMatchObject({
        option: "min",
        reason: "Conflict",
        detail: "must not be greater than max (got min 2s, max 1s)"
      })
      expect(invalid(() => Reconnect.exponential({ factor: 0.5 })).reason).toBe("OutOfRange")
      expect(invalid(() => Reconnect.limit(Reconnect.stop, 1.5)).reason).toBe("Invalid")
      expect(invalid(() => Reconnect.fixed("soon" as Duration.DurationInput)).reason).toBe("Invalid")
    })

    it.prop(
      "any duration below 1 ms is rejected for each option, with OutOfRange",
      // below 1 ms by more than the nanosecond that Duration keeps
      [fc.double({ min: -1e9, max: 0.999_999, noNaN: true })],
      ([n]) => {
        expect(invalid(() => Reconnect.exponential({ min: n }))).toMatchObject({ option: "min", reason: "OutOfRange" })
        expect(invalid(() => Reconnect.random({ max: n }))).toMatchObject({ option: "max", reason: "OutOfRange" })
        expect(invalid(() => Reconnect.fixed(n))).toMatchObject({ option: "interval", reason: "OutOfRange" })
      }
    )

    it.prop("any non-positive duration is rejected for each option", [fc.integer({ max: 0 })], ([n]) => {
      expect(invalid(() => Reconnect.exponential({ min: n })).option).toBe("min")
      expect(invalid(() => Reconnect.random({ max: n })).option).toBe("max")
      expect(invalid(() => Reconnect.fixed(n)).option).toBe("interval")
    })

    it("defaults the missing bound as DBConnection does", () => {
      // only min: max = max(min, 30 s); only max: min = min(1 s, max)
      expect(Effect.runSync(ms(Reconnect.exponential({ min: 40_000 }), 2))).toEqual([40_000, 40_000])
      expect(Effect.runSync(ms(Reconnect.exponential({ max: 500 }), 2))).toEqual([500, 500])
    })
  })

  describe("config", () => {
    const read = (map: Record<string, string>) =>
      Effect.withConfigProvider(Reconnect.config, ConfigProvider.fromMap(new Map(Object.entries(map))))

    it.effect("reads a policy from configuration", () =>
      Effect.gen(function*() {
        const exp = yield* read({ type: "exponential", min: "100 millis", max: "1 second", attempts: "3" })
        expect(yield* ms(exp, 10)).toEqual([100, 200, 400])
        const fixed = yield* read({ type: "fixed", interval: "500 millis" })
        expect(yield* ms(fixed, 2)).toEqual([500, 500])
        const byDefault = yield* read({})
        const delays = yield* ms(byDefault, 1)
        expect(delays[0]).toBeGreaterThanOrEqual(1000)
        expect(delays[0]).toBeLessThanOrEqual(3000)
      }))

    it.effect("fails with a ConfigError naming the bad key", () =>
      Effect.gen(function*() {
        const badMin = yield* Effect.flip(read({ type: "exponential", min: "2 seconds", max: "1 second" }))
        expect(String(badMin)).toContain("min")
        const badType = yield* Effect.flip(read({ type: "linear" }))
        expect(String(badType)).toContain("type")
        const noInterval = yield* Effect.flip(read({ type: "fixed" }))
        expect(String(noInterval)).toContain("interval")
      }))

    it("fromOptions returns the error instead of throwing", () => {
      const result = Reconnect.fromOptions({ type: "random", min: 10, max: 1 })
      expect(Either.isLeft(result) && result.left.option).toBe("min")
      const subMillis = Reconnect.fromOptions({ type: "fixed", interval: "400 micros" })
      expect(Either.isLeft(subMillis) && subMillis.left).toMatchObject({ option: "interval", reason: "OutOfRange" })
      const tiny = Reconnect.fromOptions({ type: "exponential", min: 0.4 })
      expect(Either.isLeft(tiny) && tiny.left).toMatchObject({ option: "min", reason: "OutOfRange" })
    })

    it("fromOptions rejects an unknown type instead of reading it as stop", () => {
      const result = Reconnect.fromOptions({ type: "linear" } as unknown as Reconnect.Options)
      expect(Either.isLeft(result) && result.left).toMatchObject({ option: "type", reason: "Invalid" })
      const missing = Reconnect.fromOptions({ type: "fixed" } as unknown as Reconnect.Options)
      expect(Either.isLeft(missing) && missing.left).toMatchObject({ option: "interval", reason: "Missing" })
    })

    it.effect("rejects sub-millisecond and NaN values with the InvalidOption's message", () =>
      Effect.gen(function*() {
        const micros = yield* Effect.flip(read({ type: "fixed", interval: "400 micros" }))
        expect(String(micros)).toContain(`Invalid option "interval": must be at least 1ms (got 0.4ms)`)
        const nan = yield* Effect.flip(read({ type: "exponential", factor: "NaN" }))
        expect(String(nan)).toContain(`Invalid option "factor": must be a number`)
        const attempts = yield* Effect.flip(read({ type: "exponential", attempts: "1.5" }))
        expect(String(attempts)).toContain(`Invalid option "attempts": must be a whole number (got 1.5)`)
      }))

    it.effect.prop(
      "a configuration error never quotes the configured text",
      [fc.constantFrom("type", "min", "max", "factor", "interval", "attempts"), fc.string({ minLength: 4 })],
      ([key, secret]) =>
        Effect.gen(function*() {
          const result = yield* Effect.either(
            read({ type: key === "type" ? secret : "fixed", interval: "1 second", [key]: secret })
          )
          if (Either.isLeft(result)) expect(String(result.left)).not.toContain(secret)
        })
    )
  })
})
