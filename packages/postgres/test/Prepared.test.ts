/**
 * Named prepared statements against the real server, checked in the server's own view
 * (`pg_prepared_statements` of the backend): prepared once and executed many times, across
 * checkouts; deallocated by `close`; the same name with another text refused typed; prepared
 * again transparently on the connection that replaced a lost one; a text that fails to parse
 * leaves its name free.
 */
import { describe, expect, it } from "@effect/vitest"
import { Reconnect } from "@redial/core"
import { Effect } from "effect"
import type { PgDriver } from "../src/index.js"
import { PgError, PgPool } from "../src/index.js"
import * as Pg from "./support/pg.js"
import { eventually } from "./support/probe.js"

const noBackendLeft = (app: string) => eventually(Pg.backends(app), (n) => n === 0, "5 seconds")

interface ServerView {
  readonly statement: string
  readonly plans: number
  readonly prepared_at: string
}

/** The statement as the backend the pool hands out sees it (its single connection). */
const serverView = (pool: PgPool.PgPool, name: string) =>
  Effect.map(
    pool.query(
      `select statement, (generic_plans + custom_plans)::int as plans, prepare_time::text as prepared_at
         from pg_prepared_statements where name = $1`,
      [name]
    ),
    (r) => r.rows as unknown as ReadonlyArray<ServerView>
  )

const connectionOf = (pool: PgPool.PgPool) => pool.run((conn) => Effect.succeed(conn.connection))

/** Counts the Parse messages a connection sends for the statement `name`. */
const countParses = (connection: PgDriver.PgConnection, name: string) => {
  const wire = (connection.client as unknown as {
    connection: { parse: (query: { readonly name?: string }) => void }
  }).connection
  const parse = wire.parse.bind(wire)
  let parses = 0
  wire.parse = (query) => {
    if (query.name === name) parses += 1
    parse(query)
  }
  return () => parses
}

describe("named prepared statements", () => {
  it.live("prepared once, executed many times across checkouts: parsed once, one statement on the server", () =>
    Effect.gen(function*() {
      const app = Pg.unique("prepared_once")
      const name = Pg.unique("stmt")
      const text = "select $1::int * 2 as doubled"
      yield* Effect.scoped(Effect.gen(function*() {
        const pool = yield* PgPool.make({ connect: Pg.config(app), size: 1, name: app })
        const connection = yield* connectionOf(pool)
        const parses = countParses(connection, name)
        const prepared = yield* pool.run((conn) => conn.prepare({ name, text }))
        for (let i = 0; i < 20; i++) {
          const result = yield* pool.run((conn) => conn.execute(prepared, [i]))
          expect(result.rows).toEqual([{ doubled: i * 2 }])
        }
        // and within one checkout
        yield* pool.run((conn) => Effect.repeatN(conn.execute(prepared, [1]), 9))
        expect(parses()).toBe(1)
        const view = yield* serverView(pool, name)
        expect(view).toHaveLength(1)
        expect(view[0]!.statement).toBe(text)
        expect(view[0]!.plans).toBe(30)
        expect(connection.prepared.get(name)).toBe(text)
        // a later prepare of the same name and text reuses it
        const again = yield* pool.run((conn) =>
          Effect.flatMap(conn.prepare({ name, text }), (p) => conn.execute(p, [21]))
        )
        expect(again.rows).toEqual([{ doubled: 42 }])
        expect(parses()).toBe(1)
        expect((yield* serverView(pool, name))[0]!.prepared_at).toBe(view[0]!.prepared_at)
      }))
      yield* noBackendLeft(app)
    }))

  it.live("close deallocates it on the server; it can be prepared again afterwards", () =>
    Effect.gen(function*() {
      const app = Pg.unique("prepared_close")
      const name = Pg.unique("stmt")
      yield* Effect.scoped(Effect.gen(function*() {
        const pool = yield* PgPool.make({ connect: Pg.config(app), size: 1, name: app })
        const connection = yield* connectionOf(pool)
        const prepared = yield* pool.run((conn) => conn.prepare({ name, text: "select 1 as one" }))
        yield* pool.run((conn) => conn.execute(prepared))
        expect(yield* serverView(pool, name)).toHaveLength(1)
        yield* pool.run((conn) => conn.close(prepared))
        expect(yield* serverView(pool, name)).toHaveLength(0)
        expect(connection.prepared.has(name)).toBe(false)
        // closing twice is harmless
        yield* pool.run((conn) => conn.close(prepared))
        const other = yield* pool.run((conn) =>
          Effect.flatMap(conn.prepare({ name, text: "select 2 as two" }), (p) => conn.execute(p))
        )
        expect(other.rows).toEqual([{ two: 2 }])
      }))
      yield* noBackendLeft(app)
    }))

  it.live("the same name with another text fails typed (42P05) while the first is prepared", () =>
    Effect.gen(function*() {
      const app = Pg.unique("prepared_clash")
      const name = Pg.unique("stmt")
      yield* Effect.scoped(Effect.gen(function*() {
        const pool = yield* PgPool.make({ connect: Pg.config(app), size: 1, name: app })
        const pid = (yield* connectionOf(pool)).pid
        yield* pool.run((conn) =>
          Effect.flatMap(conn.prepare({ name, text: "select 1 as one" }), (p) => conn.execute(p))
        )
        const error = yield* Effect.flip(
          pool.run((conn) => Effect.flatMap(conn.prepare({ name, text: "select 2 as two" }), (p) => conn.execute(p)))
        )
        expect(error).toBeInstanceOf(PgError.PgError)
        expect(error).toMatchObject({
          reason: "ClientError",
          operation: "prepare",
          code: "42P05",
          condition: "duplicate_prepared_statement"
        })
        expect((error as PgError.PgError).message).toContain(name)
        // the connection is untouched; the first text still runs
        expect((yield* connectionOf(pool)).pid).toBe(pid)
        const first = yield* pool.run((conn) =>
          Effect.flatMap(conn.prepare({ name, text: "select 1 as one" }), (p) => conn.execute(p))
        )
        expect(first.rows).toEqual([{ one: 1 }])
      }))
      yield* noBackendLeft(app)
    }))

  it.live("after a reconnect the statement is prepared again transparently, and close deallocates it there", () =>
    Effect.gen(function*() {
      const app = Pg.unique("prepared_reconnect")
      const name = Pg.unique("stmt")
      const text = "select $1::text || '!' as shout"
      yield* Effect.scoped(Effect.gen(function*() {
        const pool = yield* PgPool.make({
          connect: Pg.config(app),
          size: 1,
          name: app,
          policy: Reconnect.fixed("50 millis"),
          minUptime: "1 millis"
        })
        const prepared = yield* pool.run((conn) => conn.prepare({ name, text }))
        expect((yield* pool.run((conn) => conn.execute(prepared, ["a"]))).rows).toEqual([{ shout: "a!" }])
        const before = yield* connectionOf(pool)
        yield* Pg.terminate(before.pid)
        yield* eventually(Effect.map(connectionOf(pool), (c) => c.pid), (pid) => pid !== before.pid, "10 seconds")
        const after = yield* connectionOf(pool)
        expect(after.prepared.has(name)).toBe(false)
        expect((yield* pool.run((conn) => conn.execute(prepared, ["b"]))).rows).toEqual([{ shout: "b!" }])
        expect(after.prepared.get(name)).toBe(text)
        const view = yield* serverView(pool, name)
        expect(view).toHaveLength(1)
        expect(view[0]!.plans).toBe(1)
        yield* pool.run((conn) => conn.close(prepared))
        expect(yield* serverView(pool, name)).toHaveLength(0)
        expect(after.prepared.has(name)).toBe(false)
      }))
      yield* noBackendLeft(app)
    }))

  it.live("a named query that fails inside a transaction stays prepared (query keeps it); the next transaction runs it again", () =>
    Effect.gen(function*() {
      const app = Pg.unique("prepared_failed_tx")
      const name = Pg.unique("stmt")
      const statement = { name, text: "select 10 / $1::int as q" }
      yield* Effect.scoped(Effect.gen(function*() {
        const pool = yield* PgPool.make({ connect: Pg.config(app), size: 1, name: app })
        // Parsed, then its execution fails: the transaction rolls back, the statement (not
        // transactional) stays prepared, and pg's record of it with it.
        const error = yield* Effect.flip(pool.transaction((conn) => conn.query(statement, [0])))
        expect(error).toMatchObject({ code: "22012" })
        expect(yield* serverView(pool, name)).toHaveLength(1)
        const result = yield* pool.transaction((conn) => conn.query(statement, [5]))
        expect(result.rows).toEqual([{ q: 2 }])
        // and it was not parsed again
        expect(yield* serverView(pool, name)).toHaveLength(1)
      }))
      yield* noBackendLeft(app)
    }))

  it.live("pool.query of a named statement parses it once per connection and reuses it across calls", () =>
    Effect.gen(function*() {
      const app = Pg.unique("prepared_pool_query")
      const name = Pg.unique("stmt")
      const statement = { name, text: "select $1::int * 2 as doubled" }
      yield* Effect.scoped(Effect.gen(function*() {
        const pool = yield* PgPool.make({ connect: Pg.config(app), size: 1, name: app })
        const first = yield* pool.query(statement, [1])
        const [before] = yield* serverView(pool, name)
        for (let i = 2; i <= 20; i++) {
          const result = yield* pool.query(statement, [i])
          expect(result.rows).toEqual([{ doubled: 2 * i }])
        }
        const [after] = yield* serverView(pool, name)
        expect(first.rows).toEqual([{ doubled: 2 }])
        // one statement on the server, prepared once (same prepare_time), executed 20 times
        expect(after?.prepared_at).toBe(before?.prepared_at)
        expect(after?.plans).toBe(20)
      }))
      yield* noBackendLeft(app)
    }))

  it.live("a text that fails to parse leaves its name free for another text", () =>
    Effect.gen(function*() {
      const app = Pg.unique("prepared_bad")
      const name = Pg.unique("stmt")
      yield* Effect.scoped(Effect.gen(function*() {
        const pool = yield* PgPool.make({ connect: Pg.config(app), size: 1, name: app })
        const result = yield* pool.run((conn) =>
          Effect.gen(function*() {
            const bad = yield* conn.prepare({ name, text: "selec 1" })
            const error = yield* Effect.flip(conn.execute(bad))
            expect(error).toMatchObject({ code: "42601", condition: "syntax_error" })
            expect(conn.connection.prepared.has(name)).toBe(false)
            const good = yield* conn.prepare({ name, text: "select 1 as one" })
            return yield* conn.execute(good)
          })
        )
        expect(result.rows).toEqual([{ one: 1 }])
        expect(yield* serverView(pool, name)).toHaveLength(1)
      }))
      yield* noBackendLeft(app)
    }))

  it.live("a parameter pg cannot send fails typed before anything is sent; the statement runs on after", () =>
    Effect.gen(function*() {
      const app = Pg.unique("prepared_bad_param")
      const name = Pg.unique("stmt")
      const circular: Record<string, unknown> = {}
      circular["self"] = circular
      yield* Effect.scoped(Effect.gen(function*() {
        const pool = yield* PgPool.make({ connect: Pg.config(app), size: 1, name: app })
        const pid = (yield* connectionOf(pool)).pid
        const result = yield* pool.run((conn) =>
          Effect.gen(function*() {
            const prepared = yield* conn.prepare({ name, text: "select $1::json as j" })
            const error = yield* Effect.flip(conn.execute(prepared, [circular]))
            expect(error).toBeInstanceOf(PgError.PgError)
            expect(error).toMatchObject({ reason: "ClientError", operation: "query" })
            expect((error as PgError.PgError).text).toContain("circular")
            return yield* conn.execute(prepared, [{ a: 1 }])
          })
        )
        expect(result.rows).toEqual([{ j: { a: 1 } }])
        expect((yield* connectionOf(pool)).pid).toBe(pid)
      }))
      yield* noBackendLeft(app)
    }))
})
