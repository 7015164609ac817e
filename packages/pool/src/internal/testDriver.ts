/** @internal */
import * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FiberId from "effect/FiberId"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as Driver from "../Driver.js"
import type * as TestDriver from "../TestDriver.js"
// A value import of the module that imports this one: only read inside functions, at call time.
import { TestDriverError } from "../TestDriver.js"

type TestTypes = TestDriver.TestTypes
type TestConnection = TestDriver.TestConnection
type TestPrepared = TestDriver.TestPrepared
type TestResult = TestDriver.TestResult
type TestCursor = TestDriver.TestCursor
type Callback = TestDriver.Callback
type ConnectStep = TestDriver.ConnectStep
type AfterInterruptStep = TestDriver.AfterInterruptStep
type Failure = TestDriverError | Driver.Disconnect

interface CursorState {
  readonly prepared: TestPrepared
  next: number
  readonly total: number
  done: boolean
}

interface ConnectionState {
  readonly connection: TestConnection
  status: Driver.TransactionStatus
  killed: boolean
  /** A callback died or was interrupted mid-call: the protocol is out of step. */
  desynchronised: boolean
  /** A callback was interrupted mid-call, and `afterInterrupt` has not answered yet. */
  interrupted: boolean
  /** `disconnect` was called: nothing may reach the connection any more. */
  disconnected: boolean
  /** Completed when the connection is killed (for `lost`). */
  readonly lost: Deferred.Deferred<void>
  /** Completed when the connection is killed or released: ends hanging and sleeping calls. */
  readonly ended: Deferred.Deferred<void>
  readonly prepared: Map<number, TestPrepared>
  readonly cursors: Map<number, CursorState>
  savepoints: Array<string>
}

type Scripted =
  | { readonly _tag: "Fail"; readonly error: Failure }
  | { readonly _tag: "Die"; readonly defect: unknown }
  | { readonly _tag: "Hang" }

const rowsOf = (query: string): number => {
  const match = /^rows:(\d+)$/.exec(query)
  return match === null ? 0 : Number(match[1])
}

const sleepOf = (query: string): number | undefined => {
  const match = /^sleep:(\d+)$/.exec(query)
  return match === null ? undefined : Number(match[1])
}

const broken = (id: number) => new Driver.Disconnect({ cause: new Error(`connection ${id} is broken`) })

/** @internal */
export const make = (options: TestDriver.Options = {}): Effect.Effect<TestDriver.TestDriver> =>
  Effect.sync(() => {
    const inOrder = options.inOrder ?? true
    const recovers = options.afterInterrupt
    const log: Array<string> = []
    const violations: Array<string> = []
    const live = new Map<number, ConnectionState>()
    /** Per callback: how many calls so far, and the scripted outcome of later calls by number. */
    const calls = new Map<Callback, number>()
    const scripted = new Map<Callback, Map<number, Scripted>>()
    const nextScripted = (callback: Callback): Scripted | undefined => {
      const n = (calls.get(callback) ?? 0) + 1
      calls.set(callback, n)
      const outcome = scripted.get(callback)?.get(n)
      scripted.get(callback)?.delete(n)
      return outcome
    }
    const script = (callback: Callback, outcome: Scripted, n?: number): void => {
      const byCall = scripted.get(callback) ?? new Map<number, Scripted>()
      scripted.set(callback, byCall)
      let at = (calls.get(callback) ?? 0) + (n ?? 1)
      if (n === undefined) { while (byCall.has(at)) at++ }
      byCall.set(at, outcome)
    }
    const delays = new Map<Callback, Duration.Duration>()
    for (const [callback, duration] of Object.entries(options.delays ?? {})) {
      if (duration !== undefined) delays.set(callback as Callback, Duration.decode(duration))
    }
    let connectScript: Array<ConnectStep> = [...(options.connectScript ?? [])]
    let connectOtherwise: ConnectStep = options.connectOtherwise ?? { _tag: "Succeed" }
    let afterInterruptScript: Array<AfterInterruptStep> = []
    let attempts = 0
    let connectionIds = 0
    let preparedIds = 0
    let cursorIds = 0

    const violation = (message: string): TestDriverError => {
      violations.push(message)
      return new TestDriverError({ reason: message })
    }

    const runStep = (step: ConnectStep): Effect.Effect<void, TestDriverError> => {
      switch (step._tag) {
        case "Succeed":
          return Effect.void
        case "Fail":
          return Effect.zipRight(Effect.sync(() => log.push("connect failed")), Effect.fail(step.error))
        case "Hang":
          return Effect.zipRight(Effect.sync(() => log.push("connect hanging")), Effect.never)
        case "Delay":
          return Effect.zipRight(Effect.sleep(step.duration), runStep(step.then))
        case "Die":
          return Effect.zipRight(Effect.sync(() => log.push("connect died")), Effect.die(step.defect))
      }
    }

    const connect = (): Effect.Effect<TestConnection, TestDriverError, Scope.Scope> =>
      Effect.suspend(() => {
        attempts += 1
        const step = connectScript.shift() ?? connectOtherwise
        return runStep(step)
      }).pipe(
        Effect.zipRight(Effect.acquireRelease(
          Effect.sync(() => {
            connectionIds += 1
            const connection: TestConnection = { id: connectionIds }
            live.set(connection.id, {
              connection,
              status: "idle",
              killed: false,
              desynchronised: false,
              interrupted: false,
              disconnected: false,
              lost: Deferred.unsafeMake(FiberId.none),
              ended: Deferred.unsafeMake(FiberId.none),
              prepared: new Map(),
              cursors: new Map(),
              savepoints: []
            })
            log.push(`connect ${connection.id}`)
            return connection
          }),
          (connection) =>
            Effect.sync(() => {
              log.push(`released ${connection.id}`)
              const state = live.get(connection.id)
              live.delete(connection.id)
              if (state !== undefined) Deferred.unsafeDone(state.ended, Exit.void)
            })
        ))
      )

    /**
     * An in-order protocol: a call that died or was interrupted before its reply leaves that reply
     * on the wire for the next caller. The connection is marked, and any later call is a violation.
     */
    const inStep = <A>(
      callback: Callback,
      connection: TestConnection,
      effect: Effect.Effect<A, Failure>
    ): Effect.Effect<A, Failure> =>
      !inOrder ? effect : Effect.suspend(() => {
        const state = live.get(connection.id)
        if (state !== undefined && state.desynchronised) {
          return Effect.fail(violation(`call ${callback} on desynchronised connection ${connection.id}`))
        }
        if (state !== undefined && state.interrupted) {
          return Effect.fail(
            violation(`call ${callback} on connection ${connection.id} interrupted mid-call, before afterInterrupt`)
          )
        }
        return Effect.onExit(effect, (exit) =>
          Effect.sync(() => {
            if (Exit.isFailure(exit) && (Cause.isDie(exit.cause) || Cause.isInterrupted(exit.cause))) {
              const now = live.get(connection.id)
              if (now === undefined) return
              // A driver with afterInterrupt stops an interrupted call; the pool must ask before reuse.
              if (recovers !== undefined && !Cause.isDie(exit.cause)) now.interrupted = true
              else now.desynchronised = true
            }
          }))
      })

    /** A call that never answers: it ends when the connection is killed or released. */
    const hang = (state: ConnectionState): Effect.Effect<never, Failure> =>
      Effect.zipRight(Deferred.await(state.ended), Effect.fail(broken(state.connection.id)))

    /**
     * One call: logs `entry`, applies the delay, then the scripted outcome (if any), then checks
     * the connection and runs `body` on its state. A driver error inside a transaction puts the
     * connection in the `error` status, as a database does.
     */
    const call = <A>(
      callback: Callback,
      connection: TestConnection,
      entry: string,
      body: (state: ConnectionState) => Effect.Effect<A, Failure>
    ): Effect.Effect<A, Failure> =>
      Effect.suspend(() => {
        log.push(entry)
        const delay = delays.get(callback)
        const next = nextScripted(callback)
        // Released before the call: a misuse. Released while the call was under way (its delay):
        // the pool closed the connection under it, as it does to a checkout held past its
        // timeout; a real driver's call fails then, with its socket.
        const liveAtStart = live.has(connection.id)
        const run = Effect.suspend((): Effect.Effect<A, Failure> => {
          const state = live.get(connection.id)
          if (state === undefined) {
            return liveAtStart
              ? Effect.fail(
                new Driver.Disconnect({ cause: new Error(`connection ${connection.id} was closed during ${entry}`) })
              )
              : Effect.fail(violation(`${entry}: the connection was released`))
          }
          if (state.killed) return Effect.fail(broken(connection.id))
          if (next !== undefined) {
            if (next._tag === "Die") return Effect.die(next.defect)
            if (next._tag === "Hang") return hang(state)
            if (next.error._tag === "Disconnect") state.killed = true
            else if (callback === "commit") {
              // a failed COMMIT ends the transaction (a database rolls it back)
              state.status = "idle"
              state.savepoints = []
            } else if (state.status === "transaction") state.status = "error"
            return Effect.fail(next.error)
          }
          return body(state)
        })
        return delay === undefined ? run : Effect.zipRight(Effect.sleep(delay), run)
      }).pipe((effect) => inStep(callback, connection, effect))

    const preparedOf = (
      state: ConnectionState,
      prepared: TestPrepared,
      entry: string
    ): Effect.Effect<TestPrepared, TestDriverError> =>
      state.prepared.get(prepared.id) === prepared ?
        Effect.succeed(prepared) :
        Effect.fail(violation(`${entry}: prepared query ${prepared.id} is not open on this connection`))

    const cursorOf = (
      state: ConnectionState,
      cursor: TestCursor,
      entry: string
    ): Effect.Effect<CursorState, TestDriverError> => {
      const found = state.cursors.get(cursor.id)
      return found === undefined ?
        Effect.fail(violation(`${entry}: cursor ${cursor.id} is not open on this connection`)) :
        Effect.succeed(found)
    }

    const inTransaction = (state: ConnectionState, entry: string): void => {
      if (state.status === "idle") violation(`${entry}: not in a transaction`)
    }

    /** What executing a query does, by the dialect of the module's documentation. */
    const executeQuery = (
      state: ConnectionState,
      prepared: TestPrepared,
      params: ReadonlyArray<unknown>
    ): Effect.Effect<TestResult, Failure> => {
      const result: TestResult = { connection: state.connection.id, query: prepared.query, params }
      if (prepared.query === "begin") {
        // a raw BEGIN behind the pool's back (a database only warns about one inside a transaction)
        if (state.status === "idle") state.status = "transaction"
        return Effect.succeed(result)
      }
      if (prepared.query === "fail") {
        if (state.status === "transaction") state.status = "error"
        return Effect.fail(new TestDriverError({ reason: `query failed: ${prepared.query}` }))
      }
      const sleep = sleepOf(prepared.query)
      if (sleep !== undefined) {
        return Effect.raceFirst(
          Effect.as(Effect.sleep(Duration.millis(sleep)), result),
          Effect.zipRight(Deferred.await(state.ended), Effect.fail(broken(state.connection.id)))
        )
      }
      return Effect.succeed(result)
    }

    /** One step of `afterInterrupt`: an answer `true` puts the connection back in step. */
    const answer = (state: ConnectionState, step: AfterInterruptStep): Effect.Effect<boolean> => {
      switch (step._tag) {
        case "Answer":
          return Effect.sync(() => {
            const recovered = step.recovered && !state.killed
            state.interrupted = false
            if (!recovered && inOrder) state.desynchronised = true
            return recovered
          })
        case "Die":
          return Effect.die(step.defect)
        case "Hang":
          return Effect.never
        case "Delay":
          return Effect.zipRight(Effect.sleep(step.duration), answer(state, step.then))
      }
    }

    const afterInterrupt = (connection: TestConnection): Effect.Effect<boolean> =>
      Effect.suspend(() => {
        const step = afterInterruptScript.shift() ?? { _tag: "Answer", recovered: recovers === true }
        const state = live.get(connection.id)
        if (state === undefined || state.disconnected) {
          log.push(`afterInterrupt ${connection.id} false`)
          violation(`afterInterrupt ${connection.id}: the connection was disconnected`)
          return Effect.succeed(false)
        }
        return Effect.onExit(answer(state, step), (exit) =>
          Effect.sync(() => {
            if (Exit.isSuccess(exit)) return void log.push(`afterInterrupt ${connection.id} ${exit.value}`)
            log.push(`afterInterrupt ${connection.id} ${Cause.isDie(exit.cause) ? "died" : "interrupted"}`)
            // No answer: the call was not stopped, as far as anyone knows.
            state.interrupted = false
            if (inOrder) state.desynchronised = true
          }))
      })

    const savepoints: NonNullable<Driver.Driver<TestTypes>["savepoints"]> = {
      create: (connection, name) =>
        call("savepoint", connection, `savepoint ${connection.id} ${name}`, (state) =>
          Effect.sync(() => {
            inTransaction(state, `savepoint ${connection.id} ${name}`)
            state.savepoints.push(name)
          })),
      release: (connection, name) =>
        call("release", connection, `release ${connection.id} ${name}`, (state) => {
          const index = state.savepoints.lastIndexOf(name)
          if (index < 0) return Effect.fail(violation(`release ${connection.id} ${name}: no such savepoint`))
          state.savepoints = state.savepoints.slice(0, index)
          return Effect.void
        }),
      rollbackTo: (connection, name) =>
        call("rollbackTo", connection, `rollbackTo ${connection.id} ${name}`, (state) => {
          const index = state.savepoints.lastIndexOf(name)
          if (index < 0) return Effect.fail(violation(`rollbackTo ${connection.id} ${name}: no such savepoint`))
          // as in PostgreSQL: the savepoint stays, the ones after it go, the transaction is usable again
          state.savepoints = state.savepoints.slice(0, index + 1)
          state.status = "transaction"
          return Effect.void
        })
    }

    const driver: Driver.Driver<TestTypes> = {
      connect: () => connect(),
      disconnect: (connection) =>
        Effect.sync(() => {
          log.push(`disconnect ${connection.id}`)
          const state = live.get(connection.id)
          if (state !== undefined) state.disconnected = true
        }),
      isFatal: (error) => error instanceof TestDriverError && error.fatal === true,
      checkout: (connection) => call("checkout", connection, `checkout ${connection.id}`, () => Effect.void),
      checkin: (connection) => call("checkin", connection, `checkin ${connection.id}`, () => Effect.void),
      ping: (connection) => call("ping", connection, `ping ${connection.id}`, () => Effect.void),
      begin: (connection) =>
        call("begin", connection, `begin ${connection.id}`, (state) =>
          Effect.sync(() => {
            if (state.status !== "idle") violation(`begin ${connection.id}: already in a transaction`)
            state.status = "transaction"
          })),
      commit: (connection) =>
        call("commit", connection, `commit ${connection.id}`, (state) => {
          inTransaction(state, `commit ${connection.id}`)
          const failed = state.status === "error"
          state.status = "idle"
          state.savepoints = []
          // a database rolls back a failed transaction on commit, and says so
          return failed ? Effect.fail(new TestDriverError({ reason: "commit of a failed transaction" })) : Effect.void
        }),
      rollback: (connection) =>
        call("rollback", connection, `rollback ${connection.id}`, (state) =>
          Effect.sync(() => {
            inTransaction(state, `rollback ${connection.id}`)
            state.status = "idle"
            state.savepoints = []
          })),
      // not logged: the pool may read the status at any time
      status: (connection) =>
        inStep(
          "status",
          connection,
          Effect.suspend(() => {
            const next = nextScripted("status")
            const state = live.get(connection.id)
            if (state === undefined) {
              return Effect.fail(violation(`status ${connection.id}: the connection was released`))
            }
            if (state.killed) return Effect.fail(broken(connection.id))
            if (next !== undefined) {
              if (next._tag === "Die") return Effect.die(next.defect)
              if (next._tag === "Hang") return hang(state)
              if (next.error._tag === "Disconnect") state.killed = true
              return Effect.fail(next.error)
            }
            return Effect.succeed(state.status)
          })
        ),
      prepare: (connection, query) =>
        call("prepare", connection, `prepare ${connection.id} ${query}`, (state) =>
          Effect.sync(() => {
            preparedIds += 1
            const prepared: TestPrepared = { id: preparedIds, query }
            state.prepared.set(prepared.id, prepared)
            return prepared
          })),
      execute: (connection, prepared, params) => {
        const entry = `execute ${connection.id} ${prepared.query}`
        return call("execute", connection, entry, (state) =>
          Effect.zipRight(preparedOf(state, prepared, entry), executeQuery(state, prepared, params)))
      },
      close: (connection, prepared) => {
        const entry = `close ${connection.id} ${prepared.query}`
        return call("close", connection, entry, (state) =>
          preparedOf(state, prepared, entry).pipe(
            Effect.tap(() =>
              state.prepared.delete(prepared.id)
            ),
            Effect.asVoid
          ))
      },
      declare: (connection, prepared, _params) => {
        const entry = `declare ${connection.id} ${prepared.query}`
        return call("declare", connection, entry, (state) =>
          preparedOf(state, prepared, entry).pipe(Effect.map(() => {
            cursorIds += 1
            const cursor: TestCursor = { id: cursorIds }
            state.cursors.set(cursor.id, { prepared, next: 1, total: rowsOf(prepared.query), done: false })
            return cursor
          })))
      },
      fetch: (connection, prepared, cursor, { maxRows }) => {
        const entry = `fetch ${connection.id} ${prepared.query}`
        return call("fetch", connection, entry, (state) =>
          cursorOf(state, cursor, entry).pipe(Effect.map((open) => {
            if (open.done) {
              violation(`${entry}: fetch after the cursor was done`)
            }
            const rows: Array<number> = []
            while (rows.length < maxRows && open.next <= open.total) {
              rows.push(open.next++)
            }
            open.done = open.next > open.total
            return { rows, done: open.done }
          })))
      },
      deallocate: (connection, prepared, cursor) => {
        const entry = `deallocate ${connection.id} ${prepared.query}`
        return call("deallocate", connection, entry, (state) =>
          cursorOf(state, cursor, entry).pipe(
            Effect.tap(() =>
              state.cursors.delete(cursor.id)
            ),
            Effect.asVoid
          ))
      }
    }

    const countOpen = (count: (state: ConnectionState) => number) =>
      Effect.sync(() => [...live.values()].reduce((sum, state) => sum + count(state), 0))

    const controls: Omit<TestDriver.TestDriver, keyof Driver.Driver<TestTypes>> = {
      log: Effect.sync(() => [...log]),
      clearLog: Effect.sync(() => {
        log.length = 0
      }),
      failNext: (callback, error) => Effect.sync(() => script(callback, { _tag: "Fail", error })),
      failAt: (callback, n, error) => Effect.sync(() => script(callback, { _tag: "Fail", error }, n)),
      dieNext: (callback, defect) => Effect.sync(() => script(callback, { _tag: "Die", defect })),
      hangNext: (callback) => Effect.sync(() => script(callback, { _tag: "Hang" })),
      delay: (callback, duration) =>
        Effect.sync(() => {
          if (duration === undefined) delays.delete(callback)
          else delays.set(callback, Duration.decode(duration))
        }),
      scriptConnect: (...steps) =>
        Effect.sync(() => {
          connectScript = [...steps]
        }),
      connectOtherwise: (step) =>
        Effect.sync(() => {
          connectOtherwise = step
        }),
      scriptAfterInterrupt: (...steps) =>
        Effect.sync(() => {
          afterInterruptScript = [...steps]
        }),
      kill: (id) =>
        Effect.sync(() => {
          const state = live.get(id)
          if (state !== undefined) {
            state.killed = true
            Deferred.unsafeDone(state.lost, Exit.void)
            Deferred.unsafeDone(state.ended, Exit.void)
          }
        }),
      connectAttempts: Effect.sync(() => attempts),
      connections: Effect.sync(() => [...live.keys()]),
      openConnections: Effect.sync(() => live.size),
      openPrepared: countOpen((state) => state.prepared.size),
      openCursors: countOpen((state) => state.cursors.size),
      transactionStatus: (id) =>
        Effect.sync(() => Option.map(Option.fromNullable(live.get(id)), (state) => state.status)),
      savepointStack: (id) => Effect.sync(() => [...(live.get(id)?.savepoints ?? [])]),
      desynchronised: (id) => Effect.sync(() => live.get(id)?.desynchronised ?? false),
      violations: Effect.sync(() => [...violations])
    }

    const lost = (connection: TestConnection): Effect.Effect<void> =>
      Effect.suspend(() => {
        const state = live.get(connection.id)
        return state === undefined ? Effect.void : Deferred.await(state.lost)
      })
    return {
      ...driver,
      ...controls,
      ...(options.savepoints === true ? { savepoints } : {}),
      ...(options.reportsLoss === true ? { lost } : {}),
      ...(recovers !== undefined ? { afterInterrupt } : {})
    }
  })

/** The kinds of entries that touch queries and transactions (no connect, ping, checkout, checkin). */
const statementKinds = new Set([
  "begin",
  "commit",
  "rollback",
  "prepare",
  "execute",
  "close",
  "declare",
  "fetch",
  "deallocate",
  "savepoint",
  "release",
  "rollbackTo"
])

/** @internal */
export const statements = (driver: TestDriver.TestDriver): Effect.Effect<ReadonlyArray<string>> =>
  Effect.map(driver.log, (log) => log.filter((entry) => statementKinds.has(entry.split(" ")[0] ?? "")))

/** @internal */
export const awaitIdle = (
  pool: { readonly stats: Effect.Effect<{ readonly idle: number }> },
  idle: number,
  rounds = 100
): Effect.Effect<void> =>
  Effect.gen(function*() {
    for (let round = 0; round < rounds; round++) {
      if ((yield* pool.stats).idle >= idle) return
      yield* Effect.repeatN(Effect.yieldNow(), 9)
    }
    return yield* Effect.dieMessage(`awaitIdle: the pool never had ${idle} idle connections`)
  })
