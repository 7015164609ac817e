/** @internal */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Random from "effect/Random"
import * as Schedule from "effect/Schedule"
import * as ScheduleDecision from "effect/ScheduleDecision"
import * as Interval from "effect/ScheduleInterval"
import * as Intervals from "effect/ScheduleIntervals"
import * as Schema from "effect/Schema"
import * as Options from "../Options.js"
import * as internalOptions from "./options.js"

/** @internal */
export const DEFAULT_MIN = 1000
/** @internal */
export const DEFAULT_MAX = 30_000

/**
 * A delay: at least 1 ms (timers round anything shorter to 0, which would retry in a hot loop),
 * finite.
 * @internal
 */
export const delay = Options.duration({ min: "1 millis" })

const bounds = {
  min: Schema.optional(delay),
  max: Schema.optional(delay)
}

// DBConnection's defaults: only `min` given → `max = max(min, 30 s)`; only `max` given →
// `min = min(1 s, max)`; so `min > max` is possible only when both are given.
const noConflict = <
  A extends { readonly min?: Duration.Duration | undefined; readonly max?: Duration.Duration | undefined },
  I
>(
  self: Schema.Schema<A, I>
): Schema.Schema<A, I> =>
  Options.check(({ max, min }: A) =>
    min !== undefined && max !== undefined && Duration.greaterThan(min, max)
      ? {
        reason: "Conflict",
        option: "min",
        detail: `must not be greater than max (got min ${internalOptions.formatDuration(min)}, max ${
          internalOptions.formatDuration(max)
        })`
      }
      : undefined
  )(self)

/** @internal */
export const Bounds = Schema.Struct(bounds).pipe(noConflict)

/** @internal */
export const ExponentialOptions = Schema.Struct({
  ...bounds,
  factor: Schema.optional(Options.number({ min: 1 }))
}).pipe(noConflict)

/** @internal */
export const Attempts = Options.integer({ min: 0 })

const millis = (duration: Duration.Duration): number => Math.round(Duration.toMillis(duration))

/**
 * The bounds in whole milliseconds, with DBConnection's defaults.
 * @internal
 */
export const minMax = (
  options: { readonly min?: Duration.Duration | undefined; readonly max?: Duration.Duration | undefined }
): readonly [number, number] => {
  const min = options.min === undefined ? undefined : millis(options.min)
  const max = options.max === undefined ? undefined : millis(options.max)
  const resolvedMin = min ?? Math.min(DEFAULT_MIN, max ?? DEFAULT_MAX)
  return [resolvedMin, max ?? Math.max(resolvedMin, DEFAULT_MAX)]
}

/**
 * A schedule of delays computed from a state: every recurrence continues after `delay` ms and
 * outputs that delay. The input (the connect error) is ignored.
 * @internal
 */
export const fromDelays = <S>(
  initial: S,
  next: (state: S) => Effect.Effect<readonly [S, number]>
): Schedule.Schedule<Duration.Duration> =>
  Schedule.makeWithState(initial, (now, _input: unknown, state: S) =>
    Effect.map(next(state), ([nextState, delay]) =>
      [
        nextState,
        Duration.millis(delay),
        ScheduleDecision.continueWith(Interval.after(now + delay))
      ] as const))

/** Uniform integer in [min, max], as DBConnection's `rand(min, max)`. @internal */
const rand = (min: number, max: number): Effect.Effect<number> => Random.nextIntBetween(min, max + 1)

/** @internal */
export const exponential = (
  options: {
    readonly min?: Duration.DurationInput | undefined
    readonly max?: Duration.DurationInput | undefined
    readonly factor?: number | undefined
  } = {}
): Schedule.Schedule<Duration.Duration> => {
  const decoded = Options.decodeSync(ExponentialOptions, options)
  const [min, max] = minMax(decoded)
  const factor = decoded.factor ?? 2
  return fromDelays<number | undefined>(undefined, (prev) => {
    const delay = prev === undefined ? min : Math.min(Math.round(prev * factor), max)
    return Effect.succeed([delay, delay] as const)
  })
}

/** @internal */
export const random = (
  options: { readonly min?: Duration.DurationInput | undefined; readonly max?: Duration.DurationInput | undefined } = {}
): Schedule.Schedule<Duration.Duration> => {
  const [min, max] = minMax(Options.decodeSync(Bounds, options))
  return fromDelays(undefined, (state) => Effect.map(rand(min, max), (delay) => [state, delay] as const))
}

/** @internal */
export const randomExponential = (
  options: { readonly min?: Duration.DurationInput | undefined; readonly max?: Duration.DurationInput | undefined } = {}
): Schedule.Schedule<Duration.Duration> => {
  const [min, max] = minMax(Options.decodeSync(Bounds, options))
  const lower = Math.max(min, Math.floor(max / 3))
  return fromDelays(min, (prev) =>
    Effect.map(
      rand(Math.min(prev, lower), Math.min(prev * 3, max)),
      (delay) => [delay, delay] as const
    ))
}

/** @internal */
export const fixed = (interval: Duration.DurationInput): Schedule.Schedule<Duration.Duration> => {
  const ms = millis(Options.decodeSync(delay, interval, { prefix: "interval" }))
  return fromDelays(undefined, (state) => Effect.succeed([state, ms] as const))
}

/** @internal */
export const stop: Schedule.Schedule<Duration.Duration> = Schedule.makeWithState(
  undefined,
  (_now, _input: unknown, state) => Effect.succeed([state, Duration.zero, ScheduleDecision.done] as const)
)

/** @internal */
export const limit = <Out, In, R>(
  policy: Schedule.Schedule<Out, In, R>,
  attempts: number
): Schedule.Schedule<Out, In, R> => {
  Options.decodeSync(Attempts, attempts, { prefix: "attempts" })
  return Schedule.map(Schedule.intersect(policy, Schedule.recurs(attempts)), ([out]) => out)
}

/**
 * What a policy does after a failed attempt: wait `delay`, or give up.
 * @internal
 */
export type Step<S> =
  | { readonly _tag: "Continue"; readonly state: S; readonly delay: Duration.Duration }
  | { readonly _tag: "Done" }

/**
 * One step of a policy at `now`, as the connection manager drives it: the delay is the time
 * from `now` to the start of the next interval the schedule allows.
 * @internal
 */
export const step = <In, R>(
  policy: Schedule.Schedule<unknown, In, R>,
  now: number,
  input: In,
  state: unknown
): Effect.Effect<Step<unknown>, never, R> =>
  Effect.map(policy.step(now, input, state), ([next, _out, decision]) =>
    ScheduleDecision.isDone(decision)
      ? { _tag: "Done" as const }
      : {
        _tag: "Continue" as const,
        state: next,
        delay: Duration.millis(Math.max(0, Intervals.start(decision.intervals) - now))
      })

/** @internal */
export const delays = <In, R>(
  policy: Schedule.Schedule<unknown, In, R>,
  inputs: Iterable<In>
): Effect.Effect<Array<Duration.Duration>, never, R> =>
  Effect.gen(function*() {
    const out: Array<Duration.Duration> = []
    let state: unknown = policy.initial
    let now = 0
    for (const input of inputs) {
      const next = yield* step(policy, now, input, state)
      if (next._tag === "Done") break
      out.push(next.delay)
      now += Duration.toMillis(next.delay)
      state = next.state
    }
    return out
  })
