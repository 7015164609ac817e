/**
 * The errors of a `ResilientSocket`, besides core's `Closed`, `NotConnected` and `Timeout`.
 *
 * @since 0.1.0
 */
import { RedialError } from "@redial/core"
import * as Predicate from "effect/Predicate"

/**
 * Why one connection of a socket failed or ended:
 *
 * - `Open`: the socket could not be opened (refused, reset during the handshake, a WebSocket
 *   upgrade the server answered with an HTTP error);
 * - `Read`: the socket failed while open (a reset, a network error);
 * - `Close`: the socket was closed; `code` is the WebSocket close code the server sent (or, for
 *   TCP, 1000 for a clean close and 1006 for one after an error, as @effect/platform reports
 *   them), `closeReason` the reason text;
 * - `End`: the peer ended the stream cleanly (a TCP FIN), which @effect/platform's `run` reports
 *   as a success;
 * - `Write`: a write was handed to a socket that died before it was flushed: the bytes may or may
 *   not have arrived (see `possiblyDelivered`).
 *
 * @since 0.1.0
 * @category models
 */
export type SocketErrorReason = "Open" | "Read" | "Close" | "End" | "Write"

/**
 * One connection of a socket failed, ended, or lost a write. It is the `cause` inside core's
 * `ConnectFailed` (status `Backoff`, `Closed`), and what a write that was handed to a dying socket
 * fails with. Its message names the socket and the close code, never the URL (which may carry a
 * token).
 *
 * @example
 * ```ts
 * import { SocketError } from "@redial/socket"
 *
 * const error = new SocketError({ socket: "feed", reason: "Close", code: 4001, closeReason: "unauthorised" })
 * console.log(error.message) // Socket "feed" was closed by the peer with code 4001 (unauthorised).
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class SocketError extends RedialError("SocketError")<{
  /** The socket's name. */
  readonly socket: string
  readonly reason: SocketErrorReason
  /** The close code, for `reason: "Close"`. */
  readonly code?: number | undefined
  /** The close reason text the peer sent, for `reason: "Close"`. */
  readonly closeReason?: string | undefined
  /**
   * For `reason: "Write"`: true, the bytes were handed to the operating system and may have been
   * delivered, or part of them. A byte stream cannot tell, so the write is not sent again.
   */
  readonly possiblyDelivered?: boolean | undefined
  readonly cause?: unknown
}> {
  override get message(): string {
    const socket = `Socket "${this.socket}"`
    const detail = causeText(this.cause)
    switch (this.reason) {
      case "Open":
        return `${socket} could not be opened${detail}.`
      case "Read":
        return `${socket} failed while open${detail}.`
      case "Close":
        return `${socket} was closed by the peer with code ${this.code ?? 1005}${
          this.closeReason ? ` (${this.closeReason})` : ""
        }.`
      case "End":
        return `${socket}: the peer ended the connection.`
      case "Write":
        return `${socket}: the connection died with this write handed to it${detail}; it may have been delivered, in part or whole, and is not sent again.`
    }
  }
}

const causeText = (cause: unknown): string => {
  if (cause === undefined) return ""
  const text = Predicate.hasProperty(cause, "message") && typeof cause.message === "string"
    ? cause.message
    : typeof cause === "string"
    ? cause
    : ""
  return text.length === 0 ? "" : `: ${text}`
}

/**
 * A write found the buffer full while the socket was down (or still sending what it buffered),
 * under the overflow policy `"fail"` (the new write, `dropped: false`) or `"dropOldest"` (the
 * oldest buffered write, `dropped: true`). Nothing of it was sent.
 *
 * @since 0.1.0
 * @category errors
 */
export class BufferFull extends RedialError("BufferFull")<{
  readonly socket: string
  /** Which bound was reached. */
  readonly limit: "messages" | "bytes"
  /** The bound: a count of writes or of bytes. */
  readonly size: number
  /** True when this write was dropped from the buffer to make room for a newer one. */
  readonly dropped: boolean
}> {
  override get message(): string {
    const bound = this.limit === "messages" ? `${this.size} writes` : `${this.size} bytes`
    return this.dropped
      ? `Socket "${this.socket}": the write was dropped from the buffer (full at ${bound}) to make room for a newer one; it was not sent.`
      : `Socket "${this.socket}": the write buffer is full (${bound}) while the socket is down; the write was not sent.`
  }
}
