/**
 * Reconnect policies. A policy is an Effect `Schedule` whose input is the error of the failed
 * connect attempt and whose delays are the waits between attempts; any `Schedule` works as a
 * policy. The constructors here reproduce DBConnection's backoff types exactly (`exp`, `rand`,
 * `rand_exp`, `stop`; default `rand_exp` between 1 s and 30 s).
 *
 * A connection steps its policy only after failed attempts, and restarts it from the beginning
 * after every successful connect; a lost connection is retried at once.
 *
 * Randomness comes from Effect's `Random` service and every delay runs on `Clock`, so
 * `TestRandom` and `TestClock` make policies deterministic in tests.
 *
 * @example
 * ```ts
 * import { Reconnect } from "@redial/core"
 * import { Effect } from "effect"
 *
 * // 1000, 2000, 4000, 8000, 16000, 30000, 30000 … ms
 * const exp = Reconnect.exponential()
 * // Spear's: every 500 ms, forever
 * const spear = Reconnect.fixed("500 millis")
 * // Chronicle's: exponential 1 s → 10 s, 5 retries, then give up
 * const chronicle = Reconnect.limit(Reconnect.exponential({ min: "1 second", max: "10 seconds" }), 5)
 *
 * // The first delays of a policy, for docs and tests:
 * Effect.runPromise(Reconnect.delays(exp, 7)) // [1000, 2000, 4000, 8000, 16000, 30000, 30000] (as Durations)
 * ```
 *
 * @since 0.1.0
 */
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import type * as Schedule from "effect/Schedule"
import { InvalidOption } from "./Errors.js"
import * as internal from "./internal/reconnect.js"
import { decode as decodeOption, literal } from "./Options.js"

/**
 * A reconnect policy: any `Schedule` that accepts the connect error as input. Its output is not
 * used; its delays are.
 *
 * @since 0.1.0
 * @category models
 */
export type Policy<E = unknown, R = never> = Schedule.Schedule<unknown, E, R>

/**
 * Bounds of the delays. `min` defaults to 1 second and `max` to 30 seconds; only `min` given
 * means `max = max(min, 30 s)`, only `max` given means `min = min(1 s, max)` (as DBConnection).
 * Each must be at least 1 ms and finite.
 *
 * @since 0.1.0
 * @category models
 */
export interface Bounds {
  readonly min?: Duration.DurationInput | undefined
  readonly max?: Duration.DurationInput | undefined
}

/**
 * Exponential backoff (DBConnection's `exp`): `min`, `min·factor`, `min·factor²` … capped at
 * `max`. With the defaults (1 s, 30 s, factor 2): 1000, 2000, 4000, 8000, 16000, 30000, 30000 … ms.
 *
 * Throws `InvalidOption` (naming the option) for a delay below 1 ms (a timer would round it to
 * 0 and retry in a hot loop), NaN, an infinite delay, `min > max`, or a `factor` below 1 or NaN.
 * For options that are not literals in code, use {@link fromOptions}, which returns the error.
 *
 * @example
 * ```ts
 * import { Reconnect } from "@redial/core"
 *
 * const policy = Reconnect.exponential({ min: "100 millis", max: "10 seconds", factor: 1.6 })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const exponential: (
  options?: Bounds & { readonly factor?: number | undefined }
) => Schedule.Schedule<Duration.Duration> = internal.exponential

/**
 * Uniformly random delays in `[min, max]` (DBConnection's `rand`), whole milliseconds.
 *
 * Throws `InvalidOption` for invalid bounds (below 1 ms, NaN, infinite, `min > max`).
 *
 * @example
 * ```ts
 * import { Reconnect } from "@redial/core"
 *
 * const policy = Reconnect.random({ min: "500 millis", max: "5 seconds" })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const random: (options?: Bounds) => Schedule.Schedule<Duration.Duration> = internal.random

/**
 * Random exponential backoff (DBConnection's `rand_exp`, the default policy): with
 * `lower = max(min, max / 3)`, the first delay is uniform in `[min, min(3·min, max)]` and each
 * next one uniform in `[min(prev, lower), min(3·prev, max)]`. Grows like an exponential but
 * spreads clients that failed together, so they do not reconnect in a herd.
 *
 * Throws `InvalidOption` for invalid bounds (below 1 ms, NaN, infinite, `min > max`).
 *
 * @example
 * ```ts
 * import { Reconnect } from "@redial/core"
 *
 * const policy = Reconnect.randomExponential({ min: "100 millis", max: "10 seconds" })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const randomExponential: (options?: Bounds) => Schedule.Schedule<Duration.Duration> = internal.randomExponential

/**
 * The same delay after every failed attempt, forever (Spear: 500 ms).
 *
 * Throws `InvalidOption` for an interval below 1 ms (`"400 micros"` would retry every 0 ms),
 * NaN, or infinite.
 *
 * @example
 * ```ts
 * import { Reconnect } from "@redial/core"
 *
 * const spear = Reconnect.fixed("500 millis")
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const fixed: (interval: Duration.DurationInput) => Schedule.Schedule<Duration.Duration> = internal.fixed

/**
 * Never retry, and never reconnect: the first failed attempt, and also the loss of a live
 * connection however long it lived, closes the connection (`Closed` with reason
 * `PolicyExhausted`); `connect` starts it again. DBConnection's `stop`, whose connection process
 * stops on a disconnect.
 *
 * @since 0.1.0
 * @category constructors
 */
export const stop: Schedule.Schedule<Duration.Duration> = internal.stop

/**
 * The default policy: `randomExponential()` (1 s to 30 s), as DBConnection.
 *
 * @since 0.1.0
 * @category constructors
 */
export const defaultPolicy: Schedule.Schedule<Duration.Duration> = internal.randomExponential()

/**
 * At most `attempts` retries: with `limit(policy, 5)`, the connection makes the first attempt
 * and 5 more, then gives up (`Closed` with reason `PolicyExhausted`). Counted as
 * `Schedule.recurs` counts; `limit(policy, 0)` behaves as `stop`.
 *
 * Throws `InvalidOption` when `attempts` is negative or not a whole number (NaN included).
 *
 * @example
 * ```ts
 * import { Reconnect } from "@redial/core"
 *
 * const fiveRetries = Reconnect.limit(Reconnect.exponential(), 5)
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const limit: <Out, In, R>(
  policy: Schedule.Schedule<Out, In, R>,
  attempts: number
) => Schedule.Schedule<Out, In, R> = internal.limit

/**
 * The delays a policy would wait after `failures` consecutive failed attempts (fewer if it gives
 * up earlier). `failures` is a count, or the errors to feed the policy one by one. Uses the
 * current `Random` service, so the result is reproducible under `TestRandom`.
 *
 * @example
 * ```ts
 * import { Reconnect } from "@redial/core"
 * import { Duration, Effect } from "effect"
 *
 * const ms = Reconnect.delays(Reconnect.limit(Reconnect.fixed("500 millis"), 2), 5).pipe(
 *   Effect.map((ds) => ds.map(Duration.toMillis))
 * )
 * Effect.runPromise(ms).then(console.log) // [500, 500]
 * ```
 *
 * @since 0.1.0
 * @category utils
 */
export const delays = <In, R>(
  policy: Schedule.Schedule<unknown, In, R>,
  failures: number | Iterable<In>
): Effect.Effect<Array<Duration.Duration>, never, R> =>
  internal.delays(
    policy,
    typeof failures === "number" ? Array.from({ length: failures }, () => undefined as In) : failures
  )

/**
 * The description of a policy, as read from configuration by {@link config}.
 *
 * @since 0.1.0
 * @category models
 */
export type Options =
  | {
    readonly type: "exponential"
    readonly min?: Duration.DurationInput | undefined
    readonly max?: Duration.DurationInput | undefined
    readonly factor?: number | undefined
    readonly attempts?: number | undefined
  }
  | {
    readonly type: "random"
    readonly min?: Duration.DurationInput | undefined
    readonly max?: Duration.DurationInput | undefined
    readonly attempts?: number | undefined
  }
  | {
    readonly type: "randomExponential"
    readonly min?: Duration.DurationInput | undefined
    readonly max?: Duration.DurationInput | undefined
    readonly attempts?: number | undefined
  }
  | { readonly type: "fixed"; readonly interval: Duration.DurationInput; readonly attempts?: number | undefined }
  | { readonly type: "stop" }

const PolicyType = literal("exponential", "random", "randomExponential", "fixed", "stop")

/**
 * Builds a policy from its description, failing with `InvalidOption` (naming the option)
 * instead of throwing: an unknown `type`, a delay below 1 ms, NaN, `min > max`, a `factor` below
 * 1 or `attempts` that is not a whole number ≥ 0.
 *
 * @example
 * ```ts
 * import { Reconnect } from "@redial/core"
 * import { Either } from "effect"
 *
 * const policy = Reconnect.fromOptions({ type: "exponential", min: "100 millis", attempts: 5 })
 * const bad = Reconnect.fromOptions({ type: "fixed", interval: "400 micros" })
 * // Left(InvalidOption: Invalid option "interval": must be at least 1ms (got 0.4ms)), reason "OutOfRange"
 * Either.isLeft(bad) // true
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromOptions = (options: Options): Either.Either<Schedule.Schedule<Duration.Duration>, InvalidOption> =>
  Either.flatMap(
    decodeOption(PolicyType, options.type, { prefix: "type" }),
    () =>
      Either.try({
        try: () => {
          const base = options.type === "exponential"
            ? exponential(options)
            : options.type === "random"
            ? random(options)
            : options.type === "randomExponential"
            ? randomExponential(options)
            : options.type === "fixed"
            ? fixed(options.interval)
            : stop
          return "attempts" in options && options.attempts !== undefined ? limit(base, options.attempts) : base
        },
        catch: (error) =>
          error instanceof InvalidOption
            ? error
            : new InvalidOption({ option: "options", reason: "Invalid", detail: "cannot be read as a policy" })
      })
  )

// A number as configuration text; anything else stays a string, which the number decoders
// reject without quoting it.
const NUMBER = /^[+-]?(\d+(\.\d*)?|\.\d+)(e[+-]?\d+)?$/i
const toNumber = (text: string): number | string => NUMBER.test(text.trim()) ? Number(text) : text

/**
 * Reads a policy from configuration: `type` (`exponential`, `random`, `randomExponential`,
 * `fixed` or `stop`; default `randomExponential`), `min`, `max`, `factor`, `interval` (for
 * `fixed`) and `attempts` (optional limit). Durations are written as `"500 millis"`,
 * `"2 seconds"`… An invalid value fails with a `ConfigError` (`InvalidData`, or `MissingData` for
 * a `fixed` policy without `interval`) at its key, whose message is that of the
 * `InvalidOption` (`Invalid option "min": must be at least 1ms (got 0.4ms)`) and never quotes
 * the configured text; an unknown `type` is such an error too, so a typo never gives the default.
 * The keys are read as the `ConfigProvider` names them: from the environment by default, with
 * the path joined by `_` and its case kept (`RECONNECT_type` for `Config.nested(config,
 * "RECONNECT")`); `ConfigProvider.constantCase` makes that `RECONNECT_TYPE`.
 *
 * @example
 * ```ts
 * import { Reconnect } from "@redial/core"
 * import { Config, ConfigProvider, Duration, Effect } from "effect"
 *
 * // The default ConfigProvider reads the environment, the path joined with "_" and its case kept:
 * // RECONNECT_type=exponential RECONNECT_min="100 millis" RECONNECT_attempts=5
 * const policy = Config.nested(Reconnect.config, "RECONNECT")
 *
 * // With ConfigProvider.constantCase it reads RECONNECT_TYPE, RECONNECT_MIN, RECONNECT_ATTEMPTS …
 * const program = Effect.gen(function*() {
 *   const schedule = yield* policy
 *   return (yield* Reconnect.delays(schedule, 3)).map(Duration.toMillis)
 * }).pipe(Effect.withConfigProvider(ConfigProvider.fromEnv().pipe(ConfigProvider.constantCase)))
 *
 * // RECONNECT_TYPE=fixed RECONNECT_INTERVAL="1 second" → [1000, 1000, 1000];
 * // none set → the default policy; RECONNECT_TYPE=fixd → ConfigError at RECONNECT.type
 * Effect.runPromise(program).then(console.log)
 * ```
 *
 * @since 0.1.0
 * @category config
 */
export const config: Config.Config<Schedule.Schedule<Duration.Duration>> = Config.all({
  type: Config.option(Config.string("type")),
  min: Config.option(Config.string("min")),
  max: Config.option(Config.string("max")),
  factor: Config.option(Config.string("factor")),
  interval: Config.option(Config.string("interval")),
  attempts: Config.option(Config.string("attempts"))
}).pipe(
  Config.mapOrFail(({ attempts, factor, interval, max, min, type }) => {
    const text = (value: Option.Option<string>) => Option.getOrUndefined(value)
    const number = (value: Option.Option<string>) => Option.getOrUndefined(Option.map(value, toNumber))
    const typeName = text(type) ?? "randomExponential"
    if (typeName === "fixed" && Option.isNone(interval)) {
      return Either.left(
        ConfigError.MissingData(["interval"], `Invalid option "interval": is required for a fixed policy`)
      )
    }
    // The decoders check every value, whatever its type: the casts only say which keys there are.
    const described = {
      type: typeName,
      min: text(min),
      max: text(max),
      factor: number(factor),
      interval: text(interval),
      attempts: number(attempts)
    } as unknown as Options
    return Either.mapLeft(
      fromOptions(described),
      (error) => ConfigError.InvalidData([error.option], error.message)
    )
  })
)
