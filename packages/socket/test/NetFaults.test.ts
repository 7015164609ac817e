/**
 * `ResilientSocket.makeNet` under faults, against real `node:net` servers on loopback, with
 * `FaultProxy` between client and server where the fault is the network's: every end of a
 * connection (reset, clean end, cut) is a loss that reconnects, with the writes made meanwhile sent
 * in order after a `Connected` marker; refusals back off by the policy; a half-open connection ends
 * by the ping timeout; a connect that never completes ends by `connectTimeout` (10 s by default);
 * `minUptime` keeps a flapping server from resetting the backoff.
 */
import { describe, expect, it } from "@effect/vitest"
import type { Connection } from "@redial/core"
import { Reconnect, Timeout } from "@redial/core"
import { FaultProxy, TestTime } from "@redial/testing"
import { Duration, Effect, Exit, Fiber, Logger, LogLevel, Scope, Stream, TestClock } from "effect"
import type * as Net from "node:net"
import { ResilientSocket, SocketError } from "../src/index.js"
import { type Delivered, echoServer, eventually, recordEvents, tcpServer, textOfAll } from "./support/servers.js"
import { causeOf, isTag, recordStatuses } from "./support/status.js"

/** The warnings of every loss, which these tests cause on purpose, kept out of the output. */
const quiet = Logger.withMinimumLogLevel(LogLevel.None)

type Backoff = Extract<Connection.Status, { readonly _tag: "Backoff" }>
const backoffsOf = (all: ReadonlyArray<Connection.Status>): Array<Backoff> =>
  all.filter((s): s is Backoff => s._tag === "Backoff")

// --- losses ---------------------------------------------------------------------------------------

type Loss = "destroy" | "end" | "cut"

/**
 * One loss of a live connection, then writes made while down: they are delivered after the
 * reconnect, in order, after a `Connected{connection: 2}` marker. Returns the loss's cause (the
 * Backoff's: `minUptime` is an hour, so the drop counts as a failed attempt and shows its error).
 */
const lossThenReconnect = (loss: Loss) =>
  Effect.gen(function*() {
    const server = yield* echoServer()
    const proxy = loss === "cut" ? yield* FaultProxy.make({ target: { port: server.port } }) : undefined
    const socket = yield* ResilientSocket.makeNet({
      name: `loss-${loss}`,
      host: server.host,
      port: proxy?.port ?? server.port,
      minUptime: "1 hour",
      // a cut reconnects at once through the proxy: the window to write while down is the delay
      policy: Reconnect.fixed(loss === "cut" ? "500 millis" : "50 millis")
    })
    const statuses = yield* recordStatuses(socket)
    const delivered = yield* recordEvents(socket)
    yield* socket.write("one\n")
    yield* delivered.until((es) => textOfAll(es) === "one\n")

    // the server is held down (refusing) until restarted, so the writes below are surely buffered
    if (proxy === undefined) yield* server.stop
    yield* loss === "destroy" ? server.destroyAll : loss === "end" ? server.endAll : proxy!.cut
    const { status: backoff } = yield* statuses.until(isTag("Backoff"))
    const writes: Array<Fiber.RuntimeFiber<void, ResilientSocket.WriteError>> = []
    for (const [i, data] of ["a\n", "b\n", "c\n"].entries()) {
      writes.push(yield* Effect.fork(socket.write(data)))
      yield* eventually(socket.pending, (p) => p.writes === i + 1)
    }
    if (proxy === undefined) yield* server.restart
    for (const write of writes) {
      yield* Fiber.join(write).pipe(
        Effect.timeoutFail({ duration: "10 seconds", onTimeout: () => new Error("a buffered write was never sent") }),
        Effect.orDie
      )
    }

    const events = yield* delivered.until((es) => textOfAll(es) === "one\na\nb\nc\n")
    expect(events.filter((e) => e._tag === "Connected").map((e) => e._tag === "Connected" && e.connection))
      .toEqual([1, 2])
    expect(yield* delivered.textOf(1)).toBe("one\n")
    expect(yield* delivered.textOf(2)).toBe("a\nb\nc\n")
    expect((yield* socket.get).id).toBe(2)
    return causeOf(backoff)
  }).pipe(quiet)

describe("makeNet faults: every end of a connection is a loss that reconnects", () => {
  it.scopedLive("a server-side reset (RST): Read ECONNRESET; reconnected, the writes made while down delivered in order after Connected{2}", () =>
    Effect.gen(function*() {
      const cause = yield* lossThenReconnect("destroy")
      expect(cause).toBeInstanceOf(SocketError)
      expect(cause).toMatchObject({ reason: "Read", cause: { code: "ECONNRESET" } })
    }))

  it.scopedLive("a clean server end (FIN, a success for the platform's run) is a loss with reason End; reconnected, writes in order after Connected{2}", () =>
    Effect.gen(function*() {
      const cause = yield* lossThenReconnect("end")
      expect(cause).toBeInstanceOf(SocketError)
      expect(cause).toMatchObject({ reason: "End" })
    }))

  it.scopedLive("a FaultProxy cut: Read ECONNRESET; reconnected through the proxy, writes in order after Connected{2}", () =>
    Effect.gen(function*() {
      const cause = yield* lossThenReconnect("cut")
      expect(cause).toBeInstanceOf(SocketError)
      expect(cause).toMatchObject({ reason: "Read", cause: { code: "ECONNRESET" } })
    }))
})

// --- refusal --------------------------------------------------------------------------------------

describe("makeNet faults: refusal", () => {
  it.scopedLive("the port closed: Backoff with SocketError Open (ECONNREFUSED), retried by the policy's delays; the server restarted on the same port: reconnected", () =>
    Effect.gen(function*() {
      const server = yield* echoServer()
      const socket = yield* ResilientSocket.makeNet({
        name: "refused",
        host: server.host,
        port: server.port,
        minUptime: 0,
        policy: Reconnect.exponential({ min: "20 millis", max: "80 millis" })
      })
      const statuses = yield* recordStatuses(socket)
      const delivered = yield* recordEvents(socket)
      yield* socket.await({ timeout: "5 seconds" })

      yield* server.stop
      yield* server.destroyAll
      yield* statuses.until((s) => s._tag === "Backoff" && s.attempt === 4)
      const backoffs = backoffsOf(yield* statuses.all).slice(0, 4)
      expect(backoffs.map((b) => b.attempt)).toEqual([1, 2, 3, 4])
      expect(backoffs.map((b) => Duration.toMillis(b.delay))).toEqual([20, 40, 80, 80])
      for (const b of backoffs) {
        expect(b.error.cause).toBeInstanceOf(SocketError)
        expect(b.error.cause).toMatchObject({ reason: "Open", cause: { code: "ECONNREFUSED" } })
      }

      yield* server.restart
      const from = yield* statuses.length
      yield* statuses.until(isTag("Connected"), { from })
      yield* socket.write("back\n")
      yield* delivered.until((es) => textOfAll(es) === "back\n")
      expect(yield* delivered.textOf(2)).toBe("back\n")
      expect((yield* server.snapshot).accepted).toBe(2)
    }).pipe(quiet))
})

// --- half-open connections and connects that never complete ----------------------------------------

/** Writes `probe` until it comes back on the newest connection: the path is open again end to end. */
const echoesAgain = (
  socket: ResilientSocket.ResilientSocket<Uint8Array, Net.Socket>,
  delivered: Delivered<Uint8Array>
) =>
  eventually(
    Effect.gen(function*() {
      yield* Effect.ignore(socket.write("probe\n"))
      const events = yield* delivered.events
      const newest = events.reduce((n, e) => e._tag === "Connected" ? e.connection : n, 0)
      return yield* delivered.textOf(newest)
    }),
    (text) => text.includes("probe\n"),
    "10 seconds",
    "200 millis"
  )

const pinged = {
  minUptime: "1 hour",
  policy: Reconnect.fixed("100 millis"),
  ping: { interval: "100 millis", timeout: "300 millis", message: "ping\n" }
} as const

describe("makeNet faults: half-open connections end by the ping timeout", () => {
  it.scopedLive("a live connection black-holed (FaultProxy) is dropped by the ping timeout (Timeout ping), and reconnects once the black hole is off", () =>
    Effect.gen(function*() {
      const server = yield* echoServer()
      const proxy = yield* FaultProxy.make({ target: { port: server.port } })
      const socket = yield* ResilientSocket.makeNet({
        name: "half-open",
        host: proxy.host,
        port: proxy.port,
        ...pinged
      })
      const statuses = yield* recordStatuses(socket)
      const delivered = yield* recordEvents(socket)
      yield* socket.write("live\n")
      yield* delivered.until((es) => textOfAll(es).includes("live\n"))
      // pings are answered (echoed): it stays up over several intervals
      yield* eventually(delivered.events, (es) => textOfAll(es).split("ping\n").length > 4)
      expect(backoffsOf(yield* statuses.all)).toEqual([])

      const from = yield* statuses.length
      yield* proxy.blackhole(true)
      const { status } = yield* statuses.until(isTag("Backoff"), { from })
      const cause = causeOf(status)
      expect(cause).toBeInstanceOf(Timeout)
      expect(cause).toMatchObject({ operation: "ping" })
      expect(Duration.toMillis((cause as Timeout).duration)).toBe(300)

      yield* proxy.blackhole(false)
      yield* echoesAgain(socket, delivered)
      expect((yield* socket.status)._tag).toBe("Connected")
    }).pipe(quiet))

  it.scopedLive("black-holed before the first connect: TCP connects (the proxy accepts), the ping timeout drops the half-open connection instead of hanging; reconnects once off", () =>
    Effect.gen(function*() {
      const server = yield* echoServer()
      const proxy = yield* FaultProxy.make({ target: { port: server.port } })
      yield* proxy.blackhole(true)
      const socket = yield* ResilientSocket.makeNet({
        name: "half-open-first",
        host: proxy.host,
        port: proxy.port,
        ...pinged,
        autoConnect: false
      })
      const statuses = yield* recordStatuses(socket)
      const delivered = yield* recordEvents(socket)
      yield* socket.connect
      const { index: connected } = yield* statuses.until(isTag("Connected"))
      const { status } = yield* statuses.until(isTag("Backoff"), { from: connected })
      expect(causeOf(status)).toMatchObject({ _tag: "Timeout", operation: "ping" })
      expect((yield* server.snapshot).accepted).toBe(0) // nothing reached the server

      yield* proxy.blackhole(false)
      yield* echoesAgain(socket, delivered)
    }).pipe(quiet))
})

/** A DNS lookup that never answers: `net.connect` to a host name waits on it forever. */
const neverAnswers = (counter: { lookups: number }): Net.LookupFunction => () => {
  counter.lookups++
}

/**
 * The socket in a scope of its own, closed by `close` (with a bound): a connect attempt that
 * cannot be interrupted would hang the test's own scope.
 */
const ownScope = Effect.gen(function*() {
  const scope = yield* Scope.make()
  const close = Scope.close(scope, Exit.void).pipe(
    Effect.timeoutFail({
      duration: "3 seconds",
      onTimeout: () => new Error("closing the socket hung: its connect attempt could not be interrupted")
    }),
    Effect.orDie
  )
  return { scope, close }
})

describe("makeNet faults: a connect that never completes", () => {
  it.scopedLive("an explicit connectTimeout ends a connect whose lookup never answers: Backoff with Timeout (connect), and the policy retries", () =>
    Effect.gen(function*() {
      const counter = { lookups: 0 }
      const { close, scope } = yield* ownScope
      const socket = yield* Scope.extend(
        ResilientSocket.makeNet({
          name: "hung",
          host: "never-answers.invalid",
          port: 9,
          lookup: neverAnswers(counter),
          connectTimeout: "200 millis",
          minUptime: 0,
          policy: Reconnect.fixed("50 millis")
        }),
        scope
      )
      const statuses = yield* recordStatuses(socket)
      yield* statuses.until((s) => s._tag === "Backoff" && s.attempt === 2, { timeout: "4 seconds" })
      for (const b of backoffsOf(yield* statuses.all).slice(0, 2)) {
        expect(b.error.cause).toBeInstanceOf(Timeout)
        expect(b.error.cause).toMatchObject({ operation: "connect" })
        expect(Duration.toMillis((b.error.cause as Timeout).duration)).toBe(200)
      }
      expect(counter.lookups).toBeGreaterThanOrEqual(2)
      yield* close
    }).pipe(quiet))

  it.scoped("connectTimeout defaults to 10 seconds (TestClock): still connecting at 9.999 s, Backoff with Timeout (connect, 10 s) at 10 s", () =>
    Effect.gen(function*() {
      const counter = { lookups: 0 }
      const { close, scope } = yield* ownScope
      const socket = yield* Scope.extend(
        ResilientSocket.makeNet({
          name: "hung-default",
          host: "never-answers.invalid",
          port: 9,
          lookup: neverAnswers(counter),
          minUptime: 0,
          policy: Reconnect.fixed("1 hour")
        }),
        scope
      )
      yield* TestTime.settle()
      expect(yield* socket.status).toMatchObject({ _tag: "Connecting", attempt: 1 })
      yield* TestClock.adjust("9999 millis")
      yield* TestTime.settle()
      expect(yield* socket.status).toMatchObject({ _tag: "Connecting", attempt: 1 })
      yield* TestClock.adjust("1 millis")
      yield* TestTime.settle()
      const status = yield* socket.status
      expect(status._tag).toBe("Backoff")
      const cause = causeOf(status)
      expect(cause).toBeInstanceOf(Timeout)
      expect(cause).toMatchObject({ operation: "connect" })
      expect(Duration.toMillis((cause as Timeout).duration)).toBe(10_000)
      expect(counter.lookups).toBe(1)
      yield* close
    }).pipe(quiet))
})

// --- minUptime ------------------------------------------------------------------------------------

describe("makeNet faults: minUptime", () => {
  it.scopedLive("a flapping server (drops every connection as soon as the client speaks): the backoff grows per the policy, not reset by each short connection", () =>
    Effect.gen(function*() {
      const server = yield* tcpServer({ handler: (s) => s.once("data", () => s.resetAndDestroy()) })
      const socket = yield* ResilientSocket.makeNet({
        name: "flapping",
        host: server.host,
        port: server.port,
        minUptime: "3 seconds",
        policy: Reconnect.exponential({ min: "40 millis", max: "5 seconds" })
      })
      const statuses = yield* recordStatuses(socket)
      // say something on every new connection: the server drops it
      yield* Effect.forkScoped(
        Stream.runForEach(
          socket.changes,
          (s) => s._tag === "Connected" ? Effect.forkScoped(Effect.ignore(socket.write("hi\n"))) : Effect.void
        )
      )
      yield* statuses.until((s) => s._tag === "Backoff" && s.attempt === 4)
      const all = yield* statuses.all
      const backoffs = backoffsOf(all).slice(0, 4)
      expect(backoffs.map((b) => b.attempt)).toEqual([1, 2, 3, 4])
      expect(backoffs.map((b) => Duration.toMillis(b.delay))).toEqual([40, 80, 160, 320])
      // each was a connection that was up, then dropped (not a failed connect)
      for (const b of backoffs) {
        const at = all.indexOf(b)
        expect(all[at - 1]).toMatchObject({ _tag: "Connected", attempt: b.attempt })
        expect(b.error.cause).toBeInstanceOf(SocketError)
      }
      expect((yield* server.snapshot).accepted).toBeGreaterThanOrEqual(4)
    }).pipe(quiet))

  it.scopedLive("a connection that lasted longer than minUptime, then dropped: the next attempt is at once, attempt 1 (the counter restarted)", () =>
    Effect.gen(function*() {
      const server = yield* echoServer()
      yield* server.stop // refused at first: the counter climbs
      const socket = yield* ResilientSocket.makeNet({
        name: "lasted",
        host: server.host,
        port: server.port,
        minUptime: "300 millis",
        policy: Reconnect.exponential({ min: "40 millis", max: "1 second" })
      })
      const statuses = yield* recordStatuses(socket)
      yield* statuses.until((s) => s._tag === "Backoff" && s.attempt === 2)
      yield* server.restart
      const { status: connected } = yield* statuses.until(isTag("Connected"))
      expect(connected._tag === "Connected" && connected.attempt).toBeGreaterThan(1)
      yield* Effect.sleep("600 millis") // up for twice minUptime

      const from = yield* statuses.length
      yield* server.destroyAll
      const { index } = yield* statuses.until(isTag("Connected"), { from })
      expect((yield* statuses.all).slice(from, index + 1)).toMatchObject([
        { _tag: "Connecting", attempt: 1 },
        { _tag: "Connected", attempt: 1 }
      ])
    }).pipe(quiet))
})
