/** @internal */
import * as Cause from "effect/Cause"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type * as Driver from "../Driver.js"
import type * as DriverSuite from "../DriverSuite.js"
// A value import of the module that imports this one: only read inside functions, at call time.
import { DriverSuiteFailure } from "../DriverSuite.js"
import * as Pool from "../Pool.js"

/** The defect the suite's "a defect in a callback" case injects. */
class InjectedDefect extends Error {
  constructor() {
    super("driver suite: a defect injected into execute")
  }
}

/**
 * The harness's driver, watched: every callback on a connection that was broken, or on which a
 * callback died or was interrupted, is a misuse (a real connection is out of step or gone).
 */
interface Watched<T extends Driver.Types> {
  readonly driver: Driver.Driver<T>
  readonly misuses: Array<string>
  /** What the driver's `afterInterrupt` answered, in order. */
  readonly recovered: ReadonlyArray<boolean>
  /** Marks a connection: nothing but `disconnect` may reach it from now on. */
  readonly poison: (connection: T["connection"], why: string) => void
  /** The next `execute` (or `query`, when the driver has it) runs, then dies. */
  readonly dieAfterNextExecute: () => void
}

const watch = <T extends Driver.Types>(driver: Driver.Driver<T>): Watched<T> => {
  const poisoned = new Map<T["connection"], string>()
  const misuses: Array<string> = []
  let dieArmed = false
  const poison = (connection: T["connection"], why: string) => {
    if (!poisoned.has(connection)) poisoned.set(connection, why)
  }
  const guarded = <A, E>(
    name: string,
    connection: T["connection"],
    effect: () => Effect.Effect<A, E>
  ): Effect.Effect<A, E> =>
    Effect.suspend(() => {
      const why = poisoned.get(connection)
      if (why !== undefined) misuses.push(`${name} was called on a connection that ${why}`)
      return Effect.onExit(effect(), (exit) =>
        Effect.sync(() => {
          if (Exit.isFailure(exit) && Cause.isDie(exit.cause)) poison(connection, `had a callback die (${name})`)
          else if (Exit.isFailure(exit) && Cause.isInterrupted(exit.cause) && driver.afterInterrupt === undefined) {
            poison(connection, `had a callback interrupted mid-call (${name})`)
          }
        }))
    })
  const { afterInterrupt, checkin, checkout, query, savepoints } = driver
  const recovered: Array<boolean> = []
  const watched: Driver.Driver<T> = {
    ...driver,
    // The driver's own answer decides: a connection it did not recover must never be used again.
    ...(afterInterrupt
      ? {
        afterInterrupt: (c) =>
          Effect.tap(afterInterrupt(c), (ok) =>
            Effect.sync(() => {
              recovered.push(ok)
              if (!ok) poison(c, "had a callback interrupted mid-call that the driver did not recover")
            }))
      }
      : {}),
    ...(checkout ? { checkout: (c) => guarded("checkout", c, () => checkout(c)) } : {}),
    ...(checkin ? { checkin: (c) => guarded("checkin", c, () => checkin(c)) } : {}),
    ping: (c) => guarded("ping", c, () => driver.ping(c)),
    begin: (c) => guarded("begin", c, () => driver.begin(c)),
    commit: (c) => guarded("commit", c, () => driver.commit(c)),
    rollback: (c) => guarded("rollback", c, () => driver.rollback(c)),
    status: (c) => guarded("status", c, () => driver.status(c)),
    prepare: (c, query) => guarded("prepare", c, () => driver.prepare(c, query)),
    execute: (c, prepared, params) =>
      guarded("execute", c, () => {
        const die = dieArmed
        dieArmed = false
        const execute = driver.execute(c, prepared, params)
        return die ? Effect.zipRight(execute, Effect.die(new InjectedDefect())) : execute
      }),
    close: (c, prepared) => guarded("close", c, () => driver.close(c, prepared)),
    ...(query
      ? {
        query: (c, q, params) =>
          guarded("query", c, () => {
            const die = dieArmed
            dieArmed = false
            const run = query(c, q, params)
            return die ? Effect.zipRight(run, Effect.die(new InjectedDefect())) : run
          })
      }
      : {}),
    declare: (c, prepared, params) => guarded("declare", c, () => driver.declare(c, prepared, params)),
    fetch: (c, prepared, cursor, options) => guarded("fetch", c, () => driver.fetch(c, prepared, cursor, options)),
    deallocate: (c, prepared, cursor) => guarded("deallocate", c, () => driver.deallocate(c, prepared, cursor)),
    ...(savepoints ?
      {
        savepoints: {
          create: (c, name) => guarded("savepoints.create", c, () => savepoints.create(c, name)),
          release: (c, name) => guarded("savepoints.release", c, () => savepoints.release(c, name)),
          rollbackTo: (c, name) => guarded("savepoints.rollbackTo", c, () => savepoints.rollbackTo(c, name))
        }
      } :
      {})
  }
  return {
    driver: watched,
    misuses,
    recovered,
    poison,
    dieAfterNextExecute: () => {
      dieArmed = true
    }
  }
}

/** What one case gets: its pool on the watched driver, and assertions that fail the case. */
interface Context<T extends Driver.Types> {
  readonly harness: DriverSuite.Harness<T>
  readonly watched: Watched<T>
  readonly pool: Pool.Pool<T>
  readonly check: (ok: boolean, reason: () => string) => Effect.Effect<void, DriverSuiteFailure>
  readonly fail: (reason: string) => Effect.Effect<never, DriverSuiteFailure>
  readonly settle: Effect.Effect<void>
  readonly eventually: <A, E>(effect: Effect.Effect<A, E>) => Effect.Effect<A, E>
}

type Body = <T extends Driver.Types>(ctx: Context<T>) => Effect.Effect<void, unknown, Scope.Scope>

const describe = (exit: Exit.Exit<unknown, unknown>): string =>
  Exit.isSuccess(exit) ? `it succeeded with ${String(exit.value)}` : `it failed with ${Cause.pretty(exit.cause)}`

/** A failure with a typed error (no defect, not only an interruption). */
const failedTyped = (exit: Exit.Exit<unknown, unknown>): boolean =>
  Exit.isFailure(exit) && Option.isSome(Cause.failureOption(exit.cause)) && !Cause.isDie(exit.cause)

const connectionOf = <T extends Driver.Types>(pool: Pool.Pool<T>) => pool.run((conn) => Effect.succeed(conn.connection))

const statusIdle = <T extends Driver.Types>(ctx: Context<T>, after: string) =>
  Effect.gen(function*() {
    const status = yield* ctx.pool.run((conn) => conn.status)
    yield* ctx.check(status === "idle", () => `the connection's status after ${after} is ${status}, expected idle`)
  })

const noCursorsOpen = <T extends Driver.Types>(ctx: Context<T>, after: string) =>
  Effect.gen(function*() {
    const openCursors = ctx.harness.openCursors
    if (openCursors === undefined) return
    const open = yield* ctx.pool.run(openCursors)
    yield* ctx.check(open === 0, () => `${open} cursor(s) left open after ${after}`)
  })

const selectOn = <T extends Driver.Types>(ctx: Context<T>, conn: Pool.Checkout<T>, what: string) =>
  Effect.gen(function*() {
    const result = yield* conn.query(ctx.harness.select.query, ctx.harness.select.params ?? [])
    yield* ctx.check(ctx.harness.select.check(result), () => `${what}: unexpected result ${String(result)}`)
  })

/** After a connection was taken out of service: the next run succeeds on another connection. */
const nextRunElsewhere = <T extends Driver.Types>(ctx: Context<T>, dead: unknown, after: string) =>
  Effect.gen(function*() {
    for (let i = 0; i < 3; i++) {
      const connection = yield* ctx.eventually(
        ctx.pool.run((conn) => Effect.as(selectOn(ctx, conn, `the run after ${after}`), conn.connection))
      )
      yield* ctx.check(connection !== dead, () => `after ${after}, a later run got the same connection again`)
    }
  })

class Rollback {
  readonly _tag = "Rollback"
}

const body: ReadonlyArray<readonly [string, Body]> = [
  ["connects, and pings an idle connection", (ctx) =>
    Effect.gen(function*() {
      yield* ctx.pool.run((conn) => ctx.harness.driver.ping(conn.connection))
      const status = yield* ctx.pool.run((conn) => conn.status)
      yield* ctx.check(status === "idle", () => `a new connection's status is ${status}, expected idle`)
    })],
  ["runs a query", (ctx) =>
    Effect.gen(function*() {
      const result = yield* ctx.pool.query(ctx.harness.select.query, ctx.harness.select.params ?? [])
      yield* ctx.check(ctx.harness.select.check(result), () => `unexpected result ${String(result)}`)
    })],
  ["a transaction commits; the status is idle after it", (ctx) =>
    Effect.gen(function*() {
      const status = yield* ctx.pool.transaction((conn) =>
        Effect.zipRight(selectOn(ctx, conn, "in a transaction"), conn.status)
      )
      yield* ctx.check(status === "transaction", () => `the status inside a transaction is ${status}`)
      yield* statusIdle(ctx, "a commit")
    })],
  [
    "a transaction rolls back with rollback(reason) and fails with the reason; idle after it",
    (ctx) =>
      Effect.gen(function*() {
        const exit = yield* Effect.exit(
          ctx.pool.transaction((conn) =>
            Effect.zipRight(selectOn(ctx, conn, "in a transaction"), conn.rollback(new Rollback()))
          )
        )
        yield* ctx.check(
          Exit.isFailure(exit) && Option.exists(Cause.failureOption(exit.cause), (e) => e instanceof Rollback),
          () => `expected the transaction to fail with the rollback reason, but ${describe(exit)}`
        )
        yield* statusIdle(ctx, "a rollback")
      })
  ],
  [
    "a transaction whose statement fails rolls back with the driver's error; the connection stays in service",
    (ctx) =>
      Effect.gen(function*() {
        const before = yield* connectionOf(ctx.pool)
        const exit = yield* Effect.exit(ctx.pool.transaction((conn) => conn.query(ctx.harness.failing)))
        yield* ctx.check(failedTyped(exit), () => `expected the failing statement's error, but ${describe(exit)}`)
        yield* statusIdle(ctx, "a failed statement in a transaction")
        const after = yield* connectionOf(ctx.pool)
        yield* ctx.check(after === before, () => "a statement's ordinary error took the connection out of service")
      })
  ],
  [
    "a nested transaction after an inner failure fails at once without running; the outermost rolls back",
    (ctx) =>
      Effect.gen(function*() {
        let ran = false
        const exit = yield* Effect.exit(ctx.pool.transaction((conn) =>
          Effect.gen(function*() {
            yield* Effect.either(conn.transaction((inner) => inner.query(ctx.harness.failing)))
            const nested = yield* Effect.exit(conn.transaction(() =>
              Effect.sync(() => {
                ran = true
              })
            ))
            yield* ctx.check(
              Exit.isFailure(nested),
              () => `the nested transaction after a failure: ${describe(nested)}`
            )
          })
        ))
        yield* ctx.check(!ran, () => "the nested transaction's function ran after an inner failure")
        yield* ctx.check(Exit.isFailure(exit), () => `the outermost transaction: ${describe(exit)}`)
        yield* statusIdle(ctx, "the outermost rollback")
      })
  ],
  ["prepare, execute twice, close", (ctx) =>
    ctx.pool.run((conn) =>
      Effect.gen(function*() {
        const prepared = yield* conn.prepare(ctx.harness.select.query)
        for (const i of [1, 2]) {
          const result = yield* conn.execute(prepared, ctx.harness.select.params ?? [])
          yield* ctx.check(ctx.harness.select.check(result), () => `execute ${i}: unexpected result ${String(result)}`)
        }
        yield* conn.close(prepared)
      })
    )],
  ["a cursor read in full yields every row and leaves nothing open", (ctx) =>
    Effect.gen(function*() {
      const rows = yield* ctx.pool.run((conn) =>
        Stream.runCollect(conn.stream(ctx.harness.rows(10), [], { maxRows: 3 }))
      )
      yield* ctx.check(Chunk.size(rows) === 10, () => `read ${Chunk.size(rows)} rows of 10`)
      yield* noCursorsOpen(ctx, "a cursor read in full")
      yield* statusIdle(ctx, "a cursor")
    })],
  ["a cursor stopped early leaves nothing open; the connection stays usable", (ctx) =>
    Effect.gen(function*() {
      const rows = yield* ctx.pool.run((conn) =>
        Stream.runCollect(Stream.take(conn.stream(ctx.harness.rows(10), [], { maxRows: 3 }), 2))
      )
      yield* ctx.check(Chunk.size(rows) === 2, () => `took ${Chunk.size(rows)} rows, expected 2`)
      yield* noCursorsOpen(ctx, "a cursor stopped early")
      yield* ctx.pool.run((conn) => selectOn(ctx, conn, "after a cursor stopped early"))
    })],
  [
    "a connection broken mid-call: the caller fails typed, the next run gets a new connection, the broken one is never used again",
    (
      ctx
    ) =>
      Effect.gen(function*() {
        let dead: unknown
        const exit = yield* Effect.exit(ctx.pool.run((conn) =>
          Effect.gen(function*() {
            dead = conn.connection
            const call = yield* Effect.fork(conn.query(ctx.harness.slow))
            yield* ctx.settle
            ctx.watched.poison(conn.connection, "was broken")
            yield* ctx.harness.breakConnection(conn.connection)
            return yield* Fiber.join(call)
          })
        ))
        yield* ctx.check(
          failedTyped(exit),
          () => `expected a typed failure from the broken call, but ${describe(exit)}`
        )
        yield* nextRunElsewhere(ctx, dead, "a connection broke")
      })
  ],
  [
    "status reads: idle, transaction, error after a failed statement, idle after the rollback",
    (ctx) =>
      Effect.gen(function*() {
        yield* statusIdle(ctx, "connect")
        const statuses = yield* Effect.either(ctx.pool.transaction((conn) =>
          Effect.gen(function*() {
            const inside = yield* conn.status
            yield* Effect.either(conn.query(ctx.harness.failing))
            const failed = yield* conn.status
            return yield* conn.rollback([inside, failed] as const)
          })
        ))
        const [inside, failed] = statuses._tag === "Left" && Array.isArray(statuses.left) ? statuses.left : []
        yield* ctx.check(inside === "transaction", () => `the status inside a transaction is ${String(inside)}`)
        yield* ctx.check(
          failed === "error",
          () => `the status after a failed statement is ${String(failed)}, expected error`
        )
        yield* statusIdle(ctx, "a rollback")
      })
  ],
  [
    "a raw BEGIN left open is caught at check-in: the caller fails, the connection is replaced",
    (ctx) =>
      Effect.gen(function*() {
        let dead: unknown
        const exit = yield* Effect.exit(ctx.pool.run((conn) =>
          Effect.sync(() => {
            dead = conn.connection
          }).pipe(Effect.zipRight(conn.query(ctx.harness.begin)))
        ))
        yield* ctx.check(failedTyped(exit), () => `expected the run to fail at check-in, but ${describe(exit)}`)
        yield* nextRunElsewhere(ctx, dead, "a raw BEGIN was left open")
        yield* statusIdle(ctx, "the connection was replaced")
      })
  ],
  [
    "a defect in a callback: the caller gets it, the connection is replaced and never used again",
    (ctx) =>
      Effect.gen(function*() {
        let dead: unknown
        ctx.watched.dieAfterNextExecute()
        const exit = yield* Effect.exit(ctx.pool.run((conn) =>
          Effect.sync(() => {
            dead = conn.connection
          }).pipe(Effect.zipRight(conn.query(ctx.harness.select.query, ctx.harness.select.params ?? [])))
        ))
        yield* ctx.check(
          Exit.isFailure(exit) && Cause.isDie(exit.cause),
          () => `expected the caller to get the defect, but ${describe(exit)}`
        )
        yield* nextRunElsewhere(ctx, dead, "a callback died")
      })
  ],
  [
    "a call interrupted mid-call: the connection is replaced and never used again, unless the driver's afterInterrupt recovered it",
    (ctx) =>
      Effect.gen(function*() {
        let dead: unknown
        const exit = yield* Effect.exit(ctx.pool.run((conn) =>
          Effect.gen(function*() {
            dead = conn.connection
            const call = yield* Effect.fork(conn.query(ctx.harness.slow))
            yield* ctx.settle
            return yield* Fiber.interrupt(call)
          })
        ))
        yield* ctx.check(Exit.isSuccess(exit), () => `the run that interrupted its call: ${describe(exit)}`)
        if (ctx.harness.driver.afterInterrupt === undefined) {
          return yield* nextRunElsewhere(ctx, dead, "a call was interrupted")
        }
        yield* ctx.check(
          ctx.watched.recovered.length === 1,
          () =>
            `the driver has afterInterrupt, but the pool asked it ${ctx.watched.recovered.length} times (expected once)`
        )
        if (ctx.watched.recovered[0] !== true) return yield* nextRunElsewhere(ctx, dead, "a call was interrupted")
        // Recovered: the same connection serves the next runs, idle.
        for (let i = 0; i < 3; i++) {
          const connection = yield* ctx.eventually(ctx.pool.run((conn) =>
            Effect.as(selectOn(ctx, conn, "the run after a call was interrupted and recovered"), conn.connection)
          ))
          yield* ctx.check(
            connection === dead,
            () =>
              "the driver recovered the interrupted connection, yet the pool replaced it"
          )
        }
        yield* statusIdle(ctx, "a call was interrupted and recovered")
      })
  ]
]

/** @internal */
export const names: ReadonlyArray<string> = body.map(([name]) => name)

const caseOf = <T extends Driver.Types>(
  harness: DriverSuite.Harness<T>,
  name: string,
  f: Body
): DriverSuite.Case => ({
  name,
  run: Effect.gen(function*() {
    const watched = watch(harness.driver)
    const pool = yield* Pool.make(watched.driver, { ...harness.options, size: 1, name: "driver-suite" })
    const fail = (reason: string) => Effect.fail(new DriverSuiteFailure({ case: name, reason }))
    const ctx: Context<T> = {
      harness,
      watched,
      pool,
      check: (ok, reason) => ok ? Effect.void : fail(reason()),
      fail,
      settle: harness.settle ?? Effect.repeatN(Effect.yieldNow(), 49),
      eventually: harness.eventually ?? ((effect) => effect)
    }
    yield* f(ctx)
    if (watched.misuses.length > 0) yield* fail(watched.misuses.join("; "))
  })
})

/** @internal */
export const cases = <T extends Driver.Types>(harness: DriverSuite.Harness<T>): ReadonlyArray<DriverSuite.Case> =>
  body.map(([name, f]) => caseOf(harness, name, f))

/** @internal */
export const run = <T extends Driver.Types>(
  harness: DriverSuite.Harness<T>,
  name: string
): Effect.Effect<void, unknown, Scope.Scope> => {
  const found = body.find(([n]) => n === name)
  return found === undefined ?
    Effect.dieMessage(`driver suite: no case named "${name}"`) :
    caseOf(harness, name, found[1]).run
}
