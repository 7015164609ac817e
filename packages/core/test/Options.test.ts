import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Either, FastCheck as fc, Schema } from "effect"
import { InvalidOption, isRedialError, Options } from "../src/index.js"

const left = <A>(result: Either.Either<A, InvalidOption>): InvalidOption => {
  if (Either.isRight(result)) throw new Error(`expected an InvalidOption, got ${String(result.right)}`)
  return result.left
}

/** Any duration input: numbers (NaN, ±Infinity, fractions), bigints, strings, tuples, Durations. */
const durationInput: fc.Arbitrary<unknown> = fc.oneof(
  fc.double(),
  fc.integer(),
  fc.constantFrom(Number.NaN, Infinity, -Infinity, 0, -0, 0.4, 1),
  fc.bigInt(),
  fc.tuple(fc.double(), fc.double()),
  fc.tuple(fc.integer(), fc.constantFrom("nanos", "micros", "millis", "seconds", "minutes", "hours")).map(
    ([n, unit]) => `${n} ${unit}`
  ),
  fc.double({ noNaN: true, noDefaultInfinity: true }).map(Duration.millis),
  fc.constant(Duration.infinity),
  fc.string(),
  fc.anything()
)

const Settings = Schema.Struct({
  name: Schema.optionalWith(Options.nonEmptyString, { default: () => "db" }),
  size: Schema.optionalWith(Options.integer({ min: 1, max: 100 }), { default: () => 10 }),
  healthCheck: Schema.optional(Schema.Struct({
    interval: Options.duration({ min: "1 millis" }),
    timeout: Schema.optional(Options.duration({ max: "1 minute" }))
  })),
  mode: Schema.optional(Options.literal("failFast", "wait"))
})

describe("Options", () => {
  describe("duration", () => {
    it("decodes every DurationInput form", () => {
      const d = Options.duration()
      const inputs: ReadonlyArray<Duration.DurationInput> = [
        5000,
        "5 seconds",
        5_000_000_000n,
        [5, 0],
        Duration.seconds(5)
      ]
      for (const input of inputs) {
        expect(Duration.equals(Options.decodeSync(d, input), Duration.seconds(5))).toBe(true)
      }
    })

    it("a value too large for Duration is infinite, not a crash", () => {
      const inputs: ReadonlyArray<Duration.DurationInput> = [
        [1e300, 0],
        1e303,
        `${"9".repeat(400)}.5 nanos` as Duration.DurationInput
      ]
      for (const input of inputs) {
        expect(left(Options.decode(Options.duration(), input, { prefix: "t" })).detail).toBe(
          "must be finite (got infinity)"
        )
        expect(Options.decodeSync(Options.duration({ finite: false }), input)).toEqual(Duration.infinity)
      }
    })

    it("rejects zero, negative values and infinity by default; min: 0 allows zero, finite: false infinity", () => {
      const d = Options.duration()
      expect(left(Options.decode(d, 0, { prefix: "t" }))).toMatchObject({
        option: "t",
        reason: "OutOfRange",
        detail: "must be a positive duration (got 0)"
      })
      expect(left(Options.decode(d, -5, { prefix: "t" })).detail).toBe("must be a positive duration (got -5ms)")
      expect(left(Options.decode(d, -5n, { prefix: "t" })).reason).toBe("OutOfRange")
      expect(left(Options.decode(d, [-1, 0], { prefix: "t" })).reason).toBe("OutOfRange")
      // Duration.decode turns every one of these into 0; they are reported as negative instead
      expect(left(Options.decode(d, "-5 millis", { prefix: "t" })).detail).toBe(
        "must be a positive duration (got a negative duration)"
      )
      expect(left(Options.decode(d, -Infinity, { prefix: "t" })).reason).toBe("OutOfRange")
      expect(left(Options.decode(d, Infinity, { prefix: "t" })).detail).toBe("must be finite (got infinity)")
      expect(Options.decodeSync(Options.duration({ min: 0 }), 0)).toEqual(Duration.zero)
      expect(Options.decodeSync(Options.duration({ finite: false }), Infinity)).toEqual(Duration.infinity)
    })

    it("NaN is Invalid and shown as NaN, in every form", () => {
      for (const input of [Number.NaN, [Number.NaN, 0], [1, Number.NaN]] as const) {
        const error = left(Options.decode(Options.duration({ min: 0 }), input, { prefix: "t" }))
        expect(error.reason).toBe("Invalid")
        expect(error.detail).toBe("must be a duration (got NaN)")
      }
    })

    it("min and max bound the value, inclusive; sub-millisecond values are shown in ms", () => {
      const d = Options.duration({ min: "1 millis", max: "1 hour" })
      expect(left(Options.decode(d, "400 micros", { prefix: "i" })).detail).toBe("must be at least 1ms (got 0.4ms)")
      expect(left(Options.decode(d, "2 hours", { prefix: "i" })).detail).toBe("must be at most 1h (got 2h)")
      expect(Options.decodeSync(d, 1)).toEqual(Duration.millis(1))
      expect(Options.decodeSync(d, "1 hour")).toEqual(Duration.hours(1))
    })

    it("a string that is not a duration is Invalid and never quoted", () => {
      const error = left(Options.decode(Options.duration(), "hunter2" as Duration.DurationInput, { prefix: "t" }))
      expect(error.reason).toBe("Invalid")
      expect(error.message).not.toContain("hunter2")
    })
  })

  describe("integer, number, nonEmptyString, boolean, literal", () => {
    it("integer: NaN, fractions and infinity are Invalid; out of range is OutOfRange", () => {
      const size = Options.integer({ min: 1, max: 100 })
      expect(Options.decodeSync(size, 7)).toBe(7)
      expect(left(Options.decode(size, Number.NaN, { prefix: "size" }))).toMatchObject({
        reason: "Invalid",
        detail: "must be a whole number (got NaN)"
      })
      expect(left(Options.decode(size, 1.5, { prefix: "size" })).reason).toBe("Invalid")
      expect(left(Options.decode(size, Infinity, { prefix: "size" })).reason).toBe("Invalid")
      expect(left(Options.decode(size, 0, { prefix: "size" }))).toMatchObject({
        reason: "OutOfRange",
        detail: "must be at least 1 (got 0)"
      })
      expect(left(Options.decode(size, 101, { prefix: "size" })).detail).toBe("must be at most 100 (got 101)")
    })

    it("number: NaN is Invalid, infinity OutOfRange unless finite: false", () => {
      expect(left(Options.decode(Options.number(), Number.NaN, { prefix: "f" })).detail).toBe(
        "must be a number (got NaN)"
      )
      expect(left(Options.decode(Options.number(), Infinity, { prefix: "f" })).reason).toBe("OutOfRange")
      expect(Options.decodeSync(Options.number({ finite: false }), Infinity)).toBe(Infinity)
      expect(left(Options.decode(Options.number({ min: 1 }), 0.5, { prefix: "f" })).detail).toBe(
        "must be at least 1 (got 0.5)"
      )
    })

    it("nonEmptyString, boolean and literal", () => {
      expect(left(Options.decode(Options.nonEmptyString, "", { prefix: "name" })).detail).toBe("must not be empty")
      expect(left(Options.decode(Options.nonEmptyString, 3 as unknown as string, { prefix: "name" })).detail).toBe(
        "must be a string (got 3)"
      )
      expect(left(Options.decode(Options.boolean, "yes" as unknown as boolean, { prefix: "b" })).detail).toBe(
        "must be true or false (got a string)"
      )
      const mode = Options.literal("failFast", "wait")
      expect(Options.decodeSync(mode, "wait")).toBe("wait")
      const error = left(Options.decode(mode, "secret-token" as "wait", { prefix: "mode" }))
      expect(error).toMatchObject({ reason: "Invalid", detail: `must be one of "failFast", "wait"` })
      expect(error.message).not.toContain("secret-token")
    })
  })

  describe("decode", () => {
    it("applies defaults and decodes nested options", () => {
      const decoded = Options.decodeSync(Settings, { size: 4, healthCheck: { interval: "5 seconds" } })
      expect(decoded).toEqual({ name: "db", size: 4, healthCheck: { interval: Duration.seconds(5) } })
      // undefined is the same as absent (exactOptionalPropertyTypes callers pass it)
      expect(Options.decodeSync(Settings, { size: undefined, name: undefined })).toEqual({ name: "db", size: 10 })
    })

    it("names the option by its path, after the prefix", () => {
      const nested = left(Options.decode(Settings, { healthCheck: { interval: 0.4 } }, { prefix: "pool" }))
      expect(nested).toMatchObject({ option: "pool.healthCheck.interval", reason: "OutOfRange" })
      expect(nested.message).toBe(`Invalid option "pool.healthCheck.interval": must be at least 1ms (got 0.4ms)`)
      expect(left(Options.decode(Settings, { size: 0 })).option).toBe("size")
      const list = Schema.Struct({ address: Schema.Array(Options.nonEmptyString) })
      expect(left(Options.decode(list, { address: ["a", ""] })).option).toBe("address[1]")
    })

    it("a required option that is absent is Missing; an unknown one Unsupported when asked", () => {
      const missing = left(Options.decode(Settings, { healthCheck: {} as { interval: number } }))
      expect(missing).toMatchObject({ option: "healthCheck.interval", reason: "Missing", detail: "is required" })
      const unknown = left(
        Options.decode(Settings, { size: 2, sise: 3 } as { size: number }, { onExcessProperty: "error" })
      )
      expect(unknown).toMatchObject({ option: "sise", reason: "Unsupported" })
      expect(Either.isRight(Options.decode(Settings, { size: 2, sise: 3 } as { size: number }))).toBe(true)
    })

    it("issues of other schemas are described from the schema, never from a string input", () => {
      const Foreign = Schema.Struct({ user: Schema.Number, role: Schema.Literal("admin", "user") })
      const wrongType = left(
        Options.decode(Foreign, { user: "s3cr3t", role: "admin" } as unknown as typeof Foreign.Encoded)
      )
      expect(wrongType).toMatchObject({ option: "user", reason: "Invalid", detail: "must be a number (got a string)" })
      const wrongLiteral = left(
        Options.decode(Foreign, { user: 1, role: "s3cr3t" } as unknown as typeof Foreign.Encoded)
      )
      expect(wrongLiteral.detail).toBe(`must be one of "admin", "user" (got a string)`)
      expect(left(Options.decode(Foreign, "s3cr3t" as unknown as typeof Foreign.Encoded))).toMatchObject({
        option: "options",
        detail: "must be an object (got a string)"
      })
    })

    it("check reports a conflict on the option it names", () => {
      const Bounds = Schema.Struct({ min: Options.duration(), max: Options.duration() }).pipe(
        Options.check(({ max, min }) =>
          Duration.greaterThan(min, max)
            ? { reason: "Conflict", option: "min", detail: "must not be greater than max" }
            : undefined
        )
      )
      expect(left(Options.decode(Bounds, { min: 2000, max: 1000 }, { prefix: "backoff" }))).toMatchObject({
        option: "backoff.min",
        reason: "Conflict",
        detail: "must not be greater than max"
      })
      expect(Either.isRight(Options.decode(Bounds, { min: 1000, max: 1000 }))).toBe(true)
    })

    it.effect("decodeEffect fails with the InvalidOption; fromParseError maps Schema's own errors", () =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(Options.decodeEffect(Options.integer({ min: 1 }), 0, { prefix: "size" }))
        expect(error).toBeInstanceOf(InvalidOption)
        expect(isRedialError(error)).toBe(true)
        const parse = yield* Effect.flip(Schema.decodeUnknown(Settings)({ size: -1 }))
        expect(Options.fromParseError(parse, { prefix: "pool" })).toMatchObject({
          option: "pool.size",
          reason: "OutOfRange"
        })
        expect(() => Options.decodeSync(Options.integer(), 0.5)).toThrow(InvalidOption)
      }))

    it("positiveDuration still decodes a positive duration and throws InvalidOption otherwise", () => {
      expect(Options.positiveDuration("queueTarget", "50 millis")).toEqual(Duration.millis(50))
      expect(Options.positiveDuration("queueTarget", Infinity)).toEqual(Duration.infinity)
      expect(() => Options.positiveDuration("queueTarget", Infinity, { finite: true })).toThrow(InvalidOption)
      expect(() => Options.positiveDuration("queueTarget", 0)).toThrow(
        `Invalid option "queueTarget": must be a positive duration (got 0)`
      )
    })
  })

  describe("properties", () => {
    const marked = fc.string({ minLength: 2 }).map((s) => `§${s}`)

    it.prop(
      "any duration input gives a valid duration or an InvalidOption whose detail never holds a string input",
      [durationInput, fc.boolean(), fc.option(fc.integer({ min: 0, max: 10_000_000 }), { nil: undefined })],
      ([input, finite, min]) => {
        const result = Options.decode(
          Options.duration({ finite, min }),
          input as Duration.DurationInput,
          { prefix: "delay" }
        )
        if (Either.isRight(result)) {
          const millis = Duration.toMillis(result.right)
          expect(millis).not.toBeNaN()
          expect(millis >= (min ?? 0)).toBe(true)
          if (min === undefined) expect(millis).toBeGreaterThan(0)
          if (finite) expect(Number.isFinite(millis)).toBe(true)
        } else {
          const error = result.left
          expect(error).toBeInstanceOf(InvalidOption)
          expect(error.option).toBe("delay")
          expect(["Invalid", "OutOfRange", "Missing"]).toContain(error.reason)
          if (typeof input === "string" && input.length > 2) expect(error.message).not.toContain(input)
          if (typeof input === "number" && Number.isNaN(input)) expect(error.detail).toContain("NaN")
          if (typeof input === "number" && Number.isNaN(input)) expect(error.detail).not.toContain("got 0")
        }
      }
    )

    it.prop(
      "any value for any option of a struct gives settings or an InvalidOption that never holds a string input",
      [
        fc.constantFrom("name", "size", "healthCheck", "mode"),
        // A string input starts with "§", which no message has of its own: "ame" is in "pool.name"
        // (a seed found it), and is not a leak.
        fc.oneof(
          marked,
          fc.double(),
          fc.integer(),
          fc.anything(),
          fc.record({ interval: marked })
        )
      ],
      ([key, value]) => {
        const result = Options.decode(Settings, { [key]: value } as typeof Settings.Encoded, { prefix: "pool" })
        if (Either.isLeft(result)) {
          expect(result.left.option.startsWith(`pool.${key}`)).toBe(true)
          const strings = (typeof value === "object" && value !== null ? Object.values(value) : [value])
            .filter((v): v is string => typeof v === "string" && v.startsWith("§"))
          for (const s of strings) expect(result.left.message).not.toContain(s)
        }
      }
    )

    it.prop(
      "any number for an integer option gives it back in range or an InvalidOption that shows it (NaN as NaN)",
      [fc.oneof(fc.double(), fc.integer())],
      ([n]) => {
        const result = Options.decode(Options.integer({ min: -10, max: 10 }), n, { prefix: "n" })
        if (Either.isRight(result)) {
          expect(Number.isSafeInteger(result.right) && result.right >= -10 && result.right <= 10).toBe(true)
        } else {
          expect(result.left.detail).toContain(`(got ${String(n)})`)
        }
      }
    )
  })
})
