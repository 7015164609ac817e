/**
 * The error of the gRPC connection strings, and how core's errors become it.
 *
 * @internal
 */
import { RedialError } from "@redial/core"
import * as ConnectionString from "@redial/core/ConnectionString"
import * as Either from "effect/Either"

/** @internal */
export type Reason = "Syntax" | "Scheme" | "Credentials" | "Path" | "InvalidValue" | "UnknownKey" | "Conflict"

/** @internal */
export class GrpcConnectionStringError extends RedialError("GrpcConnectionStringError")<{
  readonly reason: Reason
  readonly detail: string
  readonly key?: string | undefined
  readonly cause?: ConnectionString.ConnectionStringError | undefined
}> {
  override get message(): string {
    return `Invalid connection string: ${this.detail}`
  }
}

/** @internal */
export const fail = (
  reason: Reason,
  detail: string,
  key?: string | undefined
): Either.Either<never, GrpcConnectionStringError> =>
  Either.left(new GrpcConnectionStringError(key === undefined ? { reason, detail } : { reason, detail, key }))

/**
 * A grammar error of core's parser: `Syntax`, with it as the cause. `position` maps a position
 * of the text core read back to the input (that text is the input with whitespace trimmed).
 *
 * @internal
 */
export const fromCoreError = (
  error: ConnectionString.ConnectionStringError,
  position?: ((i: number) => number) | undefined
): GrpcConnectionStringError => {
  const cause = position === undefined || error.position === undefined
    ? error
    : new ConnectionString.ConnectionStringError({
      part: error.part,
      reason: error.reason,
      detail: error.detail,
      position: position(error.position)
    })
  return new GrpcConnectionStringError({
    reason: "Syntax",
    detail: `${cause.detail}${cause.position === undefined ? "" : ` (at position ${cause.position})`}`,
    cause
  })
}

/** @internal */
export const fromParamError = (error: ConnectionString.ParamError): GrpcConnectionStringError =>
  new GrpcConnectionStringError(
    error.key === undefined
      ? { reason: error.reason, detail: error.detail }
      : { reason: error.reason, detail: error.detail, key: error.key }
  )
