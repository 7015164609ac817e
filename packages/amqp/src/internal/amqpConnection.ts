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

/** Where a round starts: the URL that last worked, as an index into the list it came from. */
interface LastWorked {
  readonly urls: ReadonlyArray<AmqpConnectionString.Endpoint>
  readonly index: number
}

/** The policy in use and its state: a different policy (after `update`) starts from its beginning. */
interface PolicyState {
  readonly policy: Schedule.Schedule<unknown, unknown> | undefined
  readonly state: unknown
}

/**
 * The policy the core connection steps after a failed round (or a connection that died young):
 * the user's current policy, read from the settings at every step, so one changed with `update`
 * applies from the next failure on, starting from its beginning.
 */
const currentPolicy = (settings: Ref.Ref<AmqpConnection.Settings>): Schedule.Schedule<unknown, unknown> =>
  Schedule.makeWithState<PolicyState, unknown, unknown>(
    { policy: undefined, state: undefined },
    (now, input, previous) =>
      Effect.flatMap(Ref.get(settings), (current) => {
        const policy = current.policy
        const state = previous.policy === policy ? previous.state : policy.initial
        return Effect.map(
          policy.step(now, input, state),
          ([next, out, decision]) => [{ policy, state: next }, out, decision] as const
        )
      })
  )

/** The socket under an amqplib connection, to end it when a graceful close does not finish. */
const socketOf = (model: amqplib.ChannelModel): { destroy(): void } | undefined => {
  const connection = model.connection as unknown as { readonly stream?: { destroy?: unknown } }
  const stream = connection.stream
  return stream !== undefined && typeof stream.destroy === "function" ? stream as { destroy(): void } : undefined
}

const noop = () => {}

/**
 * Batches amqplib's socket writes. amqplib's `Mux` moves the frames of every channel to the socket
 * one `write` at a time: a system call per frame (a confirmed publish is three frames). Corking the
 * socket for one round of the mux turns a round into one `writev`, the same bytes in the same
 * order. amqplib 2.3.1 is pinned; where its internals differ, nothing is changed.
 */
const batchWrites = (model: amqplib.ChannelModel): void => {
  const connection = model.connection as unknown as {
    readonly stream?: { readonly cork?: unknown; readonly uncork?: unknown }
    readonly muxer?: { _readIncoming?: unknown }
  }
  const stream = connection.stream
  const muxer = connection.muxer
  if (
    stream === undefined || muxer === undefined || typeof stream.cork !== "function" ||
    typeof stream.uncork !== "function" || typeof muxer._readIncoming !== "function"
  ) return
  const socket = stream as { cork(): void; uncork(): void }
  const round = muxer._readIncoming as (this: unknown) => void
  muxer._readIncoming = function(this: unknown) {
    socket.cork()
    try {
      round.call(this)
    } finally {
      socket.uncork()
    }
  }
}

/**
 * What a model reported before anyone watched it: its `close` (with the error it carried), so a
 * connection that closes between its opening and the manager's `lost` is still seen as lost.
 */
const closedModels = new WeakMap<amqplib.ChannelModel, { readonly error: Error | undefined }>()

/**
 * One amqplib connect, interruptible. Its listeners go on in the same step as it opens, before
 * any other event can come: `error` (amqplib rethrows an unheard one), `close` (recorded, see
 * `closedModels`) and `blocked` / `unblocked` (the broker sends `blocked` right after the open
 * when an alarm is on). When the wait is interrupted (by the connect timeout or a close), the
 * socket is destroyed at once, so an attempt against a peer that never answers leaves nothing
 * open; a connection that opened all the same is closed.
 */
const openModel = (
  endpoint: AmqpConnectionString.Endpoint,
  socketOptions: amqplib.SocketOptions,
  name: string,
  onBlocked: (model: amqplib.ChannelModel, reason: Option.Option<string>) => void
): Effect.Effect<amqplib.ChannelModel, AmqpError> =>
  Effect.async<amqplib.ChannelModel, AmqpError>((resume) => {
    let abandoned = false
    // net.connect / tls.connect take `signal`: aborting it destroys the socket, at any stage.
    const abort = new AbortController()
    let promise: Promise<amqplib.ChannelModel>
    try {
      promise = amqplibConnect(
        AmqpConnectionString.toAmqplib(endpoint),
        { ...socketOptions, signal: abort.signal } as amqplib.SocketOptions
      )
    } catch (error) {
      resume(Effect.fail(classify(error, { connection: name })))
      return
    }
    promise.then(
      (model) => {
        model.on("error", noop) // reported through `close`
        batchWrites(model)
        if (abandoned) {
          model.close().catch(noop).finally(() => socketOf(model)?.destroy())
          return
        }
        model.once("close", (error?: Error) => closedModels.set(model, { error }))
        model.on("blocked", (reason: unknown) => onBlocked(model, Option.some(String(reason))))
        model.on("unblocked", () => onBlocked(model, Option.none()))
        resume(Effect.succeed(model))
      },
      (error) => {
        if (!abandoned) resume(Effect.fail(classify(error, { connection: name })))
      }
    )
    return Effect.sync(() => {
      abandoned = true
      abort.abort()
    })
  })

/**
 * Closes a connection gracefully within `timeout`, then ends its socket in any case. The close
 * is done when amqplib's `close()` settles or the model emits `close`, whichever comes first:
 * on a socket that died under it, `close()` never settles (amqplib calls its callback only on
 * a CloseOk). The wait is interruptible, so the timeout works in a finalizer too (a finalizer
 * is uninterruptible, and a timeout waits for an uninterruptible effect to finish).
 */
const closeModel = (model: amqplib.ChannelModel, timeout: Duration.Duration): Effect.Effect<void> =>
  Effect.async<void>((resume) => {
    if (closedModels.has(model)) return resume(Effect.void)
    let done = false
    const finish = () => {
      if (done) return
      done = true
      model.off("close", finish)
      resume(Effect.void)
    }
    model.once("close", finish)
    try {
      model.close().then(finish, finish)
    } catch {
      finish()
    }
    return Effect.sync(() => model.off("close", finish))
  }).pipe(
    Effect.interruptible,
    Effect.timeoutOption(timeout),
    Effect.ensuring(Effect.sync(() => socketOf(model)?.destroy()))
  )

/** What a round of URLs failed with: a fatal error if any URL gave one, else the last error. */
const roundError = (errors: Arr.NonEmptyReadonlyArray<AmqpError | Timeout>): AmqpError | Timeout =>
  errors.find((error) => error instanceof AmqpError && error.fatal) ?? Arr.lastNonEmpty(errors)

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
    const lastWorked = yield* Ref.make<LastWorked | undefined>(undefined)
    const blocked = yield* SubscriptionRef.make<Option.Option<string>>(Option.none())
    // The model whose `blocked` / `unblocked` the status shows: the live one, until its release.
    // Each model's last word is kept too, for one blocked between its open and its hand-over.
    let current: amqplib.ChannelModel | undefined = undefined
    const reasons = new WeakMap<amqplib.ChannelModel, Option.Option<string>>()
    const onBlocked = (model: amqplib.ChannelModel, reason: Option.Option<string>) => {
      reasons.set(model, reason)
      // Forked, not run synchronously: the ref's lock may be held by a fiber that yielded.
      if (model === current) Effect.runFork(SubscriptionRef.set(blocked, reason))
    }

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

    /** One URL: the amqplib connect within its timeout, released with the attempt's scope. */
    const connectTo = (endpoint: AmqpConnectionString.Endpoint, connectTimeout: Duration.Duration) => {
      const withHeartbeat: AmqpConnectionString.Endpoint = endpoint.heartbeat === undefined
        ? { ...endpoint, heartbeat: plain.heartbeat }
        : endpoint
      const timeout = endpoint.connectionTimeout ?? connectTimeout
      return Effect.uninterruptibleMask((restore) =>
        restore(
          openModel(withHeartbeat, socketOptions(endpoint, timeout), name, onBlocked).pipe(
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
            Effect.suspend(() => {
              current = model
              return SubscriptionRef.set(blocked, reasons.get(model) ?? Option.none())
            })
          ),
          Effect.tap((model) =>
            Effect.addFinalizer(() =>
              Effect.suspend(() => {
                if (current === model) current = undefined
                return Effect.zipRight(
                  SubscriptionRef.set(blocked, Option.none()),
                  closeModel(model, plain.closeTimeout)
                )
              })
            )
          )
        )
      )
    }

    /**
     * One connect attempt is one round of the URLs, read from the settings when it starts:
     * from the one that last worked, then the others in order, each tried at once after the
     * one before failed. Only a round that failed as a whole is a failed attempt (and the
     * policy's delay follows).
     */
    const acquire = Effect.gen(function*() {
      const { connectTimeout, urls } = yield* Ref.get(settings)
      const worked = yield* Ref.get(lastWorked)
      const first = worked !== undefined && worked.urls === urls ? worked.index : 0
      const errors: Array<AmqpError | Timeout> = []
      for (let step = 0; step < urls.length; step++) {
        const index = (first + step) % urls.length
        const endpoint = Arr.unsafeGet(urls, index)
        const result = yield* Effect.either(connectTo(endpoint, connectTimeout))
        if (result._tag === "Right") {
          yield* Ref.set(lastWorked, { urls, index })
          yield* Effect.logDebug(`redial: AMQP connected to ${AmqpConnectionString.describe(endpoint)}`)
          return result.right
        }
        errors.push(result.left)
        if (urls.length > 1) {
          yield* Effect.logDebug(`redial: AMQP connect to ${AmqpConnectionString.describe(endpoint)} failed`).pipe(
            Effect.annotateLogs("error", result.left.message)
          )
        }
      }
      // `urls` is never empty (resolveUrls checks it), so neither is `errors`.
      return yield* Arr.isNonEmptyReadonlyArray(errors)
        ? Effect.fail(roundError(errors))
        : Effect.dieMessage("redial: no AMQP URL to connect to")
    })

    const manager = yield* Connection.make({
      name,
      acquire,
      lost: (model) =>
        Effect.async<never, AmqpError>((resume) => {
          const onClose = (error?: Error) =>
            resume(Effect.fail(classify(error ?? new Error("Unexpected close"), { connection: name })))
          const closed = closedModels.get(model)
          if (closed !== undefined) return onClose(closed.error)
          model.once("close", onClose)
          return Effect.sync(() => model.off("close", onClose))
        }),
      policy: currentPolicy(settings),
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

    // The manager's changes with the broker's blocked reason folded in; it ends when the
    // manager's changes end (after Closed with ScopeClosed), not with the blocked ref's, which never do.
    const changes: Stream.Stream<AmqpConnection.Status> = Stream.merge(
      Stream.map(manager.changes, (status) => ({ status })),
      Stream.map(blocked.changes, (reason) => ({ reason })),
      { haltStrategy: "left" }
    ).pipe(
      Stream.mapAccum(
        { status: undefined as Connection.Status | undefined, reason: Option.none<string>() },
        (latest, event) => {
          const next = { ...latest, ...event }
          return [next, next] as const
        }
      ),
      Stream.filterMap(({ reason, status }) =>
        status === undefined ? Option.none() : Option.some(combine(status, reason))
      ),
      Stream.changesWith(sameStatus)
    )

    const self: Base = {
      name,
      connection: manager,
      get: manager.get,
      await: manager.await as AmqpConnection.AmqpConnection["await"],
      status: Effect.zipWith(manager.status, SubscriptionRef.get(blocked), combine),
      changes,
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
        })
    }
    return self
  })

const sameStatus = (a: AmqpConnection.Status, b: AmqpConnection.Status): boolean => Equal.equals(a, b)
