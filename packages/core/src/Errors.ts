/**
 * The errors of `@redial/core`, and the base every redial package builds its errors on. Every
 * one is tagged (`_tag`), yieldable (`yield* new Closed(…)`), carries the redial {@link TypeId}
 * (so {@link isRedialError} recognises it) and has a message that says what happened and what
 * to do.
 *
 * @since 0.1.0
 */
import type * as Cause from "effect/Cause"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Predicate from "effect/Predicate"
import type * as Types from "effect/Types"
import type * as Connection from "./Connection.js"
import * as status from "./internal/status.js"

/**
 * The mark every redial error carries, on its prototype.
 *
 * @since 0.1.0
 * @category type id
 */
export const TypeId: unique symbol = Symbol.for("@redial/core/RedialError")

/**
 * @since 0.1.0
 * @category type id
 */
export type TypeId = typeof TypeId

/**
 * Any error of a redial package: tagged, yieldable, marked with {@link TypeId}.
 *
 * @since 0.1.0
 * @category models
 */
export interface RedialError extends Cause.YieldableError {
  readonly [TypeId]: TypeId
  readonly _tag: string
}

/**
 * Whether a value is an error of a redial package (of any of them: core, pool, grpc …). A
 * lookalike such as `{ _tag: "Closed" }` or another library's tagged error is not.
 *
 * @example
 * ```ts
 * import { Closed, isRedialError } from "@redial/core"
 *
 * isRedialError(new Closed({ connection: "db", reason: "UserClosed" })) // true
 * isRedialError({ _tag: "Closed" }) // false
 * ```
 *
 * @since 0.1.0
 * @category refinements
 */
export const isRedialError = (u: unknown): u is RedialError => Predicate.hasProperty(u, TypeId)

// eslint-disable-next-line @typescript-eslint/no-empty-object-type -- an error without fields, as Data.TaggedError
type NoFields = {}

/**
 * The base class of a redial error, as `Data.TaggedError` but marked with {@link TypeId}. The
 * mark is on the prototype, so equality, `toJSON` and the own fields are those of
 * `Data.TaggedError`. The instance's `name` is the tag; it has a stack.
 *
 * @example
 * ```ts
 * import { RedialError } from "@redial/core"
 * import { Effect } from "effect"
 *
 * class Dropped extends RedialError("Dropped")<{ readonly pool: string }> {
 *   override get message() {
 *     return `Pool "${this.pool}" dropped the request`
 *   }
 * }
 *
 * const program = Effect.gen(function*() {
 *   return yield* new Dropped({ pool: "db" })
 * }).pipe(Effect.catchTag("Dropped", (e) => Effect.succeed(e.pool)))
 * Effect.runPromise(program).then(console.log) // "db"
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const RedialError: <const Tag extends string>(tag: Tag) => new<
  // `any` in the constraint only, as Data.TaggedError: interfaces have no index signature.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  A extends Record<string, any> = NoFields
>(
  args: Types.Equals<A, NoFields> extends true ? void
    : { readonly [P in keyof A as P extends "_tag" ? never : P]: A[P] }
) => RedialError & { readonly _tag: Tag } & Readonly<A> = (tag) => {
  const Base = Data.TaggedError(tag)
  class Marked extends Base {}
  Object.defineProperty(Marked.prototype, TypeId, { value: TypeId, enumerable: false })
  return Marked as never
}

/**
 * Why a connection is closed.
 *
 * - `UserClosed`: `close` was called; `connect` starts it again.
 * - `ScopeClosed`: the scope that owned the connection ended; it cannot be started again.
 * - `FatalError`: a connect attempt failed with an error that `isFatal` called fatal.
 * - `PolicyExhausted`: the reconnect policy gave up (e.g. `Reconnect.limit` reached, `Reconnect.stop`).
 *
 * @since 0.1.0
 * @category models
 */
export type CloseReason = status.CloseReason

/**
 * A connect attempt failed. Carries the error of the attempt (`cause`), which attempt it was
 * (counted from 1 since the last successful connect) and the connection's name.
 *
 * @since 0.1.0
 * @category errors
 */
export class ConnectFailed extends RedialError("ConnectFailed")<{
  readonly connection: string
  readonly attempt: number
  readonly cause: unknown
}> {
  override get message(): string {
    return `Connection "${this.connection}": connect attempt ${this.attempt} failed: ${status.causeMessage(this.cause)}`
  }
}

/**
 * What a {@link Closed} or a {@link Timeout} names, as the first word of its message: a core
 * `Connection` (the default), a `Pool` of connections, or a gRPC `Channel`.
 *
 * @since 0.1.0
 * @category models
 */
export type ResourceKind = "Connection" | "Pool" | "Channel"

/**
 * The connection is closed and will not reconnect by itself. `reason` says why; `error` is the
 * failed attempt that closed it (for `FatalError` and `PolicyExhausted`). `kind` says what is
 * closed (default `Connection`): a pool's `Closed` says `Pool "orders" is closed …`, with a pool's
 * advice (a pool does not restart: make a new one).
 *
 * @example
 * ```ts
 * import { Closed } from "@redial/core"
 *
 * new Closed({ connection: "orders", kind: "Pool", reason: "ScopeClosed" }).message
 * // Pool "orders" is closed: the scope that owned it has ended; make a new pool.
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class Closed extends RedialError("Closed")<{
  readonly connection: string
  readonly reason: CloseReason
  readonly error?: ConnectFailed | undefined
  readonly kind?: ResourceKind | undefined
}> {
  override get message(): string {
    const kind = this.kind ?? "Connection"
    const prefix = `${kind} "${this.connection}" is closed`
    const last = status.causeMessage(this.error?.cause)
    if (kind === "Pool") {
      switch (this.reason) {
        case "UserClosed":
          return `${prefix}: it was closed by the user.`
        case "ScopeClosed":
          return `${prefix}: the scope that owned it has ended; make a new pool.`
        case "FatalError":
          return `${prefix}: every connection has stopped, the last after a fatal error on attempt ${
            this.error?.attempt ?? "?"
          } (${last}); fix the cause, then make a new pool.`
        case "PolicyExhausted":
          return `${prefix}: every connection has stopped, the last when its reconnect policy gave up after ${
            this.error?.attempt ?? "?"
          } failed attempts (last: ${last}); make a new pool, or use a policy that retries longer.`
      }
    }
    const again = "call connect"
    switch (this.reason) {
      case "UserClosed":
        return `${prefix}: it was closed by the user; ${again} to start it again.`
      case "ScopeClosed":
        return `${prefix}: the scope that owned it has ended; create a new ${kind.toLowerCase()}.`
      case "FatalError":
        return `${prefix} after a fatal error on attempt ${
          this.error?.attempt ?? "?"
        } (${last}); fix the cause, then ${again} to try again.`
      case "PolicyExhausted":
        return `${prefix}: the reconnect policy gave up after ${
          this.error?.attempt ?? "?"
        } failed attempts (last: ${last}); ${again} to try again, or use a policy that retries longer.`
    }
  }
}

/**
 * The connection is not connected right now (it is connecting, backing off, or idle). Carries
 * the current status and the last connect error, if any. `await` waits instead of failing.
 *
 * @since 0.1.0
 * @category errors
 */
export class NotConnected extends RedialError("NotConnected")<{
  readonly connection: string
  readonly status: Connection.Status
  readonly lastError?: ConnectFailed | undefined
}> {
  override get message(): string {
    const last = this.lastError === undefined ? "" : `; last error: ${status.causeMessage(this.lastError.cause)}`
    return `Connection "${this.connection}" is not connected (${
      status.describe(this.status)
    }${last}); use await to wait for it.`
  }
}

/**
 * What timed out:
 *
 * - `connect`: one connect attempt (`connectTimeout`);
 * - `afterConnect`: the `afterConnect` step of a connection;
 * - `healthCheck`: one health check;
 * - `await`: waiting for a connection (`await({ timeout })`);
 * - `queue`: a pool checkout waited in the queue past its deadline;
 * - `hold`: a checkout was held past the pool's timeout;
 * - `ping`: an idle ping;
 * - `call`: a call (e.g. a gRPC call, its method path in `detail`) ran past its deadline;
 * - `confirm`: a published message was not confirmed by the broker in time (AMQP);
 * - `disconnect`: closing a connection;
 * - `write`: a write waited in a buffer (e.g. while a socket was down) past its timeout.
 *
 * @since 0.1.0
 * @category models
 */
export type TimeoutOperation =
  | "connect"
  | "afterConnect"
  | "healthCheck"
  | "await"
  | "queue"
  | "hold"
  | "ping"
  | "call"
  | "confirm"
  | "disconnect"
  | "write"

/**
 * An operation did not finish in time: `operation` says which, `duration` how long it was
 * given, `connection` names the connection (or pool, or channel) and `detail` says more when
 * there is more to say (the method path of a call); `kind` says what `connection` names (a pool
 * waiting for its first connection says `Pool "orders": not connected within 15s.`). `cause`, when present, is what stood in the
 * way: for a wait for a connection (`await`, `queue`) while none was up, the last connect error
 * (a `ConnectFailed` whose own `cause` is the driver's error, e.g. `ECONNREFUSED`); the message
 * then ends with it.
 *
 * @example
 * ```ts
 * import { Timeout } from "@redial/core"
 * import { Duration } from "effect"
 *
 * new Timeout({ connection: "db", operation: "queue", duration: Duration.seconds(15) }).message
 * // Pool "db": deadline reached while in queue after 15s.
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class Timeout extends RedialError("Timeout")<{
  readonly connection: string
  readonly operation: TimeoutOperation
  readonly duration: Duration.Duration
  readonly detail?: string | undefined
  readonly cause?: unknown
  /** What `connection` names (default `Connection`; `queue` and `hold` always say `Pool`). */
  readonly kind?: ResourceKind | undefined
}> {
  override get message(): string {
    const after = Duration.format(this.duration)
    const more = this.detail === undefined || this.detail.length === 0 ? "" : ` (${this.detail})`
    const text = timeoutText(this, after, more)
    return this.cause === undefined
      ? text
      : `${text} Last connect error: ${status.lastErrorMessage(this.cause, this.connection)}.`
  }
}

const timeoutText = (self: Timeout, after: string, more: string): string => {
  const connection = `${self.kind ?? "Connection"} "${self.connection}"`
  switch (self.operation) {
    case "connect":
      return `${connection}: connect attempt timed out after ${after}${more}.`
    case "afterConnect":
      return `${connection}: afterConnect timed out after ${after}${more}.`
    case "healthCheck":
      return `${connection}: health check timed out after ${after}${more}.`
    case "await":
      return `${connection}: not connected within ${after}${more}.`
    case "queue":
      return `Pool "${self.connection}": deadline reached while in queue after ${after}${more}.`
    case "hold":
      return `Pool "${self.connection}": checkout held past the pool's timeout of ${after}${more}.`
    case "ping":
      return `${connection}: ping timed out after ${after}${more}.`
    case "call":
      return `${connection}: call${
        self.detail === undefined || self.detail.length === 0 ? "" : ` ${self.detail}`
      } timed out after ${after}.`
    case "confirm":
      return `${connection}: publish not confirmed by the broker within ${after}${more}.`
    case "disconnect":
      return `${connection}: disconnect timed out after ${after}${more}.`
    case "write":
      return `${connection}: write not handed to a socket within ${after}${more}; it was not sent.`
  }
}

/**
 * What is wrong with an option, machine-readable:
 *
 * - `Invalid`: not a value of the expected kind (not a duration, not a whole number, empty …);
 * - `OutOfRange`: of the right kind but outside the allowed range (zero, negative, too small,
 *   too large, infinite where it must be finite);
 * - `Conflict`: contradicts another option (`min` greater than `max`);
 * - `Unsupported`: valid in general, not supported here;
 * - `Missing`: required and not given.
 *
 * @since 0.1.0
 * @category models
 */
export type InvalidOptionReason = "Invalid" | "OutOfRange" | "Conflict" | "Unsupported" | "Missing"

/**
 * An option given to a constructor is invalid. `option` names it (a path such as
 * `healthCheck.interval`), `reason` says what kind of problem it is, `detail` says it in prose.
 * The value itself is described only for numbers and durations, so a secret never ends up in a
 * message.
 *
 * @example
 * ```ts
 * import { InvalidOption } from "@redial/core"
 *
 * new InvalidOption({ option: "min", reason: "OutOfRange", detail: "must be at least 1ms (got 0)" }).message
 * // Invalid option "min": must be at least 1ms (got 0)
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidOption extends RedialError("InvalidOption")<{
  readonly option: string
  readonly reason: InvalidOptionReason
  readonly detail: string
}> {
  override get message(): string {
    return `Invalid option "${this.option}": ${this.detail}`
  }
}

/**
 * @since 0.1.0
 * @category models
 */
export declare namespace InvalidOption {
  /**
   * The literal `reason` of an `InvalidOption`.
   *
   * @since 0.1.0
   * @category models
   */
  export type Reason = InvalidOptionReason
}
