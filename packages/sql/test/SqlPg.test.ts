/**
 * @effect/sql-pg's own test cases (Effect-TS/effect, branch v3, packages/sql-pg/test/Client.test.ts)
 * run against `RedialPgClient.layer` on the shared server instead of a testcontainers PostgreSQL:
 * the same queries and the same expected results. Each upstream `it.layer(…)` block is a
 * `describe` here, each upstream case a test of the same name (upstream shares one layer per
 * block; here every test has a client of its own, with a unique application_name, and checks that
 * no backend of it is left once the client is released).
 *
 * The upstream cases that only compile a statement (`.compile()`) prove that the client wires
 * @effect/sql-pg's compiler (`PgClient.makeCompiler` with the client's `transformQueryNames` and
 * `transformJson`); each is followed by a case "… runs" (not upstream) that sends the same
 * statement to the server, in a table of the test's own, and checks what comes back.
 */
import { PgClient } from "@effect/sql-pg"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Statement from "@effect/sql/Statement"
import { assert, describe, expect, it } from "@effect/vitest"
import { Config, Effect, Fiber, Redacted, String } from "effect"
import * as Chunk from "effect/Chunk"
import * as Stream from "effect/Stream"
import { parse as parsePgConnectionString } from "pg-connection-string"
import { RedialPgClient } from "../src/index.js"
import * as Pg from "./support/pg.js"

const compilerTransform = PgClient.makeCompiler(String.camelToSnake)
const transformsNested = Statement.defaultTransforms(String.snakeToCamel)
const transforms = Statement.defaultTransforms(String.snakeToCamel, false)

/** upstream's `PgContainer.ClientTransformLive`: result names snake → camel, query names camel → snake. */
const transformOptions = {
  transformResultNames: String.snakeToCamel,
  transformQueryNames: String.camelToSnake
} as const

/** upstream's `people` table, as a table of the test's own. */
const people = "id text primary key, name text, first_name text, age int, json jsonb, created_at timestamptz"

// upstream: it.layer(PgContainer.ClientLive)("PgClient", …)
describe("PgClient (upstream Client.test.ts, ClientLive)", () => {
  // upstream: "insert helper"
  it.live("insert helper", () =>
    Pg.withClient("sqlpg_insert", () =>
      Effect.gen(function*() {
        const sql = yield* PgClient.PgClient
        const [query, params] = sql`INSERT INTO people ${sql.insert({ name: "Tim", age: 10 })}`.compile()
        expect(query).toEqual(`INSERT INTO people ("name","age") VALUES ($1,$2)`)
        expect(params).toEqual(["Tim", 10])
      })))

  it.live("insert helper runs (not upstream: the same statement on the server)", () =>
    Pg.withTable(people, (table) =>
      Pg.withClient("sqlpg_insert_run", () =>
        Effect.gen(function*() {
          const sql = yield* PgClient.PgClient
          yield* sql`INSERT INTO ${sql(table)} ${sql.insert({ id: "1", name: "Tim", age: 10 })}`
          yield* sql`INSERT INTO ${sql(table)} ${sql.insert([{ id: "2", name: "John", age: 20 }])}`
          expect(yield* sql`SELECT id, name, age FROM ${sql(table)} ORDER BY id`).toEqual([
            { id: "1", name: "Tim", age: 10 },
            { id: "2", name: "John", age: 20 }
          ])
          const returned = yield* sql`INSERT INTO ${sql(table)} ${
            sql.insert({ id: "3", name: "Ann", age: 30 }).returning("name")
          }`
          expect(returned).toEqual([{ name: "Ann" }])
        }))))

  // upstream: "updateValues helper"
  it.live("updateValues helper", () =>
    Pg.withClient("sqlpg_update_values", () =>
      Effect.gen(function*() {
        const sql = yield* PgClient.PgClient
        const [query, params] = sql`UPDATE people SET name = data.name FROM ${
          sql.updateValues(
            [{ name: "Tim" }, { name: "John" }],
            "data"
          )
        }`.compile()
        expect(query).toEqual(
          `UPDATE people SET name = data.name FROM (values ($1),($2)) AS data("name")`
        )
        expect(params).toEqual(["Tim", "John"])
      })))

  // upstream: "updateValues helper returning"
  it.live("updateValues helper returning", () =>
    Pg.withClient("sqlpg_update_values_ret", () =>
      Effect.gen(function*() {
        const sql = yield* PgClient.PgClient
        const [query, params] = sql`UPDATE people SET name = data.name FROM ${
          sql.updateValues(
            [{ name: "Tim" }, { name: "John" }],
            "data"
          ).returning("*")
        }`.compile()
        expect(query).toEqual(
          `UPDATE people SET name = data.name FROM (values ($1),($2)) AS data("name") RETURNING *`
        )
        expect(params).toEqual(["Tim", "John"])
      })))

  it.live("updateValues helper runs (not upstream: keyed by id, returning)", () =>
    Pg.withTable(people, (table) =>
      Pg.withClient("sqlpg_update_values_run", () =>
        Effect.gen(function*() {
          const sql = yield* PgClient.PgClient
          yield* sql`INSERT INTO ${sql(table)} ${sql.insert([{ id: "1", name: "a" }, { id: "2", name: "b" }])}`
          const updated = yield* sql<{ id: string; name: string }>`UPDATE ${sql(table)} SET name = data.name FROM ${
            sql.updateValues([{ id: "1", name: "Tim" }, { id: "2", name: "John" }], "data")
          } WHERE ${sql(table)}.id = data.id RETURNING ${sql(table)}.id, ${sql(table)}.name`
          expect([...updated].sort((a, b) => a.id.localeCompare(b.id))).toEqual([
            { id: "1", name: "Tim" },
            { id: "2", name: "John" }
          ])
          const returned = yield* sql`UPDATE ${sql(table)} SET name = data.name FROM ${
            sql.updateValues([{ name: "Same" }], "data").returning("*")
          }`
          // RETURNING * of an UPDATE … FROM: the table's columns and the values' (name twice)
          expect(returned).toHaveLength(2)
        }))))

  // upstream: "update helper"
  it.live("update helper", () =>
    Pg.withClient("sqlpg_update", () =>
      Effect.gen(function*() {
        const sql = yield* PgClient.PgClient
        let result = sql`UPDATE people SET ${sql.update({ name: "Tim" })}`.compile()
        expect(result[0]).toEqual(`UPDATE people SET "name" = $1`)
        expect(result[1]).toEqual(["Tim"])

        result = sql`UPDATE people SET ${sql.update({ name: "Tim", age: 10 }, ["age"])}`.compile()
        expect(result[0]).toEqual(`UPDATE people SET "name" = $1`)
        expect(result[1]).toEqual(["Tim"])
      })))

  // upstream: "update helper returning"
  it.live("update helper returning", () =>
    Pg.withClient("sqlpg_update_ret", () =>
      Effect.gen(function*() {
        const sql = yield* PgClient.PgClient
        const result = sql`UPDATE people SET ${sql.update({ name: "Tim" }).returning("*")}`.compile()
        expect(result[0]).toEqual(`UPDATE people SET "name" = $1 RETURNING *`)
        expect(result[1]).toEqual(["Tim"])
      })))

  it.live("update helper runs (not upstream: omitted keys left alone, returning)", () =>
    Pg.withTable(people, (table) =>
      Pg.withClient("sqlpg_update_run", () =>
        Effect.gen(function*() {
          const sql = yield* PgClient.PgClient
          yield* sql`INSERT INTO ${sql(table)} ${sql.insert({ id: "1", name: "a", age: 1 })}`
          yield* sql`UPDATE ${sql(table)} SET ${sql.update({ name: "Tim", age: 10 }, ["age"])} WHERE id = ${"1"}`
          expect(yield* sql`SELECT name, age FROM ${sql(table)}`).toEqual([{ name: "Tim", age: 1 }])
          const returned = yield* sql`UPDATE ${sql(table)} SET ${sql.update({ age: 11 }).returning("*")}`
          expect(returned).toMatchObject([{ id: "1", name: "Tim", age: 11 }])
        }))))

  // upstream: "array helper"
  it.live("array helper", () =>
    Pg.withClient("sqlpg_array", () =>
      Effect.gen(function*() {
        const sql = yield* PgClient.PgClient
        const [query, params] = sql`SELECT * FROM ${sql("people")} WHERE id IN ${sql.in([1, 2, "string"])}`.compile()
        expect(query).toEqual(`SELECT * FROM "people" WHERE id IN ($1,$2,$3)`)
        expect(params).toEqual([1, 2, "string"])
      })))

  // upstream: "array helper with column"
  it.live("array helper with column", () =>
    Pg.withClient("sqlpg_array_column", () =>
      Effect.gen(function*() {
        const sql = yield* PgClient.PgClient
        let result = sql`SELECT * FROM ${sql("people")} WHERE ${sql.in("id", [1, 2, "string"])}`.compile()
        expect(result[0]).toEqual(`SELECT * FROM "people" WHERE "id" IN ($1,$2,$3)`)
        expect(result[1]).toEqual([1, 2, "string"])

        result = sql`SELECT * FROM ${sql("people")} WHERE ${sql.in("id", [])}`.compile()
        expect(result[0]).toEqual(`SELECT * FROM "people" WHERE 1=0`)
        expect(result[1]).toEqual([])
      })))

  it.live("array helpers run (not upstream: the same IN lists against a text id, and the empty list)", () =>
    Pg.withTable(people, (table) =>
      Pg.withClient("sqlpg_array_run", () =>
        Effect.gen(function*() {
          const sql = yield* PgClient.PgClient
          yield* sql`INSERT INTO ${sql(table)} ${sql.insert([{ id: "1" }, { id: "2" }, { id: "string" }, { id: "3" }])}`
          const ids = (rows: ReadonlyArray<{ readonly id: unknown }>) => rows.map((r) => r.id).sort()
          expect(ids(yield* sql<{ id: string }>`SELECT * FROM ${sql(table)} WHERE id IN ${sql.in([1, 2, "string"])}`))
            .toEqual(["1", "2", "string"])
          expect(ids(yield* sql<{ id: string }>`SELECT * FROM ${sql(table)} WHERE ${sql.in("id", [1, 2, "string"])}`))
            .toEqual(["1", "2", "string"])
          expect(yield* sql`SELECT * FROM ${sql(table)} WHERE ${sql.in("id", [])}`).toEqual([])
        }))))

  // upstream: "and"
  it.live("and", () =>
    Pg.withClient("sqlpg_and", () =>
      Effect.gen(function*() {
        const sql = yield* PgClient.PgClient
        const now = new Date()
        const result = sql`SELECT * FROM ${sql("people")} WHERE ${
          sql.and([
            sql.in("name", ["Tim", "John"]),
            sql`created_at < ${now}`
          ])
        }`.compile()
        expect(result[0]).toEqual(`SELECT * FROM "people" WHERE ("name" IN ($1,$2) AND created_at < $3)`)
        expect(result[1]).toEqual(["Tim", "John", now])
      })))

  it.live("and runs (not upstream: a Date parameter against timestamptz)", () =>
    Pg.withTable(people, (table) =>
      Pg.withClient("sqlpg_and_run", () =>
        Effect.gen(function*() {
          const sql = yield* PgClient.PgClient
          const then = new Date("2020-01-01T00:00:00Z")
          yield* sql`INSERT INTO ${sql(table)} ${
            sql.insert([
              { id: "1", name: "Tim", created_at: then },
              { id: "2", name: "John", created_at: new Date("2030-01-01T00:00:00Z") },
              { id: "3", name: "Ann", created_at: then }
            ])
          }`
          const now = new Date()
          const rows = yield* sql<{ id: string; created_at: Date }>`SELECT id, created_at FROM ${sql(table)} WHERE ${
            sql.and([
              sql.in("name", ["Tim", "John"]),
              sql`created_at < ${now}`
            ])
          }`
          expect(rows).toEqual([{ id: "1", created_at: then }])
        }))))

  // upstream: "transform nested" (Statement.defaultTransforms alone, no client)
  it("transform nested", () => {
    assert.deepEqual(
      transformsNested.array([
        {
          a_key: 1,
          nested: [{ b_key: 2 }],
          arr_primitive: [1, "2", true]
        }
      ]) as unknown,
      [
        {
          aKey: 1,
          nested: [{ bKey: 2 }],
          arrPrimitive: [1, "2", true]
        }
      ]
    )
  })

  // upstream: "transform non nested" (Statement.defaultTransforms alone, no client)
  it("transform non nested", () => {
    assert.deepEqual(
      transforms.array([
        {
          a_key: 1,
          nested: [{ b_key: 2 }],
          arr_primitive: [1, "2", true]
        }
      ]) as unknown,
      [
        {
          aKey: 1,
          nested: [{ b_key: 2 }],
          arrPrimitive: [1, "2", true]
        }
      ]
    )

    assert.deepEqual(
      transforms.array([
        {
          json_field: {
            test_value: [1, true, null, "text"],
            test_nested: {
              test_value: [1, true, null, "text"]
            }
          }
        }
      ]) as unknown,
      [
        {
          jsonField: {
            test_value: [1, true, null, "text"],
            test_nested: {
              test_value: [1, true, null, "text"]
            }
          }
        }
      ]
    )
  })

  const nestedRow = `select 1 as a_key, '[{"b_key": 2}]'::jsonb as nested, '[1, "2", true]'::jsonb as arr_primitive`

  it.live("transform nested through the client (not upstream: the same rows from the server)", () =>
    Pg.withClient("sqlpg_transform_nested", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        assert.deepEqual(yield* sql.unsafe(nestedRow), [
          { aKey: 1, nested: [{ bKey: 2 }], arrPrimitive: [1, "2", true] }
        ])
      }), { transformResultNames: String.snakeToCamel }))

  it.live("transform non nested through the client (not upstream: transformJson false)", () =>
    Pg.withClient("sqlpg_transform_flat", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        assert.deepEqual(yield* sql.unsafe(nestedRow), [
          { aKey: 1, nested: [{ b_key: 2 }], arrPrimitive: [1, "2", true] }
        ])
        assert.deepEqual(
          yield* sql.unsafe(
            `select '{"test_value": [1, true, null, "text"], "test_nested": {"test_value": [1, true, null, "text"]}}'::jsonb as json_field`
          ),
          [{
            jsonField: {
              test_value: [1, true, null, "text"],
              test_nested: { test_value: [1, true, null, "text"] }
            }
          }]
        )
      }), { transformResultNames: String.snakeToCamel, transformJson: false }))

  // upstream: "insert fragments"
  it.live("insert fragments", () =>
    Pg.withClient("sqlpg_insert_fragments", () =>
      Effect.gen(function*() {
        const sql = yield* PgClient.PgClient
        const [query, params] = sql`INSERT INTO people ${
          sql.insert({
            name: "Tim",
            age: 10,
            json: sql.json({ a: 1 })
          })
        }`.compile()
        assert.strictEqual(
          query,
          "INSERT INTO people (\"name\",\"age\",\"json\") VALUES ($1,$2,$3)"
        )
        assert.lengthOf(params, 3)
      })))

  // upstream: "update fragments"
  it.live("update fragments", () =>
    Pg.withClient("sqlpg_update_fragments", () =>
      Effect.gen(function*() {
        const sql = yield* PgClient.PgClient
        const now = new Date()
        const [query, params] = sql`UPDATE people SET json = data.json FROM ${
          sql.updateValues(
            [{ json: sql.json({ a: 1 }) }, { json: sql.json({ b: 1 }) }],
            "data"
          )
        } WHERE created_at > ${now}`.compile()
        assert.strictEqual(
          query,
          `UPDATE people SET json = data.json FROM (values ($1),($2)) AS data("json") WHERE created_at > $3`
        )
        assert.lengthOf(params, 3)
      })))

  it.live("json fragments run (not upstream: sql.json in insert and updateValues, read back as objects)", () =>
    Pg.withTable(people, (table) =>
      Pg.withClient("sqlpg_json_run", () =>
        Effect.gen(function*() {
          const sql = yield* PgClient.PgClient
          yield* sql`INSERT INTO ${sql(table)} ${
            sql.insert({ id: "1", name: "Tim", age: 10, json: sql.json({ a: 1, nested: [1, "x", null] }) })
          }`
          expect(yield* sql`SELECT json FROM ${sql(table)}`).toEqual([{ json: { a: 1, nested: [1, "x", null] } }])
          // a VALUES list's parameters are text to the server: the cast is the statement's
          yield* sql`UPDATE ${sql(table)} SET json = data.json::jsonb FROM ${
            sql.updateValues([{ id: "1", json: sql.json({ b: 1 }) }], "data")
          } WHERE ${sql(table)}.id = data.id AND created_at IS NULL`
          expect(yield* sql`SELECT json FROM ${sql(table)}`).toEqual([{ json: { b: 1 } }])
        }))))

  // upstream: "onDialect"
  it.live("onDialect", () =>
    Pg.withClient("sqlpg_dialect", () =>
      Effect.gen(function*() {
        const sql = yield* PgClient.PgClient
        assert.strictEqual(
          sql.onDialect({
            sqlite: () => "A",
            pg: () => "B",
            mysql: () => "C",
            mssql: () => "D",
            clickhouse: () => "E"
          }),
          "B"
        )
        assert.strictEqual(
          sql.onDialectOrElse({
            orElse: () => "A",
            pg: () => "B"
          }),
          "B"
        )
      })))

  // upstream: "identifier transform" (a compiler of its own on the client's statement)
  it.live("identifier transform", () =>
    Pg.withClient("sqlpg_identifier", () =>
      Effect.gen(function*() {
        const sql = yield* PgClient.PgClient
        const [query] = compilerTransform.compile(
          sql`SELECT * from ${sql("peopleTest")}`,
          false
        )
        expect(query).toEqual(`SELECT * from "people_test"`)
      })))

  // upstream: "jsonb"
  it.live("jsonb", () =>
    Pg.withClient("sqlpg_jsonb", () =>
      Effect.gen(function*() {
        const sql = yield* PgClient.PgClient
        const rows = yield* sql<{ json: unknown }>`select ${{ testValue: 123 }}::jsonb as json`
        expect(rows[0]!.json).toEqual({ testValue: 123 })
      })))

  // upstream: "stream"
  it.live("stream", () =>
    Pg.withClient("sqlpg_stream", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const rows = yield* sql`SELECT generate_series(1, 3)`.stream.pipe(
          Stream.runCollect,
          Effect.map(Chunk.toReadonlyArray)
        )
        expect(rows).toEqual([
          { "generate_series": 1 },
          { "generate_series": 2 },
          { "generate_series": 3 }
        ])
      })))

  it.live("stream stopped early closes its cursor (not upstream: take 5 of a million, then the connection serves)", () =>
    Pg.withClient("sqlpg_stream_early", (app) =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const rows = yield* sql<{ n: number }>`SELECT n FROM generate_series(1, 1000000) n`.stream.pipe(
          Stream.take(5),
          Stream.runCollect,
          Effect.map(Chunk.toReadonlyArray)
        )
        expect(rows.map((r) => r.n)).toEqual([1, 2, 3, 4, 5])
        // one connection (size 1): it is idle again, and serves the next statement
        expect(yield* sql`select 1 as one`).toEqual([{ one: 1 }])
        const states = yield* Pg.activity(app)
        expect(states.map((s) => s.state)).toEqual(["idle"])
      }), { size: 1 }))
})

// upstream: it.layer(PgContainer.ClientTransformLive)("PgClient transforms", …)
describe("PgClient transforms (upstream Client.test.ts, ClientTransformLive)", () => {
  // upstream: "insert helper"
  it.live("insert helper", () =>
    Pg.withClient("sqlpg_t_insert", () =>
      Effect.gen(function*() {
        const sql = yield* PgClient.PgClient
        const [query, params] = sql`INSERT INTO people ${sql.insert({ firstName: "Tim", age: 10 })}`.compile()
        expect(query).toEqual(`INSERT INTO people ("first_name","age") VALUES ($1,$2)`)
        expect(params).toEqual(["Tim", 10])
      }), transformOptions))

  // upstream: "insert helper withoutTransforms"
  it.live("insert helper withoutTransforms", () =>
    Pg.withClient("sqlpg_t_insert_raw", () =>
      Effect.gen(function*() {
        const sql = (yield* PgClient.PgClient).withoutTransforms()
        const [query, params] = sql`INSERT INTO people ${sql.insert({ first_name: "Tim", age: 10 })}`.compile()
        expect(query).toEqual(`INSERT INTO people ("first_name","age") VALUES ($1,$2)`)
        expect(params).toEqual(["Tim", 10])
      }), transformOptions))

  it.live("transforms run both ways (not upstream: camelCase in, camelCase out; withoutTransforms raw)", () =>
    Pg.withTable(people, (table) =>
      Pg.withClient("sqlpg_t_run", () =>
        Effect.gen(function*() {
          const sql = yield* PgClient.PgClient
          yield* sql`INSERT INTO ${sql(table)} ${sql.insert({ id: "1", firstName: "Tim", age: 10 })}`
          expect(yield* sql`SELECT id, first_name, age FROM ${sql(table)}`).toEqual([
            { id: "1", firstName: "Tim", age: 10 }
          ])
          const raw = sql.withoutTransforms()
          expect(yield* raw`SELECT first_name FROM ${raw(table)}`).toEqual([{ first_name: "Tim" }])
        }), transformOptions)))

  // upstream: "multi-statement queries" (its table test_multi is a table of the test's own here)
  it.live("multi-statement queries", () =>
    Effect.gen(function*() {
      const table = Pg.unique("test_multi")
      yield* Pg.dropping(
        [table],
        Pg.withClient("sqlpg_t_multi", () =>
          Effect.gen(function*() {
            const sql = yield* SqlClient.SqlClient

            const result = yield* sql<{ id: string; name: string }>`
        CREATE TABLE ${sql(table)} (id TEXT PRIMARY KEY, name TEXT);
        INSERT INTO ${sql(table)} (id, name) VALUES ('id1', 'test1') RETURNING *;
        INSERT INTO ${sql(table)} (id, name) VALUES ('id2', 'test2') RETURNING *;
      `

            expect(result).toHaveLength(3)
            expect(result[0]).toEqual([])
            expect(result[1]).toEqual([{ id: "id1", name: "test1" }])
            expect(result[2]).toEqual([{ id: "id2", name: "test2" }])
          }), transformOptions)
      )
    }))

  // upstream: "interruption" (a reserved connection: the interrupted pg_sleep is stopped, the
  // connection serves the next call)
  it.live("interruption", () =>
    Pg.withClient("sqlpg_t_interrupt", () =>
      Effect.scoped(Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const conn = yield* sql.reserve
        yield* conn.executeRaw("select pg_sleep(1000)", []).pipe(
          Effect.timeoutOption("50 millis")
        )
        const value = yield* conn.executeValues("select 1", [])
        expect(value).toEqual([[1]])
      })), transformOptions))

  // upstream: "Should populate config" (the client made from a URL, here through layerConfig).
  // Not ported of it: `assert.isDefined(sql.config.url)`: RedialPgClient's `config` has no `url`
  // (layerConfig resolves the URL into the connect options, which `config` reports).
  it.live("Should populate config", () =>
    Effect.gen(function*() {
      const app = Pg.unique("sqlpg_t_config")
      const url =
        `postgres://postgres:not-a-real-secret@${Pg.server.host}:${Pg.server.port}/test?application_name=${app}`
      yield* Effect.gen(function*() {
        const sql = yield* PgClient.PgClient

        const parsedConfig = parsePgConnectionString(url)

        expect(sql.config.host).toEqual(parsedConfig.host)
        assert.isNotNull(parsedConfig.port)
        assert.isDefined(parsedConfig.port)
        expect(sql.config.port).toEqual(parseInt(parsedConfig.port!))
        expect(sql.config.username).toEqual(parsedConfig.user)
        assert.isDefined(sql.config.password)
        expect(Redacted.value(sql.config.password!)).toEqual(parsedConfig.password)
        expect(sql.config.database).toEqual(parsedConfig.database)
        expect(sql.config.applicationName).toEqual(app)
        // and it connects with them (trust auth: the password is not asked for)
        expect(yield* sql`select current_database() as db`).toEqual([{ db: "test" }])
      }).pipe(
        Effect.provide(RedialPgClient.layerConfig({
          url: Config.succeed(Redacted.make(url)),
          transformResultNames: Config.succeed(String.snakeToCamel),
          transformQueryNames: Config.succeed(String.camelToSnake)
        }))
      )
      yield* Pg.noBackendLeft(app)
    }))
})

// upstream: it.layer(PgContainer.ClientFromPoolLive)("PgClient fromPool", …): @effect/sql-pg's
// client on a pg.Pool of the caller's; here the client's own pool (layerFromPool has no counterpart).
describe("PgClient fromPool (upstream Client.test.ts, ClientFromPoolLive)", () => {
  // upstream: "uses compiler transforms"
  it.live("uses compiler transforms", () =>
    Pg.withClient("sqlpg_p_transforms", () =>
      Effect.gen(function*() {
        const sql = yield* PgClient.PgClient
        const [query] = sql`SELECT * from ${sql("peopleTest")}`.compile()
        expect(query).toEqual(`SELECT * from "people_test"`)
      }), transformOptions))

  // upstream: "Should populate config" (from the pool's options; here from the connect options)
  it.live("Should populate config", () =>
    Pg.withClient("sqlpg_p_config", (app) =>
      Effect.gen(function*() {
        const sql = yield* PgClient.PgClient
        expect(sql.config.host).toEqual(Pg.server.host)
        expect(sql.config.port).toEqual(Pg.server.port)
        expect(sql.config.username).toEqual(Pg.server.user)
        assert.isDefined(sql.config.password)
        expect(Redacted.value(sql.config.password!)).toEqual("not-a-real-secret")
        expect(sql.config.database).toEqual(Pg.server.database)
        expect(sql.config.applicationName).toEqual(app)
        expect(sql.config.maxConnections).toEqual(3)
      }), { ...transformOptions, size: 3, connect: { password: Redacted.make("not-a-real-secret") } }))
})

// upstream: it.layer(PgContainer.ClientSingleConnectionLive)("PgClient listen", …): maxConnections 1
describe("PgClient listen (upstream Client.test.ts, ClientSingleConnectionLive)", () => {
  // upstream: "listen does not reserve a pool connection"
  it.live("listen does not reserve a pool connection", () =>
    Pg.withClient("sqlpg_listen", () =>
      Effect.scoped(Effect.gen(function*() {
        const sql = yield* PgClient.PgClient
        const channel = "pool_connection_listen"

        const listenFiber = yield* sql.listen(channel).pipe(
          Stream.take(1),
          Stream.runCollect,
          Effect.forkScoped
        )

        yield* Effect.sleep("250 millis")

        const rows = yield* sql<{ value: number }>`SELECT 1 as value`.pipe(
          Effect.timeoutFail({
            duration: "3 seconds",
            onTimeout: () => new Error("query timed out while listener was active")
          })
        )
        expect(rows).toEqual([{ value: 1 }])

        yield* sql`SELECT pg_notify(${channel}, ${"payload"})`

        const payloads = yield* Fiber.join(listenFiber).pipe(
          Effect.timeoutFail({
            duration: "3 seconds",
            onTimeout: () => new Error("listener did not receive notification in time")
          })
        )
        expect(Chunk.toReadonlyArray(payloads)).toEqual(["payload"])
      })), { size: 1 }))

  it.live("notify reaches listen, empty payloads skipped, two channels apart (not upstream: sql.notify)", () =>
    Pg.withClient("sqlpg_notify", () =>
      Effect.scoped(Effect.gen(function*() {
        const sql = yield* PgClient.PgClient
        const a = Pg.unique("chan_a")
        const b = Pg.unique("Chan B")
        const onA = yield* Pg.listening(sql, a)
        const onB = yield* Pg.listening(sql, b)
        yield* sql.notify(a, "")
        yield* sql.notify(a, "one")
        yield* sql.notify(b, "for b")
        yield* sql.notify(a, "two")
        expect(yield* onA.take(2)).toEqual(["one", "two"])
        expect(yield* onB.take(1)).toEqual(["for b"])
      })), { size: 1 }))
})
