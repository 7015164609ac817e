/** @internal */
import * as grpc from "@grpc/grpc-js"
import { type Closed, InvalidOption, isRedialError, type NotConnected, Timeout } from "@redial/core"
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import type * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import type * as GrpcChannel from "../GrpcChannel.js"
import * as GrpcClient from "../GrpcClient.js"
import { type ChannelState, ChannelStateChanged, fromStatus, type GrpcStatusError } from "../GrpcError.js"
import * as Options from "./client/options.js"
import { isResolved, type Kind, type Resolved, resolver } from "./client/service.js"

// The client serializes each request itself (so a bad request is a typed failure, not a status
// from inside grpc-js) and hands grpc-js the bytes.
const bytes = (value: Buffer): Buffer => value

const isServiceError = (error: unknown): error is grpc.ServiceError =>
  typeof error === "object" && error !== null && "code" in error && typeof error.code === "number" &&
  "metadata" in error

const READY = grpc.connectivityState.READY

const stateOf = (channel: grpc.ChannelInterface): grpc.connectivityState => {
  try {
    return channel.getConnectivityState(false)
  } catch {
    return grpc.connectivityState.SHUTDOWN
  }
}

const stateName = (state: grpc.connectivityState): ChannelState =>
  state === grpc.connectivityState.IDLE
    ? "IDLE"
    : state === grpc.connectivityState.CONNECTING
    ? "CONNECTING"
    : state === grpc.connectivityState.TRANSIENT_FAILURE
    ? "TRANSIENT_FAILURE"
    : "SHUTDOWN"

interface Prepared {
  readonly live: GrpcChannel.LiveChannel
  readonly callOptions: grpc.CallOptions
  readonly metadata: grpc.Metadata
  readonly budget: Duration.Duration | undefined
}

type PrepareError = NotConnected | Closed | Timeout | InvalidOption | GrpcClient.GrpcClientError

/** @internal */
export const make = <D extends GrpcClient.Definition>(
  channel: GrpcChannel.GrpcChannel,
  service: D,
  defaults: GrpcClient.CallOptions = {}
): GrpcClient.GrpcClient<D> => {
  const connection = channel.connection
  const resolve = resolver(service)

  const refused = (
    method: string,
    reason: GrpcClient.GrpcClientErrorReason,
    detail: string,
    cause?: unknown
  ): GrpcClient.GrpcClientError =>
    new GrpcClient.GrpcClientError(
      cause === undefined
        ? { channel: channel.name, method, reason, detail }
        : { channel: channel.name, method, reason, detail, cause }
    )

  const method = (name: string, expected: Kind): Resolved | GrpcClient.GrpcClientError => {
    const resolved = resolve(name)
    if (!isResolved(resolved)) return refused(name, resolved.reason, resolved.detail)
    if (resolved.kind !== expected) {
      return refused(name, "WrongKind", `is a ${resolved.kind} method: call it with ${resolved.kind}, not ${expected}`)
    }
    return resolved
  }

  const encode = (name: string, definition: Resolved, request: unknown): Buffer | GrpcClient.GrpcClientError => {
    try {
      return definition.serialize(request)
    } catch (cause) {
      return refused(
        name,
        "InvalidRequest",
        `the request cannot be serialized: ${cause instanceof Error ? cause.message : String(cause)}`,
        cause
      )
    }
  }

  // A live channel whose grpc-js channel has left READY is lost, though the manager may not have
  // seen it yet: the call reports it and takes the manager's answer (NotConnected while down)
  // instead of sending into a dead channel, where grpc-js would fail it with UNAVAILABLE.
  const usable = (
    live: GrpcChannel.LiveChannel,
    next: Effect.Effect<GrpcChannel.LiveChannel, NotConnected | Closed>
  ): Effect.Effect<GrpcChannel.LiveChannel, NotConnected | Closed> => {
    const state = stateOf(live.channel)
    if (state === READY) return Effect.succeed(live)
    const lost = new ChannelStateChanged({ channel: channel.name, address: live.address, state: stateName(state) })
    return Effect.zipRight(connection.invalidate(lost, live), next)
  }

  const failFast = Effect.flatMap(connection.get, (live) => usable(live, connection.get))
  const waited = Effect.flatMap(connection.await(), (live) => usable(live, connection.awaitNext(live)))

  // Everything a call needs before it starts: the live channel (now, or waited for up to the
  // deadline), grpc-js call options, metadata. Written without Effect.gen, and reading Clock
  // only when there is a deadline: this runs on every call.
  const prepare = (
    name: string,
    path: string,
    options: GrpcClient.CallOptions,
    mode: GrpcClient.CallMode
  ): Effect.Effect<Prepared, PrepareError> => {
    const budget = Options.deadline(options.deadline ?? defaults.deadline ?? channel.defaultDeadline)
    if (budget instanceof InvalidOption) return Effect.fail(budget)
    const metadata = Options.metadata(options.metadata ?? defaults.metadata)
    if (!(metadata instanceof grpc.Metadata)) {
      return Effect.fail(
        refused(
          name,
          "InvalidMetadata",
          `grpc-js rejected the metadata "${metadata.key}": a key is lowercase letters, digits, "-", "_" and "."; ` +
            `a "-bin" key takes Buffers, any other printable ASCII strings`
        )
      )
    }
    const credentials = options.credentials ?? defaults.credentials ?? channel.callCredentials
    const finish = (live: GrpcChannel.LiveChannel, start: number): Prepared => {
      const callOptions: grpc.CallOptions = {}
      if (budget !== undefined) {
        // The deadline counts from the call's start, time spent waiting for the connection
        // included. grpc-js wants a wall-clock Date; Clock is the live clock outside tests.
        callOptions.deadline = new Date(start + Duration.toMillis(budget))
      }
      if (credentials) callOptions.credentials = credentials
      return { live, callOptions, metadata, budget }
    }
    const live: Effect.Effect<GrpcChannel.LiveChannel, NotConnected | Closed | Timeout> = mode === "failFast"
      ? failFast
      : budget === undefined
      ? waited
      : Effect.timeoutFail(waited, {
        duration: budget,
        onTimeout: () => new Timeout({ connection: channel.name, operation: "call", detail: path, duration: budget })
      })
    return budget === undefined
      ? Effect.map(live, (live) => finish(live, 0))
      : Effect.flatMap(Clock.currentTimeMillis, (start) => Effect.map(live, (live) => finish(live, start)))
  }

  // A failed call: DEADLINE_EXCEEDED is a Timeout; UNAVAILABLE while the channel is not READY is
  // a transport failure, so the channel is told to reconnect.
  const failure = (
    path: string,
    live: GrpcChannel.LiveChannel,
    budget: Duration.Duration | undefined,
    error: unknown
  ): Effect.Effect<never, GrpcStatusError | Timeout> => {
    if (!isServiceError(error)) {
      return Effect.fail(fromStatus(2, {
        channel: channel.name,
        method: path,
        details: error instanceof Error ? error.message : String(error),
        metadata: new grpc.Metadata()
      }))
    }
    if (error.code === grpc.status.DEADLINE_EXCEEDED) {
      return Effect.fail(
        new Timeout({ connection: channel.name, operation: "call", detail: path, duration: budget ?? Duration.zero })
      )
    }
    const typed = fromStatus(error.code, {
      channel: channel.name,
      method: path,
      details: error.details,
      metadata: error.metadata
    })
    if (error.code === grpc.status.UNAVAILABLE && stateOf(live.channel) !== READY) {
      return Effect.zipRight(connection.invalidate(typed, live), Effect.fail(typed))
    }
    return Effect.fail(typed)
  }

  // grpc-js throws when the channel was shut down between the readiness check and the call (it
  // was closed under the call, which was not sent): the manager's answer, as for a lost channel.
  const shutDown = (
    path: string,
    live: GrpcChannel.LiveChannel,
    cause: unknown
  ): Effect.Effect<never, GrpcStatusError | NotConnected | Closed> =>
    Effect.zipRight(
      connection.invalidate(cause, live),
      Effect.flatMap(connection.get, () =>
        Effect.fail(fromStatus(grpc.status.UNAVAILABLE, {
          channel: channel.name,
          method: path,
          details: `the channel closed before the call was sent: ${cause instanceof Error ? cause.message : "unknown"}`,
          metadata: new grpc.Metadata()
        })))
    )

  const withRetry = <A, E>(
    call: (mode: GrpcClient.CallMode) => Effect.Effect<A, E>,
    options: GrpcClient.CallOptions
  ): Effect.Effect<A, E> => {
    const mode = options.mode ?? defaults.mode ?? "failFast"
    const retry = options.retry ?? defaults.retry
    if (retry === undefined) return call(mode)
    // A retry waits for the connection to come back (up to the deadline) instead of failing fast.
    let attempt = 0
    return Effect.suspend(() => call(attempt++ === 0 ? mode : "wait")).pipe(
      Effect.retry({ schedule: retry as unknown as Schedule.Schedule<unknown, E>, while: isRetryable })
    )
  }

  const unary = (name: string, request: unknown, options: GrpcClient.CallOptions = {}) => {
    const definition = method(name, "unary")
    if (definition instanceof GrpcClient.GrpcClientError) return Effect.fail(definition)
    const encoded = encode(name, definition, request)
    if (encoded instanceof GrpcClient.GrpcClientError) return Effect.fail(encoded)
    const path = definition.path
    const call = (mode: GrpcClient.CallMode) =>
      Effect.flatMap(
        prepare(name, path, options, mode),
        ({ budget, callOptions, live, metadata }) =>
          Effect.async<unknown, GrpcStatusError | Timeout | NotConnected | Closed>((resume) => {
            let call: grpc.ClientUnaryCall
            try {
              call = live.client.makeUnaryRequest(
                path,
                bytes,
                definition.deserialize,
                encoded,
                metadata,
                callOptions,
                (error, value) => resume(error ? failure(path, live, budget, error) : Effect.succeed(value as unknown))
              )
            } catch (cause) {
              return resume(shutDown(path, live, cause))
            }
            return Effect.sync(() => call.cancel())
          })
      )
    return traced(withRetry(call, options), "redial.grpc.unary", path)
  }

  // A readable call (server or bidi streaming) as a Stream: grpc-js streams are async iterables,
  // so the consumer's pace pauses the call (backpressure). Interruption cancels the call.
  const readable = (
    path: string,
    live: GrpcChannel.LiveChannel,
    budget: Duration.Duration | undefined,
    call: grpc.ClientReadableStream<unknown>
  ): Stream.Stream<unknown, GrpcStatusError | Timeout> =>
    Stream.fromAsyncIterable(call as AsyncIterable<unknown>, (error) => error).pipe(
      Stream.catchAll((error) => Stream.fromEffect(failure(path, live, budget, error))),
      Stream.ensuring(Effect.sync(() => call.cancel()))
    )

  // Writes every request of `requests` to the call, serialized, respecting `drain`, then ends it.
  const writeAll = <E>(
    name: string,
    definition: Resolved,
    requests: Stream.Stream<unknown, E>,
    call: grpc.ClientWritableStream<Buffer>
  ) =>
    Stream.runForEach(requests, (request) => {
      const encoded = encode(name, definition, request)
      if (encoded instanceof GrpcClient.GrpcClientError) return Effect.fail(encoded)
      return Effect.async<void>((resume) => {
        if (call.write(encoded)) return resume(Effect.void)
        call.once("drain", () => resume(Effect.void))
      })
    }).pipe(Effect.zipRight(Effect.sync(() => call.end())))

  // Starts a streaming call, or fails as `shutDown` when grpc-js throws.
  const start = <A>(path: string, live: GrpcChannel.LiveChannel, make: () => A) =>
    Effect.suspend(() => {
      try {
        return Effect.succeed(make())
      } catch (cause) {
        return shutDown(path, live, cause)
      }
    })

  const serverStream = (name: string, request: unknown, options: GrpcClient.CallOptions = {}) => {
    const definition = method(name, "serverStream")
    if (definition instanceof GrpcClient.GrpcClientError) return Stream.fail(definition)
    const encoded = encode(name, definition, request)
    if (encoded instanceof GrpcClient.GrpcClientError) return Stream.fail(encoded)
    const path = definition.path
    const mode = options.mode ?? defaults.mode ?? "failFast"
    return Stream.unwrapScoped(
      Effect.flatMap(prepare(name, path, options, mode), ({ budget, callOptions, live, metadata }) =>
        Effect.map(
          start(path, live, () =>
            live.client.makeServerStreamRequest(
              path,
              bytes,
              definition.deserialize,
              encoded,
              metadata,
              callOptions
            )),
          (call) => readable(path, live, budget, call)
        ))
    )
  }

  const clientStream = <E>(name: string, requests: Stream.Stream<unknown, E>, options: GrpcClient.CallOptions = {}) => {
    const definition = method(name, "clientStream")
    if (definition instanceof GrpcClient.GrpcClientError) return Effect.fail(definition)
    const path = definition.path
    const call = (mode: GrpcClient.CallMode) =>
      Effect.scoped(Effect.gen(function*() {
        const { budget, callOptions, live, metadata } = yield* prepare(name, path, options, mode)
        const result = yield* Deferred.make<unknown, GrpcStatusError | Timeout>()
        const call = yield* Effect.acquireRelease(
          start(path, live, () =>
            live.client.makeClientStreamRequest(
              path,
              bytes,
              definition.deserialize,
              metadata,
              callOptions,
              (error, value) =>
                Deferred.unsafeDone(
                  result,
                  error ? failure(path, live, budget, error) : Exit.succeed(value as unknown)
                )
            )),
          (call) => Effect.sync(() => call.cancel())
        )
        const writer = yield* Effect.forkScoped(writeAll(name, definition, requests, call))
        // The answer, or the requests' own failure (which cancels the call on release).
        return yield* Effect.raceFirst(Deferred.await(result), Effect.zipRight(Fiber.join(writer), Effect.never))
      }))
    return withRetry(call, options)
  }

  const bidiStream = <E>(name: string, requests: Stream.Stream<unknown, E>, options: GrpcClient.CallOptions = {}) => {
    const definition = method(name, "bidiStream")
    if (definition instanceof GrpcClient.GrpcClientError) return Stream.fail(definition)
    const path = definition.path
    const mode = options.mode ?? defaults.mode ?? "failFast"
    return Stream.unwrapScoped(
      Effect.gen(function*() {
        const { budget, callOptions, live, metadata } = yield* prepare(name, path, options, mode)
        const call = yield* start(path, live, () =>
          live.client.makeBidiStreamRequest(
            path,
            bytes,
            definition.deserialize,
            metadata,
            callOptions
          ))
        const writer = yield* Effect.forkScoped(
          writeAll(name, definition, requests, call).pipe(Effect.tapErrorCause(() => Effect.sync(() => call.cancel())))
        )
        const fromWriter = Stream.fromEffect(Fiber.join(writer)).pipe(Stream.drain)
        return Stream.merge(readable(path, live, budget, call), fromWriter, { haltStrategy: "left" })
      })
    )
  }

  return { channel, service, unary, serverStream, clientStream, bidiStream } as unknown as GrpcClient.GrpcClient<D>
}

// Effect's own tracer only keeps spans for the traces of a Cause; a span (and the stack trace
// it captures) costs about 15 µs a call, a sixth of a unary call on loopback. Calls are traced
// when a real tracer (OpenTelemetry, …) is installed, without capturing a stack trace.
const nativeTracer = Effect.runSync(Effect.tracer)

const traced = <A, E, R>(effect: Effect.Effect<A, E, R>, name: string, method: string): Effect.Effect<A, E, R> =>
  Effect.tracerWith((tracer) =>
    tracer === nativeTracer
      ? effect
      : Effect.useSpan(
        name,
        { kind: "client", attributes: { "rpc.method": method }, captureStackTrace: false },
        () => effect
      )
  )

/** @internal */
export const isRetryable = (error: unknown): boolean => {
  if (!isRedialError(error)) return false
  switch (error._tag) {
    case "NotConnected":
      return true
    case "Timeout":
      // Nothing was sent: waiting for a connection, or one connect attempt, ran out of time.
      return (error as Timeout).operation === "await" || (error as Timeout).operation === "connect"
    default:
      return "retryable" in error && error.retryable === true
  }
}
