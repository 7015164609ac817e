/** @internal */
import * as grpc from "@grpc/grpc-js"
import { type Closed, type NotConnected, Timeout } from "@redial/core"
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import type * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import type * as GrpcChannel from "../GrpcChannel.js"
import type * as GrpcClient from "../GrpcClient.js"
import { fromStatus, type GrpcStatusError } from "../GrpcError.js"

type Kind = "unary" | "serverStream" | "clientStream" | "bidiStream"

const kindOf = (method: GrpcClient.Method<never, unknown>): Kind =>
  method.requestStream
    ? (method.responseStream ? "bidiStream" : "clientStream")
    : (method.responseStream ? "serverStream" : "unary")

const toMetadata = (input: GrpcClient.CallOptions["metadata"]): grpc.Metadata => {
  if (input instanceof grpc.Metadata) return input.clone()
  const metadata = new grpc.Metadata()
  if (input) {
    for (const [key, value] of Object.entries(input)) {
      if (typeof value === "string") metadata.add(key, value)
      else for (const v of value) metadata.add(key, v)
    }
  }
  return metadata
}

const isServiceError = (error: unknown): error is grpc.ServiceError =>
  typeof error === "object" && error !== null && "code" in error && typeof error.code === "number" &&
  "metadata" in error

/** @internal */
export const make = <S extends GrpcClient.Service>(
  channel: GrpcChannel.GrpcChannel,
  service: S,
  defaults: GrpcClient.CallOptions = {}
): GrpcClient.GrpcClient<S> => {
  const connection = channel.connection

  const method = (name: string, expected: Kind) => {
    const definition = service[name]
    if (definition === undefined) {
      throw new Error(`GrpcClient: the service has no method "${name}"`)
    }
    const kind = kindOf(definition)
    if (kind !== expected) {
      throw new Error(`GrpcClient: method "${name}" is ${kind}, not ${expected}`)
    }
    return definition as GrpcClient.Method<unknown, unknown>
  }

  // Everything a call needs before it starts: the live channel (now, or waited for up to the
  // deadline), grpc-js call options, metadata.
  // Everything a call needs before it starts: the live channel (now, or waited for up to the
  // deadline), grpc-js call options, metadata. Written without Effect.gen, and reading Clock
  // only when there is a deadline: this runs on every call.
  const prepare = (path: string, options: GrpcClient.CallOptions, mode: GrpcClient.CallMode) => {
    const deadline = options.deadline ?? defaults.deadline ?? channel.defaultDeadline
    const budget = deadline === undefined ? undefined : Duration.decode(deadline)
    const credentials = options.credentials ?? defaults.credentials ?? channel.callCredentials
    const finish = (live: GrpcChannel.LiveChannel, start: number) => {
      const callOptions: grpc.CallOptions = {}
      if (budget !== undefined) {
        // The deadline counts from the call's start, time spent waiting for the connection
        // included. grpc-js wants a wall-clock Date; Clock is the live clock outside tests.
        callOptions.deadline = new Date(start + Duration.toMillis(budget))
      }
      if (credentials) callOptions.credentials = credentials
      return { live, callOptions, metadata: toMetadata(options.metadata ?? defaults.metadata), budget }
    }
    const live: Effect.Effect<GrpcChannel.LiveChannel, NotConnected | Closed | Timeout> = mode === "failFast"
      ? connection.get
      : (budget === undefined ? connection.await() : connection.await({ timeout: budget })).pipe(
        Effect.catchTag("Timeout", () =>
          Effect.fail(
            new Timeout({
              connection: channel.name,
              operation: "call",
              detail: path,
              duration: budget as Duration.Duration
            })
          ))
      )
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
    if (
      error.code === grpc.status.UNAVAILABLE &&
      live.channel.getConnectivityState(false) !== grpc.connectivityState.READY
    ) {
      return Effect.zipRight(connection.invalidate(typed, live), Effect.fail(typed))
    }
    return Effect.fail(typed)
  }

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
    const call = (mode: GrpcClient.CallMode) =>
      Effect.flatMap(
        prepare(definition.path, options, mode),
        ({ budget, callOptions, live, metadata }) =>
          Effect.async<unknown, GrpcStatusError | Timeout>((resume) => {
            const call = live.client.makeUnaryRequest(
              definition.path,
              definition.requestSerialize,
              definition.responseDeserialize,
              request,
              metadata,
              callOptions,
              (error, value) =>
                resume(error ? failure(definition.path, live, budget, error) : Effect.succeed(value as unknown))
            )
            return Effect.sync(() => call.cancel())
          })
      )
    return traced(withRetry(call, options), "redial.grpc.unary", definition.path)
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

  // Writes every request of `requests` to the call, respecting `drain`, then ends it.
  const writeAll = <E>(requests: Stream.Stream<unknown, E>, call: grpc.ClientWritableStream<unknown>) =>
    Stream.runForEach(requests, (request) =>
      Effect.async<void>((resume) => {
        if (call.write(request)) return resume(Effect.void)
        call.once("drain", () => resume(Effect.void))
      })).pipe(Effect.zipRight(Effect.sync(() => call.end())))

  const serverStream = (name: string, request: unknown, options: GrpcClient.CallOptions = {}) => {
    const definition = method(name, "serverStream")
    const mode = options.mode ?? defaults.mode ?? "failFast"
    return Stream.unwrapScoped(
      Effect.map(prepare(definition.path, options, mode), ({ budget, callOptions, live, metadata }) =>
        readable(
          definition.path,
          live,
          budget,
          live.client.makeServerStreamRequest(
            definition.path,
            definition.requestSerialize,
            definition.responseDeserialize,
            request,
            metadata,
            callOptions
          )
        ))
    )
  }

  const clientStream = <E>(name: string, requests: Stream.Stream<unknown, E>, options: GrpcClient.CallOptions = {}) => {
    const definition = method(name, "clientStream")
    const call = (mode: GrpcClient.CallMode) =>
      Effect.scoped(Effect.gen(function*() {
        const { budget, callOptions, live, metadata } = yield* prepare(definition.path, options, mode)
        const result = yield* Deferred.make<unknown, GrpcStatusError | Timeout>()
        const call = yield* Effect.acquireRelease(
          Effect.sync(() =>
            live.client.makeClientStreamRequest(
              definition.path,
              definition.requestSerialize,
              definition.responseDeserialize,
              metadata,
              callOptions,
              (error, value) =>
                Deferred.unsafeDone(
                  result,
                  error ? failure(definition.path, live, budget, error) : Exit.succeed(value as unknown)
                )
            )
          ),
          (call) => Effect.sync(() => call.cancel())
        )
        const writer = yield* Effect.forkScoped(writeAll(requests, call))
        // The answer, or the requests' own failure (which cancels the call on release).
        return yield* Effect.raceFirst(Deferred.await(result), Effect.zipRight(Fiber.join(writer), Effect.never))
      }))
    return withRetry(call, options)
  }

  const bidiStream = <E>(name: string, requests: Stream.Stream<unknown, E>, options: GrpcClient.CallOptions = {}) => {
    const definition = method(name, "bidiStream")
    const mode = options.mode ?? defaults.mode ?? "failFast"
    return Stream.unwrapScoped(
      Effect.gen(function*() {
        const { budget, callOptions, live, metadata } = yield* prepare(definition.path, options, mode)
        const call = live.client.makeBidiStreamRequest(
          definition.path,
          definition.requestSerialize,
          definition.responseDeserialize,
          metadata,
          callOptions
        )
        const writer = yield* Effect.forkScoped(
          writeAll(requests, call).pipe(Effect.tapErrorCause(() => Effect.sync(() => call.cancel())))
        )
        const fromWriter = Stream.fromEffect(Fiber.join(writer)).pipe(Stream.drain)
        return Stream.merge(readable(definition.path, live, budget, call), fromWriter, { haltStrategy: "left" })
      })
    )
  }

  return { channel, service, unary, serverStream, clientStream, bidiStream } as unknown as GrpcClient.GrpcClient<S>
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
export const isRetryable = (error: unknown): boolean =>
  typeof error === "object" && error !== null && (
    ("_tag" in error && error._tag === "NotConnected") ||
    ("retryable" in error && error.retryable === true)
  )
