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
import { MAX_TIMER_MILLIS } from "../limits.js"

// One rule with the channel's defaultDeadline and the connection strings: Node's longest timer.
// grpc-js throws "Deadline is too far in the future" (an unhandled rejection) only beyond 10^8
// hours, but above 2^31-1 ms no local timer fires at all: the deadline would never be enforced.
const MAX_DEADLINE_MILLIS = MAX_TIMER_MILLIS

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
      detail: `must be at most ${MAX_DEADLINE_MILLIS} ms, Node's longest timer (got ${millis} ms); ` +
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
