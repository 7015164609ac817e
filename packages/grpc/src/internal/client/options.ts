/**
 * A call's options read without throwing: the deadline and the metadata.
 *
 * @internal
 */
import * as grpc from "@grpc/grpc-js"
import { InvalidOption } from "@redial/core"
import * as Duration from "effect/Duration"
import * as Option from "effect/Option"
import type * as GrpcClient from "../../GrpcClient.js"

// grpc-js sends a timeout as at most 8 digits of a unit, hours the largest: a deadline further
// away throws "Deadline is too far in the future" inside grpc-js (an unhandled rejection).
const MAX_DEADLINE_MILLIS = (1e8 - 1) * 60 * 60 * 1000

/**
 * The deadline as a finite Duration, `undefined` for none (absent or infinite), or why not.
 *
 * @internal
 */
export const deadline = (input: unknown): Duration.Duration | undefined | InvalidOption => {
  if (input === undefined) return undefined
  const decoded = Duration.isDuration(input) ? Option.some(input) : Duration.decodeUnknown(input)
  if (Option.isNone(decoded)) {
    return new InvalidOption({ option: "deadline", reason: "Invalid", detail: "must be a duration" })
  }
  const duration = decoded.value
  if (!Duration.isFinite(duration)) return undefined
  const millis = Duration.toMillis(duration)
  if (millis > MAX_DEADLINE_MILLIS) {
    return new InvalidOption({
      option: "deadline",
      reason: "OutOfRange",
      detail: `must be at most ${MAX_DEADLINE_MILLIS} ms, what gRPC can send (got ${millis} ms); ` +
        "use Duration.infinity for no deadline"
    })
  }
  return duration
}

/**
 * The call's metadata, or the key grpc-js rejected. grpc-js's own message quotes the value, which
 * may be a credential: it is not kept.
 *
 * @internal
 */
export const metadata = (input: GrpcClient.CallOptions["metadata"]): grpc.Metadata | { readonly key: string } => {
  if (input instanceof grpc.Metadata) return input.clone()
  const metadata = new grpc.Metadata()
  if (input === undefined) return metadata
  for (const [key, value] of Object.entries(input)) {
    try {
      if (typeof value === "string" || Buffer.isBuffer(value)) metadata.add(key, value)
      else for (const v of value) metadata.add(key, v)
    } catch {
      return { key }
    }
  }
  return metadata
}
