/**
 * The pool's options, decoded once with core's `Options` (a typed `InvalidOption` naming the
 * option for any bad value) into plain numbers (milliseconds) for the hot paths.
 *
 * @internal
 */
import { Options } from "@redial/core"
import * as Duration from "effect/Duration"
import * as Schema from "effect/Schema"
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
  /** How long `make` waits for a slot to serve (ms, may be Infinity); `undefined`: it does not wait. */
  readonly awaitConnected: number | undefined
}

const delay = Options.duration({ min: "1 millis" })

const millis = (fallback: number) => Schema.optionalWith(delay, { default: () => Duration.millis(fallback) })

const Lifetime = Schema.Union(
  Schema.Struct({ min: delay, max: delay }).pipe(
    Options.check(({ max, min }) =>
      Duration.greaterThan(min, max)
        ? {
          reason: "Conflict",
          detail: `min must not be greater than max (${Duration.format(min)} > ${Duration.format(max)})`
        }
        : undefined
    )
  ),
  delay
)

const Decoded = Schema.Struct({
  name: Schema.optionalWith(Options.nonEmptyString, { default: () => "pool" }),
  size: Schema.optionalWith(Options.integer({ min: 1, max: MAX_SIZE }), { default: () => 1 }),
  queueTarget: millis(50),
  queueInterval: millis(2000),
  queue: Schema.optionalWith(Options.boolean, { default: () => true }),
  timeout: millis(15_000),
  idleInterval: millis(1000),
  pingTimeout: Schema.optional(delay),
  maxLifetime: Schema.optional(Lifetime),
  leakTimeout: Schema.optional(delay),
  // Only for awaitConnected's default: the slots' managers decode (and check) it themselves.
  connectTimeout: Schema.optionalWith(Options.duration({ finite: false }), { default: () => Duration.seconds(15) }),
  // `true` is decoded as `{}`, so a bad timeout is named `awaitConnected.timeout`.
  awaitConnected: Schema.optional(Schema.Struct({ timeout: Schema.optional(Options.duration({ finite: false })) }))
})

/**
 * Decodes the options; throws `InvalidOption` naming the option (the caller makes it a typed
 * failure).
 *
 * @internal
 */
export const settings = <T extends Driver.Types>(options: Pool.Options<T>): Settings => {
  const decoded = Options.decodeSync(Decoded, {
    ...(options.name === undefined ? {} : { name: options.name }),
    ...(options.size === undefined ? {} : { size: options.size }),
    ...(options.queueTarget === undefined ? {} : { queueTarget: options.queueTarget }),
    ...(options.queueInterval === undefined ? {} : { queueInterval: options.queueInterval }),
    ...(options.queue === undefined ? {} : { queue: options.queue }),
    ...(options.timeout === undefined ? {} : { timeout: options.timeout }),
    ...(options.idleInterval === undefined ? {} : { idleInterval: options.idleInterval }),
    ...(options.pingTimeout === undefined ? {} : { pingTimeout: options.pingTimeout }),
    ...(options.maxLifetime === undefined ? {} : { maxLifetime: options.maxLifetime }),
    ...(options.leakTimeout === undefined ? {} : { leakTimeout: options.leakTimeout }),
    ...(options.connectTimeout === undefined ? {} : { connectTimeout: options.connectTimeout }),
    ...(options.awaitConnected === undefined || options.awaitConnected === false
      ? {}
      : {
        awaitConnected: options.awaitConnected === true
          ? {}
          : typeof options.awaitConnected === "object" && options.awaitConnected !== null
          ? { timeout: options.awaitConnected.timeout }
          // Anything else (a string from untyped config) is decoded as it is, and rejected.
          : options.awaitConnected as never
      })
  })
  const ms = Duration.toMillis
  const lifetime = decoded.maxLifetime
  const idleInterval = ms(decoded.idleInterval)
  return {
    name: decoded.name,
    size: decoded.size,
    target: ms(decoded.queueTarget),
    interval: ms(decoded.queueInterval),
    queue: decoded.queue,
    timeout: ms(decoded.timeout),
    idleInterval,
    pingTimeout: decoded.pingTimeout === undefined ? idleInterval : ms(decoded.pingTimeout),
    lifetime: lifetime === undefined
      ? undefined
      : Duration.isDuration(lifetime)
      ? [ms(lifetime), ms(lifetime)]
      : [ms(lifetime.min), ms(lifetime.max)],
    leakTimeout: decoded.leakTimeout === undefined ? undefined : ms(decoded.leakTimeout),
    awaitConnected: decoded.awaitConnected === undefined
      ? undefined
      : ms(decoded.awaitConnected.timeout ?? decoded.connectTimeout)
  }
}
