/**
 * @effect/sql's own test cases that need a real client (Effect-TS/effect, branch v3): the
 * `SqlPersistedQueue` suite (packages/sql/test/SqlPersistedQueueTest.ts, which @effect/sql-pg runs
 * against its client in packages/sql-pg/test/SqlPersistedQueue.test.ts), run here against
 * `RedialPgClient.layer` on the shared server. The same cases and expectations; each test has its
 * queue table of its own (`layerStore({ tableName })`, upstream uses the default table of a fresh
 * container) and a client of its own, checked for leftover backends once released.
 *
 * Upstream's `Effect.fnUntraced(function*(value) { assert… })` callbacks without a `yield` are
 * `(value) => Effect.sync(() => assert…)` here (the lint's require-yield).
 *
 * And the dialect-neutral `SqlResolver` cases, which upstream runs against its SQLite clients
 * (packages/sql-sqlite-node/test/Resolver.test.ts): the same resolvers, requests and results on
 * PostgreSQL (the `test` table of the test's own, its ids seeded 1..100 as upstream and the
 * identity moved past them, as SQLite's rowid is).
 *
 * As upstream, the SqlPersistedQueue tests run under the TestClock (`it.effect`, as `it.layer` builds its layer with
 * the test services): the store polls every second of TestClock time, and `TestClock.adjust`
 * drives it.
 */
import { PersistedQueue } from "@effect/experimental"
import { SqlError, SqlPersistedQueue, SqlResolver } from "@effect/sql"
import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it } from "@effect/vitest"
import { Array, Effect, Fiber, Layer, Option, Schema, TestClock, TestServices } from "effect"
import * as Pg from "./support/pg.js"

const Item = Schema.Struct({
  n: Schema.BigInt
})

/**
 * upstream's `suite(client)` layer (`PersistedQueue.layer` on `SqlPersistedQueue.layerStore()`,
 * merged with the client), with a queue table and an application_name of the test's own; the table
 * is dropped and the backends counted (live clock) once the layer is released.
 */
const withQueue = <A, E, R>(prefix: string, effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const app = Pg.unique(prefix)
    const tableName = Pg.unique("effect_queue")
    const layer = PersistedQueue.layer.pipe(
      Layer.provide(SqlPersistedQueue.layerStore({ tableName })),
      Layer.provideMerge(Pg.clientLayer(app))
    )
    yield* Pg.dropping([tableName], Effect.provide(effect, layer))
    yield* TestServices.provideLive(Pg.noBackendLeft(app))
  })

// upstream: packages/sql/test/SqlPersistedQueueTest.ts, it.layer(layer)("SqlPersistedQueue", …),
// run by packages/sql-pg/test/SqlPersistedQueue.test.ts with PgContainer.ClientLive
describe("SqlPersistedQueue (upstream SqlPersistedQueueTest.ts via sql-pg SqlPersistedQueue.test.ts)", () => {
  // upstream: "offer + take"
  it.effect("offer + take", () =>
    withQueue(
      "sqlq_offer",
      Effect.gen(function*() {
        const queue = yield* PersistedQueue.make({
          name: "test-queue-a",
          schema: Item
        })

        yield* queue.offer({ n: 42n })
        yield* queue.take((value) =>
          Effect.sync(() => {
            assert.strictEqual(value.n, 42n)
          })
        )
      })
    ))

  // upstream: "interrupt"
  it.effect("interrupt", () =>
    withQueue(
      "sqlq_interrupt",
      Effect.gen(function*() {
        const queue = yield* PersistedQueue.make({
          name: "test-queue-b",
          schema: Item
        })

        yield* queue.offer({ n: 42n })

        const latch = Effect.unsafeMakeLatch()
        const fiber = yield* queue.take(Effect.fnUntraced(function*(_value) {
          yield* latch.open
          return yield* Effect.never
        })).pipe(Effect.fork)

        const fiber2 = yield* queue.take((val) => Effect.succeed(val)).pipe(Effect.fork)

        yield* latch.await

        // allow some real time to pass to ensure the second take is really
        // waiting
        yield* TestClock.adjust(1000)
        yield* Effect.sleep(1000).pipe(
          TestServices.provideLive
        )
        assert.isNull(fiber2.unsafePoll())

        yield* Fiber.interrupt(fiber)

        yield* TestClock.adjust(1000)

        assert.strictEqual((yield* Fiber.join(fiber2)).n, 42n)
      })
    ))

  // upstream: "failure"
  it.effect("failure", () =>
    withQueue(
      "sqlq_failure",
      Effect.gen(function*() {
        const queue = yield* PersistedQueue.make({
          name: "test-queue-c",
          schema: Item
        })

        yield* queue.offer({ n: 42n })

        const error = yield* queue.take(() => Effect.fail("boom")).pipe(Effect.flip)
        assert.strictEqual(error, "boom")

        const value = yield* queue.take((val, { attempts }) => {
          assert.strictEqual(attempts, 1)
          return Effect.succeed(val)
        })
        assert.strictEqual(value.n, 42n)
      })
    ))

  // upstream: "idempotent offer"
  it.effect("idempotent offer", () =>
    withQueue(
      "sqlq_idempotent",
      Effect.gen(function*() {
        const queue = yield* PersistedQueue.make({
          name: "idempotent-offer",
          schema: Item
        })

        yield* queue.offer({ n: 42n }, { id: "custom-id" })
        yield* queue.offer({ n: 42n }, { id: "custom-id" })
        yield* queue.take((value) =>
          Effect.sync(() => {
            assert.strictEqual(value.n, 42n)
          })
        )
        const fiber = yield* queue.take((value) =>
          Effect.sync(() => {
            assert.strictEqual(value.n, 42n)
          })
        ).pipe(Effect.fork)

        yield* TestClock.adjust(1000)
        yield* Effect.sleep(1000).pipe(
          TestServices.provideLive
        )

        assert.isNull(fiber.unsafePoll())
      })
    ))
})

/**
 * upstream's `seededClient`: a table with ids 1..100 named `name<id>`, inserted one by one; the
 * next id without one given is 101 (SQLite's rowid; here the identity, moved past the seed).
 */
const withSeeded = <A, E, R>(prefix: string, f: (table: string) => Effect.Effect<A, E, R>) =>
  Pg.withTable(
    "id integer generated by default as identity primary key, name text",
    (table) =>
      Pg.withClient(prefix, () =>
        Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          yield* Effect.forEach(
            Array.range(1, 100),
            (id) => sql`INSERT INTO ${sql(table)} ${sql.insert({ id, name: `name${id}` })}`
          )
          yield* sql`SELECT setval(pg_get_serial_sequence(${table}, 'id'), 100)`
          return yield* f(table)
        }))
  )

const Row = Schema.Struct({ id: Schema.Number, name: Schema.String })

// upstream: packages/sql-sqlite-node/test/Resolver.test.ts, describe("Resolver", …)
describe("SqlResolver (upstream sql-sqlite-node Resolver.test.ts, on PostgreSQL)", () => {
  // upstream: describe("ordered") / "insert"
  it.live("ordered: insert", () =>
    withSeeded("sqlr_ordered_insert", (table) =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const batches: Array<Array<string>> = []
        const Insert = yield* SqlResolver.ordered("Insert", {
          Request: Schema.String,
          Result: Row,
          execute: (names) => {
            batches.push(names)
            return sql`INSERT INTO ${sql(table)} ${sql.insert(names.map((name) => ({ name })))} RETURNING *`
          }
        })
        assert.deepStrictEqual(
          yield* Effect.all({
            one: Insert.execute("one"),
            two: Insert.execute("two")
          }, { batching: true }),
          {
            one: { id: 101, name: "one" },
            two: { id: 102, name: "two" }
          }
        )
        assert.deepStrictEqual(batches, [["one", "two"]])
      })))

  // upstream: describe("ordered") / "result length mismatch"
  it.live("ordered: result length mismatch", () =>
    withSeeded("sqlr_ordered_mismatch", (table) =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const batches: Array<Array<number>> = []
        const Select = yield* SqlResolver.ordered("Select", {
          Request: Schema.Number,
          Result: Row,
          execute: (ids) => {
            batches.push(ids)
            return sql`SELECT * FROM ${sql(table)} WHERE id IN ${sql.in(ids)}`
          }
        })
        const error = yield* Effect.all([
          Select.execute(1),
          Select.execute(2),
          Select.execute(3),
          Select.execute(101)
        ], { batching: true })
          .pipe(Effect.flip)
        assert(error instanceof SqlError.ResultLengthMismatch)
        assert.strictEqual(error.actual, 3)
        assert.strictEqual(error.expected, 4)
        assert.deepStrictEqual(batches, [[1, 2, 3, 101]])
      })))

  // upstream: describe("grouped") / "find by name" and "using raw rows"
  for (
    const [name, key] of [
      ["find by name", (result: { readonly name: string }) => result.name],
      ["using raw rows", (_: unknown, raw: unknown) => (raw as { readonly name: string }).name]
    ] as const
  ) {
    it.live(`grouped: ${name}`, () =>
      withSeeded("sqlr_grouped", (table) =>
        Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          const FindByName = yield* SqlResolver.grouped("FindByName", {
            Request: Schema.String,
            RequestGroupKey: (name) => name,
            Result: Row,
            ResultGroupKey: key,
            execute: (names) => sql`SELECT * FROM ${sql(table)} WHERE name IN ${sql.in(names)}`
          })
          yield* sql`INSERT INTO ${sql(table)} ${sql.insert({ name: "name1" })}`
          const found = yield* Effect.all({
            one: FindByName.execute("name1"),
            two: FindByName.execute("name2"),
            three: FindByName.execute("name0")
          }, { batching: true })
          // upstream relies on SQLite's row order; PostgreSQL's is unspecified without ORDER BY
          assert.deepStrictEqual(
            { ...found, one: [...found.one].sort((a, b) => a.id - b.id) },
            {
              one: [{ id: 1, name: "name1" }, { id: 101, name: "name1" }],
              two: [{ id: 2, name: "name2" }],
              three: []
            }
          )
        })))
  }

  // upstream: describe("findById") / "find by id" and "using raw rows"
  for (
    const [name, id] of [
      ["find by id", (result: { readonly id: number }) => result.id],
      ["using raw rows", (_: unknown, raw: unknown) => (raw as { readonly id: number }).id]
    ] as const
  ) {
    it.live(`findById: ${name}`, () =>
      withSeeded("sqlr_find_by_id", (table) =>
        Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          const FindById = yield* SqlResolver.findById("FindById", {
            Id: Schema.Number,
            Result: Row,
            ResultId: id,
            execute: (ids) => sql`SELECT * FROM ${sql(table)} WHERE id IN ${sql.in(ids)}`
          })
          assert.deepStrictEqual(
            yield* Effect.all({
              one: FindById.execute(1),
              two: FindById.execute(2),
              three: FindById.execute(101)
            }, { batching: true }),
            {
              one: Option.some({ id: 1, name: "name1" }),
              two: Option.some({ id: 2, name: "name2" }),
              three: Option.none()
            }
          )
        })))
  }
})
