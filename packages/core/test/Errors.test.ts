import { describe, expect, it } from "@effect/vitest"
import { Data, Duration, Effect, Equal, Exit } from "effect"
import {
  Closed,
  ConnectFailed,
  Connection,
  InvalidOption,
  isRedialError,
  NotConnected,
  RedialError,
  Timeout,
  type TimeoutOperation,
  TypeId
} from "../src/index.js"

const failed = new ConnectFailed({ connection: "db", attempt: 2, cause: new Error("refused") })

const coreErrors = [
  failed,
  new Closed({ connection: "db", reason: "PolicyExhausted", error: failed }),
  new NotConnected({ connection: "db", status: Connection.Status.Idle() }),
  new Timeout({ connection: "db", operation: "connect", duration: Duration.seconds(5) }),
  new InvalidOption({ option: "min", reason: "OutOfRange", detail: "must be at least 1ms (got 0)" })
]

class Dropped extends RedialError("Dropped")<{ readonly pool: string }> {
  override get message() {
    return `Pool "${this.pool}" dropped the request`
  }
}

class Empty extends RedialError("Empty") {}

describe("Errors", () => {
  it("isRedialError recognises every core error", () => {
    for (const error of coreErrors) expect(isRedialError(error), error._tag).toBe(true)
    expect(isRedialError(new Dropped({ pool: "p" }))).toBe(true)
  })

  it("isRedialError rejects lookalikes and other libraries' tagged errors", () => {
    class Other extends Data.TaggedError("Closed")<{ readonly connection: string }> {}
    expect(isRedialError({ _tag: "Closed" })).toBe(false)
    expect(isRedialError({ _tag: "Closed", connection: "db", reason: "UserClosed" })).toBe(false)
    expect(isRedialError(new Other({ connection: "db" }))).toBe(false)
    expect(isRedialError(new Error("Closed"))).toBe(false)
    expect(isRedialError(null)).toBe(false)
    expect(isRedialError("Closed")).toBe(false)
  })

  it("the TypeId sits on the prototype: not an own field, not enumerable, not in JSON", () => {
    const error = new Dropped({ pool: "p" })
    expect(error[TypeId]).toBe(TypeId)
    expect(Object.prototype.hasOwnProperty.call(error, TypeId)).toBe(false)
    expect(Object.getOwnPropertySymbols(error)).not.toContain(TypeId)
    expect(Object.keys(error).sort()).toEqual(["_tag", "pool"])
    expect(JSON.parse(JSON.stringify(error))).toEqual({ _tag: "Dropped", pool: "p" })
  })

  it("structural equality is that of Data.TaggedError", () => {
    expect(Equal.equals(new Dropped({ pool: "p" }), new Dropped({ pool: "p" }))).toBe(true)
    expect(Equal.equals(new Dropped({ pool: "p" }), new Dropped({ pool: "q" }))).toBe(false)
  })

  it("name is the tag, the message is the class's, and there is a stack", () => {
    const error = new Dropped({ pool: "p" })
    expect(error.name).toBe("Dropped")
    expect(error._tag).toBe("Dropped")
    expect(error.message).toBe(`Pool "p" dropped the request`)
    expect(error.stack).toContain("Dropped")
    expect(error).toBeInstanceOf(Error)
    expect(new Empty()._tag).toBe("Empty")
  })

  it.effect("a redial error is yieldable and caught by its tag", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(Effect.gen(function*() {
        return yield* new Dropped({ pool: "p" })
      }))
      expect(Exit.isFailure(exit)).toBe(true)
      const caught = yield* (new Dropped({ pool: "p" }) as Effect.Effect<never, Dropped | Timeout>).pipe(
        Effect.catchTag("Dropped", (e) => Effect.succeed(e.pool))
      )
      expect(caught).toBe("p")
      const timeout = yield* Effect.flip(
        new Timeout({ connection: "db", operation: "await", duration: Duration.seconds(1) })
      )
      expect(timeout._tag).toBe("Timeout")
    }))

  describe("Timeout messages read naturally per operation", () => {
    const message = (operation: Timeout["operation"], detail?: string) =>
      new Timeout({ connection: "x", operation, duration: Duration.seconds(15), detail }).message

    it("names the operation and the duration", () => {
      expect(message("queue")).toBe(`Pool "x": deadline reached while in queue after 15s.`)
      expect(message("hold")).toBe(`Pool "x": checkout held past the pool's timeout of 15s.`)
      expect(message("call", "/pkg.Svc/M")).toBe(`Connection "x": call /pkg.Svc/M timed out after 15s.`)
      expect(message("connect")).toBe(`Connection "x": connect attempt timed out after 15s.`)
      expect(message("await")).toBe(`Connection "x": not connected within 15s.`)
      expect(message("healthCheck")).toContain("health check timed out after 15s")
      expect(message("ping", "slot 3")).toBe(`Connection "x": ping timed out after 15s (slot 3).`)
    })
  })

  it("the reasons and operations are literal unions", () => {
    const reasons: ReadonlyArray<InvalidOption.Reason> = ["Invalid", "OutOfRange", "Conflict", "Unsupported", "Missing"]
    const operations: ReadonlyArray<TimeoutOperation> = ["connect", "call", "queue", "hold"]
    for (const reason of reasons) {
      expect(new InvalidOption({ option: "o", reason, detail: "d" }).reason).toBe(reason)
    }
    for (const operation of operations) {
      const message = new Timeout({ connection: "x", operation, duration: Duration.seconds(1) }).message
      expect(message).toContain("1s")
    }
  })

  it("InvalidOption's message is the option and the detail", () => {
    const error = new InvalidOption({
      option: "healthCheck.interval",
      reason: "OutOfRange",
      detail: "must be positive"
    })
    expect(error.message).toBe(`Invalid option "healthCheck.interval": must be positive`)
    expect(error.reason).toBe("OutOfRange")
  })
})
