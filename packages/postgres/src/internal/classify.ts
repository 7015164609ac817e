/**
 * Reads any error node-postgres (or the socket under it) produces into a `PgError`: a server
 * ErrorResponse by its SQLSTATE, everything else by its Node.js error code or pg's own message.
 * Never throws, for any value, and takes time linear in the message.
 *
 * @internal
 */
import type * as PgError from "../PgError.js"
import { conditions } from "./sqlstate.js"

/** @internal */
export type Reason =
  | "ConnectionException"
  | "FeatureNotSupported"
  | "DataException"
  | "IntegrityConstraintViolation"
  | "InvalidCursorState"
  | "InvalidTransactionState"
  | "InvalidAuthorization"
  | "InvalidCatalogName"
  | "TransactionRollback"
  | "SyntaxErrorOrAccessRuleViolation"
  | "InsufficientResources"
  | "ProgramLimitExceeded"
  | "ObjectNotInPrerequisiteState"
  | "OperatorIntervention"
  | "SystemError"
  | "PlpgsqlError"
  | "InternalError"
  | "ServerError"
  | "ConnectionRefused"
  | "ConnectTimeout"
  | "ConnectionLost"
  | "HostNotFound"
  | "DnsUnavailable"
  | "NetworkUnreachable"
  | "SslNotSupported"
  | "Tls"
  | "Protocol"
  | "ClientError"
  | "Unknown"

const byClass: Readonly<Record<string, Reason>> = {
  "08": "ConnectionException",
  "0A": "FeatureNotSupported",
  "22": "DataException",
  "23": "IntegrityConstraintViolation",
  "24": "InvalidCursorState",
  "25": "InvalidTransactionState",
  "28": "InvalidAuthorization",
  "3D": "InvalidCatalogName",
  "40": "TransactionRollback",
  "42": "SyntaxErrorOrAccessRuleViolation",
  "53": "InsufficientResources",
  "54": "ProgramLimitExceeded",
  "55": "ObjectNotInPrerequisiteState",
  "57": "OperatorIntervention",
  "58": "SystemError",
  "P0": "PlpgsqlError",
  "XX": "InternalError"
}

/** The reason of a SQLSTATE: its class's, or `ServerError` for the classes without one. @internal */
export const reasonOfCode = (code: string): Reason => byClass[code.slice(0, 2)] ?? "ServerError"

/** The condition name of a SQLSTATE (`23505` → `unique_violation`), if PostgreSQL 15 lists it. @internal */
export const conditionOf = (code: string): string | undefined =>
  Object.prototype.hasOwnProperty.call(conditions, code) ? conditions[code] : undefined

const nodeCodes: Readonly<Record<string, Reason>> = {
  ECONNREFUSED: "ConnectionRefused",
  ECONNRESET: "ConnectionLost",
  EPIPE: "ConnectionLost",
  ECONNABORTED: "ConnectionLost",
  ETIMEDOUT: "ConnectTimeout",
  ENOTFOUND: "HostNotFound",
  EAI_AGAIN: "DnsUnavailable",
  EAI_NONAME: "HostNotFound",
  EAI_NODATA: "HostNotFound",
  ENETUNREACH: "NetworkUnreachable",
  EHOSTUNREACH: "NetworkUnreachable",
  EHOSTDOWN: "NetworkUnreachable",
  EADDRNOTAVAIL: "NetworkUnreachable",
  ENOENT: "ConnectionRefused" // a Unix socket path with no server behind it
}

/** TLS failures that no retry fixes: the certificate does not verify. */
const tlsVerifyCodes = new Set([
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "CERT_HAS_EXPIRED",
  "CERT_NOT_YET_VALID",
  "CERT_SIGNATURE_FAILURE",
  "CERT_UNTRUSTED",
  "CERT_REJECTED",
  "ERR_TLS_CERT_ALTNAME_INVALID",
  "HOSTNAME_MISMATCH"
])

const SQLSTATE = /^[0-9A-Z]{5}$/

const stringField = (error: object, key: string): string | undefined => {
  const value = (error as Record<string, unknown>)[key]
  return typeof value === "string" && value.length > 0 ? value : undefined
}

/** The fields of a PgError, read from `error`. @internal */
export interface Fields {
  readonly reason: Reason
  readonly text: string
  readonly code?: string | undefined
  readonly condition?: string | undefined
  readonly severity?: string | undefined
  readonly detail?: string | undefined
  readonly hint?: string | undefined
  readonly position?: number | undefined
  readonly where?: string | undefined
  readonly schema?: string | undefined
  readonly table?: string | undefined
  readonly column?: string | undefined
  readonly dataType?: string | undefined
  readonly constraint?: string | undefined
  readonly tlsVerification?: boolean | undefined
}

const messageOf = (error: unknown): string => {
  if (error instanceof Error) return typeof error.message === "string" ? error.message : ""
  if (typeof error === "string") return error
  try {
    return String(error)
  } catch {
    return "(an error that cannot be shown)"
  }
}

/** Reads an error's fields. @internal */
export const fieldsOf = (error: unknown): Fields => {
  const text = messageOf(error)
  if (typeof error !== "object" || error === null) return { reason: "Unknown", text }
  const code = stringField(error, "code")
  // A server ErrorResponse (pg's DatabaseError): a SQLSTATE and a severity.
  if (code !== undefined && SQLSTATE.test(code) && stringField(error, "severity") !== undefined) {
    const position = stringField(error, "position")
    return {
      reason: reasonOfCode(code),
      text,
      code,
      condition: conditionOf(code),
      severity: stringField(error, "severity"),
      detail: stringField(error, "detail"),
      hint: stringField(error, "hint"),
      position: position === undefined ? undefined : Number.parseInt(position, 10),
      where: stringField(error, "where"),
      schema: stringField(error, "schema"),
      table: stringField(error, "table"),
      column: stringField(error, "column"),
      dataType: stringField(error, "dataType"),
      constraint: stringField(error, "constraint")
    }
  }
  // A Node.js error code is not a SQLSTATE: it stays on the cause.
  if (code !== undefined && tlsVerifyCodes.has(code)) return { reason: "Tls", text, tlsVerification: true }
  if (code !== undefined && code.startsWith("ERR_SSL")) return { reason: "Tls", text }
  const nodeReason = code === undefined ? undefined : nodeCodes[code]
  if (nodeReason !== undefined) return { reason: nodeReason, text }
  if (text === "The server does not support SSL connections") return { reason: "SslNotSupported", text }
  if (text === "There was an error establishing an SSL connection") return { reason: "Tls", text }
  if (text === "timeout expired" || text === "Connection terminated due to connection timeout") {
    return { reason: "ConnectTimeout", text }
  }
  if (
    text === "Connection terminated unexpectedly" || text === "Connection terminated" ||
    text.startsWith("Client has encountered a connection error") || text === "Client was closed and is not queryable"
  ) return { reason: "ConnectionLost", text }
  if (text.startsWith("Received unexpected") || text.includes("protocol")) return { reason: "Protocol", text }
  if (error instanceof Error) return { reason: "ClientError", text }
  return { reason: "Unknown", text }
}

/** SQLSTATEs after which no connect attempt can succeed (Electric's fatal list, for connecting). */
const fatalCodes = new Set(["28P01", "28000", "3D000", "42501", "0A000", "3F000", "42704"])

/** @internal */
export const isFatal = (self: PgError.PgError): boolean => {
  if (self.operation !== "connect") return false
  if (self.code !== undefined) return fatalCodes.has(self.code) || self.code.startsWith("28")
  return (self.reason === "Tls" && self.tlsVerification === true) || self.reason === "HostNotFound" ||
    self.reason === "SslNotSupported" || self.reason === "ClientError"
}

/** SQLSTATEs after which the same work may succeed if run again (on this or a new connection). */
const retryableCodes = new Set(["40001", "40P01", "55P03", "57014", "55006", "58P02", "08P01"])

/** @internal */
export const isRetryable = (self: PgError.PgError): boolean => {
  if (isFatal(self)) return false
  if (self.code !== undefined) {
    return retryableCodes.has(self.code) || self.code.startsWith("08") || self.code.startsWith("53") ||
      self.code.startsWith("57P")
  }
  switch (self.reason) {
    case "ConnectionRefused":
    case "ConnectTimeout":
    case "ConnectionLost":
    case "NetworkUnreachable":
    case "DnsUnavailable":
    case "Protocol":
    case "Unknown":
      return true
    default:
      return false
  }
}
