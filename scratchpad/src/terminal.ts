/**
 * What the demos share: colours when printing to a terminal, a line for each status, a timeline
 * that stamps each line with the time since the demo started, and how a demo is run.
 */
import type { Connection } from "@redial/core"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import type * as Scope from "effect/Scope"

export const colour = process.stdout.isTTY
  ? { dim: "\x1b[2m", red: "\x1b[31m", green: "\x1b[32m", yellow: "\x1b[33m", cyan: "\x1b[36m", reset: "\x1b[0m" }
  : { dim: "", red: "", green: "", yellow: "", cyan: "", reset: "" }

const causeOf = (cause: unknown): string => cause instanceof Error ? cause.message : String(cause)

/** One line for a connection status. */
export const describeStatus = (status: Connection.Status): string => {
  switch (status._tag) {
    case "Idle":
      return "Idle"
    case "Connecting":
      return `${colour.yellow}Connecting${colour.reset} (attempt ${status.attempt})`
    case "Connected":
      return `${colour.green}Connected${colour.reset} (attempt ${status.attempt})`
    case "Backoff":
      return `${colour.yellow}Backoff${colour.reset} after attempt ${status.attempt}: retry in ${
        Duration.format(status.delay)
      } ${colour.dim}(${causeOf(status.error.cause)})${colour.reset}`
    case "Closed":
      return `${colour.red}Closed${colour.reset} (${status.reason})`
  }
}

/** `say` prints a line stamped with the seconds since the timeline began; `step` a headline. */
export const timeline = Effect.map(Clock.currentTimeMillis, (start) => {
  const say = (line: string) =>
    Effect.flatMap(
      Clock.currentTimeMillis,
      (now) =>
        Effect.sync(() =>
          console.log(`${colour.dim}[${((now - start) / 1000).toFixed(2).padStart(5)}s]${colour.reset} ${line}`)
        )
    )
  const step = (line: string) => say(`${colour.cyan}── ${line}${colour.reset}`)
  return { say, step }
})

/**
 * Runs a demo: at most 30 s, the process's exit code 1 on failure. The demo prints every transition
 * itself, so the connections' own log lines are off; REDIAL_DEMO_LOGS=1 shows them too.
 */
export const runDemo = <E>(program: Effect.Effect<void, E, Scope.Scope>): void => {
  const fiber = Effect.runFork(
    program.pipe(
      Effect.scoped,
      Effect.timeoutFail({ duration: "30 seconds", onTimeout: () => new Error("demo did not finish in 30 s") }),
      Logger.withMinimumLogLevel(process.env["REDIAL_DEMO_LOGS"] === "1" ? LogLevel.Debug : LogLevel.None),
      Effect.provide(Logger.pretty)
    )
  )
  fiber.addObserver((exit) => {
    if (Exit.isFailure(exit)) {
      console.error(exit.cause)
      process.exitCode = 1
    }
  })
}
