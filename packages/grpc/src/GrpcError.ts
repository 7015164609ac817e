/**
 * gRPC status codes as tagged errors. A call that ends with a non-OK status fails with the error
 * of that status (`Unavailable`, `NotFound`, …), carrying the code, the details, the trailing
 * metadata, the method and whether retrying is safe. `DEADLINE_EXCEEDED` becomes core's
 * `Timeout` instead, like every other deadline in redial.
 *
 * @example
 * ```ts
 * import * as grpc from "@grpc/grpc-js"
 * import { GrpcError } from "@redial/grpc"
 * import { Effect } from "effect"
 *
 * // a call that ended with UNAVAILABLE, as a client's call does
 * const call: Effect.Effect<string, GrpcError.GrpcStatusError> = Effect.fail(
 *   new GrpcError.Unavailable({ channel: "events", method: "/events.Events/Read", details: "", metadata: new grpc.Metadata() })
 * )
 * const handled = call.pipe(
 *   Effect.catchTag("NotFound", () => Effect.succeed("absent")),
 *   Effect.catchIf((e) => e.retryable, (e) => Effect.logWarning(`retry later: ${e.message}`))
 * )
 * Effect.runPromise(handled)
 * ```
 *
 * @since 0.1.0
 */
import type * as grpc from "@grpc/grpc-js"
import { RedialError } from "@redial/core"

/**
 * The fields every status error carries.
 *
 * @since 0.1.0
 * @category models
 */
export interface StatusFields {
  /** The channel's name. */
  readonly channel: string
  /** The full method path, e.g. `/redial.test.Test/Echo`. */
  readonly method: string
  /** The status details sent by the server (or by grpc-js for transport failures). */
  readonly details: string
  /** The trailing metadata. */
  readonly metadata: grpc.Metadata
}

/**
 * Which status codes are safe to retry: the call did not run, or ran without effect, and a
 * later attempt may succeed (`Unavailable`, `ResourceExhausted`, `Aborted`, `Cancelled` by the
 * server). Whether a retry is wise also depends on the method being idempotent: see the
 * client's `retry` option.
 *
 * @since 0.1.0
 * @category models
 */
export const retryableCodes: ReadonlySet<number> = new Set([1, 8, 10, 14])

/**
 * A status error: tagged by its status name, yieldable, with the code and the retry verdict.
 *
 * @since 0.1.0
 * @category models
 */
export interface StatusError<Tag extends string> extends RedialError, StatusFields {
  readonly _tag: Tag
  /** The numeric gRPC status code. */
  readonly code: number
  /** Whether retrying the call is safe (see {@link retryableCodes}). */
  readonly retryable: boolean
}

/**
 * The constructor of a status error class.
 *
 * @since 0.1.0
 * @category models
 */
export interface StatusErrorConstructor<Tag extends string> {
  new(fields: StatusFields): StatusError<Tag>
}

const make = <const Tag extends string>(tag: Tag, code: number, name: string): StatusErrorConstructor<Tag> => {
  class StatusError extends RedialError(tag)<StatusFields> {
    /** The numeric gRPC status code. */
    readonly code: number = code
    /** Whether retrying the call is safe (see {@link retryableCodes}). */
    get retryable(): boolean {
      return retryableCodes.has(this.code)
    }
    override get message(): string {
      const details = this.details.length > 0 ? `: ${this.details}` : ""
      return `gRPC call ${this.method} on channel "${this.channel}" failed with ${name} (${this.code})${details}`
    }
  }
  return StatusError
}

/** @since 0.1.0 @category errors */
export class Cancelled extends make("Cancelled", 1, "CANCELLED") {}
/** @since 0.1.0 @category errors */
export class Unknown extends make("Unknown", 2, "UNKNOWN") {}
/** @since 0.1.0 @category errors */
export class InvalidArgument extends make("InvalidArgument", 3, "INVALID_ARGUMENT") {}
/** @since 0.1.0 @category errors */
export class NotFound extends make("NotFound", 5, "NOT_FOUND") {}
/** @since 0.1.0 @category errors */
export class AlreadyExists extends make("AlreadyExists", 6, "ALREADY_EXISTS") {}
/** @since 0.1.0 @category errors */
export class PermissionDenied extends make("PermissionDenied", 7, "PERMISSION_DENIED") {}
/** @since 0.1.0 @category errors */
export class ResourceExhausted extends make("ResourceExhausted", 8, "RESOURCE_EXHAUSTED") {}
/** @since 0.1.0 @category errors */
export class FailedPrecondition extends make("FailedPrecondition", 9, "FAILED_PRECONDITION") {}
/** @since 0.1.0 @category errors */
export class Aborted extends make("Aborted", 10, "ABORTED") {}
/** @since 0.1.0 @category errors */
export class OutOfRange extends make("OutOfRange", 11, "OUT_OF_RANGE") {}
/** @since 0.1.0 @category errors */
export class Unimplemented extends make("Unimplemented", 12, "UNIMPLEMENTED") {}
/** @since 0.1.0 @category errors */
export class Internal extends make("Internal", 13, "INTERNAL") {}
/** @since 0.1.0 @category errors */
export class Unavailable extends make("Unavailable", 14, "UNAVAILABLE") {}
/** @since 0.1.0 @category errors */
export class DataLoss extends make("DataLoss", 15, "DATA_LOSS") {}
/** @since 0.1.0 @category errors */
export class Unauthenticated extends make("Unauthenticated", 16, "UNAUTHENTICATED") {}

/**
 * Any status error.
 *
 * @since 0.1.0
 * @category errors
 */
export type GrpcStatusError =
  | Cancelled
  | Unknown
  | InvalidArgument
  | NotFound
  | AlreadyExists
  | PermissionDenied
  | ResourceExhausted
  | FailedPrecondition
  | Aborted
  | OutOfRange
  | Unimplemented
  | Internal
  | Unavailable
  | DataLoss
  | Unauthenticated

const byCode: Record<number, new(fields: StatusFields) => GrpcStatusError> = {
  1: Cancelled,
  2: Unknown,
  3: InvalidArgument,
  5: NotFound,
  6: AlreadyExists,
  7: PermissionDenied,
  8: ResourceExhausted,
  9: FailedPrecondition,
  10: Aborted,
  11: OutOfRange,
  12: Unimplemented,
  13: Internal,
  14: Unavailable,
  15: DataLoss,
  16: Unauthenticated
}

/**
 * The error of a non-OK, non-deadline status (codes 1-3 and 5-16). An unexpected code becomes
 * `Unknown`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromStatus = (code: number, fields: StatusFields): GrpcStatusError => {
  const Constructor = byCode[code] ?? Unknown
  return new Constructor(fields)
}

/**
 * A connect attempt found the channel in `TRANSIENT_FAILURE` (refused, reset, TLS handshake
 * failed…) or shut down: `reason` says which (`TransientFailure` or `Shutdown`), `detail` is
 * grpc-js's last error for the channel when it has one.
 *
 * @since 0.1.0
 * @category errors
 */
export class ChannelFailure extends RedialError("ChannelFailure")<{
  readonly channel: string
  readonly address: string
  readonly reason: "TransientFailure" | "Shutdown"
  readonly detail: string
}> {
  override get message(): string {
    const state = this.reason === "Shutdown" ? "SHUTDOWN" : "TRANSIENT_FAILURE"
    return `gRPC channel "${this.channel}" to ${this.address} failed to connect (${state}): ${this.detail}`
  }
}

/**
 * The grpc-js connectivity state a live channel moved to when it left `READY`.
 *
 * @since 0.1.0
 * @category models
 */
export type ChannelState = "IDLE" | "CONNECTING" | "TRANSIENT_FAILURE" | "SHUTDOWN"

/**
 * The live channel left `READY` for `state`: the connection is lost and the manager reconnects.
 *
 * @since 0.1.0
 * @category errors
 */
export class ChannelStateChanged extends RedialError("ChannelStateChanged")<{
  readonly channel: string
  readonly address: string
  readonly state: ChannelState
}> {
  override get message(): string {
    return `gRPC channel "${this.channel}" to ${this.address} left READY for ${this.state}`
  }
}
