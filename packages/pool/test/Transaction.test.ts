import { describe, expect, it } from "@effect/vitest"
import { TestTime } from "@redial/testing"
import { Cause, Data, Effect, Either, Exit, Fiber, Option, Stream, TestClock } from "effect"
import { Disconnect } from "../src/Driver.js"
import * as Pool from "../src/Pool.js"
import { RolledBack, TransactionRollingBack } from "../src/PoolError.js"
import * as TestDriver from "./support/testDriver.js"

class Boom extends Data.TaggedError("Boom")<{ readonly n: number }> {}

/** `true` when `X` is one of the members of the union `U`: a compile-time check of error types. */
type Has<U, X> = [X] extends [U] ? true : false

const setup = (
  driverOptions: TestDriver.Options = {},
  poolOptions: Pool.Options<TestDriver.TestTypes> = {}
) =>
  Effect.gen(function*() {
    const driver = yield* TestDriver.make(driverOptions)
    const pool = yield* Pool.make(driver, { name: "tx", minUptime: 0, ...poolOptions })
    yield* TestDriver.awaitIdle(pool, poolOptions.size ?? 1)
    return { driver, pool }
  })

/** Checks that nothing is left open, the connection is idle and the contract was kept. */
const expectClean = (driver: TestDriver.TestDriver, id = 1) =>
  Effect.gen(function*() {
    expect(yield* driver.transactionStatus(id)).toEqual(Option.some("idle"))
    expect(yield* driver.openPrepared).toBe(0)
    expect(yield* driver.openCursors).toBe(0)
    expect(yield* driver.violations).toEqual([])
  })

const count = (log: ReadonlyArray<string>, prefix: string) => log.filter((entry) => entry.startsWith(prefix)).length

const connectionId = (pool: Pool.Pool<TestDriver.TestTypes>) => pool.run((conn) => Effect.succeed(conn.connection.id))

describe("Transaction", () => {
  describe("outermost", () => {
    it.scoped("commits when the function succeeds", () =>
      Effect.gen(function*() {
        const { driver, pool } = yield* setup()
        const result = yield* pool.transaction((conn) =>
          Effect.gen(function*() {
            const r = yield* conn.query("insert", [1])
            expect(yield* conn.status).toBe("transaction")
            return r.params
          })
        )
        expect(result).toEqual([1])
        expect(yield* TestDriver.statements(driver)).toEqual([
          "begin 1",
          "prepare 1 insert",
          "execute 1 insert",
          "close 1 insert",
          "commit 1"
        ])
        yield* expectClean(driver)
        expect((yield* pool.stats).busy).toBe(0)
      }))

    it.scoped("rolls back when the function fails; the error comes back typed", () =>
      Effect.gen(function*() {
        const { driver, pool } = yield* setup()
        const tx = pool.transaction((conn) =>
          conn.query("insert").pipe(Effect.zipRight(Effect.fail(new Boom({ n: 1 }))))
        )
        const typed: Has<Effect.Effect.Error<typeof tx>, Boom> = true
        expect(typed).toBe(true)
        const recovered = yield* tx.pipe(Effect.catchTag("Boom", (error) => Effect.succeed(error.n)))
        expect(recovered).toBe(1)
        expect(yield* TestDriver.statements(driver)).toEqual([
          "begin 1",
          "prepare 1 insert",
          "execute 1 insert",
          "close 1 insert",
          "rollback 1"
        ])
        yield* expectClean(driver)
      }))

    it.scoped("a driver error inside the function rolls back and comes back typed", () =>
      Effect.gen(function*() {
        const { driver, pool } = yield* setup()
        yield* driver.failNext("execute", new TestDriver.TestDriverError({ reason: "unique violation" }))
        const error = yield* Effect.flip(pool.transaction((conn) => conn.query("insert")))
        expect(error).toEqual(new TestDriver.TestDriverError({ reason: "unique violation" }))
        const log = yield* TestDriver.statements(driver)
        expect(count(log, "rollback 1")).toBe(1)
        expect(count(log, "commit")).toBe(0)
        expect(yield* driver.transactionStatus(1)).toEqual(Option.some("idle"))
        expect(yield* driver.violations).toEqual([])
        // the slot kept its connection
        expect(yield* connectionId(pool)).toBe(1)
      }))

    it.scoped("rollback(reason): the transaction fails with exactly that reason, typed", () =>
      Effect.gen(function*() {
        const { driver, pool } = yield* setup()
        const tx = pool.transaction((conn) =>
          Effect.gen(function*() {
            yield* conn.query("insert")
            if ((yield* conn.status) === "transaction") return yield* conn.rollback("too many" as const)
            return "unreachable" as const
          })
        )
        const typed: Has<Effect.Effect.Error<typeof tx>, "too many"> = true
        expect(typed).toBe(true)
        const exit = yield* Effect.exit(tx)
        expect(exit).toEqual(Exit.fail("too many"))
        const log = yield* TestDriver.statements(driver)
        expect(log.at(-1)).toBe("rollback 1")
        expect(count(log, "commit")).toBe(0)
        yield* expectClean(driver)
      }))

    it.scoped("rollback(reason) with a tagged error: catchTag sees it", () =>
      Effect.gen(function*() {
        const { driver, pool } = yield* setup()
        const result = yield* pool.transaction((conn) => conn.rollback(new Boom({ n: 7 }))).pipe(
          Effect.catchTag("Boom", (boom) => Effect.succeed(boom.n))
        )
        expect(result).toBe(7)
        expect(yield* TestDriver.statements(driver)).toEqual(["begin 1", "rollback 1"])
        yield* expectClean(driver)
      }))

    it.scoped("a defect rolls back and propagates", () =>
      Effect.gen(function*() {
        const { driver, pool } = yield* setup()
        const exit = yield* Effect.exit(
          pool.transaction((conn) => conn.query("a").pipe(Effect.zipRight(Effect.die("bug"))))
        )
        expect(Exit.isFailure(exit)).toBe(true)
        if (Exit.isFailure(exit)) expect(Cause.dieOption(exit.cause)).toEqual(Option.some("bug"))
        const log = yield* TestDriver.statements(driver)
        expect(log.at(-1)).toBe("rollback 1")
        expect(count(log, "commit")).toBe(0)
        yield* expectClean(driver)
        // the connection is back and usable
        expect(yield* pool.transaction((conn) => conn.query("b").pipe(Effect.as("ok")))).toBe("ok")
        expect((yield* TestDriver.statements(driver)).at(-1)).toBe("commit 1")
      }))

    it.scoped("interruption rolls back; the connection goes back to the pool usable", () =>
      Effect.gen(function*() {
        const { driver, pool } = yield* setup()
        const fiber = yield* Effect.fork(
          pool.transaction((conn) => conn.query("a").pipe(Effect.zipRight(Effect.never)))
        )
        yield* TestTime.settle()
        expect(yield* TestDriver.statements(driver)).toEqual(["begin 1", "prepare 1 a", "execute 1 a", "close 1 a"])
        expect((yield* pool.stats).busy).toBe(1)
        const exit = yield* Fiber.interrupt(fiber)
        expect(Exit.isInterrupted(exit)).toBe(true)
        expect((yield* TestDriver.statements(driver)).at(-1)).toBe("rollback 1")
        yield* expectClean(driver)
        expect((yield* pool.stats).busy).toBe(0)
        expect(yield* pool.transaction((conn) => conn.query("b").pipe(Effect.as(conn.connection.id)))).toBe(1)
        expect((yield* TestDriver.statements(driver)).slice(-5)).toEqual([
          "begin 1",
          "prepare 1 b",
          "execute 1 b",
          "close 1 b",
          "commit 1"
        ])
      }))

    it.scoped("a timeout around the transaction interrupts it and rolls back", () =>
      Effect.gen(function*() {
        const { driver, pool } = yield* setup()
        const fiber = yield* Effect.fork(
          pool.transaction((conn) => conn.query("a").pipe(Effect.zipRight(Effect.sleep("10 seconds")))).pipe(
            Effect.timeout("1 second")
          )
        )
        yield* TestTime.settle()
        yield* TestClock.adjust("1 second")
        const exit = yield* Fiber.await(fiber)
        expect(Exit.isFailure(exit) && Cause.failureOption(exit.cause).pipe(Option.map((e) => e._tag))).toEqual(
          Option.some("TimeoutException")
        )
        expect((yield* TestDriver.statements(driver)).at(-1)).toBe("rollback 1")
        yield* expectClean(driver)
        expect(yield* connectionId(pool)).toBe(1)
      }))

    it.scoped("a transaction on a held checkout begins and commits on that connection", () =>
      Effect.gen(function*() {
        const { driver, pool } = yield* setup()
        const result = yield* Effect.scoped(Effect.gen(function*() {
          const conn = yield* pool.checkout
          yield* conn.query("before")
          const inner = yield* conn.transaction((tx) => tx.query("inside").pipe(Effect.as(tx.connection.id)))
          yield* conn.query("after")
          return inner
        }))
        expect(result).toBe(1)
        const log = yield* TestDriver.statements(driver)
        expect(log.filter((entry) => !entry.startsWith("prepare") && !entry.startsWith("close"))).toEqual([
          "execute 1 before",
          "begin 1",
          "execute 1 inside",
          "commit 1",
          "execute 1 after"
        ])
        yield* expectClean(driver)
      }))

    it.scoped("a transaction inside pool.run begins a real transaction", () =>
      Effect.gen(function*() {
        const { driver, pool } = yield* setup()
        yield* pool.run((conn) => conn.transaction((tx) => tx.query("x")))
        expect(count(yield* TestDriver.statements(driver), "begin 1")).toBe(1)
        expect(count(yield* TestDriver.statements(driver), "commit 1")).toBe(1)
        yield* expectClean(driver)
      }))

    it.scoped("transactions of concurrent callers never interleave on one connection", () =>
      Effect.gen(function*() {
        const { driver, pool } = yield* setup()
        yield* driver.delay("execute", "10 millis")
        const fibers = yield* Effect.forEach(
          [1, 2, 3],
          (n) =>
            Effect.fork(pool.transaction((conn) => conn.query(`q${n}`).pipe(Effect.zipRight(conn.query(`r${n}`))))),
          { concurrency: "unbounded" }
        )
        yield* TestTime.advanceUntilDone(Fiber.joinAll(fibers), { step: "10 millis" })
        const log = (yield* TestDriver.statements(driver)).filter((entry) => /^(begin|commit|execute)/.test(entry))
        expect(log).toHaveLength(12)
        for (let i = 0; i < 12; i += 4) {
          const n = log[i + 1]!.slice(-1)
          expect(log.slice(i, i + 4)).toEqual(["begin 1", `execute 1 q${n}`, `execute 1 r${n}`, "commit 1"])
        }
        yield* expectClean(driver)
      }))
  })

  describe("nested, as DBConnection", () => {
    it.scoped("an inner transaction is a run: no second begin, one commit", () =>
      Effect.gen(function*() {
        const { driver, pool } = yield* setup()
        const result = yield* pool.transaction((conn) =>
          Effect.gen(function*() {
            yield* conn.query("a")
            const inner = yield* conn.transaction((tx) =>
              Effect.gen(function*() {
                expect(tx.connection).toBe(conn.connection)
                yield* tx.query("b")
                return yield* tx.transaction((deeper) => deeper.query("c").pipe(Effect.as(42)))
              })
            )
            const ran = yield* conn.run((c) => c.query("d").pipe(Effect.as("ran")))
            return [inner, ran] as const
          })
        )
        expect(result).toEqual([42, "ran"])
        const log = (yield* TestDriver.statements(driver)).filter((entry) => !/^(prepare|close)/.test(entry))
        expect(log).toEqual(["begin 1", "execute 1 a", "execute 1 b", "execute 1 c", "execute 1 d", "commit 1"])
        yield* expectClean(driver)
      }))

    it.scoped("an inner failure not caught fails the outermost with it, one rollback", () =>
      Effect.gen(function*() {
        const { driver, pool } = yield* setup()
        const error = yield* Effect.flip(
          pool.transaction((conn) => conn.transaction(() => Effect.fail(new Boom({ n: 2 }))))
        )
        expect(error).toEqual(new Boom({ n: 2 }))
        expect(yield* TestDriver.statements(driver)).toEqual(["begin 1", "rollback 1"])
        yield* expectClean(driver)
      }))

    it.scoped("after an inner failure every call but run/transaction/rollback/close fails with TransactionRollingBack", () =>
      Effect.gen(function*() {
        const { driver, pool } = yield* setup()
        const exit = yield* Effect.exit(pool.transaction((conn) =>
          Effect.gen(function*() {
            const prepared = yield* conn.prepare("p")
            const inner = yield* Effect.either(conn.transaction(() => Effect.fail(new Boom({ n: 3 }))))
            expect(inner).toEqual(Either.left(new Boom({ n: 3 })))
            yield* driver.clearLog

            const rollingBack = new TransactionRollingBack({ pool: "tx" })
            expect(yield* Effect.either(conn.query("q"))).toEqual(Either.left(rollingBack))
            expect(yield* Effect.either(conn.prepare("q"))).toEqual(Either.left(rollingBack))
            expect(yield* Effect.either(conn.execute(prepared, [1]))).toEqual(Either.left(rollingBack))
            expect(yield* Effect.either(conn.status)).toEqual(Either.left(rollingBack))
            expect(yield* Effect.either(Stream.runCollect(conn.stream("rows:3", [], { maxRows: 2 })))).toEqual(
              Either.left(rollingBack)
            )
            // nothing reached the database
            expect(yield* TestDriver.statements(driver)).toEqual([])

            // run still runs (its calls still fail), close still closes
            expect(yield* conn.run(() => Effect.succeed("run ran"))).toBe("run ran")
            expect(yield* Effect.either(conn.run((c) => c.query("q")))).toEqual(Either.left(rollingBack))
            yield* conn.close(prepared)
            expect(yield* TestDriver.statements(driver)).toEqual(["close 1 p"])
            // rollback still fails the transaction with its reason
            return yield* conn.rollback("give up" as const)
          })
        ))
        expect(exit).toEqual(Exit.fail("give up"))
        expect(yield* TestDriver.statements(driver)).toEqual(["close 1 p", "rollback 1"])
        yield* expectClean(driver)
      }))

    it.scoped("after an inner failure a nested transaction fails at once with RolledBack without running its function", () =>
      Effect.gen(function*() {
        const { driver, pool } = yield* setup()
        let ran = false
        const exit = yield* Effect.exit(pool.transaction((conn) =>
          Effect.gen(function*() {
            yield* conn.transaction(() => Effect.fail(new Boom({ n: 10 }))).pipe(Effect.ignore)
            const nested = yield* Effect.either(conn.transaction((tx) =>
              Effect.gen(function*() {
                ran = true
                return yield* tx.query("inside")
              })
            ))
            expect(nested).toEqual(Either.left(new RolledBack({ pool: "tx", reason: "AlreadyFailed" })))
            return "recovered"
          })
        ))
        expect(ran).toBe(false)
        expect(exit).toEqual(Exit.fail(new RolledBack({ pool: "tx", reason: "InnerFailure" })))
        expect(yield* TestDriver.statements(driver)).toEqual(["begin 1", "rollback 1"])
        yield* expectClean(driver)
      }))

    it.scoped("an outer function that catches the inner failure and succeeds still rolls back: RolledBack", () =>
      Effect.gen(function*() {
        const { driver, pool } = yield* setup()
        const tx = pool.transaction((conn) =>
          Effect.gen(function*() {
            yield* conn.query("a")
            yield* conn.transaction(() => Effect.fail(new Boom({ n: 4 }))).pipe(Effect.ignore)
            return "recovered"
          })
        )
        const typed: Has<Effect.Effect.Error<typeof tx>, RolledBack> = true
        expect(typed).toBe(true)
        const error = yield* Effect.flip(tx)
        expect(error).toEqual(new RolledBack({ pool: "tx", reason: "InnerFailure" }))
        expect(error).toBeInstanceOf(RolledBack)
        const log = yield* TestDriver.statements(driver)
        expect(log.at(-1)).toBe("rollback 1")
        expect(count(log, "commit")).toBe(0)
        yield* expectClean(driver)
        // the next transaction starts clean
        expect(yield* pool.transaction((conn) => conn.query("b").pipe(Effect.as("ok")))).toBe("ok")
        expect((yield* TestDriver.statements(driver)).at(-1)).toBe("commit 1")
      }))

    it.scoped("an inner rollback(reason) caught by the outer: RolledBack", () =>
      Effect.gen(function*() {
        const { driver, pool } = yield* setup()
        const error = yield* Effect.flip(pool.transaction((conn) =>
          Effect.gen(function*() {
            const inner = yield* Effect.either(conn.transaction((tx) => tx.rollback("inner reason" as const)))
            expect(inner).toEqual(Either.left("inner reason"))
            return 1
          })
        ))
        expect(error).toEqual(new RolledBack({ pool: "tx", reason: "InnerFailure" }))
        expect(yield* TestDriver.statements(driver)).toEqual(["begin 1", "rollback 1"])
        yield* expectClean(driver)
      }))

    it.scoped("an inner defect caught by the outer: RolledBack", () =>
      Effect.gen(function*() {
        const { driver, pool } = yield* setup()
        const error = yield* Effect.flip(pool.transaction((conn) =>
          conn.transaction(() => Effect.die("inner bug")).pipe(Effect.catchAllDefect(() => Effect.succeed(1)))
        ))
        expect(error).toEqual(new RolledBack({ pool: "tx", reason: "InnerFailure" }))
        expect(yield* TestDriver.statements(driver)).toEqual(["begin 1", "rollback 1"])
        yield* expectClean(driver)
      }))

    it.scoped("the outer catching TransactionRollingBack and succeeding: still RolledBack", () =>
      Effect.gen(function*() {
        const { driver, pool } = yield* setup()
        const error = yield* Effect.flip(pool.transaction((conn) =>
          Effect.gen(function*() {
            yield* conn.transaction(() => Effect.fail(new Boom({ n: 5 }))).pipe(Effect.ignore)
            return yield* conn.query("after").pipe(
              Effect.catchTag("TransactionRollingBack", () => Effect.succeed("swallowed"))
            )
          })
        ))
        expect(error).toEqual(new RolledBack({ pool: "tx", reason: "InnerFailure" }))
        expect(yield* TestDriver.statements(driver)).toEqual(["begin 1", "rollback 1"])
        yield* expectClean(driver)
      }))
  })

  describe("savepoints", () => {
    it.scoped("{ savepoint: true } nested: an inner failure rolls back to the savepoint only, the outer commits", () =>
      Effect.gen(function*() {
        const { driver, pool } = yield* setup({ savepoints: true })
        const result = yield* pool.transaction((conn) =>
          Effect.gen(function*() {
            yield* conn.query("a")
            const inner = yield* Effect.either(
              conn.transaction(
                (tx) => tx.query("b").pipe(Effect.zipRight(Effect.fail(new Boom({ n: 6 })))),
                { savepoint: true }
              )
            )
            expect(inner).toEqual(Either.left(new Boom({ n: 6 })))
            expect(yield* conn.status).toBe("transaction")
            yield* conn.query("c")
            return "committed"
          })
        )
        expect(result).toBe("committed")
        const log = (yield* TestDriver.statements(driver)).filter((entry) => !/^(prepare|close)/.test(entry))
        expect(log).toHaveLength(7)
        expect(log.slice(0, 2)).toEqual(["begin 1", "execute 1 a"])
        const name = /^savepoint 1 (.+)$/.exec(log[2]!)?.[1]
        expect(name).toBeDefined()
        expect(log[3]).toBe("execute 1 b")
        expect(log[4]).toBe(`rollbackTo 1 ${name}`)
        expect(log.slice(5)).toEqual(["execute 1 c", "commit 1"])
        yield* expectClean(driver)
      }))

    it.scoped("{ savepoint: true } nested and successful: savepoint then release, the outer commits", () =>
      Effect.gen(function*() {
        const { driver, pool } = yield* setup({ savepoints: true })
        const result = yield* pool.transaction((conn) =>
          conn.transaction((tx) => tx.query("b").pipe(Effect.as("inner")), { savepoint: true })
        )
        expect(result).toBe("inner")
        const log = (yield* TestDriver.statements(driver)).filter((entry) => !/^(prepare|close)/.test(entry))
        const name = /^savepoint 1 (.+)$/.exec(log[1] ?? "")?.[1]
        expect(log).toEqual(["begin 1", `savepoint 1 ${name}`, "execute 1 b", `release 1 ${name}`, "commit 1"])
        yield* expectClean(driver)
      }))

    it.scoped("{ savepoint: true } nested twice: inner savepoints are released innermost first", () =>
      Effect.gen(function*() {
        const { driver, pool } = yield* setup({ savepoints: true })
        yield* pool.transaction((conn) =>
          conn.transaction(
            (one) =>
              one.transaction((two) =>
                Effect.gen(function*() {
                  expect((yield* driver.savepointStack(1)).length).toBe(2)
                  yield* two.query("x")
                }), { savepoint: true }),
            { savepoint: true }
          )
        )
        const log = (yield* TestDriver.statements(driver)).filter((entry) => /^(savepoint|release)/.test(entry))
        expect(log).toHaveLength(4)
        const [outer, inner] = [log[0]!.split(" ")[2], log[1]!.split(" ")[2]]
        expect(log).toEqual([
          `savepoint 1 ${outer}`,
          `savepoint 1 ${inner}`,
          `release 1 ${inner}`,
          `release 1 ${outer}`
        ])
        yield* expectClean(driver)
      }))

    it.scoped("{ savepoint: true } nested: rollback(reason) rolls back to the savepoint, the outer commits", () =>
      Effect.gen(function*() {
        const { driver, pool } = yield* setup({ savepoints: true })
        const result = yield* pool.transaction((conn) =>
          conn.transaction((tx) => tx.rollback("undo" as const), { savepoint: true }).pipe(
            Effect.catchAll((reason) => Effect.succeed(`caught ${String(reason)}`))
          )
        )
        expect(result).toBe("caught undo")
        const log = yield* TestDriver.statements(driver)
        expect(log[0]).toBe("begin 1")
        expect(log[1]).toMatch(/^savepoint 1 /)
        expect(log[2]).toMatch(/^rollbackTo 1 /)
        expect(log.at(-1)).toBe("commit 1")
        expect(count(log, "rollback 1")).toBe(0)
        yield* expectClean(driver)
      }))

    it.scoped("{ savepoint: true } nested: a defect rolls back to the savepoint and propagates", () =>
      Effect.gen(function*() {
        const { driver, pool } = yield* setup({ savepoints: true })
        const exit = yield* Effect.exit(
          pool.transaction((conn) => conn.transaction(() => Effect.die("inner bug"), { savepoint: true }))
        )
        expect(Exit.isFailure(exit) && Cause.dieOption(exit.cause)).toEqual(Option.some("inner bug"))
        const log = yield* TestDriver.statements(driver)
        expect(log[1]).toMatch(/^savepoint 1 /)
        expect(log[2]).toMatch(/^rollbackTo 1 /)
        expect(log.at(-1)).toBe("rollback 1")
        yield* expectClean(driver)
      }))

    it.scoped("{ savepoint: true } nested: a failed plain transaction inside it is rolled back with the savepoint only", () =>
      Effect.gen(function*() {
        const { driver, pool } = yield* setup({ savepoints: true })
        const result = yield* pool.transaction((conn) =>
          Effect.gen(function*() {
            const inner = yield* Effect.either(conn.transaction(
              (sp) =>
                sp.transaction((plain) => plain.query("b").pipe(Effect.zipRight(Effect.fail(new Boom({ n: 11 }))))),
              { savepoint: true }
            ))
            expect(inner).toEqual(Either.left(new Boom({ n: 11 })))
            // the failure was contained by the savepoint: the outer transaction goes on
            yield* conn.query("c")
            return "committed"
          })
        )
        expect(result).toBe("committed")
        const log = (yield* TestDriver.statements(driver)).filter((entry) => !/^(prepare|close)/.test(entry))
        expect(log[0]).toBe("begin 1")
        expect(log[1]).toMatch(/^savepoint 1 /)
        expect(log[2]).toBe("execute 1 b")
        expect(log[3]).toMatch(/^rollbackTo 1 /)
        expect(log.slice(4)).toEqual(["execute 1 c", "commit 1"])
        yield* expectClean(driver)
      }))

    it.scoped("{ savepoint: true } on the outermost transaction is a plain transaction", () =>
      Effect.gen(function*() {
        const { driver, pool } = yield* setup({ savepoints: true })
        yield* pool.run((conn) => conn.transaction((tx) => tx.query("a"), { savepoint: true }))
        const log = (yield* TestDriver.statements(driver)).filter((entry) => !/^(prepare|close)/.test(entry))
        expect(log).toEqual(["begin 1", "execute 1 a", "commit 1"])
        yield* expectClean(driver)
      }))

    it.scoped("without driver savepoints, { savepoint: true } behaves as plain nesting", () =>
      Effect.gen(function*() {
        const { driver, pool } = yield* setup({ savepoints: false })
        expect(driver.savepoints).toBeUndefined()
        const error = yield* Effect.flip(pool.transaction((conn) =>
          Effect.gen(function*() {
            const inner = yield* Effect.either(
              conn.transaction(() => Effect.fail(new Boom({ n: 8 })), { savepoint: true })
            )
            expect(inner).toEqual(Either.left(new Boom({ n: 8 })))
            expect(yield* Effect.either(conn.query("after"))).toEqual(
              Either.left(new TransactionRollingBack({ pool: "tx" }))
            )
            return "recovered"
          })
        ))
        expect(error).toEqual(new RolledBack({ pool: "tx", reason: "InnerFailure" }))
        expect(yield* TestDriver.statements(driver)).toEqual(["begin 1", "rollback 1"])
        yield* expectClean(driver)
      }))

    it.scoped("without driver savepoints, a successful { savepoint: true } inner transaction is a run", () =>
      Effect.gen(function*() {
        const { driver, pool } = yield* setup()
        yield* pool.transaction((conn) => conn.transaction((tx) => tx.query("a"), { savepoint: true }))
        const log = (yield* TestDriver.statements(driver)).filter((entry) => !/^(prepare|close)/.test(entry))
        expect(log).toEqual(["begin 1", "execute 1 a", "commit 1"])
        yield* expectClean(driver)
      }))
  })

  describe("Disconnect", () => {
    it.scoped("a Disconnect from commit fails the caller and drops the slot: the next checkout gets a new connection", () =>
      Effect.gen(function*() {
        const { driver, pool } = yield* setup()
        const disconnect = new Disconnect({ cause: new Error("socket closed") })
        yield* driver.failNext("commit", disconnect)
        const tx = pool.transaction((conn) => conn.query("a"))
        const typed: Has<Effect.Effect.Error<typeof tx>, Disconnect> = true
        expect(typed).toBe(true)
        expect(yield* Effect.flip(tx)).toBe(disconnect)
        expect(yield* TestTime.advanceUntilDone(connectionId(pool), { step: "1 millis", limit: "10 millis" })).toBe(2)
        const log = yield* driver.log
        expect(log).toContain("released 1")
        expect(log.indexOf("released 1")).toBeGreaterThan(log.indexOf("commit 1"))
        expect(yield* driver.connections).toEqual([2])
        expect(yield* driver.violations).toEqual([])
        // the new connection serves transactions
        yield* pool.transaction((conn) => conn.query("b"))
        expect((yield* TestDriver.statements(driver)).at(-1)).toBe("commit 2")
      }))

    it.scoped("a Disconnect from rollback fails the caller and drops the slot", () =>
      Effect.gen(function*() {
        const { driver, pool } = yield* setup()
        yield* driver.failNext("rollback", new Disconnect({ cause: new Error("socket closed") }))
        const error = yield* Effect.flip(pool.transaction(() => Effect.fail(new Boom({ n: 9 }))))
        // the caller gets a failure: its own error or the Disconnect
        expect(["Boom", "Disconnect"]).toContain(error._tag)
        expect(yield* TestTime.advanceUntilDone(connectionId(pool), { step: "1 millis", limit: "10 millis" })).toBe(2)
        expect(yield* driver.log).toContain("released 1")
        expect(yield* driver.connections).toEqual([2])
        expect(yield* driver.violations).toEqual([])
      }))

    it.scoped("a Disconnect from begin fails the caller and drops the slot", () =>
      Effect.gen(function*() {
        const { driver, pool } = yield* setup()
        const disconnect = new Disconnect({ cause: "gone" })
        yield* driver.failNext("begin", disconnect)
        let ran = false
        const error = yield* Effect.flip(pool.transaction(() => Effect.sync(() => (ran = true))))
        expect(error).toBe(disconnect)
        expect(ran).toBe(false)
        expect(yield* TestTime.advanceUntilDone(connectionId(pool), { step: "1 millis", limit: "10 millis" })).toBe(2)
        expect(count(yield* driver.log, "rollback")).toBe(0)
        expect(yield* driver.violations).toEqual([])
      }))

    it.scoped("a driver error from begin fails the caller, f never runs, the connection stays", () =>
      Effect.gen(function*() {
        const { driver, pool } = yield* setup()
        const failure = new TestDriver.TestDriverError({ reason: "no begin today" })
        yield* driver.failNext("begin", failure)
        let ran = false
        const error = yield* Effect.flip(pool.transaction(() => Effect.sync(() => (ran = true))))
        expect(error).toEqual(failure)
        expect(ran).toBe(false)
        expect(yield* connectionId(pool)).toBe(1)
        yield* expectClean(driver)
      }))

    it.scoped("a Disconnect inside the transaction drops the slot; the pool serves a new connection", () =>
      Effect.gen(function*() {
        const { driver, pool } = yield* setup()
        const disconnect = new Disconnect({ cause: "reset by peer" })
        yield* driver.failNext("execute", disconnect)
        expect(yield* Effect.flip(pool.transaction((conn) => conn.query("a")))).toBe(disconnect)
        expect(yield* TestTime.advanceUntilDone(connectionId(pool), { step: "1 millis", limit: "10 millis" })).toBe(2)
        expect(yield* driver.connections).toEqual([2])
        yield* pool.transaction((conn) => conn.query("b"))
        yield* expectClean(driver, 2)
      }))
  })
})
