/**
 * The connect path of PgDriver, through PgPool: startup parameters reach the server; fatal
 * connect errors close the pool with their reason after one attempt per slot, without a
 * password in any message or log line; retryable ones retry by the policy; the connect timeout
 * destroys the socket of an attempt that never got an answer; `sslmode: "prefer"` against a
 * server without SSL connects without it (logged once per driver); nothing is left on a server.
 *
 * Where: the shared server (127.0.0.1:5432) when it can; a cluster of this file's own (ssl off, a
 * password user, a `reject` line) for bad passwords, pg_hba rejections and a server without SSL;
 * the fake server for the answers neither can give on demand (57P03, 53300, a reset, a black hole).
 */
import { describe, expect, it, layer } from "@effect/vitest"
import type { Timeout } from "@redial/core"
import { ConnectFailed, Reconnect } from "@redial/core"
import { FaultProxy } from "@redial/testing"
import { Duration, Effect, Fiber, Redacted, Ref } from "effect"
import type { PgError } from "../src/index.js"
import { PgPool } from "../src/index.js"
import * as Cluster from "./support/cluster.js"
import {
  captureLogs,
  eventually,
  expectFatal,
  expectNoSecret,
  failureOf,
  fieldsOf,
  renderings
} from "./support/connectChecks.js"
import * as Fake from "./support/fakeServer.js"
import * as Pg from "./support/pg.js"

const first = <A>(rows: ReadonlyArray<A>): A => rows[0]!

describe("startup parameters reach the shared server", () => {
  it.live("application_name, statement_timeout, lock_timeout, idle_in_transaction_session_timeout", () =>
    Effect.gen(function*() {
      const app = Pg.unique("startup")
      yield* Effect.scoped(Effect.gen(function*() {
        const pool = yield* PgPool.make({
          name: app,
          size: 1,
          awaitConnected: true,
          connect: Pg.config(app, {
            statementTimeout: "300 millis",
            lockTimeout: "1500 millis",
            idleInTransactionSessionTimeout: "1 minute"
          })
        })
        const settings = yield* pool.query(
          `select current_setting('application_name') as app, current_setting('statement_timeout') as st,
                  current_setting('lock_timeout') as lt,
                  current_setting('idle_in_transaction_session_timeout') as it`
        )
        expect(first(settings.rows)).toEqual({ app, st: "300ms", lt: "1500ms", it: "1min" })
        const seen = yield* Pg.admin<{ n: number }>(
          "select count(*)::int as n from pg_stat_activity where application_name = $1",
          [app]
        )
        expect(first(seen.rows).n).toBe(1)
      }))
      yield* eventually(Pg.backends(app), (n) => n === 0)
    }))

  it.live("statement_timeout: a longer pg_sleep fails with 57014 and the connection stays usable", () =>
    Effect.gen(function*() {
      const app = Pg.unique("statement_timeout")
      yield* Effect.scoped(Effect.gen(function*() {
        const pool = yield* PgPool.make({
          name: app,
          size: 1,
          awaitConnected: true,
          connect: Pg.config(app, { statementTimeout: "200 millis" })
        })
        yield* pool.run((conn) =>
          Effect.gen(function*() {
            const before = first((yield* conn.query("select pg_backend_pid() as pid")).rows)["pid"]
            const [elapsed, error] = yield* Effect.timed(failureOf(conn.query("select pg_sleep(5)")))
            expect(fieldsOf(error)).toMatchObject({
              _tag: "PgError",
              code: "57014",
              condition: "query_canceled",
              severity: "ERROR"
            })
            expect(Duration.toMillis(elapsed)).toBeLessThan(3000) // the server's timeout, not the sleep
            const after = first((yield* conn.query("select pg_backend_pid() as pid, 1 as one")).rows)
            expect(after).toEqual({ pid: before, one: 1 })
          })
        )
        // and the pool's next caller gets the same, healthy backend
        expect(first((yield* pool.query("select 2 as two")).rows)).toEqual({ two: 2 })
      }))
      yield* eventually(Pg.backends(app), (n) => n === 0)
    }))

  it.live("lock_timeout: waiting for a lock held by another session fails with 55P03", () =>
    Effect.gen(function*() {
      const app = Pg.unique("lock_timeout")
      const table = Pg.unique("lock_t")
      yield* Pg.admin(`create table ${table} (id int)`)
      yield* Effect.scoped(Effect.gen(function*() {
        const pool = yield* PgPool.make({
          name: app,
          size: 2,
          awaitConnected: true,
          connect: Pg.config(app, { lockTimeout: "200 millis" })
        })
        yield* pool.transaction((holder) =>
          Effect.gen(function*() {
            yield* holder.query(`lock table ${table} in access exclusive mode`)
            const [elapsed, error] = yield* Effect.timed(failureOf(pool.query(`select * from ${table}`)))
            expect(fieldsOf(error)).toMatchObject({ _tag: "PgError", code: "55P03", condition: "lock_not_available" })
            expect((error as PgError.PgError).retryable).toBe(true)
            expect(Duration.toMillis(elapsed)).toBeLessThan(3000)
          })
        )
      })).pipe(Effect.ensuring(Effect.ignore(Pg.admin(`drop table if exists ${table}`))))
      yield* eventually(Pg.backends(app), (n) => n === 0)
    }))

  it.live("options -c search_path=… sets the session's search_path", () =>
    Effect.gen(function*() {
      const app = Pg.unique("options")
      const schema = Pg.unique("redial_schema")
      yield* Pg.admin(`create schema ${schema}`)
      yield* Pg.admin(`create table ${schema}.marker (v text)`)
      yield* Pg.admin(`insert into ${schema}.marker values ('found')`)
      yield* Effect.scoped(Effect.gen(function*() {
        const pool = yield* PgPool.make({
          name: app,
          size: 1,
          awaitConnected: true,
          connect: Pg.config(app, { options: `-c search_path=${schema},public` })
        })
        const result = yield* pool.query("select current_schema() as s, (select v from marker) as v")
        expect(first(result.rows)).toEqual({ s: schema, v: "found" })
      })).pipe(Effect.ensuring(Effect.ignore(Pg.admin(`drop schema if exists ${schema} cascade`))))
      yield* eventually(Pg.backends(app), (n) => n === 0)
    }))

  it.live("a Unix socket host (/var/run/postgresql) connects over the socket", () =>
    Effect.gen(function*() {
      const app = Pg.unique("unix")
      yield* Effect.scoped(Effect.gen(function*() {
        const pool = yield* PgPool.make({
          name: app,
          size: 1,
          awaitConnected: true,
          connect: { host: "/var/run/postgresql", port: 5432, database: "test", user: "postgres", applicationName: app }
        })
        const result = yield* pool.query(
          "select inet_server_addr() as addr, current_setting('application_name') as app"
        )
        expect(first(result.rows)).toEqual({ addr: null, app }) // null: not over TCP
        const client = yield* Pg.admin<{ addr: string | null }>(
          "select client_addr as addr from pg_stat_activity where application_name = $1",
          [app]
        )
        expect(client.rows).toEqual([{ addr: null }])
      }))
      yield* eventually(Pg.backends(app), (n) => n === 0)
    }))
})

describe("fatal connect errors on the shared server", () => {
  it.live("no such database (3D000): the pool closes after one attempt per slot", () =>
    Effect.gen(function*() {
      const app = Pg.unique("no_db")
      const proxy = yield* FaultProxy.make({ target: { port: Pg.server.port } })
      const { closed, elapsed, error } = yield* expectFatal(
        {
          name: app,
          size: 3,
          connect: Pg.config(app, { host: proxy.host, port: proxy.port, database: `no_such_db_${app}` })
        },
        { reason: "InvalidCatalogName", code: "3D000" }
      )
      expect(error.condition).toBe("invalid_catalog_name")
      expect(error.severity).toBe("FATAL")
      expect(closed.message).toContain(`no_such_db_${app}`)
      expect(Duration.toMillis(elapsed)).toBeLessThan(5000)
      // one attempt per slot, and none later (the fixed 50 ms policy would have made many)
      yield* Effect.sleep("300 millis")
      expect((yield* proxy.connections).total).toBe(3)
      yield* eventually(Effect.map(proxy.connections, (c) => c.open), (n) => n === 0)
    }).pipe(Effect.scoped))
})

layer(Cluster.layer(), { excludeTestServices: true, timeout: "60 seconds" })("a cluster of its own (ssl off)", (it) => {
  it.scoped("starts in a few seconds and serves the password user over scram-sha-256", () =>
    Effect.gen(function*() {
      const cluster = yield* Cluster.PgCluster
      yield* Effect.logInfo(Cluster.describeStart(cluster))
      expect(Duration.toMillis(cluster.startedIn)).toBeLessThan(20_000)
      const app = Pg.unique("cluster_ok")
      const pool = yield* PgPool.make({ name: app, size: 1, awaitConnected: true, connect: cluster.config(app) })
      const result = yield* pool.query(
        "select current_user as u, current_setting('password_encryption') as pe, s.ssl from pg_stat_ssl s where s.pid = pg_backend_pid()"
      )
      expect(first(result.rows)).toEqual({ u: Cluster.user, pe: "scram-sha-256", ssl: false })
      const method = yield* cluster.admin<{ scram: boolean }>(
        "select rolpassword like 'SCRAM-SHA-256$%' as scram from pg_authid where rolname = $1",
        [Cluster.user]
      )
      expect(first(method.rows).scram).toBe(true)
    }))

  it.scoped("bad password (28P01): Closed FatalError after one attempt per slot, the password nowhere", () =>
    Effect.gen(function*() {
      const cluster = yield* Cluster.PgCluster
      const app = Pg.unique("bad_password")
      const wrong = `wrong-${Redacted.value(cluster.password)}-x`
      const before = yield* cluster.tcpConnections
      const { closed, error, logs } = yield* expectFatal(
        { name: app, size: 2, connect: cluster.config(app, { password: Redacted.make(wrong) }) },
        { reason: "InvalidAuthorization", code: "28P01" }
      )
      expect(fieldsOf(error)).toMatchObject({ condition: "invalid_password", severity: "FATAL" })
      expect(error.text).toContain(`password authentication failed for user "${Cluster.user}"`)
      yield* Effect.sleep("300 millis")
      expect((yield* cluster.tcpConnections) - before).toBe(2)
      const texts = [...renderings(closed), ...logs]
      expectNoSecret(texts, wrong)
      expectNoSecret(texts, Redacted.value(cluster.password))
      expect(yield* cluster.backends(app)).toBe(0)
    }))

  it.scoped("no password against scram-sha-256: a fatal ClientError, not a retry loop", () =>
    Effect.gen(function*() {
      const cluster = yield* Cluster.PgCluster
      const app = Pg.unique("no_password")
      const before = yield* cluster.tcpConnections
      const { password: _password, ...withoutPassword } = cluster.config(app)
      const { error } = yield* expectFatal(
        { name: app, size: 2, connect: withoutPassword },
        { reason: "ClientError" }
      )
      expect(error.text).toContain("password")
      yield* Effect.sleep("300 millis")
      expect((yield* cluster.tcpConnections) - before).toBe(2)
    }))

  it.scoped("a pg_hba.conf reject line (28000): Closed FatalError after one attempt per slot", () =>
    Effect.gen(function*() {
      const cluster = yield* Cluster.PgCluster
      const app = Pg.unique("hba_reject")
      const before = yield* cluster.tcpConnections
      const { closed, error, logs } = yield* expectFatal(
        { name: app, size: 2, connect: cluster.config(app, { user: Cluster.rejectedUser }) },
        { reason: "InvalidAuthorization", code: "28000" }
      )
      expect(error.text).toContain("pg_hba.conf rejects connection")
      yield* Effect.sleep("300 millis")
      expect((yield* cluster.tcpConnections) - before).toBe(2)
      expectNoSecret([...renderings(closed), ...logs], Redacted.value(cluster.password))
    }))

  it.scoped("sslmode require against a server without SSL: SslNotSupported, fatal, one attempt per slot", () =>
    Effect.gen(function*() {
      const cluster = yield* Cluster.PgCluster
      const app = Pg.unique("require_no_ssl")
      const before = yield* cluster.tcpConnections
      const { closed, logs } = yield* expectFatal(
        { name: app, size: 2, connect: cluster.config(app, { sslmode: "require" }) },
        { reason: "SslNotSupported" }
      )
      yield* Effect.sleep("300 millis")
      expect((yield* cluster.tcpConnections) - before).toBe(2)
      expectNoSecret([...renderings(closed), ...logs], Redacted.value(cluster.password))
    }))

  it.scoped("sslmode prefer against a server without SSL connects without it, logged once per driver", () =>
    Effect.gen(function*() {
      const cluster = yield* Cluster.PgCluster
      const app = Pg.unique("prefer_no_ssl")
      const logs = captureLogs()
      yield* Effect.gen(function*() {
        const pool = yield* PgPool.make({
          name: app,
          size: 3,
          awaitConnected: true,
          minUptime: "1 millis",
          connect: cluster.config(app, { sslmode: "prefer" })
        })
        yield* eventually(cluster.backends(app), (n) => n === 3)
        const ssl = yield* cluster.admin<{ ssl: boolean }>(
          "select s.ssl from pg_stat_ssl s join pg_stat_activity a using (pid) where a.application_name = $1",
          [app]
        )
        expect(ssl.rows).toEqual([{ ssl: false }, { ssl: false }, { ssl: false }])
        // every slot connects again: still one line
        const pids = yield* cluster.admin<{ pid: number }>(
          "select pid from pg_stat_activity where application_name = $1",
          [app]
        )
        yield* pool.disconnectAll
        yield* eventually(
          cluster.admin<{ pid: number }>("select pid from pg_stat_activity where application_name = $1", [app]),
          (r) => r.rows.length === 3 && r.rows.every((row) => !pids.rows.some((old) => old.pid === row.pid))
        )
        expect(first((yield* pool.query("select 1 as one")).rows)).toEqual({ one: 1 })
      }).pipe(Effect.scoped, Effect.provide(logs.layer))
      const fallbacks = logs.lines.filter((line) => line.includes("does not support SSL"))
      expect(fallbacks).toHaveLength(1)
      expect(fallbacks[0]).toMatch(/^INFO /)
      expectNoSecret(logs.lines, Redacted.value(cluster.password))
      yield* eventually(cluster.backends(app), (n) => n === 0)
    }))

  it.scoped("nothing is left on the cluster after a pool's scope ends", () =>
    Effect.gen(function*() {
      const cluster = yield* Cluster.PgCluster
      const app = Pg.unique("cluster_leak")
      yield* Effect.scoped(Effect.gen(function*() {
        const pool = yield* PgPool.make({ name: app, size: 4, awaitConnected: true, connect: cluster.config(app) })
        yield* eventually(cluster.backends(app), (n) => n === 4)
        yield* Effect.all(Array.from({ length: 8 }, () => pool.query("select pg_sleep(0.05)")), { concurrency: 8 })
      }))
      yield* eventually(cluster.backends(app), (n) => n === 0, "5 seconds")
    }))
})

/** The fake's attempts: at least `min` (the policy retried) with gaps of at least `gap` ms (it did not hammer). */
const expectPaced = (arrivals: ReadonlyArray<number>, min: number, gap: number) => {
  expect(arrivals.length).toBeGreaterThanOrEqual(min)
  for (let i = 1; i < arrivals.length; i++) expect(arrivals[i]! - arrivals[i - 1]!).toBeGreaterThanOrEqual(gap)
}

/** Waits with `awaitConnected` for `timeout`: it must end with Timeout, the last attempt's error inside. */
const awaitTimeout = (options: PgPool.Options, timeout: Duration.DurationInput) =>
  Effect.gen(function*() {
    const failure = yield* failureOf(Effect.scoped(PgPool.make({ ...options, awaitConnected: { timeout } })))
    expect(failure._tag).toBe("Timeout")
    const cause = (failure as Timeout).cause
    expect(cause instanceof ConnectFailed).toBe(true)
    return { timeout: failure as Timeout, cause: (cause as ConnectFailed).cause }
  })

describe("retryable connect errors retry by the policy (the fake server)", () => {
  for (
    const [code, condition, message] of [
      ["57P03", "cannot_connect_now", "the database system is starting up"],
      ["53300", "too_many_connections", "sorry, too many clients already"]
    ] as const
  ) {
    it.live(`${code} ${condition}: attempts every 150 ms (the fixed policy) until awaitConnected gives up`, () =>
      Effect.gen(function*() {
        const fake = yield* Fake.make({ _tag: "Error", code, message })
        const app = Pg.unique("retry")
        const { cause, timeout } = yield* awaitTimeout({
          name: app,
          size: 1,
          policy: Reconnect.fixed("150 millis"),
          connect: { host: fake.host, port: fake.port, user: "postgres", applicationName: app }
        }, "1200 millis")
        expect(fieldsOf(cause)).toMatchObject({
          _tag: "PgError",
          code,
          condition,
          severity: "FATAL",
          text: message,
          operation: "connect"
        })
        expect((cause as PgError.PgError).fatal).toBe(false)
        expect((cause as PgError.PgError).retryable).toBe(true)
        expect(timeout.message).toContain(code)
        const counts = yield* fake.counts
        // 1.2 s / 150 ms: about 8 attempts; a loaded machine makes fewer, never more than 9
        expect(counts.total).toBeLessThanOrEqual(9)
        expectPaced(counts.arrivals, 3, 140)
        expect(counts.startups).toBe(counts.total)
        // awaitConnected's failure stopped every slot: no attempt after it
        yield* Effect.sleep("400 millis")
        expect((yield* fake.counts).total).toBe(counts.total)
        yield* eventually(Effect.map(fake.counts, (c) => c.open), (n) => n === 0)
      }).pipe(Effect.scoped))
  }

  it.live("a connection reset at accept (ConnectionLost) is retried by the policy", () =>
    Effect.gen(function*() {
      const fake = yield* Fake.make({ _tag: "Reset" })
      const { cause } = yield* awaitTimeout({
        name: "reset",
        size: 1,
        policy: Reconnect.fixed("150 millis"),
        connect: { host: fake.host, port: fake.port }
      }, "1 second")
      expect(fieldsOf(cause)).toMatchObject({ _tag: "PgError", reason: "ConnectionLost", operation: "connect" })
      expect((cause as PgError.PgError).retryable).toBe(true)
      const counts = yield* fake.counts
      expect(counts.total).toBeLessThanOrEqual(8)
      expectPaced(counts.arrivals, 3, 140)
    }).pipe(Effect.scoped))

  it.live("ECONNREFUSED (a closed port) is retried by the policy", () =>
    Effect.gen(function*() {
      const port = yield* Cluster.freePort
      const attempts = yield* Ref.make(0)
      const { cause } = yield* awaitTimeout({
        name: "refused",
        size: 1,
        policy: Reconnect.fixed("150 millis"),
        connect: { host: "127.0.0.1", port },
        configure: ({ config }) => Effect.as(Ref.update(attempts, (n) => n + 1), config)
      }, "1 second")
      expect(fieldsOf(cause)).toMatchObject({ _tag: "PgError", reason: "ConnectionRefused", operation: "connect" })
      expect((cause as PgError.PgError).text).toContain("ECONNREFUSED")
      expect((cause as PgError.PgError).retryable).toBe(true)
      expect((cause as PgError.PgError).fatal).toBe(false)
      const n = yield* Ref.get(attempts)
      expect(n).toBeGreaterThanOrEqual(3)
      expect(n).toBeLessThanOrEqual(8)
    }).pipe(Effect.scoped))

  it.live("connect timeout: a server that never answers is given up after connectTimeout, its socket destroyed", () =>
    Effect.gen(function*() {
      const fake = yield* Fake.make({ _tag: "BlackHole" })
      const waiting = yield* Effect.fork(awaitTimeout({
        name: "black_hole",
        size: 1,
        connectTimeout: "250 millis",
        policy: Reconnect.fixed("100 millis"),
        connect: { host: fake.host, port: fake.port }
      }, "3 seconds"))
      // three attempts have come; only the current one is open: each timed-out attempt's socket is gone
      yield* eventually(Effect.map(fake.counts, (c) => c.total), (n) => n >= 3)
      expect((yield* fake.counts).open).toBeLessThanOrEqual(1)
      const { cause } = yield* Fiber.join(waiting)
      expect(fieldsOf(cause)).toMatchObject({ _tag: "Timeout", operation: "connect" })
      const counts = yield* fake.counts
      // 3 s / (250 + 100) ms: at most 9 attempts
      expect(counts.total).toBeLessThanOrEqual(10)
      expectPaced(counts.arrivals, 3, 300)
      yield* eventually(Effect.map(fake.counts, (c) => c.open), (n) => n === 0, "2 seconds")
    }).pipe(Effect.scoped))

  it.live("sslmode require against the fake's 'N': SslNotSupported, fatal, one SSLRequest per slot, no startup", () =>
    Effect.gen(function*() {
      const fake = yield* Fake.make({ _tag: "NoSsl" })
      yield* expectFatal(
        { name: "fake_no_ssl", size: 3, connect: { host: fake.host, port: fake.port, sslmode: "require" } },
        { reason: "SslNotSupported" }
      )
      yield* Effect.sleep("300 millis")
      const counts = yield* fake.counts
      expect(counts).toMatchObject({ total: 3, sslRequests: 3, startups: 0 })
      yield* eventually(Effect.map(fake.counts, (c) => c.open), (n) => n === 0)
    }).pipe(Effect.scoped))

  it.live("a server that echoes the password back (cleartext auth): it is masked in every message and log line", () =>
    Effect.gen(function*() {
      const fake = yield* Fake.make({ _tag: "EchoPassword" })
      const secret = "echoed-secret-value-42"
      const { closed, error, logs } = yield* expectFatal(
        {
          name: "fake_echo",
          size: 1,
          connect: { host: fake.host, port: fake.port, user: "fake", password: Redacted.make(secret) }
        },
        { reason: "InvalidAuthorization", code: "28P01" }
      )
      // the server's words are kept, the password is not
      expect(error.text).toBe(`password authentication failed: "***" is not the password`)
      expect(error.detail).toBe("the client sent ***")
      expect(error.hint).toBe("not ***")
      expectNoSecret([...renderings(closed), ...logs], secret)
    }).pipe(Effect.scoped))

  it.live("a fatal ErrorResponse from the fake (28P01): one attempt per slot, the password nowhere", () =>
    Effect.gen(function*() {
      const fake = yield* Fake.make({
        _tag: "Error",
        code: "28P01",
        message: "password authentication failed for user \"fake\""
      })
      const secret = "s3cret-fake-password-value"
      const { closed, logs } = yield* expectFatal(
        {
          name: "fake_bad_password",
          size: 2,
          connect: { host: fake.host, port: fake.port, user: "fake", password: Redacted.make(secret) }
        },
        { reason: "InvalidAuthorization", code: "28P01" }
      )
      yield* Effect.sleep("300 millis")
      expect((yield* fake.counts).startups).toBe(2)
      expectNoSecret([...renderings(closed), ...logs], secret)
    }).pipe(Effect.scoped))
})
