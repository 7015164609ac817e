/**
 * PgListen against the real server (127.0.0.1:5432, database `test`): notifications arrive on one
 * connection for many streams and channels; LISTEN / UNLISTEN follow the streams (checked on the
 * listener's own backend with `pg_listening_channels()` and in `pg_stat_activity`); the backend
 * terminated, the network cut (FaultProxy), refused or black-holed: the connection comes back by
 * its policy, LISTENs again, and the same streams go on, with a `Missed` marker at the gap; names
 * with quotes cannot inject SQL; a stalled consumer of 100,000 notifications holds its buffer
 * only; nothing outlives the scope (backends counted by application_name).
 */
import { describe, expect, it } from "@effect/vitest"
import { Reconnect } from "@redial/core"
import { FaultProxy } from "@redial/testing"
import type { Scope } from "effect"
import { Deferred, Duration, Effect, Either, Exit, Fiber, Option, Queue, Stream } from "effect"
import * as v8 from "node:v8"
import * as vm from "node:vm"
import { PgListen } from "../src/index.js"
import * as Pg from "./support/pg.js"

// --- helpers -----------------------------------------------------------------------------------

/** Polls state outside this process (the server's catalogs) until `predicate` holds; dies after `timeout`. */
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

/** Waits on `changes` for the first status that satisfies `predicate`. */
const awaitStatus = (
  listener: PgListen.PgListen,
  predicate: (status: PgListen.PgListen["status"] extends Effect.Effect<infer S> ? S : never) => boolean,
  timeout: Duration.DurationInput = "20 seconds"
) =>
  listener.changes.pipe(
    Stream.filter(predicate),
    Stream.runHead,
    Effect.map(Option.getOrThrow),
    Effect.timeoutFail({ duration: timeout, onTimeout: () => new Error("the awaited status did not come in time") }),
    Effect.orDie
  )

/** Runs `stream` in the background into a queue; `next` takes one element (dies after 20 s). */
const collect = <A, E>(stream: Stream.Stream<A, E>) =>
  Effect.gen(function*() {
    const queue = yield* Queue.unbounded<A>()
    const fiber = yield* Stream.runForEach(stream, (a) => Queue.offer(queue, a)).pipe(Effect.forkScoped)
    const next = Queue.take(queue).pipe(
      Effect.timeoutFail({ duration: "20 seconds", onTimeout: () => new Error("no element came in time") }),
      Effect.orDie
    )
    return { queue, fiber, next }
  })

/** Sends a notification from an admin session of its own (not the listener's). */
const notifyFromAdmin = (channel: string, payload: string) =>
  Effect.asVoid(Pg.admin("select pg_notify($1, $2)", [channel, payload]))

/** The channels LISTENed by the listener's backend, asked on that session itself. */
const backendChannels = (listener: PgListen.PgListen) =>
  Effect.flatMap(
    listener.connection.get,
    (connection) =>
      Effect.promise(() => connection.client.query<{ channel: string }>("select pg_listening_channels() as channel"))
        .pipe(Effect.map((result) => result.rows.map((row) => row.channel).sort()))
  )

const pidOf = (listener: PgListen.PgListen) => Effect.map(listener.connection.get, (connection) => connection.pid)

/** Waits until the listener hands out a connection to another backend than `pid`. */
const awaitNewBackend = (listener: PgListen.PgListen, pid: number) =>
  eventually(Effect.either(pidOf(listener)), (now) => Either.isRight(now) && now.right !== pid).pipe(
    Effect.map(Either.getOrThrow)
  )

/** Records every status from now on (subscribed before it returns). */
const record = (listener: PgListen.PgListen) =>
  Effect.gen(function*() {
    const statuses: Array<PgListen.PgListen["status"] extends Effect.Effect<infer S> ? S : never> = []
    const subscribed = yield* Deferred.make<void>()
    yield* Effect.forkScoped(Stream.runForEach(listener.changes, (status) =>
      Effect.sync(() => {
        statuses.push(status)
        Deferred.unsafeDone(subscribed, Exit.void)
      })))
    yield* Deferred.await(subscribed)
    return statuses
  })

const isListening = (listener: PgListen.PgListen, channels: ReadonlyArray<string>) =>
  eventually(listener.listening, (now) => channels.every((channel) => now.includes(channel)))

const fast = Reconnect.exponential({ min: "100 millis", max: "400 millis" })

/** Runs `body` with a listener in a scope of its own, then checks that no backend of `app` is left. */
const withListener = <A, E>(
  app: string,
  body: (listener: PgListen.PgListen) => Effect.Effect<A, E, Scope.Scope>,
  options: Partial<PgListen.Options> = {}
) =>
  Effect.gen(function*() {
    const result = yield* Effect.scoped(
      Effect.flatMap(PgListen.make({ connect: Pg.config(app), name: app, policy: fast, ...options }), body)
    )
    expect(yield* eventually(Pg.backends(app), (n) => n === 0, "10 seconds")).toBe(0)
    return result
  })

const notification = (channel: string, payload: string) => ({ _tag: "Notification", channel, payload })

// --- tests -------------------------------------------------------------------------------------

describe("PgListen", () => {
  it.live("delivers notifications (channel, payload, the sender's pid) from another session and from notify", () => {
    const app = Pg.unique("listen_basic")
    return withListener(app, (listener) =>
      Effect.gen(function*() {
        const channel = Pg.unique("ch")
        const { next } = yield* collect(listener.listen(channel))
        yield* isListening(listener, [channel])
        yield* notifyFromAdmin(channel, "from admin")
        const first = yield* next
        expect(first).toMatchObject(notification(channel, "from admin"))
        expect(first.processId).toBeGreaterThan(0)
        expect(first.processId).not.toBe(yield* pidOf(listener))
        yield* listener.notify(channel, "from notify")
        const second = yield* next
        expect(second).toMatchObject(notification(channel, "from notify"))
        expect(second.processId).toBe(yield* pidOf(listener)) // sent on the listener's own connection
        yield* listener.notify(channel)
        expect(yield* next).toMatchObject(notification(channel, ""))
        expect(yield* Pg.backends(app)).toBe(1)
      }))
  }, 60_000)

  it.live("carries two channels and two streams of one channel over one connection and one LISTEN each", () => {
    const app = Pg.unique("listen_many")
    return withListener(app, (listener) =>
      Effect.gen(function*() {
        const a = Pg.unique("a")
        const b = Pg.unique("b")
        const a1 = yield* collect(listener.listen(a))
        const a2 = yield* collect(listener.listen(a))
        const b1 = yield* collect(listener.listen(b))
        yield* isListening(listener, [a, b])
        expect(yield* backendChannels(listener)).toEqual([a, b].sort())
        yield* notifyFromAdmin(a, "1")
        yield* notifyFromAdmin(b, "2")
        yield* notifyFromAdmin(a, "3")
        expect([yield* a1.next, yield* a1.next]).toMatchObject([notification(a, "1"), notification(a, "3")])
        expect([yield* a2.next, yield* a2.next]).toMatchObject([notification(a, "1"), notification(a, "3")])
        expect(yield* b1.next).toMatchObject(notification(b, "2"))
        // nothing else came: b's stream got only b's
        yield* notifyFromAdmin(b, "fence")
        expect(yield* b1.next).toMatchObject(notification(b, "fence"))
        expect(yield* Queue.size(a1.queue)).toBe(0)
        expect(yield* Pg.backends(app)).toBe(1)
      }))
  }, 60_000)

  it.live("sends UNLISTEN when the last stream of a channel stops, not before", () => {
    const app = Pg.unique("listen_unlisten")
    return withListener(app, (listener) =>
      Effect.gen(function*() {
        const channel = Pg.unique("Ch")
        const other = Pg.unique("other")
        const one = yield* collect(listener.listen(channel))
        const two = yield* collect(listener.listen(channel))
        const fence = yield* collect(listener.listen(other))
        yield* isListening(listener, [channel, other])
        yield* Fiber.interrupt(one.fiber)
        // one stream left: still listening, and it still gets notifications
        yield* notifyFromAdmin(channel, "still")
        expect(yield* two.next).toMatchObject(notification(channel, "still"))
        expect(yield* backendChannels(listener)).toEqual([channel, other].sort())
        yield* Fiber.interrupt(two.fiber)
        yield* eventually(listener.listening, (now) => !now.includes(channel))
        // the server saw the UNLISTEN: the backend's last statement, then its own catalog
        const pid = yield* pidOf(listener)
        const activity = yield* Pg.activity(pid)
        expect(activity?.query).toBe(`UNLISTEN "${channel}"`)
        expect(yield* backendChannels(listener)).toEqual([other])
        // and a stream of the channel again: LISTEN again
        const three = yield* collect(listener.listen(channel))
        yield* isListening(listener, [channel])
        yield* notifyFromAdmin(channel, "again")
        expect(yield* three.next).toMatchObject(notification(channel, "again"))
        yield* Fiber.interrupt(fence.fiber)
      }))
  }, 60_000)

  it.live(
    "after pg_terminate_backend it reconnects, LISTENs again before Connected, and the same streams go on",
    () => {
      const app = Pg.unique("listen_terminate")
      return withListener(app, (listener) =>
        Effect.gen(function*() {
          const channel = Pg.unique("ch")
          const events = yield* collect(listener.events(channel))
          const plain = yield* collect(listener.listen(channel))
          expect(yield* events.next).toEqual({ _tag: "Listening", channel })
          yield* isListening(listener, [channel])
          yield* notifyFromAdmin(channel, "before")
          expect(yield* events.next).toMatchObject(notification(channel, "before"))
          expect(yield* plain.next).toMatchObject(notification(channel, "before"))
          const pid = yield* pidOf(listener)
          const statuses = yield* record(listener)
          yield* Pg.terminate(pid)
          yield* awaitNewBackend(listener, pid)
          // handed out means LISTENed: at once, no wait, the new backend listens
          expect(yield* listener.listening).toEqual([channel])
          expect(yield* backendChannels(listener)).toEqual([channel])
          yield* notifyFromAdmin(channel, "after")
          expect(yield* events.next).toEqual({ _tag: "Missed", channel, dropped: 0, reconnected: true })
          expect(yield* events.next).toMatchObject(notification(channel, "after"))
          expect(yield* plain.next).toMatchObject(notification(channel, "after"))
          expect(statuses.map((s) => s._tag)).toContain("Connecting")
          expect(yield* Pg.backends(app)).toBe(1)
        }))
    },
    60_000
  )

  it.live(
    "a FaultProxy cut between client and server: it reconnects and the stream gets what is sent after",
    () =>
      Effect.gen(function*() {
        const app = Pg.unique("listen_cut")
        const proxy = yield* FaultProxy.make({ target: { host: Pg.server.host, port: Pg.server.port } })
        yield* withListener(app, (listener) =>
          Effect.gen(function*() {
            const channel = Pg.unique("ch")
            const events = yield* collect(listener.events(channel))
            expect(yield* events.next).toEqual({ _tag: "Listening", channel })
            yield* notifyFromAdmin(channel, "before")
            expect(yield* events.next).toMatchObject(notification(channel, "before"))
            const pid = yield* pidOf(listener)
            yield* proxy.cut
            yield* awaitNewBackend(listener, pid)
            yield* notifyFromAdmin(channel, "after")
            expect(yield* events.next).toMatchObject({ _tag: "Missed", reconnected: true })
            expect(yield* events.next).toMatchObject(notification(channel, "after"))
            expect((yield* proxy.connections).total).toBe(2)
          }), { connect: Pg.config(app, { host: proxy.host, port: proxy.port }) })
      }).pipe(Effect.scoped),
    60_000
  )

  it.live(
    "while the server refuses connections it backs off by its policy, then comes back and LISTENs again",
    () =>
      Effect.gen(function*() {
        const app = Pg.unique("listen_refuse")
        const proxy = yield* FaultProxy.make({ target: { host: Pg.server.host, port: Pg.server.port } })
        yield* withListener(app, (listener) =>
          Effect.gen(function*() {
            const channel = Pg.unique("ch")
            const { next } = yield* collect(listener.listen(channel))
            yield* isListening(listener, [channel])
            const statuses = yield* record(listener)
            const backoffs = () => statuses.flatMap((s) => s._tag === "Backoff" ? [Duration.toMillis(s.delay)] : [])
            yield* proxy.refuse(true)
            yield* proxy.cut
            // three failed attempts, each followed by the policy's next delay
            yield* eventually(Effect.sync(() => backoffs().length), (n) => n >= 3)
            expect(backoffs().slice(0, 3)).toEqual([100, 200, 400])
            expect(yield* listener.listening).toEqual([])
            yield* proxy.restore
            yield* awaitStatus(listener, (s) => s._tag === "Connected")
            yield* notifyFromAdmin(channel, "back")
            expect(yield* next).toMatchObject(notification(channel, "back"))
          }), {
          connect: Pg.config(app, { host: proxy.host, port: proxy.port }),
          policy: Reconnect.exponential({ min: "100 millis", max: "400 millis" })
        })
      }).pipe(Effect.scoped),
    60_000
  )

  it.live(
    "notify waits for the connection while it is down (at most notifyTimeout), then sends",
    () =>
      Effect.gen(function*() {
        const app = Pg.unique("listen_notify_wait")
        const proxy = yield* FaultProxy.make({ target: { host: Pg.server.host, port: Pg.server.port } })
        const through = Pg.config(app, { host: proxy.host, port: proxy.port })
        yield* withListener(app, (listener) =>
          Effect.gen(function*() {
            const channel = Pg.unique("ch")
            const { next } = yield* collect(listener.listen(channel))
            yield* isListening(listener, [channel])
            const pid = yield* pidOf(listener)
            yield* proxy.refuse(true)
            yield* proxy.cut
            yield* awaitStatus(listener, (s) => s._tag === "Backoff")
            // a short notifyTimeout gives up with Timeout; the default one waits the outage out
            const impatient = yield* PgListen.make({ connect: through, name: app, notifyTimeout: "300 millis" })
            const timedOut = yield* Effect.flip(impatient.notify(channel, "never"))
            expect(timedOut).toMatchObject({ _tag: "Timeout", operation: "await" })
            const waiting = yield* Effect.fork(listener.notify(channel, "waited"))
            yield* Effect.sleep("300 millis")
            expect(yield* Fiber.poll(waiting)).toEqual(Option.none())
            yield* proxy.restore
            yield* Fiber.join(waiting)
            expect(yield* next).toMatchObject(notification(channel, "waited"))
            expect(yield* pidOf(listener)).not.toBe(pid)
          }), { connect: through })
      }).pipe(Effect.scoped),
    60_000
  )

  it.live("a fatal connect error (no such database) fails the streams with Closed at once; new ones too", () => {
    const app = Pg.unique("listen_fatal")
    return withListener(app, (listener) =>
      Effect.gen(function*() {
        const [elapsed, error] = yield* Effect.timed(Effect.flip(Stream.runDrain(listener.listen("ch"))))
        expect(error).toMatchObject({ _tag: "Closed", reason: "FatalError" })
        expect((error as { error?: { cause?: unknown } }).error?.cause).toMatchObject({
          _tag: "PgError",
          code: "3D000"
        })
        expect(Duration.toMillis(elapsed)).toBeLessThan(5000)
        expect(yield* Effect.flip(Stream.runDrain(listener.events("ch")))).toMatchObject({
          _tag: "Closed",
          reason: "FatalError"
        })
      }), { connect: Pg.config(app, { database: Pg.unique("no_such_db") }) })
  }, 60_000)

  it.live("close by the user keeps the streams waiting; connect LISTENs again and they go on", () => {
    const app = Pg.unique("listen_user_close")
    return withListener(app, (listener) =>
      Effect.gen(function*() {
        const channel = Pg.unique("ch")
        const events = yield* collect(listener.events(channel))
        expect(yield* events.next).toEqual({ _tag: "Listening", channel })
        yield* listener.connection.close
        expect(yield* eventually(Pg.backends(app), (n) => n === 0)).toBe(0)
        yield* Effect.sleep("200 millis")
        expect(yield* Fiber.poll(events.fiber)).toEqual(Option.none()) // still running
        yield* listener.connection.connect
        yield* awaitStatus(listener, (s) => s._tag === "Connected")
        yield* notifyFromAdmin(channel, "again")
        expect(yield* events.next).toEqual({ _tag: "Missed", channel, dropped: 0, reconnected: true })
        expect(yield* events.next).toMatchObject(notification(channel, "again"))
      }))
  }, 60_000)

  it.live(
    "a black-holed network is found by the health check; it reconnects once the path is back",
    () =>
      Effect.gen(function*() {
        const app = Pg.unique("listen_blackhole")
        const proxy = yield* FaultProxy.make({ target: { host: Pg.server.host, port: Pg.server.port } })
        yield* withListener(app, (listener) =>
          Effect.gen(function*() {
            const channel = Pg.unique("ch")
            const { next } = yield* collect(listener.listen(channel))
            yield* isListening(listener, [channel])
            yield* proxy.blackhole(true)
            const [noticed] = yield* Effect.timed(awaitStatus(listener, (s) => s._tag !== "Connected", "10 seconds"))
            // a ping every 300 ms, unanswered for 500 ms: found in about a second, not after 5 s
            // (the driver's cancelTimeout, which an interrupted driver ping would wait out)
            expect(Duration.toMillis(noticed)).toBeLessThan(4000)
            yield* proxy.blackhole(false)
            yield* awaitStatus(listener, (s) => s._tag === "Connected", "20 seconds")
            yield* notifyFromAdmin(channel, "through")
            expect(yield* next).toMatchObject(notification(channel, "through"))
          }), {
          connect: Pg.config(app, { host: proxy.host, port: proxy.port }),
          healthCheck: { interval: "300 millis", timeout: "500 millis" },
          connectTimeout: "1 second"
        })
      }).pipe(Effect.scoped),
    60_000
  )

  it.live(
    "the end of the scope closes the connection (no backend left) and fails the streams with Closed",
    () =>
      Effect.gen(function*() {
        const app = Pg.unique("listen_scope")
        const channel = Pg.unique("ch")
        const fiber = yield* Effect.scoped(Effect.gen(function*() {
          const listener = yield* PgListen.make({ connect: Pg.config(app), name: app })
          const fiber = yield* listener.listen(channel).pipe(Stream.runDrain, Effect.fork)
          yield* isListening(listener, [channel])
          expect(yield* Pg.backends(app)).toBe(1)
          return fiber
        }))
        expect(yield* Effect.flip(Fiber.join(fiber))).toMatchObject({ _tag: "Closed", reason: "ScopeClosed" })
        expect(yield* eventually(Pg.backends(app), (n) => n === 0, "10 seconds")).toBe(0)
      }),
    60_000
  )

  it.live("channel names are quoted identifiers: quotes, spaces, upper case and SQL are one channel each", () => {
    const app = Pg.unique("listen_names")
    return withListener(app, (listener) =>
      Effect.gen(function*() {
        const table = Pg.unique("listen_guard")
        yield* Pg.admin(`create table ${table} (id int)`)
        const tricky = `x"; DROP TABLE ${table}; --`
        const upper = "Upper Case"
        const lower = "upper case"
        const longest = "é".repeat(31) + "z" // 63 bytes in UTF-8
        const streams = yield* Effect.forEach([tricky, upper, lower, longest], (c) => collect(listener.listen(c)))
        yield* isListening(listener, [tricky, upper, lower, longest])
        expect(yield* backendChannels(listener)).toEqual([tricky, upper, lower, longest].sort())
        yield* notifyFromAdmin(tricky, "t")
        yield* notifyFromAdmin(upper, "U")
        yield* notifyFromAdmin(lower, "l")
        yield* listener.notify(longest, "long")
        expect(yield* streams[0]!.next).toMatchObject(notification(tricky, "t"))
        expect(yield* streams[1]!.next).toMatchObject(notification(upper, "U"))
        expect(yield* streams[2]!.next).toMatchObject(notification(lower, "l"))
        expect(yield* streams[3]!.next).toMatchObject(notification(longest, "long"))
        expect(yield* Queue.size(streams[1]!.queue)).toBe(0)
        // the table is still there
        expect((yield* Pg.admin(`select count(*)::int as n from ${table}`)).rows[0]).toEqual({ n: 0 })
        yield* Pg.admin(`drop table ${table}`)
        // names PostgreSQL cannot hold are typed errors, at once
        for (const bad of ["", "a".repeat(64), "é".repeat(32), "nul\u0000"]) {
          const error = yield* Effect.flip(Stream.runDrain(listener.listen(bad)))
          expect(error).toMatchObject({ _tag: "InvalidOption", option: "channel" })
          expect(yield* Effect.flip(listener.notify(bad, "x"))).toMatchObject({ _tag: "InvalidOption" })
        }
        const tooLong = yield* Effect.flip(listener.notify(upper, "x".repeat(8000)))
        expect(tooLong).toMatchObject({ _tag: "PgError", code: "22023" })
      }))
  }, 60_000)

  it.live("streams starting and stopping concurrently leave exactly the wanted channels LISTENed", () => {
    const app = Pg.unique("listen_churn")
    return withListener(app, (listener) =>
      Effect.gen(function*() {
        const channels = Array.from({ length: 8 }, (_, i) => `churn ${i}`)
        const kept = channels.filter((_, i) => i % 2 === 0)
        // 10 rounds: every channel gets a stream that stops at once, kept ones one that stays
        for (let round = 0; round < 10; round++) {
          yield* Effect.forEach(channels, (channel) =>
            listener.listen(channel).pipe(
              Stream.interruptWhen(Effect.sleep(Duration.millis(round * 3))),
              Stream.runDrain
            ), { concurrency: "unbounded" })
        }
        const staying = yield* Effect.forEach(kept, (channel) => collect(listener.listen(channel)))
        yield* eventually(listener.listening, (now) => [...now].sort().join() === [...kept].sort().join())
        expect(yield* backendChannels(listener)).toEqual([...kept].sort())
        yield* notifyFromAdmin(kept[0]!, "k")
        expect(yield* staying[0]!.next).toMatchObject(notification(kept[0]!, "k"))
      }))
  }, 60_000)

  it.live("a stalled consumer of 100,000 notifications holds only its buffer; Missed counts the dropped", () => {
    const app = Pg.unique("listen_memory")
    const gc = exposeGc()
    return withListener(app, (listener) =>
      Effect.gen(function*() {
        const channel = Pg.unique("bulk")
        const done = Pg.unique("done")
        const gate = yield* Deferred.make<void>()
        const got: Array<PgListen.Event> = []
        const consumer = yield* listener.events(channel).pipe(
          // stalls on its first element (Listening) until the gate opens
          Stream.tap(() => Deferred.await(gate)),
          Stream.runForEach((event) => Effect.sync(() => got.push(event))),
          Effect.forkScoped
        )
        const fence = yield* collect(listener.listen(done))
        yield* isListening(listener, [channel, done])
        const before = yield* heapAfterGc(gc)
        // 100,000 notifications of ~200 bytes each in one transaction, then a fence after them
        yield* Pg.admin(
          `select count(pg_notify($1, repeat('x', 200) || i)) from generate_series(1, 100000) i`,
          [channel]
        )
        yield* notifyFromAdmin(done, "end")
        yield* fence.next // every bulk notification has been read off the socket
        const after = yield* heapAfterGc(gc)
        const grown = (after - before) / 2 ** 20
        // unbounded, 100,000 notifications would hold about 30 MB
        expect(grown).toBeLessThan(8)
        yield* Deferred.succeed(gate, undefined)
        yield* eventually(Effect.sync(() => got.length), (n) => n >= 1 + 1 + 1024)
        const notifications = got.filter((e): e is PgListen.Notification => e._tag === "Notification")
        // the buffer dropped the oldest: the gap is counted, and the 1024 newest follow
        expect(got.length).toBe(1 + 1 + 1024)
        expect(got[0]).toEqual({ _tag: "Listening", channel })
        expect(got[1]).toEqual({ _tag: "Missed", channel, dropped: 100000 - 1024, reconnected: false })
        expect(notifications.map((n) => Number(n.payload.slice(200)))).toEqual(
          Array.from({ length: 1024 }, (_, i) => 100000 - 1024 + 1 + i)
        )
        yield* Effect.logInfo(`heap grew by ${grown.toFixed(2)} MB for 100,000 notifications`)
        yield* Fiber.interrupt(consumer)
      }))
  }, 120_000)
})

/** `global.gc`, exposed at run time (the test workers are not started with --expose-gc). */
const exposeGc = (): () => void => {
  v8.setFlagsFromString("--expose-gc")
  return vm.runInNewContext("gc") as () => void
}

/** The heap in use after two full collections. */
const heapAfterGc = (gc: () => void): Effect.Effect<number> =>
  Effect.sync(() => {
    gc()
    gc()
    return process.memoryUsage().heapUsed
  })
