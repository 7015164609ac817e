/**
 * @effect/sql's `Migrator` on `RedialPgClient`, against the real server: `Migrator.make({})` with
 * `Migrator.fromRecord` runs the migrations in id order inside one transaction (under
 * `LOCK TABLE … IN ACCESS EXCLUSIVE MODE`) and records a row per migration; a second run does
 * nothing, a new migration runs alone; a failing migration rolls back everything (no row, no
 * table); two migrators at once run each migration once; and @effect/sql-pg's `PgMigrator.run`
 * (which needs the `PgClient` tag) runs on this client unchanged. Each test has a migrations table
 * and tables of its own (the `table` option), and checks that no backend is left.
 */
import * as CommandExecutor from "@effect/platform/CommandExecutor"
import * as FileSystem from "@effect/platform/FileSystem"
import * as Path from "@effect/platform/Path"
import { PgMigrator } from "@effect/sql-pg"
import * as Migrator from "@effect/sql/Migrator"
import * as SqlClient from "@effect/sql/SqlClient"
import { describe, expect, it } from "@effect/vitest"
import { Cause, Effect, Exit, Layer, Option } from "effect"
import * as Pg from "./support/pg.js"

const run = Migrator.make({})

/** The rows of a migrations table, read by the admin session. */
const recorded = (table: string) =>
  Effect.map(
    Pg.admin<{ migration_id: number; name: string; created_at: Date }>(
      `select migration_id, name, created_at from ${table} order by migration_id`
    ),
    (r) => r.rows.map((row) => [row.migration_id, row.name, row.created_at instanceof Date] as const)
  )

const exists = (table: string) =>
  Effect.map(Pg.admin<{ t: string | null }>("select to_regclass($1)::text as t", [table]), (r) => r.rows[0]!.t !== null)

/** Migrations that create `people` and fill it (the same as a project's first two). */
const migrations = (people: string) => ({
  "1_create_people": Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* sql`create table ${sql(people)} (id serial primary key, name text not null)`
  }),
  "2_add_people": Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* sql`insert into ${sql(people)} ${sql.insert([{ name: "Tim" }, { name: "John" }])}`
  })
})

describe("Migrator", () => {
  it.live("Migrator.make({}) with fromRecord runs the migrations in order and records a row for each; a second run does nothing; a new one runs alone", () =>
    Effect.gen(function*() {
      const table = Pg.unique("effect_sql_migrations")
      const people = Pg.unique("people")
      yield* Pg.dropping(
        [table, people],
        Pg.withClient("sqlmig_run", () =>
          Effect.gen(function*() {
            const sql = yield* SqlClient.SqlClient
            const first = yield* run({ loader: Migrator.fromRecord(migrations(people)), table })
            expect(first).toEqual([[1, "create_people"], [2, "add_people"]])
            expect(yield* recorded(table)).toEqual([[1, "create_people", true], [2, "add_people", true]])
            expect(yield* sql`select name from ${sql(people)} order by id`).toEqual([{ name: "Tim" }, { name: "John" }])

            expect(yield* run({ loader: Migrator.fromRecord(migrations(people)), table })).toEqual([])
            expect(yield* sql`select count(*)::int as n from ${sql(people)}`).toEqual([{ n: 2 }])

            const third = yield* run({
              loader: Migrator.fromRecord({
                ...migrations(people),
                "3_add_age": Effect.gen(function*() {
                  const sql = yield* SqlClient.SqlClient
                  yield* sql`alter table ${sql(people)} add column age int`
                })
              }),
              table
            })
            expect(third).toEqual([[3, "add_age"]])
            expect((yield* recorded(table)).map(([id]) => id)).toEqual([1, 2, 3])
          }), { size: 2 })
      )
    }))

  it.live("a failing migration rolls everything back: no row recorded, no table made; the client serves after", () =>
    Effect.gen(function*() {
      const table = Pg.unique("effect_sql_migrations")
      const people = Pg.unique("people")
      yield* Pg.dropping(
        [table, people],
        Pg.withClient("sqlmig_fail", () =>
          Effect.gen(function*() {
            const sql = yield* SqlClient.SqlClient
            const exit = yield* Effect.exit(run({
              loader: Migrator.fromRecord({
                ...migrations(people),
                "3_broken": Effect.gen(function*() {
                  const sql = yield* SqlClient.SqlClient
                  yield* sql`select * from ${sql(Pg.unique("no_such_table"))}`
                })
              }),
              table
            }))
            // Migrator runs a migration with orDie: a MigrationError defect naming it
            expect(Exit.isFailure(exit) && Cause.isDie(exit.cause)).toBe(true)
            const defect = Exit.isFailure(exit) ? Option.getOrUndefined(Cause.dieOption(exit.cause)) : undefined
            expect(defect).toBeInstanceOf(Migrator.MigrationError)
            expect((defect as Migrator.MigrationError).message).toBe(`Migration "3_broken" failed`)
            // the migrations table is made outside the transaction; its rows and `people` are not
            expect(yield* recorded(table)).toEqual([])
            expect(yield* exists(people)).toBe(false)
            expect(yield* sql`select 1 as one`).toEqual([{ one: 1 }])
          }), { size: 1 })
      )
    }))

  it.live("two migrators at once: the lock makes one wait, each migration runs once", () =>
    Effect.gen(function*() {
      const table = Pg.unique("effect_sql_migrations")
      const people = Pg.unique("people")
      yield* Pg.dropping(
        [table, people],
        Pg.withClient("sqlmig_concurrent", () =>
          Effect.gen(function*() {
            const sql = yield* SqlClient.SqlClient
            // the migrations table first (each run would create it: two CREATEs race)
            yield* run({ loader: Migrator.fromRecord({}), table })
            const [a, b] = yield* Effect.all([
              run({ loader: Migrator.fromRecord(migrations(people)), table }),
              run({ loader: Migrator.fromRecord(migrations(people)), table })
            ], { concurrency: 2 })
            expect([a.length, b.length].sort()).toEqual([0, 2])
            expect((yield* recorded(table)).map(([id]) => id)).toEqual([1, 2])
            expect(yield* sql`select count(*)::int as n from ${sql(people)}`).toEqual([{ n: 2 }])
          }), { size: 2 })
      )
    }))

  it.live("@effect/sql-pg's PgMigrator.run runs on this client (PgClient tag), no schema dump asked for", () =>
    Effect.gen(function*() {
      const table = Pg.unique("effect_sql_migrations")
      const people = Pg.unique("people")
      // PgMigrator.run needs the platform's services in its type; they are used only to dump the
      // schema (schemaDirectory), which this run does not ask for.
      const platform = Layer.mergeAll(
        FileSystem.layerNoop({}),
        Path.layer,
        Layer.succeed(
          CommandExecutor.CommandExecutor,
          CommandExecutor.makeExecutor(() => Effect.dieMessage("no command runs in this test"))
        )
      )
      yield* Pg.dropping(
        [table, people],
        Pg.withClient("sqlmig_pgmigrator", () =>
          Effect.gen(function*() {
            const done = yield* PgMigrator.run({ loader: PgMigrator.fromRecord(migrations(people)), table }).pipe(
              Effect.provide(platform)
            )
            expect(done).toEqual([[1, "create_people"], [2, "add_people"]])
            expect(yield* recorded(table)).toEqual([[1, "create_people", true], [2, "add_people", true]])
          }), { size: 1 })
      )
    }))
})
