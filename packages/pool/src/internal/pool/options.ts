/**
 * The pool's options, decoded once into plain numbers (milliseconds) for the hot paths.
 *
 * @internal
 */
import { InvalidOption, Options } from "@redial/core"
import * as Duration from "effect/Duration"
import type * as Driver from "../../Driver.js"
import type * as Pool from "../../Pool.js"

/**
 * The largest pool. A slot costs about 42 KB (its connection manager, fiber and state) before its
 * driver's connection; beyond this a typo (`size: 1e9`) would exhaust memory before it failed.
 *
 * @internal
 */
export const MAX_SIZE = 10_000

/** @internal */
export interface Settings {
  readonly name: string
  readonly size: number
  /** CoDel's target wait and interval. */
  readonly target: number
  readonly interval: number
  readonly queue: boolean
  /** A request's deadline, from the request, queue time included. */
  readonly timeout: number
  readonly idleInterval: number
  readonly pingTimeout: number
  /** Connections are replaced after a lifetime drawn in [min, max]. */
  readonly lifetime: readonly [number, number] | undefined
  readonly leakTimeout: number | undefined
}

const millis = (option: string, input: Duration.DurationInput): number =>
  Duration.toMillis(Options.positiveDuration(option, input, { finite: true }))

const lifetimeOf = (range: Pool.Options<Driver.Types>["maxLifetime"]): readonly [number, number] | undefined => {
  if (range === undefined) return undefined
  if (typeof range === "object" && range !== null && "min" in range) {
    const min = millis("maxLifetime.min", range.min)
    const max = millis("maxLifetime.max", range.max)
    if (min > max) {
      throw new InvalidOption({
        option: "maxLifetime",
        reason: "Conflict",
        detail: `min must not be greater than max (${min} ms > ${max} ms)`
      })
    }
    return [min, max]
  }
  const exact = millis("maxLifetime", range as Duration.DurationInput)
  return [exact, exact]
}

/**
 * Decodes the options; throws `InvalidOption` naming the option (the caller makes it a typed
 * failure).
 *
 * @internal
 */
export const settings = <T extends Driver.Types>(options: Pool.Options<T>): Settings => {
  const size = options.size ?? 1
  if (!Number.isSafeInteger(size) || size < 1 || size > MAX_SIZE) {
    throw new InvalidOption({
      option: "size",
      reason: Number.isSafeInteger(size) ? "OutOfRange" : "Invalid",
      detail: `must be a whole number from 1 to ${MAX_SIZE} (got ${size})`
    })
  }
  const name = options.name ?? "pool"
  if (name.length === 0) throw new InvalidOption({ option: "name", reason: "Missing", detail: "must not be empty" })
  const idleInterval = millis("idleInterval", options.idleInterval ?? 1000)
  return {
    name,
    size,
    target: millis("queueTarget", options.queueTarget ?? 50),
    interval: millis("queueInterval", options.queueInterval ?? 2000),
    queue: options.queue ?? true,
    timeout: millis("timeout", options.timeout ?? 15_000),
    idleInterval,
    pingTimeout: options.pingTimeout === undefined ? idleInterval : millis("pingTimeout", options.pingTimeout),
    lifetime: lifetimeOf(options.maxLifetime),
    leakTimeout: options.leakTimeout === undefined ? undefined : millis("leakTimeout", options.leakTimeout)
  }
}
