/**
 * The confirmed publisher of a confirm channel: a bounded buffer, one sender fiber, and the
 * broker's confirms.
 *
 * Every message has one state, changed only by {@link Book.move}:
 *
 * ```text
 * New ─▶ Waiting (suspended for room) ─▶ Buffered ─▶ InFlight(send on channel X) ─▶ Settled
 *              │                            ▲  │            │
 *              └────────────────────────────┼──┴────────────┤ (confirmed, nacked, failed)
 *                                           └── channel X died, not confirmed: sent again
 * ```
 *
 * The buffer and the in-flight table hold the messages by publish sequence, so a message whose
 * channel died goes back ahead of every later one, and `pending` is read off their sizes. One
 * sender fiber waits for an open channel, for the broker to unblock the connection and for
 * amqplib's `drain`, and sends from the head of the buffer; amqplib's callbacks, the confirm
 * deadline alarm and the channel's `close` only move messages. (A publish with nothing buffered
 * ahead of it is sent by its caller at once, with the same function: sending is synchronous, so
 * the order is the same, and the round trip through the sender fiber is saved.)
 *
 * What it decides, beyond the public guarantees (AmqpChannel's module doc):
 *
 * - The bound (`buffer.messages`, `buffer.bytes`) counts buffered and in-flight messages, so it
 *   also limits how much is in flight while connected; the overflow policy applies then too.
 *   `dropOldest` drops only messages not sent yet: with the bound taken by messages in flight, the
 *   new publish fails with `BufferFull` (`dropped: false`).
 * - A confirm `Timeout` fails every message whose deadline passed (each with its own error; the
 *   message may still have been delivered) and drops the channel; the messages still in flight
 *   on it go back to the buffer and are sent again on the next channel. While the broker blocks
 *   the connection the deadlines do not run (it reads nothing then); they restart, whole, when
 *   it unblocks.
 * - A publish interrupted after it was sent is not sent again: it stays counted until its
 *   confirm comes or its channel dies, then it is forgotten. Its caller withdrew it; sending it
 *   again would deliver a message its publisher believes failed (and may publish again itself).
 * - A channel the broker closes because of a publish (its close names basic.publish: a 404 for a
 *   missing exchange, a 403, a 406 for a message over the broker's size limit) fails, with that
 *   `AmqpError`, the messages in flight to the exchange the error names (all those in flight on
 *   that channel when it names none), so a poison message is not resent for ever; the others
 *   are sent again. A channel closed by anything else (someone's `call`, the connection) sends
 *   all of them again.
 * - amqplib throwing at `publish` for the message itself (an option it cannot encode) fails that
 *   publish with an `AmqpError`; the channel stays in use.
 *
 * @internal
 */
import { Alarm, Closed, type InvalidOption, Options, Timeout } from "@redial/core"
import type * as amqplib from "amqplib"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as crypto from "node:crypto"
import type * as AmqpChannel from "../AmqpChannel.js"
import { type AmqpError, BufferFull, classify, Nacked } from "../AmqpError.js"
import type { Handle } from "./channel.js"

/** @internal */
export type Publisher = Pick<AmqpChannel.AmqpConfirmChannel, "publish" | "sendToQueue" | "pending" | "flush">

// --- options ------------------------------------------------------------------------------------

const DEFAULT_MESSAGES = 10_000
const DEFAULT_BYTES = 64 * 1024 * 1024

const Plain = Schema.Struct({
  confirmTimeout: Schema.optionalWith(Options.duration({ finite: false }), {
    default: () => Duration.seconds(10)
  }),
  closeTimeout: Schema.optionalWith(Options.duration({ min: 0 }), { default: () => Duration.seconds(10) }),
  buffer: Schema.optionalWith(
    Schema.Struct({
      messages: Schema.optionalWith(Options.integer({ min: 1 }), { default: () => DEFAULT_MESSAGES }),
      bytes: Schema.optionalWith(Options.integer({ min: 1 }), { default: () => DEFAULT_BYTES }),
      overflow: Schema.optionalWith(Options.literal("suspend", "fail", "dropOldest"), {
        default: () => "suspend" as const
      })
    }),
    { default: () => ({ messages: DEFAULT_MESSAGES, bytes: DEFAULT_BYTES, overflow: "suspend" as const }) }
  )
})

// --- metrics ------------------------------------------------------------------------------------

/**
 * The publisher's counters, tagged with the channel's name. What a publisher holds is derived
 * from them, no gauge needed: `published − confirmed − nacked − failed` is its `pending`
 * (buffered and in flight).
 *
 * @internal
 */
export const metrics = {
  published: Metric.counter("redial_amqp_published_total", {
    description: "Messages accepted by a confirm channel's publisher (buffered to be sent)",
    incremental: true
  }),
  confirmed: Metric.counter("redial_amqp_confirmed_total", {
    description: "Published messages the broker confirmed",
    incremental: true
  }),
  nacked: Metric.counter("redial_amqp_nacked_total", {
    description: "Published messages the broker refused (basic.nack)",
    incremental: true
  }),
  failed: Metric.counter("redial_amqp_publish_failed_total", {
    description:
      "Accepted messages that ended otherwise: confirm timeout, dropped from a full buffer, closed, refused by the broker, or their caller left",
    incremental: true
  }),
  republished: Metric.counter("redial_amqp_republished_total", {
    description: "Messages sent again on a new channel because theirs died before the confirm",
    incremental: true
  }),
  rejected: Metric.counter("redial_amqp_publish_rejected_total", {
    description: "Publishes refused at once (BufferFull, larger than the buffer, or closed): never accepted",
    incremental: true
  })
}

const taggedMetrics = (channel: string) => ({
  published: Metric.tagged(metrics.published, "channel", channel),
  confirmed: Metric.tagged(metrics.confirmed, "channel", channel),
  nacked: Metric.tagged(metrics.nacked, "channel", channel),
  failed: Metric.tagged(metrics.failed, "channel", channel),
  republished: Metric.tagged(metrics.republished, "channel", channel),
  rejected: Metric.tagged(metrics.rejected, "channel", channel)
})

// --- messages -----------------------------------------------------------------------------------

type Outcome = "confirmed" | "nacked" | "failed"

/** The one state of a message. `InFlight` is also the token its confirm callback checks. */
type MessageState =
  | { readonly _tag: "New" }
  | { readonly _tag: "Waiting" }
  | { readonly _tag: "Buffered" }
  | { readonly _tag: "InFlight"; readonly channel: amqplib.ConfirmChannel; readonly sentAt: number }
  | { readonly _tag: "Settled"; readonly outcome: Outcome }

const NEW: MessageState = { _tag: "New" }
const WAITING: MessageState = { _tag: "Waiting" }
const BUFFERED: MessageState = { _tag: "Buffered" }
const CONFIRMED: MessageState = { _tag: "Settled", outcome: "confirmed" }
const NACKED: MessageState = { _tag: "Settled", outcome: "nacked" }
const FAILED: MessageState = { _tag: "Settled", outcome: "failed" }

type Resume = (effect: Effect.Effect<void, AmqpChannel.PublishError>) => void

interface Message {
  /** The publish sequence: the order in which the broker gets the messages, also when resent. */
  readonly seq: number
  readonly exchange: string
  readonly routingKey: string
  readonly content: Buffer
  readonly options: amqplib.Options.Publish
  state: MessageState
  /** The caller's fiber; `undefined` once it has its result or was interrupted. */
  resume: Resume | undefined
  /** Links in the one list (waiting or buffer) that holds the message. */
  prev: Message | undefined
  next: Message | undefined
}

/** A doubly linked list of messages by `seq`: appending, taking the head and removal are O(1). */
class MessageList {
  head: Message | undefined = undefined
  tail: Message | undefined = undefined
  size = 0
  bytes = 0

  /** Inserts in `seq` order: new messages at the tail; resent ones (lower seqs) near the head. */
  insert(message: Message): void {
    let after = this.tail
    if (after !== undefined && after.seq > message.seq) {
      after = undefined
      let cursor = this.head
      while (cursor !== undefined && cursor.seq < message.seq) {
        after = cursor
        cursor = cursor.next
      }
    }
    message.prev = after
    message.next = after === undefined ? this.head : after.next
    if (message.next === undefined) this.tail = message
    else message.next.prev = message
    if (after === undefined) this.head = message
    else after.next = message
    this.size += 1
    this.bytes += message.content.length
  }

  remove(message: Message): void {
    if (message.prev === undefined) this.head = message.next
    else message.prev.next = message.next
    if (message.next === undefined) this.tail = message.prev
    else message.next.prev = message.prev
    message.prev = undefined
    message.next = undefined
    this.size -= 1
    this.bytes -= message.content.length
  }

  toArray(): Array<Message> {
    const out: Array<Message> = []
    for (let m = this.head; m !== undefined; m = m.next) out.push(m)
    return out
  }
}

// --- the book: every message and the publisher's phase, changed here only -----------------------

type Phase =
  | { readonly _tag: "Open" }
  | { readonly _tag: "Closing"; readonly error: Closed }
  | { readonly _tag: "Closed"; readonly error: Closed }

/** The channel the sender uses now (`Up`), or the last one that died (`Down`, with what it left). */
type Link =
  | { readonly _tag: "Up"; readonly channel: amqplib.ConfirmChannel; writable: boolean }
  | { readonly _tag: "Down"; readonly channel: amqplib.ConfirmChannel | undefined; requeued: number; cause: unknown }

const OPEN: Phase = { _tag: "Open" }

const isNack = (error: unknown): boolean => error instanceof Error && error.message === "message nacked"

// basic.publish: the class and method a broker's channel.close names when a publish caused it.
const BASIC_CLASS = 60
const PUBLISH_METHOD = 40
const namedExchange = /exchange '((?:[^']|'(?! in vhost))*)' in vhost/

/** A channel error caused by a publish: the broker refused one of the messages in flight. */
const publishRefusal = (
  error: unknown,
  name: string
): { readonly error: AmqpError; readonly exchange: string | undefined } | undefined => {
  if (typeof error !== "object" || error === null) return undefined
  const fields = error as { readonly classId?: unknown; readonly methodId?: unknown; readonly message?: unknown }
  if (fields.classId !== BASIC_CLASS || fields.methodId !== PUBLISH_METHOD) return undefined
  const text = typeof fields.message === "string" ? fields.message : ""
  return {
    error: classify(error, { connection: name, scope: "Channel" }),
    exchange: namedExchange.exec(text)?.[1]
  }
}

const toBuffer = (content: Uint8Array | string): Buffer =>
  typeof content === "string"
    ? Buffer.from(content, "utf8")
    : Buffer.isBuffer(content)
    ? content
    : Buffer.from(content.buffer, content.byteOffset, content.byteLength)

/** @internal */
export const make = (
  handle: Handle<amqplib.ConfirmChannel>,
  options: AmqpChannel.ConfirmChannelOptions
): Effect.Effect<Publisher, InvalidOption, Scope.Scope> =>
  Effect.gen(function*() {
    const plain = yield* Options.decodeEffect(Plain, {
      confirmTimeout: options.confirmTimeout,
      closeTimeout: options.closeTimeout,
      buffer: options.buffer === undefined ? undefined : {
        messages: options.buffer.messages,
        bytes: options.buffer.bytes,
        overflow: options.buffer.overflow
      }
    })
    const { manager, name } = handle
    const maxMessages = plain.buffer.messages
    const maxBytes = plain.buffer.bytes
    const overflow = plain.buffer.overflow
    const confirmTimeout = plain.confirmTimeout
    const confirmMillis = Duration.toMillis(confirmTimeout)
    const counters = taggedMetrics(name)
    const clock = yield* Effect.clock

    // The state: one value per concern, changed by the functions below only.
    let phase: Phase = OPEN
    let link: Link = { _tag: "Down", channel: undefined, requeued: 0, cause: undefined }
    let blocked = false
    /** When the connection was last unblocked: no confirm deadline falls earlier than this plus the timeout. */
    let unblockedAt = -Infinity
    let seq = 0
    /** Set when the scope ends: the publisher does not open again. */
    let ending = false
    const waiting = new MessageList()
    const buffer = new MessageList()
    /** By seq; the insertion order is the send order, so the first entry is due first. */
    const inFlight = new Map<number, Message>()
    let inFlightBytes = 0
    /** The last `error` each channel emitted, the reason its `close` gives. */
    let wakeSender: (() => void) | undefined = undefined
    const drained = new Set<() => void>()

    const deadlineOf = (sentAt: number) => Math.max(sentAt, unblockedAt) + confirmMillis

    const held = () => buffer.size + inFlight.size
    const heldBytes = () => buffer.bytes + inFlightBytes
    const fits = (message: Message) => held() + 1 <= maxMessages && heldBytes() + message.content.length <= maxBytes
    // Made once: under overload every rejected publish fails with one of these, and building an
    // error (its stack trace) would cost more than everything else a rejection does.
    const full = {
      messages: Effect.fail(new BufferFull({ channel: name, limit: "messages", size: maxMessages, dropped: false })),
      bytes: Effect.fail(new BufferFull({ channel: name, limit: "bytes", size: maxBytes, dropped: false })),
      droppedMessages: Effect.fail(
        new BufferFull({ channel: name, limit: "messages", size: maxMessages, dropped: true })
      ),
      droppedBytes: Effect.fail(new BufferFull({ channel: name, limit: "bytes", size: maxBytes, dropped: true }))
    }
    const fullError = (dropped: boolean) =>
      held() + 1 > maxMessages
        ? (dropped ? full.droppedMessages : full.messages)
        : (dropped ? full.droppedBytes : full.bytes)

    const wake = () => {
      const resume = wakeSender
      if (resume === undefined) return
      wakeSender = undefined
      resume()
    }

    /**
     * The one writer of a message's state: takes it out of the structure it was in, puts it in
     * the next one, keeps the byte counts, resumes the caller once it is settled (with `result`)
     * and, when room was freed, admits suspended publishes and wakes `flush`.
     */
    const move = (message: Message, to: MessageState, result?: Effect.Effect<void, AmqpChannel.PublishError>) => {
      const from = message.state
      if (from._tag === "Settled") return
      if (from._tag === "Waiting") waiting.remove(message)
      else if (from._tag === "Buffered") buffer.remove(message)
      else if (from._tag === "InFlight") {
        inFlight.delete(message.seq)
        inFlightBytes -= message.content.length
      }
      message.state = to
      switch (to._tag) {
        case "Waiting":
          waiting.insert(message)
          return
        case "Buffered":
          if (from._tag === "New" || from._tag === "Waiting") counters.published.unsafeUpdate(1, [])
          buffer.insert(message)
          return
        case "InFlight": {
          inFlight.set(message.seq, message)
          inFlightBytes += message.content.length
          const deadline = deadlineOf(to.sentAt)
          if (deadline !== Infinity) alarm.wakeBy(deadline)
          return
        }
        case "Settled": {
          if (from._tag !== "New" && from._tag !== "Waiting") counters[to.outcome].unsafeUpdate(1, [])
          const resume = message.resume
          message.resume = undefined
          if (resume !== undefined) resume(result ?? Effect.void)
          release()
          return
        }
        case "New":
          return
      }
    }

    /** Room was freed: admit suspended publishes in order while they fit; wake `flush` once empty. */
    const release = () => {
      let next = waiting.head
      if (next !== undefined && phase._tag === "Open" && fits(next)) {
        while (next !== undefined && fits(next)) {
          move(next, BUFFERED)
          next = waiting.head
        }
        wake()
      }
      if (drained.size > 0 && held() === 0 && waiting.size === 0) {
        const all = Array.from(drained)
        drained.clear()
        for (const resume of all) resume()
      }
    }

    // amqplib's own error (its classId / methodId say whether a publish caused the close).
    const causeOf = (channel: amqplib.ConfirmChannel): unknown => handle.errorOf(channel)?.cause

    const linkUp = (channel: amqplib.ConfirmChannel) => {
      link = { _tag: "Up", channel, writable: true }
      channel.once("close", () => linkDown(channel, causeOf(channel)))
      channel.on("drain", () => {
        if (link._tag === "Up" && link.channel === channel && !link.writable) {
          link.writable = true
          wake()
        }
      })
      // It may have closed before we listened: then no `close` will come.
      if (handle.isClosed(channel)) linkDown(channel, causeOf(channel))
    }

    /**
     * `channel` is dead (closed, timed out, or no longer the manager's): what it had in flight
     * goes back to the buffer in its original order (or fails, when the broker refused it with a
     * channel error; or is forgotten, when its caller left).
     */
    const linkDown = (channel: amqplib.ConfirmChannel, cause: unknown) => {
      if (link._tag === "Up" && link.channel === channel) {
        link = { _tag: "Down", channel, requeued: 0, cause }
      }
      const victims: Array<Message> = []
      for (const message of inFlight.values()) {
        if (message.state._tag === "InFlight" && message.state.channel === channel) victims.push(message)
      }
      if (victims.length > 0) {
        const refusal = publishRefusal(cause, name)
        let requeued = 0
        // Highest seq first: each goes in at the head of the buffer, in O(1).
        for (const message of victims.reverse()) {
          if (refusal !== undefined && (refusal.exchange === undefined || refusal.exchange === message.exchange)) {
            move(message, FAILED, Effect.fail(refusal.error))
          } else if (message.resume === undefined) {
            move(message, FAILED) // its caller left: not sent again
          } else {
            move(message, BUFFERED)
            requeued += 1
          }
        }
        if (requeued > 0) counters.republished.unsafeUpdate(requeued, [])
        if (link._tag === "Down" && link.channel === channel) {
          link.requeued += requeued
          link.cause = cause
        }
      }
      wake()
    }

    /**
     * The confirm deadlines, in send order: every message due fails with `Timeout`, and the
     * channel it was sent on is dropped (its other messages go back to the buffer). Returns the
     * next deadline, and the channel to invalidate with its `Timeout`.
     */
    const expire = (now: number): {
      readonly next: number
      readonly stale: { readonly channel: amqplib.ConfirmChannel; readonly timeout: Timeout } | undefined
    } => {
      if (blocked) return { next: Infinity, stale: undefined } // restarted when unblocked
      let stale: { readonly channel: amqplib.ConfirmChannel; readonly timeout: Timeout } | undefined = undefined
      let next = Infinity
      for (const message of inFlight.values()) {
        const state = message.state
        if (state._tag !== "InFlight") continue
        const deadline = deadlineOf(state.sentAt)
        if (deadline > now) {
          next = deadline
          break
        }
        const timeout = new Timeout({
          connection: name,
          kind: "Channel",
          operation: "confirm",
          duration: confirmTimeout,
          detail: `exchange "${message.exchange}", routing key "${message.routingKey}", messageId ${
            String(message.options.messageId)
          }; the message may still have been delivered`
        })
        stale = { channel: state.channel, timeout }
        move(message, FAILED, Effect.fail(timeout))
      }
      if (stale === undefined) return { next, stale }
      linkDown(stale.channel, stale.timeout)
      // What was left in flight went back to the buffer; its deadlines come with its next send.
      return { next: Infinity, stale }
    }

    const setBlocked = (on: boolean) => {
      if (on === blocked) return
      blocked = on
      if (!on) {
        unblockedAt = clock.unsafeCurrentTimeMillis()
        const first = inFlight.values().next()
        if (!first.done && first.value.state._tag === "InFlight") {
          const deadline = deadlineOf(first.value.state.sentAt)
          if (deadline !== Infinity) alarm.wakeBy(deadline)
        }
        wake()
      }
    }

    /** Fails every publish not settled yet with `error`; new ones fail with it at once. */
    const closeAll = (error: Closed) => {
      phase = { _tag: "Closed", error }
      const fail = Effect.fail(error)
      for (const message of waiting.toArray()) move(message, FAILED, fail)
      for (const message of Array.from(inFlight.values())) move(message, FAILED, fail)
      for (const message of buffer.toArray()) move(message, FAILED, fail)
      wake()
    }

    /** Leaving the buffer before it was sent (interrupted): at once. Sent: tracked, not resent. */
    const abandon = (message: Message) => {
      message.resume = undefined
      if (message.state._tag === "Waiting" || message.state._tag === "Buffered") move(message, FAILED)
    }

    const alarm = yield* Alarm.make((now) =>
      Effect.suspend(() => {
        const { next, stale } = expire(now)
        if (stale === undefined) return Effect.succeed(next)
        // A broker that does not confirm in time is most likely half-open (amqplib #530).
        return Effect.as(manager.invalidate(stale.timeout, stale.channel), next)
      })
    )

    // --- the sender ------------------------------------------------------------------------------

    const sendable = (channel: amqplib.ConfirmChannel) =>
      link._tag !== "Up" || link.channel !== channel || (!blocked && link.writable && buffer.head !== undefined)

    const parked = (ready: () => boolean) =>
      Effect.async<void>((resume) => {
        if (ready()) return resume(Effect.void)
        wakeSender = () => resume(Effect.void)
        return Effect.sync(() => {
          wakeSender = undefined
        })
      })

    /** Sends from the head of the buffer while the channel takes it; at most `limit` at once. */
    const sendSome = (channel: amqplib.ConfirmChannel, limit: number) => {
      const sentAt = clock.unsafeCurrentTimeMillis()
      for (let i = 0; i < limit; i++) {
        if (link._tag !== "Up" || link.channel !== channel || !link.writable || blocked) return
        const message = buffer.head
        if (message === undefined) return
        const state: MessageState = { _tag: "InFlight", channel, sentAt }
        move(message, state)
        let written: boolean
        try {
          written = channel.publish(
            message.exchange,
            message.routingKey,
            message.content,
            message.options,
            (error: unknown) => {
              if (message.state !== state) return // settled or resent meanwhile
              if (error === null || error === undefined) move(message, CONFIRMED)
              else if (isNack(error)) {
                move(
                  message,
                  NACKED,
                  Effect.fail(
                    new Nacked({
                      channel: name,
                      exchange: message.exchange,
                      routingKey: message.routingKey,
                      messageId: message.options.messageId
                    })
                  )
                )
              } else linkDown(channel, causeOf(channel) ?? error)
            }
          )
        } catch (error) {
          if (
            handle.isClosed(channel) ||
            (error instanceof Error && error.name === "IllegalOperationError")
          ) {
            // The channel is closed or closing: the message was not sent.
            move(message, BUFFERED)
            linkDown(channel, error)
            return
          }
          // amqplib refused the message itself (e.g. an option it cannot encode); nothing was written.
          move(message, FAILED, Effect.fail(classify(error, { connection: name, scope: "Channel" })))
          continue
        }
        if (!written && link._tag === "Up" && link.channel === channel) link.writable = false
      }
    }

    /**
     * A message just buffered: with nothing ahead of it and the channel taking messages, its
     * caller sends it at once (the order is kept: sending is synchronous and nothing is before
     * it); else the sender will.
     */
    const dispatch = (message: Message) => {
      if (buffer.head === message && link._tag === "Up" && link.writable && !blocked) sendSome(link.channel, 1)
      else wake()
    }

    const pump = (channel: amqplib.ConfirmChannel) =>
      Effect.gen(function*() {
        while (true) {
          yield* parked(() => sendable(channel))
          if (link._tag !== "Up" || link.channel !== channel) return
          sendSome(channel, 512)
          yield* Effect.yieldNow()
        }
      })

    const sender: Effect.Effect<void> = Effect.gen(function*() {
      let previous: amqplib.ConfirmChannel | undefined = undefined
      while (true) {
        const next: Either.Either<amqplib.ConfirmChannel, Closed> = yield* Effect.either(manager.awaitNext(previous))
        if (Either.isLeft(next)) {
          if (previous !== undefined) linkDown(previous, next.left)
          closeAll(next.left)
          // Wait for the channel to be started again (its `connect`), or for its end.
          const again = yield* manager.changes.pipe(
            Stream.filter((status) => status._tag !== "Closed"),
            Stream.runHead
          )
          if (Option.isNone(again)) return
          if (phase._tag === "Closed" && !ending) phase = OPEN
          continue
        }
        const channel: amqplib.ConfirmChannel = next.right
        if (previous !== undefined) linkDown(previous, undefined)
        linkUp(channel)
        yield* pump(channel)
        if (link._tag === "Down" && link.channel === channel && link.requeued > 0) {
          yield* Effect.logWarning(
            `redial: AMQP channel "${name}" died with ${link.requeued} unconfirmed messages; publishing them again on the next channel`
          ).pipe(Effect.annotateLogs({ channel: name, cause: String(link.cause) }))
        }
        previous = channel
      }
    })

    // A channel the manager dropped (invalidated, closed by the user) may not say `close` at once.
    const watchChannel = Stream.runForEach(
      manager.changes,
      () =>
        Effect.map(Effect.either(manager.get), (live) => {
          if (link._tag === "Up" && (Either.isLeft(live) || live.right !== link.channel)) {
            linkDown(link.channel, Either.isLeft(live) ? live.left : "replaced")
          }
        })
    )
    const watchBlocked = Stream.runForEach(
      handle.amqp.changes,
      (status) => Effect.sync(() => setBlocked(status._tag === "Blocked"))
    )

    yield* Effect.forkScoped(watchBlocked)
    yield* Effect.forkScoped(watchChannel)
    yield* Effect.forkScoped(sender)

    // --- graceful close: registered last, so it runs first (the sender still runs meanwhile) -----

    const flush: Effect.Effect<void> = Effect.async<void>((resume) => {
      if (held() === 0 && waiting.size === 0) return resume(Effect.void)
      const done = () => resume(Effect.void)
      drained.add(done)
      return Effect.sync(() => drained.delete(done))
    })

    yield* Effect.addFinalizer(() =>
      Effect.gen(function*() {
        ending = true
        const closed = new Closed({ connection: name, reason: "ScopeClosed", kind: "Channel" })
        if (phase._tag === "Open") phase = { _tag: "Closing", error: closed }
        const fail = Effect.fail(closed)
        for (const message of waiting.toArray()) move(message, FAILED, fail)
        // Finalizers run uninterruptibly: the wait must be made interruptible for its timeout to end it.
        if (!Duration.isZero(plain.closeTimeout)) {
          yield* Effect.timeoutOption(Effect.interruptible(flush), plain.closeTimeout)
        }
        closeAll(closed)
      })
    )

    // --- the API ---------------------------------------------------------------------------------

    const publish = (
      exchange: string,
      routingKey: string,
      content: Uint8Array | string,
      publishOptions?: AmqpChannel.PublishOptions
    ): Effect.Effect<void, AmqpChannel.PublishError> =>
      Effect.async<void, AmqpChannel.PublishError>((resume) => {
        if (phase._tag !== "Open") {
          counters.rejected.unsafeUpdate(1, [])
          return resume(Effect.fail(phase.error))
        }
        const bytes = toBuffer(content)
        if (bytes.length > maxBytes) {
          counters.rejected.unsafeUpdate(1, [])
          return resume(full.bytes)
        }
        const messageId = publishOptions?.messageId ?? crypto.randomUUID()
        const message: Message = {
          seq: ++seq,
          exchange,
          routingKey,
          content: bytes,
          options: publishOptions === undefined ? { messageId } : { ...publishOptions, messageId },
          state: NEW,
          resume,
          prev: undefined,
          next: undefined
        }
        if (waiting.size === 0 && fits(message)) {
          move(message, BUFFERED)
          dispatch(message)
        } else if (overflow === "suspend") move(message, WAITING)
        else if (overflow === "fail") {
          counters.rejected.unsafeUpdate(1, [])
          return resume(fullError(false))
        } else {
          // dropOldest: only messages not sent yet can go; in flight they stay counted.
          if (inFlight.size + 1 > maxMessages || inFlightBytes + bytes.length > maxBytes) {
            counters.rejected.unsafeUpdate(1, [])
            return resume(fullError(false))
          }
          while (!fits(message) && buffer.head !== undefined) {
            move(buffer.head, FAILED, fullError(true))
          }
          move(message, BUFFERED)
          dispatch(message)
        }
        return Effect.sync(() => abandon(message))
      })

    return {
      publish,
      sendToQueue: (queue, content, publishOptions) => publish("", queue, content, publishOptions),
      pending: Effect.sync(() => ({ buffered: buffer.size, inFlight: inFlight.size, bytes: heldBytes() })),
      flush
    }
  })
