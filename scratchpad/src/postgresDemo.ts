/**
 * `npm run demo:postgres`: a pool of PostgreSQL connections that survives the server killing all
 * of them, a query cancelled on the server by interrupting its fiber, and Electric's connection
 * manager waiting for a lock that another process holds, then going Active when it lets go.
 *
 * The local server (127.0.0.1:5432, database `test`, user `postgres`, as the tests use it).
 *
 * 1. A pool of 4 serves 8 workers in a loop; every backend of the pool is terminated from
 *    another session (`pg_terminate_backend`). The workers see typed errors for a moment, the
 *    slots reconnect, and the pool serves again: the counts are printed.
 * 2. `SELECT pg_sleep(30)` runs; its fiber is interrupted after 300 ms. The driver sends a
 *    CancelRequest: the server stops the query (pg_stat_activity shows the backend idle) and the
 *    same connection (same backend pid) serves the next query.
 * 3. A second process (`psql`) takes `pg_advisory_lock(hashtext('redial-demo'))` and holds it
 *    for 3 s. A `PgManager` named `redial-demo` stays Waiting, then goes Starting → Active the
 *    moment psql exits and the lock is free.
 *
 * About 10 seconds. It exits 0, or 1 if a step did not happen. REDIAL_DEMO_LOGS=1 also shows
 * redial's own log lines.
 */
import { Reconnect } from "@redial/core"
import { PgPool } from "@redial/postgres"
import * as PgManager from "@redial/postgres/PgManager"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Ref from "effect/Ref"
import * as Stream from "effect/Stream"
import { spawn } from "node:child_process"
import pg from "pg"
import { colour, runDemo, timeline } from "./terminal.js"

const SERVER = { host: "127.0.0.1", port: 5432, database: "test", user: "postgres" } as const
const APP = `redial-demo-${process.pid}`
/** The manager's lock name (one per run, so that two runs never share the lock). */
const LOCK = `redial-demo-${process.pid}`

/** One statement on a session of its own (the "other session" of a DBA). */
const admin = (sql: string, params: ReadonlyArray<unknown> = []) =>
  Effect.acquireUseRelease(
    Effect.tryPromise(async () => {
      const client = new pg.Client({ ...SERVER, application_name: `${APP}-admin` })
      client.on("error", () => undefined)
      await client.connect()
      return client
    }),
    (client) => Effect.tryPromise(() => client.query(sql, params as Array<unknown>)),
    (client) => Effect.promise(() => client.end().catch(() => undefined))
  )

const fail = (message: string) => Effect.fail(new Error(message))

const program = Effect.gen(function*() {
  const { say, step } = yield* timeline

  // ── 1. the pool survives pg_terminate_backend of every connection
  yield* step("a pool of 4, 8 workers; every backend of the pool is terminated")
  const pool = yield* PgPool.make({
    connect: { ...SERVER, applicationName: APP },
    size: 4,
    name: "demo",
    policy: Reconnect.fixed("100 millis"),
    awaitConnected: true
  })
  const counts = yield* Ref.make<Record<string, number>>({})
  const count = (key: string) => Ref.update(counts, (c) => ({ ...c, [key]: (c[key] ?? 0) + 1 }))
  const worker = pool.query("select pg_backend_pid() as pid").pipe(
    Effect.matchEffect({
      onFailure: (error) => count("reason" in error ? `${error._tag} (${error.reason})` : error._tag),
      onSuccess: () => count("ok")
    }),
    Effect.zipRight(Effect.sleep("2 millis")),
    Effect.forever
  )
  const workers = yield* Effect.forkScoped(Effect.all(Array.from({ length: 8 }, () => worker), { concurrency: 8 }))
  yield* Effect.sleep("800 millis")
  yield* Ref.set(counts, {})
  const killed = yield* admin(
    "select count(pg_terminate_backend(pid))::int as n from pg_stat_activity where application_name = $1",
    [APP]
  )
  yield* say(`terminated ${killed.rows[0].n} backends from another session`)
  yield* Effect.sleep("1500 millis")
  yield* Fiber.interrupt(workers)
  const after = yield* Ref.get(counts)
  for (const [outcome, n] of Object.entries(after).sort(([, a], [, b]) => b - a)) {
    const paint = outcome === "ok" ? colour.green : colour.yellow
    yield* say(`  ${paint}${String(n).padStart(6)}${colour.reset} ${outcome}`)
  }
  const stats = yield* pool.stats
  yield* say(`pool after the kill: ${stats.idle + stats.busy} of ${stats.size} connected`)
  if ((after["ok"] ?? 0) === 0) return yield* fail("the pool did not serve after the kill")

  // ── 2. a cancel: interrupting the fiber stops the query on the server
  yield* step("SELECT pg_sleep(30), interrupted after 300 ms")
  const result = yield* pool.run((conn) =>
    Effect.gen(function*() {
      const pid = conn.connection.pid
      const sleeping = yield* Effect.fork(conn.query("select pg_sleep(30)"))
      yield* Effect.sleep("300 millis")
      const before = yield* admin("select state from pg_stat_activity where pid = $1", [pid])
      yield* say(`backend ${pid} is ${before.rows[0]?.state}`)
      const [took] = yield* Effect.timed(Fiber.interrupt(sleeping))
      yield* say(`interrupted: the fiber ended after ${Math.round(Duration.toMillis(took))} ms`)
      const state = yield* admin("select state from pg_stat_activity where pid = $1", [pid])
      yield* say(
        `backend ${pid} is now ${colour.green}${state.rows[0]?.state}${colour.reset} (the server stopped the query)`
      )
      const next = yield* conn.query("select pg_backend_pid() as pid")
      const same = next.rows[0]?.["pid"] === pid
      yield* say(
        `the next query ran on backend ${String(next.rows[0]?.["pid"])}: ${same ? "the same connection" : "another"}`
      )
      return { state: state.rows[0]?.state, same }
    })
  )
  if (result.state !== "idle" || !result.same) return yield* fail("the cancel did not leave the connection idle")

  // ── 3. the manager waits for a lock held by another process
  yield* step(`psql holds pg_advisory_lock(hashtext('${LOCK}')) for 3 s; a PgManager waits for it`)
  const psql = spawn("psql", [
    "-h",
    SERVER.host,
    "-U",
    SERVER.user,
    "-d",
    SERVER.database,
    "-q",
    "-c",
    `select pg_advisory_lock(hashtext('${LOCK}'))`,
    "-c",
    "select pg_sleep(3)"
  ], { stdio: "ignore", env: { ...process.env, PGAPPNAME: `${APP}-psql` } })
  const exited = Effect.async<number | null>((resume) => void psql.once("exit", (code) => resume(Effect.succeed(code))))
  // until psql holds the lock
  yield* admin(
    "select 1 from pg_locks l join pg_stat_activity a using (pid) " +
      "where l.locktype = 'advisory' and l.granted and a.application_name = $1",
    [`${APP}-psql`]
  ).pipe(
    Effect.flatMap((r) => r.rowCount === 0 ? Effect.fail("not yet") : Effect.void),
    Effect.retry({ schedule: Reconnect.fixed("50 millis"), times: 100 })
  )
  yield* say("psql holds the lock")
  const manager = yield* PgManager.make({
    name: LOCK,
    connect: { ...SERVER, applicationName: `${APP}-manager`, sslmode: "disable" },
    pool: { size: 2 }
  })
  yield* manager.changes.pipe(
    Stream.takeUntil((status) => status._tag === "Active"),
    Stream.runForEach((status) =>
      say(`manager: ${status._tag === "Active" ? colour.green : colour.yellow}${status._tag}${colour.reset}`)
    ),
    Effect.forkScoped
  )
  // psql sleeps 3 s with the lock: half-way through, the manager must still be waiting.
  yield* Effect.sleep("1500 millis")
  const meanwhile = yield* manager.status
  if (meanwhile._tag !== "Waiting") return yield* fail(`the manager was ${meanwhile._tag} while psql held the lock`)
  yield* say("the manager is still Waiting while psql holds the lock")
  const code = yield* exited
  yield* say(`psql exited (${code}): the lock is free`)
  const active = yield* manager.awaitActive({ timeout: "10 seconds" })
  const version = yield* manager.serverVersion
  const { rows } = yield* active.query("select count(*)::int as n from pg_stat_activity where application_name = $1", [
    `${APP}-manager`
  ])
  yield* say(`manager Active: server_version_num ${version}; ${rows[0]?.["n"]} backends of the manager (lock + pool)`)
  yield* Effect.sleep(Duration.millis(50))
  console.log("pool survived the kill, the cancel stopped the query, the manager went Waiting → Active")
})

runDemo(program)
