import { describe, expect, it } from "@effect/vitest"
import { TestConnector, TestTime } from "@redial/testing"
import { Effect, Logger, LogLevel, Stream } from "effect"
import { Connection, Reconnect } from "../src/index.js"

interface Line {
  readonly level: string
  readonly messages: ReadonlyArray<unknown>
  readonly annotations: Record<string, unknown>
  /** The line as the logfmt logger prints it. */
  readonly text: string
}

/** Replaces the default logger by one that keeps every line, at every level. */
const capture = () => {
  const lines: Array<Line> = []
  const logger = Logger.make<unknown, void>((options) => {
    const annotations: Record<string, unknown> = {}
    for (const [key, value] of options.annotations) annotations[key] = value
    const messages = Array.isArray(options.message) ? options.message : [options.message]
    lines.push({ level: options.logLevel.label, messages, annotations, text: Logger.logfmtLogger.log(options) })
  })
  const layer = Logger.replace(Logger.defaultLogger, logger)
  return {
    lines,
    provide: <A, E, R>(self: Effect.Effect<A, E, R>) =>
      self.pipe(Effect.provide(layer), Logger.withMinimumLogLevel(LogLevel.All))
  }
}

const countOf = (text: string, key: string) => text.split(` ${key}=`).length - 1

describe("Connection logs", () => {
  it.scoped("one line per transition, at Debug; a loss at Warning, a give-up at Error; one message, never undefined", () =>
    Effect.gen(function*() {
      const { lines, provide } = capture()
      const statuses: Array<string> = []
      yield* provide(Effect.gen(function*() {
        const connector = yield* TestConnector.make({
          script: [
            TestConnector.fail(new TestConnector.TestConnectError({ reason: "connect ECONNREFUSED 127.0.0.1:6379" })),
            TestConnector.succeed
          ],
          otherwise: TestConnector.fail()
        })
        const conn = yield* Connection.make({
          name: "cache",
          acquire: connector.acquire,
          lost: connector.lost,
          minUptime: 0,
          policy: Reconnect.limit(Reconnect.fixed("1 second"), 1)
        })
        yield* conn.changes.pipe(Stream.runForEach((s) => Effect.sync(() => statuses.push(s._tag))), Effect.forkScoped)
        yield* TestTime.advanceUntilDone(conn.await())
        // lost after a lasting connection: reconnect at once (attempt 1 fails), then the policy
        // (limit 1) allows one retry (attempt 2 fails) and gives up.
        yield* connector.lose("socket closed")
        yield* TestTime.advanceUntilDone(TestTime.awaitStatus(conn, "Closed"))
        yield* conn.connect
        yield* conn.close
        yield* TestTime.settle()
      }))
      const redial = lines.filter((l) => l.annotations["connection"] === "cache")
      expect(redial.map((l) => `${l.level} ${l.annotations["status"]}`)).toEqual([
        "DEBUG Connecting",
        "DEBUG Backoff",
        "DEBUG Connecting",
        "DEBUG Connected",
        "WARN Connecting", // the loss
        "DEBUG Backoff",
        "DEBUG Connecting",
        "ERROR Closed", // the give-up
        "DEBUG Connecting", // connect
        "DEBUG Closed" // close
      ])
      // one line per transition: as many as `changes` saw (subscribed after make, whose first
      // transition, to Connecting, is its current status)
      expect(statuses.length).toBe(10)
      expect(redial.length).toBe(statuses.length)
      for (const line of redial) {
        expect(line.messages.length).toBe(1)
        expect(typeof line.messages[0]).toBe("string")
        expect(String(line.messages[0])).not.toContain("undefined")
        expect(countOf(line.text, "message")).toBe(1)
        expect(line.text).not.toContain("undefined")
      }
      // the cause is an annotation of its own
      const failed = redial[1]!
      expect(failed.messages[0]).toBe("redial: connect attempt 1 failed, retrying in 1s")
      expect(failed.annotations["error"]).toBe(
        "TestConnectError: test connect failed: connect ECONNREFUSED 127.0.0.1:6379"
      )
      expect(failed.text).toContain(
        `error="TestConnectError: test connect failed: connect ECONNREFUSED 127.0.0.1:6379"`
      )
      expect(redial[4]!.annotations["error"]).toBe("socket closed")
      expect(redial[7]!.messages[0]).toBe("redial: connection closed: the reconnect policy gave up")
      // no error annotation where there is no cause
      expect(redial[0]!.annotations["error"]).toBeUndefined()
      expect(redial[9]!.annotations["error"]).toBeUndefined()
    }))
})
