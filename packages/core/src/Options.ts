/**
 * Validating the options of a constructor, so that every package rejects a bad value the same way:
 * with an `InvalidOption` that names the option (as a path: `healthCheck.interval`,
 * `address[1]`), says what kind of problem it is (`reason`: `Invalid`, `OutOfRange`, `Conflict`,
 * `Unsupported`, `Missing`) and explains it (`detail`).
 *
 * The options are described with `Schema`: a `Schema.Struct` whose fields are the decoders of
 * this module (or any other schema), decoded with {@link decode}. The decoders here write their
 * own details, which show numbers and durations (NaN as "NaN") but never a string input, so a
 * password put in the wrong option never reaches a message or a log. Issues from other schemas
 * are described from the schema alone ("must be a string (got a number)").
 *
 * @example
 * ```ts
 * import { Options } from "@redial/core"
 * import { Duration, Either, Schema } from "effect"
 *
 * const Settings = Schema.Struct({
 *   name: Schema.optionalWith(Options.nonEmptyString, { default: () => "db" }),
 *   size: Schema.optionalWith(Options.integer({ min: 1, max: 1000 }), { default: () => 10 }),
 *   queueTarget: Schema.optionalWith(Options.duration({ min: "1 millis" }), { default: () => Duration.millis(50) }),
 *   healthCheck: Schema.optional(Schema.Struct({ interval: Options.duration({ min: "1 millis" }) }))
 * })
 *
 * const ok = Options.decode(Settings, { size: 4 })
 * // Right({ name: "db", size: 4, queueTarget: Duration(50ms) })
 *
 * const bad = Options.decode(Settings, { healthCheck: { interval: Number.NaN } }, { prefix: "pool" })
 * if (Either.isLeft(bad)) {
 *   bad.left.option // "pool.healthCheck.interval"
 *   bad.left.reason // "Invalid"
 *   bad.left.message // Invalid option "pool.healthCheck.interval": must be a duration (got NaN)
 * }
 * ```
 *
 * @since 0.1.0
 */
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Either from "effect/Either"
import type * as ParseResult from "effect/ParseResult"
import type * as Schema from "effect/Schema"
import type * as AST from "effect/SchemaAST"
import type { InvalidOption, InvalidOptionReason } from "./Errors.js"
import * as internal from "./internal/options.js"

/**
 * How {@link decode} reads the input.
 *
 * - `prefix`: put before every option path (`"pool"` → `"pool.size"`); the name of the input
 *   itself when it is not a struct (as `positiveDuration` does).
 * - `onExcessProperty`: `"ignore"` (default) or `"error"`, which rejects an unknown key with
 *   reason `Unsupported`.
 *
 * @since 0.1.0
 * @category models
 */
export interface DecodeOptions {
  readonly prefix?: string | undefined
  readonly onExcessProperty?: "ignore" | "error" | undefined
}

/**
 * What a {@link check} reports: the `detail` (prose, which must not quote a string input), the
 * `reason` (default `Invalid`) and the `option` it is about, as a dotted path relative to the
 * checked schema (default: the checked value itself).
 *
 * @since 0.1.0
 * @category models
 */
export interface Issue {
  readonly reason?: InvalidOptionReason | undefined
  readonly detail: string
  readonly option?: string | undefined
}

/**
 * The range of a duration option.
 *
 * - `min`: the smallest allowed value, inclusive. Without it the duration must be positive
 *   (zero is rejected); `min: 0` allows zero; `min: "1 millis"` rejects the sub-millisecond
 *   delays that timers round to 0.
 * - `max`: the largest allowed value, inclusive.
 * - `finite`: `true` by default; `false` allows `Duration.infinity` (and `Infinity`).
 *
 * @since 0.1.0
 * @category models
 */
export interface DurationOptions {
  readonly min?: Duration.DurationInput | undefined
  readonly max?: Duration.DurationInput | undefined
  readonly finite?: boolean | undefined
}

/**
 * The range of a number option, both bounds inclusive.
 *
 * @since 0.1.0
 * @category models
 */
export interface NumberOptions {
  readonly min?: number | undefined
  readonly max?: number | undefined
}

/**
 * A duration option: any `DurationInput` (a `Duration`, millis as a number, nanos as a bigint,
 * `"5 seconds"`, `[seconds, nanos]`) decoded to a `Duration` and checked against its range.
 * NaN is `Invalid` (shown as "NaN", never turned into 0); a negative value, zero (unless
 * `min: 0`), a value out of `[min, max]` and infinity (unless `finite: false`) are `OutOfRange`.
 * A string that is not a duration is `Invalid` and is not quoted.
 *
 * @example
 * ```ts
 * import { Options } from "@redial/core"
 *
 * const delay = Options.duration({ min: "1 millis", max: "1 hour" })
 * Options.decode(delay, "5 seconds") // Right(Duration(5s))
 * Options.decode(delay, "400 micros", { prefix: "interval" })
 * // Left(InvalidOption: Invalid option "interval": must be at least 1ms (got 0.4ms))
 * Options.decode(Options.duration({ finite: false }), Infinity) // Right(Duration(Infinity))
 * ```
 *
 * @since 0.1.0
 * @category decoders
 */
export const duration: (options?: DurationOptions) => Schema.Schema<Duration.Duration, Duration.DurationInput> =
  internal.duration

/**
 * A whole-number option (a safe integer), optionally within `[min, max]`. NaN, a fraction and
 * infinity are `Invalid`; a value out of range is `OutOfRange`.
 *
 * @example
 * ```ts
 * import { Options } from "@redial/core"
 *
 * const size = Options.integer({ min: 1, max: 1000 })
 * Options.decode(size, 10) // Right(10)
 * Options.decode(size, 0, { prefix: "size" }) // Left(InvalidOption: Invalid option "size": must be at least 1 (got 0))
 * Options.decode(size, 1.5, { prefix: "size" }) // Left(… must be a whole number (got 1.5))
 * ```
 *
 * @since 0.1.0
 * @category decoders
 */
export const integer: (options?: NumberOptions) => Schema.Schema<number> = internal.integer

/**
 * A number option, optionally within `[min, max]`. NaN is `Invalid`; infinity (unless
 * `finite: false`) and a value out of range are `OutOfRange`.
 *
 * @example
 * ```ts
 * import { Options } from "@redial/core"
 *
 * const factor = Options.number({ min: 1 })
 * Options.decode(factor, 1.6) // Right(1.6)
 * Options.decode(factor, Number.NaN, { prefix: "factor" }) // Left(… "factor": must be a number (got NaN))
 * ```
 *
 * @since 0.1.0
 * @category decoders
 */
export const number: (options?: NumberOptions & { readonly finite?: boolean | undefined }) => Schema.Schema<number> =
  internal.number

/**
 * A string option that must not be empty (a name, a header). Its content is never quoted.
 *
 * @example
 * ```ts
 * import { Options } from "@redial/core"
 *
 * Options.decode(Options.nonEmptyString, "db") // Right("db")
 * Options.decode(Options.nonEmptyString, "", { prefix: "name" }) // Left(… "name": must not be empty)
 * ```
 *
 * @since 0.1.0
 * @category decoders
 */
export const nonEmptyString: Schema.Schema<string> = internal.nonEmptyString

/**
 * A boolean option.
 *
 * @example
 * ```ts
 * import { Options } from "@redial/core"
 *
 * Options.decode(Options.boolean, true) // Right(true)
 * ```
 *
 * @since 0.1.0
 * @category decoders
 */
export const boolean: Schema.Schema<boolean> = internal.boolean

/**
 * An option that is one of a few literal values. The message lists the allowed values, not the
 * one given when it is a string.
 *
 * @example
 * ```ts
 * import { Options } from "@redial/core"
 *
 * const mode = Options.literal("failFast", "wait")
 * Options.decode(mode, "wait") // Right("wait")
 * // Left(… "mode": must be one of "failFast", "wait")
 * Options.decode(mode, "later" as "wait", { prefix: "mode" })
 * ```
 *
 * @since 0.1.0
 * @category decoders
 */
export const literal: <const L extends ReadonlyArray<AST.LiteralValue>>(...literals: L) => Schema.Schema<L[number]> =
  internal.literal

/**
 * Adds a check to a decoded value: `f` returns `undefined` when the value is fine, or the
 * {@link Issue} to report. Meant for what one field cannot say alone: conflicts between options
 * (reason `Conflict`, `option` naming the one to change), or a format.
 *
 * @example
 * ```ts
 * import { Options } from "@redial/core"
 * import { Duration, Schema } from "effect"
 *
 * const Bounds = Schema.Struct({ min: Options.duration(), max: Options.duration() }).pipe(
 *   Options.check(({ max, min }) =>
 *     Duration.greaterThan(min, max)
 *       ? { reason: "Conflict", option: "min", detail: "must not be greater than max" }
 *       : undefined
 *   )
 * )
 * Options.decode(Bounds, { min: 2000, max: 1000 })
 * // Left(InvalidOption: Invalid option "min": must not be greater than max), reason "Conflict"
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const check: <A>(
  f: (value: A) => Issue | undefined
) => <I, R>(self: Schema.Schema<A, I, R>) => Schema.Schema<A, I, R> = internal.check

/**
 * Decodes options with a schema: the value, or an `InvalidOption` for the first problem found.
 * Missing required keys are `Missing`; unknown keys are ignored unless
 * `onExcessProperty: "error"` (then `Unsupported`).
 *
 * @example
 * ```ts
 * import { Options } from "@redial/core"
 * import { Schema } from "effect"
 *
 * const KeepAlive = Schema.Struct({ interval: Options.duration(), timeout: Schema.optional(Options.duration()) })
 * Options.decode(KeepAlive, { interval: "10 seconds" }, { prefix: "keepAlive" }) // Right({ interval: Duration(10s) })
 * Options.decode(KeepAlive, { interval: 0 }, { prefix: "keepAlive" })
 * // Left(InvalidOption: Invalid option "keepAlive.interval": must be a positive duration (got 0))
 * ```
 *
 * @since 0.1.0
 * @category decoding
 */
export const decode: <A, I>(
  schema: Schema.Schema<A, I>,
  input: I,
  options?: DecodeOptions
) => Either.Either<A, InvalidOption> = internal.decode

/**
 * {@link decode} as an `Effect`, for constructors that are effects.
 *
 * @example
 * ```ts
 * import { Options } from "@redial/core"
 * import { Effect } from "effect"
 *
 * const make = (options: { readonly size?: number }) =>
 *   Effect.gen(function*() {
 *     const size = yield* Options.decodeEffect(Options.integer({ min: 1 }), options.size ?? 10, { prefix: "size" })
 *     return { size }
 *   }) // Effect<{ size: number }, InvalidOption>
 * Effect.runPromise(make({ size: 4 })).then(console.log) // { size: 4 }
 * ```
 *
 * @since 0.1.0
 * @category decoding
 */
export const decodeEffect: <A, I>(
  schema: Schema.Schema<A, I>,
  input: I,
  options?: DecodeOptions
) => Effect.Effect<A, InvalidOption> = internal.decodeEffect

/**
 * {@link decode} for plain constructors: returns the value or throws the `InvalidOption`.
 *
 * @example
 * ```ts
 * import { Options } from "@redial/core"
 *
 * const attempts = Options.decodeSync(Options.integer({ min: 0 }), 5, { prefix: "attempts" }) // 5
 * ```
 *
 * @since 0.1.0
 * @category decoding
 */
export const decodeSync: <A, I>(schema: Schema.Schema<A, I>, input: I, options?: DecodeOptions) => A =
  internal.decodeSync

/**
 * The `InvalidOption` for the first issue of a `ParseError`, for code that decodes with `Schema`
 * itself. Its `option` is the issue's path after `prefix`.
 *
 * @example
 * ```ts
 * import { Options } from "@redial/core"
 * import { Effect, Schema } from "effect"
 *
 * const Size = Schema.Struct({ size: Options.integer({ min: 1 }) })
 * const program = Schema.decodeUnknown(Size)({ size: 0 }).pipe(
 *   Effect.mapError((error) => Options.fromParseError(error, { prefix: "pool" }))
 * ) // fails with InvalidOption "pool.size"
 * Effect.runPromise(Effect.flip(program)).then((error) => console.log(error.option)) // "pool.size"
 * ```
 *
 * @since 0.1.0
 * @category decoding
 */
export const fromParseError: (
  error: ParseResult.ParseError,
  options?: { readonly prefix?: string | undefined }
) => InvalidOption = internal.fromParseError

/**
 * Decodes a duration option that must be positive (and finite with `{ finite: true }`); throws an
 * `InvalidOption` naming `option` otherwise. Meant for constructors, which turn the throw into a
 * typed failure (`Effect.try`). The same as `decodeSync(duration({ finite }), input, { prefix: option })`.
 *
 * @example
 * ```ts
 * import { Options } from "@redial/core"
 * import { Effect } from "effect"
 *
 * Options.positiveDuration("queueTarget", "50 millis") // Duration(50ms)
 * // throws InvalidOption: Invalid option "queueTarget": must be a positive duration (got 0)
 * const checked = Effect.try({
 *   try: () => Options.positiveDuration("queueTarget", 0),
 *   catch: (error) => error
 * })
 * Effect.runSync(Effect.either(checked)) // Left(InvalidOption …)
 * ```
 *
 * @since 0.1.0
 * @category decoding
 */
export const positiveDuration: (
  option: string,
  input: Duration.DurationInput,
  options?: { readonly finite?: boolean }
) => Duration.Duration = internal.positiveDuration
