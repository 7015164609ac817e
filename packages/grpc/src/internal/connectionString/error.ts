/**
 * The error of the gRPC connection strings, and how core's errors become it.
 *
 * @internal
 */
import { RedialError } from "@redial/core"
import type * as ConnectionString from "@redial/core/ConnectionString"
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

/** A grammar error of core's parser: `Syntax`, with it as the cause. @internal */
export const fromCoreError = (cause: ConnectionString.ConnectionStringError): GrpcConnectionStringError =>
  new GrpcConnectionStringError({
    reason: "Syntax",
    detail: `${cause.detail}${cause.position === undefined ? "" : ` (at position ${cause.position})`}`,
    cause
  })

/** @internal */
export const fromParamError = (error: ConnectionString.ParamError): GrpcConnectionStringError =>
  new GrpcConnectionStringError(
    error.key === undefined
      ? { reason: error.reason, detail: error.detail }
      : { reason: error.reason, detail: error.detail, key: error.key }
  )
