/**
 * The SqlClient on redial's pool: each statement checks out a connection of `@redial/pool` (so the
 * pool's queue, shedding, deadlines and cancel on interrupt apply to it), a transaction holds one
 * checkout for its scope, and every failure is an `SqlError` whose `cause` is redial's typed error.
 *
 * @internal
 */
import type * as Reactivity from "@effect/experimental/Reactivity"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as Client from "@effect/sql/SqlClient"
import type { Connection } from "@effect/sql/SqlConnection"
import { SqlError } from "@effect/sql/SqlError"
import * as Statement from "@effect/sql/Statement"
import { type Closed, type InvalidOption, Timeout } from "@redial/core"
import { ConnectionBroken, Driver, type Pool } from "@redial/pool"
import { type PgDriver, PgError, PgListen, PgPool } from "@redial/postgres"
import * as Cause from "effect/Cause"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as RcRef from "effect/RcRef"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type * as RedialPgClient from "../RedialPgClient.js"

type Checkout = Pool.Checkout<PgDriver.PgTypes>
type Transform = (<A extends object>(rows: ReadonlyArray<A>) => ReadonlyArray<A>) | undefined

const ATTR_DB_SYSTEM_NAME = "db.system.name"
const ATTR_DB_NAMESPACE = "db.namespace"
const ATTR_SERVER_ADDRESS = "server.address"
const ATTR_SERVER_PORT = "server.port"

/** The pool's `timeout` unless given: a request's deadline and how long it may hold a connection. */
const DEFAULT_TIMEOUT = "1 hour"

const failed = (message: string) => (cause: unknown) => new SqlError({ cause, message })
const statementFailed = failed("Failed to execute statement")

/**
 * The rows of a result, as @effect/sql-pg gives them: pg answers a statement of several
 * commands (simple protocol, no parameters) with an array of results, one rows array each.
 */
const rowsOf = (result: PgDriver.Result): ReadonlyArray<object> => {
  const results: unknown = result
  return Array.isArray(results)
    ? (results as ReadonlyArray<PgDriver.Result>).map((r) => r.rows ?? [])
    : result.rows ?? []
}

/** The statements @effect/sql's withTransaction sends to roll back (`ROLLBACK`, `ROLLBACK TO SAVEPOINT …`). */
const isRollback = (sql: string): boolean => /^rollback\b/i.test(sql)

/** A call's error that says the checkout's connection is out of service (broken, lost, held too long). */
const isConnectionGone = (cause: unknown): boolean =>
  cause instanceof ConnectionBroken || cause instanceof Driver.Disconnect || cause instanceof Timeout

const succeedEmpty: Effect.Effect<ReadonlyArray<never>> = Effect.succeed([])

/** The statement @effect/sql's withTransaction sends to commit. */
const isCommit = (sql: string): boolean => /^commit\b/i.test(sql)

/**
 * The SqlErrors of failed COMMITs. @effect/sql's withTransaction turns a failed COMMIT into a
 * defect; the client's `withTransaction` turns these back into failures (see `make`).
 */
const commitFailures = new WeakSet<SqlError>()

const markCommitFailure = (error: SqlError) => Effect.sync(() => void commitFailures.add(error))

/**
 * A failed COMMIT as the transaction's failure, typed: a deferred constraint checked at COMMIT,
 * a serialization failure (40001, retryable), a connection lost at the last moment. Any other
 * cause is left as it is.
 */
const typedCommit = <E>(cause: Cause.Cause<E>): Effect.Effect<never, E | SqlError> => {
  const defect = Cause.dieOption(cause)
  return Option.isSome(defect) && defect.value instanceof SqlError && commitFailures.has(defect.value)
    ? Effect.fail(defect.value)
    : Effect.failCause(cause)
}

/**
 * What a Connection runs its statements on: the pool itself (outside a transaction: each
 * statement takes and gives back a connection in one step) or a checkout (a transaction's).
 */
interface Runner {
  /** The pool's name, for errors. */
  readonly pool: string
  readonly query: (query: PgDriver.Query, params?: ReadonlyArray<unknown>) => Effect.Effect<PgDriver.Result, unknown>
  readonly stream: (
    query: PgDriver.Query,
    params: ReadonlyArray<unknown>,
    options: { readonly maxRows: number }
  ) => Stream.Stream<PgDriver.Row, unknown>
}

/** @effect/sql's Connection on the pool, or on one checkout. */
class ConnectionImpl implements Connection {
  constructor(readonly co: Runner) {}

  private rows(sql: string, params: ReadonlyArray<unknown>) {
    return this.co.query(sql, params).pipe(
      Effect.mapBoth({ onFailure: statementFailed, onSuccess: rowsOf })
    )
  }

  execute(sql: string, params: ReadonlyArray<unknown>, transformRows: Transform) {
    const rows = this.rows(sql, params)
    return transformRows === undefined ? rows : Effect.map(rows, (r) => transformRows(r))
  }

  executeRaw(sql: string, params: ReadonlyArray<unknown>) {
    return Effect.mapError(this.co.query(sql, params), statementFailed)
  }

  executeValues(sql: string, params: ReadonlyArray<unknown>) {
    return this.co.query({ text: sql, rowMode: "array" }, params).pipe(
      Effect.mapBoth({
        onFailure: statementFailed,
        onSuccess: (result) => result.rows as unknown as ReadonlyArray<ReadonlyArray<unknown>>
      })
    )
  }

  executeUnprepared(sql: string, params: ReadonlyArray<unknown>, transformRows: Transform) {
    if (isCommit(sql)) return Effect.tapError(this.commit(sql, params), markCommitFailure)
    const rows = this.execute(sql, params, transformRows)
    // @effect/sql's withTransaction dies when its ROLLBACK (or ROLLBACK TO SAVEPOINT) fails: on a
    // connection that broke during the transaction there is nothing to roll back (the server
    // aborts the transaction when the connection closes, and the pool has taken it out of
    // service), so the transaction fails with its own SqlError, not a defect.
    return isRollback(sql) ? Effect.catchIf(rows, (error) => isConnectionGone(error.cause), () => succeedEmpty) : rows
  }

  /**
   * COMMIT, failed when the server answers it with ROLLBACK (the transaction had failed: an error
   * caught inside it), as the postgres driver's own commit: pg reports that as a success.
   */
  private commit(sql: string, params: ReadonlyArray<unknown>) {
    return this.co.query(sql, params).pipe(
      Effect.mapError(statementFailed),
      Effect.flatMap((result) =>
        result.command === "ROLLBACK"
          ? Effect.fail(
            new SqlError({
              message: "Failed to commit: the transaction had failed and was rolled back",
              cause: new PgError.PgError({
                reason: "InvalidTransactionState",
                operation: "commit",
                connection: this.co.pool,
                code: "25P02",
                condition: "in_failed_sql_transaction",
                text: "COMMIT was answered with ROLLBACK: the transaction had failed, and was rolled back"
              })
            })
          )
          : succeedEmpty
      )
    )
  }

  executeStream(sql: string, params: ReadonlyArray<unknown>, transformRows: Transform) {
    const rows = this.co.stream(sql, params, { maxRows: 128 }).pipe(Stream.mapError(statementFailed))
    return transformRows === undefined
      ? rows
      : Stream.mapChunks(rows, (chunk) => Chunk.unsafeFromArray(transformRows(Chunk.toReadonlyArray(chunk))))
  }
}

/** The pool's name, database and server for the spans, as @effect/sql-pg gives them. */
const spanAttributesOf = (options: RedialPgClient.Options): ReadonlyArray<readonly [string, unknown]> => {
  const connect = options.connect ?? {}
  return [
    ...(options.spanAttributes ? Object.entries(options.spanAttributes) : []),
    [ATTR_DB_SYSTEM_NAME, "postgresql"],
    [ATTR_DB_NAMESPACE, connect.database ?? connect.user ?? "postgres"],
    [ATTR_SERVER_ADDRESS, connect.host ?? "localhost"],
    [ATTR_SERVER_PORT, connect.port ?? 5432]
  ]
}

/** @effect/sql-pg's config record, from the connect options (what `PgClient.config` reports). */
const configOf = (options: RedialPgClient.Options): PgClient.PgClientConfig => {
  const connect = options.connect ?? {}
  return {
    ...(connect.host === undefined ? {} : { host: connect.host }),
    ...(connect.port === undefined ? {} : { port: connect.port }),
    ...(connect.database === undefined ? {} : { database: connect.database }),
    ...(connect.user === undefined ? {} : { username: connect.user }),
    ...(connect.password === undefined ? {} : { password: connect.password }),
    ...(connect.applicationName === undefined ? {} : { applicationName: connect.applicationName }),
    ...(options.size === undefined ? {} : { maxConnections: options.size }),
    ...(options.connectTimeout === undefined ? {} : { connectTimeout: options.connectTimeout }),
    ...(options.transformResultNames === undefined ? {} : { transformResultNames: options.transformResultNames }),
    ...(options.transformQueryNames === undefined ? {} : { transformQueryNames: options.transformQueryNames }),
    ...(options.transformJson === undefined ? {} : { transformJson: options.transformJson }),
    ...(options.spanAttributes === undefined ? {} : { spanAttributes: options.spanAttributes })
  }
}

const PgJson = Statement.custom<PgClient.PgCustom>("PgJson")

/** @internal */
export const make = (
  options: RedialPgClient.Options = {}
): Effect.Effect<
  RedialPgClient.RedialPgClient,
  InvalidOption | Timeout | Closed,
  Scope.Scope | Reactivity.Reactivity
> =>
  Effect.gen(function*() {
    const {
      listen: listenOptions,
      spanAttributes: _spanAttributes,
      transformJson,
      transformQueryNames,
      transformResultNames,
      ...poolOptions
    } = options
    // @effect/sql-pg has no limit on how long a statement or transaction holds its connection:
    // the pool's own 15 s would break a long report or migration that worked there.
    const pool = yield* PgPool.make({ name: "sql", timeout: DEFAULT_TIMEOUT, ...poolOptions })
    const compiler = PgClient.makeCompiler(transformQueryNames, transformJson)
    const transformRows = transformResultNames
      ? Statement.defaultTransforms(transformResultNames, transformJson).array
      : undefined
    // Outside a transaction a statement is one `pool.query` (a checkout, the query and the
    // check-in in one step, as @effect/sql-pg's `pool.query`): no scope of its own per statement.
    const onPool = new ConnectionImpl({ pool: pool.name, query: pool.query, stream: pool.stream })
    const acquirer = Effect.succeed(onPool)
    // A transaction holds one checkout for its scope.
    const transactionAcquirer = Effect.mapBoth(pool.checkout, {
      onFailure: failed("Failed to acquire connection for transaction"),
      onSuccess: (co: Checkout) => new ConnectionImpl(co)
    })
    // The listener's own connection, made on the first `listen` and closed with the client.
    const listener = yield* RcRef.make({
      acquire: PgListen.make({
        name: `${options.name ?? "sql"}-listen`,
        ...listenOptions,
        connect: options.connect ?? {}
      }).pipe(Effect.mapError(failed("Failed to acquire connection for listen")))
    })
    const client = yield* Client.make({
      acquirer,
      transactionAcquirer,
      compiler,
      spanAttributes: spanAttributesOf(options),
      ...(transformRows === undefined ? {} : { transformRows })
    })
    const withTransaction = client.withTransaction
    const self: RedialPgClient.RedialPgClient = Object.assign(client, {
      // a failed COMMIT fails the transaction with its SqlError (@effect/sql: a defect), so that
      // `Effect.retry({ while: isRetryable })` can retry a serialization failure at COMMIT
      withTransaction: <R, E, A>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E | SqlError, R> =>
        Effect.catchAllCause(withTransaction(effect), typedCommit),
      [PgClient.TypeId]: PgClient.TypeId,
      config: configOf(options),
      pool,
      json: (value: unknown) => PgJson(value),
      listen: (channel: string) =>
        Stream.unwrapScoped(Effect.map(RcRef.get(listener), (l) => l.listen(channel))).pipe(
          // as @effect/sql-pg: the payloads of the channel, an empty one skipped
          Stream.filterMap((n) => n.payload.length > 0 ? Option.some(n.payload) : Option.none()),
          Stream.mapError((error) =>
            error instanceof SqlError ? error : new SqlError({ cause: error, message: "Failed to listen" })
          )
        ),
      notify: (channel: string, payload: string) =>
        Effect.asVoid(pool.query("select pg_notify($1, $2)", [channel, payload])).pipe(
          Effect.mapError(failed("Failed to notify"))
        )
    })
    return self
  })
