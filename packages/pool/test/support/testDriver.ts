/**
 * An in-memory fake database for the pool's tests: a `Driver<TestTypes>` that records every
 * callback in order, tracks each connection's transaction status, prepared queries and cursors
 * (so a test can assert nothing leaked), and lets a test script failures, delays and connect
 * attempts. Delays sleep on `Clock`, so `TestClock` drives them.
 *
 * Queries are strings; a cursor over the query `"rows:N"` yields the rows 1..N (any other query
 * yields none). Misuse of the contract (a call on a released connection, an unknown prepared
 * query or cursor, `begin` inside a transaction, `commit` outside one…) is recorded in
 * `violations`, and the calls that cannot go on fail with a `TestDriverError`.
 */
import type { TestConnector } from "@redial/testing"
import { Data, Deferred, Duration, Effect, Exit, FiberId, Option } from "effect"
import type { Scope } from "effect"
import type * as Driver from "../../src/Driver.js"
import { Disconnect } from "../../src/Driver.js"

/** The error of the fake database. */
export class TestDriverError extends Data.TaggedError("TestDriverError")<{ readonly reason: string }> {
  override get message(): string {
    return `test driver: ${this.reason}`
  }
}

export interface TestConnection {
  readonly id: number
}

export interface TestPrepared {
  readonly id: number
  readonly query: string
}

export interface TestResult {
  readonly connection: number
  readonly query: string
  readonly params: ReadonlyArray<unknown>
}

export interface TestCursor {
  readonly id: number
}

export interface TestTypes extends Driver.Types {
  readonly connection: TestConnection
  readonly query: string
  readonly prepared: TestPrepared
  readonly result: TestResult
  readonly row: number
  readonly cursor: TestCursor
  readonly error: TestDriverError
  readonly config: unknown
}

/** The callbacks a test can script (`savepoint`, `release` and `rollbackTo` are the savepoint ones). */
export type Callback =
  | "checkout"
  | "checkin"
  | "ping"
  | "begin"
  | "commit"
  | "rollback"
  | "status"
  | "prepare"
  | "execute"
  | "close"
  | "declare"
  | "fetch"
  | "deallocate"
  | "savepoint"
  | "release"
  | "rollbackTo"

/** What one connect attempt does: `TestConnector`'s steps, failing with a `TestDriverError`. */
export type ConnectStep = TestConnector.Step<TestDriverError>

export interface Options {
  /** Offer `savepoints` (default false). */
  readonly savepoints?: boolean
  /** The connect attempts, in order; then `connectOtherwise` (default: succeed). */
  readonly connectScript?: ReadonlyArray<ConnectStep>
  readonly connectOtherwise?: ConnectStep
  /** Offer `lost`, which completes when a connection is killed (default false). */
  readonly reportsLoss?: boolean
  /** A delay (on `Clock`) before every call of a callback. */
  readonly delays?: Partial<Record<Callback, Duration.DurationInput>>
}

export interface TestDriver extends Driver.Driver<TestTypes> {
  /** Every callback in call order: "connect 1", "begin 1", "execute 1 q", "released 1"… */
  readonly log: Effect.Effect<ReadonlyArray<string>>
  /** Empties the log. */
  readonly clearLog: Effect.Effect<void>
  /**
   * The next call of `callback` not scripted yet fails with `error` (called twice: the next two
   * calls fail). A `Disconnect` also breaks the connection, as a dead socket would: every later
   * call on it fails with `Disconnect` too.
   */
  readonly failNext: (callback: Callback, error: TestDriverError | Disconnect) => Effect.Effect<void>
  /** The `n`-th call of `callback` from now (1: the next) fails with `error`. */
  readonly failAt: (callback: Callback, n: number, error: TestDriverError | Disconnect) => Effect.Effect<void>
  /** The next call of `callback` not scripted yet dies with `defect`. */
  readonly dieNext: (callback: Callback, defect: unknown) => Effect.Effect<void>
  /** Every later call of `callback` first sleeps `duration` (on `Clock`); `undefined` removes it. */
  readonly delay: (callback: Callback, duration: Duration.DurationInput | undefined) => Effect.Effect<void>
  /** Replaces the remaining connect script. */
  readonly scriptConnect: (...steps: ReadonlyArray<ConnectStep>) => Effect.Effect<void>
  /** Sets the step used once the connect script is empty. */
  readonly connectOtherwise: (step: ConnectStep) => Effect.Effect<void>
  /** Breaks a connection: every later call on it fails with `Disconnect`; `lost` (if offered) completes. */
  readonly kill: (id: number) => Effect.Effect<void>
  /** How many connect attempts started. */
  readonly connectAttempts: Effect.Effect<number>
  /** The ids of the connections not released yet. */
  readonly connections: Effect.Effect<ReadonlyArray<number>>
  readonly openConnections: Effect.Effect<number>
  /** Prepared queries not closed, over the open connections. */
  readonly openPrepared: Effect.Effect<number>
  /** Cursors not deallocated, over the open connections. */
  readonly openCursors: Effect.Effect<number>
  /** A connection's transaction status (none once released). */
  readonly transactionStatus: (id: number) => Effect.Effect<Option.Option<Driver.TransactionStatus>>
  /** A connection's savepoints, oldest first. */
  readonly savepointStack: (id: number) => Effect.Effect<ReadonlyArray<string>>
  /** Misuses of the driver contract seen so far. */
  readonly violations: Effect.Effect<ReadonlyArray<string>>
}

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
  /** Completed when the connection is killed (for `lost`). */
  readonly lost: Deferred.Deferred<void>
  readonly prepared: Map<number, TestPrepared>
  readonly cursors: Map<number, CursorState>
  savepoints: Array<string>
}

type Scripted =
  | { readonly _tag: "Fail"; readonly error: TestDriverError | Disconnect }
  | { readonly _tag: "Die"; readonly defect: unknown }

const rowsOf = (query: string): number => {
  const match = /^rows:(\d+)$/.exec(query)
  return match === null ? 0 : Number(match[1])
}

/** Makes a fake database. */
export const make = (options: Options = {}): Effect.Effect<TestDriver> =>
  Effect.sync(() => {
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
              lost: Deferred.unsafeMake(FiberId.none),
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
              live.delete(connection.id)
            })
        ))
      )

    /**
     * One call: logs `entry`, applies the delay, then the scripted failure (if any), then checks
     * the connection and runs `body` on its state. A driver error inside a transaction puts the
     * connection in the `error` status, as a database does.
     */
    const call = <A>(
      callback: Callback,
      connection: TestConnection,
      entry: string,
      body: (state: ConnectionState) => Effect.Effect<A, TestDriverError | Disconnect>
    ): Effect.Effect<A, TestDriverError | Disconnect> =>
      Effect.suspend(() => {
        log.push(entry)
        const delay = delays.get(callback)
        const next = nextScripted(callback)
        // Released before the call: a misuse. Released while the call was under way (its delay):
        // the pool closed the connection under it, as it does to a checkout held past its
        // timeout; a real driver's call fails then, with its socket.
        const liveAtStart = live.has(connection.id)
        const run = Effect.suspend((): Effect.Effect<A, TestDriverError | Disconnect> => {
          const state = live.get(connection.id)
          if (state === undefined) {
            return liveAtStart
              ? Effect.fail(
                new Disconnect({ cause: new Error(`connection ${connection.id} was closed during ${entry}`) })
              )
              : Effect.fail(violation(`${entry}: the connection was released`))
          }
          if (state.killed) {
            return Effect.fail(new Disconnect({ cause: new Error(`connection ${connection.id} is broken`) }))
          }
          if (next !== undefined) {
            if (next._tag === "Die") return Effect.die(next.defect)
            if (next.error._tag === "Disconnect") state.killed = true
            else if (state.status === "transaction") state.status = "error"
            return Effect.fail(next.error)
          }
          return body(state)
        })
        return delay === undefined ? run : Effect.zipRight(Effect.sleep(delay), run)
      })

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
      disconnect: (connection) => Effect.sync(() => void log.push(`disconnect ${connection.id}`)),
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
      status: (connection) =>
        Effect.suspend(() => {
          const next = nextScripted("status")
          const state = live.get(connection.id)
          if (state === undefined) return Effect.fail(violation(`status ${connection.id}: the connection was released`))
          if (state.killed) {
            return Effect.fail(new Disconnect({ cause: new Error(`connection ${connection.id} is broken`) }))
          }
          if (next !== undefined) {
            if (next._tag === "Die") return Effect.die(next.defect)
            if (next.error._tag === "Disconnect") state.killed = true
            return Effect.fail(next.error)
          }
          return Effect.succeed(state.status)
        }),
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
          preparedOf(state, prepared, entry).pipe(
            Effect.as<TestResult>({ connection: connection.id, query: prepared.query, params })
          ))
      },
      close: (connection, prepared) => {
        const entry = `close ${connection.id} ${prepared.query}`
        return call("close", connection, entry, (state) =>
          preparedOf(state, prepared, entry).pipe(
            Effect.tap(() => state.prepared.delete(prepared.id)),
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
            if (open.done) violation(`${entry}: fetch after the cursor was done`)
            const rows: Array<number> = []
            while (rows.length < maxRows && open.next <= open.total) rows.push(open.next++)
            open.done = open.next > open.total
            return { rows, done: open.done }
          })))
      },
      deallocate: (connection, prepared, cursor) => {
        const entry = `deallocate ${connection.id} ${prepared.query}`
        return call("deallocate", connection, entry, (state) =>
          cursorOf(state, cursor, entry).pipe(
            Effect.tap(() => state.cursors.delete(cursor.id)),
            Effect.asVoid
          ))
      }
    }

    const countOpen = (count: (state: ConnectionState) => number) =>
      Effect.sync(() => [...live.values()].reduce((sum, state) => sum + count(state), 0))

    const controls: Omit<TestDriver, keyof Driver.Driver<TestTypes>> = {
      log: Effect.sync(() => [...log]),
      clearLog: Effect.sync(() => {
        log.length = 0
      }),
      failNext: (callback, error) => Effect.sync(() => script(callback, { _tag: "Fail", error })),
      failAt: (callback, n, error) => Effect.sync(() => script(callback, { _tag: "Fail", error }, n)),
      dieNext: (callback, defect) => Effect.sync(() => script(callback, { _tag: "Die", defect })),
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
      kill: (id) =>
        Effect.sync(() => {
          const state = live.get(id)
          if (state !== undefined) {
            state.killed = true
            Deferred.unsafeDone(state.lost, Exit.void)
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
      ...(options.reportsLoss === true ? { lost } : {})
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

/** The log without connects, pings, checkouts and checkins: what ran on the database. */
export const statements = (driver: TestDriver): Effect.Effect<ReadonlyArray<string>> =>
  Effect.map(driver.log, (log) => log.filter((entry) => statementKinds.has(entry.split(" ")[0]!)))

/**
 * Waits (letting other fibers run, without moving the clock) until the pool has `idle` idle
 * connections; dies after `rounds` rounds of yields.
 */
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
