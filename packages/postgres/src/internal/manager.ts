/**
 * The manager: one runner fiber that goes round sessions. A session connects the lock
 * connection (with the SSL and IPv4 fallbacks), waits for the advisory lock, reads the server's
 * version, starts the pool and `onActive`, and ends when the lock connection is lost or
 * `onActive` fails; its scope then releases `onActive`, the pool and the lock connection, in
 * that order. Between sessions the runner follows the policy.
 *
 * The state is one value (`State`) replaced by one function (`set`), which publishes the status
 * to `changes` and wakes the `awaitActive` waiters in the same step.
 *
 * @internal
 */
import { Closed, ConnectFailed, Options as CoreOptions, Reconnect, Timeout } from "@redial/core"
import type { CloseReason, InvalidOption } from "@redial/core"
import { Driver } from "@redial/pool"
import * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Equal from "effect/Equal"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as FiberId from "effect/FiberId"
import * as PubSub from "effect/PubSub"
import * as Redacted from "effect/Redacted"
import type * as Schedule from "effect/Schedule"
import * as ScheduleDecision from "effect/ScheduleDecision"
import * as Intervals from "effect/ScheduleIntervals"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as PgDriver from "../PgDriver.js"
import { classify, PgError } from "../PgError.js"
import * as PgListen from "../PgListen.js"
import type * as PgManager from "../PgManager.js"
import * as PgPool from "../PgPool.js"
import { describeError, describeStatus, NotReady, Status } from "./managerStatus.js"

/** Electric's policy: 2000, 4000, 8000, 10000, 10000 … ms. @internal */
export const electricPolicy: Schedule.Schedule<Duration.Duration> = Reconnect.exponential({
  min: "2 seconds",
  max: "10 seconds"
})

/** How often the manager says it still waits for the lock (Electric: 10 s). @internal */
export const WAITING_LOG_INTERVAL = Duration.seconds(10)

/** What a session fails with. */
type Failure = PgError | Timeout | Closed | InvalidOption

/** How a session that held the lock ended. */
interface End {
  readonly _tag: "Lost" | "OnActiveFailed" | "Died"
  readonly cause: unknown
  /** When it became `Active` (Clock millis); undefined when it never did. */
  readonly since: number | undefined
}

/** @internal */
interface State {
  readonly status: Status
  /** Present exactly when `Active`. */
  readonly pool: PgPool.PgPool | undefined
  /** The last `server_version_num` read, kept once known. */
  readonly serverVersion: number | undefined
  /** The last failed attempt, if any since the last session that lasted. */
  readonly lastError: ConnectFailed | undefined
  /** The server has no SSL: every connection from now on is plain. */
  readonly plain: boolean
  /** The host has no IPv6 address or network: every connection from now on is IPv4. */
  readonly ipv4: boolean
}

const Waiting: Status = Status.Waiting()
const Starting: Status = Status.Starting()
const Active: Status = Status.Active()
const closedStatus = (reason: CloseReason, error?: PgError | InvalidOption): Status =>
  error === undefined ? Status.Closed({ reason }) : Status.Closed({ reason, error })

/** The error inside a session failure that says why: the pool's `Closed` carries its slot's. */
const innermost = (error: Failure): PgError | InvalidOption | undefined => {
  if (error instanceof PgError) return error
  if (error._tag === "InvalidOption") return error
  if (error._tag === "Closed") {
    const cause = error.error?.cause
    return cause instanceof PgError ? cause : undefined
  }
  return undefined
}

const isFatal = (error: Failure): boolean => {
  if (error._tag === "InvalidOption") return true
  if (error._tag === "Closed") return error.reason === "FatalError"
  return error instanceof PgError && error.fatal
}

/** The driver's errors are a `PgError`, or a `Disconnect` whose cause is one. */
const unwrap = (error: PgError | Driver.Disconnect): PgError =>
  error instanceof Driver.Disconnect
    ? (error.cause instanceof PgError
      ? error.cause
      : new PgError({ reason: "ConnectionLost", operation: "lock", text: describeError(error.cause) }))
    : error

const Settings = Schema.Struct({
  name: CoreOptions.nonEmptyString,
  connectTimeout: Schema.optionalWith(CoreOptions.duration(), { default: () => Duration.seconds(15) }),
  minUptime: Schema.optionalWith(CoreOptions.duration({ min: 0 }), { default: () => Duration.seconds(5) }),
  healthCheck: Schema.optional(
    Schema.Struct({ interval: CoreOptions.duration(), timeout: Schema.optional(CoreOptions.duration()) })
  )
})

const DEFAULT_HEALTH_CHECK = { interval: "30 seconds", timeout: "10 seconds" } as const

/** The Node.js error code under a PgError (`ENOTFOUND`, `ENETUNREACH` …), or its reason. */
const nodeCode = (error: PgError): string => {
  const cause: unknown = error.cause
  return typeof cause === "object" && cause !== null && "code" in cause && typeof cause.code === "string"
    ? cause.code
    : error.reason
}

/** Whether the server's "no SSL" may be answered by connecting without it. */
const sslFallbackAllowed = (connect: PgDriver.ConnectOptions): boolean =>
  (connect.sslmode === undefined || connect.sslmode === "prefer") && connect.tls?.ca === undefined

/** @internal */
export const make = <E = never, R = never>(
  options: PgManager.Options<E, R>
): Effect.Effect<PgManager.PgManager, InvalidOption, Scope.Scope | Exclude<R, Scope.Scope>> =>
  Effect.gen(function*() {
    const settings = yield* CoreOptions.decodeEffect(Settings, {
      name: options.name,
      connectTimeout: options.connectTimeout,
      minUptime: options.minUptime,
      healthCheck: options.healthCheck === false ? undefined : options.healthCheck ?? DEFAULT_HEALTH_CHECK
    })
    const name = settings.name
    const connectTimeout = settings.connectTimeout
    const minUptime = Duration.toMillis(settings.minUptime)
    const healthCheck = settings.healthCheck === undefined ? undefined : {
      interval: settings.healthCheck.interval,
      timeout: settings.healthCheck.timeout ?? settings.healthCheck.interval
    }
    const policy: Schedule.Schedule<unknown, unknown> = options.policy ?? electricPolicy
    const connect = options.connect
    const fallbackAllowed = sslFallbackAllowed(connect)
    const secrets = connect.password === undefined ? [] : [Redacted.value(connect.password)]
    const lockText = `pg_advisory_lock(hashtext('${name.replace(/'/g, "''")}'))`
    const driver = PgDriver.make({ name })
    const clock = yield* Effect.clock
    const context = yield* Effect.context<Exclude<R, Scope.Scope>>()
    const managerScope = yield* Effect.scope

    // --- the state, and its one writer ----------------------------------------------------------

    const hub = yield* PubSub.unbounded<readonly [number, Status]>()
    let version = 0
    let state: State = {
      status: Waiting,
      pool: undefined,
      serverVersion: undefined,
      lastError: undefined,
      plain: false,
      ipv4: false
    }
    /** Completed with the pool when `Active`, failed when `Closed`; replaced when neither again. */
    let active = Deferred.unsafeMake<PgPool.PgPool, Closed>(FiberId.none)
    let activeDone = false

    const closedError = (status: Status, lastError: ConnectFailed | undefined): Closed =>
      new Closed({
        connection: name,
        reason: status._tag === "Closed" ? status.reason : "ScopeClosed",
        error: status._tag === "Closed" && (status.reason === "FatalError" || status.reason === "PolicyExhausted")
          ? lastError
          : undefined
      })

    const set = (next: State): void => {
      const previous = state
      state = next
      if (Equal.equals(previous.status, next.status)) return
      version++
      hub.unsafeOffer([version, next.status])
      // The signal follows the state: a waiter that comes later gets the state it finds.
      if (activeDone) {
        active = Deferred.unsafeMake<PgPool.PgPool, Closed>(FiberId.none)
        activeDone = false
      }
      const settled = next.status._tag === "Active" && next.pool !== undefined
        ? Exit.succeed(next.pool)
        : next.status._tag === "Closed"
        ? Exit.fail(closedError(next.status, next.lastError))
        : undefined
      if (settled !== undefined) {
        activeDone = true
        Deferred.unsafeDone(active, settled)
      }
    }

    const annotate = <A, E2, R2>(self: Effect.Effect<A, E2, R2>) =>
      Effect.annotateLogs(self, { manager: name, status: state.status._tag })

    /** A runner writes only while it is the current one and (with a session) the session lives. */
    interface Run {
      active: boolean
    }
    interface Session {
      readonly run: Run
      live: boolean
    }
    const write = (guard: Run | Session, next: (s: State) => State, log?: Effect.Effect<void>) =>
      Effect.suspend(() => {
        const live = "run" in guard ? guard.live && guard.run.active : guard.active
        if (!live) return Effect.void
        set(next(state))
        return log === undefined ? Effect.void : annotate(log)
      })

    // --- the lock connection ---------------------------------------------------------------------

    /** The connect options of the lock connection and of the pool, after the fallbacks learnt. */
    const effective = (s: State, forLock: boolean): PgDriver.ConnectOptions => {
      const family = s.ipv4 ? { family: 4 as const } : {}
      if (!fallbackAllowed) {
        // A CA with no mode or `prefer` means TLS verified with it, never plain (as Electric).
        const preferred = connect.sslmode === undefined || connect.sslmode === "prefer"
        return preferred ? { ...connect, sslmode: "require", ...family } : { ...connect, ...family }
      }
      // prefer: the lock connection asks for TLS and falls back itself, once, for everyone;
      // the pool's connections then use what it learnt (prefer keeps a late change safe).
      const sslmode: PgDriver.SslMode = s.plain ? "disable" : forLock ? "require" : "prefer"
      return { ...connect, sslmode, ...family }
    }

    const connectOnce = (config: PgDriver.ConnectOptions, attempt: number) =>
      Effect.gen(function*() {
        const scope = yield* Effect.scope
        const own = yield* Scope.fork(scope, ExecutionStrategy.sequential)
        return yield* driver.connect({ attempt, name, config }).pipe(
          Effect.timeoutFail({
            duration: connectTimeout,
            onTimeout: () => new Timeout({ connection: name, operation: "connect", duration: connectTimeout })
          }),
          Scope.extend(own),
          Effect.onError(() => Scope.close(own, Exit.void))
        )
      })

    /** Connects the lock connection; a fallback the server's answer calls for is taken at once. */
    const connectLock = (
      session: Session,
      attempt: number
    ): Effect.Effect<PgDriver.PgConnection, PgError | Timeout, Scope.Scope> =>
      Effect.catchIf(
        Effect.suspend(() => connectOnce(effective(state, true), attempt)),
        (error): error is PgError =>
          error instanceof PgError && (
            (error.reason === "SslNotSupported" && fallbackAllowed && !state.plain) ||
            ((error.reason === "HostNotFound" || error.reason === "NetworkUnreachable") &&
              connect.family === 6 && !state.ipv4)
          ),
        (error) =>
          Effect.zipRight(
            error.reason === "SslNotSupported"
              ? write(
                session,
                (s) => ({ ...s, plain: true }),
                Effect.logWarning(
                  `redial: PgManager "${name}": the server does not support SSL; connecting without it from now on`
                )
              )
              : write(
                session,
                (s) => ({ ...s, ipv4: true }),
                Effect.logWarning(
                  `redial: PgManager "${name}": the host is not reachable over IPv6 (${nodeCode(error)}); ` +
                    `connecting over IPv4 from now on`
                )
              ),
            Effect.suspend(() => connectLock(session, attempt))
          )
      )

    const lostOf = driver.lost ?? (() => Effect.never)
    /** What the driver saw when the lock connection closed (the server's 57P01, a reset…). */
    const lostCause = (conn: PgDriver.PgConnection): PgError => {
      const seen = (conn as { readonly closedBy?: unknown }).closedBy
      return seen instanceof Error
        ? classify(seen, { operation: "lock", connection: name, secrets })
        : new PgError({
          reason: "ConnectionLost",
          operation: "lock",
          connection: name,
          text: "the lock connection was closed"
        })
    }

    const query = (conn: PgDriver.PgConnection, text: string, params: ReadonlyArray<unknown> = []) =>
      Effect.flatMap(driver.prepare(conn, text), (prepared) => driver.execute(conn, prepared, params)).pipe(
        Effect.mapError(unwrap)
      )

    /** Blocks until the lock is granted, saying every 10 s that it still waits. */
    const takeLock = (conn: PgDriver.PgConnection) => {
      let waited = Duration.zero
      const waiting = Effect.sleep(WAITING_LOG_INTERVAL).pipe(
        Effect.zipRight(Effect.suspend(() => {
          waited = Duration.sum(waited, WAITING_LOG_INTERVAL)
          return annotate(Effect.logWarning(
            `redial: PgManager "${name}": waiting for the exclusive lock ${lockText}, held by another session, ` +
              `for ${Duration.format(waited)}`
          ))
        })),
        Effect.forever
      )
      return Effect.raceFirst(query(conn, "SELECT pg_advisory_lock(hashtext($1))", [name]), waiting)
    }

    /**
     * Fails when the lock connection does not answer a `SELECT 1` within the timeout: a silent
     * network (a black hole, a NAT that forgot the connection) sends no `end` for hours. Not the
     * driver's ping: an interrupted ping sends a CancelRequest and waits for it, on the same path.
     */
    const checkHealth = (conn: PgDriver.PgConnection): Effect.Effect<never, PgError | Timeout> => {
      if (healthCheck === undefined) return Effect.never
      const select1 = Effect.async<void, PgError>((resume) => {
        conn.client.query("SELECT 1", (error) =>
          resume(
            error ? Effect.fail(classify(error, { operation: "ping", connection: name, secrets })) : Effect.void
          ))
      }).pipe(
        Effect.timeoutFail({
          duration: healthCheck.timeout,
          onTimeout: () =>
            new Timeout({
              connection: name,
              operation: "healthCheck",
              duration: healthCheck.timeout,
              detail: "the lock connection"
            })
        })
      )
      return Effect.forever(Effect.zipRight(Effect.sleep(healthCheck.interval), select1))
    }

    // --- a session ---------------------------------------------------------------------------------

    const poolOptions = (config: PgDriver.ConnectOptions): PgPool.Options => ({
      name,
      policy,
      connectTimeout,
      ...options.pool,
      connect: config,
      awaitConnected: { timeout: Duration.infinity }
    })

    const session = (session: Session, attempt: number): Effect.Effect<End, Failure, Scope.Scope> =>
      Effect.gen(function*() {
        const scope = yield* Effect.scope
        const conn = yield* connectLock(session, attempt)
        yield* takeLock(conn)
        const result = yield* query(conn, "SELECT current_setting('server_version_num')::int AS version")
        const serverVersion = Number(result.rows[0]?.["version"])
        yield* write(
          session,
          (s) => ({ ...s, status: Starting, serverVersion }),
          Effect.logInfo(`redial: PgManager "${name}": lock ${lockText} acquired; starting`).pipe(
            Effect.annotateLogs({ serverVersion, pid: conn.pid })
          )
        )

        let since: number | undefined = undefined
        const lost = Effect.raceFirst(
          Effect.map(lostOf(conn), (): End => ({ _tag: "Lost", cause: lostCause(conn), since })),
          Effect.catchAll(checkHealth(conn), (cause) => Effect.succeed<End>({ _tag: "Lost", cause, since }))
        )
        const activeRun = Effect.gen(function*() {
          const pool = yield* PgPool.make(poolOptions(effective(state, false)))
          since = clock.unsafeCurrentTimeMillis()
          yield* write(
            session,
            (s) => ({ ...s, status: Active, pool }),
            Effect.logInfo(`redial: PgManager "${name}": active`)
          )
          if (options.onActive === undefined) return yield* Effect.never
          // onActive's resources are released after its fiber is interrupted (scopes close in reverse).
          const activeScope = yield* Scope.fork(scope, ExecutionStrategy.sequential)
          const resources = yield* Scope.fork(activeScope, ExecutionStrategy.sequential)
          const fiber = yield* options.onActive(pool).pipe(
            Scope.extend(resources),
            Effect.provide(context),
            Effect.forkIn(activeScope)
          )
          const exit = yield* Fiber.await(fiber)
          if (Exit.isSuccess(exit)) return yield* Effect.never
          return { _tag: "OnActiveFailed", cause: exit.cause, since } satisfies End
        })
        const end = yield* Effect.raceFirst(lost, activeRun)
        // The lock is gone (or about to be): nobody may take the pool while it closes.
        yield* write(
          session,
          (s) => ({ ...s, status: Waiting, pool: undefined }),
          end._tag === "Lost"
            ? Effect.logWarning(`redial: PgManager "${name}": the lock connection was lost; stopping`).pipe(
              Effect.annotateLogs("error", describeError(end.cause))
            )
            : Effect.logError(`redial: PgManager "${name}": onActive failed; stopping`, end.cause)
        )
        session.live = false
        return end
      })

    // --- the runner --------------------------------------------------------------------------------

    const stepPolicy = (input: unknown, policyState: unknown) =>
      Effect.map(policy.step(clock.unsafeCurrentTimeMillis(), input, policyState), ([next, _out, decision]) =>
        ScheduleDecision.isDone(decision)
          ? undefined
          : {
            state: next,
            delay: Duration.millis(Math.max(0, Intervals.start(decision.intervals) - clock.unsafeCurrentTimeMillis()))
          })

    const runner = (run: Run) =>
      Effect.gen(function*() {
        let attempt = 1
        let policyState = policy.initial
        while (true) {
          const current: Session = { run, live: true }
          // A defect ends the session as a retryable failure would (logged with its cause).
          const outcome = yield* session(current, attempt).pipe(
            Effect.catchAllDefect((defect) =>
              Effect.as(
                write(
                  current,
                  (s) => ({ ...s, status: Waiting, pool: undefined }),
                  Effect.logError(`redial: PgManager "${name}": the session died; stopping`, Cause.die(defect))
                ),
                { _tag: "Died", cause: defect, since: undefined } satisfies End
              )
            ),
            Effect.scoped,
            // A finalizer (onActive's own) that died: the session is over all the same.
            Effect.catchAllDefect((defect) =>
              Effect.as(
                annotate(
                  Effect.logError(`redial: PgManager "${name}": a finalizer of the session died`, Cause.die(defect))
                ),
                { _tag: "Died", cause: defect, since: undefined } satisfies End
              )
            ),
            Effect.either
          )
          current.live = false
          let cause: unknown
          if (outcome._tag === "Right") {
            const end = outcome.right
            if (end.since !== undefined && clock.unsafeCurrentTimeMillis() - end.since >= minUptime) {
              attempt = 1
              policyState = policy.initial
              yield* write(run, (s) => ({ ...s, lastError: undefined }))
              continue
            }
            cause = end.cause
          } else {
            const error = outcome.left
            if (isFatal(error)) {
              const failed = new ConnectFailed({ connection: name, attempt, cause: innermost(error) ?? error })
              yield* write(
                run,
                (s) => ({
                  ...s,
                  status: closedStatus("FatalError", innermost(error)),
                  pool: undefined,
                  lastError: failed
                }),
                Effect.logError(`redial: PgManager "${name}": closed after a fatal error`).pipe(
                  Effect.annotateLogs("error", describeError(error))
                )
              )
              return
            }
            cause = error
          }
          const failed = new ConnectFailed({ connection: name, attempt, cause })
          const next = yield* stepPolicy(cause, policyState)
          if (next === undefined) {
            yield* write(
              run,
              (s) => ({
                ...s,
                status: closedStatus("PolicyExhausted", cause instanceof PgError ? cause : undefined),
                pool: undefined,
                lastError: failed
              }),
              Effect.logError(`redial: PgManager "${name}": closed: the reconnect policy gave up`).pipe(
                Effect.annotateLogs("error", describeError(failed))
              )
            )
            return
          }
          yield* write(
            run,
            (s) => ({ ...s, status: Waiting, lastError: failed }),
            Effect.logWarning(
              `redial: PgManager "${name}": attempt ${attempt} failed; trying again in ${Duration.format(next.delay)}`
            ).pipe(Effect.annotateLogs("error", describeError(cause)))
          )
          policyState = next.state
          attempt++
          yield* Effect.sleep(next.delay)
        }
      })

    // --- connect / close -------------------------------------------------------------------------

    const lock = yield* Effect.makeSemaphore(1)
    let current: { readonly run: Run; readonly fiber: Fiber.RuntimeFiber<void> } | undefined = undefined
    let ended = false

    const start = Effect.suspend(() => {
      const run: Run = { active: true }
      return Effect.map(Effect.forkIn(runner(run), managerScope), (fiber) => {
        current = { run, fiber }
      })
    })

    const stop = (reason: CloseReason) =>
      Effect.suspend(() => {
        const running = current
        current = undefined
        if (running !== undefined) {
          running.run.active = false
        }
        if (state.status._tag !== "Closed" || reason === "ScopeClosed") {
          set({ ...state, status: closedStatus(reason), pool: undefined })
        }
        return running === undefined ? Effect.void : Fiber.interrupt(running.fiber)
      })

    yield* lock.withPermits(1)(start)
    yield* Effect.addFinalizer(() =>
      lock.withPermits(1)(Effect.suspend(() => {
        ended = true
        return stop("ScopeClosed")
      }))
    )

    const fromState = <A>(f: (s: State) => A | undefined, what: "pool" | "serverVersion") =>
      Effect.suspend((): Effect.Effect<A, PgManager.NotReady | Closed> => {
        const s = state
        const value = f(s)
        if (value !== undefined) {
          return Effect.succeed(value)
        }
        if (s.status._tag === "Closed") {
          return Effect.fail(closedError(s.status, s.lastError))
        }
        return Effect.fail(new NotReady({ manager: name, what, status: s.status, lastError: s.lastError }))
      })

    const awaitActive = (awaitOptions?: { readonly timeout?: Duration.DurationInput | undefined }) =>
      Effect.suspend((): Effect.Effect<PgPool.PgPool, Closed | Timeout> => {
        const wait = Deferred.await(active)
        if (awaitOptions?.timeout === undefined) {
          return wait
        }
        const duration = Duration.decode(awaitOptions.timeout)
        return Effect.timeoutFail(wait, {
          duration,
          onTimeout: () =>
            new Timeout({
              connection: name,
              operation: "await",
              duration,
              detail: `${describeStatus(state.status)}: ${lockText}`,
              cause: state.lastError
            })
        })
      })

    // The listener is made on the first `listen`, for the manager's life, by a fiber of the
    // manager's scope: a first caller interrupted meanwhile does not stop it.
    let listenerMade: Deferred.Deferred<PgListen.PgListen, InvalidOption> | undefined = undefined
    const listener = Effect.suspend((): Effect.Effect<PgListen.PgListen, InvalidOption | Closed> => {
      if (listenerMade !== undefined) {
        return Deferred.await(listenerMade)
      }
      if (ended) {
        return Effect.fail(new Closed({ connection: name, reason: "ScopeClosed" }))
      }
      const made = Deferred.unsafeMake<PgListen.PgListen, InvalidOption>(FiberId.none)
      listenerMade = made
      const create = Effect.suspend(() =>
        PgListen.make({ name: `${name}-listen`, connectTimeout, ...options.listen, connect: effective(state, false) })
      ).pipe(Scope.extend(managerScope), Effect.intoDeferred(made))
      return Effect.zipRight(Effect.forkIn(create, managerScope), Deferred.await(made))
    })

    const manager: PgManager.PgManager = {
      name,
      status: Effect.sync(() =>
        state.status
      ),
      changes: Stream.unwrapScoped(Effect.map(PubSub.subscribe(hub), (queue): Stream.Stream<Status> => {
        const seen = version
        const now = state.status
        return Stream.concat(
          Stream.succeed(now),
          Stream.fromQueue(queue).pipe(
            Stream.filter(([v]) => v > seen),
            Stream.map(([, status]) => status)
          )
        ).pipe(Stream.takeUntil((status) => status._tag === "Closed" && status.reason === "ScopeClosed"))
      })),
      awaitActive: awaitActive as PgManager.PgManager["awaitActive"],
      pool: fromState((s) => s.pool, "pool"),
      serverVersion: fromState((s) => s.serverVersion, "serverVersion"),
      listen: (channel, streamOptions) =>
        Stream.unwrap(Effect.map(listener, (self) => self.listen(channel, streamOptions))),
      close: lock.withPermits(1)(Effect.suspend(() => ended ? Effect.void : stop("UserClosed"))),
      connect: lock.withPermits(1)(Effect.suspend(() => {
        if (ended) return Effect.fail(new Closed({ connection: name, reason: "ScopeClosed" }))
        if (state.status._tag !== "Closed") return Effect.void
        set({ ...state, status: Waiting, lastError: undefined })
        return start
      }))
    }
    return manager
  })
