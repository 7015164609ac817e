/** @internal */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Random from "effect/Random"
import * as Schedule from "effect/Schedule"
import * as ScheduleDecision from "effect/ScheduleDecision"
import * as Interval from "effect/ScheduleInterval"
import * as Intervals from "effect/ScheduleIntervals"
import { InvalidOption } from "../Errors.js"
import { positiveDuration } from "./options.js"

/** @internal */
export const DEFAULT_MIN = 1000
/** @internal */
export const DEFAULT_MAX = 30_000

/**
 * A duration option as whole milliseconds, rejected unless positive and finite.
 * @internal
 */
export const positiveMillis = (option: string, input: Duration.DurationInput): number =>
  Math.round(Duration.toMillis(positiveDuration(option, input, { finite: true })))

/**
 * DBConnection's defaults: only `min` given → `max = max(min, 30 s)`; only `max` given →
 * `min = min(1 s, max)`; `min > max` is an error.
 * @internal
 */
export const minMax = (
  options: { readonly min?: Duration.DurationInput | undefined; readonly max?: Duration.DurationInput | undefined }
): readonly [number, number] => {
  const min = options.min === undefined ? undefined : positiveMillis("min", options.min)
  const max = options.max === undefined ? undefined : positiveMillis("max", options.max)
  const resolvedMin = min ?? Math.min(DEFAULT_MIN, max ?? DEFAULT_MAX)
  const resolvedMax = max ?? Math.max(resolvedMin, DEFAULT_MAX)
  if (resolvedMin > resolvedMax) {
    throw new InvalidOption({
      option: "min",
      reason: "Conflict",
      detail: `must not be greater than max (got min ${resolvedMin} ms, max ${resolvedMax} ms)`
    })
  }
  return [resolvedMin, resolvedMax]
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
  const [min, max] = minMax(options)
  const factor = options.factor ?? 2
  if (!Number.isFinite(factor) || factor < 1) {
    throw new InvalidOption({
      option: "factor",
      reason: "OutOfRange",
      detail: `must be a finite number >= 1 (got ${factor})`
    })
  }
  return fromDelays<number | undefined>(undefined, (prev) => {
    const delay = prev === undefined ? min : Math.min(Math.round(prev * factor), max)
    return Effect.succeed([delay, delay] as const)
  })
}

/** @internal */
export const random = (
  options: { readonly min?: Duration.DurationInput | undefined; readonly max?: Duration.DurationInput | undefined } = {}
): Schedule.Schedule<Duration.Duration> => {
  const [min, max] = minMax(options)
  return fromDelays(undefined, (state) => Effect.map(rand(min, max), (delay) => [state, delay] as const))
}

/** @internal */
export const randomExponential = (
  options: { readonly min?: Duration.DurationInput | undefined; readonly max?: Duration.DurationInput | undefined } = {}
): Schedule.Schedule<Duration.Duration> => {
  const [min, max] = minMax(options)
  const lower = Math.max(min, Math.floor(max / 3))
  return fromDelays(min, (prev) =>
    Effect.map(
      rand(Math.min(prev, lower), Math.min(prev * 3, max)),
      (delay) => [delay, delay] as const
    ))
}

/** @internal */
export const fixed = (interval: Duration.DurationInput): Schedule.Schedule<Duration.Duration> => {
  const delay = positiveMillis("interval", interval)
  return fromDelays(undefined, (state) => Effect.succeed([state, delay] as const))
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
  if (!Number.isSafeInteger(attempts) || attempts < 0) {
    throw new InvalidOption({
      option: "attempts",
      reason: "OutOfRange",
      detail: `must be a whole number >= 0 (got ${attempts})`
    })
  }
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
