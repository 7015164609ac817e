/**
 * TLS on the connect path, against a cluster of this file's own with ssl on and certificates made
 * for it (a CA, a server certificate for localhost / 127.0.0.1 signed by it, and a second CA that
 * signed nothing): each sslmode does what libpq's does, a certificate that does not verify is a
 * fatal `Tls` error after one attempt per slot, and a broken handshake (the fake server's `S`
 * followed by bytes that are not TLS) is retried.
 */
import { describe, expect, it, layer } from "@effect/vitest"
import type { Timeout } from "@redial/core"
import { ConnectFailed, Reconnect } from "@redial/core"
import { Effect, Redacted } from "effect"
import type { PgDriver, PgError } from "../src/index.js"
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

/** Connects one pool with `extra` and returns what pg_stat_ssl says of its backend. */
const sslOfBackend = (cluster: Cluster.Cluster, extra: Partial<PgDriver.ConnectOptions>) =>
  Effect.gen(function*() {
    const app = Pg.unique("tls")
    const logs = captureLogs()
    const row = yield* Effect.gen(function*() {
      const pool = yield* PgPool.make({ name: app, size: 1, awaitConnected: true, connect: cluster.config(app, extra) })
      const result = yield* pool.query(
        "select s.ssl, s.version, current_user as u from pg_stat_ssl s where s.pid = pg_backend_pid()"
      )
      return result.rows[0]!
    }).pipe(Effect.scoped, Effect.provide(logs.layer))
    expectNoSecret(logs.lines, Redacted.value(cluster.password))
    yield* eventually(cluster.backends(app), (n) => n === 0)
    return row
  })

/** A fatal TLS verification failure after one attempt per slot, counted in the cluster's log. */
const expectVerifyFails = (cluster: Cluster.Cluster, extra: Partial<PgDriver.ConnectOptions>) =>
  Effect.gen(function*() {
    const app = Pg.unique("tls_fatal")
    const before = yield* cluster.tcpConnections
    const result = yield* expectFatal({ name: app, size: 2, connect: cluster.config(app, extra) }, { reason: "Tls" })
    expect(result.error.tlsVerification).toBe(true)
    yield* Effect.sleep("300 millis")
    expect((yield* cluster.tcpConnections) - before).toBe(2)
    expectNoSecret([...renderings(result.closed), ...result.logs], Redacted.value(cluster.password))
    expect(yield* cluster.backends(app)).toBe(0)
    return result.error
  })

layer(Cluster.layer({ ssl: true }), { excludeTestServices: true, timeout: "60 seconds" })(
  "a cluster of its own with ssl on",
  (it) => {
    it.scoped("sslmode prefer uses TLS when the server has it", () =>
      Effect.gen(function*() {
        const cluster = yield* Cluster.PgCluster
        const row = yield* sslOfBackend(cluster, { sslmode: "prefer" })
        expect(row).toMatchObject({ ssl: true, u: Cluster.user })
        expect(String(row["version"])).toMatch(/^TLSv1\.[23]$/)
      }))

    it.scoped("sslmode disable (the default) does not", () =>
      Effect.gen(function*() {
        const cluster = yield* Cluster.PgCluster
        expect(yield* sslOfBackend(cluster, {})).toMatchObject({ ssl: false })
      }))

    it.scoped("verify-full with tls.ca = the CA connects over TLS (an IP address checked against its SAN)", () =>
      Effect.gen(function*() {
        const cluster = yield* Cluster.PgCluster
        expect(yield* sslOfBackend(cluster, { sslmode: "verify-full", tls: { ca: cluster.ca } })).toMatchObject({
          ssl: true
        })
      }))

    it.scoped("verify-full with tls.ca and host localhost (family 4) checks the DNS name", () =>
      Effect.gen(function*() {
        const cluster = yield* Cluster.PgCluster
        const row = yield* sslOfBackend(cluster, {
          host: "localhost",
          family: 4,
          sslmode: "verify-full",
          tls: { ca: cluster.ca }
        })
        expect(row).toMatchObject({ ssl: true })
      }))

    it.scoped("verify-ca with the CA connects whatever the name; verify-full with another name fails, fatal", () =>
      Effect.gen(function*() {
        const cluster = yield* Cluster.PgCluster
        const wrongName = { ca: cluster.ca, servername: "not-this-server.example" }
        expect(yield* sslOfBackend(cluster, { sslmode: "verify-ca", tls: wrongName })).toMatchObject({ ssl: true })
        const error = yield* expectVerifyFails(cluster, { sslmode: "verify-full", tls: wrongName })
        expect(error.text).toContain("not-this-server.example")
      }))

    it.scoped("verify-full with a servername on a DNS host checks that name, not the host", () =>
      Effect.gen(function*() {
        const cluster = yield* Cluster.PgCluster
        yield* expectVerifyFails(cluster, {
          host: "localhost",
          family: 4,
          sslmode: "verify-full",
          tls: { ca: cluster.ca, servername: "not-this-server.example" }
        })
      }))

    it.scoped("require without a CA connects over TLS without verifying", () =>
      Effect.gen(function*() {
        const cluster = yield* Cluster.PgCluster
        expect(yield* sslOfBackend(cluster, { sslmode: "require" })).toMatchObject({ ssl: true })
      }))

    it.scoped("require with the right CA connects; with a wrong CA it verifies the chain and fails, fatal", () =>
      Effect.gen(function*() {
        const cluster = yield* Cluster.PgCluster
        expect(yield* sslOfBackend(cluster, { sslmode: "require", tls: { ca: cluster.ca } })).toMatchObject({
          ssl: true
        })
        // libpq: a root certificate makes require verify the chain (but not the name)
        expect(
          yield* sslOfBackend(cluster, {
            sslmode: "require",
            tls: { ca: cluster.ca, servername: "not-this-server.example" }
          })
        ).toMatchObject({ ssl: true })
        yield* expectVerifyFails(cluster, { sslmode: "require", tls: { ca: cluster.otherCa } })
      }))

    it.scoped("verify-full against a certificate from an unknown CA (the system's roots) fails, fatal", () =>
      Effect.gen(function*() {
        const cluster = yield* Cluster.PgCluster
        yield* expectVerifyFails(cluster, { sslmode: "verify-full" })
      }))

    it.scoped("verify-ca with the wrong CA fails, fatal", () =>
      Effect.gen(function*() {
        const cluster = yield* Cluster.PgCluster
        yield* expectVerifyFails(cluster, { sslmode: "verify-ca", tls: { ca: cluster.otherCa } })
      }))

    it.scoped("a bad password over TLS is 28P01, fatal, the password nowhere", () =>
      Effect.gen(function*() {
        const cluster = yield* Cluster.PgCluster
        const app = Pg.unique("tls_bad_password")
        const wrong = `not-${Redacted.value(cluster.password)}`
        const { closed, logs } = yield* expectFatal(
          {
            name: app,
            size: 2,
            connect: cluster.config(app, {
              sslmode: "verify-full",
              tls: { ca: cluster.ca },
              password: Redacted.make(wrong)
            })
          },
          { reason: "InvalidAuthorization", code: "28P01" }
        )
        expectNoSecret([...renderings(closed), ...logs], wrong)
      }))
  }
)

describe("a TLS handshake that breaks (the fake server)", () => {
  it.live("'S' then bytes that are not TLS: a Tls error that is not a verification failure, retried", () =>
    Effect.gen(function*() {
      const fake = yield* Fake.make({ _tag: "SslGarbage" })
      const failure = yield* failureOf(Effect.scoped(PgPool.make({
        name: "tls_garbage",
        size: 1,
        policy: Reconnect.fixed("150 millis"),
        connect: { host: fake.host, port: fake.port, sslmode: "require" },
        awaitConnected: { timeout: "1 second" }
      })))
      expect(failure._tag).toBe("Timeout")
      const attempt = (failure as Timeout).cause
      expect(attempt instanceof ConnectFailed).toBe(true)
      const error = (attempt as ConnectFailed).cause
      expect(fieldsOf(error)).toMatchObject({ _tag: "PgError", reason: "Tls", operation: "connect" })
      const pgError = error as PgError.PgError
      expect(pgError.reason).toBe("Tls")
      expect(pgError.tlsVerification).toBeUndefined()
      expect(pgError.fatal).toBe(false)
      const counts = yield* fake.counts
      expect(counts.total).toBeGreaterThanOrEqual(3)
      expect(counts.sslRequests).toBe(counts.total)
      expect(counts.startups).toBe(0)
      yield* eventually(Effect.map(fake.counts, (c) => c.open), (n) => n === 0)
    }).pipe(Effect.scoped))
})
