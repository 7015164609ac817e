/**
 * What the connect-path tests check over and over: a pool made with `awaitConnected` that a fatal
 * connect error closes (`Closed`, reason `FatalError`, the `PgError` inside), the log lines of a
 * run (captured by a test Logger, every level), that no text shown to anyone holds a password,
 * and polling of state outside the process.
 */
import type { Closed } from "@redial/core"
import { Reconnect } from "@redial/core"
import type { Duration } from "effect"
import { Cause, Effect, HashMap, Layer, Logger, LogLevel } from "effect"
import type * as Scope from "effect/Scope"
import { expect } from "vitest"
import { PgError, PgPool } from "../../src/index.js"

/** A logger that keeps every line (level, message, annotations, cause) of the effects it is provided to. */
export const captureLogs = () => {
  const lines: Array<string> = []
  const logger = Logger.make(({ annotations, cause, logLevel, message }) => {
    const text = Array.isArray(message) ? message.map(String).join(" ") : String(message)
    const annotated = [...HashMap.entries(annotations)]
      .map(([key, value]) => `${key}=${typeof value === "string" ? value : JSON.stringify(value)}`)
      .join(" ")
    lines.push(`${logLevel.label} ${text} ${annotated}${Cause.isEmpty(cause) ? "" : ` ${Cause.pretty(cause)}`}`)
  })
  return {
    lines: lines as ReadonlyArray<string>,
    layer: Layer.merge(Logger.replace(Logger.defaultLogger, logger), Logger.minimumLogLevel(LogLevel.All))
  }
}

/**
 * The failure of `self`; a success dies with a plain message. (A failed expectation on a pg
 * result, a pool or an Effect-wrapped error can keep vitest busy formatting it for minutes.)
 */
export const failureOf = <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<E, never, R> =>
  Effect.flatMap(
    Effect.either(self),
    (result) =>
      result._tag === "Left" ? Effect.succeed(result.left) : Effect.dieMessage("expected a failure, got a success")
  )

const shown = [
  "_tag",
  "reason",
  "code",
  "condition",
  "severity",
  "operation",
  "kind",
  "tlsVerification",
  "text"
] as const

/** The plain fields of an error, for an expectation whose failure prints only those. */
export const fieldsOf = (value: unknown): Record<string, unknown> => {
  if (typeof value !== "object" || value === null) return { value: String(value) }
  const record = value as Record<string, unknown>
  const out: Record<string, unknown> = {}
  for (const key of shown) if (record[key] !== undefined) out[key] = record[key]
  return out
}

/** JSON of anything; a value met twice (a TLS error's certificate chain is circular) is written once. */
export const safeJson = (value: unknown): string => {
  const seen = new WeakSet<object>()
  return JSON.stringify(value, (_key, v: unknown) => {
    if (typeof v === "bigint") return v.toString()
    if (typeof v !== "object" || v === null) return v
    if (seen.has(v)) return "[seen]"
    seen.add(v)
    return v
  }) ?? ""
}

/** Every way an error is shown: String, message, JSON, and the same for the error inside. */
export const renderings = (error: unknown): Array<string> => {
  const out: Array<string> = []
  let current: unknown = error
  for (let depth = 0; depth < 4 && current !== undefined && current !== null; depth++) {
    out.push(String(current))
    if (current instanceof Error) out.push(current.message, current.stack ?? "")
    out.push(safeJson(current))
    current = (current as { error?: unknown; cause?: unknown }).error ?? (current as { cause?: unknown }).cause
  }
  return out
}

/** No text holds `secret`. */
export const expectNoSecret = (texts: ReadonlyArray<string>, secret: string): void => {
  expect(secret.length).toBeGreaterThan(8)
  for (const text of texts) expect(text).not.toContain(secret)
}

/**
 * Makes a pool (size 2 by default, a fast fixed policy that would show a retry loop at once)
 * with `awaitConnected`, which must fail with `Closed` / `FatalError`; returns that error, the
 * `PgError` of the attempt that closed it, the log lines and how long it took.
 */
export const expectFatal = (
  options: PgPool.Options,
  expected: { readonly reason: PgError.Reason; readonly code?: string | undefined }
): Effect.Effect<
  { closed: Closed; error: PgError.PgError; logs: ReadonlyArray<string>; elapsed: Duration.Duration },
  never,
  Scope.Scope
> =>
  Effect.gen(function*() {
    const logs = captureLogs()
    const [elapsed, failure] = yield* Effect.timed(
      failureOf(
        Effect.scoped(PgPool.make({
          size: 2,
          policy: Reconnect.fixed("50 millis"),
          minUptime: "1 millis",
          ...options,
          awaitConnected: true
        }))
      ).pipe(Effect.provide(logs.layer))
    )
    expect(failure._tag).toBe("Closed")
    const closed = failure as Closed
    expect(fieldsOf(closed)).toMatchObject({ reason: "FatalError", kind: "Pool" })
    const error = closed.error?.cause
    expect(fieldsOf(error)).toMatchObject({ _tag: "PgError" })
    expect(error instanceof PgError.PgError).toBe(true)
    const pgError = error as PgError.PgError
    expect(pgError.reason).toBe(expected.reason)
    if (expected.code !== undefined) expect(pgError.code).toBe(expected.code)
    expect(pgError.operation).toBe("connect")
    expect(pgError.fatal).toBe(true)
    expect(pgError.retryable).toBe(false)
    // a clear reason: the pool's message says it stopped on a fatal error, and what the server said
    expect(closed.message).toContain("fatal error")
    expect(closed.message).toContain(pgError.code ?? pgError.reason)
    // the give-up is logged at Error, with the error
    expect(logs.lines.some((line) => line.startsWith("ERROR") && line.includes(pgError.text))).toBe(true)
    return { closed, error: pgError, logs: logs.lines, elapsed }
  })

/**
 * Polls state outside this process (a server's counts, a log), which sends no events, every
 * `interval` until `predicate` holds; dies after `timeout`.
 */
export const eventually = <A>(
  self: Effect.Effect<A, unknown>,
  predicate: (a: A) => boolean,
  timeout: Duration.DurationInput = "10 seconds",
  interval: Duration.DurationInput = "20 millis"
): Effect.Effect<A> =>
  Effect.gen(function*() {
    let last = yield* self
    while (!predicate(last)) {
      yield* Effect.sleep(interval)
      last = yield* self
    }
    return last
  }).pipe(
    Effect.timeoutFail({ duration: timeout, onTimeout: () => new Error("the condition did not hold in time") }),
    Effect.orDie
  )
