/**
 * The cached AMQP connection: one amqplib `ChannelModel` kept by a core `Connection`, with
 * Retort's run-time settings (URLs, connect timeout, policy), failover over several URLs, and
 * the broker's `blocked` / `unblocked` folded into the status.
 *
 * @internal
 */
import { type Closed, Connection, InvalidOption, Options, Reconnect, Timeout } from "@redial/core"
import type * as amqplib from "amqplib"
import { connect as amqplibConnect } from "amqplib"
import * as Arr from "effect/Array"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Equal from "effect/Equal"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Ref from "effect/Ref"
import * as Schedule from "effect/Schedule"
import * as ScheduleDecision from "effect/ScheduleDecision"
import * as ScheduleInterval from "effect/ScheduleInterval"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as SubscriptionRef from "effect/SubscriptionRef"
import type * as tls from "node:tls"
import type * as AmqpConnection from "../AmqpConnection.js"
import * as AmqpConnectionString from "../AmqpConnectionString.js"
import { AmqpError, classify } from "../AmqpError.js"
import type { Base } from "./channel.js"

const DEFAULT_CONNECT_TIMEOUT = Duration.seconds(10)
const DEFAULT_CLOSE_TIMEOUT = Duration.seconds(5)
const DEFAULT_HEARTBEAT = 10

/** The plain options, decoded with core's `Options` (so a bad one names its path). */
const Plain = Schema.Struct({
  name: Schema.optionalWith(Options.nonEmptyString, { default: () => "amqp" }),
  connectTimeout: Schema.optionalWith(Options.duration(), { default: () => DEFAULT_CONNECT_TIMEOUT }),
  closeTimeout: Schema.optionalWith(Options.duration(), { default: () => DEFAULT_CLOSE_TIMEOUT }),
  heartbeat: Schema.optionalWith(Options.integer({ min: 0, max: 65535 }), { default: () => DEFAULT_HEARTBEAT }),
  minUptime: Schema.optional(Options.duration({ min: 0 }))
})

type UrlInput = AmqpConnection.UrlInput

/** Reads one URL option into an endpoint; a bad string is an `InvalidOption` naming the option. */
const endpointOf = (input: UrlInput, option: string): Effect.Effect<AmqpConnectionString.Endpoint, InvalidOption> =>
  typeof input === "string" || Redacted.isRedacted(input)
    ? Effect.mapError(
      AmqpConnectionString.parse(input),
      (error: { readonly message: string }) => new InvalidOption({ option, reason: "Invalid", detail: error.message })
    )
    : Effect.succeed(input)

/** @internal */
export const resolveUrls = (
  options: { readonly url?: UrlInput | undefined; readonly urls?: ReadonlyArray<UrlInput> | undefined }
): Effect.Effect<ReadonlyArray<AmqpConnectionString.Endpoint>, InvalidOption> => {
  if (options.url !== undefined && options.urls !== undefined) {
    return Effect.fail(new InvalidOption({ option: "urls", reason: "Conflict", detail: "give url or urls, not both" }))
  }
  if (options.urls !== undefined) {
    if (!Array.isArray(options.urls) || options.urls.length === 0) {
      return Effect.fail(new InvalidOption({ option: "urls", reason: "Invalid", detail: "must hold at least one URL" }))
    }
    return Effect.forEach(options.urls, (url, i) => endpointOf(url, `urls[${i}]`))
  }
  if (options.url !== undefined) return Effect.map(endpointOf(options.url, "url"), (endpoint) => [endpoint])
  return Effect.fail(new InvalidOption({ option: "url", reason: "Missing", detail: "give url or urls" }))
}

/** Where the next attempt connects: the URL that last worked first, then the others in order. */
interface Rotation {
  index: number
  failedInRound: number
}

interface RoundState {
  readonly policy: Schedule.Schedule<unknown, unknown> | undefined
  readonly state: unknown
}

/**
 * The policy the core connection steps: within a round of URLs, the next URL is tried at once;
 * after a whole round failed, the user's current policy says how long to wait. A policy changed
 * with `update` starts from its beginning at its first step.
 */
const roundPolicy = (
  settings: Ref.Ref<AmqpConnection.Settings>,
  rotation: Rotation
): Schedule.Schedule<unknown, unknown> =>
  Schedule.makeWithState<RoundState, unknown, unknown>(
    { policy: undefined, state: undefined },
    (now, input, previous) =>
      Effect.flatMap(
        Ref.get(settings),
        (current): Effect.Effect<readonly [RoundState, unknown, ScheduleDecision.ScheduleDecision]> => {
          if (rotation.failedInRound > 0 && rotation.failedInRound < current.urls.length) {
            return Effect.succeed(
              [previous, Duration.zero, ScheduleDecision.continueWith(ScheduleInterval.after(now))] as const
            )
          }
          rotation.failedInRound = 0
          const policy = current.policy
          const state = previous.policy === policy ? previous.state : policy.initial
          return Effect.map(
            policy.step(now, input, state),
            ([next, out, decision]) => [{ policy, state: next }, out, decision] as const
          )
        }
      )
  )

/** The socket under an amqplib connection, to end it when a graceful close does not finish. */
const socketOf = (model: amqplib.ChannelModel): { destroy(): void } | undefined => {
  const connection = model.connection as unknown as { readonly stream?: { destroy?: unknown } }
  const stream = connection.stream
  return stream !== undefined && typeof stream.destroy === "function" ? stream as { destroy(): void } : undefined
}

const noop = () => {}

/**
 * One amqplib connect, interruptible: when the wait is interrupted (by the connect timeout or a
 * close), a connection that opens afterwards is closed at once, and amqplib's own socket timeout
 * (set to the same duration) ends a socket that never opens.
 */
const openModel = (
  endpoint: AmqpConnectionString.Endpoint,
  socketOptions: amqplib.SocketOptions,
  name: string
): Effect.Effect<amqplib.ChannelModel, AmqpError> =>
  Effect.async<amqplib.ChannelModel, AmqpError>((resume) => {
    let abandoned = false
    let promise: Promise<amqplib.ChannelModel>
    try {
      promise = amqplibConnect(AmqpConnectionString.toAmqplib(endpoint), socketOptions)
    } catch (error) {
      resume(Effect.fail(classify(error, { connection: name })))
      return
    }
    promise.then(
      (model) => {
        if (abandoned) {
          model.on("error", noop)
          model.close().catch(noop).finally(() => socketOf(model)?.destroy())
          return
        }
        resume(Effect.succeed(model))
      },
      (error) => {
        if (!abandoned) resume(Effect.fail(classify(error, { connection: name })))
      }
    )
    return Effect.sync(() => {
      abandoned = true
    })
  })

/** Closes a connection gracefully within `timeout`, then ends its socket in any case. */
const closeModel = (model: amqplib.ChannelModel, timeout: Duration.Duration): Effect.Effect<void> =>
  Effect.promise(() => model.close().catch(noop)).pipe(
    Effect.timeoutOption(timeout),
    Effect.ensuring(Effect.sync(() => socketOf(model)?.destroy()))
  )

/** @internal */
export const make = (
  options: AmqpConnection.Options
): Effect.Effect<Base, InvalidOption | Timeout | Closed, Scope.Scope> =>
  Effect.gen(function*() {
    const plain = yield* Options.decodeEffect(Plain, {
      name: options.name,
      connectTimeout: options.connectTimeout,
      closeTimeout: options.closeTimeout,
      heartbeat: options.heartbeat,
      minUptime: options.minUptime
    })
    const urls = yield* resolveUrls(options)
    const name = plain.name
    const settings = yield* Ref.make<AmqpConnection.Settings>({
      urls,
      connectTimeout: plain.connectTimeout,
      policy: options.policy ?? Reconnect.randomExponential()
    })
    const rotation: Rotation = { index: 0, failedInRound: 0 }
    const blocked = yield* SubscriptionRef.make<Option.Option<string>>(Option.none())

    const socketOptions = (endpoint: AmqpConnectionString.Endpoint, timeout: Duration.Duration) => {
      const base: amqplib.SocketOptions = {
        timeout: Math.max(1, Math.min(2 ** 31 - 1, Math.ceil(Duration.toMillis(timeout)))),
        noDelay: options.socket?.noDelay ?? true,
        keepAlive: options.socket?.keepAlive ?? true,
        clientProperties: { ...options.clientProperties, connection_name: name }
      }
      if (endpoint.protocol !== "amqps" || options.tls === undefined) return base
      const { passphrase, ...rest } = options.tls
      const tlsOptions: tls.ConnectionOptions = passphrase === undefined
        ? rest
        : { ...rest, passphrase: Redacted.value(passphrase) }
      return { ...tlsOptions, ...base } as amqplib.SocketOptions
    }

    const acquire = Effect.gen(function*() {
      const current = yield* Ref.get(settings)
      const index = rotation.index % current.urls.length
      const endpoint = Arr.unsafeGet(current.urls, index)
      const withHeartbeat: AmqpConnectionString.Endpoint = endpoint.heartbeat === undefined
        ? { ...endpoint, heartbeat: plain.heartbeat }
        : endpoint
      const timeout = endpoint.connectionTimeout ?? current.connectTimeout
      const model = yield* Effect.uninterruptibleMask((restore) =>
        restore(
          openModel(withHeartbeat, socketOptions(endpoint, timeout), name).pipe(
            Effect.timeoutFail({
              duration: timeout,
              onTimeout: () =>
                new Timeout({
                  connection: name,
                  operation: "connect",
                  duration: timeout,
                  detail: AmqpConnectionString.describe(endpoint)
                })
            })
          )
        ).pipe(
          Effect.tap((model) =>
            Effect.addFinalizer(() =>
              Effect.zipRight(
                SubscriptionRef.set(blocked, Option.none()),
                closeModel(model, plain.closeTimeout)
              )
            )
          )
        )
      ).pipe(
        Effect.tapError(() =>
          Effect.sync(() => {
            rotation.failedInRound += 1
            rotation.index = (index + 1) % current.urls.length
          })
        )
      )
      rotation.failedInRound = 0
      rotation.index = index
      model.on("error", noop) // reported through `close`; an unheard `error` would kill the connection
      model.on("blocked", (reason: string) => Effect.runSync(SubscriptionRef.set(blocked, Option.some(reason))))
      model.on("unblocked", () => Effect.runSync(SubscriptionRef.set(blocked, Option.none())))
      yield* Effect.logDebug(`redial: AMQP connected to ${AmqpConnectionString.describe(endpoint)}`)
      return model
    })

    const manager = yield* Connection.make({
      name,
      acquire,
      lost: (model) =>
        Effect.async<never, AmqpError>((resume) => {
          const onClose = (error?: Error) =>
            resume(Effect.fail(classify(error ?? new Error("Unexpected close"), { connection: name })))
          model.once("close", onClose)
          return Effect.sync(() => model.off("close", onClose))
        }),
      policy: roundPolicy(settings, rotation),
      connectTimeout: Duration.infinity,
      isFatal: (error) => error instanceof AmqpError && error.fatal,
      minUptime: plain.minUptime,
      autoConnect: options.autoConnect,
      awaitConnected: options.awaitConnected
    } as Connection.Options<amqplib.ChannelModel, AmqpError | Timeout, never>)

    const combine = (status: Connection.Status, reason: Option.Option<string>): AmqpConnection.Status =>
      status._tag === "Connected" && Option.isSome(reason)
        ? Data.struct({ _tag: "Blocked" as const, attempt: status.attempt, reason: reason.value })
        : status

    const self: Base = {
      name,
      connection: manager,
      get: manager.get,
      await: manager.await as AmqpConnection.AmqpConnection["await"],
      status: Effect.zipWith(manager.status, SubscriptionRef.get(blocked), combine),
      changes: Stream.zipLatest(manager.changes, blocked.changes).pipe(
        Stream.map(([status, reason]) => combine(status, reason)),
        Stream.changesWith(sameStatus)
      ),
      blocked: SubscriptionRef.get(blocked),
      close: manager.close,
      connect: manager.connect,
      settings: Ref.get(settings),
      update: (patch) =>
        Effect.gen(function*() {
          const next = yield* Options.decodeEffect(
            Schema.Struct({ connectTimeout: Schema.optional(Options.duration()) }),
            { connectTimeout: patch.connectTimeout }
          )
          const nextUrls = patch.url !== undefined || patch.urls !== undefined
            ? Option.some(yield* resolveUrls(patch))
            : Option.none()
          yield* Ref.update(settings, (current) => ({
            urls: Option.getOrElse(nextUrls, () => current.urls),
            connectTimeout: next.connectTimeout ?? current.connectTimeout,
            policy: patch.policy ?? current.policy
          }))
          if (Option.isSome(nextUrls)) {
            rotation.index = 0
            rotation.failedInRound = 0
          }
        })
    }
    return self
  })

const sameStatus = (a: AmqpConnection.Status, b: AmqpConnection.Status): boolean => Equal.equals(a, b)
