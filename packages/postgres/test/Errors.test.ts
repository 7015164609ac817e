/**
 * Statement errors from the real server: every field of an ErrorResponse read into the PgError
 * (severity, code, condition, detail, hint, position, where, schema, table, column, dataType,
 * constraint); the classification of each (a statement error is neither fatal nor, but for the
 * transaction-level ones, retryable); the connection still serves; no rendering of an error holds
 * the password of the connection, even when the server echoes it.
 */
import { describe, expect, it } from "@effect/vitest"
import { Cause, Effect, Fiber, Redacted } from "effect"
import { PgError, PgPool } from "../src/index.js"
import * as Pg from "./support/pg.js"
import { eventually, renderings } from "./support/probe.js"

const noBackendLeft = (app: string) => eventually(Pg.backends(app), (n) => n === 0, "5 seconds")

/** A pool of one connection for a test; its backend is the same throughout. */
const withPool = <A, E>(
  prefix: string,
  f: (pool: PgPool.PgPool, pid: number) => Effect.Effect<A, E>,
  extra: Parameters<typeof Pg.config>[1] = {}
) =>
  Effect.gen(function*() {
    const app = Pg.unique(prefix)
    const result = yield* Effect.scoped(Effect.gen(function*() {
      const pool = yield* PgPool.make({ connect: Pg.config(app, extra), size: 1, name: app })
      const pid = yield* pool.run((conn) => Effect.succeed(conn.connection.pid))
      const result = yield* f(pool, pid)
      // the connection serves on
      const after = yield* pool.query("select pg_backend_pid() as pid")
      expect(after.rows[0]!["pid"]).toBe(pid)
      return result
    }))
    yield* noBackendLeft(app)
    return result
  })

const failure = (pool: PgPool.PgPool, sql: string, params: ReadonlyArray<unknown> = []) =>
  Effect.map(Effect.flip(pool.query(sql, params)), (error) => {
    expect(error).toBeInstanceOf(PgError.PgError)
    return error as PgError.PgError
  })

describe("statement errors from the real server", () => {
  it.live("every field of an ErrorResponse is read", () =>
    withPool("errors_fields", (pool) =>
      Effect.gen(function*() {
        const error = yield* failure(
          pool,
          `do $$ begin raise exception using
             message = 'custom failure', detail = 'the detail', hint = 'the hint', errcode = '23514',
             schema = 'a_schema', table = 'a_table', column = 'a_column', datatype = 'a_type',
             constraint = 'a_constraint';
           end $$`
        )
        expect(error).toMatchObject({
          reason: "IntegrityConstraintViolation",
          operation: "query",
          code: "23514",
          condition: "check_violation",
          severity: "ERROR",
          text: "custom failure",
          detail: "the detail",
          hint: "the hint",
          schema: "a_schema",
          table: "a_table",
          column: "a_column",
          dataType: "a_type",
          constraint: "a_constraint",
          fatal: false,
          retryable: false
        })
        expect(error.where).toContain("PL/pgSQL function inline_code_block")
        expect(error.message).toContain("23514 check_violation")
        expect(error.message).toContain("Detail: the detail")
        expect(error.message).toContain("Hint: the hint")
        // position: 1-based, in characters
        const syntax = yield* failure(pool, "select * fromm pg_class")
        expect(syntax).toMatchObject({ code: "42601", condition: "syntax_error", position: 10 })
        const column = yield* failure(pool, "select nope from pg_class")
        expect(column).toMatchObject({
          code: "42703",
          condition: "undefined_column",
          reason: "SyntaxErrorOrAccessRuleViolation",
          position: 8
        })
        const fn = yield* failure(pool, "select no_such_function_redial(1)")
        expect(fn).toMatchObject({ code: "42883", condition: "undefined_function" })
        expect(fn.hint).toContain("No function matches the given name and argument types")
      })))

  it.live("constraint violations name their schema, table, column, data type and constraint", () =>
    withPool("errors_constraints", (pool) =>
      Effect.gen(function*() {
        const schema = Pg.unique("errs")
        yield* pool.query(`create schema ${schema}`)
        yield* Effect.ensuring(
          Effect.gen(function*() {
            yield* pool.query(`create domain ${schema}.positive as int check (value > 0)`)
            yield* pool.query(`create table ${schema}.parent (id int primary key)`)
            yield* pool.query(
              `create table ${schema}.child (id int primary key, parent int references ${schema}.parent (id),
                 name text not null, n int constraint n_small check (n < 10))`
            )
            const notNull = yield* failure(pool, `insert into ${schema}.child (id, name) values (1, null)`)
            expect(notNull).toMatchObject({
              code: "23502",
              condition: "not_null_violation",
              schema,
              table: "child",
              column: "name"
            })
            expect(notNull.detail).toContain("Failing row contains")
            const domain = yield* failure(pool, `select (-1)::${schema}.positive`)
            expect(domain).toMatchObject({
              code: "23514",
              condition: "check_violation",
              schema,
              dataType: "positive",
              constraint: "positive_check"
            })
            const check = yield* failure(pool, `insert into ${schema}.child values (1, null, 'a', 11)`)
            expect(check).toMatchObject({ code: "23514", schema, table: "child", constraint: "n_small" })
            const foreign = yield* failure(pool, `insert into ${schema}.child values (1, 7, 'a', 1)`)
            expect(foreign).toMatchObject({
              code: "23503",
              condition: "foreign_key_violation",
              schema,
              table: "child",
              constraint: "child_parent_fkey",
              detail: `Key (parent)=(7) is not present in table "parent".`,
              retryable: false
            })
            const data = yield* failure(pool, "select $1::int", ["twelve"])
            expect(data).toMatchObject({
              code: "22P02",
              condition: "invalid_text_representation",
              reason: "DataException",
              retryable: false
            })
          }),
          Effect.orDie(pool.query(`drop schema ${schema} cascade`))
        )
      })))

  it.live(
    "transaction-level failures are retryable: a deadlock (40P01) and a lock not available (55P03)",
    () =>
      Effect.gen(function*() {
        const app = Pg.unique("errors_locks")
        const table = Pg.unique("locks")
        yield* Pg.admin(`create table ${table} (id int primary key)`)
        yield* Pg.admin(`insert into ${table} values (1), (2)`)
        yield* Effect.scoped(Effect.gen(function*() {
          const pool = yield* PgPool.make({ connect: Pg.config(app), size: 2, name: app })
          // Each locks one row, then wants the other's: the server picks one to fail.
          const locker = (first: number, second: number) =>
            pool.transaction((conn) =>
              Effect.gen(function*() {
                yield* conn.query(`select * from ${table} where id = $1 for update`, [first])
                yield* Effect.sleep("200 millis")
                yield* conn.query(`select * from ${table} where id = $1 for update`, [second])
              })
            )
          const a = yield* Effect.fork(Effect.either(locker(1, 2)))
          const b = yield* Effect.fork(Effect.either(locker(2, 1)))
          const outcomes = [yield* Fiber.join(a), yield* Fiber.join(b)]
          const failed = outcomes.filter((o) => o._tag === "Left").map((o) => (o as { left: unknown }).left)
          expect(failed).toHaveLength(1)
          expect(failed[0]).toBeInstanceOf(PgError.PgError)
          expect(failed[0]).toMatchObject({
            code: "40P01",
            condition: "deadlock_detected",
            reason: "TransactionRollback",
            retryable: true,
            fatal: false
          })
          // A row another transaction holds, asked for with NOWAIT.
          const held = yield* Effect.flip(pool.transaction((conn) =>
            Effect.gen(function*() {
              yield* conn.query(`select * from ${table} where id = 1 for update`)
              return yield* pool.query(`select * from ${table} where id = 1 for update nowait`)
            })
          ))
          expect(held).toMatchObject({
            code: "55P03",
            condition: "lock_not_available",
            reason: "ObjectNotInPrerequisiteState",
            retryable: true
          })
        }))
        yield* noBackendLeft(app)
        yield* Pg.admin(`drop table ${table}`)
      }),
    30_000
  )

  it.live("no rendering of a statement error holds the connection's password, even when the server echoes it", () => {
    const password = `pw-${Pg.unique("secret")}`
    return withPool("errors_secret", (pool) =>
      Effect.gen(function*() {
        const errors = [
          // the message and its detail echo the value
          yield* failure(pool, "select $1::int", [password]),
          yield* failure(pool, `select '${password}'::int`),
          // a PL/pgSQL context echoes the statement
          yield* failure(pool, `do $$ begin perform '${password}'::int; end $$`),
          yield* failure(
            pool,
            `do $$ begin raise exception '%', '${password}' using detail = '${password}', hint = '${password}'; end $$`
          )
        ]
        for (const error of errors) {
          for (const text of [...renderings(error), Cause.pretty(Cause.fail(error))]) {
            expect(text).not.toContain(password)
          }
        }
      }), { password: Redacted.make(password) })
  })

  // `PgError.classify` masks `where` too, and drops the raw error (its `cause`) when any text
  // holds the secret, even only the error's context.
  it.live("no rendering holds the password when only the error's context (where) echoes it", () => {
    const password = `pw-${Pg.unique("secret")}`
    return withPool("errors_secret_where", (pool) =>
      Effect.gen(function*() {
        const error = yield* failure(
          pool,
          `do $$ begin execute 'select 1 / 0 where ''${password}'' <> ''x'''; end $$`
        )
        expect(error.code).toBe("22012")
        for (const text of [...renderings(error), Cause.pretty(Cause.fail(error))]) {
          expect(text).not.toContain(password)
        }
      }), { password: Redacted.make(password) })
  })
})
