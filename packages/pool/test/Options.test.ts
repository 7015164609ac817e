import { describe, expect, it } from "@effect/vitest"
import { InvalidOption } from "@redial/core"
import type { Duration } from "effect"
import { Effect, FastCheck as fc } from "effect"
import * as Pool from "../src/Pool.js"
import * as TestDriver from "./support/testDriver.js"

// (without awaitConnected: the only error these pools can fail with is InvalidOption)
type Options = Omit<Pool.Options<TestDriver.TestTypes>, "awaitConnected">

/** Makes a pool with `options` and returns its `InvalidOption`, dying if it was made. */
const invalid = (options: Options) =>
  Effect.gen(function*() {
    const driver = yield* TestDriver.make()
    return yield* Pool.make(driver, options).pipe(
      Effect.scoped,
      Effect.flip,
      Effect.orDieWith(() => new Error(`expected InvalidOption for ${JSON.stringify(options)}`))
    )
  })

const expectInvalid = (options: Options, option: string | RegExp) =>
  Effect.gen(function*() {
    const error = yield* invalid(options)
    expect(error).toBeInstanceOf(InvalidOption)
    expect(error._tag).toBe("InvalidOption")
    if (typeof option === "string") expect(error.option).toBe(option)
    else expect(error.option).toMatch(option)
    expect(error.message).toContain(error.option)
  })

const durationOptions = [
  "queueTarget",
  "queueInterval",
  "timeout",
  "idleInterval",
  "leakTimeout",
  "connectTimeout"
] as const

/** A zero or negative duration in any input form `Duration.DurationInput` takes. */
const nonPositiveDuration: fc.Arbitrary<Duration.DurationInput> = fc.oneof(
  fc.integer({ min: -1_000_000, max: 0 }),
  fc.double({ min: -1e9, max: 0, noNaN: true }),
  fc.integer({ min: -100_000, max: 0 }).map((n): Duration.DurationInput => `${n} millis`),
  fc.integer({ min: -100_000, max: 0 }).map((n): Duration.DurationInput => `${n} seconds`),
  fc.bigInt({ min: -1_000_000_000n, max: 0n }),
  fc.constantFrom<Duration.DurationInput>("0 millis", "0 seconds", "0 nanos", 0n, [0, 0], -0)
)

describe("Options", () => {
  describe("size", () => {
    it.effect("0 is rejected", () => expectInvalid({ size: 0 }, "size"))
    it.effect("-1 is rejected", () => expectInvalid({ size: -1 }, "size"))
    it.effect("1.5 is rejected", () => expectInvalid({ size: 1.5 }, "size"))
    it.effect("NaN and Infinity are rejected", () =>
      Effect.gen(function*() {
        yield* expectInvalid({ size: Number.NaN }, "size")
        yield* expectInvalid({ size: Number.POSITIVE_INFINITY }, "size")
      }))
    it.effect.prop(
      "any size below 1 or not whole is rejected",
      [fc.oneof(fc.integer({ max: 0 }), fc.double({ noNaN: true }).filter((n) => !Number.isInteger(n)))],
      ([size]) => expectInvalid({ size }, "size")
    )
  })

  describe("durations", () => {
    for (const option of durationOptions) {
      it.effect(`${option}: zero is rejected`, () => expectInvalid({ [option]: 0 }, option))
      it.effect(`${option}: negative is rejected`, () => expectInvalid({ [option]: "-1 seconds" }, option))
    }

    it.effect.prop(
      "any non-positive duration for each duration option is rejected with that option's name",
      [fc.constantFrom(...durationOptions), nonPositiveDuration],
      ([option, input]) => expectInvalid({ [option]: input }, option)
    )
  })

  describe("maxLifetime", () => {
    it.effect("min > max is rejected", () =>
      expectInvalid({ maxLifetime: { min: "2 hours", max: "1 hour" } }, /^maxLifetime/))
    it.effect("zero is rejected", () =>
      Effect.gen(function*() {
        yield* expectInvalid({ maxLifetime: 0 }, /^maxLifetime/)
        yield* expectInvalid({ maxLifetime: { min: 0, max: "1 hour" } }, /^maxLifetime/)
        yield* expectInvalid({ maxLifetime: { min: "1 hour", max: 0 } }, /^maxLifetime/)
      }))
    it.effect("negative is rejected", () =>
      Effect.gen(function*() {
        yield* expectInvalid({ maxLifetime: "-1 minutes" }, /^maxLifetime/)
        yield* expectInvalid({ maxLifetime: { min: -5, max: "1 hour" } }, /^maxLifetime/)
        yield* expectInvalid({ maxLifetime: { min: -10, max: -5 } }, /^maxLifetime/)
      }))
    it.effect.prop(
      "any non-positive maxLifetime is rejected",
      [nonPositiveDuration],
      ([input]) => expectInvalid({ maxLifetime: input }, /^maxLifetime/)
    )
    it.scoped("a valid range, min = max, and an exact lifetime are accepted", () =>
      Effect.gen(function*() {
        const driver = yield* TestDriver.make()
        yield* Pool.make(driver, { maxLifetime: { min: "1 hour", max: "2 hours" } })
        yield* Pool.make(driver, { maxLifetime: { min: "1 hour", max: "1 hour" } })
        yield* Pool.make(driver, { maxLifetime: "30 minutes" })
      }))
  })

  describe("defaults", () => {
    it.scoped("Pool.make(driver) with no options: size 1, named pool, serves", () =>
      Effect.gen(function*() {
        const driver = yield* TestDriver.make()
        const pool = yield* Pool.make(driver)
        expect(pool.name).toBe("pool")
        const result = yield* pool.query("select 1", [1])
        expect(result).toEqual({ connection: 1, query: "select 1", params: [1] })
        const stats = yield* pool.stats
        expect(stats.size).toBe(1)
        expect(stats.busy).toBe(0)
        expect(stats.queued).toBe(0)
        expect(yield* driver.openConnections).toBe(1)
        expect(yield* driver.connectAttempts).toBe(1)
        expect(yield* driver.violations).toEqual([])
      }))

    it.scoped("every option at a valid value is accepted", () =>
      Effect.gen(function*() {
        const driver = yield* TestDriver.make()
        const pool = yield* Pool.make(driver, {
          size: 3,
          name: "orders",
          queueTarget: "10 millis",
          queueInterval: "1 second",
          queue: false,
          timeout: "5 seconds",
          idleInterval: "500 millis",
          connectTimeout: "1 second",
          leakTimeout: "1 minute",
          maxLifetime: { min: "1 hour", max: "2 hours" }
        })
        expect(pool.name).toBe("orders")
        expect((yield* pool.stats).size).toBe(3)
        yield* TestDriver.awaitIdle(pool, 3)
        expect(yield* pool.query("q")).toMatchObject({ query: "q", params: [] })
      }))

    it.effect("an empty name is rejected", () => expectInvalid({ name: "" }, "name"))
  })
})
