import { describe, expect, it } from "@effect/vitest"
import { TestConnector, TestTime } from "@redial/testing"
import { Context, Duration, Effect, Exit, Layer, Scope } from "effect"
import { Closed, ConnectFailed, Connection, InvalidOption, Reconnect, Timeout } from "../src/index.js"

const { settle } = TestTime

class Db extends Context.Tag("Db")<Db, Connection.Connection<TestConnector.TestConnection>>() {}

describe("Connection: awaitConnected", () => {
  it.scoped("a value that is neither a boolean nor { timeout } (untyped config) is an InvalidOption", () =>
    Effect.gen(function*() {
      const connector = yield* TestConnector.make()
      const error = yield* Effect.flip(Connection.make({
        name: "db",
        acquire: connector.acquire,
        awaitConnected: "yes" as unknown as boolean
      }))
      expect(error).toBeInstanceOf(InvalidOption)
      expect(error).toMatchObject({ option: "awaitConnected" })
    }))

  it.scoped("without it, the first get after the layer is built fails with NotConnected", () =>
    Effect.gen(function*() {
      const connector = yield* TestConnector.make({ script: [TestConnector.delay("10 millis", TestConnector.succeed)] })
      const layer = Connection.layer(Db, { name: "db", acquire: connector.acquire })
      const exit = yield* Effect.exit(Effect.flatMap(Db, (db) => db.get).pipe(Effect.provide(layer)))
      expect(Exit.isFailure(exit) && exit.cause.toString()).toContain("NotConnected")
    }))

  it.scoped("with it, the layer is built once connected: the first get finds the connection", () =>
    Effect.gen(function*() {
      const connector = yield* TestConnector.make({ script: [TestConnector.delay("10 millis", TestConnector.succeed)] })
      const layer = Connection.layer(Db, { name: "db", acquire: connector.acquire, awaitConnected: true })
      const connection = yield* TestTime.advanceUntilDone(
        Effect.flatMap(Db, (db) => db.get).pipe(Effect.provide(layer)),
        { step: "10 millis" }
      )
      expect(connection.id).toBe(1)
    }))

  it.scoped("waits through failed attempts, retried by the policy, until one connects", () =>
    Effect.gen(function*() {
      const connector = yield* TestConnector.make({ script: TestConnector.succeedAfter(3) })
      const conn = yield* TestTime.advanceUntilDone(Connection.make({
        name: "db",
        acquire: connector.acquire,
        policy: Reconnect.fixed("1 second"),
        awaitConnected: { timeout: "10 seconds" }
      }))
      expect((yield* conn.status)._tag).toBe("Connected")
      expect(yield* connector.attemptTimes).toEqual([0, 1000, 2000, 3000])
    }))

  it.scoped("fails with Timeout whose cause is the last failed attempt, and releases the connection", () =>
    Effect.gen(function*() {
      const refused = new TestConnector.TestConnectError({ reason: "connect ECONNREFUSED 127.0.0.1:5432" })
      const connector = yield* TestConnector.make({ otherwise: TestConnector.fail(refused) })
      const error = yield* TestTime.advanceUntilDone(
        Effect.flip(Effect.scoped(Connection.make({
          name: "db",
          acquire: connector.acquire,
          policy: Reconnect.fixed("1 second"),
          awaitConnected: { timeout: "2500 millis" }
        })))
      )
      expect(error).toBeInstanceOf(Timeout)
      const timeout = error as Timeout
      expect(timeout.operation).toBe("await")
      expect(Duration.toMillis(timeout.duration)).toBe(2500)
      expect(timeout.cause).toBeInstanceOf(ConnectFailed)
      expect((timeout.cause as ConnectFailed).attempt).toBe(3)
      // (the error comes back through the attempt's span: compared by its fields)
      expect(((timeout.cause as ConnectFailed).cause as TestConnector.TestConnectError).reason).toBe(refused.reason)
      expect(timeout.message).toBe(
        `Connection "db": not connected within 2s 500ms. Last connect error: attempt 3 failed: ` +
          `TestConnectError: test connect failed: connect ECONNREFUSED 127.0.0.1:5432.`
      )
      // Nothing keeps trying after the failure.
      const attempts = yield* connector.attempts
      yield* TestTime.advanceUntilDone(Effect.sleep("10 seconds"))
      expect(yield* connector.attempts).toBe(attempts)
    }))

  it.scoped("a hung first attempt: Timeout without a cause", () =>
    Effect.gen(function*() {
      const connector = yield* TestConnector.make({ script: [TestConnector.hang] })
      const error = yield* TestTime.advanceUntilDone(
        Effect.flip(
          Connection.make({ name: "db", acquire: connector.acquire, awaitConnected: { timeout: "3 seconds" } })
        )
      )
      expect(error).toBeInstanceOf(Timeout)
      expect((error as Timeout).cause).toBeUndefined()
      expect(error.message).toBe(`Connection "db": not connected within 3s.`)
      expect(yield* connector.released).toBe(0)
      yield* settle()
      // the hung attempt was interrupted: its scope is closed
      expect(yield* connector.attempts).toBe(1)
    }))

  it.scoped("fails with Closed (PolicyExhausted) when the policy gives up first", () =>
    Effect.gen(function*() {
      const connector = yield* TestConnector.make({ otherwise: TestConnector.fail() })
      const error = yield* TestTime.advanceUntilDone(
        Effect.flip(Connection.make({
          name: "db",
          acquire: connector.acquire,
          policy: Reconnect.limit(Reconnect.fixed("1 second"), 2),
          awaitConnected: { timeout: Duration.infinity }
        }))
      )
      expect(error).toBeInstanceOf(Closed)
      expect((error as Closed).reason).toBe("PolicyExhausted")
      expect((error as Closed).error?.attempt).toBe(3)
    }))

  it.scoped("fails with Closed (FatalError) on a fatal error", () =>
    Effect.gen(function*() {
      const connector = yield* TestConnector.make({ otherwise: TestConnector.fail() })
      const error = yield* Effect.flip(Connection.make({
        name: "db",
        acquire: connector.acquire,
        isFatal: () => true,
        awaitConnected: true
      }))
      expect(error).toBeInstanceOf(Closed)
      expect((error as Closed).reason).toBe("FatalError")
    }))

  it.scoped("true waits as long as the connectTimeout", () =>
    Effect.gen(function*() {
      const connector = yield* TestConnector.make({ otherwise: TestConnector.fail() })
      const error = yield* TestTime.advanceUntilDone(
        Effect.flip(Connection.make({
          name: "db",
          acquire: connector.acquire,
          connectTimeout: "4 seconds",
          policy: Reconnect.fixed("1 second"),
          awaitConnected: true
        })),
        { step: "100 millis" }
      )
      expect(error).toBeInstanceOf(Timeout)
      expect(Duration.toMillis((error as Timeout).duration)).toBe(4000)
      expect(yield* connector.attemptTimes).toEqual([0, 1000, 2000, 3000, 4000])
    }))

  it.scoped("starts a connection made with autoConnect: false", () =>
    Effect.gen(function*() {
      const connector = yield* TestConnector.make()
      const conn = yield* Connection.make({
        name: "db",
        acquire: connector.acquire,
        autoConnect: false,
        awaitConnected: true
      })
      expect((yield* conn.status)._tag).toBe("Connected")
    }))

  it.scoped("false and undefined return at once, before anything is connected", () =>
    Effect.gen(function*() {
      const connector = yield* TestConnector.make({ script: [TestConnector.hang, TestConnector.hang] })
      const a = yield* Connection.make({ name: "a", acquire: connector.acquire, awaitConnected: false })
      const b = yield* Connection.make({ name: "b", acquire: connector.acquire, awaitConnected: undefined })
      expect((yield* a.status)._tag).toBe("Connecting")
      expect((yield* b.status)._tag).toBe("Connecting")
    }))

  it.scoped("a timeout that is not a positive duration is an InvalidOption", () =>
    Effect.gen(function*() {
      const connector = yield* TestConnector.make()
      const error = yield* Effect.flip(Connection.make({
        name: "db",
        acquire: connector.acquire,
        awaitConnected: { timeout: "0 millis" }
      }))
      expect(error).toBeInstanceOf(InvalidOption)
      expect((error as InvalidOption).option).toBe("awaitConnected.timeout")
      expect(yield* connector.attempts).toBe(0)
    }))

  it.scoped("a failed layer leaves nothing running: the connection's scope is closed", () =>
    Effect.gen(function*() {
      const connector = yield* TestConnector.make({ script: [TestConnector.fail(), TestConnector.succeed] })
      const scope = yield* Scope.make()
      const layer = Connection.layer(Db, {
        name: "db",
        acquire: connector.acquire,
        policy: Reconnect.fixed("10 seconds"),
        awaitConnected: { timeout: "1 second" }
      })
      const exit = yield* TestTime.advanceUntilDone(Effect.exit(Layer.buildWithScope(layer, scope)))
      expect(Exit.isFailure(exit)).toBe(true)
      yield* TestTime.advanceUntilDone(Effect.sleep("1 minute"))
      expect(yield* connector.attempts).toBe(1)
      yield* Scope.close(scope, Exit.void)
    }))
})
