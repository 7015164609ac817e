/** @internal */
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Metric from "effect/Metric"
import * as MetricBoundaries from "effect/MetricBoundaries"
import type * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as SubscriptionRef from "effect/SubscriptionRef"
import type * as Connection from "../Connection.js"
import { Closed, ConnectFailed, InvalidOption, NotConnected, Timeout } from "../Errors.js"
import { positiveDuration } from "./options.js"
import * as reconnect from "./reconnect.js"
import { causeMessage, type CloseReason, describeReason, Status, statusCode } from "./status.js"
import * as Waiters from "./waiters.js"

// ---------------------------------------------------------------------------------------------
// Metrics: one set for all connections, told apart by the `connection` tag.
// ---------------------------------------------------------------------------------------------

/** @internal */
export const metrics = {
  status: Metric.gauge("redial_connection_status", {
    description: "Status of a connection: 0 idle, 1 connecting, 2 connected, 3 backoff, 4 closed"
  }),
  attempts: Metric.counter("redial_connect_attempts_total", {
    description: "Connect attempts started",
    incremental: true
  }),
  failures: Metric.counter("redial_connect_failures_total", {
    description: "Connect attempts that failed (including timeouts)",
    incremental: true
  }),
  lost: Metric.counter("redial_connection_lost_total", {
    description: "Live connections dropped: lost, invalidated or failing their health check",
    incremental: true
  }),
  connectDuration: Metric.histogram(
    "redial_connect_duration_ms",
    MetricBoundaries.exponential({ start: 1, factor: 2, count: 18 }),
    "Duration of successful connect attempts, in milliseconds"
  )
}

// ---------------------------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------------------------

const DEFAULT_CONNECT_TIMEOUT = Duration.seconds(15)
const DEFAULT_AFTER_CONNECT_TIMEOUT = Duration.seconds(15)

const duration = (option: string, input: Duration.DurationInput): Duration.Duration => positiveDuration(option, input)

interface Resolved<A, E, R, C> {
  readonly name: string
  readonly acquire: (attempt: Connection.Attempt<C>) => Effect.Effect<A, E, R | Scope.Scope>
  readonly configure: ((attempt: Connection.Attempt<C>) => Effect.Effect<C, E, R>) | undefined
  readonly config: C
  readonly lost: ((connection: A) => Effect.Effect<unknown, unknown, R | Scope.Scope>) | undefined
  readonly policy: Schedule.Schedule<unknown, E | Timeout, R>
  readonly connectTimeout: Duration.Duration
  readonly afterConnect: ((connection: A) => Effect.Effect<unknown, E, R | Scope.Scope>) | undefined
  readonly afterConnectTimeout: Duration.Duration
  readonly autoConnect: boolean
  readonly isFatal: (error: E | Timeout) => boolean
  readonly healthCheck:
    | {
      readonly interval: Duration.Duration
      readonly timeout: Duration.Duration
      readonly check: (connection: A) => Effect.Effect<unknown, unknown, R>
    }
    | undefined
}

const resolve = <A, E, R, C>(options: Connection.Options<A, E, R, C>): Resolved<A, E, R, C> => {
  const name = options.name ?? "connection"
  if (name.length === 0) throw new InvalidOption({ option: "name", reason: "must not be empty" })
  const acquire = options.acquire
  const healthInterval = options.healthCheck && duration("healthCheck.interval", options.healthCheck.interval)
  return {
    name,
    acquire: typeof acquire === "function" ? acquire : () => acquire,
    configure: options.configure,
    config: options.config as C,
    lost: options.lost,
    policy: options.policy ?? reconnect.randomExponential(),
    connectTimeout: options.connectTimeout === undefined
      ? DEFAULT_CONNECT_TIMEOUT
      : duration("connectTimeout", options.connectTimeout),
    afterConnect: options.afterConnect,
    afterConnectTimeout: options.afterConnectTimeout === undefined
      ? DEFAULT_AFTER_CONNECT_TIMEOUT
      : duration("afterConnectTimeout", options.afterConnectTimeout),
    autoConnect: options.autoConnect ?? true,
    isFatal: options.isFatal ?? (() => false),
    healthCheck: options.healthCheck && healthInterval
      ? {
        interval: healthInterval,
        timeout: options.healthCheck.timeout === undefined
          ? healthInterval
          : duration("healthCheck.timeout", options.healthCheck.timeout),
        check: options.healthCheck.check
      }
      : undefined
  }
}

// ---------------------------------------------------------------------------------------------
// The manager
// ---------------------------------------------------------------------------------------------

/** Why a live connection was dropped. */
type Drop =
  | { readonly _tag: "Lost"; readonly cause: unknown }
  | { readonly _tag: "Invalidated"; readonly cause: unknown }
  | { readonly _tag: "HealthCheckFailed"; readonly cause: unknown }

interface Live<A> {
  readonly connection: A
  readonly drop: Deferred.Deferred<Drop>
  /** `get` returns this effect while the connection lives: no allocation on the hot path. */
  readonly succeed: Effect.Effect<A>
}

/** What one session (one attempt, and the life of the connection if it succeeds) ended with. */
type SessionEnd<E> =
  | { readonly _tag: "Failed"; readonly cause: Cause.Cause<E | Timeout> }
  | { readonly _tag: "Dropped"; readonly drop: Drop }

/** @internal */
export const make = <A, E = never, R = never, C = void>(
  options: Connection.Options<A, E, R, C>
): Effect.Effect<Connection.Connection<A>, InvalidOption, Scope.Scope | R> =>
  Effect.gen(function*() {
    const opts = yield* Effect.try({
      try: () => resolve(options),
      catch: (error) =>
        error instanceof InvalidOption ? error : new InvalidOption({ option: "options", reason: String(error) })
    })
    const name = opts.name
    const tags = { connection: name }
    const statusGauge = Metric.tagged(metrics.status, "connection", name)
    const attemptsCounter = Metric.tagged(metrics.attempts, "connection", name)
    const failuresCounter = Metric.tagged(metrics.failures, "connection", name)
    const lostCounter = Metric.tagged(metrics.lost, "connection", name)
    const durationHistogram = Metric.tagged(metrics.connectDuration, "connection", name)

    // The state. Only this module mutates it; JavaScript runs one fiber at a time, so a read
    // in `get` always sees a consistent pair of `status` and `live`.
    const initial: Connection.Status = Status.Idle()
    const statusRef = yield* SubscriptionRef.make<Connection.Status>(initial)
    let status: Connection.Status = initial
    let live: Live<A> | undefined = undefined
    let lastError: ConnectFailed | undefined = undefined
    // The fibers in `await`: resumed when the connection is next up, or closed.
    const waiters = yield* Waiters.make<A, Closed | Timeout>()
    let runner: Fiber.RuntimeFiber<void> | undefined = undefined
    let ended = false
    const lock = yield* Effect.makeSemaphore(1)
    // The runner is forked from `connect`, which users call from anywhere: it runs with the
    // context (R) captured here.
    const context = yield* Effect.context<R>()

    const closedError = (reason: CloseReason, error?: ConnectFailed) => new Closed({ connection: name, reason, error })

    const transition = (next: Connection.Status, log: Effect.Effect<void>) =>
      Effect.uninterruptible(Effect.suspend(() => {
        status = next
        return SubscriptionRef.set(statusRef, next).pipe(
          Effect.zipRight(Metric.set(statusGauge, statusCode(next))),
          Effect.zipRight(log.pipe(Effect.annotateLogs({ ...tags, status: next._tag })))
        )
      }))

    const enterClosed = (reason: CloseReason, error?: ConnectFailed) =>
      Effect.suspend(() => {
        live = undefined
        return transition(
          Status.Closed({ reason, error }),
          reason === "FatalError" || reason === "PolicyExhausted"
            ? Effect.logError(`redial: connection closed: ${describeReason(reason)}`, causeMessage(error?.cause))
            : Effect.logInfo(`redial: connection closed: ${describeReason(reason)}`)
        ).pipe(Effect.zipRight(Effect.sync(() => waiters.resumeAll(Effect.fail(closedError(reason, error))))))
      })

    // One connect attempt, run inside the scope that will own the connection.
    const attemptConnect = (attempt: number, scope: Scope.Scope) =>
      Effect.gen(function*() {
        const base: Connection.Attempt<C> = { attempt, config: opts.config, name }
        const config = opts.configure ? yield* opts.configure(base) : opts.config
        const connection = yield* Scope.extend(opts.acquire({ attempt, config, name }), scope).pipe(
          Effect.timeoutFail({
            duration: opts.connectTimeout,
            onTimeout: () => new Timeout({ connection: name, operation: "connect", duration: opts.connectTimeout })
          })
        )
        if (opts.afterConnect) {
          yield* Scope.extend(opts.afterConnect(connection), scope).pipe(
            Effect.timeoutFail({
              duration: opts.afterConnectTimeout,
              onTimeout: () =>
                new Timeout({ connection: name, operation: "afterConnect", duration: opts.afterConnectTimeout })
            })
          )
        }
        return connection
      }).pipe(
        Effect.withSpan("redial.connect", {
          attributes: { "redial.connection": name, "redial.attempt": attempt },
          kind: "client"
        })
      )

    // Waits until the live connection is dropped, for whichever reason comes first.
    const watch = (connection: A, drop: Deferred.Deferred<Drop>, scope: Scope.Scope) => {
      const watchers: Array<Effect.Effect<Drop, never, R>> = [Deferred.await(drop)]
      if (opts.lost) {
        watchers.push(
          Scope.extend(opts.lost(connection), scope).pipe(
            Effect.exit,
            Effect.map((exit): Drop => ({
              _tag: "Lost",
              cause: Exit.isSuccess(exit) ? exit.value : Cause.squash(exit.cause)
            }))
          )
        )
      }
      const health = opts.healthCheck
      if (health) {
        const check = health.check(connection).pipe(
          Effect.timeoutFail({
            duration: health.timeout,
            onTimeout: () => new Timeout({ connection: name, operation: "healthCheck", duration: health.timeout })
          })
        )
        watchers.push(
          Effect.sleep(health.interval).pipe(
            Effect.zipRight(check),
            Effect.forever,
            Effect.catchAllCause((cause) =>
              Effect.succeed<Drop>({ _tag: "HealthCheckFailed", cause: Cause.squash(cause) })
            )
          )
        )
      }
      return Effect.raceAll(watchers)
    }

    // One session: an attempt and, when it succeeds, the life of that connection. The
    // connection's scope is closed exactly once, by the release of this acquireUseRelease,
    // whether the attempt failed, the connection was dropped, or the runner was interrupted.
    const session = (attempt: number) =>
      Effect.acquireUseRelease(
        Scope.make(),
        (scope) =>
          Effect.gen(function*() {
            yield* Metric.increment(attemptsCounter)
            const [elapsed, exit] = yield* Effect.timed(Effect.exit(attemptConnect(attempt, scope)))
            if (Exit.isFailure(exit)) return { _tag: "Failed", cause: exit.cause } as SessionEnd<E>
            const connection = exit.value
            yield* Metric.update(durationHistogram, Duration.toMillis(elapsed))
            const drop = yield* Deferred.make<Drop>()
            lastError = undefined
            const current: Live<A> = { connection, drop, succeed: Effect.succeed(connection) }
            live = current
            yield* transition(
              Status.Connected({ attempt }),
              Effect.logInfo("redial: connected").pipe(Effect.annotateLogs({ attempt, ms: Duration.toMillis(elapsed) }))
            )
            waiters.resumeAll(current.succeed)
            const dropped = yield* watch(connection, drop, scope)
            // Down: waiters from now on wait for the next connection; `get` fails at once.
            live = undefined
            yield* Metric.increment(lostCounter)
            yield* transition(
              Status.Connecting({ attempt: 1 }),
              Effect.logWarning(
                `redial: connection dropped (${dropped._tag}), reconnecting`,
                causeMessage(dropped.cause)
              )
            )
            return { _tag: "Dropped", drop: dropped } as SessionEnd<E>
          }),
        (scope, exit) => Scope.close(scope, exit)
      )

    // The runner ends itself: under the lock, so a concurrent `connect` sees it gone.
    const finish = (reason: CloseReason, error: ConnectFailed) =>
      lock.withPermits(1)(Effect.suspend(() => {
        runner = undefined
        return enterClosed(reason, error)
      }))

    // Connects, keeps the connection, reconnects: runs until closed, interrupted, or the policy
    // or a fatal error ends it.
    const run: Effect.Effect<void, never, R> = Effect.gen(function*() {
      let attempt = 1
      let policyState: unknown = opts.policy.initial
      while (true) {
        if (status._tag !== "Connecting" || status.attempt !== attempt) {
          yield* transition(Status.Connecting({ attempt }), Effect.logDebug("redial: connecting"))
        }
        const end = yield* session(attempt)
        if (end._tag === "Dropped") {
          attempt = 1
          policyState = opts.policy.initial
          continue
        }
        yield* Metric.increment(failuresCounter)
        const failure = Cause.failureOption(end.cause)
        const error = new ConnectFailed({
          connection: name,
          attempt,
          cause: failure._tag === "Some" ? failure.value : Cause.squash(end.cause)
        })
        lastError = error
        if (failure._tag === "None" || opts.isFatal(failure.value)) {
          // A defect, or an error the user called fatal: retrying will not help.
          return yield* finish("FatalError", error)
        }
        const now = yield* Clock.currentTimeMillis
        const next = yield* reconnect.step(opts.policy, now, failure.value, policyState)
        if (next._tag === "Done") {
          return yield* finish("PolicyExhausted", error)
        }
        policyState = next.state
        yield* transition(
          Status.Backoff({ attempt, delay: next.delay, error }),
          Effect.logWarning(
            `redial: connect attempt ${attempt} failed, retrying in ${Duration.format(next.delay)}`,
            causeMessage(error.cause)
          )
        )
        yield* Effect.sleep(next.delay)
        attempt += 1
      }
    })

    // Called under the lock with no runner.
    const start = Effect.suspend(() =>
      transition(Status.Connecting({ attempt: 1 }), Effect.logDebug("redial: connecting")).pipe(
        Effect.zipRight(Effect.forkDaemon(Effect.provide(run, context))),
        Effect.tap((fiber) =>
          Effect.sync(() => {
            runner = fiber
          })
        )
      )
    )

    const connect: Effect.Effect<void, Closed> = lock.withPermits(1)(Effect.suspend(() => {
      if (ended) return Effect.fail(closedError("ScopeClosed"))
      if (runner !== undefined) return Effect.void
      return Effect.asVoid(start)
    }))

    const stopWith = (reason: CloseReason) =>
      lock.withPermits(1)(Effect.suspend(() => {
        if (ended) return Effect.void
        if (reason === "ScopeClosed") ended = true
        const fiber = runner
        runner = undefined
        return (fiber ? Fiber.interrupt(fiber) : Effect.void).pipe(
          Effect.zipRight(
            Effect.suspend(() =>
              status._tag === "Closed" && reason === "UserClosed" ? Effect.void : enterClosed(reason)
            )
          )
        )
      }))

    yield* Effect.addFinalizer(() => stopWith("ScopeClosed"))

    const notConnected = () => new NotConnected({ connection: name, status, lastError })

    const get: Effect.Effect<A, NotConnected | Closed> = Effect.suspend((): Effect.Effect<A, NotConnected | Closed> =>
      live !== undefined
        ? live.succeed
        : status._tag === "Closed"
        ? Effect.fail(closedError(status.reason, status.error))
        : Effect.fail(notConnected())
    )

    // What a waiter gets at once, or undefined when it must wait. Idle is handled before.
    const readyNow = (): Effect.Effect<A, Closed> | undefined =>
      live !== undefined
        ? live.succeed
        : status._tag === "Closed"
        ? Effect.fail(closedError(status.reason, status.error))
        : undefined

    const wait = (timeout?: Duration.Duration): Effect.Effect<A, Closed | Timeout> =>
      Effect.suspend(() => {
        const now = readyNow()
        if (now !== undefined) return now
        // Lazy start: the first waiter of a connection made with autoConnect: false starts it.
        const started = status._tag === "Idle" ? connect : Effect.void
        return Effect.zipRight(
          started,
          waiters.wait(
            readyNow,
            timeout && {
              millis: Duration.toMillis(timeout),
              onTimeout: () => new Timeout({ connection: name, operation: "await", duration: timeout })
            }
          )
        )
      })

    const untimed = wait()
    const awaitConnection = (awaitOptions?: { readonly timeout?: Duration.DurationInput | undefined }) =>
      awaitOptions?.timeout === undefined ? untimed : wait(Duration.decode(awaitOptions.timeout))

    const invalidate = (cause: unknown, connection?: A) =>
      Effect.suspend(() => {
        if (live === undefined) return Effect.void
        if (connection !== undefined && connection !== live.connection) return Effect.void
        return Effect.asVoid(Deferred.succeed(live.drop, { _tag: "Invalidated" as const, cause }))
      })

    const changes: Stream.Stream<Connection.Status> = statusRef.changes.pipe(
      Stream.takeUntil((s) => s._tag === "Closed" && s.reason === "ScopeClosed")
    )

    if (opts.autoConnect) yield* lock.withPermits(1)(start)

    const self: Connection.Connection<A> = {
      name,
      get,
      await: awaitConnection as Connection.Connection<A>["await"],
      status: Effect.sync(() => status),
      changes,
      close: stopWith("UserClosed"),
      connect,
      invalidate
    }
    return self
  })
