import { describe, expect, it } from "@effect/vitest"
import * as grpc from "@grpc/grpc-js"
import { isRedialError } from "@redial/core"
import { Data, Effect } from "effect"
import { GrpcError } from "../src/index.js"

const fields = { channel: "c", method: "/pkg.Svc/M", details: "no", metadata: new grpc.Metadata() }

describe("GrpcError", () => {
  it("every status error, ChannelFailure and ChannelStateChanged are redial errors", () => {
    for (let code = 1; code <= 16; code++) {
      if (code === 4) continue // DEADLINE_EXCEEDED is core's Timeout
      const error = GrpcError.fromStatus(code, fields)
      expect(isRedialError(error), error._tag).toBe(true)
      expect(error.name).toBe(error._tag)
    }
    expect(isRedialError(
      new GrpcError.ChannelFailure({ channel: "c", address: "h:1", reason: "TransientFailure", detail: "refused" })
    )).toBe(true)
    expect(isRedialError(new GrpcError.ChannelStateChanged({ channel: "c", address: "h:1", state: "IDLE" }))).toBe(
      true
    )
  })

  it("a lookalike of a status error is not a redial error", () => {
    class Unavailable extends Data.TaggedError("Unavailable")<{ readonly code: number }> {}
    expect(isRedialError(new Unavailable({ code: 14 }))).toBe(false)
    expect(isRedialError({ _tag: "Unavailable", code: 14 })).toBe(false)
  })

  it("ChannelFailure has a literal reason and the prose in detail", () => {
    const error = new GrpcError.ChannelFailure({ channel: "c", address: "h:1", reason: "Shutdown", detail: "gone" })
    expect(error.message).toBe(`gRPC channel "c" to h:1 failed to connect (SHUTDOWN): gone`)
  })

  it.effect("status errors are yieldable and caught by their tag", () =>
    Effect.gen(function*() {
      const tag = yield* Effect.fail(GrpcError.fromStatus(5, fields)).pipe(
        Effect.catchTag("NotFound", (e) => Effect.succeed(`${e._tag} ${e.code} ${e.retryable}`))
      )
      expect(tag).toBe("NotFound 5 false")
    }))
})
