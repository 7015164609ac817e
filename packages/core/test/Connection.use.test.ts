import { describe, expect, it } from "@effect/vitest"
import { TestConnector, TestTime } from "@redial/testing"
import { Duration, Effect, Exit } from "effect"
import { ConnectFailed, Connection, Reconnect, RedialError, Timeout } from "../src/index.js"

class SocketError extends RedialError("SocketError")<{ readonly reason: string }> {}
class NotFound extends RedialError("NotFound")<{ readonly key: string }> {}

const isTransportError = (e: SocketError | NotFound) => e._tag === "SocketError"

/** A manager on a scripted connector, with a fixed 1 s policy and no minimum uptime. */
const setup = (script: ReadonlyArray<TestConnector.Step> = []) =>
  Effect.gen(function*() {
    const connector = yield* TestConnector.make({ script })
    const conn = yield* Connection.make({
      name: "kv",
      acquire: connector.acquire,
      lost: connector.lost,
      policy: Reconnect.fixed("1 second"),
      minUptime: 0
    })
    return { connector, conn }
  })

describe("Connection.use", () => {
  it.scoped("waits for the connection, then runs the effect with it", () =>
    Effect.gen(function*() {
      const { conn, connector } = yield* setup(TestConnector.succeedAfter(2))
      const id = yield* TestTime.advanceUntilDone(conn.use((c) => Effect.succeed(c.id)))
      expect(id).toBe(1)
      expect(yield* connector.attemptTimes).toEqual([0, 1000, 2000])
    }))

  it.scoped("a transport error invalidates the connection: the next use gets a new one", () =>
    Effect.gen(function*() {
      const { conn, connector } = yield* setup()
      const first = yield* conn.await()
      const error = yield* Effect.flip(
        conn.use(() => Effect.fail<SocketError | NotFound>(new SocketError({ reason: "EPIPE" })), { isTransportError })
      )
      expect(error._tag).toBe("SocketError")
      // dropped when use returned: get no longer hands it out; then its scope is closed
      const now = yield* Effect.either(conn.get)
      expect(now._tag === "Right" && now.right === first).toBe(false)
      yield* TestTime.settle()
      expect(yield* connector.releaseCount(first)).toBe(1)
      const next = yield* TestTime.advanceUntilDone(conn.use((c) => Effect.succeed(c)))
      expect(next.id).toBe(2)
    }))

  it.scoped("an error that is not a transport error keeps the connection", () =>
    Effect.gen(function*() {
      const { conn, connector } = yield* setup()
      const first = yield* conn.await()
      const error = yield* Effect.flip(
        conn.use(() => Effect.fail<SocketError | NotFound>(new NotFound({ key: "a" })), { isTransportError })
      )
      expect(error._tag).toBe("NotFound")
      expect(yield* conn.get).toBe(first)
      expect(yield* connector.releaseCount(first)).toBe(0)
    }))

  it.scoped("without isTransportError, no failure invalidates; nor does a defect or an interruption", () =>
    Effect.gen(function*() {
      const { conn, connector } = yield* setup()
      const first = yield* conn.await()
      yield* Effect.flip(conn.use(() => Effect.fail(new SocketError({ reason: "EPIPE" }))))
      const died = yield* Effect.exit(conn.use(() => Effect.die("bug"), { isTransportError: () => true }))
      expect(Exit.isFailure(died)).toBe(true)
      const interrupted = yield* Effect.exit(conn.use(() => Effect.interrupt, { isTransportError: () => true }))
      expect(Exit.isInterrupted(interrupted)).toBe(true)
      expect(yield* conn.get).toBe(first)
      expect(yield* connector.acquired).toBe(1)
    }))

  it.scoped("invalidates only the connection it used: a newer one stays", () =>
    Effect.gen(function*() {
      const { conn, connector } = yield* setup()
      const first = yield* conn.await()
      const result = yield* Effect.flip(conn.use((c) =>
        Effect.gen(function*() {
          // the connection is replaced while the effect runs (another fiber saw it die)
          yield* conn.invalidate("seen dead elsewhere", c)
          yield* conn.awaitNext(c)
          return yield* new SocketError({ reason: "EPIPE" })
        }), { isTransportError: (e) => e instanceof SocketError }))
      expect(result._tag).toBe("SocketError")
      const current = yield* conn.get
      expect(current).not.toBe(first)
      expect(current.id).toBe(2)
      expect(yield* connector.releaseCount(current)).toBe(0)
    }))

  it.scoped("with a timeout: Timeout when no connection comes in time, its cause the last connect error", () =>
    Effect.gen(function*() {
      const { conn } = yield* setup(TestConnector.succeedAfter(10))
      const error = yield* TestTime.advanceUntilDone(
        Effect.flip(conn.use((c) => Effect.succeed(c.id), { timeout: "2500 millis" }))
      )
      expect(error).toBeInstanceOf(Timeout)
      const timeout = error as Timeout
      expect(Duration.toMillis(timeout.duration)).toBe(2500)
      expect(timeout.cause).toBeInstanceOf(ConnectFailed)
      expect((timeout.cause as ConnectFailed).attempt).toBe(3)
    }))

  it.scoped("the timeout bounds the wait only, not the effect", () =>
    Effect.gen(function*() {
      const { conn } = yield* setup()
      const value = yield* TestTime.advanceUntilDone(
        conn.use(() => Effect.as(Effect.sleep("10 seconds"), "done"), { timeout: "1 second" })
      )
      expect(value).toBe("done")
    }))
})
