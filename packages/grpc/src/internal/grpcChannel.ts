/** @internal */
import * as grpc from "@grpc/grpc-js"
import { type Closed, Connection, InvalidOption, Options, Reconnect, type Timeout } from "@redial/core"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import type * as GrpcChannel from "../GrpcChannel.js"
import type * as GrpcConnectionString from "../GrpcConnectionString.js"
import type { GrpcConnectionStringError } from "../GrpcConnectionString.js"
import { ChannelFailure, type ChannelState, ChannelStateChanged } from "../GrpcError.js"
import * as AttemptSockets from "./attemptCredentials.js"
import { fromSettings } from "./fromSettings.js"
import { parse } from "./grpcConnectionString.js"
import * as limits from "./limits.js"

const ConnectivityState = grpc.connectivityState

/** @internal */
export const tag = Context.GenericTag<GrpcChannel.GrpcChannel>("@redial/grpc/GrpcChannel")

/** @internal */
export const chroniclePolicy: Schedule.Schedule<unknown> = Reconnect.limit(
  Reconnect.exponential({ min: "1 second", max: "10 seconds" }),
  5
)

/** @internal */
export const spearPolicy: Schedule.Schedule<unknown> = Reconnect.fixed("500 millis")

const DEFAULT_CONNECT_TIMEOUT = Duration.seconds(10)
const DEFAULT_AWAIT_TIMEOUT = Duration.seconds(10)
const DEFAULT_KEEPALIVE_TIMEOUT = Duration.seconds(10)

const stateName = (state: grpc.connectivityState): ChannelState => {
  switch (state) {
    case ConnectivityState.IDLE:
      return "IDLE"
    case ConnectivityState.CONNECTING:
      return "CONNECTING"
    case ConnectivityState.TRANSIENT_FAILURE:
      return "TRANSIENT_FAILURE"
    default:
      return "SHUTDOWN"
  }
}

/**
 * Waits until the channel is READY (asking it to connect), or fails when it reaches
 * TRANSIENT_FAILURE or SHUTDOWN. grpc-js calls a watcher synchronously inside the state change,
 * so re-arming it with the state read in the callback misses no transition.
 */
const waitReady = (channel: grpc.ChannelInterface) =>
  Effect.async<void, grpc.connectivityState>((resume) => {
    let done = false
    const check = () => {
      if (done) return
      let state: grpc.connectivityState
      try {
        state = channel.getConnectivityState(true)
      } catch {
        state = ConnectivityState.SHUTDOWN
      }
      switch (state) {
        case ConnectivityState.READY:
          done = true
          return resume(Effect.void)
        case ConnectivityState.TRANSIENT_FAILURE:
        case ConnectivityState.SHUTDOWN:
          done = true
          return resume(Effect.fail(state))
        default:
          channel.watchConnectivityState(state, Infinity, check)
      }
    }
    check()
    return Effect.sync(() => {
      done = true
    })
  })

/** Completes when the channel leaves READY, with the state it went to. */
const leftReady = (channel: grpc.ChannelInterface) =>
  Effect.async<grpc.connectivityState>((resume) => {
    let done = false
    const check = () => {
      if (done) return
      let state: grpc.connectivityState
      try {
        state = channel.getConnectivityState(false)
      } catch {
        state = ConnectivityState.SHUTDOWN
      }
      if (state !== ConnectivityState.READY) {
        done = true
        return resume(Effect.succeed(state))
      }
      channel.watchConnectivityState(state, Infinity, check)
    }
    check()
    return Effect.sync(() => {
      done = true
    })
  })

/**
 * grpc-js keeps the reason of a failed connection to itself; a call made while the channel is
 * in TRANSIENT_FAILURE fails at once with UNAVAILABLE and "Last error: …" in its details.
 */
const lastError = (client: grpc.Client) =>
  Effect.async<string>((resume) => {
    const call = client.makeUnaryRequest(
      "/redial.Probe/LastError",
      (value: Buffer) => value,
      (value: Buffer) => value,
      Buffer.alloc(0),
      new grpc.Metadata(),
      {},
      (error) => {
        const details = error?.details ?? "unknown"
        const last = /Last error: (.*?)(\. Resolution note:.*)?$/.exec(details)
        resume(Effect.succeed(last?.[1] ?? details))
      }
    )
    return Effect.sync(() => call.cancel())
  }).pipe(Effect.timeoutTo({ duration: "1 second", onTimeout: () => "no details", onSuccess: (reason) => reason }))

const isSettings = (input: unknown): input is GrpcConnectionString.Settings =>
  typeof input === "object" && input !== null && "_tag" in input &&
  (input._tag === "EsdbSettings" || input._tag === "ChronicleSettings")

const dropUndefined = <A extends object>(input: A): Partial<A> =>
  Object.fromEntries(Object.entries(input).filter(([, value]) => value !== undefined)) as Partial<A>

// An address is "host:port" or "[v6]:port", with a port from 1 to 65535 (limits.ts). It is never
// quoted in an error: a malformed one may be a URL with credentials in it.
const hostPort = Options.nonEmptyString.pipe(Options.check(limits.addressIssue))

const Addresses = Schema.Array(hostPort).pipe(
  Options.check((addresses: ReadonlyArray<string>) =>
    addresses.length === 0 ? { reason: "Missing", detail: "give at least one \"host:port\"" } : undefined
  )
)

// Timers round anything below 1 ms to 0, and grpc-js takes whole milliseconds. Keepalive times
// and deadlines are grpc-js timers: at most 2^31-1 ms (limits.ts).
const timeout = Options.duration({ min: "1 millis", finite: false })

/** The channel's options that are plain values, decoded with their defaults. @internal */
export const Settings = Schema.Struct({
  name: Schema.optionalWith(Options.nonEmptyString, { default: () => "grpc" }),
  connectTimeout: Schema.optionalWith(timeout, { default: () => DEFAULT_CONNECT_TIMEOUT }),
  awaitTimeout: Schema.optionalWith(timeout, { default: () => DEFAULT_AWAIT_TIMEOUT }),
  minUptime: Schema.optional(Options.duration({ min: 0 })),
  defaultDeadline: Schema.optional(limits.deadline),
  keepAlive: Schema.optional(Schema.Struct({
    interval: limits.timer,
    timeout: Schema.optionalWith(limits.timer, { default: () => DEFAULT_KEEPALIVE_TIMEOUT })
  }))
})

// grpc-js's reconnect backoff (subchannel, resolver) is set longer than any attempt, so within an
// attempt a failed subchannel stays in TRANSIENT_FAILURE and never reconnects on its own. Not
// longer: the timer holds the released subchannel (about 4 KB) until it fires. grpc-js may run
// it for 2x (BackoffTimeout.reset) and 1.2x (jitter) the value, and Node fires a timer longer
// than 2^31-1 ms after 1 ms.
const MAX_BACKOFF_MILLIS = 2 ** 30 - 1
const backoffMillis = (connectTimeout: Duration.Duration): number =>
  Duration.isFinite(connectTimeout)
    ? Math.min(Math.ceil(Duration.toMillis(connectTimeout)) + 1000, MAX_BACKOFF_MILLIS)
    : MAX_BACKOFF_MILLIS

/** @internal */
export const channelOptions = (
  options: GrpcChannel.Options,
  settings: Pick<typeof Settings.Type, "keepAlive" | "connectTimeout">
): grpc.ChannelOptions => {
  const keepAlive = settings.keepAlive
  const fromKeepAlive: grpc.ChannelOptions = keepAlive
    ? {
      "grpc.keepalive_time_ms": Math.round(Duration.toMillis(keepAlive.interval)),
      "grpc.keepalive_timeout_ms": Math.round(Duration.toMillis(keepAlive.timeout)),
      "grpc.keepalive_permit_without_calls": 1
    }
    : {}
  const backoff = backoffMillis(settings.connectTimeout)
  return {
    // No automatic retries of calls inside grpc-js.
    "grpc.enable_retries": 0,
    // grpc-js puts a channel without calls for 30 min in IDLE, which the manager sees as a lost
    // connection and replaces: a connection stays up until it is lost (keepalive finds a dead one).
    "grpc.client_idle_timeout_ms": limits.MAX_TIMER_MILLIS,
    ...fromKeepAlive,
    ...options.channelOptions,
    // The manager owns every reconnect; these are not the user's to change. A channel of its
    // own subchannels (the global pool shares a failing subchannel, and its backoff, between
    // the channels of successive attempts, and keeps it after they close), and a backoff that
    // never fires within an attempt.
    "grpc.use_local_subchannel_pool": 1,
    "grpc.initial_reconnect_backoff_ms": backoff,
    "grpc.max_reconnect_backoff_ms": backoff
  }
}

/** @internal */
export const credentials = (options: GrpcChannel.Options): grpc.ChannelCredentials => {
  if (options.credentials) return options.credentials
  const tls = options.tls
  if (tls === undefined || tls === false) return grpc.credentials.createInsecure()
  if (tls === true) return grpc.credentials.createSsl()
  return grpc.credentials.createSsl(tls.ca ?? null, tls.key ?? null, tls.cert ?? null)
}

/** @internal */
export const make = (
  input: GrpcChannel.Options
): Effect.Effect<
  GrpcChannel.GrpcChannel,
  InvalidOption | GrpcConnectionStringError | Timeout | Closed,
  Scope.Scope
> =>
  Effect.gen(function*() {
    // A connection string gives the defaults; options given explicitly win over it.
    const options: GrpcChannel.Options = input.connectionString === undefined ? input : {
      ...(yield* fromSettings(
        isSettings(input.connectionString) ? input.connectionString : yield* parse(input.connectionString),
        input.apiKeyHeader
      )),
      ...dropUndefined(input)
    }
    const addresses = yield* typeof options.address === "string"
      ? Options.decodeEffect(hostPort, options.address, { prefix: "address" }).pipe(Effect.map((a) => [a]))
      : Options.decodeEffect(Addresses, options.address ?? [], { prefix: "address" })
    const decoded = yield* Options.decodeEffect(Settings, {
      name: options.name,
      connectTimeout: options.connectTimeout,
      awaitTimeout: options.awaitTimeout,
      minUptime: options.minUptime,
      defaultDeadline: options.defaultDeadline,
      keepAlive: options.keepAlive || undefined
    })
    const name = decoded.name
    const settings = {
      ...decoded,
      // An infinite deadline is none.
      defaultDeadline: limits.finiteDeadline(decoded.defaultDeadline),
      channelOptions: channelOptions(options, decoded),
      credentials: yield* Effect.try({
        try: () => credentials(options),
        catch: (error) =>
          new InvalidOption({
            option: "tls",
            reason: "Invalid",
            // grpc-js and OpenSSL say what is wrong without quoting the key or certificate.
            detail: `cannot make the TLS credentials: ${error instanceof Error ? error.message : "unknown error"}`
          })
      })
    }

    // Failover: the first attempt after a success stays on the address that worked; every
    // failed attempt moves on to the next one.
    let cursor = 0
    const connection = yield* Connection.make<GrpcChannel.LiveChannel, ChannelFailure, never, string>({
      name,
      config: addresses[0] as string,
      configure: ({ attempt }) =>
        Effect.sync(() => {
          if (attempt > 1) cursor = (cursor + 1) % addresses.length
          return addresses[cursor] as string
        }),
      acquire: ({ config: address }) =>
        Effect.gen(function*() {
          // One TCP connection for this attempt; when it ends, the channel is closed and a
          // socket that never became the live connection (a half-open peer's) is destroyed.
          const sockets = AttemptSockets.make(settings.credentials)
          const client = yield* Effect.acquireRelease(
            Effect.sync(() => new grpc.Client(address, sockets.credentials, settings.channelOptions)),
            (client) =>
              Effect.sync(() => {
                client.close()
                sockets.release()
              })
          )
          const channel = client.getChannel()
          const failed = yield* waitReady(channel).pipe(Effect.flip, Effect.option)
          if (failed._tag === "Some") {
            const detail = yield* lastError(client)
            return yield* new ChannelFailure({
              channel: name,
              address,
              reason: failed.value === ConnectivityState.SHUTDOWN ? "Shutdown" : "TransientFailure",
              detail
            })
          }
          sockets.keep()
          return { channel, client, address } satisfies GrpcChannel.LiveChannel
        }),
      lost: (live) =>
        Effect.flatMap(
          leftReady(live.channel),
          (state) =>
            Effect.fail(new ChannelStateChanged({ channel: name, address: live.address, state: stateName(state) }))
        ),
      policy: options.policy ?? Reconnect.defaultPolicy,
      connectTimeout: settings.connectTimeout,
      ...(settings.minUptime === undefined ? {} : { minUptime: settings.minUptime }),
      autoConnect: options.autoConnect ?? true,
      awaitConnected: options.awaitConnected
    })

    const self: GrpcChannel.GrpcChannel = {
      name,
      addresses,
      connection,
      callCredentials: options.callCredentials,
      defaultDeadline: settings.defaultDeadline,
      channel: Effect.map(connection.get, (live) => live.channel),
      await: (awaitOptions) =>
        Effect.map(
          connection.await({ timeout: awaitOptions?.timeout ?? settings.awaitTimeout }),
          (live) => live.channel
        ),
      isConnected: Effect.map(connection.status, (status) => status._tag === "Connected"),
      status: connection.status,
      changes: connection.changes,
      connect: connection.connect,
      close: connection.close,
      disconnect: connection.close
    }
    return self
  })
