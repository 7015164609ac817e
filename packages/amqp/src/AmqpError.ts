/**
 * The typed errors of `@redial/amqp`. Every one is a redial error (`isRedialError`), carries a
 * literal `reason` where there are several kinds, and never holds a password.
 *
 * amqplib reports broker replies only in its messages (a handshake failure has no `code`), so
 * {@link classify} reads the reply code and text out of them: `AmqpError` is what every amqplib
 * error becomes.
 *
 * @since 0.1.0
 */
import { RedialError } from "@redial/core"
import * as internal from "./internal/classify.js"

/**
 * What went wrong, by AMQP reply code (the broker's own words) or, for failures below AMQP, by
 * what the socket saw:
 *
 * | reason               | code | fatal on connect | typical cause                                          |
 * | -------------------- | ---- | ---------------- | ------------------------------------------------------ |
 * | `ConnectionForced`   | 320  |                  | `rabbitmqctl close_connection`, a broker shutting down |
 * | `InvalidPath`        | 402  | yes              | a malformed virtual host                               |
 * | `AccessRefused`      | 403  | yes              | bad credentials; on a channel, a missing permission    |
 * | `NotFound`           | 404  |                  | no such exchange or queue (closes the channel)         |
 * | `ResourceLocked`     | 405  |                  | an exclusive queue of another connection               |
 * | `PreconditionFailed` | 406  |                  | a declaration that differs from the existing one       |
 * | `FrameError` … `ResourceError` | 501-506 |       | protocol errors (close the connection)                 |
 * | `NotAllowed`         | 530  | yes              | no such virtual host, or no access to it               |
 * | `NotImplemented`     | 540  |                  |                                                        |
 * | `InternalError`      | 541  |                  | a broker fault                                         |
 * | `ConnectionRefused`  |      |                  | nothing listens (ECONNREFUSED)                         |
 * | `ConnectTimeout`     |      |                  | TCP connect or handshake took longer than `connectTimeout` |
 * | `HeartbeatTimeout`   |      |                  | the broker stopped answering (a half-open socket)      |
 * | `Socket`             |      |                  | ECONNRESET, EPIPE, a DNS failure …                     |
 * | `UnexpectedClose`    |      |                  | the socket ended without an AMQP close                 |
 * | `ChannelClosed`      |      |                  | an operation on a channel (or connection) that has closed |
 * | `Handshake`          |      |                  | any other failure while opening the connection         |
 * | `Unknown`            |      |                  | anything else                                          |
 *
 * @since 0.1.0
 * @category models
 */
export type Reason = internal.Reason

/**
 * An amqplib error, classified: `reason` (see {@link Reason}), the broker's `replyCode` and
 * `replyText` when it sent a close, the AMQP method that failed (`operation`, e.g.
 * `QueueDeclare`), whether it closed a `Channel` or the whole `Connection` (`scope`), and the
 * original error as `cause`. `fatal` is true for the errors that no reconnect can fix: bad
 * credentials (403), an unknown or forbidden virtual host (530, 402).
 *
 * @example
 * ```ts
 * import { AmqpError } from "@redial/amqp"
 *
 * const error = AmqpError.classify(
 *   new Error(`Handshake terminated by server: 403 (ACCESS-REFUSED) with message "ACCESS_REFUSED - Login was refused"`),
 *   { connection: "orders" }
 * )
 * console.log(error.reason, error.replyCode, error.fatal) // AccessRefused 403 true
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class AmqpError extends RedialError("AmqpError")<{
  readonly reason: Reason
  /** The connection's (or channel's) name. */
  readonly connection: string
  readonly scope: "Connection" | "Channel"
  readonly replyCode?: number | undefined
  readonly replyText?: string | undefined
  /** The AMQP method that failed, when amqplib says (`QueueDeclare`, `BasicConsume` …). */
  readonly operation?: string | undefined
  readonly cause?: unknown
}> {
  /** True when reconnecting cannot help: 402, 403 and 530 on the connection. */
  get fatal(): boolean {
    return internal.isFatal(this)
  }
  /** True when the same operation may succeed on a new connection or channel. */
  get retryable(): boolean {
    return internal.isRetryable(this)
  }
  override get message(): string {
    return internal.message(this)
  }
  /** {@link classify}, as the example above calls it. */
  static classify(
    error: unknown,
    context: { readonly connection: string; readonly scope?: "Connection" | "Channel" | undefined }
  ): AmqpError {
    return classify(error, context)
  }
}

// `instanceof` throws for a revoked proxy: anything thrown is classified, never rethrown.
const isAmqpError = (error: unknown): error is AmqpError => {
  try {
    return error instanceof AmqpError
  } catch {
    return false
  }
}

/**
 * Reads an amqplib error (or anything thrown by amqplib) into an {@link AmqpError}.
 *
 * @since 0.1.0
 * @category constructors
 */
export const classify: (
  error: unknown,
  context: { readonly connection: string; readonly scope?: "Connection" | "Channel" | undefined }
) => AmqpError = (error, context) => {
  if (isAmqpError(error)) return error
  return new AmqpError({
    ...internal.read(error),
    connection: context.connection,
    scope: context.scope ?? "Connection"
  })
}

/**
 * A publish found the buffer full while the channel was down, and the overflow policy is
 * `"fail"` (`limit` says which bound: the number of messages or their bytes), or the message was
 * the oldest one dropped to make room under `"dropOldest"` (`dropped: true`). The message was not
 * sent.
 *
 * @since 0.1.0
 * @category errors
 */
export class BufferFull extends RedialError("BufferFull")<{
  readonly channel: string
  readonly limit: "messages" | "bytes"
  /** The bound that was reached: a count of messages or of bytes. */
  readonly size: number
  /** True when this message was dropped from the buffer to make room for a newer one. */
  readonly dropped: boolean
}> {
  override get message(): string {
    const bound = this.limit === "messages" ? `${this.size} messages` : `${this.size} bytes`
    return this.dropped
      ? `Channel "${this.channel}": the message was dropped from the publish buffer (full at ${bound}) to make room for a newer one.`
      : `Channel "${this.channel}": the publish buffer is full (${bound}) while the channel is down; the message was not sent.`
  }
}

/**
 * The broker refused a published message (a `basic.nack`): it was not routed to a queue, for
 * example because a queue is full with `overflow: reject-publish`, or the broker hit an
 * internal error. Publishing it again may succeed later.
 *
 * @since 0.1.0
 * @category errors
 */
export class Nacked extends RedialError("Nacked")<{
  readonly channel: string
  readonly exchange: string
  readonly routingKey: string
  readonly messageId?: string | undefined
}> {
  override get message(): string {
    const id = this.messageId === undefined ? "" : ` (messageId ${this.messageId})`
    return `Channel "${this.channel}": the broker nacked the message published to exchange "${this.exchange}" with routing key "${this.routingKey}"${id}.`
  }
}

/**
 * A delivery was acked, nacked or rejected after the channel it came on had closed: the broker
 * has already put it back in its queue (it will be delivered again), and acking its delivery tag
 * on the new channel would have closed that channel with a 406.
 *
 * @since 0.1.0
 * @category errors
 */
export class StaleDelivery extends RedialError("StaleDelivery")<{
  readonly channel: string
  readonly deliveryTag: number
  readonly operation: "ack" | "nack" | "reject"
}> {
  override get message(): string {
    return `Channel "${this.channel}": cannot ${this.operation} delivery ${this.deliveryTag}: the channel it came on has closed, and the broker will deliver the message again.`
  }
}

/**
 * A channel's `setup` (declaring exchanges, queues, bindings, prefetch) failed, so the channel
 * was not handed to anyone: `cause` is the error (an {@link AmqpError} for a broker refusal, such
 * as a 406 for a queue declared with other arguments). The channel retries after its policy's
 * delay, never in a hot loop; the failure shows in its status (`Backoff`) and its log.
 *
 * @since 0.1.0
 * @category errors
 */
export class SetupFailed extends RedialError("SetupFailed")<{
  readonly channel: string
  readonly cause: unknown
}> {
  override get message(): string {
    return `Channel "${this.channel}": setup failed: ${internal.causeText(this.cause)}`
  }
}
