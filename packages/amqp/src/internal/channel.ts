/**
 * Managed channels: each is a core `Connection` whose connections are amqplib channels on the
 * cached AMQP connection. Opening one waits for the AMQP connection, opens the channel, listens
 * for its `error` (amqplib rethrows an unheard one and takes the whole connection down), runs
 * `prefetch` and the setup, and only then hands it out. The channel's `close` is its loss: the
 * manager opens a new one (at once, or after the policy's delay when it closed young).
 *
 * @internal
 */
import { Closed, Connection, type InvalidOption, Options, Reconnect, Timeout } from "@redial/core"
import type * as amqplib from "amqplib"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Predicate from "effect/Predicate"
import type * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type * as AmqpChannel from "../AmqpChannel.js"
import type * as AmqpConnection from "../AmqpConnection.js"
import { AmqpError, classify, SetupFailed } from "../AmqpError.js"
import * as consumer from "./consumer.js"
import * as publisher from "./publisher.js"

/** The connection without its channel constructors (what `internal/amqpConnection` makes). @internal */
export type Base = Omit<AmqpConnection.AmqpConnection, "channel" | "confirmChannel" | "consume">

/**
 * What the publisher and the consumer build on: the channel's manager, its name, the
 * connection, and whether a given amqplib channel has closed (its deliveries are then stale).
 *
 * @internal
 */
export interface Handle<C extends amqplib.Channel> {
  readonly name: string
  readonly amqp: Base
  readonly manager: Connection.Connection<C>
  readonly policy: Schedule.Schedule<unknown, unknown>
  /** True once `channel` has emitted `close`. */
  readonly isClosed: (channel: C) => boolean
  /** The last `error` `channel` emitted (the reason its `close` reports), classified. */
  readonly errorOf: (channel: C) => AmqpError | undefined
}

const Plain = Schema.Struct({
  name: Schema.optional(Options.nonEmptyString),
  prefetch: Schema.optional(Options.integer({ min: 0, max: 65535 })),
  openTimeout: Schema.optionalWith(Options.duration(), { default: () => Duration.seconds(10) }),
  minUptime: Schema.optionalWith(Options.duration({ min: 0 }), { default: () => Duration.seconds(1) }),
  highWaterMark: Schema.optional(Options.integer({ min: 1 }))
})

const noop = () => {}

let counter = 0

const closedChannels = new WeakSet<amqplib.Channel>()
const channelErrors = new WeakMap<amqplib.Channel, AmqpError>()

/** Opens one amqplib channel; one that opens after the wait was interrupted is closed at once. */
const openChannel = <C extends amqplib.Channel>(
  model: amqplib.ChannelModel,
  confirm: boolean,
  highWaterMark: number | undefined,
  name: string
): Effect.Effect<C, AmqpError> =>
  Effect.async<C, AmqpError>((resume) => {
    let abandoned = false
    const options = highWaterMark === undefined ? undefined : { highWaterMark }
    let promise: Promise<amqplib.Channel>
    try {
      promise = confirm ? model.createConfirmChannel(options) : model.createChannel(options)
    } catch (error) {
      resume(Effect.fail(classify(error, { connection: name, scope: "Channel" })))
      return
    }
    promise.then(
      (channel) => {
        // Before anything else can happen on it: an unheard `error` would kill the connection.
        channel.on("error", (error: unknown) =>
          channelErrors.set(channel, classify(error, { connection: name, scope: "Channel" })))
        channel.once("close", () =>
          closedChannels.add(channel))
        if (abandoned) {
          channel.close().catch(noop)
          return
        }
        resume(Effect.succeed(channel as C))
      },
      (error) => {
        if (!abandoned) resume(Effect.fail(classify(error, { connection: name, scope: "Channel" })))
      }
    )
    return Effect.sync(() => {
      abandoned = true
    })
  })

const closeChannel = (channel: amqplib.Channel): Effect.Effect<void> =>
  closedChannels.has(channel)
    ? Effect.void
    : Effect.promise(() => channel.close().catch(noop)).pipe(
      // A finalizer runs uninterruptibly: without this the timeout could not end the wait (and
      // amqplib never settles close() when the connection dies while the channel is closing).
      Effect.interruptible,
      Effect.timeoutOption("2 seconds"),
      Effect.asVoid
    )

const runSetup = <C extends amqplib.Channel>(
  setup: NonNullable<AmqpChannel.ChannelOptions<C>["setup"]>,
  channel: C,
  name: string
): Effect.Effect<void, SetupFailed> =>
  Effect.suspend(() => {
    let result: PromiseLike<unknown> | Effect.Effect<unknown, unknown>
    try {
      result = setup(channel)
    } catch (error) {
      return Effect.fail(
        new SetupFailed({ channel: name, cause: classify(error, { connection: name, scope: "Channel" }) })
      )
    }
    const run: Effect.Effect<unknown, unknown> = Effect.isEffect(result)
      ? result
      : Effect.tryPromise({ try: () => Promise.resolve(result), catch: (error) => error })
    return Effect.asVoid(
      Effect.mapError(run, (error) =>
        new SetupFailed({
          channel: name,
          cause: error instanceof Error && !Predicate.hasProperty(error, "_tag")
            ? classify(error, { connection: name, scope: "Channel" })
            : error
        }))
    )
  })

/** @internal */
export const makeHandle = <C extends amqplib.Channel>(
  amqp: Base,
  confirm: boolean,
  options: AmqpChannel.ChannelOptions<C>
): Effect.Effect<Handle<C>, InvalidOption, Scope.Scope> =>
  Effect.gen(function*() {
    const plain = yield* Options.decodeEffect(Plain, {
      name: options.name,
      prefetch: options.prefetch,
      openTimeout: options.openTimeout,
      minUptime: options.minUptime,
      highWaterMark: options.highWaterMark
    })
    const name = plain.name ?? `${amqp.name}/channel-${++counter}`
    const policy = options.policy ?? Reconnect.exponential({ min: "100 millis", max: "10 seconds" })

    const open = Effect.gen(function*() {
      const model = yield* amqp.connection.await()
      const channel = yield* Effect.uninterruptibleMask((restore) =>
        restore(
          openChannel<C>(model, confirm, plain.highWaterMark, name).pipe(
            Effect.timeoutFail({
              duration: plain.openTimeout,
              onTimeout: () =>
                new Timeout({ connection: name, kind: "Channel", operation: "connect", duration: plain.openTimeout })
            }),
            // A connection that does not open a channel in time is not answering: drop it.
            Effect.tapError((error) =>
              error instanceof Timeout ? amqp.connection.invalidate(error, model) : Effect.void
            )
          )
        ).pipe(Effect.tap((channel) => Effect.addFinalizer(() => closeChannel(channel))))
      )
      const setup = Effect.gen(function*() {
        if (plain.prefetch !== undefined) {
          const count = plain.prefetch
          yield* Effect.tryPromise({
            try: () => channel.prefetch(count),
            catch: (error) =>
              new SetupFailed({ channel: name, cause: classify(error, { connection: name, scope: "Channel" }) })
          })
        }
        if (options.setup !== undefined) yield* runSetup(options.setup, channel, name)
      })
      yield* setup.pipe(
        Effect.timeoutFail({
          duration: plain.openTimeout,
          onTimeout: () =>
            new Timeout({
              connection: name,
              kind: "Channel",
              operation: "afterConnect",
              duration: plain.openTimeout,
              detail: "setup"
            })
        })
      )
      return channel
    })

    const manager = yield* Connection.make<C, AmqpError | SetupFailed | Timeout | Closed>({
      name,
      acquire: open,
      lost: (channel) =>
        Effect.async<never, AmqpError>((resume) => {
          const onClose = () =>
            resume(Effect.fail(
              channelErrors.get(channel) ??
                new AmqpError({ reason: "ChannelClosed", connection: name, scope: "Channel" })
            ))
          if (closedChannels.has(channel)) {
            onClose()
            return
          }
          channel.once("close", onClose)
          return Effect.sync(() => channel.off("close", onClose))
        }),
      policy,
      connectTimeout: Duration.infinity,
      minUptime: plain.minUptime,
      isFatal: (error) => error instanceof Closed
    })
    // A channel closes with its connection (closed by the user, a fatal error, a policy that gave
    // up); the connection's `connect` starts it again (see `attach`).
    yield* Effect.acquireRelease(
      Effect.sync(() => channelsOf(amqp).add(manager)),
      () => Effect.sync(() => channelsOf(amqp).delete(manager))
    )
    // A channel waiting out its own delay would see its connection closed for good only when the
    // delay ends (a minute, with a slow policy): close it with the connection.
    yield* amqp.connection.changes.pipe(
      Stream.filter((status) => status._tag === "Closed" && status.reason !== "ScopeClosed"),
      Stream.runForEach(() =>
        Effect.flatMap(manager.status, (status) => status._tag === "Backoff" ? manager.close : Effect.void)
      ),
      Effect.forkScoped
    )
    return {
      name,
      amqp,
      manager,
      policy,
      isClosed: (channel: C) => closedChannels.has(channel),
      errorOf: (channel: C) => channelErrors.get(channel)
    }
  })

/** The part of a channel's API that every channel has. @internal */
export const channelApi = <C extends amqplib.Channel>(handle: Handle<C>): AmqpChannel.AmqpChannel<C> => {
  const { manager, name } = handle
  return {
    name,
    connection: manager,
    get: manager.get,
    await: (options) =>
      options?.timeout === undefined ? manager.await() : manager.await({ timeout: options.timeout }) as never,
    status: manager.status,
    changes: manager.changes,
    call: <B>(f: (channel: C) => PromiseLike<B> | B) =>
      Effect.flatMap(manager.await(), (channel) =>
        Effect.tryPromise({
          try: async () => f(channel),
          catch: (error) => classify(error, { connection: name, scope: "Channel" })
        })),
    consume: (queue, options) => consumer.consume(handle, queue, options)
  }
}

/** The channel managers open on each connection, started again by its `connect`. */
const registry = new WeakMap<Base, Set<Connection.Connection<amqplib.Channel>>>()

const channelsOf = (amqp: Base): Set<Connection.Connection<amqplib.Channel>> => {
  let channels = registry.get(amqp)
  if (channels === undefined) {
    channels = new Set()
    registry.set(amqp, channels)
  }
  return channels
}

/** Adds the channel constructors to a connection. @internal */
export const attach = (base: Base): AmqpConnection.AmqpConnection => {
  const channel = (options?: AmqpChannel.ChannelOptions) =>
    Effect.map(makeHandle<amqplib.Channel>(base, false, options ?? {}), channelApi)
  const confirmChannel = (options?: AmqpChannel.ConfirmChannelOptions) =>
    Effect.gen(function*() {
      const handle = yield* makeHandle<amqplib.ConfirmChannel>(base, true, options ?? {})
      const publish = yield* publisher.make(handle, options ?? {})
      return { ...channelApi(handle), ...publish }
    })
  // `connect` starts the connection, then every channel that closed with it: once it returns, a
  // channel's `await` waits for the new connection instead of failing with the old `Closed`.
  const connect = Effect.zipRight(
    base.connect,
    Effect.suspend(() =>
      Effect.forEach(channelsOf(base), (manager) =>
        Effect.flatMap(
          manager.status,
          (status) =>
            status._tag === "Closed" && status.reason !== "ScopeClosed" ? Effect.ignore(manager.connect) : Effect.void
        ), { discard: true })
    )
  )
  return {
    ...base,
    connect,
    channel,
    confirmChannel,
    consume: (queue, options) =>
      Stream.unwrapScoped(
        Effect.map(
          channel({ ...options, prefetch: options?.prefetch ?? 10 }),
          (channel) => channel.consume(queue, options)
        )
      )
  }
}
