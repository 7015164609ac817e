/**
 * PgPool.layerConfig and PgPool.config against the real server (127.0.0.1:5432, database test):
 * a pool from a URL, from separate keys, from both merged, over the Unix socket, with the URL's
 * startup parameters, connect timeout and query timeout in force; typed failures (a bad URL
 * without its password, a conflict, a bad key, an unreadable TLS file); no backend left behind.
 * The URL's TLS settings (sslmode, sslrootcert read from a file) against a cluster of this file's
 * own with ssl on (the shared server has none).
 */
import { describe, expect, it, layer } from "@effect/vitest"
import { FaultProxy } from "@redial/testing"
import type { Layer } from "effect"
import { Cause, Config, ConfigProvider, Duration, Effect, Exit, Redacted } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { PgPool } from "../src/index.js"
import * as Cluster from "./support/cluster.js"
import * as Pg from "./support/pg.js"
import { eventually, renderings } from "./support/probe.js"

const { database, host, port, user } = Pg.server

const fromMap = (entries: Record<string, string>, options?: { readonly pathDelim?: string }) =>
  ConfigProvider.fromMap(new Map(Object.entries(entries)), options)

/** Runs `f` on a pool of `layer` under `provider`, then checks that no backend of `app` is left. */
const withPool = <A, E>(
  layer: Layer.Layer<PgPool.PgPool, unknown>,
  provider: ConfigProvider.ConfigProvider,
  app: string,
  f: (pool: PgPool.PgPool) => Effect.Effect<A, E>
) =>
  Effect.gen(function*() {
    const result = yield* Effect.flatMap(PgPool.PgPool, f).pipe(
      Effect.provide(layer),
      Effect.withConfigProvider(provider)
    )
    yield* eventually(Pg.backends(app), (n) => n === 0)
    return result
  })

/** What the server says about the session that runs it. */
const session = (pool: PgPool.PgPool) =>
  Effect.map(
    pool.query(
      `select current_database() as db, current_user as usr, current_setting('application_name') as app,
              current_setting('statement_timeout') as st, current_setting('search_path') as sp,
              inet_client_addr() is null as unix`
    ),
    (result) => result.rows[0] as { db: string; usr: string; app: string; st: string; sp: string; unix: boolean }
  )

/** The failure of building `layer` under `provider`. */
const failureOf = <E>(layer: Layer.Layer<PgPool.PgPool, E>, provider: ConfigProvider.ConfigProvider) =>
  Effect.gen(function*() {
    const exit = yield* Effect.exit(
      Effect.provide(PgPool.PgPool, layer).pipe(Effect.withConfigProvider(provider), Effect.scoped)
    )
    if (Exit.isSuccess(exit)) return yield* Effect.dieMessage("expected the layer to fail")
    return exit.cause
  })

describe("PgPool.layerConfig", () => {
  it.live("a URL read with Config.redacted serves a query with the URL's settings", () =>
    Effect.gen(function*() {
      const app = Pg.unique("cfg_url")
      const layer = PgPool.layerConfig({ url: Config.redacted("DATABASE_URL"), size: Config.succeed(2) })
      const provider = fromMap({
        DATABASE_URL: `postgres://${user}@${host}:${port}/${database}?application_name=${app}` +
          "&statement_timeout=1234&options=-c%20search_path%3Dcfg_schema"
      })
      const row = yield* withPool(layer, provider, app, session)
      expect(row).toStrictEqual({ db: "test", usr: "postgres", app, st: "1234ms", sp: "cfg_schema", unix: false })
    }), 60_000)

  it.live(
    "separate keys (PgPool.config with a prefix) serve a query; pool options are read too",
    () =>
      Effect.gen(function*() {
        const app = Pg.unique("cfg_keys")
        const provider = fromMap({
          "PG.HOST": host,
          "PG.PORT": String(port),
          "PG.DATABASE": database,
          "PG.USER": user,
          "PG.APPLICATION_NAME": app,
          "PG.STATEMENT_TIMEOUT": "2 seconds",
          "PG.SIZE": "3",
          "PG.AWAIT_CONNECTED": "true",
          "PG.NAME": "cfg-keys"
        })
        const [row, stats, name] = yield* withPool(
          PgPool.layerConfig(PgPool.config("PG")),
          provider,
          app,
          (pool) => Effect.all([session(pool), pool.stats, Effect.succeed(pool.name)])
        )
        expect(row).toStrictEqual({ db: "test", usr: "postgres", app, st: "2s", sp: "\"$user\", public", unix: false })
        expect(stats.size).toBe(3)
        expect(name).toBe("cfg-keys")
      }),
    60_000
  )

  it.live(
    "PgPool.config reads the environment's names under its prefix (PG_URL, PG_SIZE …)",
    () =>
      Effect.gen(function*() {
        const app = Pg.unique("cfg_env")
        const provider = fromMap(
          { PG_URL: `postgres://${user}@${host}:${port}/${database}?application_name=${app}`, PG_SIZE: "1" },
          { pathDelim: "_" }
        )
        const [row, stats] = yield* withPool(
          PgPool.layerConfig(PgPool.config("PG")),
          provider,
          app,
          (pool) => Effect.all([session(pool), pool.stats])
        )
        expect(row.app).toBe(app)
        expect(stats.size).toBe(1)
      }),
    60_000
  )

  it.live(
    "a URL and separate keys are merged: the URL for the server, a key for what it lacks",
    () =>
      Effect.gen(function*() {
        const app = Pg.unique("cfg_merge")
        const provider = fromMap({
          "PG.URL": `postgres://${user}@${host}:${port}/${database}`,
          "PG.APPLICATION_NAME": app
        })
        const row = yield* withPool(PgPool.layerConfig(PgPool.config("PG")), provider, app, session)
        expect(row).toMatchObject({ db: "test", app })
      }),
    60_000
  )

  it.live(
    "over the Unix socket: the URL's encoded socket directory, ?host=, and the keyword/value form",
    () =>
      Effect.gen(function*() {
        const inputs = (app: string) => [
          `postgres://${user}@%2Fvar%2Frun%2Fpostgresql:${port}/${database}?application_name=${app}`,
          `postgres://${user}@/${database}?host=/var/run/postgresql&application_name=${app}`,
          `host=/var/run/postgresql port=${port} dbname=${database} user=${user} application_name='${app}'`
        ]
        for (const index of [0, 1, 2]) {
          const app = Pg.unique(`cfg_unix${index}`)
          const provider = fromMap({ URL: inputs(app)[index]! })
          const row = yield* withPool(PgPool.layerConfig(PgPool.config()), provider, app, session)
          expect(row).toMatchObject({ db: "test", app, unix: true })
        }
      }),
    60_000
  )

  it.live(
    "sslmode=prefer from the URL against this server (no TLS) connects without TLS",
    () =>
      Effect.gen(function*() {
        const app = Pg.unique("cfg_prefer")
        const provider = fromMap({
          URL: `postgres://${user}@${host}:${port}/${database}?sslmode=prefer&application_name=${app}`
        })
        const ssl = yield* withPool(PgPool.layerConfig(PgPool.config()), provider, app, (pool) =>
          Effect.map(
            pool.query("select ssl from pg_stat_ssl where pid = pg_backend_pid()"),
            (result) => result.rows[0]?.["ssl"]
          ))
        expect(ssl).toBe(false)
      }),
    60_000
  )

  it.live(
    "the URL's connect_timeout is the pool's: a black-holed server fails awaitConnected in ~1 s, not 15",
    () =>
      Effect.gen(function*() {
        const proxy = yield* FaultProxy.make({ target: { host, port } })
        yield* proxy.blackhole(true)
        const layer = PgPool.layerConfig({
          url: Config.succeed(`postgres://${user}@${proxy.address}/${database}?connect_timeout=1`),
          awaitConnected: Config.succeed(true),
          name: Config.succeed("cfg-timeout")
        })
        const started = yield* Effect.sync(() => performance.now())
        const cause = yield* failureOf(layer, fromMap({}))
        const elapsed = performance.now() - started
        expect(Cause.failureOption(cause).pipe((o) => o._tag === "Some" ? o.value._tag : undefined)).toBe("Timeout")
        expect(elapsed).toBeGreaterThan(900)
        expect(elapsed).toBeLessThan(10_000)
      }).pipe(Effect.scoped),
    60_000
  )

  it.live(
    "the URL's query_timeout is the driver's: a longer query is cancelled on the server after it",
    () =>
      Effect.gen(function*() {
        const app = Pg.unique("cfg_qt")
        const provider = fromMap({
          URL: `postgres://${user}@${host}:${port}/${database}?query_timeout=300&application_name=${app}`
        })
        const [error, after] = yield* withPool(PgPool.layerConfig(PgPool.config()), provider, app, (pool) =>
          Effect.gen(function*() {
            const error = yield* Effect.flip(pool.query("select pg_sleep(30)"))
            const active = yield* eventually(
              Effect.map(
                Pg.admin<{ n: number }>(
                  "select count(*)::int as n from pg_stat_activity where application_name = $1 and state = 'active'",
                  [app]
                ),
                (r) =>
                  r.rows[0]!.n
              ),
              (n) =>
                n === 0,
              "5 seconds"
            )
            return [error, active] as const
          }))
        expect(error.message).toContain("timed out after 300ms")
        expect(after).toBe(0)
      }),
    60_000
  )

  it.live(
    "a URL that does not parse fails the layer with a PgConnectionStringError without the password",
    () =>
      Effect.gen(function*() {
        for (
          const url of ["postgres://postgres:S3cretPw@127.0.0.1/test?port=x", "postgres://postgres:S3cretPw@h1,h2/test"]
        ) {
          const cause = yield* failureOf(PgPool.layerConfig(PgPool.config()), fromMap({ URL: url }))
          const failure = Cause.failureOption(cause)
          expect(failure._tag).toBe("Some")
          if (failure._tag === "Some") expect(failure.value._tag).toBe("PgConnectionStringError")
          for (const text of [Cause.pretty(cause), ...renderings(cause)]) expect(text).not.toContain("S3cretPw")
        }
      }),
    60_000
  )

  it.live(
    "a setting given by the URL and by its own key is a Conflict naming the option",
    () =>
      Effect.gen(function*() {
        const cases: ReadonlyArray<readonly [Record<string, string>, string]> = [
          [{ URL: `postgres://${host}/${database}`, HOST: host }, "connect.host"],
          [{ URL: `postgres://u:pw@${host}/${database}`, PASSWORD: "pw2" }, "connect.password"],
          [{ URL: `postgres://${host}/${database}?connect_timeout=5`, CONNECT_TIMEOUT: "1 second" }, "connectTimeout"]
        ]
        for (const [entries, option] of cases) {
          const cause = yield* failureOf(PgPool.layerConfig(PgPool.config()), fromMap(entries))
          const failure = Cause.failureOption(cause)
          expect(failure._tag === "Some" && failure.value).toMatchObject({
            _tag: "InvalidOption",
            option,
            reason: "Conflict"
          })
          expect(Cause.pretty(cause)).not.toContain("pw2")
        }
      }),
    60_000
  )

  it.live(
    "a TLS file of the URL that cannot be read fails the layer with PgSslFileError naming it",
    () =>
      Effect.gen(function*() {
        const missing = path.join("/nonexistent-redial", "root.crt")
        const cause = yield* failureOf(
          PgPool.layerConfig(PgPool.config()),
          fromMap({ URL: `postgres://${host}/${database}?sslmode=verify-full&sslrootcert=${missing}` })
        )
        const failure = Cause.failureOption(cause)
        expect(failure._tag === "Some" && failure.value).toMatchObject({
          _tag: "PgSslFileError",
          key: "sslrootcert",
          path: missing,
          code: "ENOENT"
        })
      }),
    60_000
  )

  it.live("an invalid key is a ConfigError naming it; the password is read redacted", () =>
    Effect.gen(function*() {
      const port = yield* failureOf(PgPool.layerConfig(PgPool.config("PG")), fromMap({ "PG.PORT": "abc" }))
      expect(Cause.pretty(port)).toContain("PG.PORT")
      const mode = yield* failureOf(PgPool.layerConfig(PgPool.config()), fromMap({ SSLMODE: "allow" }))
      expect(Cause.pretty(mode)).toContain("SSLMODE")
      const options = yield* PgPool.config().pipe(
        Effect.withConfigProvider(fromMap({ PASSWORD: "S3cretPw", URL: "postgres://h" }))
      )
      expect(Redacted.isRedacted(options.connect?.password)).toBe(true)
      expect(Redacted.isRedacted(options.url)).toBe(true)
      for (const text of renderings(options)) expect(text).not.toContain("S3cretPw")
    }), 60_000)

  it.effect("PgPool.config: only the keys given, absent ones absent (not undefined)", () =>
    Effect.gen(function*() {
      const options = yield* PgPool.config().pipe(
        Effect.withConfigProvider(fromMap({ HOST: "db", SIZE: "4", QUEUE_TARGET: "20 millis", QUEUE: "false" }))
      )
      expect(Object.keys(options).sort()).toStrictEqual(["connect", "queue", "queueTarget", "size"])
      expect(options.connect).toStrictEqual({ host: "db" })
      expect(Duration.toMillis(Duration.decode(options.queueTarget!))).toBe(20)
      expect(yield* PgPool.config().pipe(Effect.withConfigProvider(fromMap({})))).toStrictEqual({})
    }))
})

layer(Cluster.layer({ ssl: true }), { excludeTestServices: true, timeout: "60 seconds" })(
  "PgPool.layerConfig: the URL's TLS settings against a cluster with ssl on",
  (it) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "redial-pgcfg-"))
    const pemFile = (name: string, pem: string | undefined) => {
      const file = path.join(dir, name)
      fs.writeFileSync(file, pem ?? "")
      return file
    }
    /** The URL of the cluster's password user, with `query` appended. */
    const urlOf = (cluster: Cluster.Cluster, app: string, query: string) =>
      `postgres://${Cluster.user}:${
        encodeURIComponent(Redacted.value(cluster.password))
      }@${cluster.host}:${cluster.port}` +
      `/postgres?application_name=${app}&${query}`
    const sslOf = (cluster: Cluster.Cluster, query: string) =>
      Effect.gen(function*() {
        const app = Pg.unique("cfg_tls")
        const row = yield* Effect.flatMap(PgPool.PgPool, (pool) =>
          Effect.map(
            pool.query("select s.ssl, current_user as u from pg_stat_ssl s where s.pid = pg_backend_pid()"),
            (result) => result.rows[0]
          )).pipe(
            Effect.provide(PgPool.layerConfig(PgPool.config())),
            Effect.withConfigProvider(fromMap({ URL: urlOf(cluster, app, query), AWAIT_CONNECTED: "true" }))
          )
        yield* eventually(cluster.backends(app), (n) => n === 0)
        return row
      })

    it.effect("verify-full with sslrootcert (read from its file) connects over TLS", () =>
      Effect.gen(function*() {
        const cluster = yield* Cluster.PgCluster
        const ca = pemFile("ca.pem", cluster.ca)
        expect(yield* sslOf(cluster, `sslmode=verify-full&sslrootcert=${ca}`)).toStrictEqual({
          ssl: true,
          u: Cluster.user
        })
      }))

    it.effect("require without a root certificate connects over TLS (libpq's require: nothing verified)", () =>
      Effect.gen(function*() {
        const cluster = yield* Cluster.PgCluster
        expect(yield* sslOf(cluster, "sslmode=require")).toStrictEqual({ ssl: true, u: Cluster.user })
      }))

    it.effect("verify-ca with another CA's file fails the layer (a fatal TLS error), without the password", () =>
      Effect.gen(function*() {
        const cluster = yield* Cluster.PgCluster
        const other = pemFile("other.pem", cluster.otherCa)
        const app = Pg.unique("cfg_tls_bad")
        const cause = yield* failureOf(
          PgPool.layerConfig(PgPool.config()),
          fromMap({ URL: urlOf(cluster, app, `sslmode=verify-ca&sslrootcert=${other}`), AWAIT_CONNECTED: "true" })
        )
        const failure = Cause.failureOption(cause)
        expect(failure._tag === "Some" && failure.value._tag).toBe("Closed")
        expect(Cause.pretty(cause)).toMatch(/certificate/i)
        for (const text of [Cause.pretty(cause), ...renderings(cause)]) {
          expect(text).not.toContain(Redacted.value(cluster.password))
        }
        yield* eventually(cluster.backends(app), (n) => n === 0)
      }))
  }
)
