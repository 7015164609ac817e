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
export const reasonOfCode = (code: number): Reason | undefined => Object.hasOwn(byCode, code) ? byCode[code] : undefined

/** @internal */
export interface Read {
  readonly reason: Reason
  readonly replyCode?: number | undefined
  readonly replyText?: string | undefined
  readonly operation?: string | undefined
  readonly cause?: unknown
}

// `<code> (<NAME>) with message "`: the head of the reply part of amqplib's close messages
// (lib/format.js closeMessage), followed by the reply text and a closing quote that ends the message.
const replyHead = /(\d{3}) \(([A-Z_-]+)\) with message "/
const operationOf = /^Operation failed: (\w+);/

const errnoReasons: Record<string, Reason> = {
  ECONNREFUSED: "ConnectionRefused",
  ETIMEDOUT: "ConnectTimeout"
}

/** A property of anything thrown, or `undefined` when reading it throws (a getter, a revoked proxy). */
const property = (error: unknown, key: "message" | "code"): unknown => {
  if (typeof error !== "object" || error === null) return undefined
  try {
    return key in error ? (error as Record<string, unknown>)[key] : undefined
  } catch {
    return undefined
  }
}

const messageOf = (error: unknown): string => {
  if (typeof error === "string") return error
  const message = property(error, "message")
  return typeof message === "string" ? message : ""
}

/**
 * The reply in a close message: the first `<code> (<NAME>) with message "` and the text after it,
 * up to the quote that ends the message. One regular-expression search (no backtracking over the
 * text) and one slice: linear in the message's length, however it is made.
 */
const replyOf = (message: string) => {
  const head = replyHead.exec(message)
  if (head === null || !message.endsWith("\"")) return undefined
  const textStart = head.index + head[0].length
  if (textStart > message.length - 1) return undefined
  return { replyCode: Number(head[1]), replyText: message.slice(textStart, message.length - 1) }
}

// Messages of the operations amqplib refuses on a closed (or closing) channel or connection.
const isClosedMessage = (message: string): boolean =>
  /^channel closed$/i.test(message) || message === "Channel closing" ||
  message === "Channel ended, no reply will be forthcoming" ||
  message === "Connection closed" || message === "Connection closing" || message.startsWith("Connection closed (")

// The other failures of amqplib's opening handshake (lib/connection.js open).
const isHandshakeMessage = (message: string): boolean =>
  message.startsWith("Handshake terminated") || message.startsWith("Expected ConnectionOpenOk;") ||
  message.startsWith("Expected connection.secure, connection.close, or connection.tune during handshake") ||
  message.startsWith("Frame on channel != 0 during handshake") || message.startsWith("SASL mechanism ") ||
  message === "Wasn't expecting to have to go through secure" ||
  (message.startsWith("Server frameMax ") && message.includes("below the protocol minimum"))

/** @internal */
export const read = (error: unknown): Read => {
  const message = messageOf(error)
  const code = property(error, "code")
  const reply = replyOf(message)
  if (reply !== undefined) {
    return {
      reason: reasonOfCode(reply.replyCode) ?? "Unknown",
      replyCode: reply.replyCode,
      replyText: reply.replyText,
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
  if (message === "Unexpected close" || message === "Socket closed abruptly during opening handshake") {
    return { reason: "UnexpectedClose", cause: error }
  }
  if (typeof code === "string") {
    return { reason: (Object.hasOwn(errnoReasons, code) ? errnoReasons[code] : undefined) ?? "Socket", cause: error }
  }
  if (isClosedMessage(message)) return { reason: "ChannelClosed", cause: error }
  if (isHandshakeMessage(message)) return { reason: "Handshake", cause: error }
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
  if (text.length > 0) return text
  // A value without a string form (no prototype, a throwing toString, a revoked proxy) still gets one.
  try {
    return String(cause)
  } catch {
    try {
      return Object.prototype.toString.call(cause)
    } catch {
      return "(a value that cannot be printed)"
    }
  }
}
