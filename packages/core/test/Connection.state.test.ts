import { describe, expect, it } from "@effect/vitest"
import { TestConnector, TestTime } from "@redial/testing"
import { Duration, Effect, Either, Exit, Fiber, Option, Schedule, Scope, Supervisor, TestClock } from "effect"
import * as fc from "fast-check"
import { Connection, InvalidOption, Reconnect } from "../src/index.js"

const { settle } = TestTime

type Conn = Connection.Connection<TestConnector.TestConnection>

/**
 * `get` and `status` read in one synchronous step, and checked against each other: `get`
 * succeeds exactly when the status is `Connected`, fails `Closed` exactly when it is `Closed`,
 * and otherwise fails `NotConnected` carrying that same status.
 */
const consistent = (conn: Conn) =>
  Effect.gen(function*() {
    const [status, got] = yield* Effect.all([conn.status, Effect.either(conn.get)])
    if (status._tag === "Connected") expect(Either.isRight(got)).toBe(true)
    else if (status._tag === "Closed") expect(Either.isLeft(got) && got.left._tag).toBe("Closed")
    else {
      expect(Either.isLeft(got) && got.left._tag).toBe("NotConnected")
      if (Either.isLeft(got) && got.left._tag === "NotConnected") expect(got.left.status).toEqual(status)
    }
    return { status, got }
  })

type Op =
  | { readonly _tag: "connect" }
  | { readonly _tag: "close" }
  | { readonly _tag: "lose" }
  | { readonly _tag: "invalidate" }
  | { readonly _tag: "invalidateStale" }
  | { readonly _tag: "advance"; readonly millis: number }
  | { readonly _tag: "await"; readonly timeout: number | undefined }
  | { readonly _tag: "awaitNext" }
  | { readonly _tag: "interrupt"; readonly index: number }
  | { readonly _tag: "script"; readonly step: "fail" | "slow" | "hang" }
  | { readonly _tag: "noSettle" }

const op: fc.Arbitrary<Op> = fc.oneof(
  fc.constant({ _tag: "connect" } as const),
  fc.constant({ _tag: "close" } as const),
  fc.constant({ _tag: "lose" } as const),
  fc.constant({ _tag: "invalidate" } as const),
  fc.constant({ _tag: "invalidateStale" } as const),
  fc.constantFrom(0, 10, 500, 1000, 6000).map((millis) => ({ _tag: "advance", millis } as const)),
  fc.constantFrom(undefined, 0, 700, 5000).map((timeout) => ({ _tag: "await", timeout } as const)),
  fc.constant({ _tag: "awaitNext" } as const),
  fc.nat(20).map((index) => ({ _tag: "interrupt", index } as const)),
  fc.constantFrom("fail" as const, "slow" as const, "hang" as const).map((step) => ({ _tag: "script", step } as const)),
  fc.constant({ _tag: "noSettle" } as const)
)

describe("Connection state", () => {
  it.effect.prop(
    "random interleavings: get and status agree at every step, waiters are resumed, every connection's scope closes once",
    [fc.array(op, { minLength: 1, maxLength: 40 })],
    ([ops]) =>
      Effect.gen(function*() {
        const outer = yield* Scope.make()
        const connector = yield* TestConnector.make<TestConnector.TestConnectError>({
          otherwise: TestConnector.succeed
        })
        const conn = yield* Connection.make({
          name: "prop",
          acquire: connector.acquire,
          lost: connector.lost,
          policy: Reconnect.fixed("1 second"),
          connectTimeout: "3 seconds",
          minUptime: "2 seconds"
        }).pipe(Scope.extend(outer))
        const waiters: Array<Fiber.RuntimeFiber<TestConnector.TestConnection, unknown>> = []
        const handedOut: Array<TestConnector.TestConnection> = []
        // connections dropped by the model: never handed out again
        const dropped = new Set<number>()
        let settleNext = true

        for (const step of ops) {
          switch (step._tag) {
            case "connect":
              yield* conn.connect
              break
            case "close":
              yield* conn.close
              break
            case "lose": {
              const live = yield* connector.live
              if (Option.isSome(live)) {
                yield* connector.lose()
                // the loss is reported by the driver: once its report has run, it is gone
                yield* settle()
                dropped.add(live.value.id)
              }
              break
            }
            case "invalidate": {
              const got = yield* Effect.either(conn.get)
              yield* conn.invalidate("broken")
              // synchronously after invalidate: never that connection again
              if (Either.isRight(got)) dropped.add(got.right.id)
              const after = yield* Effect.either(conn.get)
              if (Either.isRight(after)) expect(dropped.has(after.right.id)).toBe(false)
              break
            }
            case "invalidateStale": {
              const stale = handedOut.find((c) => dropped.has(c.id))
              if (stale !== undefined) yield* conn.invalidate("stale", stale)
              break
            }
            case "advance":
              yield* TestClock.adjust(step.millis)
              break
            case "await":
              waiters.push(
                yield* Effect.fork(step.timeout === undefined ? conn.await() : conn.await({ timeout: step.timeout }))
              )
              break
            case "awaitNext":
              waiters.push(yield* Effect.fork(conn.awaitNext(handedOut[handedOut.length - 1])))
              break
            case "interrupt": {
              const fiber = waiters[step.index % Math.max(1, waiters.length)]
              if (fiber !== undefined) yield* Fiber.interrupt(fiber)
              break
            }
            case "script":
              yield* connector.script(
                step.step === "fail"
                  ? TestConnector.fail()
                  : step.step === "slow"
                  ? TestConnector.delay("500 millis", TestConnector.succeed)
                  : TestConnector.hang
              )
              break
            case "noSettle":
              settleNext = false
              break
          }
          if (settleNext) yield* settle()
          settleNext = true

          const { got, status } = yield* consistent(conn)
          if (Either.isRight(got)) {
            expect(dropped.has(got.right.id)).toBe(false)
            if (!handedOut.includes(got.right)) handedOut.push(got.right)
          }
          // waiters are resumed: none is left waiting while connected or closed
          if (status._tag === "Connected" || status._tag === "Closed") {
            yield* settle()
            for (const fiber of waiters) {
              const exit = yield* Fiber.poll(fiber)
              if (Option.isNone(exit)) {
                // only an awaitNext whose `previous` is the live connection may still wait
                expect(Either.isRight(got)).toBe(true)
              } else if (Exit.isSuccess(exit.value)) {
                expect(handedOut.map((c) => c.id)).toContain(exit.value.value.id)
              }
            }
          }
          // at most one connection is open at a time
          expect((yield* connector.acquired) - (yield* connector.released)).toBeLessThanOrEqual(1)
        }

        yield* Scope.close(outer, Exit.void)
        const acquired = yield* connector.acquired
        expect(yield* connector.released).toBe(acquired)
        for (const connection of handedOut) expect(yield* connector.releaseCount(connection)).toBe(1)
        // every waiter has ended, with a connection, Closed, Timeout or interruption
        for (const fiber of waiters) expect(Option.isSome(yield* Fiber.poll(fiber))).toBe(true)
        const final = yield* Effect.either(conn.get)
        expect(Either.isLeft(final) && final.left._tag).toBe("Closed")
      }),
    { fastCheck: { numRuns: 150 } }
  )

  it.scoped("right after invalidate, with no yield in between, get refuses the connection and status agrees", () =>
    Effect.gen(function*() {
      const connector = yield* TestConnector.make()
      const conn: Conn = yield* Connection.make({
        name: "invalidated",
        acquire: connector.acquire,
        lost: connector.lost,
        policy: Reconnect.fixed("1 second"),
        minUptime: 0
      })
      const first = yield* conn.await()
      const [status, got, waiter] = yield* conn.invalidate("broken", first).pipe(
        Effect.zipRight(Effect.all([conn.status, Effect.either(conn.get), Effect.fork(conn.await())]))
      )
      expect(status).toMatchObject({ _tag: "Connecting", attempt: 1 })
      expect(got).toMatchObject({ _tag: "Left", left: { _tag: "NotConnected", status } })
      // a waiter that came right after the invalidate gets the next connection, not the dropped one
      const second = yield* Fiber.join(waiter)
      expect(second.id).toBe(2)
      expect(yield* connector.releaseCount(first)).toBe(1)
    }))
})

describe("awaitNext", () => {
  it.scoped("returns the live connection at once when it is not `previous`", () =>
    Effect.gen(function*() {
      const connector = yield* TestConnector.make()
      const conn = yield* Connection.make({ acquire: connector.acquire, lost: connector.lost })
      const first = yield* conn.await()
      expect(yield* conn.awaitNext(undefined)).toBe(first)
      expect(yield* conn.awaitNext({ id: -1, attempt: 0, connectedAt: 0 })).toBe(first)
    }))

  it.scoped("waits on an event for the connection after `previous`: no polling, no busy loop", () =>
    Effect.gen(function*() {
      const connector = yield* TestConnector.make()
      const conn = yield* Connection.make({
        acquire: connector.acquire,
        lost: connector.lost,
        policy: Reconnect.fixed("100 millis"),
        minUptime: 0
      })
      const first = yield* conn.await()
      // the next connect attempt fails once: the waiter sits through a 100 ms backoff
      yield* connector.script(TestConnector.fail())
      const next = yield* Effect.fork(conn.awaitNext(first))
      yield* settle()
      expect(Option.isNone(yield* Fiber.poll(next))).toBe(true)
      yield* connector.lose()
      yield* settle()
      // suspended, not running: it would spin while the connection is down otherwise
      expect((yield* Fiber.status(next))._tag).toBe("Suspended")
      expect(Option.isNone(yield* Fiber.poll(next))).toBe(true)
      yield* TestClock.adjust("100 millis")
      const second = yield* Fiber.join(next)
      expect(second.id).toBe(2)
      expect(yield* connector.attempts).toBe(3)
    }))

  it.scoped("waits while `previous` is still the live connection, until it is replaced", () =>
    Effect.gen(function*() {
      const connector = yield* TestConnector.make()
      const conn = yield* Connection.make({ acquire: connector.acquire, lost: connector.lost, minUptime: 0 })
      const first = yield* conn.await()
      const next = yield* Effect.fork(conn.awaitNext(first))
      yield* TestClock.adjust("1 hour")
      expect(Option.isNone(yield* Fiber.poll(next))).toBe(true)
      yield* conn.invalidate("broken", first)
      expect((yield* Fiber.join(next)).id).toBe(2)
    }))

  it.scoped("fails with Closed when the connection closes, and starts a lazy connection", () =>
    Effect.gen(function*() {
      const connector = yield* TestConnector.make()
      const conn = yield* Connection.make({ acquire: connector.acquire, lost: connector.lost, autoConnect: false })
      const first = yield* conn.awaitNext(undefined)
      expect(yield* connector.attempts).toBe(1)
      const next = yield* Effect.fork(conn.awaitNext(first))
      yield* settle()
      yield* conn.close
      const error = yield* Effect.flip(Fiber.join(next))
      expect(error._tag).toBe("Closed")
      expect(error.reason).toBe("UserClosed")
    }))

  it.scoped("an interrupted awaitNext leaves nothing behind", () =>
    Effect.gen(function*() {
      const connector = yield* TestConnector.make()
      const conn = yield* Connection.make({ acquire: connector.acquire, lost: connector.lost, minUptime: 0 })
      const first = yield* conn.await()
      const fibers = yield* Effect.forEach(Array.from({ length: 100 }), () => Effect.fork(conn.awaitNext(first)))
      yield* settle()
      yield* Fiber.interruptAll(fibers)
      yield* conn.invalidate("broken", first)
      const second = yield* conn.awaitNext(first)
      expect(second.id).toBe(2)
    }))
})

describe("minimum uptime", () => {
  /** A server that accepts and resets: every connection is lost `after` its connect. */
  const flapping = (options: { readonly after: Duration.DurationInput; readonly minUptime?: Duration.DurationInput }) =>
    Effect.gen(function*() {
      const connector = yield* TestConnector.make()
      const conn = yield* Connection.make({
        name: "flapping",
        acquire: connector.acquire,
        lost: (c) => Effect.race(connector.lost(c), Effect.sleep(options.after)),
        policy: Reconnect.exponential({ min: "100 millis", max: "1 second" }),
        ...(options.minUptime === undefined ? {} : { minUptime: options.minUptime })
      })
      return { connector, conn }
    })

  it.scoped("a connection lost before minUptime counts as a failed attempt: the policy's delays apply", () =>
    Effect.gen(function*() {
      const { conn, connector } = yield* flapping({ after: "10 millis" })
      yield* TestClock.adjust("3 seconds")
      // connects at 0, lost at 10; then the exponential policy: 100, 200, 400, 800, 1000 …
      const times = yield* connector.attemptTimes
      expect(times.slice(0, 6)).toEqual([0, 110, 320, 730, 1540, 2550])
      const status = yield* conn.status
      expect(status._tag === "Backoff" || status._tag === "Connected" || status._tag === "Connecting").toBe(true)
    }))

  it.scoped("the status shows the backoff, the attempt counter goes on, the error is the loss", () =>
    Effect.gen(function*() {
      const { conn } = yield* flapping({ after: "10 millis" })
      yield* TestClock.adjust("10 millis")
      const status = yield* conn.status
      expect(status._tag).toBe("Backoff")
      if (status._tag !== "Backoff") return
      expect(status.attempt).toBe(1)
      expect(Duration.toMillis(status.delay)).toBe(100)
      yield* TestClock.adjust("110 millis")
      const again = yield* conn.status
      expect(again).toMatchObject({ _tag: "Backoff", attempt: 2 })
      const error = yield* Effect.flip(conn.get)
      expect(error._tag).toBe("NotConnected")
    }))

  it.scoped("a connection that lasted minUptime is reconnected at once and restarts the policy", () =>
    Effect.gen(function*() {
      const { conn, connector } = yield* flapping({ after: "10 seconds", minUptime: "5 seconds" })
      yield* TestClock.adjust("10 millis")
      // lost at 10 s after 10 s up: reconnected at once, and again at 20 s
      yield* TestClock.adjust("20 seconds")
      expect(yield* connector.attemptTimes).toEqual([0, 10_000, 20_000])
      // short-lived drops in between the long ones start the policy from its beginning
      expect((yield* conn.status)._tag).toBe("Connected")
    }))

  it.scoped("after a lasting connection, short-lived ones back off from the policy's first delay again", () =>
    Effect.gen(function*() {
      const connector = yield* TestConnector.make()
      let lifetime = 10
      const conn = yield* Connection.make({
        acquire: connector.acquire,
        lost: (c) => Effect.race(connector.lost(c), Effect.suspend(() => Effect.sleep(lifetime))),
        policy: Reconnect.exponential({ min: "100 millis", max: "10 seconds" }),
        minUptime: "1 second"
      })
      // 0: up, lost at 10; 110: up, lost at 120; the next one, at 320, will last
      yield* TestClock.adjust(200)
      expect(yield* connector.attemptTimes).toEqual([0, 110])
      lifetime = 2000
      yield* TestClock.adjust(800)
      // 320: up until 2320, longer than minUptime: reconnected at once; that one is lost at 2330
      lifetime = 10
      yield* TestClock.adjust(1500)
      // the policy started again: 100 ms after 2330, then 200 ms after 2440
      expect(yield* connector.attemptTimes).toEqual([0, 110, 320, 2320, 2430])
      expect(yield* conn.status).toMatchObject({ _tag: "Backoff", attempt: 2 })
    }))

  it.scoped("the policy giving up on short-lived connections closes with PolicyExhausted", () =>
    Effect.gen(function*() {
      const connector = yield* TestConnector.make()
      const conn = yield* Connection.make({
        acquire: connector.acquire,
        lost: (c) => Effect.race(connector.lost(c), Effect.sleep(10)),
        policy: Reconnect.limit(Reconnect.fixed("100 millis"), 2)
      })
      yield* TestClock.adjust("1 second")
      expect(yield* connector.attemptTimes).toEqual([0, 110, 220])
      const status = yield* conn.status
      expect(status).toMatchObject({ _tag: "Closed", reason: "PolicyExhausted" })
    }))

  it.scoped("minUptime: 0 reconnects at once after every loss (every connection counts)", () =>
    Effect.gen(function*() {
      const { connector } = yield* flapping({ after: "10 millis", minUptime: 0 })
      yield* TestClock.adjust(35)
      expect(yield* connector.attemptTimes).toEqual([0, 10, 20, 30])
    }))

  it.scoped("minUptime is validated", () =>
    Effect.gen(function*() {
      for (const minUptime of [-1, Number.NaN, Infinity, "soon" as never]) {
        const error = yield* Effect.flip(Connection.make({ acquire: Effect.succeed(1), minUptime }))
        expect(error).toBeInstanceOf(InvalidOption)
        expect(error.option).toBe("minUptime")
      }
      yield* Connection.make({ acquire: Effect.succeed(1), minUptime: 0 })
    }))
})

describe("Reconnect.stop", () => {
  it.scoped("does not reconnect after a loss: the connection closes with PolicyExhausted (DBConnection's :stop)", () =>
    Effect.gen(function*() {
      const connector = yield* TestConnector.make()
      const conn = yield* Connection.make({
        acquire: connector.acquire,
        lost: connector.lost,
        policy: Reconnect.stop
      })
      const first = yield* conn.await()
      yield* TestClock.adjust("1 minute") // long-lived
      yield* connector.lose(new Error("reset by peer"))
      yield* settle()
      yield* TestClock.adjust("1 minute")
      expect(yield* connector.attempts).toBe(1)
      expect(yield* connector.releaseCount(first)).toBe(1)
      const error = yield* Effect.flip(conn.get)
      expect(error).toMatchObject({ _tag: "Closed", reason: "PolicyExhausted" })
      // connect starts it again
      yield* conn.connect
      expect((yield* conn.await()).id).toBe(2)
    }))

  it.scoped("does not retry a failed attempt either", () =>
    Effect.gen(function*() {
      const connector = yield* TestConnector.make({ script: [TestConnector.fail()] })
      const conn = yield* Connection.make({ acquire: connector.acquire, policy: Reconnect.stop })
      const error = yield* Effect.flip(conn.await())
      expect(error.reason).toBe("PolicyExhausted")
      expect(yield* connector.attempts).toBe(1)
    }))
})

describe("await options", () => {
  it.scoped("a timeout that is not a duration is a typed InvalidOption, not a defect", () =>
    Effect.gen(function*() {
      const conn = yield* Connection.make({ acquire: Effect.never, connectTimeout: "1 hour" })
      const timeout: unknown = "bogus"
      const exit = yield* Effect.exit(conn.await({ timeout }))
      expect(exit).toMatchObject({ _tag: "Failure", cause: { _tag: "Fail" } })
      const error = yield* Effect.flip(conn.await({ timeout }))
      expect(error).toBeInstanceOf(InvalidOption)
      expect(error).toMatchObject({ option: "timeout", reason: "Invalid" })
    }))

  it.scoped("a zero timeout answers at once: the connection, or Timeout", () =>
    Effect.gen(function*() {
      const gate = yield* Effect.makeLatch(false)
      const conn = yield* Connection.make({ acquire: Effect.as(gate.await, 7) })
      const error = yield* Effect.flip(conn.await({ timeout: 0 }))
      expect(error._tag).toBe("Timeout")
      yield* gate.open
      yield* settle()
      expect(yield* conn.await({ timeout: 0 })).toBe(7)
    }))
})

describe("memory per connect attempt", () => {
  /** The sum of every FiberRef stack's depth of each live fiber: what a fiber keeps per attempt. */
  const depths = (fibers: ReadonlyArray<Fiber.RuntimeFiber<unknown, unknown>>) =>
    fibers.map((fiber) => {
      let depth = 0
      for (
        const stack of (fiber.getFiberRefs() as unknown as { locals: Map<unknown, ReadonlyArray<unknown>> }).locals
          .values()
      ) {
        depth += stack.length
      }
      return depth
    })

  it.scoped(
    "10,000 failed scoped attempts leave the long-lived fibers' FiberRef stacks as they were",
    () =>
      Effect.gen(function*() {
        const supervisor = yield* Supervisor.track
        let count = 0
        const hold = yield* Effect.makeLatch(false)
        const acquire = Effect.gen(function*() {
          count++
          yield* Effect.acquireRelease(Effect.succeed(count), () => Effect.void)
          if (count === 100 || count === 10_100) yield* hold.await
          return yield* Effect.fail("refused")
        }).pipe(Effect.withSpan("driver.connect"))
        yield* Connection.make({ name: "refused", acquire, policy: Schedule.forever }).pipe(
          Effect.supervised(supervisor)
        )
        const at = (n: number) =>
          Effect.gen(function*() {
            while (count < n) yield* Effect.yieldNow()
            yield* settle()
            const fibers = yield* supervisor.value
            const result = Math.max(...depths(fibers))
            yield* hold.open
            yield* settle(2)
            yield* hold.close
            return result
          })
        const before = yield* at(100)
        const after = yield* at(10_100)
        expect(after).toBe(before)
      }),
    60_000
  )
})
