/** @internal */
import * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as FiberId from "effect/FiberId"
import * as Metric from "effect/Metric"
import * as MetricBoundaries from "effect/MetricBoundaries"
import type * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type * as Connection from "../Connection.js"
import { Closed, ConnectFailed, InvalidOption, NotConnected, Timeout } from "../Errors.js"
import * as ConnectionState from "./connectionState.js"
import * as Options from "./options.js"
import * as reconnect from "./reconnect.js"
import { causeMessage, type CloseReason, describeReason, Status } from "./status.js"

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
const DEFAULT_MIN_UPTIME = Duration.seconds(5)

/** A timeout: positive, and may be infinite (no timeout). */
const timeout = Options.duration({ finite: false })

/** The plain values of `Connection.Options`, decoded (and named in errors) by `Options.decode`. */
const Settings = Schema.Struct({
  name: Schema.optionalWith(Options.nonEmptyString, { default: () => "connection" }),
  connectTimeout: Schema.optionalWith(timeout, { default: () => DEFAULT_CONNECT_TIMEOUT }),
  afterConnectTimeout: Schema.optionalWith(timeout, { default: () => DEFAULT_AFTER_CONNECT_TIMEOUT }),
  // zero counts every connection as lasting
  minUptime: Schema.optionalWith(Options.duration({ min: 0 }), { default: () => DEFAULT_MIN_UPTIME }),
  healthCheck: Schema.optional(Schema.Struct({ interval: timeout, timeout: Schema.optional(timeout) })),
  // `true` is decoded as `{}` (so a bad timeout is named `awaitConnected.timeout`)
  awaitConnected: Schema.optional(Schema.Struct({ timeout: Schema.optional(timeout) }))
})

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
  readonly minUptime: number
  readonly autoConnect: boolean
  readonly isFatal: (error: E | Timeout) => boolean
  readonly isFatalLoss: (cause: unknown) => boolean
  readonly healthCheck:
    | {
      readonly interval: Duration.Duration
      readonly timeout: Duration.Duration
      readonly check: (connection: A) => Effect.Effect<unknown, unknown, R>
    }
    | undefined
  /** How long `make` waits for the first connection; `undefined`: it does not wait. */
  readonly awaitConnected: Duration.Duration | undefined
}

const resolve = <A, E, R, C>(
  options: Connection.Options<A, E, R, C>
): Either.Either<Resolved<A, E, R, C>, InvalidOption> =>
  Either.map(
    Options.decode(Settings, {
      name: options.name,
      connectTimeout: options.connectTimeout,
      afterConnectTimeout: options.afterConnectTimeout,
      minUptime: options.minUptime,
      healthCheck: options.healthCheck &&
        { interval: options.healthCheck.interval, timeout: options.healthCheck.timeout },
      awaitConnected: options.awaitConnected === true
        ? {}
        : options.awaitConnected === false
        ? undefined
        : typeof options.awaitConnected === "object" && options.awaitConnected !== null
        ? { timeout: options.awaitConnected.timeout }
        // Anything else (a string from untyped config) is decoded as it is, and rejected.
        : options.awaitConnected as never
    }),
    (settings): Resolved<A, E, R, C> => {
      const acquire = options.acquire
      const health = options.healthCheck
      return {
        name: settings.name,
        acquire: typeof acquire === "function" ? acquire : () => acquire,
        configure: options.configure,
        config: options.config as C,
        lost: options.lost,
        policy: options.policy ?? reconnect.randomExponential(),
        connectTimeout: settings.connectTimeout,
        afterConnect: options.afterConnect,
        afterConnectTimeout: settings.afterConnectTimeout,
        minUptime: Duration.toMillis(settings.minUptime),
        autoConnect: options.autoConnect ?? true,
        isFatal: options.isFatal ?? (() => false),
        isFatalLoss: options.isFatalLoss ?? (() => false),
        healthCheck: health && settings.healthCheck
          ? {
            interval: settings.healthCheck.interval,
            timeout: settings.healthCheck.timeout ?? settings.healthCheck.interval,
            check: health.check
          }
          : undefined,
        awaitConnected: settings.awaitConnected === undefined
          ? undefined
          : settings.awaitConnected.timeout ?? settings.connectTimeout
      }
    }
  )

// ---------------------------------------------------------------------------------------------
// The manager
// ---------------------------------------------------------------------------------------------

type State<A> = ConnectionState.State<A>
type Live<A> = ConnectionState.Live<A>
type Drop = ConnectionState.Drop

/**
 * One run of the connect loop, from `connect` to `close` (or to a fatal error or the policy
 * giving up). `close` deactivates it before it interrupts the runner, so nothing the old run
 * does afterwards changes the state.
 */
interface Run {
  active: boolean
}

/** What the runner does after a session (an attempt, and the life of its connection). */
type SessionEnd<E> =
  | { readonly _tag: "Failed"; readonly cause: Cause.Cause<E | Timeout> }
  | { readonly _tag: "Ended" }

/**
 * A log line whose cause, if any, is the annotation `error` (its message, without a stack): one
 * `message` per line, never a second one, never "undefined".
 */
const withError = (log: Effect.Effect<void>, cause: unknown): Effect.Effect<void> =>
  cause === undefined ? log : Effect.annotateLogs(log, "error", causeMessage(cause))

/** @internal */
export function make<A, E = never, R = never, C = void>(
  options: Connection.Options<A, E, R, C> & { readonly awaitConnected?: false | undefined }
): Effect.Effect<Connection.Connection<A>, InvalidOption, Scope.Scope | R>
/** @internal */
export function make<A, E = never, R = never, C = void>(
  options: Connection.Options<A, E, R, C>
): Effect.Effect<Connection.Connection<A>, InvalidOption | Timeout | Closed, Scope.Scope | R>
export function make<A, E = never, R = never, C = void>(
  options: Connection.Options<A, E, R, C>
): Effect.Effect<Connection.Connection<A>, InvalidOption | Timeout | Closed, Scope.Scope | R> {
  return Effect.gen(function*() {
    const opts = yield* resolve(options)
    const name = opts.name
    const tags = { connection: name }
    const attemptsCounter = Metric.tagged(metrics.attempts, "connection", name)
    const failuresCounter = Metric.tagged(metrics.failures, "connection", name)
    const lostCounter = Metric.tagged(metrics.lost, "connection", name)
    const durationHistogram = Metric.tagged(metrics.connectDuration, "connection", name)
    const clock = yield* Effect.clock

    const closedError = (reason: CloseReason, error?: ConnectFailed) => new Closed({ connection: name, reason, error })

    const machine = yield* ConnectionState.make<A>({
      initial: { status: Status.Idle(), live: undefined, lastError: undefined, policy: opts.policy.initial },
      closed: (status) => closedError(status.reason, status.error),
      gauge: Metric.tagged(metrics.status, "connection", name)
    })
    const waiters = machine.waiters

    // --- the states, each built in one place --------------------------------------------------

    const connecting = (attempt: number, policy: unknown, lastError?: ConnectFailed): State<A> => ({
      status: Status.Connecting({ attempt }),
      live: undefined,
      lastError,
      policy
    })
    const closedState = (reason: CloseReason, error?: ConnectFailed): State<A> => ({
      status: Status.Closed({ reason, error }),
      live: undefined,
      lastError: error ?? machine.state.lastError,
      policy: opts.policy.initial
    })
    const annotate = (log: Effect.Effect<void>, state: State<A>) =>
      log.pipe(Effect.annotateLogs({ ...tags, status: state.status._tag }))

    /**
     * The one writer, as an effect that logs the transition after making it. With `run`, only
     * while that run is active: the check and the change are one step, so a run that `close`
     * deactivated cannot write after it.
     */
    const transition = (next: State<A>, log: Effect.Effect<void>, run?: Run) =>
      Effect.suspend(() => {
        if (run !== undefined && !run.active) return Effect.void
        machine.set(next)
        return annotate(log, next)
      })

    // A give-up (fatal error, policy) is an Error; a close the user asked for (or the scope's end), Debug.
    const closedLog = (reason: CloseReason, error?: ConnectFailed) =>
      reason === "FatalError" || reason === "PolicyExhausted"
        ? withError(Effect.logError(`redial: connection closed: ${describeReason(reason)}`), error?.cause)
        : Effect.logDebug(`redial: connection closed: ${describeReason(reason)}`)

    // The runner is forked from `connect`, which users call from anywhere: it runs with the
    // context (R) captured here, and so do drop reports, which step the policy.
    const context = yield* Effect.context<R>()
    let runner: { readonly run: Run; readonly fiber: Fiber.RuntimeFiber<void> } | undefined = undefined
    let ended = false
    const lock = yield* Effect.makeSemaphore(1)

    // --- one attempt ----------------------------------------------------------------------------

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

    // --- dropping a live connection -------------------------------------------------------------

    /**
     * What follows the drop of `current`. A connection that stayed up `minUptime` restarts the
     * policy and reconnects at once; one that lived shorter counts as a failed attempt and the
     * policy decides (backoff, or giving up). A policy that gives up at its first step
     * (`Reconnect.stop`) never reconnects: after a loss the connection closes.
     */
    const afterDrop = (current: Live<A>, drop: Drop, now: number): Effect.Effect<State<A>, never, R> => {
      const lasted = now - current.since >= opts.minUptime
      const attempt = lasted ? 1 : current.attempt
      const error = new ConnectFailed({ connection: name, attempt, cause: drop.cause })
      const policyState = lasted ? opts.policy.initial : machine.state.policy
      // A loss no reconnect can mend (a WebSocket closed with "policy violation"): no policy step.
      if (opts.isFatalLoss(drop.cause)) return Effect.succeed(closedState("FatalError", error))
      // The policy's input is the connect error; for a drop it is the cause the drop was reported with.
      return Effect.map(
        reconnect.step(opts.policy, now, drop.cause as E | Timeout, policyState),
        (next): State<A> =>
          next._tag === "Done"
            ? closedState("PolicyExhausted", error)
            : lasted
            ? connecting(1, opts.policy.initial)
            : {
              status: Status.Backoff({ attempt, delay: next.delay, error }),
              live: undefined,
              lastError: error,
              policy: next.state
            }
      )
    }

    // A loss is a Warning; a loss after which the policy gives up, an Error.
    const dropLog = (drop: Drop, next: State<A>) =>
      withError(
        (next.status._tag === "Closed" ? Effect.logError : Effect.logWarning)(
          `redial: connection dropped (${drop._tag}), ${
            next.status._tag === "Connecting"
              ? "reconnecting"
              : next.status._tag === "Backoff"
              ? `it lived less than the minimum uptime, reconnecting in ${Duration.format(next.status.delay)}`
              : "not reconnecting: the policy gave up"
          }`
        ),
        drop.cause
      )

    /**
     * Drops `current` if it is still the live connection: the state changes (and `get` stops
     * returning it) in the same step as the check, then its session is woken to close its scope.
     */
    const dropLive = (current: Live<A>, drop: Drop): Effect.Effect<void> =>
      Effect.uninterruptible(Effect.suspend(() => {
        if (machine.state.live !== current) return Effect.void
        return afterDrop(current, drop, clock.unsafeCurrentTimeMillis()).pipe(
          Effect.provide(context),
          Effect.flatMap((next) => {
            // Someone else dropped it (or closed the connection) while the policy was stepped.
            if (machine.state.live !== current) return Effect.void
            machine.set(next)
            Deferred.unsafeDone(current.dropped, Exit.succeed(drop))
            return Metric.increment(lostCounter).pipe(Effect.zipRight(annotate(dropLog(drop, next), next)))
          })
        )
      }))

    // Waits until the live connection is dropped, for whichever reason comes first.
    const watch = (current: Live<A>, scope: Scope.Scope) => {
      const watchers: Array<Effect.Effect<unknown, never, R>> = [Deferred.await(current.dropped)]
      const reportThenWait = (drop: Drop) => Effect.zipRight(dropLive(current, drop), Deferred.await(current.dropped))
      if (opts.lost) {
        watchers.push(
          Scope.extend(opts.lost(current.connection), scope).pipe(
            Effect.exit,
            Effect.flatMap((exit) =>
              reportThenWait({ _tag: "Lost", cause: Exit.isSuccess(exit) ? exit.value : Cause.squash(exit.cause) })
            )
          )
        )
      }
      const health = opts.healthCheck
      if (health) {
        const check = health.check(current.connection).pipe(
          Effect.timeoutFail({
            duration: health.timeout,
            onTimeout: () => new Timeout({ connection: name, operation: "healthCheck", duration: health.timeout })
          })
        )
        watchers.push(
          Effect.sleep(health.interval).pipe(
            Effect.zipRight(check),
            Effect.forever,
            Effect.catchAllCause((cause) => reportThenWait({ _tag: "HealthCheckFailed", cause: Cause.squash(cause) }))
          )
        )
      }
      return Effect.raceAll(watchers)
    }

    // --- the runner -----------------------------------------------------------------------------

    // One session: an attempt and, when it succeeds, the life of that connection. The
    // connection's scope is closed exactly once, by the release of this acquireUseRelease,
    // whether the attempt failed, the connection was dropped, or the runner was interrupted.
    const session = (run: Run, attempt: number): Effect.Effect<SessionEnd<E>, never, R> =>
      Effect.acquireUseRelease(
        Scope.make(),
        (scope) =>
          Effect.gen(function*() {
            yield* Metric.increment(attemptsCounter)
            const [elapsed, exit] = yield* Effect.timed(Effect.exit(attemptConnect(attempt, scope)))
            if (Exit.isFailure(exit)) return { _tag: "Failed", cause: exit.cause } as SessionEnd<E>
            yield* Metric.update(durationHistogram, Duration.toMillis(elapsed))
            const connection = exit.value
            const current: Live<A> = {
              connection,
              attempt,
              since: clock.unsafeCurrentTimeMillis(),
              succeed: Effect.succeed(connection),
              dropped: Deferred.unsafeMake<Drop>(FiberId.none)
            }
            yield* transition(
              {
                status: Status.Connected({ attempt }),
                live: current,
                lastError: undefined,
                policy: machine.state.policy
              },
              Effect.logDebug("redial: connected").pipe(
                Effect.annotateLogs({ attempt, ms: Duration.toMillis(elapsed) })
              ),
              run
            )
            if (machine.state.live !== current) return { _tag: "Ended" } as SessionEnd<E>
            yield* watch(current, scope)
            return { _tag: "Ended" } as SessionEnd<E>
          }),
        (scope, exit) => Scope.close(scope, exit)
      )

    /**
     * A session in its own fiber. Closing a scope runs each finalizer with the FiberRefs of the
     * fiber that added it, patched onto the closing fiber and back, which leaves entries on that
     * fiber's FiberRef stacks (the attempt's Context and span): in the long-lived runner that was
     * 3 KB per attempt, forever. A session fiber takes them with it when it ends; the runner
     * awaits its exit without inheriting its FiberRefs (`Fiber.await`, not `join`).
     */
    const isolated = (run: Run, attempt: number): Effect.Effect<SessionEnd<E>, never, R> =>
      Effect.flatMap(Effect.fork(session(run, attempt)), (fiber) =>
        Fiber.await(fiber).pipe(
          Effect.onInterrupt(() => Fiber.interrupt(fiber)),
          Effect.map((exit) => Exit.isSuccess(exit) ? exit.value : { _tag: "Ended" } as const)
        ))

    // A failed attempt: back off by the policy, or close on a fatal error or when it gives up.
    const failed = (run: Run, attempt: number, cause: Cause.Cause<E | Timeout>): Effect.Effect<void, never, R> =>
      Effect.gen(function*() {
        yield* Metric.increment(failuresCounter)
        const failure = Cause.failureOption(cause)
        const error = new ConnectFailed({
          connection: name,
          attempt,
          cause: failure._tag === "Some" ? failure.value : Cause.squash(cause)
        })
        let next: State<A>
        if (failure._tag === "None" || opts.isFatal(failure.value)) {
          // A defect, or an error the user called fatal: retrying will not help.
          next = closedState("FatalError", error)
        } else {
          const step = yield* reconnect.step(
            opts.policy,
            clock.unsafeCurrentTimeMillis(),
            failure.value,
            machine.state.policy
          )
          next = step._tag === "Done" ? closedState("PolicyExhausted", error) : {
            status: Status.Backoff({ attempt, delay: step.delay, error }),
            live: undefined,
            lastError: error,
            policy: step.state
          }
        }
        yield* transition(
          next,
          next.status._tag === "Backoff"
            ? withError(
              Effect.logDebug(
                `redial: connect attempt ${attempt} failed, retrying in ${Duration.format(next.status.delay)}`
              ),
              error.cause
            ).pipe(Effect.annotateLogs("attempt", attempt))
            : closedLog(next.status._tag === "Closed" ? next.status.reason : "FatalError", error),
          run
        )
      })

    // Connects, keeps the connection, reconnects, as the state says: runs until the state is
    // Closed (by `close`, which also deactivates the run, a fatal error, or the policy).
    const loop = (run: Run): Effect.Effect<void, never, R> =>
      Effect.gen(function*() {
        while (run.active) {
          const state = machine.state
          switch (state.status._tag) {
            case "Connecting": {
              const attempt = state.status.attempt
              const end = yield* isolated(run, attempt)
              if (end._tag === "Failed") yield* failed(run, attempt, end.cause)
              break
            }
            case "Backoff": {
              const { attempt, error } = state.status
              yield* Effect.sleep(state.status.delay)
              yield* transition(
                connecting(attempt + 1, machine.state.policy, error),
                Effect.logDebug("redial: connecting"),
                run
              )
              break
            }
            default:
              // Closed (or a session that ended without a drop, after the run was deactivated).
              return
          }
        }
      })

    // Called under the lock when no run is active.
    const start = Effect.suspend(() => {
      const run: Run = { active: true }
      return transition(
        connecting(1, opts.policy.initial, machine.state.lastError),
        Effect.logDebug("redial: connecting")
      )
        .pipe(
          Effect.zipRight(Effect.forkDaemon(Effect.provide(loop(run), context))),
          Effect.tap((fiber) =>
            Effect.sync(() => {
              runner = { run, fiber }
            })
          )
        )
    })

    // Deactivates and interrupts the current run; its session's scope is closed when this ends.
    const stopRunner = Effect.suspend(() => {
      const current = runner
      runner = undefined
      if (current === undefined) return Effect.void
      current.run.active = false
      return Fiber.interrupt(current.fiber)
    })

    const connect: Effect.Effect<void, Closed> = lock.withPermits(1)(Effect.suspend(() => {
      if (ended) return Effect.fail(closedError("ScopeClosed"))
      const status = machine.state.status
      if (status._tag !== "Idle" && status._tag !== "Closed") return Effect.void
      // A run that closed itself (fatal error, policy) may not have returned yet.
      return Effect.zipRight(stopRunner, Effect.asVoid(start))
    }))

    const stopWith = (reason: CloseReason) =>
      lock.withPermits(1)(Effect.suspend(() => {
        if (ended) return Effect.void
        if (reason === "ScopeClosed") ended = true
        const status = machine.state.status
        if (runner !== undefined) runner.run.active = false
        // The state is Closed before the connection's scope closes: no one gets it meanwhile.
        const close = status._tag === "Closed" && reason === "UserClosed"
          ? Effect.void
          : transition(closedState(reason), closedLog(reason))
        return Effect.zipRight(close, stopRunner)
      }))

    yield* Effect.addFinalizer(() => stopWith("ScopeClosed"))

    // --- the API --------------------------------------------------------------------------------

    const get: Effect.Effect<A, NotConnected | Closed> = Effect.suspend((): Effect.Effect<A, NotConnected | Closed> => {
      const state = machine.state
      return state.live !== undefined
        ? state.live.succeed
        : state.status._tag === "Closed"
        ? Effect.fail(closedError(state.status.reason, state.status.error))
        : Effect.fail(new NotConnected({ connection: name, status: state.status, lastError: state.lastError }))
    })

    // What a waiter gets at once, or undefined when it must wait. Idle is handled before.
    const readyNow = (previous?: A) => (): Effect.Effect<A, Closed> | undefined => {
      const state = machine.state
      return state.live !== undefined
        ? (previous !== undefined && state.live.connection === previous ? undefined : state.live.succeed)
        : state.status._tag === "Closed"
        ? Effect.fail(closedError(state.status.reason, state.status.error))
        : undefined
    }
    const readyAny = readyNow()

    function wait(ready: () => Effect.Effect<A, Closed> | undefined): Effect.Effect<A, Closed>
    function wait(
      ready: () => Effect.Effect<A, Closed> | undefined,
      timeout: Duration.Duration
    ): Effect.Effect<A, Closed | Timeout>
    function wait(ready: () => Effect.Effect<A, Closed> | undefined, timeout?: Duration.Duration) {
      return Effect.suspend((): Effect.Effect<A, Closed | Timeout> => {
        const now = ready()
        if (now !== undefined) return now
        // Lazy start: the first waiter of a connection made with autoConnect: false starts it.
        const started = machine.state.status._tag === "Idle" ? connect : Effect.void
        return Effect.zipRight(
          started,
          waiters.wait(
            ready,
            timeout && {
              millis: Duration.toMillis(timeout),
              // The last connect error says why no connection came (absent before any attempt failed).
              onTimeout: () =>
                new Timeout({ connection: name, operation: "await", duration: timeout, cause: machine.state.lastError })
            }
          )
        )
      })
    }

    const untimed = wait(readyAny)
    const awaitConnection = (
      awaitOptions?: { readonly timeout?: unknown }
    ): Effect.Effect<A, Closed | Timeout | InvalidOption> => {
      if (awaitOptions?.timeout === undefined) return untimed
      const timeout = Duration.decodeUnknown(awaitOptions.timeout)
      if (timeout._tag === "None") {
        return Effect.fail(new InvalidOption({ option: "timeout", reason: "Invalid", detail: "must be a duration" }))
      }
      return wait(readyAny, timeout.value)
    }

    const awaitNext = (previous: A | undefined): Effect.Effect<A, Closed> =>
      previous === undefined ? untimed : wait(readyNow(previous))

    const invalidate = (cause: unknown, connection?: A) =>
      Effect.suspend(() => {
        const live = machine.state.live
        if (live === undefined) return Effect.void
        if (connection !== undefined && connection !== live.connection) return Effect.void
        return dropLive(live, { _tag: "Invalidated", cause })
      })

    const changes: Stream.Stream<Connection.Status> = machine.changes.pipe(
      Stream.takeUntil((s) => s._tag === "Closed" && s.reason === "ScopeClosed")
    )

    const use = <B, E2, R2>(
      f: (connection: A) => Effect.Effect<B, E2, R2>,
      useOptions?: Connection.UseOptions<E2>
    ): Effect.Effect<B, E2 | Closed | Timeout | InvalidOption, R2> => {
      const isTransportError = useOptions?.isTransportError
      return Effect.flatMap(
        useOptions?.timeout === undefined ? untimed : awaitConnection({ timeout: useOptions.timeout }),
        (connection) =>
          isTransportError === undefined
            ? f(connection)
            : Effect.tapError(
              f(connection),
              (error) => isTransportError(error) ? invalidate(error, connection) : Effect.void
            )
      )
    }

    if (opts.autoConnect) yield* lock.withPermits(1)(start)

    const self: Connection.Connection<A> = {
      name,
      get,
      await: awaitConnection as Connection.Connection<A>["await"],
      awaitNext,
      status: Effect.sync(() => machine.state.status),
      changes,
      close: stopWith("UserClosed"),
      connect,
      invalidate,
      use: use as Connection.Connection<A>["use"]
    }

    // awaitConnected: the first connection, or the connection released and the error returned.
    const first = opts.awaitConnected
    if (first !== undefined) {
      yield* (Duration.isFinite(first) ? wait(readyAny, first) : untimed).pipe(
        Effect.tapError(() => stopWith("ScopeClosed"))
      )
    }
    return self
  })
}
