/** @internal */
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import type * as Errors from "../Errors.js"

/** @internal */
export type CloseReason = "UserClosed" | "ScopeClosed" | "FatalError" | "PolicyExhausted"

/** @internal */
export type Status = Data.TaggedEnum<{
  // eslint-disable-next-line @typescript-eslint/no-empty-object-type -- Data.TaggedEnum's way to say "no fields"
  Idle: {}
  Connecting: { readonly attempt: number }
  Connected: { readonly attempt: number }
  Backoff: { readonly attempt: number; readonly delay: Duration.Duration; readonly error: Errors.ConnectFailed }
  Closed: { readonly reason: CloseReason; readonly error?: Errors.ConnectFailed | undefined }
}>

/** @internal */
export const Status = Data.taggedEnum<Status>()

/** @internal */
export const statusCode = (status: Status): number => {
  switch (status._tag) {
    case "Idle":
      return 0
    case "Connecting":
      return 1
    case "Connected":
      return 2
    case "Backoff":
      return 3
    case "Closed":
      return 4
  }
}

/** @internal */
export const describeReason = (reason: CloseReason): string => {
  switch (reason) {
    case "UserClosed":
      return "closed by the user"
    case "ScopeClosed":
      return "its scope ended"
    case "FatalError":
      return "a fatal error"
    case "PolicyExhausted":
      return "the reconnect policy gave up"
  }
}

/** A short, human description of a status, for messages and logs. @internal */
export const describe = (status: Status): string => {
  switch (status._tag) {
    case "Idle":
      return "idle (not started)"
    case "Connecting":
      return `connecting (attempt ${status.attempt})`
    case "Connected":
      return "connected"
    case "Backoff":
      return `backing off after attempt ${status.attempt}, next attempt in ${Duration.format(status.delay)}`
    case "Closed":
      return `closed (${describeReason(status.reason)})`
  }
}

/**
 * The message of an unknown cause, without its stack: the part of an error that is safe and
 * useful in a one-line message.
 *
 * @internal
 */
export const causeMessage = (cause: unknown): string => {
  if (typeof cause === "object" && cause !== null) {
    if ("message" in cause && typeof cause.message === "string" && cause.message.length > 0) {
      return "_tag" in cause && typeof cause._tag === "string" && !cause.message.includes(cause._tag)
        ? `${cause._tag}: ${cause.message}`
        : cause.message
    }
    if ("_tag" in cause && typeof cause._tag === "string") return cause._tag
    if ("code" in cause && typeof cause.code === "string") return cause.code
  }
  if (typeof cause === "string") return cause
  return String(cause)
}

/**
 * The last connect error in a message: a `ConnectFailed` as "attempt N failed: <its cause>", with
 * its connection's name when that is not `name` (a pool's slot: `"orders[0]" attempt 3 failed: …`);
 * anything else as {@link causeMessage}.
 *
 * @internal
 */
export const lastErrorMessage = (error: unknown, name: string): string => {
  if (
    typeof error === "object" && error !== null && "_tag" in error && error._tag === "ConnectFailed" &&
    "attempt" in error && "cause" in error && "connection" in error
  ) {
    const who = error.connection === name ? "" : `"${String(error.connection)}" `
    return `${who}attempt ${String(error.attempt)} failed: ${causeMessage(error.cause)}`
  }
  return causeMessage(error)
}
