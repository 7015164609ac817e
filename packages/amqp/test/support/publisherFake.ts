/**
 * A scripted confirm channel for the publisher's unit tests on `TestClock`: a core `Connection`
 * whose connections are {@link FakeChannel}s, opened while the "broker" is reachable, and a
 * stand-in for the AMQP connection whose status a test sets (e.g. `Blocked`).
 */
import { Connection, Reconnect } from "@redial/core"
import type * as amqplib from "amqplib"
import { Duration, Effect, Scope, SubscriptionRef } from "effect"
import { EventEmitter } from "node:events"
import type * as AmqpConnection from "../../src/AmqpConnection.js"
import { type AmqpError, classify } from "../../src/AmqpError.js"
import type { Base, Handle } from "../../src/internal/channel.js"
import * as publisher from "../../src/internal/publisher.js"

/** One `publish` the channel received. */
export interface Sent {
  readonly exchange: string
  readonly routingKey: string
  readonly content: Buffer
  readonly options: amqplib.Options.Publish
  readonly callback: (error: unknown, ok?: unknown) => void
  settled: boolean
}

class IllegalOperationError extends Error {
  override name = "IllegalOperationError"
}

/** amqplib's `ConfirmChannel`, as far as the publisher uses it. */
export class FakeChannel extends EventEmitter {
  readonly sent: Array<Sent> = []
  closed = false
  /** The error it died with, as amqplib's `error` event gave it (classified, as the real handle does). */
  error: AmqpError | undefined = undefined
  /** While true, `publish` returns false (amqplib's write buffer is full) until `drain()`. */
  full = false
  /** While set, `publish` throws it (after the channel closed under us, for instance). */
  throwing: Error | undefined = undefined

  constructor(readonly id: number) {
    super()
  }

  publish(
    exchange: string,
    routingKey: string,
    content: Buffer,
    options: amqplib.Options.Publish,
    callback: (error: unknown, ok?: unknown) => void
  ): boolean {
    if (this.throwing !== undefined) throw this.throwing
    if (this.closed) throw new IllegalOperationError("Channel closed")
    this.sent.push({ exchange, routingKey, content, options, callback, settled: false })
    return !this.full
  }

  /** The routing keys sent on this channel, in order. */
  get keys(): Array<string> {
    return this.sent.map((s) => s.routingKey)
  }

  get unsettled(): Array<Sent> {
    return this.sent.filter((s) => !s.settled)
  }

  /** Confirms the first `n` unconfirmed messages (all by default). */
  ack(n = Infinity): void {
    for (const s of this.unsettled.slice(0, n)) {
      s.settled = true
      s.callback(null, {})
    }
  }

  /** Nacks the unconfirmed message with this routing key. */
  nack(routingKey: string): void {
    const s = this.unsettled.find((s) => s.routingKey === routingKey)
    if (s === undefined) throw new Error(`nothing unconfirmed with routing key ${routingKey}`)
    s.settled = true
    s.callback(new Error("message nacked"))
  }

  drain(): void {
    this.full = false
    this.emit("drain")
  }

  /**
   * The channel dies as amqplib reports it: `error` (when the broker closed it with one), then
   * every unconfirmed callback gets 'channel closed', then `close`.
   */
  kill(error?: Error): void {
    if (this.closed) return
    this.closed = true
    if (error !== undefined) {
      this.error = classify(error, { connection: "fake", scope: "Channel" })
      this.emit("error", error)
    }
    const closed = new Error("channel closed")
    for (const s of this.unsettled) {
      s.settled = true
      s.callback(closed)
    }
    this.emit("close")
  }

  /** The manager closing it (its release): amqplib ignores every frame but CloseOk, then closes. */
  close(): Promise<void> {
    this.kill()
    return Promise.resolve()
  }
}

/** A broker close of a channel caused by a publish, as amqplib reports it. */
export const channelError = (code: number, name: string, text: string): Error =>
  Object.assign(new Error(`Channel closed by server: ${code} (${name}) with message "${text}"`), {
    code,
    classId: 60,
    methodId: 40
  })

export interface Fake {
  readonly handle: Handle<amqplib.ConfirmChannel>
  readonly manager: Connection.Connection<FakeChannel>
  /** Every channel opened so far, in order. */
  readonly channels: Array<FakeChannel>
  /** The channel opened last. */
  readonly current: () => FakeChannel
  /** While false, no channel opens (the broker is away); opening waits. */
  readonly reachable: (on: boolean) => Effect.Effect<void>
  /** Sets the AMQP connection's status (e.g. `{ _tag: "Blocked", attempt: 1, reason: "low on memory" }`). */
  readonly setStatus: (status: AmqpConnection.Status) => Effect.Effect<void>
}

/** A fake channel handle; the channel opens at once unless `reachable: false`. */
export const make = (options: { readonly reachable?: boolean; readonly name?: string } = {}) =>
  Effect.gen(function*() {
    const name = options.name ?? "fake"
    const channels: Array<FakeChannel> = []
    const latch = yield* Effect.makeLatch(options.reachable ?? true)
    const status = yield* SubscriptionRef.make<AmqpConnection.Status>({ _tag: "Connected", attempt: 1 })
    const manager = yield* Connection.make<FakeChannel, never>({
      name,
      // Waiting for the "broker" stays interruptible: outside acquireRelease's acquire.
      acquire: Effect.zipRight(
        latch.await,
        Effect.acquireRelease(
          Effect.sync(() => {
            const channel = new FakeChannel(channels.length + 1)
            channel.on("error", () => {})
            channels.push(channel)
            return channel
          }),
          (channel) => Effect.promise(() => channel.close())
        )
      ),
      lost: (channel) =>
        Effect.async<void>((resume) => {
          if (channel.closed) return resume(Effect.void)
          const onClose = () => resume(Effect.void)
          channel.once("close", onClose)
          return Effect.sync(() => channel.off("close", onClose))
        }),
      policy: Reconnect.fixed("100 millis"),
      minUptime: 0,
      connectTimeout: Duration.infinity
    })
    const amqp = {
      name,
      status: SubscriptionRef.get(status),
      changes: status.changes
    } as unknown as Base
    const handle: Handle<amqplib.ConfirmChannel> = {
      name,
      amqp,
      manager: manager as unknown as Connection.Connection<amqplib.ConfirmChannel>,
      policy: Reconnect.fixed("100 millis"),
      isClosed: (channel) => (channel as unknown as FakeChannel).closed,
      errorOf: (channel) => (channel as unknown as FakeChannel).error
    }
    const fake: Fake = {
      handle,
      manager,
      channels,
      current: () => {
        const last = channels.at(-1)
        if (last === undefined) throw new Error("no channel opened yet")
        return last
      },
      reachable: (on) => on ? latch.open : latch.close,
      setStatus: (next) => SubscriptionRef.set(status, next)
    }
    return fake
  })

/**
 * A fake handle and a publisher on it, in the current scope. Its `closeTimeout` is 0 unless
 * given: on `TestClock` a graceful close would wait for ever for what a failed test left.
 */
export const publisherOn = (
  options: Parameters<typeof publisher.make>[1] = {},
  fakeOptions: Parameters<typeof make>[0] = {}
) =>
  Effect.gen(function*() {
    const fake = yield* make(fakeOptions)
    const pub = yield* publisher.make(fake.handle, { closeTimeout: 0, ...options })
    return { fake, pub }
  })

/** Runs `effect` in a scope of its own and returns that scope, open, to close it when the test says. */
export const inScope = <A, E, R>(effect: Effect.Effect<A, E, R | Scope.Scope>) =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    const value = yield* Scope.extend(effect, scope)
    return { scope, value }
  })
