/**
 * PgManager against the real server (127.0.0.1:5432, database `test`): the exclusive lock (a
 * session of the test's own holds `pg_advisory_lock(hashtext(name))` to pin the manager in
 * `Waiting`; `pg_terminate_backend` of the lock connection), two managers of one name, `onActive`,
 * `serverVersion`, a fatal error, `awaitActive`'s timeout, the SSL fallback (through a proxy that
 * answers the SSLRequest with `N` and forwards the rest to the server) and the IPv6 fallback (a
 * host name of this machine that resolves only over IPv4), and the 10 s waiting log on TestClock.
 */
import { describe, expect, it, layer } from "@effect/vitest"
import { Closed, Reconnect, Timeout } from "@redial/core"
import { FaultProxy } from "@redial/testing"
import {
  Deferred,
  Duration,
  Effect,
  Exit,
  Fiber,
  Logger,
  Option,
  Redacted,
  Ref,
  Stream,
  SubscriptionRef,
  TestClock,
  TestServices
} from "effect"
import type * as Scope from "effect/Scope"
import * as dns from "node:dns"
import * as net from "node:net"
import * as os from "node:os"
import pg from "pg"
import { PgError, PgManager } from "../src/index.js"
import * as Cluster from "./support/cluster.js"
import * as Pg from "./support/pg.js"

// --- helpers ---------------------------------------------------------------------------------------

/** Polls state outside this process (the server's views) until `predicate` holds; dies after `timeout`. */
const eventually = <A>(
  self: Effect.Effect<A, unknown>,
  predicate: (a: A) => boolean,
  timeout: Duration.DurationInput = "20 seconds"
): Effect.Effect<A> =>
  Effect.gen(function*() {
    let last = yield* self
    while (!predicate(last)) {
      yield* Effect.sleep("20 millis")
      last = yield* self
    }
    return last
  }).pipe(
    Effect.timeoutFail({ duration: timeout, onTimeout: () => new Error("the condition did not hold in time") }),
    Effect.orDie
  )

/** Waits (on `changes`) for the first status that satisfies `predicate`. */
const awaitStatus = (
  manager: PgManager.PgManager,
  predicate: (status: PgManager.Status) => boolean,
  timeout: Duration.DurationInput = "20 seconds"
) =>
  manager.changes.pipe(
    Stream.filter(predicate),
    Stream.runHead,
    Effect.map(Option.getOrThrow),
    Effect.timeoutFail({ duration: timeout, onTimeout: () => new Error("the awaited status did not come in time") }),
    Effect.orDie
  )

const is = (tag: PgManager.Status["_tag"]) => (status: PgManager.Status) => status._tag === tag

/** Every status of `manager` from now on, in order. */
const record = (manager: PgManager.PgManager) =>
  Effect.gen(function*() {
    const ref = yield* SubscriptionRef.make<ReadonlyArray<PgManager.Status["_tag"]>>([])
    yield* Effect.forkScoped(
      Stream.runForEach(manager.changes, (status) => SubscriptionRef.update(ref, (seen) => [...seen, status._tag]))
    )
    yield* ref.changes.pipe(Stream.filter((seen) => seen.length > 0), Stream.runHead)
    return SubscriptionRef.get(ref)
  })

/** A session of the test's own that holds the advisory lock until `release` (or the scope's end). */
const holdLock = (name: string) =>
  Effect.gen(function*() {
    const client = yield* Effect.acquireRelease(
      Effect.promise(async () => {
        const client = new pg.Client({ ...Pg.server, application_name: "redial-test-lockholder" })
        client.on("error", () => undefined)
        await client.connect()
        await client.query("select pg_advisory_lock(hashtext($1))", [name])
        return client
      }),
      (client) => Effect.promise(() => client.end().catch(() => undefined))
    )
    return {
      release: Effect.promise(() => client.query("select pg_advisory_unlock(hashtext($1))", [name]))
    }
  })

/** The backend that holds `pg_advisory_lock(hashtext(name))`, and its application_name. */
const lockHolder = (name: string) =>
  Effect.map(
    Pg.admin<{ pid: number; app: string }>(
      `select l.pid, a.application_name as app from pg_locks l join pg_stat_activity a using (pid)
       where l.locktype = 'advisory' and l.granted and l.objsubid = 1
         and ((l.classid::bigint << 32) | l.objid::bigint) = hashtext($1)::bigint`,
      [name]
    ),
    (r) => r.rows[0]
  )

/** How many backends of `app` wait on a lock (the manager's lock query, blocked). */
const blockedOnLock = (app: string) =>
  Effect.map(
    Pg.admin<{ n: number }>(
      "select count(*)::int as n from pg_stat_activity where application_name = $1 and wait_event_type = 'Lock'",
      [app]
    ),
    (r) => r.rows[0]!.n
  )

const noBackendLeft = (app: string) => eventually(Pg.backends(app), (n) => n === 0, "10 seconds")

/** The log lines written while `effect` runs (the manager's runner inherits the logger). */
const captureLogs = () => {
  const lines: Array<string> = []
  const logger = Logger.make(({ message }) => {
    lines.push((Array.isArray(message) ? message : [message]).map(String).join(" "))
  })
  return { lines, layer: Logger.replace(Logger.defaultLogger, logger) }
}

const fast = { policy: Reconnect.fixed("100 millis"), minUptime: 0 } as const

// --- tests -----------------------------------------------------------------------------------------

describe("PgManager", () => {
  it.effect("electricPolicy is Electric's backoff: no jitter, 2 s doubling to 10 s", () =>
    Effect.gen(function*() {
      const delays = yield* Reconnect.delays(PgManager.electricPolicy, 6)
      expect(delays.map(Duration.toMillis)).toEqual([2000, 4000, 8000, 10000, 10000, 10000])
    }))

  it.live(
    "stays Waiting while another session holds the lock, goes Waiting → Starting → Active once it is released; serverVersion and pool are NotReady before",
    () =>
      Effect.gen(function*() {
        const name = Pg.unique("mgr_wait")
        const app = Pg.unique("mgr_wait_app")
        yield* Effect.scoped(Effect.gen(function*() {
          const holder = yield* holdLock(name)
          const manager = yield* PgManager.make({ name, connect: Pg.config(app), ...fast })
          const seen = yield* record(manager)
          // The manager's lock query is blocked on the server…
          yield* eventually(blockedOnLock(app), (n) => n === 1)
          yield* Effect.sleep("300 millis")
          expect((yield* manager.status)._tag).toBe("Waiting")
          const version = yield* Effect.flip(manager.serverVersion)
          expect(version._tag).toBe("NotReady")
          expect(version.message).toContain("does not know the server's version")
          expect((yield* Effect.flip(manager.pool))._tag).toBe("NotReady")
          expect(yield* Pg.backends(app)).toBe(1) // the lock connection only: no pool yet

          // …until the other session releases the lock.
          yield* holder.release
          const pool = yield* manager.awaitActive({ timeout: "10 seconds" })
          expect(yield* seen).toEqual(["Waiting", "Starting", "Active"])
          const server = yield* Pg.admin<{ v: number }>("select current_setting('server_version_num')::int as v")
          expect(yield* manager.serverVersion).toBe(server.rows[0]!.v)
          expect(yield* manager.pool).toBe(pool)
          const { rows } = yield* pool.query("select 41 + 1 as n")
          expect(rows[0]?.["n"]).toBe(42)
          expect((yield* lockHolder(name))?.app).toBe(app)
        }))
        yield* noBackendLeft(app)
      }),
    30_000
  )

  it.live(
    "goes back to Waiting when the lock connection is terminated, closes the pool and stops onActive, then is Active again with a new pool and onActive restarted",
    () =>
      Effect.gen(function*() {
        const name = Pg.unique("mgr_lost")
        const app = Pg.unique("mgr_lost_app")
        yield* Effect.scoped(Effect.gen(function*() {
          const started = yield* Ref.make(0)
          const stopped = yield* Ref.make(0)
          const statusAtStop = yield* Ref.make("")
          const manager: PgManager.PgManager = yield* PgManager.make({
            name,
            connect: Pg.config(app),
            ...fast,
            // onActive's release runs before the pool closes: the pool still serves it
            onActive: (pool) =>
              Effect.acquireRelease(
                Ref.update(started, (n) => n + 1),
                () =>
                  Effect.zipRight(
                    Effect.orDie(pool.query("select 1")),
                    Effect.zipRight(
                      Effect.flatMap(manager.status, (status) => Ref.set(statusAtStop, status._tag)),
                      Ref.update(stopped, (n) => n + 1)
                    )
                  )
              )
          })
          const first = yield* manager.awaitActive({ timeout: "10 seconds" })
          expect(yield* Ref.get(started)).toBe(1)
          expect(yield* Ref.get(stopped)).toBe(0)
          const seen = yield* record(manager)
          const holder = yield* lockHolder(name)
          expect(holder?.app).toBe(app)

          yield* Pg.terminate(holder!.pid)
          yield* awaitStatus(manager, is("Waiting"))
          const second = yield* manager.awaitActive({ timeout: "10 seconds" })
          expect(yield* seen).toEqual(["Active", "Waiting", "Starting", "Active"])
          expect(second).not.toBe(first)
          expect(yield* Ref.get(started)).toBe(2)
          expect(yield* Ref.get(stopped)).toBe(1)
          // stopped after the manager had left Active (the lock was gone), before the pool closed
          expect(yield* Ref.get(statusAtStop)).toBe("Waiting")
          // The first pool was closed with its session.
          const error = yield* Effect.flip(first.query("select 1"))
          expect(error._tag).toBe("Closed")
          expect((yield* second.query("select 1 as one")).rows[0]?.["one"]).toBe(1)
          const now = yield* lockHolder(name)
          expect(now?.app).toBe(app)
          expect(now?.pid).not.toBe(holder!.pid)
        }))
        yield* noBackendLeft(app)
      }),
    30_000
  )

  it.live(
    "two managers of one name: only one is Active at any time; when the active one's lock connection is terminated, the other becomes Active",
    () =>
      Effect.gen(function*() {
        const name = Pg.unique("mgr_two")
        const appA = Pg.unique("mgr_two_a")
        const appB = Pg.unique("mgr_two_b")
        yield* Effect.scoped(Effect.gen(function*() {
          // Every status change of both, in the order they happen; never two Active at once.
          const actives = yield* Ref.make(new Set<string>())
          const overlap = yield* Ref.make(0)
          const watch = (id: string, manager: PgManager.PgManager) =>
            Effect.forkScoped(Stream.runForEach(manager.changes, (status) =>
              Ref.modify(actives, (set) => {
                const next = new Set(set)
                if (status._tag === "Active") next.add(id)
                else next.delete(id)
                return [next.size, next] as const
              }).pipe(Effect.flatMap((n) => n > 1 ? Ref.update(overlap, (k) => k + 1) : Effect.void))))
          const a = yield* PgManager.make({ name, connect: Pg.config(appA), ...fast })
          yield* watch("a", a)
          yield* a.awaitActive({ timeout: "10 seconds" })
          const b = yield* PgManager.make({ name, connect: Pg.config(appB), ...fast })
          yield* watch("b", b)
          yield* eventually(blockedOnLock(appB), (n) => n === 1)
          expect((yield* b.status)._tag).toBe("Waiting")

          for (let round = 0; round < 3; round++) {
            const holder = (yield* lockHolder(name))!
            const [active, waiting] = holder.app === appA ? [a, b] : [b, a]
            yield* Pg.terminate(holder.pid)
            yield* waiting.awaitActive({ timeout: "10 seconds" })
            // The other one reconnected and waits for the lock again.
            yield* eventually(blockedOnLock(holder.app), (n) => n === 1)
            expect((yield* active.status)._tag).toBe("Waiting")
            expect((yield* lockHolder(name))?.app).not.toBe(holder.app)
          }
          expect(yield* Ref.get(overlap)).toBe(0)
        }))
        yield* noBackendLeft(appA)
        yield* noBackendLeft(appB)
      }),
    60_000
  )

  it.live(
    "a fatal connect error (no such database: 3D000) closes the manager with that PgError",
    () =>
      Effect.gen(function*() {
        const name = Pg.unique("mgr_fatal")
        const app = Pg.unique("mgr_fatal_app")
        yield* Effect.scoped(Effect.gen(function*() {
          const manager = yield* PgManager.make({
            name,
            connect: Pg.config(app, { database: "redial_no_such_database" }),
            policy: Reconnect.fixed("50 millis")
          })
          const closed = yield* Effect.flip(manager.awaitActive())
          expect(closed).toBeInstanceOf(Closed)
          expect(closed.reason).toBe("FatalError")
          expect(closed.error?.cause).toBeInstanceOf(PgError.PgError)
          expect((closed.error?.cause as PgError.PgError).code).toBe("3D000")
          const status = yield* manager.status
          expect(status._tag).toBe("Closed")
          if (status._tag !== "Closed") return
          expect(status.reason).toBe("FatalError")
          expect((status.error as PgError.PgError).code).toBe("3D000")
          // serverVersion was never known: Closed, not NotReady
          expect((yield* Effect.flip(manager.serverVersion))._tag).toBe("Closed")
          // it does not retry
          yield* Effect.sleep("300 millis")
          expect((yield* manager.status)._tag).toBe("Closed")
          // connect tries again (Waiting), and closes again with the same error
          const seen = yield* record(manager)
          yield* manager.connect
          yield* awaitStatus(manager, is("Closed"))
          expect(yield* seen).toEqual(["Closed", "Waiting", "Closed"])
          const again = yield* Effect.flip(manager.awaitActive({ timeout: "10 seconds" }))
          expect(again._tag === "Closed" && (again.error?.cause as PgError.PgError).code).toBe("3D000")
        }))
        yield* noBackendLeft(app)
      }),
    30_000
  )

  it.live(
    "bad options: make fails with InvalidOption; a bad pool option closes the manager (FatalError) when the pool starts",
    () =>
      Effect.gen(function*() {
        const noName = yield* Effect.flip(PgManager.make({ name: "", connect: Pg.config("x") }))
        expect(noName._tag === "InvalidOption" && noName.option).toBe("name")
        const badTimeout = yield* Effect.flip(PgManager.make({ name: "x", connect: Pg.config("x"), connectTimeout: 0 }))
        expect(badTimeout._tag === "InvalidOption" && badTimeout.option).toBe("connectTimeout")
        const app = Pg.unique("mgr_badpool_app")
        const manager = yield* PgManager.make({
          name: Pg.unique("mgr_badpool"),
          connect: Pg.config(app),
          pool: { size: 0 }
        })
        const closed = yield* Effect.flip(manager.awaitActive({ timeout: "10 seconds" }))
        expect(closed._tag === "Closed" && closed.reason).toBe("FatalError")
        const status = yield* manager.status
        expect(status._tag === "Closed" && status.error?._tag).toBe("InvalidOption")
        yield* noBackendLeft(app)
      }).pipe(Effect.scoped),
    30_000
  )

  it.live(
    "awaitActive fails with Timeout while another session holds the lock, and the manager keeps waiting",
    () =>
      Effect.gen(function*() {
        const name = Pg.unique("mgr_timeout")
        const app = Pg.unique("mgr_timeout_app")
        yield* Effect.scoped(Effect.gen(function*() {
          const holder = yield* holdLock(name)
          const manager = yield* PgManager.make({ name, connect: Pg.config(app), ...fast })
          const start = yield* Effect.clockWith((clock) => clock.currentTimeMillis)
          const error = yield* Effect.flip(manager.awaitActive({ timeout: "500 millis" }))
          const elapsed = (yield* Effect.clockWith((clock) => clock.currentTimeMillis)) - start
          expect(error).toBeInstanceOf(Timeout)
          expect((error as Timeout).operation).toBe("await")
          expect(error.message).toContain("pg_advisory_lock")
          expect(elapsed).toBeGreaterThanOrEqual(450)
          expect(elapsed).toBeLessThan(5000)
          expect((yield* manager.status)._tag).toBe("Waiting")
          yield* holder.release
          yield* manager.awaitActive({ timeout: "10 seconds" })
        }))
        yield* noBackendLeft(app)
      }),
    30_000
  )

  it.live(
    "close stops the manager (Closed UserClosed, lock released, no backend) and connect starts it again",
    () =>
      Effect.gen(function*() {
        const name = Pg.unique("mgr_close")
        const app = Pg.unique("mgr_close_app")
        yield* Effect.scoped(Effect.gen(function*() {
          const manager = yield* PgManager.make({ name, connect: Pg.config(app), ...fast })
          yield* manager.awaitActive({ timeout: "10 seconds" })
          yield* manager.close
          const status = yield* manager.status
          expect(status._tag === "Closed" && status.reason).toBe("UserClosed")
          expect((yield* Effect.flip(manager.awaitActive()))._tag).toBe("Closed")
          yield* noBackendLeft(app)
          expect(yield* lockHolder(name)).toBeUndefined()
          yield* manager.connect
          yield* manager.awaitActive({ timeout: "10 seconds" })
          expect((yield* lockHolder(name))?.app).toBe(app)
        }))
        yield* noBackendLeft(app)
      }),
    30_000
  )

  it.live(
    "a failing onActive ends the session as a lost lock does: Waiting, then Active again with onActive restarted",
    () =>
      Effect.gen(function*() {
        const name = Pg.unique("mgr_onactive")
        const app = Pg.unique("mgr_onactive_app")
        yield* Effect.scoped(Effect.gen(function*() {
          const runs = yield* Ref.make(0)
          const manager = yield* PgManager.make({
            name,
            connect: Pg.config(app),
            ...fast,
            onActive: () =>
              Effect.flatMap(Ref.updateAndGet(runs, (n) => n + 1), (n) => n === 1 ? Effect.fail("boom") : Effect.never)
          })
          yield* eventually(Ref.get(runs), (n) => n === 2)
          yield* manager.awaitActive({ timeout: "10 seconds" })
          yield* Effect.sleep("200 millis")
          expect(yield* Ref.get(runs)).toBe(2)
        }))
        yield* noBackendLeft(app)
      }),
    30_000
  )
  it.live(
    "a defect in onActive, or in what it released, does not stop the manager: it starts over",
    () =>
      Effect.gen(function*() {
        const name = Pg.unique("mgr_defect")
        const app = Pg.unique("mgr_defect_app")
        yield* Effect.scoped(Effect.gen(function*() {
          const runs = yield* Ref.make(0)
          const manager = yield* PgManager.make({
            name,
            connect: Pg.config(app),
            ...fast,
            onActive: () =>
              Effect.flatMap(Ref.updateAndGet(runs, (n) => n + 1), (n) =>
                n === 1
                  ? Effect.die("onActive died")
                  : n === 2
                  ? Effect.acquireRelease(Effect.void, () => Effect.die("its release died"))
                  : Effect.void)
          })
          yield* eventually(Ref.get(runs), (n) => n === 2)
          yield* manager.awaitActive({ timeout: "10 seconds" })
          yield* Pg.terminate((yield* eventually(lockHolder(name), (holder) => holder !== undefined))!.pid)
          yield* eventually(Ref.get(runs), (n) => n === 3)
          yield* manager.awaitActive({ timeout: "10 seconds" })
        })).pipe(Effect.provide(Logger.remove(Logger.defaultLogger)))
        yield* noBackendLeft(app)
      }),
    30_000
  )
})

describe("PgManager: the lock connection's health check, and listen", () => {
  it.live(
    "a lock connection gone silent (black-holed path) fails its health check: Waiting, then Active again once the path is back",
    () =>
      Effect.gen(function*() {
        const name = Pg.unique("mgr_health")
        const app = Pg.unique("mgr_health_app")
        yield* Effect.scoped(Effect.gen(function*() {
          const proxy = yield* FaultProxy.make({ target: { host: Pg.server.host, port: Pg.server.port } })
          const manager = yield* PgManager.make({
            name,
            connect: Pg.config(app, { host: proxy.host, port: proxy.port }),
            healthCheck: { interval: "200 millis", timeout: "300 millis" },
            connectTimeout: "1 second",
            ...fast
          })
          yield* manager.awaitActive({ timeout: "10 seconds" })
          const start = yield* Effect.clockWith((clock) => clock.currentTimeMillis)
          yield* proxy.blackhole(true)
          yield* awaitStatus(manager, is("Waiting"), "10 seconds")
          const elapsed = (yield* Effect.clockWith((clock) => clock.currentTimeMillis)) - start
          expect(elapsed).toBeLessThan(5000)
          yield* proxy.restore
          yield* manager.awaitActive({ timeout: "15 seconds" })
        }))
        yield* noBackendLeft(app)
      }),
    40_000
  )

  it.live(
    "listen delivers a channel's notifications on the manager's connect options, without the lock",
    () =>
      Effect.gen(function*() {
        const name = Pg.unique("mgr_listen")
        const app = Pg.unique("mgr_listen_app")
        const channel = Pg.unique("mgr_chan")
        const manager = yield* Effect.scoped(Effect.gen(function*() {
          yield* holdLock(name) // the manager stays Waiting
          const manager = yield* PgManager.make({ name, connect: Pg.config(app), ...fast })
          const received = yield* Deferred.make<string>()
          yield* Effect.forkScoped(
            manager.listen(channel).pipe(
              Stream.runForEach((notification) => Deferred.succeed(received, notification.payload))
            )
          )
          // A notification sent before LISTEN is in effect is lost: send until one arrives.
          yield* eventually(
            Effect.zipRight(Pg.admin("select pg_notify($1, 'hello')", [channel]), Deferred.isDone(received)),
            (done) => done
          )
          expect(yield* Deferred.await(received).pipe(Effect.timeout("10 seconds"))).toBe("hello")
          expect((yield* manager.status)._tag).toBe("Waiting")
          return manager
        }))
        yield* noBackendLeft(app)
        // once the manager's scope has ended, a new stream fails at once
        const error = yield* Effect.flip(Stream.runDrain(manager.listen(channel)).pipe(Effect.timeout("5 seconds")))
        expect(error._tag).toBe("Closed")
      }),
    30_000
  )
})

// --- fallbacks ---------------------------------------------------------------------------------------

const SSL_REQUEST = 80877103

/**
 * A proxy to the real server that answers every SSLRequest with `N` (a server without SSL) and
 * forwards everything else; counts the SSLRequests.
 */
const noSslProxy: Effect.Effect<{ readonly port: number; readonly sslRequests: () => number }, never, Scope.Scope> =
  Effect.acquireRelease(
    Effect.async<{ server: net.Server; port: number; count: { n: number } }>((resume) => {
      const count = { n: 0 }
      const sockets = new Set<net.Socket>()
      const server = net.createServer((client) => {
        sockets.add(client)
        client.on("error", () => undefined)
        client.on("close", () => sockets.delete(client))
        let head = Buffer.alloc(0)
        const onData = (chunk: Buffer) => {
          head = Buffer.concat([head, chunk])
          if (head.length < 8) return
          if (head.readInt32BE(0) === 8 && head.readInt32BE(4) === SSL_REQUEST) {
            count.n++
            client.write("N")
            head = head.subarray(8)
            if (head.length < 8) return
          }
          client.off("data", onData)
          client.pause()
          const upstream = net.connect(Pg.server.port, Pg.server.host)
          sockets.add(upstream)
          upstream.on("error", () => client.destroy())
          upstream.on("close", () => {
            sockets.delete(upstream)
            client.destroy()
          })
          client.on("close", () => upstream.destroy())
          upstream.write(head)
          client.pipe(upstream)
          upstream.pipe(client)
          client.resume()
        }
        client.on("data", onData)
      })
      server.listen(0, "127.0.0.1", () => {
        const port = (server.address() as net.AddressInfo).port
        resume(Effect.succeed({ server, port, count }))
      })
      ;(server as unknown as { sockets: Set<net.Socket> }).sockets = sockets
    }),
    ({ server }) =>
      Effect.async<void>((resume) => {
        for (const socket of (server as unknown as { sockets: Set<net.Socket> }).sockets) socket.destroy()
        server.close(() => resume(Effect.void))
      })
  ).pipe(Effect.map(({ count, port }) => ({ port, sslRequests: () => count.n })))

/** A host name of this machine that resolves over IPv4 to 127.0.0.1 and not at all over IPv6. */
const ipv4OnlyHost: string | undefined = await (async () => {
  for (const host of ["localhost", os.hostname()]) {
    const v6 = await dns.promises.lookup(host, { family: 6 }).then(() => true, () => false)
    const v4 = await dns.promises.lookup(host, { family: 4 }).then((a) => a.address === "127.0.0.1", () => false)
    if (!v6 && v4) return host
  }
  return undefined
})()

describe("PgManager's fallbacks", () => {
  it.live(
    "a server without SSL (sslmode unset): connects without SSL at once, logs it once, and keeps to it for the pool and every reconnect",
    () =>
      Effect.gen(function*() {
        const name = Pg.unique("mgr_ssl")
        const app = Pg.unique("mgr_ssl_app")
        const logs = captureLogs()
        yield* Effect.scoped(Effect.gen(function*() {
          const proxy = yield* noSslProxy
          const manager = yield* PgManager.make({
            name,
            connect: Pg.config(app, { host: "127.0.0.1", port: proxy.port }),
            pool: { size: 2 },
            ...fast
          })
          const pool = yield* manager.awaitActive({ timeout: "10 seconds" })
          yield* Effect.all([pool.query("select pg_sleep(0.05)"), pool.query("select pg_sleep(0.05)")], {
            concurrency: 2
          })
          // a new lock connection, a new pool
          yield* Pg.terminate((yield* lockHolder(name))!.pid)
          yield* awaitStatus(manager, is("Waiting"))
          yield* manager.awaitActive({ timeout: "10 seconds" })
          expect(proxy.sslRequests()).toBe(1)
          const ssl = yield* Pg.admin<{ n: number }>(
            "select count(*)::int as n from pg_stat_ssl join pg_stat_activity using (pid) where application_name = $1 and ssl",
            [app]
          )
          expect(ssl.rows[0]!.n).toBe(0)
        })).pipe(Effect.provide(logs.layer))
        expect(logs.lines.filter((line) => line.includes("does not support SSL"))).toHaveLength(1)
        yield* noBackendLeft(app)
      }),
    30_000
  )

  it.live(
    "sslmode require against a server without SSL: the manager closes (FatalError, SslNotSupported)",
    () =>
      Effect.gen(function*() {
        const name = Pg.unique("mgr_sslreq")
        const app = Pg.unique("mgr_sslreq_app")
        yield* Effect.scoped(Effect.gen(function*() {
          const proxy = yield* noSslProxy
          const manager = yield* PgManager.make({
            name,
            connect: Pg.config(app, { host: "127.0.0.1", port: proxy.port, sslmode: "require" }),
            ...fast
          })
          const closed = yield* Effect.flip(manager.awaitActive({ timeout: "10 seconds" }))
          expect(closed._tag === "Closed" && closed.reason).toBe("FatalError")
          const status = yield* manager.status
          expect(status._tag === "Closed" && (status.error as PgError.PgError).reason).toBe("SslNotSupported")
          expect(proxy.sslRequests()).toBe(1)
        }))
        yield* noBackendLeft(app)
      }),
    30_000
  )

  it.live.skipIf(ipv4OnlyHost === undefined)(
    `family 6 and a host that resolves only over IPv4 (${
      ipv4OnlyHost ?? "none found"
    }): connects over IPv4 at once, logs it once, and keeps to it`,
    () =>
      Effect.gen(function*() {
        const name = Pg.unique("mgr_ipv6")
        const app = Pg.unique("mgr_ipv6_app")
        const logs = captureLogs()
        yield* Effect.scoped(Effect.gen(function*() {
          const manager = yield* PgManager.make({
            name,
            connect: Pg.config(app, { host: ipv4OnlyHost!, family: 6 }),
            pool: { size: 2 },
            ...fast
          })
          const pool = yield* manager.awaitActive({ timeout: "10 seconds" })
          // the pool's connections use IPv4 too (over IPv6 they would fail, fatally: HostNotFound)
          yield* Effect.all([pool.query("select pg_sleep(0.05)"), pool.query("select pg_sleep(0.05)")], {
            concurrency: 2
          })
          yield* Pg.terminate((yield* lockHolder(name))!.pid)
          yield* awaitStatus(manager, is("Waiting"))
          yield* manager.awaitActive({ timeout: "10 seconds" })
        })).pipe(Effect.provide(logs.layer))
        expect(logs.lines.filter((line) => line.includes("not reachable over IPv6 (ENOTFOUND)"))).toHaveLength(1)
        yield* noBackendLeft(app)
      }),
    30_000
  )

  it.live(
    "family 6 and a host that resolves over neither family: one IPv4 attempt, then the manager closes (FatalError, HostNotFound)",
    () =>
      Effect.gen(function*() {
        const name = Pg.unique("mgr_nohost")
        const manager = yield* PgManager.make({
          name,
          connect: Pg.config(Pg.unique("mgr_nohost_app"), { host: "no-such-host.invalid", family: 6 }),
          ...fast
        })
        const closed = yield* Effect.flip(manager.awaitActive({ timeout: "10 seconds" }))
        expect(closed._tag === "Closed" && closed.reason).toBe("FatalError")
        const status = yield* manager.status
        expect(status._tag === "Closed" && (status.error as PgError.PgError).reason).toBe("HostNotFound")
      }).pipe(Effect.scoped),
    30_000
  )
})

// --- the waiting log, on TestClock -------------------------------------------------------------------

describe("PgManager on TestClock", () => {
  it.scoped(
    "logs that it is waiting for the lock every 10 s (Effect's Clock), and stops once it holds it",
    () =>
      Effect.gen(function*() {
        const name = Pg.unique("mgr_log")
        const app = Pg.unique("mgr_log_app")
        const logs = captureLogs()
        const waitingLines = () => logs.lines.filter((line) => line.includes("waiting for the exclusive lock"))
        const live = <A, E, R>(effect: Effect.Effect<A, E, R>) => TestServices.provideLive(effect)
        const done = yield* Deferred.make<void>()
        const fiber = yield* Effect.fork(
          Effect.scoped(Effect.gen(function*() {
            const holder = yield* live(holdLock(name))
            const manager = yield* PgManager.make({ name, connect: Pg.config(app), ...fast })
            yield* live(eventually(blockedOnLock(app), (n) => n === 1))
            expect(waitingLines()).toHaveLength(0)
            yield* TestClock.adjust("9 seconds")
            expect(waitingLines()).toHaveLength(0)
            yield* TestClock.adjust("1 second")
            yield* live(eventually(Effect.sync(waitingLines), (lines) => lines.length === 1, "5 seconds"))
            expect(waitingLines()[0]).toContain("10s")
            yield* TestClock.adjust("10 seconds")
            yield* live(eventually(Effect.sync(waitingLines), (lines) => lines.length === 2, "5 seconds"))
            expect(waitingLines()[1]).toContain("20s")
            yield* live(holder.release)
            yield* live(Effect.flatMap(manager.changes.pipe(Stream.filter(is("Active")), Stream.runHead), Effect.orDie))
            yield* TestClock.adjust("30 seconds")
            yield* live(Effect.sleep("100 millis"))
            expect(waitingLines()).toHaveLength(2)
            yield* Deferred.succeed(done, undefined)
          })).pipe(Effect.provide(logs.layer))
        )
        const exit = yield* Fiber.await(fiber)
        expect(Exit.isSuccess(exit) ? "ok" : exit.cause).toBe("ok")
        expect(yield* Deferred.isDone(done)).toBe(true)
        yield* live(noBackendLeft(app))
      }),
    60_000
  )
})

// --- a cluster of the test's own: TLS, a password user -----------------------------------------------

layer(Cluster.layer({ ssl: true }), { excludeTestServices: true, timeout: "60 seconds" })(
  "PgManager on a cluster of its own (ssl on, a password user)",
  (it) => {
    const sslOfApp = (cluster: Cluster.Cluster, app: string) =>
      Effect.map(
        cluster.admin<{ ssl: boolean }>(
          "select s.ssl from pg_stat_ssl s join pg_stat_activity a using (pid) where a.application_name = $1",
          [app]
        ),
        (r) => r.rows.map((row) => row.ssl)
      )

    it.effect("sslmode unset on a server with SSL: the lock connection and the pool use TLS (no fallback)", () =>
      Effect.gen(function*() {
        const cluster = yield* Cluster.PgCluster
        const app = Pg.unique("mgr_tls_app")
        const logs = captureLogs()
        yield* Effect.scoped(Effect.gen(function*() {
          const manager = yield* PgManager.make({ name: Pg.unique("mgr_tls"), connect: cluster.config(app), ...fast })
          yield* manager.awaitActive({ timeout: "10 seconds" })
          expect(yield* sslOfApp(cluster, app)).toEqual([true, true]) // the lock connection and the pool's
        })).pipe(Effect.provide(logs.layer))
        expect(logs.lines.filter((line) => line.includes("SSL"))).toEqual([])
        yield* eventually(cluster.backends(app), (n) => n === 0)
      }))

    it.effect("a CA and no sslmode: TLS verified with the CA; a CA that did not sign the server's certificate is fatal", () =>
      Effect.gen(function*() {
        const cluster = yield* Cluster.PgCluster
        const app = Pg.unique("mgr_ca_app")
        yield* Effect.scoped(Effect.gen(function*() {
          const manager = yield* PgManager.make({
            name: Pg.unique("mgr_ca"),
            connect: cluster.config(app, { tls: { ca: cluster.ca } }),
            ...fast
          })
          yield* manager.awaitActive({ timeout: "10 seconds" })
          expect(yield* sslOfApp(cluster, app)).toEqual([true, true])
        }))
        yield* Effect.scoped(Effect.gen(function*() {
          const manager = yield* PgManager.make({
            name: Pg.unique("mgr_ca"),
            connect: cluster.config(app, { tls: { ca: cluster.otherCa } }),
            ...fast
          })
          const closed = yield* Effect.flip(manager.awaitActive({ timeout: "10 seconds" }))
          expect(closed._tag === "Closed" && closed.reason).toBe("FatalError")
          const status = yield* manager.status
          const error = status._tag === "Closed" ? status.error as PgError.PgError : undefined
          expect(error?.reason).toBe("Tls")
          expect(error?.tlsVerification).toBe(true)
        }))
        yield* eventually(cluster.backends(app), (n) => n === 0)
      }))

    it.effect("a bad password (28P01) closes the manager after one attempt; no message or log line holds the password", () =>
      Effect.gen(function*() {
        const cluster = yield* Cluster.PgCluster
        const app = Pg.unique("mgr_password_app")
        const wrong = `wrong-${Redacted.value(cluster.password)}-x`
        const logs = captureLogs()
        const before = yield* cluster.tcpConnections
        const closed = yield* Effect.scoped(Effect.gen(function*() {
          const manager = yield* PgManager.make({
            name: Pg.unique("mgr_password"),
            connect: cluster.config(app, { password: Redacted.make(wrong) }),
            policy: Reconnect.fixed("50 millis")
          })
          const closed = yield* Effect.flip(manager.awaitActive({ timeout: "10 seconds" }))
          const status = yield* manager.status
          expect(status._tag === "Closed" && (status.error as PgError.PgError).code).toBe("28P01")
          yield* Effect.sleep("300 millis")
          return closed
        })).pipe(Effect.provide(logs.layer))
        expect(closed._tag === "Closed" && closed.reason).toBe("FatalError")
        expect((yield* cluster.tcpConnections) - before).toBe(1)
        for (const text of [closed.message, String(closed), JSON.stringify(closed), ...logs.lines]) {
          expect(text).not.toContain(wrong)
          expect(text).not.toContain(Redacted.value(cluster.password))
        }
        yield* eventually(cluster.backends(app), (n) => n === 0)
      }))
  }
)
