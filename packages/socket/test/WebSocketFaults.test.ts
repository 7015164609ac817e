/**
 * `ResilientSocket.makeWebSocket` under faults, against a real `ws` 8 server on loopback (through
 * a FaultProxy where the fault is in TCP): every close is a typed loss with its code, even the
 * 1000 and 1006 that @effect/platform's `run` reports as a success; `shouldReconnect` makes a
 * close fatal; pings keep a live connection, and an unanswered one (a server without pongs, a
 * black hole) ends it; an upgrade the server refuses is an `Open` error, retried or fatal; a close
 * the peer never answers is bounded by `closeTimeout`.
 */
import { describe, expect, it } from "@effect/vitest"
import { Reconnect, Timeout } from "@redial/core"
import { FaultProxy } from "@redial/testing"
import { Duration, Effect, Exit, Scope, Stream } from "effect"
import { ResilientSocket, SocketError } from "../src/index.js"
import { causeOf, isTag, recordStatuses } from "./support/status.js"
import * as WsServer from "./support/wsServer.js"

const fast = { policy: Reconnect.fixed("50 millis"), minUptime: 0 } as const
/** Every loss before this is a failed attempt, so its cause shows in a Backoff status. */
const lossesBackOff = { policy: Reconnect.fixed("50 millis"), minUptime: "1 hour" } as const

/** Polls state that sends no events (a FaultProxy's counts) until `predicate` holds; dies after 5 s. */
const eventually = <A>(self: Effect.Effect<A>, predicate: (a: A) => boolean) =>
  Effect.gen(function*() {
    for (;;) {
      const value = yield* self
      if (predicate(value)) return value
      yield* Effect.sleep("10 millis")
    }
  }).pipe(Effect.timeoutFail({ duration: "5 seconds", onTimeout: () => new Error("not in time") }), Effect.orDie)

const isPingTimeout = (cause: unknown): boolean => cause instanceof Timeout && cause.operation === "ping"

describe("WebSocket faults: every close is a typed loss, and reconnects", () => {
  const cases: ReadonlyArray<{
    readonly what: string
    readonly code: number
    readonly closeReason: string
    readonly close: (server: WsServer.WsServer) => Effect.Effect<void>
  }> = [
    { what: "1001 going away", code: 1001, closeReason: "going away", close: (s) => s.closeAll(1001, "going away") },
    { what: "4000 bye", code: 4000, closeReason: "bye", close: (s) => s.closeAll(4000, "bye") },
    {
      what: "1000 normal (a success for the platform's run)",
      code: 1000,
      closeReason: "",
      close: (s) => s.closeAll(1000)
    },
    {
      what: "1006, the server terminating (a success for the platform's run)",
      code: 1006,
      closeReason: "",
      close: (s) => s.terminateAll
    }
  ]
  for (const { close, closeReason, code, what } of cases) {
    it.scopedLive(`a server close with ${what}: the loss is SocketError Close with code ${code}, and it reconnects`, () =>
      Effect.gen(function*() {
        const server = yield* WsServer.make()
        const socket = yield* ResilientSocket.makeWebSocket(server.url(), { name: `close-${code}`, ...lossesBackOff })
        const history = yield* recordStatuses(socket)
        const first = yield* socket.await({ timeout: "5 seconds" })
        yield* close(server)
        const backoff = yield* history.first(isTag("Backoff"))
        const cause = causeOf(backoff)
        expect(cause).toBeInstanceOf(SocketError)
        expect(cause).toMatchObject({ socket: `close-${code}`, reason: "Close", code, closeReason })
        expect((cause as SocketError).message).toContain(`code ${code}`)
        const second = yield* socket.await({ timeout: "5 seconds" })
        expect(second).not.toBe(first)
        expect(second.id).toBe(2)
        const seen = yield* server.until((s) => s.accepted === 2 && s.clients === 1)
        expect(seen.requests.length).toBe(2)
      }))
  }
})

describe("WebSocket faults: shouldReconnect", () => {
  const shouldReconnect = (close: ResilientSocket.CloseInfo) => close.code !== 4001 && close.code !== 1008
  for (const [code, closeReason] of [[4001, "unauthorised"], [1008, "policy"]] as const) {
    it.scopedLive(`a close with ${code} that shouldReconnect refuses closes the socket (FatalError) with no further attempt; a 4000 before it still reconnected`, () =>
      Effect.gen(function*() {
        const server = yield* WsServer.make()
        const socket = yield* ResilientSocket.makeWebSocket(server.url(), {
          name: `fatal-${code}`,
          shouldReconnect,
          ...fast
        })
        const history = yield* recordStatuses(socket)
        yield* socket.await({ timeout: "5 seconds" })
        // a close that may be retried is
        yield* server.closeAll(4000, "bye")
        yield* server.until((s) => s.accepted === 2)
        expect((yield* socket.await({ timeout: "5 seconds" })).id).toBe(2)

        yield* server.closeAll(code, closeReason)
        const closed = yield* history.first(isTag("Closed"))
        expect(closed).toMatchObject({ _tag: "Closed", reason: "FatalError" })
        const cause = causeOf(closed)
        expect(cause).toBeInstanceOf(SocketError)
        expect(cause).toMatchObject({ reason: "Close", code, closeReason })
        // and no attempt after it
        yield* Effect.sleep("300 millis")
        const seen = yield* server.snapshot
        expect(seen.requests.length).toBe(2)
        expect(seen.clients).toBe(0)
        const statuses = yield* history.all
        expect(statuses.slice(statuses.findIndex(isTag("Closed")))).toHaveLength(1)
        expect(yield* Effect.flip(socket.get)).toMatchObject({ _tag: "Closed", reason: "FatalError" })
        expect(yield* Effect.flip(socket.write("late"))).toMatchObject({ _tag: "Closed", reason: "FatalError" })
      }))
  }
})

describe("WebSocket faults: ping frames", () => {
  const ping = { interval: "100 millis", timeout: "200 millis" } as const

  it.scopedLive("a server that answers pings keeps the connection across many intervals", () =>
    Effect.gen(function*() {
      const server = yield* WsServer.make()
      const socket = yield* ResilientSocket.makeWebSocket(server.url(), { name: "pinged", ping, ...lossesBackOff })
      const history = yield* recordStatuses(socket)
      const live = yield* socket.await({ timeout: "5 seconds" })
      // 8 pings: 800 ms at least, four times the timeout
      yield* server.until((s) => s.pings >= 8)
      expect(yield* socket.get).toBe(live)
      const statuses = yield* history.all
      expect(statuses.filter((s) => s._tag !== "Connecting" && s._tag !== "Connected")).toEqual([])
      expect(statuses.filter(isTag("Connected"))).toHaveLength(1)
      expect((yield* server.snapshot).accepted).toBe(1)
    }))

  it.scopedLive("a server that never answers pings (autoPong off): the connection is lost with Timeout (operation ping) and made again", () =>
    Effect.gen(function*() {
      const server = yield* WsServer.make({ autoPong: false })
      const socket = yield* ResilientSocket.makeWebSocket(server.url(), { name: "no-pong", ping, ...lossesBackOff })
      const history = yield* recordStatuses(socket)
      yield* socket.await({ timeout: "5 seconds" })
      const [elapsed, lost] = yield* Effect.timed(history.first(isTag("Backoff")))
      expect(causeOf(lost)).toBeInstanceOf(Timeout)
      expect(causeOf(lost)).toMatchObject({ operation: "ping", connection: "no-pong" })
      expect(Duration.toMillis(elapsed)).toBeLessThan(5000)
      // the unanswered connection is gone from the server, and a new one was made
      const seen = yield* server.until((s) => s.accepted >= 2 && s.closes.some((c) => c.connection === 1))
      expect(seen.pings).toBeGreaterThanOrEqual(1)
    }))

  it.scopedLive("half-open (a black hole on the live connection): lost by the ping timeout, attempts time out while it lasts, reconnected after it", () =>
    Effect.gen(function*() {
      const server = yield* WsServer.make()
      const proxy = yield* FaultProxy.make({ target: { port: server.port } })
      const socket = yield* ResilientSocket.makeWebSocket(`ws://${proxy.address}/`, {
        name: "half-open",
        ping,
        connectTimeout: "300 millis",
        ...lossesBackOff
      })
      const history = yield* recordStatuses(socket)
      const first = yield* socket.await({ timeout: "5 seconds" })
      yield* proxy.blackhole(true)
      const lost = yield* history.first(isTag("Backoff"), "5 seconds")
      expect(causeOf(lost)).toMatchObject({ _tag: "Timeout", operation: "ping" })
      // the attempts into the black hole end by the connect timeout, not a hang
      const attempt = yield* history.first((s) => s._tag === "Backoff" && s.attempt >= 2, "5 seconds")
      const cause = causeOf(attempt)
      expect(
        cause instanceof Timeout && cause.operation === "connect" ||
          cause instanceof SocketError && cause.reason === "Open"
      ).toBe(true)
      expect(yield* socket.status).not.toMatchObject({ _tag: "Connected" })

      yield* proxy.restore
      const next = yield* socket.await({ timeout: "5 seconds" })
      expect(next).not.toBe(first)
      yield* socket.write("through")
      const echoed = yield* socket.messages.pipe(Stream.take(1), Stream.runCollect, Effect.timeout("5 seconds"))
      expect([...echoed]).toEqual(["through"])
      // the half-open connection does not linger on the server
      yield* server.until((s) => s.clients === 1 && s.sockets === 1)
      expect(yield* history.all).toContainEqual(expect.objectContaining({ _tag: "Backoff" }))
      expect(isPingTimeout(causeOf(lost))).toBe(true)
    }))
})

describe("WebSocket faults: an upgrade the server refuses", () => {
  const refuse = {
    verifyClient: (_: unknown, done: (ok: boolean, code?: number, message?: string) => void) =>
      done(false, 401, "Unauthorized")
  }

  it.scopedLive("HTTP 401 to the upgrade: each attempt fails with SocketError reason Open, and the policy retries", () =>
    Effect.gen(function*() {
      const server = yield* WsServer.make(refuse)
      const socket = yield* ResilientSocket.makeWebSocket(server.url(), { name: "refused", ...fast })
      const history = yield* recordStatuses(socket)
      const third = yield* history.first((s) => s._tag === "Backoff" && s.attempt >= 3)
      const cause = causeOf(third)
      expect(cause).toBeInstanceOf(SocketError)
      expect(cause).toMatchObject({ reason: "Open", socket: "refused" })
      expect((cause as SocketError).message).toContain("401")
      const seen = yield* server.snapshot
      expect(seen.requests.length).toBeGreaterThanOrEqual(3)
      expect(seen.accepted).toBe(0)
    }))

  it.scopedLive("HTTP 401 with isFatal: Closed (FatalError) after exactly one attempt", () =>
    Effect.gen(function*() {
      const server = yield* WsServer.make(refuse)
      const socket = yield* ResilientSocket.makeWebSocket(server.url(), {
        name: "refused-fatal",
        isFatal: (error) => error._tag === "SocketError" && error.reason === "Open",
        ...fast
      })
      const history = yield* recordStatuses(socket)
      const closed = yield* history.first(isTag("Closed"))
      expect(closed).toMatchObject({ reason: "FatalError" })
      expect(causeOf(closed)).toMatchObject({ _tag: "SocketError", reason: "Open" })
      yield* Effect.sleep("300 millis")
      expect((yield* server.snapshot).requests.length).toBe(1)
      expect((yield* history.all).filter(isTag("Connecting"))).toHaveLength(1)
    }))
})

describe("WebSocket faults: a close the peer never answers", () => {
  it.scopedLive("black-holed, the scope's close waits closeTimeout for the handshake, then destroys the socket: the server's TCP socket is gone", () =>
    Effect.gen(function*() {
      const server = yield* WsServer.make()
      const proxy = yield* FaultProxy.make({ target: { port: server.port } })
      const scope = yield* Scope.make()
      const socket = yield* ResilientSocket.makeWebSocket(`ws://${proxy.address}/`, {
        name: "close-timeout",
        closeTimeout: "300 millis",
        ...fast
      }).pipe(Scope.extend(scope))
      yield* socket.await({ timeout: "5 seconds" })
      yield* server.until((s) => s.clients === 1)
      yield* proxy.blackhole(true)
      // (disconnected: a close that hangs fails here after 10 s, not at the test's timeout)
      const [elapsed] = yield* Effect.timed(Effect.disconnect(Scope.close(scope, Exit.void))).pipe(
        Effect.timeoutFail({
          duration: "10 seconds",
          onTimeout: () => new Error("the scope's close did not end within 10 s: closeTimeout was not applied")
        }),
        Effect.orDie
      )
      // the close frame went into the hole: the wait was bounded by closeTimeout (ws's own is 30 s)
      expect(Duration.toMillis(elapsed)).toBeGreaterThanOrEqual(250)
      expect(Duration.toMillis(elapsed)).toBeLessThan(300 + 5000)
      const seen = yield* server.until((s) => s.clients === 0 && s.sockets === 0, "5 seconds")
      // no close frame reached the server: its side ended with the TCP connection
      expect(seen.closes).toEqual([{ connection: 1, code: 1006, reason: "" }])
      // and the proxy's client side (the client's own TCP socket) is closed too
      yield* eventually(Effect.map(proxy.connections, (c) => c.open), (open) => open === 0)
    }))
})
