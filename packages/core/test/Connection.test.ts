import { describe, expect, it } from "@effect/vitest"
import { TestConnector, TestTime } from "@redial/testing"
import {
  Chunk,
  Duration,
  Effect,
  Exit,
  Fiber,
  FiberRef,
  HashSet,
  Logger,
  LogLevel,
  Metric,
  MetricState,
  Option,
  Schedule,
  Scope,
  Stream,
  TestClock,
  Tracer
} from "effect"
import * as v8 from "node:v8"
import * as vm from "node:vm"
import { Closed, Connection, InvalidOption, NotConnected, Reconnect, Timeout } from "../src/index.js"
import { metrics } from "../src/internal/connection.js"

const { settle } = TestTime

/** `global.gc`, exposed at run time (the test workers are not started with --expose-gc). */
const exposeGc = (): () => void => {
  v8.setFlagsFromString("--expose-gc")
  return vm.runInNewContext("gc") as () => void
}

/** A manager on a scripted connector, with a fixed 1 s policy unless told otherwise. */
const setup = <E = TestConnector.TestConnectError>(
  script: ReadonlyArray<TestConnector.Step<E>> = [],
  options: Partial<Connection.Options<TestConnector.TestConnection, E, never, void>> = {}
) =>
  Effect.gen(function*() {
    const connector = yield* TestConnector.make<E>({ script })
    const conn = yield* Connection.make<TestConnector.TestConnection, E>({
      name: "test",
      acquire: connector.acquire,
      lost: connector.lost,
      policy: Reconnect.fixed("1 second"),
      ...options
    })
    return { connector, conn }
  })

/** Collects every status the connection goes through, from now on. */
const record = (conn: Connection.Connection<unknown>) =>
  Effect.gen(function*() {
    const seen: Array<Connection.Status> = []
    yield* conn.changes.pipe(Stream.runForEach((s) => Effect.sync(() => seen.push(s))), Effect.forkScoped)
    yield* settle()
    return seen
  })

const show = (s: Connection.Status): string =>
  s._tag === "Connecting" || s._tag === "Connected"
    ? `${s._tag}(${s.attempt})`
    : s._tag === "Backoff"
    ? `Backoff(${s.attempt}, ${Duration.toMillis(s.delay)})`
    : s._tag === "Closed"
    ? `Closed(${s.reason})`
    : s._tag

describe("Connection", () => {
  describe("connecting", () => {
    it.scoped("connects at once and hands out the connection", () =>
      Effect.gen(function*() {
        const { conn, connector } = yield* setup()
        const connection = yield* conn.await()
        expect(connection.id).toBe(1)
        expect(yield* conn.get).toBe(connection)
        expect((yield* conn.status)._tag).toBe("Connected")
        expect(yield* connector.attemptTimes).toEqual([0])
      }))

    it.scoped("backs off by the policy after each failed attempt", () =>
      Effect.gen(function*() {
        const { conn, connector } = yield* setup(TestConnector.succeedAfter(3), {
          policy: Reconnect.exponential()
        })
        yield* TestTime.advanceUntilDone(conn.await(), { step: "100 millis" })
        // attempts at 0, then after 1000, 2000, 4000 ms of backoff
        expect(yield* connector.attemptTimes).toEqual([0, 1000, 3000, 7000])
      }))

    it.scoped("reconnects at once after a loss, and restarts the policy after a successful connect", () =>
      Effect.gen(function*() {
        const { conn, connector } = yield* setup(TestConnector.succeedAfter(2), {
          policy: Reconnect.exponential()
        })
        yield* TestTime.advanceUntilDone(conn.await(), { step: "100 millis" })
        expect(yield* connector.attemptTimes).toEqual([0, 1000, 3000])

        // up for the minimum uptime (5 s), lost at 8000: the next attempt starts at once, and its
        // failures back off from 1 s again
        yield* TestClock.adjust("5 seconds")
        yield* connector.script(...TestConnector.succeedAfter(2))
        yield* connector.lose()
        yield* settle()
        expect((yield* conn.get.pipe(Effect.flip))._tag).toBe("NotConnected")
        yield* TestTime.advanceUntilDone(conn.await(), { step: "100 millis" })
        expect(yield* connector.attemptTimes).toEqual([0, 1000, 3000, 8000, 9000, 11000])
      }))

    it.scoped("single-flight: 10,000 concurrent awaits cause exactly one attempt", () =>
      Effect.gen(function*() {
        const { conn, connector } = yield* setup([TestConnector.delay("1 second", TestConnector.succeed)])
        const waiters = yield* Effect.forkAll(Array.from({ length: 10_000 }, () => conn.await()))
        yield* settle()
        expect(yield* connector.attempts).toBe(1)
        yield* TestClock.adjust("1 second")
        const connections = yield* Fiber.join(waiters)
        expect(connections.length).toBe(10_000)
        expect(new Set(connections).size).toBe(1)
        expect(yield* connector.attempts).toBe(1)
      }))

    it.scoped("autoConnect: false stays idle until connect, and await starts it", () =>
      Effect.gen(function*() {
        const { conn, connector } = yield* setup([], { autoConnect: false })
        yield* settle()
        expect((yield* conn.status)._tag).toBe("Idle")
        expect(yield* connector.attempts).toBe(0)
        const error = yield* Effect.flip(conn.get)
        expect(error).toBeInstanceOf(NotConnected)
        expect((error as NotConnected).status._tag).toBe("Idle")
        yield* conn.await()
        expect(yield* connector.attempts).toBe(1)
      }))

    it.scoped("configure runs before every attempt and changes the config that attempt uses", () =>
      Effect.gen(function*() {
        const hosts: Array<string> = []
        const conn = yield* Connection.make({
          name: "configured",
          config: { hosts: ["a", "b", "c"], host: "" },
          configure: ({ attempt, config }) =>
            Effect.succeed({ ...config, host: config.hosts[(attempt - 1) % config.hosts.length]! }),
          acquire: ({ config }) =>
            Effect.suspend(() => {
              hosts.push(config.host)
              return config.host === "c" ? Effect.succeed(config.host) : Effect.fail("down" as const)
            }),
          policy: Reconnect.fixed("1 second")
        })
        const connected = yield* TestTime.advanceUntilDone(conn.await())
        expect(connected).toBe("c")
        expect(hosts).toEqual(["a", "b", "c"])
      }))
  })

  describe("get and await", () => {
    it.scoped("get never waits: NotConnected with the status and the last error while down", () =>
      Effect.gen(function*() {
        const { conn } = yield* setup([TestConnector.fail(), TestConnector.hang])
        yield* settle()
        const error = yield* Effect.flip(conn.get)
        expect(error._tag).toBe("NotConnected")
        const notConnected = error as NotConnected
        expect(notConnected.status._tag).toBe("Backoff")
        expect(notConnected.lastError?.attempt).toBe(1)
        expect(notConnected.lastError?.cause).toBeInstanceOf(TestConnector.TestConnectError)
        expect(notConnected.message).toContain(`Connection "test" is not connected`)
        expect(notConnected.message).toContain("use await")
      }))

    it.scoped("await with a timeout fails with Timeout", () =>
      Effect.gen(function*() {
        const { conn } = yield* setup([TestConnector.hang], { connectTimeout: "1 minute" })
        const fiber = yield* Effect.fork(conn.await({ timeout: "2 seconds" }))
        yield* TestClock.adjust("2 seconds")
        const error = yield* Effect.flip(Fiber.join(fiber))
        expect(error).toBeInstanceOf(Timeout)
        expect(error).toMatchObject({ operation: "await", connection: "test" })
        expect(Duration.toMillis((error as Timeout).duration)).toBe(2000)
      }))

    it.scoped("await with a timeout gets the connection when it comes before the deadline", () =>
      Effect.gen(function*() {
        const { conn } = yield* setup(TestConnector.succeedAfter(2))
        const fiber = yield* Effect.fork(conn.await({ timeout: "10 seconds" }))
        yield* TestClock.adjust("2 seconds")
        expect((yield* Fiber.join(fiber)).attempt).toBe(3)
        // and its timer never fires afterwards
        yield* TestClock.adjust("20 seconds")
        expect((yield* conn.status)._tag).toBe("Connected")
      }))

    it.scoped("await waits across backoffs", () =>
      Effect.gen(function*() {
        const { conn } = yield* setup(TestConnector.succeedAfter(5))
        const fiber = yield* Effect.fork(conn.await())
        yield* TestClock.adjust("4 seconds")
        expect(Option.isNone(yield* Fiber.poll(fiber))).toBe(true)
        yield* TestClock.adjust("1 second")
        expect((yield* Fiber.join(fiber)).attempt).toBe(6)
      }))
  })

  describe("closing", () => {
    it.scoped("close drops the connection, fails get, await and pending waiters with Closed; connect starts again", () =>
      Effect.gen(function*() {
        const { conn, connector } = yield* setup([TestConnector.succeed, TestConnector.hang])
        const first = yield* conn.await()
        yield* conn.close
        expect(yield* connector.releaseCount(first)).toBe(1)
        const got = yield* Effect.flip(conn.get)
        expect(got).toBeInstanceOf(Closed)
        expect((got as Closed).reason).toBe("UserClosed")
        expect((yield* Effect.flip(conn.await()))._tag).toBe("Closed")

        // a waiter pending while connecting is failed by close
        yield* conn.connect
        const waiter = yield* Effect.fork(conn.await())
        yield* settle()
        yield* conn.close
        const error = yield* Effect.flip(Fiber.join(waiter))
        expect(error).toMatchObject({ _tag: "Closed", reason: "UserClosed" })

        yield* connector.otherwise(TestConnector.succeed)
        yield* conn.connect
        const again = yield* conn.await()
        expect(again.id).toBe(2)
      }))

    it.scoped("the policy giving up closes the connection with PolicyExhausted", () =>
      Effect.gen(function*() {
        const { conn, connector } = yield* setup([], { policy: Reconnect.limit(Reconnect.fixed("1 second"), 2) })
        yield* connector.otherwise(TestConnector.fail())
        const waiter = yield* Effect.fork(conn.await())
        yield* TestClock.adjust("5 seconds")
        const error = yield* Effect.flip(Fiber.join(waiter))
        expect(error).toBeInstanceOf(Closed)
        expect(error).toMatchObject({ reason: "PolicyExhausted" })
        expect((error as Closed).error?.attempt).toBe(3)
        expect(error.message).toContain("gave up after 3 failed attempts")
        expect(yield* connector.attempts).toBe(3)
        expect((yield* Effect.flip(conn.get))._tag).toBe("Closed")
        expect((yield* Effect.flip(conn.await()))._tag).toBe("Closed")
      }))

    it.scoped("Reconnect.stop gives up after the first failure", () =>
      Effect.gen(function*() {
        const { conn, connector } = yield* setup([TestConnector.fail()], { policy: Reconnect.stop })
        const error = yield* Effect.flip(conn.await())
        expect(error).toMatchObject({ _tag: "Closed", reason: "PolicyExhausted" })
        expect(yield* connector.attempts).toBe(1)
      }))

    it.scoped("a fatal error closes the connection with FatalError, without backoff", () =>
      Effect.gen(function*() {
        const { conn, connector } = yield* setup([TestConnector.fail("bad password" as const)], {
          isFatal: (error) => error === "bad password"
        })
        const error = yield* Effect.flip(conn.await())
        expect(error).toMatchObject({ _tag: "Closed", reason: "FatalError" })
        expect((error as Closed).error?.cause).toBe("bad password")
        expect(yield* connector.attempts).toBe(1)
        expect((yield* Effect.flip(conn.get))._tag).toBe("Closed")
      }))

    it.scoped("isFatalLoss: a loss it accepts closes with FatalError, one it refuses reconnects at once", () =>
      Effect.gen(function*() {
        const { conn, connector } = yield* setup([], {
          minUptime: 0,
          isFatalLoss: (cause) => cause === "policy violation"
        })
        const first = yield* conn.await()
        // an ordinary loss: reconnected at once, without a policy step
        yield* connector.lose("reset")
        const second = yield* conn.awaitNext(first)
        expect(yield* connector.attempts).toBe(2)
        // a fatal one: closed, never reconnected
        yield* connector.lose("policy violation")
        const error = yield* Effect.flip(conn.awaitNext(second))
        expect(error).toMatchObject({ _tag: "Closed", reason: "FatalError" })
        expect((error as Closed).error?.cause).toBe("policy violation")
        yield* TestClock.adjust("1 minute")
        expect(yield* connector.attempts).toBe(2)
        expect(yield* connector.released).toBe(2)
      }))

    it.scoped("a defect in acquire is fatal", () =>
      Effect.gen(function*() {
        const { conn } = yield* setup([TestConnector.die(new Error("driver bug"))])
        const error = yield* Effect.flip(conn.await())
        expect(error).toMatchObject({ _tag: "Closed", reason: "FatalError" })
        expect(error.message).toContain("driver bug")
      }))

    it.effect("the scope ending releases the connection, fails waiters and ends changes", () =>
      Effect.gen(function*() {
        const scope = yield* Scope.make()
        const { conn, connector } = yield* setup().pipe(Scope.extend(scope))
        const connection = yield* conn.await()
        const changes = yield* Effect.fork(Stream.runCollect(conn.changes))
        yield* settle()
        yield* Scope.close(scope, Exit.void)
        expect(yield* connector.releaseCount(connection)).toBe(1)
        expect(yield* Effect.flip(conn.get)).toMatchObject({ _tag: "Closed", reason: "ScopeClosed" })
        expect(yield* Effect.flip(conn.await())).toMatchObject({ _tag: "Closed", reason: "ScopeClosed" })
        expect(yield* Effect.flip(conn.connect)).toMatchObject({ _tag: "Closed", reason: "ScopeClosed" })
        const seen = Chunk.toArray(yield* Fiber.join(changes)).map(show)
        expect(seen).toEqual(["Connected(1)", "Closed(ScopeClosed)"])
      }))

    it.effect("the scope ending fails a waiter that is waiting for the first connection", () =>
      Effect.gen(function*() {
        const scope = yield* Scope.make()
        const { conn, connector } = yield* setup([TestConnector.hang], { connectTimeout: "1 hour" }).pipe(
          Scope.extend(scope)
        )
        const waiter = yield* Effect.fork(conn.await())
        yield* settle()
        yield* Scope.close(scope, Exit.void)
        expect(yield* Effect.flip(Fiber.join(waiter))).toMatchObject({ _tag: "Closed", reason: "ScopeClosed" })
        expect(yield* connector.acquired).toBe(0)
      }))
  })

  describe("the connection's scope", () => {
    it.scoped("is closed exactly once when the connection is lost, invalidated, closed, or the outer scope ends", () =>
      Effect.gen(function*() {
        const outer = yield* Scope.make()
        const { conn, connector } = yield* setup([], { minUptime: 0 }).pipe(Scope.extend(outer))
        const first = yield* conn.await()
        yield* connector.lose()
        const second = yield* conn.awaitNext(first)
        yield* conn.invalidate(new Error("broken"))
        const third = yield* conn.awaitNext(second)
        yield* conn.close
        yield* conn.connect
        const fourth = yield* conn.await()
        yield* Scope.close(outer, Exit.void)
        for (const connection of [first, second, third, fourth]) {
          expect(yield* connector.releaseCount(connection)).toBe(1)
        }
        expect(yield* connector.acquired).toBe(4)
        expect(yield* connector.released).toBe(4)
      }))

    it.scoped("a hung attempt is cut by connectTimeout, counts as a failed attempt and backs off", () =>
      Effect.gen(function*() {
        const { conn, connector } = yield* setup([TestConnector.hang], { connectTimeout: "5 seconds" })
        const seen = yield* record(conn)
        yield* TestClock.adjust("5 seconds")
        const status = yield* conn.status
        expect(status._tag).toBe("Backoff")
        const error = (status as Extract<Connection.Status, { _tag: "Backoff" }>).error
        expect(error.cause).toBeInstanceOf(Timeout)
        expect(error.cause).toMatchObject({ operation: "connect" })
        yield* TestClock.adjust("1 second")
        yield* conn.await()
        expect(yield* connector.attemptTimes).toEqual([0, 6000])
        expect(seen.map(show)).toEqual(["Connecting(1)", "Backoff(1, 1000)", "Connecting(2)", "Connected(2)"])
      }))

    it.scoped("invalidate with an older connection does not drop the newer one", () =>
      Effect.gen(function*() {
        const { conn, connector } = yield* setup([], { minUptime: 0 })
        const first = yield* conn.await()
        yield* conn.invalidate("broken", first)
        const second = yield* conn.awaitNext(first)
        yield* conn.invalidate("late report about the first", first)
        yield* settle()
        expect(yield* conn.get).toBe(second)
        expect(yield* connector.acquired).toBe(2)
      }))
  })

  describe("hooks", () => {
    it.scoped("afterConnect runs on every connection; its failure drops it and counts as a failed attempt", () =>
      Effect.gen(function*() {
        let calls = 0
        const { conn, connector } = yield* setup([], {
          afterConnect: () =>
            Effect.suspend(() => {
              calls += 1
              return calls === 1
                ? Effect.fail(new TestConnector.TestConnectError({ reason: "setup failed" }))
                : Effect.void
            })
        })
        yield* TestTime.advanceUntilDone(conn.await())
        expect(calls).toBe(2)
        expect(yield* connector.acquired).toBe(2)
        expect(yield* connector.released).toBe(1)
        expect(yield* connector.attemptTimes).toEqual([0, 1000])
      }))

    it.scoped("a failing health check drops the connection and reconnects", () =>
      Effect.gen(function*() {
        let healthy = true
        const { conn, connector } = yield* setup([], {
          healthCheck: {
            interval: "10 seconds",
            check: () => Effect.suspend(() => healthy ? Effect.void : Effect.fail("no pong"))
          }
        })
        const first = yield* conn.await()
        yield* TestClock.adjust("30 seconds")
        expect(yield* conn.get).toBe(first)
        healthy = false
        yield* TestClock.adjust("10 seconds")
        healthy = true
        const second = yield* conn.await()
        expect(second.id).toBe(2)
        expect(yield* connector.releaseCount(first)).toBe(1)
      }))

    it.scoped("a health check that does not answer in time drops the connection", () =>
      Effect.gen(function*() {
        const { conn } = yield* setup([], {
          healthCheck: { interval: "10 seconds", timeout: "1 second", check: () => Effect.never }
        })
        const first = yield* conn.await()
        yield* TestClock.adjust("11 seconds")
        const second = yield* conn.await()
        expect(second.id).not.toBe(first.id)
      }))
  })

  describe("changes", () => {
    it.scoped("emits every transition in order", () =>
      Effect.gen(function*() {
        const { conn, connector } = yield* setup([TestConnector.fail(), TestConnector.fail(), TestConnector.succeed], {
          autoConnect: false,
          policy: Reconnect.exponential()
        })
        const seen = yield* record(conn)
        yield* conn.connect
        const first = yield* TestTime.advanceUntilDone(conn.await(), { step: "500 millis" })
        yield* TestClock.adjust("5 seconds")
        yield* connector.lose()
        yield* conn.awaitNext(first)
        yield* conn.close
        yield* settle()
        expect(seen.map(show)).toEqual([
          "Idle",
          "Connecting(1)",
          "Backoff(1, 1000)",
          "Connecting(2)",
          "Backoff(2, 2000)",
          "Connecting(3)",
          "Connected(3)",
          "Connecting(1)",
          "Connected(1)",
          "Closed(UserClosed)"
        ])
      }))
  })

  describe("interrupted waiters", () => {
    it.scoped("leave nothing behind: memory stays flat over 100,000 interrupted waits", () =>
      Effect.gen(function*() {
        const gc = exposeGc()
        const { conn } = yield* setup([TestConnector.hang], { connectTimeout: "1 hour" })
        const round = Effect.gen(function*() {
          const fibers = yield* Effect.forkAll(Array.from({ length: 1000 }, () => conn.await()))
          yield* settle(3)
          yield* Fiber.interrupt(fibers)
        })
        yield* Effect.repeatN(round, 9) // warm up
        gc()
        const before = process.memoryUsage().heapUsed
        yield* Effect.repeatN(round, 99) // 100 × 1000 interrupted waits
        gc()
        const growth = process.memoryUsage().heapUsed - before
        // A leaked waiter keeps its fiber (kilobytes): 100,000 of them would be hundreds of MB.
        expect(growth).toBeLessThan(8 * 1024 * 1024)
        // and the connection still works for the next waiter
        expect((yield* conn.status)._tag).toBe("Connecting")
      }))

    it.scoped("an interrupted timed wait is released at once, not at its deadline", () =>
      Effect.gen(function*() {
        const gc = exposeGc()
        const { conn } = yield* setup([TestConnector.hang], { connectTimeout: "2 hours" })
        const round = Effect.gen(function*() {
          const fibers = yield* Effect.forkAll(Array.from({ length: 1000 }, () => conn.await({ timeout: "1 hour" })))
          yield* settle(3)
          yield* Fiber.interrupt(fibers)
        })
        yield* Effect.repeatN(round, 4) // warm up
        gc()
        const before = process.memoryUsage().heapUsed
        yield* Effect.repeatN(round, 29) // 30 × 1000 interrupted waits, an hour before their deadline
        gc()
        const growth = process.memoryUsage().heapUsed - before
        // Kept until its deadline, each would hold its fiber: 2.5 KB, 75 MB for these 30,000.
        expect(growth).toBeLessThan(4 * 1024 * 1024)
      }))

    it.scoped("timed-out waiters leave nothing behind either", () =>
      Effect.gen(function*() {
        const { conn } = yield* setup([TestConnector.hang], { connectTimeout: "1 hour" })
        const waiters = yield* Effect.forEach(
          Array.from({ length: 100 }, () => conn.await({ timeout: "1 second" })),
          (wait) => Effect.fork(Effect.flip(wait))
        )
        yield* TestClock.adjust("1 second")
        for (const waiter of waiters) expect(yield* Fiber.join(waiter)).toBeInstanceOf(Timeout)
        // the connection is still connecting, and a new waiter still gets the connection
        yield* conn.invalidate("unused")
        expect((yield* conn.status)._tag).toBe("Connecting")
      }))
  })

  describe("options", () => {
    it.scoped("invalid options fail with InvalidOption naming the option", () =>
      Effect.gen(function*() {
        const cases: Array<[Partial<Omit<Connection.Options<number, never, never, void>, "awaitConnected">>, string]> =
          [
            [{ connectTimeout: 0 }, "connectTimeout"],
            [{ connectTimeout: -5 }, "connectTimeout"],
            [{ afterConnectTimeout: "0 millis" }, "afterConnectTimeout"],
            [{ healthCheck: { interval: 0, check: () => Effect.void } }, "healthCheck.interval"],
            [{ healthCheck: { interval: 10, timeout: -1, check: () => Effect.void } }, "healthCheck.timeout"],
            [{ name: "" }, "name"]
          ]
        for (const [options, option] of cases) {
          const error = yield* Effect.flip(Connection.make({ acquire: Effect.succeed(1), ...options }))
          expect(error).toBeInstanceOf(InvalidOption)
          expect(error.option).toBe(option)
          expect(error.message).toContain(option)
        }
      }))

    it.scoped("any Schedule works as a policy, and receives the connect error", () =>
      Effect.gen(function*() {
        const inputs: Array<unknown> = []
        const policy = Schedule.spaced("3 seconds").pipe(
          Schedule.tapInput((error: unknown) => Effect.sync(() => inputs.push(error)))
        )
        const { conn, connector } = yield* setup(TestConnector.succeedAfter(2), { policy })
        yield* TestTime.advanceUntilDone(conn.await())
        expect(yield* connector.attemptTimes).toEqual([0, 3000, 6000])
        expect(inputs.length).toBe(2)
        expect(inputs[0]).toBeInstanceOf(TestConnector.TestConnectError)
      }))
  })

  describe("observability", () => {
    it.scoped("logs every transition with the connection's name", () =>
      Effect.gen(function*() {
        const lines: Array<{ message: unknown; annotations: Record<string, unknown> }> = []
        const logger = Logger.make(({ annotations, message }) => {
          const record: Record<string, unknown> = {}
          for (const [key, value] of annotations) record[key] = value
          lines.push({ message, annotations: record })
        })
        yield* Effect.gen(function*() {
          const { conn } = yield* setup(TestConnector.succeedAfter(1), { name: "orders-db" })
          yield* TestTime.advanceUntilDone(conn.await())
          yield* conn.close
        }).pipe(
          Effect.locallyWith(FiberRef.currentLoggers, HashSet.add(logger)),
          Logger.withMinimumLogLevel(LogLevel.All)
        )
        const statuses = lines.map((l) => l.annotations["status"])
        expect(statuses).toEqual(["Connecting", "Backoff", "Connecting", "Connected", "Closed"])
        for (const line of lines) expect(line.annotations["connection"]).toBe("orders-db")
      }))

    it.scoped("counts attempts and failures, gauges the status, records connect durations", () =>
      Effect.gen(function*() {
        const { conn } = yield* setup(
          [TestConnector.fail(), TestConnector.delay("250 millis", TestConnector.succeed)],
          { name: "metrics-test" }
        )
        yield* TestTime.advanceUntilDone(conn.await(), { step: "250 millis" })
        const tagged = <T, I, O>(metric: Metric.Metric<T, I, O>) => Metric.tagged(metric, "connection", "metrics-test")
        const attempts = yield* Metric.value(tagged(metrics.attempts))
        const failures = yield* Metric.value(tagged(metrics.failures))
        const status = yield* Metric.value(tagged(metrics.status))
        const durations = yield* Metric.value(tagged(metrics.connectDuration))
        expect(attempts.count).toBe(2)
        expect(failures.count).toBe(1)
        expect(status.value).toBe(2)
        expect(MetricState.isHistogramState(durations) && durations.count).toBe(1)
        expect(durations.sum).toBe(250)
      }))

    it.scoped("makes one span per connect attempt", () =>
      Effect.gen(function*() {
        const spans: Array<{ name: string; attributes: Map<string, unknown> }> = []
        const base = yield* Effect.tracer
        const tracer = Tracer.make({
          span: (name, parent, context, links, startTime, kind) => {
            const span = base.span(name, parent, context, links, startTime, kind)
            const attributes = new Map<string, unknown>()
            spans.push({ name, attributes })
            return Object.assign(Object.create(span) as Tracer.Span, {
              attribute: (key: string, value: unknown) => {
                attributes.set(key, value)
                span.attribute(key, value)
              }
            })
          },
          context: base.context
        })
        yield* Effect.gen(function*() {
          const { conn } = yield* setup(TestConnector.succeedAfter(2), { name: "traced" })
          yield* TestTime.advanceUntilDone(conn.await())
        }).pipe(Effect.withTracer(tracer))
        const connects = spans.filter((s) => s.name === "redial.connect")
        expect(connects.length).toBe(3)
        expect(connects.map((s) => s.attributes.get("redial.attempt"))).toEqual([1, 2, 3])
        expect(connects.every((s) => s.attributes.get("redial.connection") === "traced")).toBe(true)
      }))
  })
})
