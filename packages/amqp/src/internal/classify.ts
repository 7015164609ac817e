/**
 * amqplib's errors, read into reasons. amqplib puts the broker's reply in its messages only:
 *
 * - `Handshake terminated by server: 403 (ACCESS-REFUSED) with message "ACCESS_REFUSED - …"`
 * - `Connection closed: 320 (CONNECTION-FORCED) with message "CONNECTION_FORCED - …"`
 * - `Channel closed by server: 404 (NOT-FOUND) with message "NOT_FOUND - no exchange 'x' …"`
 * - `Operation failed: QueueDeclare; 406 (PRECONDITION-FAILED) with message "…"`
 * - `Expected ConnectionOpenOk; got <ConnectionClose channel:0>`: the broker closed the
 *   connection during `connection.open`, which RabbitMQ does for an unknown virtual host (530),
 *   and amqplib drops the reply.
 *
 * @internal
 */

/** @internal */
export type Reason =
  | "ConnectionForced"
  | "InvalidPath"
  | "AccessRefused"
  | "NotFound"
  | "ResourceLocked"
  | "PreconditionFailed"
  | "FrameError"
  | "SyntaxError"
  | "CommandInvalid"
  | "ChannelError"
  | "UnexpectedFrame"
  | "ResourceError"
  | "NotAllowed"
  | "NotImplemented"
  | "InternalError"
  | "ConnectionRefused"
  | "ConnectTimeout"
  | "HeartbeatTimeout"
  | "Socket"
  | "UnexpectedClose"
  | "ChannelClosed"
  | "Handshake"
  | "Unknown"

const byCode: Record<number, Reason> = {
  320: "ConnectionForced",
  402: "InvalidPath",
  403: "AccessRefused",
  404: "NotFound",
  405: "ResourceLocked",
  406: "PreconditionFailed",
  501: "FrameError",
  502: "SyntaxError",
  503: "CommandInvalid",
  504: "ChannelError",
  505: "UnexpectedFrame",
  506: "ResourceError",
  530: "NotAllowed",
  540: "NotImplemented",
  541: "InternalError"
}

/** The reason of a reply code, `undefined` for a code AMQP does not define. @internal */
export const reasonOfCode = (code: number): Reason | undefined => byCode[code]

/** @internal */
export interface Read {
  readonly reason: Reason
  readonly replyCode?: number | undefined
  readonly replyText?: string | undefined
  readonly operation?: string | undefined
  readonly cause?: unknown
}

// `<code> (<NAME>) with message "<text>"`, the reply part of amqplib's close messages.
const reply = /(\d{3}) \(([A-Z_-]+)\) with message "([^]*)"$/
const operationOf = /^Operation failed: (\w+);/

const errnoReasons: Record<string, Reason> = {
  ECONNREFUSED: "ConnectionRefused",
  ETIMEDOUT: "ConnectTimeout"
}

const messageOf = (error: unknown): string =>
  typeof error === "object" && error !== null && "message" in error && typeof error.message === "string"
    ? error.message
    : typeof error === "string"
    ? error
    : ""

const codeOf = (error: unknown): unknown =>
  typeof error === "object" && error !== null && "code" in error ? error.code : undefined

/** @internal */
export const read = (error: unknown): Read => {
  const message = messageOf(error)
  const code = codeOf(error)
  const matched = reply.exec(message)
  if (matched !== null) {
    const replyCode = Number(matched[1])
    return {
      reason: reasonOfCode(replyCode) ?? "Unknown",
      replyCode,
      replyText: matched[3],
      operation: operationOf.exec(message)?.[1],
      cause: error
    }
  }
  if (typeof code === "number") return { reason: reasonOfCode(code) ?? "Unknown", replyCode: code, cause: error }
  if (message.startsWith("Expected ConnectionOpenOk; got <ConnectionClose")) {
    return {
      reason: "NotAllowed",
      replyCode: 530,
      replyText: "the broker refused the virtual host (it does not exist, or the user may not access it)",
      cause: error
    }
  }
  if (message === "connect ETIMEDOUT") return { reason: "ConnectTimeout", cause: error }
  if (message === "Heartbeat timeout") return { reason: "HeartbeatTimeout", cause: error }
  if (message === "Unexpected close") return { reason: "UnexpectedClose", cause: error }
  if (typeof code === "string") return { reason: errnoReasons[code] ?? "Socket", cause: error }
  if (
    /^channel closed$/i.test(message) || message === "Channel ended, no reply will be forthcoming" ||
    message === "Connection closed" || message === "Channel closing"
  ) {
    return { reason: "ChannelClosed", cause: error }
  }
  if (message.startsWith("Handshake terminated") || message.startsWith("Expected ")) {
    return { reason: "Handshake", cause: error }
  }
  return { reason: "Unknown", cause: error }
}

/** @internal */
export const isFatal = (error: { readonly reason: Reason; readonly scope: "Connection" | "Channel" }): boolean =>
  error.scope === "Connection" &&
  (error.reason === "AccessRefused" || error.reason === "NotAllowed" || error.reason === "InvalidPath")

/** @internal */
export const isRetryable = (error: { readonly reason: Reason; readonly scope: "Connection" | "Channel" }): boolean => {
  switch (error.reason) {
    case "ConnectionForced":
    case "ConnectionRefused":
    case "ConnectTimeout":
    case "HeartbeatTimeout":
    case "Socket":
    case "UnexpectedClose":
    case "ChannelClosed":
    case "InternalError":
    case "ResourceError":
    case "Handshake":
      return true
    case "ResourceLocked":
      return true // the exclusive owner may go away
    default:
      return false
  }
}

const describeReason = (reason: Reason): string => {
  switch (reason) {
    case "ConnectionRefused":
      return "connection refused"
    case "ConnectTimeout":
      return "connect timed out"
    case "HeartbeatTimeout":
      return "heartbeat timeout (the broker stopped answering)"
    case "Socket":
      return "socket error"
    case "UnexpectedClose":
      return "the socket closed without an AMQP close"
    case "ChannelClosed":
      return "closed"
    case "Handshake":
      return "handshake failed"
    default:
      return reason
  }
}

/** @internal */
export const message = (
  error: {
    readonly reason: Reason
    readonly connection: string
    readonly scope: "Connection" | "Channel"
    readonly replyCode?: number | undefined
    readonly replyText?: string | undefined
    readonly operation?: string | undefined
    readonly cause?: unknown
  }
): string => {
  const what = `AMQP ${error.scope === "Channel" ? "channel" : "connection"} "${error.connection}"`
  const operation = error.operation === undefined ? "" : ` (${error.operation})`
  if (error.replyCode !== undefined) {
    return `${what}: ${error.replyCode} ${error.reason}${operation}: ${error.replyText ?? ""}`.trimEnd()
  }
  const detail = messageOf(error.cause)
  return `${what}: ${describeReason(error.reason)}${operation}${detail.length > 0 ? `: ${detail}` : ""}`
}

/** A one-line text of an unknown cause. @internal */
export const causeText = (cause: unknown): string => {
  const text = messageOf(cause)
  return text.length > 0 ? text : String(cause)
}
