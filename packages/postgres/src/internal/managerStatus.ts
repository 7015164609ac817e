/**
 * The manager's status and its `NotReady` error, apart from the manager so that both the public
 * module and the implementation import them without a cycle.
 *
 * @internal
 */
import type { CloseReason, InvalidOption } from "@redial/core"
import { ConnectFailed, RedialError } from "@redial/core"
import * as Cause from "effect/Cause"
import * as Data from "effect/Data"
import type { PgError } from "../PgError.js"

/** @internal */
export type Status = Data.TaggedEnum<{
  // eslint-disable-next-line @typescript-eslint/no-empty-object-type -- Data.TaggedEnum's way to say "no fields"
  Waiting: {}
  // eslint-disable-next-line @typescript-eslint/no-empty-object-type -- Data.TaggedEnum's way to say "no fields"
  Starting: {}
  // eslint-disable-next-line @typescript-eslint/no-empty-object-type -- Data.TaggedEnum's way to say "no fields"
  Active: {}
  Closed: { readonly reason: CloseReason; readonly error?: PgError | InvalidOption | undefined }
}>

/** @internal */
export const Status = Data.taggedEnum<Status>()

/** A short, human description of a status. @internal */
export const describeStatus = (status: Status): string => {
  switch (status._tag) {
    case "Waiting":
      return "waiting for the lock"
    case "Starting":
      return "starting: the lock is held, the pool is not up yet"
    case "Active":
      return "active"
    case "Closed":
      return `closed (${status.reason})`
  }
}

/** An error's message, without its stack. @internal */
export const describeError = (error: unknown): string => {
  if (error instanceof ConnectFailed) return `attempt ${error.attempt} failed: ${describeError(error.cause)}`
  if (Cause.isCause(error)) {
    const failure = Cause.squash(error)
    return Cause.isInterruptedOnly(error) ? "interrupted" : describeError(failure)
  }
  if (error instanceof Error) return error.message
  return String(error)
}

/** @internal */
export class NotReady extends RedialError("NotReady")<{
  readonly manager: string
  readonly what: "pool" | "serverVersion"
  readonly status: Status
  readonly lastError?: ConnectFailed | undefined
}> {
  override get message(): string {
    const what = this.what === "pool" ? "has no pool" : "does not know the server's version"
    const last = this.lastError === undefined ? "" : `; last error: ${describeError(this.lastError)}`
    return `PgManager "${this.manager}" ${what} yet (${describeStatus(this.status)}${last}); ` +
      `use awaitActive to wait for it.`
  }
}
