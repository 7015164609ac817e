/**
 * `AmqpError.classify`: every message shape amqplib 2.3 produces (built here with amqplib's own
 * formatters, lib/format.js and lib/defs.js, so the strings are the ones it emits), the reply code
 * and text read out of them, fatal / retryable for each reason; any thrown value classifies
 * without throwing; and no message or log line holds the password.
 */
import { describe, expect, it } from "@effect/vitest"
import { Closed, Reconnect, Timeout } from "@redial/core"
import { FaultProxy } from "@redial/testing"
import { Effect, FastCheck as fc, FiberRef, HashSet, Logger, LogLevel, Option, Stream } from "effect"
import { createRequire } from "node:module"
import * as path from "node:path"
import * as util from "node:util"
import { AmqpConnection, AmqpError, SetupFailed } from "../src/index.js"
import * as Rabbit from "./support/rabbit.js"

// amqplib's own formatters (not exported by its package: loaded by path).
const require = createRequire(import.meta.url)
const lib = path.join(path.dirname(require.resolve("amqplib")), "lib")
const format = require(path.join(lib, "format.js")) as {
  closeMessage: (close: { fields: { replyCode: number; replyText: string } }) => string
  methodName: (id: number) => string
  inspect: (frame: { id?: number; channel: number }, showFields: boolean) => string
}
const defs = require(path.join(lib, "defs.js")) as Record<string, number>
const { IllegalOperationError } = require(path.join(lib, "error.js")) as {
  IllegalOperationError: new(message: string, stack: string) => Error
}

const close = (replyCode: number, replyText: string) => format.closeMessage({ fields: { replyCode, replyText } })
/** An Error as amqplib makes it: the message, and `code` when it sets one. */
const amqplibError = (message: string, code?: number | string) =>
  Object.assign(new Error(message), code === undefined ? {} : { code })
const errno = (code: string, message: string) =>
  Object.assign(new Error(message), { code, errno: -1, syscall: "connect" })

const classify = (error: unknown, scope: "Connection" | "Channel" = "Connection") =>
  AmqpError.classify(error, { connection: "orders", scope })

describe("AmqpError.classify: amqplib's message shapes", () => {
  const cases: Array<{
    readonly what: string
    readonly error: unknown
    readonly scope?: "Connection" | "Channel"
    readonly expected: Partial<AmqpError>
  }> = [
    {
      what: "bad credentials during the handshake (no code)",
      error: amqplibError(
        `Handshake terminated by server: ${
          close(403, "ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN.")
        }`
      ),
      expected: {
        reason: "AccessRefused",
        replyCode: 403,
        replyText: "ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN.",
        fatal: true
      }
    },
    {
      what: "no such virtual host: the broker's close in place of connection.open-ok (the reply is lost)",
      error: amqplibError(
        `Expected ${format.methodName(defs.ConnectionOpenOk!)}; got ${
          format.inspect({ id: defs.ConnectionClose!, channel: 0 }, false)
        }`
      ),
      expected: { reason: "NotAllowed", replyCode: 530, fatal: true }
    },
    {
      what: "a forced close (rabbitmqctl close_connection)",
      error: amqplibError(`Connection closed: ${close(320, "CONNECTION_FORCED - closed by a test")}`, 320),
      expected: {
        reason: "ConnectionForced",
        replyCode: 320,
        replyText: "CONNECTION_FORCED - closed by a test",
        fatal: false,
        retryable: true
      }
    },
    {
      what: "a broker shutting down",
      error: amqplibError(
        `Connection closed: ${
          close(320, "CONNECTION_FORCED - broker forced connection closure with reason 'shutdown'")
        }`,
        320
      ),
      expected: { reason: "ConnectionForced", retryable: true, fatal: false }
    },
    {
      what: "an internal error of the broker on the connection",
      error: amqplibError(`Connection closed: ${close(541, "INTERNAL_ERROR")}`, 541),
      expected: { reason: "InternalError", replyCode: 541, retryable: true, fatal: false }
    },
    {
      what: "a frame error on the connection",
      error: amqplibError(`Connection closed: ${close(501, "FRAME_ERROR - type 65, all octets = <<>>")}`, 501),
      expected: { reason: "FrameError", replyCode: 501, fatal: false }
    },
    {
      what: "a channel closed by the broker: publish to a missing exchange",
      error: amqplibError(
        `Channel closed by server: ${close(404, "NOT_FOUND - no exchange 'x' in vhost '/'")}`,
        404
      ),
      scope: "Channel",
      expected: {
        reason: "NotFound",
        replyCode: 404,
        replyText: "NOT_FOUND - no exchange 'x' in vhost '/'",
        scope: "Channel",
        fatal: false,
        retryable: false
      }
    },
    {
      what: "a failed RPC names its operation",
      error: amqplibError(
        `Operation failed: QueueDeclare; ${
          close(406, "PRECONDITION_FAILED - inequivalent arg 'durable' for queue 'q' in vhost '/'")
        }`,
        406
      ),
      scope: "Channel",
      expected: { reason: "PreconditionFailed", replyCode: 406, operation: "QueueDeclare", retryable: false }
    },
    {
      what: "an exclusive queue of another connection",
      error: amqplibError(
        `Operation failed: BasicConsume; ${close(405, "RESOURCE_LOCKED - cannot obtain exclusive access")}`,
        405
      ),
      scope: "Channel",
      expected: { reason: "ResourceLocked", replyCode: 405, operation: "BasicConsume", retryable: true }
    },
    {
      what: "a missing permission on a channel is not fatal for the connection",
      error: amqplibError(
        `Operation failed: QueueDeclare; ${close(403, "ACCESS_REFUSED - access to queue 'q' refused")}`,
        403
      ),
      scope: "Channel",
      expected: { reason: "AccessRefused", replyCode: 403, fatal: false, retryable: false }
    },
    {
      what: "a reply text that itself looks like a reply, or is empty",
      error: amqplibError(
        `Channel closed by server: ${close(406, `PRECONDITION_FAILED - 404 (NOT-FOUND) with message "x"`)}`,
        406
      ),
      scope: "Channel",
      expected: {
        reason: "PreconditionFailed",
        replyCode: 406,
        replyText: `PRECONDITION_FAILED - 404 (NOT-FOUND) with message "x"`
      }
    },
    {
      what: "an empty reply text",
      error: amqplibError(`Connection closed: ${close(320, "")}`, 320),
      expected: { reason: "ConnectionForced", replyCode: 320, replyText: "" }
    },
    {
      what: "a channel error amqplib raised itself (code, no reply in the message)",
      error: amqplibError("Expected content frame after headers", 505),
      scope: "Channel",
      expected: { reason: "UnexpectedFrame", replyCode: 505 }
    },
    {
      what: "ECONNREFUSED",
      error: errno("ECONNREFUSED", "connect ECONNREFUSED 127.0.0.1:5672"),
      expected: { reason: "ConnectionRefused", retryable: true, fatal: false }
    },
    {
      what: "amqplib's connect timeout (no code)",
      error: amqplibError("connect ETIMEDOUT"),
      expected: { reason: "ConnectTimeout", retryable: true }
    },
    {
      what: "a TCP ETIMEDOUT (with code)",
      error: errno("ETIMEDOUT", "connect ETIMEDOUT 10.255.255.1:5672"),
      expected: { reason: "ConnectTimeout", retryable: true }
    },
    {
      what: "a missed heartbeat",
      error: amqplibError("Heartbeat timeout"),
      expected: { reason: "HeartbeatTimeout", retryable: true }
    },
    {
      what: "a reset socket",
      error: errno("ECONNRESET", "read ECONNRESET"),
      expected: { reason: "Socket", retryable: true }
    },
    { what: "a broken pipe", error: errno("EPIPE", "write EPIPE"), expected: { reason: "Socket", retryable: true } },
    {
      what: "a DNS failure",
      error: errno("ENOTFOUND", "getaddrinfo ENOTFOUND rabbit.invalid"),
      expected: { reason: "Socket", retryable: true }
    },
    {
      what: "the socket ended without an AMQP close",
      error: amqplibError("Unexpected close"),
      expected: { reason: "UnexpectedClose", retryable: true }
    },
    {
      what: "the socket ended during the handshake",
      error: amqplibError("Socket closed abruptly during opening handshake"),
      expected: { reason: "UnexpectedClose", retryable: true, fatal: false }
    },
    {
      what: "a confirm lost with its channel",
      error: amqplibError("channel closed"),
      scope: "Channel",
      expected: { reason: "ChannelClosed", retryable: true }
    },
    {
      what: "an RPC pending when its channel ended",
      error: amqplibError("Channel ended, no reply will be forthcoming"),
      scope: "Channel",
      expected: { reason: "ChannelClosed", retryable: true }
    },
    {
      what: "an operation on a closed channel (IllegalOperationError)",
      error: new IllegalOperationError("Channel closed", "Stack capture: x"),
      scope: "Channel",
      expected: { reason: "ChannelClosed", retryable: true }
    },
    {
      what: "an operation on a closing channel",
      error: new IllegalOperationError("Channel closing", "Stack capture: x"),
      scope: "Channel",
      expected: { reason: "ChannelClosed", retryable: true }
    },
    {
      what: "an operation on a connection closed by the broker (IllegalOperationError)",
      error: new IllegalOperationError(
        `Connection closed (Error: Connection closed: ${close(320, "CONNECTION_FORCED - x")})`,
        "Stack capture: x"
      ),
      expected: { reason: "ChannelClosed", retryable: true }
    },
    {
      what: "an operation on a connection closed by the client",
      error: new IllegalOperationError("Connection closed (by client)", "Stack capture: x"),
      expected: { reason: "ChannelClosed", retryable: true }
    },
    {
      what: "an operation on a closing connection",
      error: new IllegalOperationError("Connection closing", "Stack capture: x"),
      expected: { reason: "ChannelClosed", retryable: true }
    },
    {
      what: "any other handshake failure: a frame on another channel",
      error: amqplibError(
        `Frame on channel != 0 during handshake: ${format.inspect({ id: defs.ChannelOpenOk!, channel: 1 }, false)}`
      ),
      expected: { reason: "Handshake", retryable: true, fatal: false }
    },
    {
      what: "any other handshake failure: an unexpected reply",
      error: amqplibError(
        `Expected connection.secure, connection.close, or connection.tune during handshake; got ${
          format.inspect({ id: defs.ConnectionOpenOk!, channel: 0 }, false)
        }`
      ),
      expected: { reason: "Handshake", retryable: true }
    },
    {
      what: "any other handshake failure: SASL",
      error: amqplibError("SASL mechanism PLAIN is not provided by the server"),
      expected: { reason: "Handshake" }
    },
    {
      what: "any other handshake failure: secure",
      error: amqplibError("Wasn't expecting to have to go through secure"),
      expected: { reason: "Handshake" }
    },
    {
      what: "any other handshake failure: frameMax",
      error: amqplibError("Server frameMax 1024 is below the protocol minimum 4096"),
      expected: { reason: "Handshake" }
    },
    {
      what: "a string thrown by amqplib",
      error: "Expected BasicDeliver or BasicReturn; got <BasicAck channel:1>",
      scope: "Channel",
      expected: { reason: "Unknown", retryable: false, fatal: false }
    },
    { what: "anything else", error: new TypeError("content is not a buffer"), expected: { reason: "Unknown" } }
  ]

  for (const { error, expected, scope, what } of cases) {
    it(what, () => {
      const classified = classify(error, scope)
      expect(classified).toBeInstanceOf(AmqpError)
      expect(classified).toMatchObject({ connection: "orders", scope: scope ?? "Connection", ...expected })
      expect(classified.cause).toBe(error)
      const message = classified.message
      expect(message).toContain(`"orders"`)
      if (expected.replyCode !== undefined) expect(message).toContain(String(expected.replyCode))
      if (expected.replyText) expect(message).toContain(expected.replyText)
    })
  }

  it("an AmqpError is returned as it is", () => {
    const error = classify(amqplibError("Heartbeat timeout"))
    expect(AmqpError.classify(error, { connection: "other" })).toBe(error)
  })
})

describe("AmqpError: fatal and retryable by reason", () => {
  // fatal: reconnecting cannot help (connection scope only); retryable: the same operation may
  // succeed on a new connection or channel.
  const table: Array<[AmqpError["reason"], fatal: boolean, retryable: boolean]> = [
    ["ConnectionForced", false, true],
    ["InvalidPath", true, false],
    ["AccessRefused", true, false],
    ["NotFound", false, false],
    ["ResourceLocked", false, true],
    ["PreconditionFailed", false, false],
    ["FrameError", false, false],
    ["SyntaxError", false, false],
    ["CommandInvalid", false, false],
    ["ChannelError", false, false],
    ["UnexpectedFrame", false, false],
    ["ResourceError", false, true],
    ["NotAllowed", true, false],
    ["NotImplemented", false, false],
    ["InternalError", false, true],
    ["ConnectionRefused", false, true],
    ["ConnectTimeout", false, true],
    ["HeartbeatTimeout", false, true],
    ["Socket", false, true],
    ["UnexpectedClose", false, true],
    ["ChannelClosed", false, true],
    ["Handshake", false, true],
    ["Unknown", false, false]
  ]
  for (const [reason, fatal, retryable] of table) {
    it(`${reason}: ${fatal ? "fatal" : "not fatal"} on a connection, never on a channel; ${retryable ? "" : "not "}retryable`, () => {
      const onConnection = new AmqpError({ reason, connection: "c", scope: "Connection" })
      const onChannel = new AmqpError({ reason, connection: "c", scope: "Channel" })
      expect(onConnection.fatal).toBe(fatal)
      expect(onChannel.fatal).toBe(false)
      expect(onConnection.retryable).toBe(retryable)
      expect(onChannel.retryable).toBe(retryable)
    })
  }
})

describe("AmqpError: any thrown value", () => {
  const hostile: Array<unknown> = [
    undefined,
    null,
    0,
    Symbol("s"),
    10n,
    Object.create(null),
    { message: 42, code: { nested: true } },
    { message: "Connection closed: 999 (UNKNOWN) with message \"x\"", code: 999 },
    Object.defineProperty({}, "message", {
      get() {
        throw new Error("a getter that throws")
      }
    }),
    Object.defineProperty(new Error("x"), "code", {
      get() {
        throw new Error("a getter that throws")
      }
    }),
    {
      toString: () => {
        throw new Error("no string")
      }
    },
    (() => {
      const { proxy, revoke } = Proxy.revocable({}, {})
      revoke()
      return proxy
    })(),
    "x".repeat(100_000) + " (A) with message \"",
    `${"123 (A) with message \"".repeat(5_000)}`
  ]

  it("classifies each of a set of hostile values without throwing", () => {
    for (const value of hostile) {
      const error = classify(value)
      expect(error).toBeInstanceOf(AmqpError)
      expect(typeof error.message).toBe("string")
      expect(typeof error.fatal).toBe("boolean")
      expect(typeof error.retryable).toBe("boolean")
      expect(typeof new SetupFailed({ channel: "c", cause: value }).message).toBe("string")
    }
  })

  it("a huge message is read in linear time: many reply-like pieces that never end the message", () => {
    // A backtracking search from each piece to the end would take tens of seconds here.
    const message = `Channel closed by server: ${"320 (A) with message \"".repeat(20_000)}!`
    const start = performance.now()
    const error = classify(amqplibError(message))
    expect(performance.now() - start).toBeLessThan(200)
    expect(error.reason).toBe("Unknown")
  })

  it.prop(
    "any value classifies without throwing, with a message, a fatal and a retryable flag",
    [fc.oneof(
      fc.anything({ withBigInt: true, withMap: true, withSet: true, withTypedArray: true, withNullPrototype: true }),
      fc.record({
        message: fc.oneof(fc.string(), fc.anything()),
        code: fc.oneof(fc.integer(), fc.string(), fc.anything())
      }),
      fc.tuple(fc.integer({ min: 0, max: 999 }), fc.string(), fc.string()).map(([code, name, text]) =>
        Object.assign(new Error(`Channel closed by server: ${code} (${name}) with message "${text}"`), { code })
      )
    )],
    ([value]) => {
      const error = classify(value)
      expect(error).toBeInstanceOf(AmqpError)
      expect(typeof error.message).toBe("string")
      expect(typeof error.fatal).toBe("boolean")
      expect(typeof error.retryable).toBe("boolean")
      expect(typeof new SetupFailed({ channel: "c", cause: value }).message).toBe("string")
    }
  )
})

describe("AmqpError: no message holds the password", () => {
  it.scopedLive("a wrong password, a refused port and a silent peer: every error, status and log line is free of it", () =>
    Effect.gen(function*() {
      const secret = Rabbit.unique("Pw-s3cr3t")
      const lines: Array<string> = []
      const logger = Logger.make((options) => void lines.push(Logger.logfmtLogger.log(options)))
      const texts: Array<string> = []
      const keep = (value: unknown) => {
        texts.push(String(value), util.inspect(value, { depth: 10 }))
        if (typeof value === "object" && value !== null && "message" in value) texts.push(String(value.message))
      }

      yield* Effect.gen(function*() {
        const silent = yield* FaultProxy.make({ target: { port: Rabbit.port } })
        yield* silent.blackhole(true)
        const make = (url: string, policy = Reconnect.fixed("100 millis")) =>
          AmqpConnection.make({ url, name: Rabbit.unique("secret"), policy, connectTimeout: "300 millis" })

        // 403: Closed with FatalError, the AmqpError inside
        const wrong = yield* make(`amqp://guest:${secret}@127.0.0.1:${Rabbit.port}`)
        const closed = yield* Effect.flip(wrong.await({ timeout: "5 seconds" }))
        expect(closed).toBeInstanceOf(Closed)
        keep(closed)
        keep(closed._tag === "Closed" ? closed.error : undefined)
        keep(closed._tag === "Closed" ? closed.error?.cause : undefined)
        keep(yield* wrong.status)
        keep(yield* wrong.settings)

        // a refused port and a peer that never answers: NotConnected / Timeout, and the statuses
        for (const url of [`amqp://guest:${secret}@127.0.0.1:1`, `amqp://guest:${secret}@${silent.address}`]) {
          const amqp = yield* make(url)
          const backoff = yield* amqp.changes.pipe(
            Stream.filter((s) => s._tag === "Backoff"),
            Stream.runHead,
            Effect.map(Option.getOrThrow),
            Effect.timeout("5 seconds")
          )
          keep(backoff)
          keep(backoff._tag === "Backoff" ? backoff.error.cause : undefined)
          keep(yield* Effect.flip(amqp.get))
          const timeout = yield* Effect.flip(amqp.await({ timeout: "10 millis" }))
          expect(timeout).toBeInstanceOf(Timeout)
          keep(timeout)
          keep(yield* amqp.settings)
          yield* amqp.close
        }
      }).pipe(
        Effect.scoped,
        Effect.locallyWith(FiberRef.currentLoggers, () => HashSet.make(logger)),
        Logger.withMinimumLogLevel(LogLevel.All)
      )
      expect(lines.length).toBeGreaterThan(5)
      expect(lines.some((line) => line.includes("403"))).toBe(true)
      for (const text of [...texts, ...lines]) expect(text).not.toContain(secret)
    }))
})
