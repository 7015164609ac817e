/**
 * `PgError.classify`: node-postgres's errors (server ErrorResponses built with pg-protocol's own
 * `DatabaseError`, as pg makes them; Node.js socket errors; pg's own messages) read into a reason,
 * the server's fields, and the fatal / retryable answers the issue lists; any thrown value
 * classifies without throwing, in linear time, and no text keeps a secret.
 */
import { describe, expect, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import { DatabaseError } from "pg-protocol"
import { PgError } from "../src/index.js"
import { conditions } from "../src/internal/sqlstate.js"

/** A server ErrorResponse as pg-protocol's parser builds it. */
const serverError = (
  code: string,
  message: string,
  fields: Partial<
    Record<"severity" | "detail" | "hint" | "position" | "table" | "constraint" | "schema" | "column", string>
  > = {}
) => {
  const error = new DatabaseError(message, message.length, "error")
  error.code = code
  error.severity = fields.severity ?? "ERROR"
  Object.assign(error, fields)
  return error
}
const nodeError = (code: string, message: string) => Object.assign(new Error(message), { code, errno: -1 })

const onConnect = (error: unknown) => PgError.classify(error, { operation: "connect", connection: "db" })
const onQuery = (error: unknown) => PgError.classify(error, { operation: "query", connection: "db" })

describe("PgError.classify: server errors by SQLSTATE", () => {
  it("reads every field of an ErrorResponse", () => {
    const error = onQuery(serverError("23505", `duplicate key value violates unique constraint "users_email_key"`, {
      detail: "Key (email)=(a@b.c) already exists.",
      schema: "public",
      table: "users",
      constraint: "users_email_key",
      position: "15"
    }))
    expect(error.reason).toBe("IntegrityConstraintViolation")
    expect(error.code).toBe("23505")
    expect(error.condition).toBe("unique_violation")
    expect(error.severity).toBe("ERROR")
    expect(error.table).toBe("users")
    expect(error.constraint).toBe("users_email_key")
    expect(error.schema).toBe("public")
    expect(error.position).toBe(15)
    expect(error.retryable).toBe(false)
    expect(error.fatal).toBe(false)
    expect(error.message).toBe(
      `PostgreSQL "db": query failed (23505 unique_violation): duplicate key value violates unique constraint "users_email_key" Detail: Key (email)=(a@b.c) already exists.`
    )
  })

  it("names the condition of every SQLSTATE PostgreSQL 15 lists, and gives each the reason of its class", () => {
    const byClass: Record<string, PgError.Reason> = {
      "08": "ConnectionException",
      "22": "DataException",
      "23": "IntegrityConstraintViolation",
      "28": "InvalidAuthorization",
      "3D": "InvalidCatalogName",
      "40": "TransactionRollback",
      "42": "SyntaxErrorOrAccessRuleViolation",
      "53": "InsufficientResources",
      "57": "OperatorIntervention",
      "XX": "InternalError"
    }
    expect(Object.keys(conditions).length).toBeGreaterThan(250)
    for (const [code, condition] of Object.entries(conditions)) {
      const error = onQuery(serverError(code, "x"))
      expect(error.condition).toBe(condition)
      const expected = byClass[code.slice(0, 2)]
      if (expected !== undefined) expect(error.reason).toBe(expected)
    }
  })

  it("a SQLSTATE PostgreSQL does not list keeps its code, gets no name, and the reason of its class", () => {
    const error = onQuery(serverError("23999", "a future integrity error"))
    expect(error.code).toBe("23999")
    expect(error.condition).toBeUndefined()
    expect(error.reason).toBe("IntegrityConstraintViolation")
    expect(onQuery(serverError("Q9999", "x")).reason).toBe("ServerError")
  })

  const fatalOnConnect = [
    ["28P01", "password authentication failed for user \"app\""],
    ["28000", "no pg_hba.conf entry for host \"10.0.0.1\", user \"app\", database \"db\", no encryption"],
    ["3D000", "database \"nope\" does not exist"],
    ["42501", "permission denied for database \"db\""]
  ] as const
  it.each(fatalOnConnect)("%s on connect is fatal and not retryable; on a query it is neither fatal", (code, text) => {
    const connect = onConnect(serverError(code, text, { severity: "FATAL" }))
    expect(connect.fatal).toBe(true)
    expect(connect.retryable).toBe(false)
    expect(PgError.isFatal(connect)).toBe(true)
    expect(onQuery(serverError(code, text)).fatal).toBe(false)
  })

  const retryable = [
    ["57P01", "terminating connection due to administrator command", "OperatorIntervention"],
    ["57P02", "terminating connection because of crash of another server process", "OperatorIntervention"],
    ["57P03", "the database system is starting up", "OperatorIntervention"],
    ["53300", "sorry, too many clients already", "InsufficientResources"],
    ["08006", "connection failure", "ConnectionException"],
    ["08P01", "invalid frontend message type", "ConnectionException"],
    ["40001", "could not serialize access due to concurrent update", "TransactionRollback"],
    ["40P01", "deadlock detected", "TransactionRollback"],
    ["55P03", "could not obtain lock on row in relation \"t\"", "ObjectNotInPrerequisiteState"],
    ["57014", "canceling statement due to statement timeout", "OperatorIntervention"]
  ] as const
  it.each(retryable)("%s is retryable, not fatal (on connect and on a query)", (code, text, reason) => {
    for (const error of [onConnect(serverError(code, text, { severity: "FATAL" })), onQuery(serverError(code, text))]) {
      expect(error.reason).toBe(reason)
      expect(error.retryable).toBe(true)
      expect(error.fatal).toBe(false)
      expect(PgError.isRetryable(error)).toBe(true)
    }
  })

  it.each(["23505", "23503", "42601", "42P01", "22P02", "22012", "P0001"])(
    "%s is a statement error: neither retryable nor fatal",
    (code) => {
      const error = onQuery(serverError(code, "x"))
      expect(error.retryable).toBe(false)
      expect(error.fatal).toBe(false)
    }
  )
})

describe("PgError.classify: the socket, TLS and node-postgres itself", () => {
  const cases = [
    [nodeError("ECONNREFUSED", "connect ECONNREFUSED 127.0.0.1:5432"), "ConnectionRefused", true, false],
    [nodeError("ENOENT", "connect ENOENT /var/run/postgresql/.s.PGSQL.5433"), "ConnectionRefused", true, false],
    [nodeError("ECONNRESET", "read ECONNRESET"), "ConnectionLost", true, false],
    [nodeError("EPIPE", "write EPIPE"), "ConnectionLost", true, false],
    [nodeError("ETIMEDOUT", "connect ETIMEDOUT 10.0.0.1:5432"), "ConnectTimeout", true, false],
    [nodeError("ENOTFOUND", "getaddrinfo ENOTFOUND db.invalid"), "HostNotFound", false, true],
    [nodeError("EAI_AGAIN", "getaddrinfo EAI_AGAIN db"), "DnsUnavailable", true, false],
    [nodeError("ENETUNREACH", "connect ENETUNREACH ::1:5432"), "NetworkUnreachable", true, false],
    [nodeError("EHOSTUNREACH", "connect EHOSTUNREACH"), "NetworkUnreachable", true, false],
    [nodeError("DEPTH_ZERO_SELF_SIGNED_CERT", "self-signed certificate"), "Tls", false, true],
    [
      nodeError("ERR_TLS_CERT_ALTNAME_INVALID", "Hostname/IP does not match certificate's altnames"),
      "Tls",
      false,
      true
    ],
    [new Error("The server does not support SSL connections"), "SslNotSupported", false, true],
    [new Error("Connection terminated unexpectedly"), "ConnectionLost", true, false],
    [new Error("Connection terminated due to connection timeout"), "ConnectTimeout", true, false],
    [new Error("timeout expired"), "ConnectTimeout", true, false],
    [new Error("Client has encountered a connection error and is not queryable"), "ConnectionLost", true, false],
    [new Error("SASL: SCRAM-SERVER-FIRST-MESSAGE: client password must be a string"), "ClientError", false, true]
  ] as const
  it.each(cases)("%s → %s (retryable %s, fatal on connect %s)", (error, reason, isRetryable, isFatal) => {
    const classified = onConnect(error)
    expect(classified.reason).toBe(reason)
    expect(classified.retryable).toBe(isRetryable)
    expect(classified.fatal).toBe(isFatal)
    expect(classified.cause).toBe(error)
  })

  it("a TLS verification failure is marked as one", () => {
    expect(onConnect(nodeError("UNABLE_TO_VERIFY_LEAF_SIGNATURE", "unable to verify the first certificate")))
      .toMatchObject({ reason: "Tls", tlsVerification: true, fatal: true })
  })

  it("a PgError is returned as it is", () => {
    const error = onQuery(serverError("23505", "x"))
    expect(PgError.classify(error, { operation: "connect" })).toBe(error)
  })
})

describe("PgError.classify: any value, any size, no secret", () => {
  it("never throws for any value, and always gives a reason", () => {
    fc.assert(fc.property(fc.anything({ withNullPrototype: true, withBigInt: true }), (value) => {
      const error = onQuery(value)
      expect(typeof error.reason).toBe("string")
      expect(typeof error.message).toBe("string")
    }))
    const hostile = {
      toString: () => {
        throw new Error("no")
      }
    }
    expect(onQuery(hostile).reason).toBe("Unknown")
    expect(onQuery(Object.assign(new Error("x"), { code: { nested: true } })).reason).toBe("ClientError")
  })

  it("takes linear time on a huge message", () => {
    const big = serverError("XX000", "x".repeat(2_000_000), { detail: "(".repeat(1_000_000) })
    const started = performance.now()
    expect(onQuery(big).message.length).toBeGreaterThan(2_000_000)
    onQuery(new Error("protocol ".repeat(200_000)))
    // generous: a backtracking pattern would take minutes
    expect(performance.now() - started).toBeLessThan(5_000)
  })

  it("drops the raw error when only its detail, hint or context holds a secret (JSON would show it)", () => {
    for (const field of ["detail", "hint", "where"] as const) {
      const error = PgError.classify(
        serverError("28P01", "password authentication failed", { [field]: "sent s3cret!" }),
        {
          operation: "connect",
          secrets: ["s3cret!"]
        }
      )
      expect(error.cause).toBeUndefined()
      expect(JSON.stringify(error)).not.toContain("s3cret!")
      expect(error[field]).toBe("sent ***")
    }
  })

  it("JSON.stringify never throws on a circular cause (a TLS error's certificate chain), and keeps its message", () => {
    const tlsError: Error & { cert?: unknown } = nodeError("ERR_TLS_CERT_ALTNAME_INVALID", "altname mismatch")
    const cert: Record<string, unknown> = { subject: "CN=localhost" }
    cert["issuerCertificate"] = cert
    tlsError.cert = cert
    const json = JSON.parse(JSON.stringify(onConnect(tlsError))) as Record<string, unknown>
    expect(json["_tag"]).toBe("PgError")
    expect(json["reason"]).toBe("Tls")
    expect(json["cause"]).toBe("altname mismatch")
    expect(json["message"]).toContain("altname mismatch")
  })

  it("masks the secrets it is given wherever the texts hold them, and drops a cause that holds one", () => {
    fc.assert(fc.property(fc.string({ minLength: 4, maxLength: 40 }), fc.string(), (secret, around) => {
      const error = PgError.classify(
        serverError("28P01", `${around}${secret}${around}`, { detail: `detail ${secret}`, hint: secret }),
        { operation: "connect", secrets: [secret] }
      )
      expect(error.message.includes(secret)).toBe(false)
      expect(error.cause).toBeUndefined()
    }))
  })
})
