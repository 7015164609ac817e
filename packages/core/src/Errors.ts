/**
 * The errors of `@redial/core`. Every one is tagged (`_tag`), yieldable (`yield* new Closed(…)`)
 * and has a message that says what happened and what to do.
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import type * as Connection from "./Connection.js"
import * as status from "./internal/status.js"

/**
 * Why a connection is closed.
 *
 * - `UserClosed`: `close` was called; `connect` starts it again.
 * - `ScopeClosed`: the scope that owned the connection ended; it cannot be started again.
 * - `FatalError`: a connect attempt failed with an error that `isFatal` called fatal.
 * - `PolicyExhausted`: the reconnect policy gave up (e.g. `Reconnect.limit` reached, `Reconnect.stop`).
 *
 * @since 0.1.0
 * @category models
 */
export type CloseReason = status.CloseReason

/**
 * A connect attempt failed. Carries the error of the attempt (`cause`), which attempt it was
 * (counted from 1 since the last successful connect) and the connection's name.
 *
 * @since 0.1.0
 * @category errors
 */
export class ConnectFailed extends Data.TaggedError("ConnectFailed")<{
  readonly connection: string
  readonly attempt: number
  readonly cause: unknown
}> {
  override get message(): string {
    return `Connection "${this.connection}": connect attempt ${this.attempt} failed: ${status.causeMessage(this.cause)}`
  }
}

/**
 * The connection is closed and will not reconnect by itself. `reason` says why; `error` is the
 * failed attempt that closed it (for `FatalError` and `PolicyExhausted`).
 *
 * @since 0.1.0
 * @category errors
 */
export class Closed extends Data.TaggedError("Closed")<{
  readonly connection: string
  readonly reason: CloseReason
  readonly error?: ConnectFailed | undefined
}> {
  override get message(): string {
    const prefix = `Connection "${this.connection}" is closed`
    switch (this.reason) {
      case "UserClosed":
        return `${prefix}: it was closed by the user; call connect to start it again.`
      case "ScopeClosed":
        return `${prefix}: the scope that owned it has ended; create a new connection.`
      case "FatalError":
        return `${prefix} after a fatal error on attempt ${this.error?.attempt ?? "?"} (${
          status.causeMessage(this.error?.cause)
        }); fix the cause, then call connect to try again.`
      case "PolicyExhausted":
        return `${prefix}: the reconnect policy gave up after ${this.error?.attempt ?? "?"} failed attempts (last: ${
          status.causeMessage(this.error?.cause)
        }); call connect to try again, or use a policy that retries longer.`
    }
  }
}

/**
 * The connection is not connected right now (it is connecting, backing off, or idle). Carries
 * the current status and the last connect error, if any. `await` waits instead of failing.
 *
 * @since 0.1.0
 * @category errors
 */
export class NotConnected extends Data.TaggedError("NotConnected")<{
  readonly connection: string
  readonly status: Connection.Status
  readonly lastError?: ConnectFailed | undefined
}> {
  override get message(): string {
    const last = this.lastError === undefined ? "" : `; last error: ${status.causeMessage(this.lastError.cause)}`
    return `Connection "${this.connection}" is not connected (${
      status.describe(this.status)
    }${last}); use await to wait for it.`
  }
}

/**
 * An operation did not finish in time: `operation` says which (`"connect"`, `"await"`,
 * `"afterConnect"`, `"healthCheck"`, or an adapter's own), `duration` how long it was given.
 *
 * @since 0.1.0
 * @category errors
 */
export class Timeout extends Data.TaggedError("Timeout")<{
  readonly connection: string
  readonly operation: string
  readonly duration: Duration.Duration
}> {
  override get message(): string {
    return `Connection "${this.connection}": ${this.operation} timed out after ${Duration.format(this.duration)}.`
  }
}

/**
 * An option given to a constructor is invalid. `option` names it and `reason` says what is
 * wrong with it. The value itself is described only for numbers and durations, so a secret
 * never ends up in a message.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidOption extends Data.TaggedError("InvalidOption")<{
  readonly option: string
  readonly reason: string
}> {
  override get message(): string {
    return `Invalid option "${this.option}": ${this.reason}`
  }
}
