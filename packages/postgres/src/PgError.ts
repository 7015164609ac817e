/**
 * The typed error of `@redial/postgres`. Every error node-postgres reports — a server
 * ErrorResponse with its SQLSTATE, a refused or reset socket, a TLS failure, pg's own complaints —
 * becomes a {@link PgError} with a literal `reason`, the server's fields, and two answers:
 * {@link PgError.fatal} (no reconnect can fix it) and {@link PgError.retryable} (running the same
 * work again may succeed).
 *
 * @since 0.1.0
 */
import { RedialError } from "@redial/core"
import * as internal from "./internal/classify.js"

/**
 * What went wrong. A server error's reason is its SQLSTATE class; the others say what the socket
 * or the client saw.
 *
 * | reason                             | SQLSTATE class | e.g.                                                     |
 * | ---------------------------------- | -------------- | -------------------------------------------------------- |
 * | `ConnectionException`              | 08             | 08006 connection_failure, 08P01 protocol_violation       |
 * | `FeatureNotSupported`              | 0A             |                                                          |
 * | `DataException`                    | 22             | 22P02 invalid_text_representation, 22012 division_by_zero |
 * | `IntegrityConstraintViolation`     | 23             | 23505 unique_violation, 23503 foreign_key_violation      |
 * | `InvalidCursorState`               | 24             |                                                          |
 * | `InvalidTransactionState`          | 25             | 25P02 in_failed_sql_transaction                          |
 * | `InvalidAuthorization`             | 28             | 28P01 invalid_password, 28000 (pg_hba.conf rejection)    |
 * | `InvalidCatalogName`               | 3D             | 3D000: the database does not exist                       |
 * | `TransactionRollback`              | 40             | 40001 serialization_failure, 40P01 deadlock_detected     |
 * | `SyntaxErrorOrAccessRuleViolation` | 42             | 42601 syntax_error, 42P01 undefined_table, 42501         |
 * | `InsufficientResources`            | 53             | 53300 too_many_connections                               |
 * | `ProgramLimitExceeded`             | 54             |                                                          |
 * | `ObjectNotInPrerequisiteState`     | 55             | 55P03 lock_not_available                                 |
 * | `OperatorIntervention`             | 57             | 57014 query_canceled, 57P01 admin_shutdown, 57P03        |
 * | `SystemError`                      | 58             |                                                          |
 * | `PlpgsqlError`                     | P0             | P0001 raise_exception                                    |
 * | `InternalError`                    | XX             |                                                          |
 * | `ServerError`                      | any other      |                                                          |
 * | `ConnectionRefused`                |                | ECONNREFUSED; a Unix socket with no server               |
 * | `ConnectTimeout`                   |                | the connect attempt took longer than `connectTimeout`    |
 * | `ConnectionLost`                   |                | the socket closed or reset (ECONNRESET, EPIPE)           |
 * | `HostNotFound`                     |                | ENOTFOUND: the name does not exist (fatal on connect)    |
 * | `DnsUnavailable`                   |                | EAI_AGAIN: the resolver failed for now (retryable)       |
 * | `NetworkUnreachable`               |                | ENETUNREACH, EHOSTUNREACH                                |
 * | `SslNotSupported`                  |                | the server answered the SSL request with "N"             |
 * | `Tls`                              |                | a TLS failure; `tlsVerification` when the certificate did not verify |
 * | `Protocol`                         |                | an unexpected message from the server                    |
 * | `ClientError`                      |                | node-postgres refused the call itself                    |
 * | `Unknown`                          |                | anything else                                            |
 *
 * @since 0.1.0
 * @category models
 */
export type Reason = internal.Reason

/**
 * What was being done when the error happened.
 *
 * @since 0.1.0
 * @category models
 */
export type Operation =
  | "connect"
  | "query"
  | "ping"
  | "begin"
  | "commit"
  | "rollback"
  | "savepoint"
  | "prepare"
  | "deallocate"
  | "cursor"
  | "cancel"
  | "listen"
  | "lock"

/**
 * An error from PostgreSQL or from the way to it: `reason` (see {@link Reason}), the server's
 * SQLSTATE `code` and its `condition` name, `severity`, `detail`, `hint`, `position` (1-based,
 * in characters), `schema`, `table`, `column`, `dataType`, `constraint`, the `operation`, the
 * `connection` (the pool or manager's name) and the original error as `cause`.
 *
 * - `fatal`: a connect error no retry can fix (28P01 bad password, 28000 pg_hba.conf rejection,
 *   3D000 no such database, 42501 no privilege to connect, a certificate that does not verify, a
 *   host name that does not resolve, SSL required by the client and refused by the server, a
 *   configuration node-postgres rejects). A pool or manager closes with it instead of retrying.
 * - `retryable`: the same work may succeed if run again — connection-level failures (57P01
 *   admin_shutdown, 57P03 cannot_connect_now, 53300 too_many_connections, class 08, a refused,
 *   reset or timed-out connection) and transaction-level ones (40001 serialization_failure,
 *   40P01 deadlock_detected, 55P03 lock_not_available, 57014 query_canceled). A statement error
 *   such as 23505 unique_violation is neither: it leaves the connection usable, and running the
 *   same statement again fails the same way.
 *
 * @example
 * ```ts
 * import { PgError } from "@redial/postgres"
 *
 * // what node-postgres reports for a unique violation
 * const error = PgError.classify(
 *   Object.assign(new Error(`duplicate key value violates unique constraint "users_email_key"`), {
 *     code: "23505",
 *     severity: "ERROR",
 *     constraint: "users_email_key",
 *     table: "users"
 *   }),
 *   { operation: "query" }
 * )
 * console.log(error.reason, error.condition, error.constraint, error.retryable)
 * // IntegrityConstraintViolation unique_violation users_email_key false
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class PgError extends RedialError("PgError")<{
  readonly reason: Reason
  readonly operation: Operation
  /** The pool's or manager's name, when known. */
  readonly connection?: string | undefined
  /** The server's SQLSTATE, for a server error. */
  readonly code?: string | undefined
  /** The SQLSTATE's condition name (`unique_violation`), when PostgreSQL lists it. */
  readonly condition?: string | undefined
  /** `ERROR`, `FATAL` or `PANIC` (a server error). */
  readonly severity?: string | undefined
  /** The server's own message, or the socket's. */
  readonly text: string
  readonly detail?: string | undefined
  readonly hint?: string | undefined
  readonly position?: number | undefined
  readonly where?: string | undefined
  readonly schema?: string | undefined
  readonly table?: string | undefined
  readonly column?: string | undefined
  readonly dataType?: string | undefined
  readonly constraint?: string | undefined
  /** For `Tls`: the server's certificate did not verify. */
  readonly tlsVerification?: boolean | undefined
  readonly cause?: unknown
}> {
  /** True for a connect error that no reconnect can fix (see {@link PgError}). */
  get fatal(): boolean {
    return internal.isFatal(this)
  }
  /** True when running the same work again may succeed (see {@link PgError}). */
  get retryable(): boolean {
    return internal.isRetryable(this)
  }
  /**
   * The error as JSON for a log line: its fields, with `cause` as its message only (node-postgres's
   * and TLS errors can be circular — a certificate chain — and would make `JSON.stringify` throw).
   */
  override toJSON(): unknown {
    const { cause, ...fields } = this as unknown as Record<string, unknown>
    return {
      ...fields,
      _tag: this._tag,
      message: this.message,
      ...(cause === undefined ? {} : { cause: cause instanceof Error ? cause.message : String(cause) })
    }
  }
  override get message(): string {
    const where = this.connection === undefined ? "PostgreSQL" : `PostgreSQL "${this.connection}"`
    const code = this.code === undefined
      ? this.reason
      : `${this.code}${this.condition === undefined ? "" : ` ${this.condition}`}`
    const detail = this.detail === undefined ? "" : ` Detail: ${this.detail}`
    const hint = this.hint === undefined ? "" : ` Hint: ${this.hint}`
    return `${where}: ${this.operation} failed (${code}): ${this.text}${detail}${hint}`
  }
}

/**
 * Reads any error node-postgres or its socket produced into a {@link PgError} (a `PgError` is
 * returned as it is). Never throws, whatever `error` is. `secrets` are masked as `***` wherever
 * they appear in the texts kept (a password echoed back by a proxy or a misconfigured server).
 *
 * @since 0.1.0
 * @category constructors
 */
export const classify = (
  error: unknown,
  options: {
    readonly operation: Operation
    readonly connection?: string | undefined
    readonly secrets?: ReadonlyArray<string> | undefined
  }
): PgError => {
  if (error instanceof PgError) return error
  const fields = internal.fieldsOf(error)
  const secrets = (options.secrets ?? []).filter((secret) => secret.length > 0)
  const mask = (text: string | undefined): string | undefined =>
    text === undefined ? undefined : secrets.reduce((acc, secret) => acc.split(secret).join("***"), text)
  return new PgError({
    ...fields,
    text: mask(fields.text) ?? "",
    detail: mask(fields.detail),
    hint: mask(fields.hint),
    where: mask(fields.where),
    operation: options.operation,
    connection: options.connection,
    // The raw error keeps the texts unmasked: dropped when any of them holds a secret.
    cause: secrets.some((secret) =>
        [fields.text, fields.detail, fields.hint, fields.where].some((text) =>
          text?.includes(secret) === true
        )
      )
      ? undefined
      : error
  })
}

/**
 * Whether `error` is a {@link PgError} that may succeed if the same work runs again.
 *
 * @since 0.1.0
 * @category predicates
 */
export const isRetryable = (error: unknown): boolean => error instanceof PgError && error.retryable

/**
 * Whether `error` is a {@link PgError} that no reconnect can fix.
 *
 * @since 0.1.0
 * @category predicates
 */
export const isFatal = (error: unknown): boolean => error instanceof PgError && error.fatal
