/**
 * Channels on the cached connection (`AmqpConnection.channel` / `confirmChannel`), the confirmed
 * publisher, and consumers as `Stream`s.
 *
 * A channel here is a managed one: each is a core `Connection` of amqplib channels. It opens a
 * channel on the live connection, runs `prefetch` and the `setup` on it before anyone can use it,
 * and opens a new one (running the setup again) when the channel closes — because the
 * connection was lost, or because the broker closed the channel alone (a publish to a missing
 * exchange, 404; a declaration that conflicts, 406). A setup that fails is a failed attempt: it
 * is retried after the policy's delay (never in a hot loop) and shows in the status as
 * `Backoff` with a `SetupFailed`.
 *
 * ## Delivery guarantees of the publisher
 *
 * - `publish` completes when the broker confirms the message (publisher confirms), and fails
 *   with `Nacked` when the broker refuses it, with `Timeout` (operation `confirm`) when no
 *   confirm came within `confirmTimeout`, with `BufferFull` under the overflow policy, and with
 *   `Closed` when the channel closes for good.
 * - While the channel is down, publishes wait in a bounded buffer (`buffer.messages`,
 *   `buffer.bytes`) and are sent, in order, once a channel is open again.
 * - A message that was sent but not confirmed when the channel died is sent again on the next
 *   channel, before any later message, in the original order: **at least once**. The broker may
 *   then hold it twice. Every message carries a `messageId` (generated when not given), so a
 *   consumer can drop duplicates; exactly-once processing needs that dedupe on the consumer's
 *   side (e.g. a table of processed ids updated in the same transaction as the work).
 *
 * @since 0.1.0
 */
import type { Closed, Connection, NotConnected, Timeout } from "@redial/core"
import type * as amqplib from "amqplib"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Schedule from "effect/Schedule"
import type * as Stream from "effect/Stream"
import type { AmqpError, BufferFull, Nacked, StaleDelivery } from "./AmqpError.js"

/**
 * How to open and keep a channel.
 *
 * @since 0.1.0
 * @category models
 */
export interface ChannelOptions<C extends amqplib.Channel = amqplib.Channel> {
  /** The channel's name, in logs and errors. Default: the connection's name and a number. */
  readonly name?: string | undefined
  /**
   * Runs on every new channel before anyone uses it: declare exchanges, queues and bindings. It
   * may return a `Promise` (amqplib's methods do) or an `Effect`. A failure is a
   * `SetupFailed`; the channel is closed and opened again after the policy's delay.
   */
  readonly setup?: ((channel: C) => PromiseLike<unknown> | Effect.Effect<unknown, unknown>) | undefined
  /** `basic.qos` on every new channel, before the setup: the most unacked deliveries at once. */
  readonly prefetch?: number | undefined
  /**
   * The policy for failed openings (a failed setup, a channel the broker would not open, a
   * channel that closed before `minUptime`). Default: exponential from 100 ms to 10 s.
   */
  readonly policy?: Schedule.Schedule<unknown, unknown> | undefined
  /** How long opening the channel and its setup may take. Default 10 seconds. */
  readonly openTimeout?: Duration.DurationInput | undefined
  /** A channel closed before it lived this long counts as a failed opening. Default 1 second. */
  readonly minUptime?: Duration.DurationInput | undefined
  /** amqplib's write buffer, in frames (publish returns false past it). Default 1024. */
  readonly highWaterMark?: number | undefined
}

/**
 * A managed channel.
 *
 * @since 0.1.0
 * @category models
 */
export interface AmqpChannel<C extends amqplib.Channel = amqplib.Channel> {
  readonly name: string
  /** The core connection manager of this channel's amqplib channels. */
  readonly connection: Connection.Connection<C>
  /** The open channel now, or `NotConnected` / `Closed`. */
  readonly get: Effect.Effect<C, NotConnected | Closed>
  /** Waits for an open channel. */
  await(options?: { readonly timeout?: Duration.DurationInput | undefined }): Effect.Effect<C, Closed | Timeout>
  /** The channel's status (core's). */
  readonly status: Effect.Effect<Connection.Status>
  readonly changes: Stream.Stream<Connection.Status>
  /**
   * Runs an amqplib call on the open channel (waiting for one), with its error classified: a
   * broker refusal is an {@link AmqpError} (`NotFound`, `PreconditionFailed` …; the broker then
   * closes the channel and a new one is opened by itself).
   */
  call<B>(f: (channel: C) => PromiseLike<B> | B): Effect.Effect<B, AmqpError | Closed>
  /**
   * The deliveries of `queue` as a `Stream`, across reconnects: the subscription is made again on
   * every new channel, and after the broker cancels it (the queue was deleted), after the
   * policy's delay while the queue is missing (a policy that gives up ends the stream with
   * `Closed`, reason `PolicyExhausted`). Stopping the stream cancels the consumer, and deliveries
   * it had buffered but not handed out go back to the queue. Ack each delivery with its `ack`
   * (unless `noAck`).
   *
   * - Flow control: with acks, the channel's `prefetch` bounds the deliveries in memory. With
   *   `noAck` (or without a prefetch) the broker cannot be slowed, so past 1,024 buffered
   *   deliveries the consumer cancels itself on the broker and subscribes again once the stream
   *   has read the buffer down to 256; what was already on the wire still arrives (nothing is
   *   lost), so the bound is 1,024 deliveries plus what a socket holds.
   * - The stream reads its buffer in chunks of up to 256: an operator that stops mid-chunk
   *   (`Stream.take`) leaves the rest of that chunk unacked until the channel closes (at once for
   *   `AmqpConnection.consume`, which has a channel of its own).
   * - Subscribing to a missing queue makes the broker close the channel (404) for its other users
   *   too: consume on a channel of its own when others share it.
   */
  consume(queue: string, options?: ConsumeOptions): Stream.Stream<Delivery, AmqpError | Closed>
}

/**
 * What a full buffer does to a new publish. The bound counts the messages waiting to be sent and
 * those sent and not yet confirmed, so it applies while connected too (a slow broker), not only
 * while the channel is down:
 *
 * - `"suspend"` (default): the publisher waits until there is room (backpressure);
 * - `"fail"`: the new publish fails at once with `BufferFull`;
 * - `"dropOldest"`: the oldest buffered message is dropped (its publish fails with `BufferFull`,
 *   `dropped: true`) to make room.
 *
 * @since 0.1.0
 * @category models
 */
export type Overflow = "suspend" | "fail" | "dropOldest"

/**
 * The bound of the publish buffer: messages waiting to be sent while the channel is down, plus
 * those sent and not yet confirmed.
 *
 * @since 0.1.0
 * @category models
 */
export interface BufferOptions {
  /** At most this many messages. Default 10,000. */
  readonly messages?: number | undefined
  /** At most this many bytes of content. Default 64 MiB. */
  readonly bytes?: number | undefined
  /** Default `"suspend"`. */
  readonly overflow?: Overflow | undefined
}

/**
 * A confirm channel's options.
 *
 * @since 0.1.0
 * @category models
 */
export interface ConfirmChannelOptions extends ChannelOptions<amqplib.ConfirmChannel> {
  /**
   * How long the broker may take to confirm a message once it was sent. Default 10 seconds (as
   * rascal). On a half-open socket amqplib's confirms would wait until the heartbeat fires. A
   * publish that times out fails with `Timeout` (operation `confirm`) — the message may still have
   * been delivered — and the channel is replaced, so the other unconfirmed messages are sent again
   * on a new one. The deadlines stop while the broker blocks the connection and start again in
   * full when it unblocks. `Duration.infinity` turns the timeout off.
   */
  readonly confirmTimeout?: Duration.DurationInput | undefined
  readonly buffer?: BufferOptions | undefined
  /** At the end of the scope, how long to wait for outstanding confirms. Default 10 seconds; 0 does not wait. */
  readonly closeTimeout?: Duration.DurationInput | undefined
}

/**
 * amqplib's publish options. `messageId` is generated (a random UUID) when not given, so
 * consumers can drop the duplicates that at-least-once delivery may bring.
 *
 * @since 0.1.0
 * @category models
 */
export type PublishOptions = amqplib.Options.Publish

/**
 * Why a publish failed: `Nacked` (the broker refused it), `BufferFull` (the overflow policy),
 * `Timeout` (no confirm within `confirmTimeout`), `Closed` (the channel closed for good, or the
 * scope ended before it was confirmed), `AmqpError` (the broker closed the channel because of this
 * message, e.g. 404 for a missing exchange; or amqplib could not encode it).
 *
 * @since 0.1.0
 * @category models
 */
export type PublishError = Nacked | BufferFull | Timeout | Closed | AmqpError

/**
 * How many messages the publisher holds: `buffered` (waiting for a channel), `inFlight` (sent,
 * not confirmed) and their content's `bytes`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Pending {
  readonly buffered: number
  readonly inFlight: number
  readonly bytes: number
}

/**
 * A confirm channel with a publisher that loses nothing.
 *
 * @since 0.1.0
 * @category models
 */
export interface AmqpConfirmChannel extends AmqpChannel<amqplib.ConfirmChannel> {
  /**
   * Publishes and waits for the broker's confirm (see the module's guarantees). An interrupted
   * publish that was not sent yet leaves the buffer at once; one that was sent may still arrive,
   * and is not sent again if its channel dies before the confirm (its caller has gone).
   */
  publish(
    exchange: string,
    routingKey: string,
    content: Uint8Array | string,
    options?: PublishOptions
  ): Effect.Effect<void, PublishError>
  /** `publish` to the default exchange with the queue's name as the routing key. */
  sendToQueue(queue: string, content: Uint8Array | string, options?: PublishOptions): Effect.Effect<void, PublishError>
  /** What the publisher holds now. */
  readonly pending: Effect.Effect<Pending>
  /** Waits until nothing is buffered or in flight. */
  readonly flush: Effect.Effect<void>
}

/**
 * How to consume.
 *
 * @since 0.1.0
 * @category models
 */
export interface ConsumeOptions {
  /** Deliveries need no ack (the broker forgets them once sent). Default false. */
  readonly noAck?: boolean | undefined
  readonly exclusive?: boolean | undefined
  readonly priority?: number | undefined
  readonly arguments?: Record<string, unknown> | undefined
  /** The policy between attempts to subscribe while the queue is missing. Default: the channel's. */
  readonly policy?: Schedule.Schedule<unknown, unknown> | undefined
}

/**
 * One delivery. `ack`, `nack` and `reject` fail with {@link StaleDelivery} when the channel it
 * came on has closed since (the broker redelivers it), instead of closing the new channel. The
 * first of them wins: a second is a no-op (the broker would close the channel for a second ack).
 * `nack` and `reject` requeue unless `{ requeue: false }`. With `noAck` all three are no-ops.
 *
 * @since 0.1.0
 * @category models
 */
export interface Delivery {
  readonly message: amqplib.ConsumeMessage
  readonly content: Buffer
  readonly fields: amqplib.ConsumeMessageFields
  readonly properties: amqplib.MessageProperties
  readonly ack: Effect.Effect<void, StaleDelivery>
  nack(options?: { readonly requeue?: boolean | undefined }): Effect.Effect<void, StaleDelivery>
  reject(options?: { readonly requeue?: boolean | undefined }): Effect.Effect<void, StaleDelivery>
}
