/**
 * Under `exactOptionalPropertyTypes`, an option field typed `x?: T` rejects `{ x: maybeT }` where
 * `maybeT: T | undefined` (TS2379), as Effect's own APIs do not. This file is typechecked by
 * `npm run check`: each call below fails to compile unless its option fields accept an explicit
 * `undefined`; the tests check that `undefined` means "absent" (the default) at run time.
 */
import { describe, expect, it } from "@effect/vitest"
import { TestConnector } from "@redial/testing"
import { Context, Duration, Effect, Either, Layer } from "effect"
import type { Schedule } from "effect"
import { Connection, Reconnect } from "../src/index.js"

// Values whose type includes undefined, as read from optional configuration.
const maybe = <A>(_: A): A | undefined => undefined
const maybeDuration = maybe<Duration.DurationInput>("1 second")
const maybeNumber = maybe(2)
const maybeBoolean = maybe(true)
const maybeString = maybe("name")
const maybePolicy = maybe<Schedule.Schedule<unknown, unknown>>(Reconnect.stop)

describe("options accept an explicit undefined", () => {
  it.scoped("Connection.make: every optional field undefined gives the defaults", () =>
    Effect.gen(function*() {
      const connector = yield* TestConnector.make()
      const conn = yield* Connection.make({
        acquire: connector.acquire,
        config: undefined,
        configure: undefined,
        lost: undefined,
        policy: maybePolicy,
        minUptime: maybeDuration,
        connectTimeout: maybeDuration,
        autoConnect: maybeBoolean,
        isFatal: undefined,
        afterConnect: undefined,
        afterConnectTimeout: maybeDuration,
        healthCheck: undefined,
        name: maybeString,
        awaitConnected: maybeBoolean
      })
      expect(conn.name).toBe("connection")
      // autoConnect: undefined is the default, true
      expect((yield* conn.status)._tag).not.toBe("Idle")
      expect((yield* conn.await({ timeout: maybeDuration })).id).toBe(1)
      expect(yield* conn.use((c) => Effect.succeed(c.id), { timeout: maybeDuration, isTransportError: undefined }))
        .toBe(1)
    }))

  it.scoped("healthCheck.timeout and the awaitConnected timeout", () =>
    Effect.gen(function*() {
      const connector = yield* TestConnector.make()
      const conn = yield* Connection.make({
        acquire: connector.acquire,
        healthCheck: { interval: "1 second", timeout: maybeDuration, check: () => Effect.void },
        awaitConnected: { timeout: maybeDuration }
      })
      expect((yield* conn.status)._tag).toBe("Connected")
    }))

  it("Connection.layer", () => {
    class Answer extends Context.Tag("Answer")<Answer, Connection.Connection<number>>() {}
    const layer = Connection.layer(Answer, { acquire: Effect.succeed(42), name: maybeString, policy: undefined })
    expect(Layer.isLayer(layer)).toBe(true)
  })

  it("Reconnect's option objects", () => {
    expect(Reconnect.exponential({ min: maybeDuration, max: maybeDuration, factor: maybeNumber })).toBeDefined()
    expect(Reconnect.random({ min: maybeDuration, max: maybeDuration })).toBeDefined()
    expect(Reconnect.randomExponential({ min: maybeDuration, max: undefined })).toBeDefined()
    const options: Array<Reconnect.Options> = [
      { type: "exponential", min: maybeDuration, max: maybeDuration, factor: maybeNumber, attempts: maybeNumber },
      { type: "random", min: maybeDuration, max: maybeDuration, attempts: maybeNumber },
      { type: "randomExponential", min: maybeDuration, max: maybeDuration, attempts: maybeNumber },
      { type: "fixed", interval: "1 second", attempts: maybeNumber }
    ]
    for (const option of options) expect(Either.isRight(Reconnect.fromOptions(option))).toBe(true)
  })

  it.effect("an undefined factor and attempts are the defaults: 1 s, 2 s, 4 s … for ever", () =>
    Effect.gen(function*() {
      const policy = Reconnect.fromOptions({ type: "exponential", factor: undefined, attempts: undefined })
      expect(Either.isRight(policy)).toBe(true)
      if (Either.isLeft(policy)) return
      const delays = yield* Reconnect.delays(policy.right, 4)
      expect(delays.map(Duration.toMillis)).toEqual([1000, 2000, 4000, 8000])
    }))
})
