/**
 * Consumers as Streams. One consumer is a loop (a fiber in the stream's scope) that subscribes to
 * the queue on the channel's open amqplib channel, and subscribes again when that ends:
 *
 * - the channel closed (a reconnect, or the broker closed the channel alone): on the next
 *   channel, at once (the channel's manager paces its reopening);
 * - the broker cancelled the consumer (`basic.cancel`: the queue was deleted) or `basic.consume`
 *   failed (404: the queue is missing; the failure also closes the channel): after the policy's
 *   delay, on the channel open then;
 * - the stream's buffer filled up and the consumer cancelled itself (below): once the stream has
 *   read the buffer down.
 *
 * Deliveries go into a buffer that the stream reads in chunks of at most {@link CHUNK}. With
 * acks, the channel's `prefetch` bounds it. With `noAck` (or without a prefetch) the broker sends
 * as fast as it can and cannot be slowed down (RabbitMQ has no `channel.flow` from the client),
 * so when {@link HIGH_WATER} deliveries are buffered the consumer is cancelled on the broker,
 * from amqplib's callback (no round trip through a fiber first), and subscribed again once the
 * stream has read the buffer down to {@link LOW_WATER}. Nothing is dropped: the deliveries that
 * were on the wire when the broker took the cancel still arrive and are kept, so the bound is
 * `HIGH_WATER` plus that overshoot plus the chunk the stream is handing out. The overshoot is
 * bounded in bytes, not messages: what the TCP buffers and the broker's own pipeline hold, about
 * 6 MB on loopback (some 1,400 messages of 4 KB, but a whole queue of 20,000 tiny ones).
 *
 * When the stream stops, the consumer is cancelled on the broker (bounded by a timeout) and the
 * deliveries still in the buffer are nacked back to their queue at once. Those already handed
 * downstream are their holder's to settle: a chunk goes downstream whole, so the rest of a chunk
 * that an operator drops unread (`Stream.take` mid-chunk) stays unacked until its channel closes.
 * (One delivery per chunk would avoid that, at about 2.4 times the CPU per delivery.)
 *
 * A delivery is settled at most once, on the channel it came on: a second ack, nack or reject is
 * a no-op (a second `basic.ack` of one tag makes the broker close the channel with 406), and one
 * whose channel has closed fails with `StaleDelivery` without calling amqplib. With `noAck` all
 * three are no-ops.
 *
 * The loop's state is one value (`State`), changed only by `setState` (from the loop and from
 * the loop's finalizer); amqplib's callback and the stream's reader only read it and post
 * `Event`s, which the loop handles in order.
 *
 * @internal
 */
import { Closed, ConnectFailed } from "@redial/core"
import type * as amqplib from "amqplib"
import * as Cause from "effect/Cause"
import * as Chunk from "effect/Chunk"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as ScheduleDecision from "effect/ScheduleDecision"
import * as Intervals from "effect/ScheduleIntervals"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type * as AmqpChannel from "../AmqpChannel.js"
import { type AmqpError, classify, StaleDelivery } from "../AmqpError.js"
import type { Handle } from "./channel.js"

/** Past this many buffered deliveries the consumer is cancelled on the broker (paused). @internal */
export const HIGH_WATER = 1024
/** …and subscribed again once the stream has read the buffer down to this many. @internal */
export const LOW_WATER = 256
/** The most deliveries the stream takes from the buffer at once. @internal */
export const CHUNK = 256
/** How long cancelling the consumer may take when the stream stops. */
const CANCEL_TIMEOUT = Duration.seconds(5)

const noop = () => {}

type Settle = "ack" | "nack" | "reject"

/** One delivery; its settlement state is `settled`, set once by the first ack, nack or reject. */
class DeliveryImpl<C extends amqplib.Channel> implements AmqpChannel.Delivery {
  readonly content: Buffer
  readonly fields: amqplib.ConsumeMessageFields
  readonly properties: amqplib.MessageProperties
  private settled = false
  constructor(
    readonly message: amqplib.ConsumeMessage,
    readonly channel: C,
    private readonly consumer: { readonly handle: Handle<C>; readonly noAck: boolean }
  ) {
    this.content = message.content
    this.fields = message.fields
    this.properties = message.properties
  }
  /** The channel it came on has closed: it cannot be settled any more (the broker requeued it). */
  get stale(): boolean {
    return this.consumer.handle.isClosed(this.channel)
  }
  get ack(): Effect.Effect<void, StaleDelivery> {
    return this.settle("ack", (channel, message) => channel.ack(message))
  }
  nack(options?: { readonly requeue?: boolean | undefined }): Effect.Effect<void, StaleDelivery> {
    return this.settle("nack", (channel, message) => channel.nack(message, false, options?.requeue ?? true))
  }
  reject(options?: { readonly requeue?: boolean | undefined }): Effect.Effect<void, StaleDelivery> {
    return this.settle("reject", (channel, message) => channel.reject(message, options?.requeue ?? true))
  }
  /**
   * Settles on the channel the delivery came on, never another: its delivery tag means nothing
   * elsewhere (a foreign tag makes the broker close the channel with 406). A second settlement
   * is a no-op, since a second `basic.ack` of one tag would also close the channel with 406.
   */
  private settle(
    operation: Settle,
    f: (channel: C, message: amqplib.ConsumeMessage) => void
  ): Effect.Effect<void, StaleDelivery> {
    return Effect.suspend(() => {
      if (this.consumer.noAck || this.settled) return Effect.void
      const stale = () =>
        Effect.fail(
          new StaleDelivery({
            channel: this.consumer.handle.name,
            deliveryTag: this.fields.deliveryTag,
            operation
          })
        )
      if (this.stale) return stale()
      try {
        f(this.channel, this.message) // throws IllegalOperationError on a channel closing or closed
      } catch {
        return stale()
      }
      this.settled = true
      return Effect.void
    })
  }
  /** Gives an undelivered message back to the queue (the stream stopped before handing it out). */
  requeue(): void {
    if (this.consumer.noAck || this.settled || this.stale) return
    this.settled = true
    try {
      this.channel.nack(this.message, false, true)
    } catch {
      // the channel is closing: the broker requeues it anyway
    }
  }
}

/** The end of the deliveries: the consumer's loop failed (the channel closed for good, or the policy gave up). */
class End {
  constructor(readonly cause: Cause.Cause<AmqpError | Closed>) {}
}

type State<C> =
  /** No subscription: waiting for a channel, or for the policy's delay. */
  | { readonly _tag: "Idle" }
  /** `basic.consume` sent on `channel`; deliveries may arrive before its reply. */
  | { readonly _tag: "Subscribing"; readonly channel: C }
  | { readonly _tag: "Active"; readonly channel: C; readonly consumerTag: string }
  /** Cancelled by us because the buffer is full; waits for the stream to read it down. */
  | { readonly _tag: "Paused"; readonly channel: C }
  /** The stream stopped: late deliveries go back to the queue. */
  | { readonly _tag: "Stopped" }

type Event<C> =
  | { readonly _tag: "ChannelClosed"; readonly channel: C }
  | { readonly _tag: "BrokerCancel"; readonly channel: C }
  /** The buffer reached HIGH_WATER and the callback sent `basic.cancel`: `cancelled` is its outcome. */
  | {
    readonly _tag: "Full"
    readonly channel: C
    readonly consumerTag: string
    readonly cancelled: Promise<boolean>
  }
  | { readonly _tag: "Drained" }

/** How one subscription ended. */
type Outcome =
  | { readonly _tag: "Lost" }
  | { readonly _tag: "BrokerCancel" }
  | { readonly _tag: "Failed"; readonly error: AmqpError }
  | { readonly _tag: "Drained" }

/** The broker cancelled the consumer: the policy's input, and the cause when the policy gives up. */
const cancelledBy = (queue: string) =>
  new Error(`the broker cancelled the consumer of queue "${queue}" (the queue was deleted, or its node went down)`)

const make = <C extends amqplib.Channel>(
  handle: Handle<C>,
  queue: string,
  options: AmqpChannel.ConsumeOptions | undefined
): Effect.Effect<
  Effect.Effect<Chunk.Chunk<AmqpChannel.Delivery>, Option.Option<AmqpError | Closed>>,
  never,
  Scope.Scope
> =>
  Effect.gen(function*() {
    const { manager, name } = handle
    const noAck = options?.noAck ?? false
    const policy = options?.policy ?? handle.policy
    const consumeOptions: amqplib.Options.Consume = { noAck }
    if (options?.exclusive !== undefined) consumeOptions.exclusive = options.exclusive
    if (options?.priority !== undefined) consumeOptions.priority = options.priority
    if (options?.arguments !== undefined) consumeOptions.arguments = options.arguments
    const self = { handle, noAck }

    const buffer = yield* Queue.unbounded<DeliveryImpl<C> | End>()
    const events = yield* Queue.unbounded<Event<C>>()
    const buffered = () => Option.getOrElse(buffer.unsafeSize(), () => 0)

    let state: State<C> = { _tag: "Idle" }
    const setState = (next: State<C>) => {
      state = next
    }

    const post = (event: Event<C>) => {
      Queue.unsafeOffer(events, event)
    }

    /** amqplib's callback: runs inside its frame loop, so it must never throw. */
    const onMessage = (channel: C) => (message: amqplib.ConsumeMessage | null) => {
      if (message === null) return post({ _tag: "BrokerCancel", channel })
      const delivery = new DeliveryImpl(message, channel, self)
      if (state._tag === "Stopped") return delivery.requeue()
      Queue.unsafeOffer(buffer, delivery)
      if (buffered() === HIGH_WATER) {
        const consumerTag = message.fields.consumerTag
        post({ _tag: "Full", channel, consumerTag, cancelled: cancelPromise(channel, consumerTag) })
      }
    }

    /** `basic.consume`; a subscription made after the wait was interrupted is cancelled at once. */
    const basicConsume = (channel: C): Effect.Effect<string, AmqpError> =>
      Effect.async<string, AmqpError>((resume) => {
        let abandoned = false
        let promise: Promise<amqplib.Replies.Consume>
        try {
          promise = channel.consume(queue, onMessage(channel), consumeOptions)
        } catch (error) {
          resume(Effect.fail(classify(error, { connection: name, scope: "Channel" })))
          return
        }
        promise.then(
          (ok) => {
            if (abandoned) channel.cancel(ok.consumerTag).catch(noop)
            else resume(Effect.succeed(ok.consumerTag))
          },
          (error) => {
            if (!abandoned) resume(Effect.fail(classify(error, { connection: name, scope: "Channel" })))
          }
        )
        return Effect.sync(() => {
          abandoned = true
        })
      })

    /** `basic.cancel`: true once the broker confirmed it, false when the channel closed first. */
    const cancelPromise = (channel: C, consumerTag: string): Promise<boolean> =>
      channel.cancel(consumerTag).then(() => true, () => false)

    /**
     * Serves one subscription on `channel` until it ends; `subscribed` runs once `basic.consume`
     * succeeded.
     */
    const subscription = (channel: C, subscribed: Effect.Effect<void>): Effect.Effect<Outcome> =>
      Effect.acquireUseRelease(
        // Events left from earlier subscriptions (the close after a failed consume) mean nothing
        // now: dropped, so that they do not pile up while the queue stays missing.
        Effect.zipRight(
          Queue.takeAll(events),
          Effect.sync(() => {
            const onClose = () => post({ _tag: "ChannelClosed", channel })
            channel.once("close", onClose)
            return onClose
          })
        ),
        () =>
          Effect.gen(function*() {
            if (handle.isClosed(channel)) return { _tag: "Lost" } as const
            setState({ _tag: "Subscribing", channel })
            const consumed = yield* Effect.either(basicConsume(channel))
            if (consumed._tag === "Left") {
              setState({ _tag: "Idle" })
              const error = consumed.left
              return error.replyCode === undefined && error.reason === "ChannelClosed"
                ? { _tag: "Lost" } as const
                : { _tag: "Failed", error } as const
            }
            setState({ _tag: "Active", channel, consumerTag: consumed.right })
            yield* subscribed
            return yield* serve(channel)
          }),
        (onClose) => Effect.sync(() => channel.off("close", onClose))
      )

    /** Handles the events of the subscription on `channel`; the others are stale hints. */
    const serve = (channel: C): Effect.Effect<Outcome> =>
      Effect.gen(function*() {
        while (true) {
          const event = yield* Queue.take(events)
          switch (event._tag) {
            case "ChannelClosed": {
              if (event.channel !== channel) break
              setState({ _tag: "Idle" })
              return { _tag: "Lost" }
            }
            case "BrokerCancel": {
              if (event.channel !== channel || state._tag !== "Active") break
              setState({ _tag: "Idle" })
              return { _tag: "BrokerCancel" }
            }
            case "Full": {
              if (state._tag !== "Active" || event.consumerTag !== state.consumerTag) break
              const cancelled = event.cancelled
              if (!(yield* Effect.promise(() => cancelled))) break // the channel closed: its event follows
              setState({ _tag: "Paused", channel })
              yield* Effect.logDebug(`redial: consumer of "${queue}" paused: ${buffered()} deliveries buffered`)
              if (buffered() <= LOW_WATER) post({ _tag: "Drained" })
              break
            }
            case "Drained": {
              if (state._tag !== "Paused" || buffered() > LOW_WATER) break
              setState({ _tag: "Idle" })
              return { _tag: "Drained" }
            }
          }
        }
      })

    const closed = manager.changes.pipe(Stream.filter((status) => status._tag === "Closed"), Stream.runHead)

    const run: Effect.Effect<never, Closed> = Effect.gen(function*() {
      let previous: C | undefined = undefined
      // After a loss: a channel other than the one that closed; otherwise the one open now.
      let fresh = true
      let failures = 0
      let policyState: unknown = policy.initial
      // Why the last subscription ended (logged when the next one is made); none before the first.
      let after: string | undefined = undefined

      /** Waits the policy's delay after a failed subscription; fails with Closed when it gives up. */
      const backoff = (cause: unknown, what: string) =>
        Effect.gen(function*() {
          failures += 1
          const now = yield* Clock.currentTimeMillis
          const [next, , decision] = yield* policy.step(now, cause, policyState)
          if (ScheduleDecision.isDone(decision)) {
            yield* Effect.logWarning(`redial: consumer of "${queue}": ${what}; the policy gave up`)
            return yield* new Closed({
              connection: name,
              kind: "Channel",
              reason: "PolicyExhausted",
              error: new ConnectFailed({ connection: name, attempt: failures, cause })
            })
          }
          policyState = next
          const delay = Duration.millis(Math.max(0, Intervals.start(decision.intervals) - now))
          yield* Effect.logWarning(
            `redial: consumer of "${queue}": ${what}; subscribing again in ${Duration.format(delay)}`
          )
          // A channel that closes for good meanwhile ends the wait: awaitNext then fails with Closed.
          yield* Effect.raceFirst(Effect.sleep(delay), closed)
        })

      const subscribed = Effect.suspend(() => {
        failures = 0
        policyState = policy.initial
        const why = after
        after = undefined
        return why === undefined
          ? Effect.logDebug(`redial: consumer of "${queue}" subscribed`)
          : Effect.logInfo(`redial: consumer of "${queue}" subscribed again after ${why}`)
      })

      while (true) {
        const channel: C = fresh ? yield* manager.awaitNext(previous) : yield* manager.await()
        previous = channel
        const outcome = yield* subscription(channel, subscribed)
        switch (outcome._tag) {
          case "Lost": {
            after ??= "its channel closed"
            fresh = true
            break
          }
          case "Drained": {
            yield* Effect.logDebug(`redial: consumer of "${queue}" resumed: ${buffered()} deliveries buffered`)
            fresh = false
            break
          }
          case "BrokerCancel": {
            after = "the broker cancelled it"
            yield* backoff(cancelledBy(queue), "the broker cancelled the consumer (was the queue deleted?)")
            fresh = handle.isClosed(channel)
            break
          }
          case "Failed": {
            after = "a failed subscription"
            yield* backoff(outcome.error, `subscribing failed: ${outcome.error.message}`)
            fresh = handle.isClosed(channel)
            break
          }
        }
      }
    })

    /**
     * The stream stopped (its scope ended): cancel the consumer on the broker, then give the
     * deliveries it never handed out back to the queue at once (not when the channel closes).
     */
    const stop = Effect.suspend(() => {
      const current = state
      const cancel = current._tag === "Active" && !handle.isClosed(current.channel)
        ? Effect.promise(() => cancelPromise(current.channel, current.consumerTag)).pipe(
          Effect.timeoutOption(CANCEL_TIMEOUT)
        )
        : Effect.void
      return Effect.zipRight(
        cancel,
        Effect.flatMap(Queue.takeAll(buffer), (left) =>
          Effect.sync(() => {
            setState({ _tag: "Stopped" })
            for (const item of left) if (item instanceof DeliveryImpl) item.requeue()
          }))
      )
    })

    yield* run.pipe(
      Effect.onExit((exit) =>
        Exit.isInterrupted(exit) ? stop : Effect.sync(() => {
          setState({ _tag: "Stopped" })
          if (Exit.isFailure(exit)) Queue.unsafeOffer(buffer, new End(exit.cause))
        })
      ),
      Effect.annotateLogs({ channel: name, queue }),
      Effect.forkScoped
    )

    // The stream's reader. A delivery whose channel has closed is back in its queue (the broker
    // sends it again), so it is dropped here, except with noAck (the broker has forgotten it).
    let ended: End | undefined = undefined
    const pull: Effect.Effect<Chunk.Chunk<AmqpChannel.Delivery>, Option.Option<AmqpError | Closed>> = Effect.suspend(
      () =>
        ended !== undefined
          ? Effect.failCause(Cause.map(ended.cause, Option.some))
          : Effect.flatMap(Queue.takeBetween(buffer, 1, CHUNK), (items) => {
            if (state._tag === "Paused" && buffered() <= LOW_WATER) post({ _tag: "Drained" })
            const out: Array<AmqpChannel.Delivery> = []
            for (const item of items) {
              if (item instanceof End) {
                ended = item
                break
              }
              if (noAck || !item.stale) out.push(item)
            }
            return out.length === 0 ? pull : Effect.succeed(Chunk.unsafeFromArray(out))
          })
    )
    return pull
  })

/** @internal */
export const consume = <C extends amqplib.Channel>(
  handle: Handle<C>,
  queue: string,
  options: AmqpChannel.ConsumeOptions | undefined
): Stream.Stream<AmqpChannel.Delivery, AmqpError | Closed> =>
  Stream.unwrapScoped(Effect.map(make(handle, queue, options), Stream.repeatEffectChunkOption))
