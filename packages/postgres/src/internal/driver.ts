/**
 * The pool's driver on node-postgres. One `Conn` per `pg.Client`, with the client's events always
 * listened to; every query goes through `submit`, which sends a CancelRequest when its fiber is
 * interrupted (or its `queryTimeout` passes) and records whether the connection survived.
 *
 * @internal
 */
import { Options as CoreOptions } from "@redial/core"
import { Driver } from "@redial/pool"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as FiberId from "effect/FiberId"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as net from "node:net"
import * as tls from "node:tls"
import pg from "pg"
import PgCursor from "pg-cursor"
import type * as PgDriver from "../PgDriver.js"
import { classify, PgError } from "../PgError.js"
import * as Cancel from "./cancel.js"

type Failure = PgError | Driver.Disconnect

/** How an interrupted query ended: stopped cleanly (the connection is usable) or not. */
type Interrupted = "Recovered" | "Lost"

/** What the driver uses of pg's protocol connection (its `Connection`, under the client). */
type Wire = NodeJS.EventEmitter & {
  readonly parsedStatements: Record<string, string>
  readonly submittedNamedStatements: Record<string, string>
  readonly close: (message: { readonly type: "S"; readonly name: string }) => void
  readonly sync: () => void
}

/**
 * A protocol Close of a named statement, then Sync, as a query of pg's queue. Unlike `DEALLOCATE`
 * it is accepted in a failed transaction (where the statement stays, and must stay known).
 */
class CloseStatement {
  constructor(readonly statement: string, readonly done: (error: Error | undefined) => void) {}
  submit(connection: Wire): void {
    connection.close({ type: "S", name: this.statement })
    connection.sync()
  }
  handleReadyForQuery(): void {
    this.done(undefined)
  }
  handleError(error: Error): void {
    this.done(error)
  }
}

/** A connection: the client, its backend, and what the driver knows of it. */
class Conn implements PgDriver.PgConnection {
  pid = 0
  secretKey = 0
  readonly parameters = new Map<string, string>()
  /** Set once the socket closed or failed, with what was seen. */
  closedBy: unknown = undefined
  isClosed = false
  /** How the last interrupted query ended. */
  interrupted: Interrupted | undefined = undefined
  readonly lostWaiters = new Set<() => void>()
  /** The calls under way: each ends when the connection closes. */
  readonly calls = new Set<{ lost(): void }>()
  constructor(
    readonly client: pg.Client,
    readonly target: Cancel.Target,
    readonly secrets: ReadonlyArray<string>
  ) {}

  /** What a call on the closed connection fails with: what the socket saw, or pg's words for an end. */
  closedError(): unknown {
    return this.closedBy instanceof Error ? this.closedBy : new Error("Connection terminated unexpectedly")
  }

  markClosed(cause: unknown): void {
    if (this.isClosed) return
    this.isClosed = true
    this.closedBy = cause
    // The pool's watcher first (it takes the connection out of service), then the calls under way.
    for (const wake of this.lostWaiters) wake()
    this.lostWaiters.clear()
    for (const call of this.calls) call.lost()
    this.calls.clear()
  }

  /** The client's protocol connection (pg's `Connection`: the parsed messages as events). */
  get wire(): Wire {
    return (this.client as unknown as { connection: Wire }).connection
  }

  /**
   * The named statements on this connection: pg's own record (it sends Parse for a name it does
   * not hold, and drops a name whose Parse failed), so that it is never out of step with what pg
   * sends. A new connection starts empty: a statement is prepared again at its first execute.
   */
  get prepared(): ReadonlyMap<string, string> {
    return new Map(Object.entries(this.wire.parsedStatements))
  }

  /** The text of a named statement parsed (or being parsed) on this connection. */
  statementText(name: string): string | undefined {
    const wire = this.wire
    return Object.prototype.hasOwnProperty.call(wire.parsedStatements, name)
      ? wire.parsedStatements[name]
      : Object.prototype.hasOwnProperty.call(wire.submittedNamedStatements, name)
      ? wire.submittedNamedStatements[name]
      : undefined
  }

  /** Forgets a named statement that the server no longer holds. */
  forget(name: string): void {
    Reflect.deleteProperty(this.wire.parsedStatements, name)
    Reflect.deleteProperty(this.wire.submittedNamedStatements, name)
  }

  /** Whether the server owes a ReadyForQuery (a query is under way). */
  awaitsReady(): boolean {
    return !this.isClosed && (this.client as unknown as { readyForQuery: boolean }).readyForQuery === false
  }

  /** Runs `k` once the server's next ReadyForQuery came in (after pg's own handler), or the socket closed. */
  afterReady(k: () => void): void {
    const wire = this.wire
    const done = () => {
      wire.removeListener("readyForQuery", done)
      this.lostWaiters.delete(done)
      k()
    }
    wire.on("readyForQuery", done)
    this.lostWaiters.add(done)
  }

  /** Destroys the socket (pg then emits `end`). */
  destroy(): void {
    const stream = (this.client as unknown as { connection?: { stream?: net.Socket } }).connection?.stream
    stream?.destroy()
    this.markClosed("destroyed")
  }
}

interface CursorImpl extends PgDriver.Cursor {
  readonly cursor: PgCursor<PgDriver.Row>
}

const millis = (input: Duration.DurationInput | undefined): number | undefined =>
  input === undefined ? undefined : Math.round(Duration.toMillis(Duration.decode(input)))

const positive = CoreOptions.duration()

interface Settings {
  readonly name: string
  readonly cancelTimeout: Duration.Duration
  readonly queryTimeout: Duration.Duration | undefined
  readonly closeTimeout: Duration.Duration
}

const settingsOf = (options: PgDriver.Options): Settings => ({
  name: options.name ?? "postgres",
  cancelTimeout: CoreOptions.decodeSync(positive, options.cancelTimeout ?? "5 seconds", { prefix: "cancelTimeout" }),
  queryTimeout: options.queryTimeout === undefined
    ? undefined
    : CoreOptions.decodeSync(positive, options.queryTimeout, { prefix: "queryTimeout" }),
  closeTimeout: CoreOptions.decodeSync(positive, options.closeTimeout ?? "1 second", { prefix: "closeTimeout" })
})

/** node-postgres's `ssl` for a mode (`false`: plain). */
const sslOf = (mode: PgDriver.SslMode, options: PgDriver.ConnectOptions): false | tls.ConnectionOptions => {
  if (mode === "disable") return false
  const t = options.tls ?? {}
  const base: tls.ConnectionOptions = {
    ...(t.ca === undefined ? {} : { ca: t.ca as tls.ConnectionOptions["ca"] }),
    ...(t.cert === undefined ? {} : { cert: t.cert }),
    ...(t.key === undefined ? {} : { key: Redacted.value(t.key) }),
    ...(t.passphrase === undefined ? {} : { passphrase: Redacted.value(t.passphrase) }),
    ...(t.servername === undefined ? {} : { servername: t.servername })
  }
  switch (mode) {
    case "prefer":
      return { ...base, rejectUnauthorized: false }
    case "require":
      // libpq: require verifies the chain only when a root certificate is given.
      return t.ca === undefined
        ? { ...base, rejectUnauthorized: false }
        : { ...base, rejectUnauthorized: true, checkServerIdentity: () => undefined }
    case "verify-ca":
      return { ...base, rejectUnauthorized: true, checkServerIdentity: () => undefined }
    case "verify-full": {
      // pg replaces `servername` with the host when the host is a DNS name: check the name asked for.
      const servername = t.servername
      return servername === undefined
        ? { ...base, rejectUnauthorized: true }
        : {
          ...base,
          rejectUnauthorized: true,
          checkServerIdentity: (_, cert) => tls.checkServerIdentity(servername, cert)
        }
    }
  }
}

/** A socket that resolves the host in one IP family (pg calls `connect(port, host)`). */
const streamFor = (family: 4 | 6) => () => {
  const socket = new net.Socket()
  const connect = socket.connect.bind(socket) as (...args: Array<unknown>) => net.Socket
  ;(socket as unknown as { connect: (...args: Array<unknown>) => net.Socket }).connect = (...args) =>
    typeof args[0] === "number" && typeof args[1] === "string"
      ? connect({ port: args[0], host: args[1], family })
      : connect(...args)
  return socket
}

const clientConfig = (options: PgDriver.ConnectOptions, ssl: false | tls.ConnectionOptions): pg.ClientConfig => {
  const statementTimeout = millis(options.statementTimeout)
  const lockTimeout = millis(options.lockTimeout)
  const idleTimeout = millis(options.idleInTransactionSessionTimeout)
  const keepAliveDelay = millis(options.keepAliveInitialDelay)
  return {
    host: options.host ?? "localhost",
    port: options.port ?? 5432,
    user: options.user ?? "postgres",
    ...(options.database === undefined ? {} : { database: options.database }),
    ...(options.password === undefined ? {} : { password: Redacted.value(options.password) }),
    ssl,
    ...(options.applicationName === undefined ? {} : { application_name: options.applicationName }),
    ...(statementTimeout === undefined ? {} : { statement_timeout: statementTimeout }),
    ...(lockTimeout === undefined ? {} : { lock_timeout: lockTimeout }),
    ...(idleTimeout === undefined ? {} : { idle_in_transaction_session_timeout: idleTimeout }),
    ...(options.options === undefined ? {} : { options: options.options }),
    ...(options.keepAlive === undefined ? {} : { keepAlive: options.keepAlive }),
    ...(keepAliveDelay === undefined ? {} : { keepAliveInitialDelayMillis: keepAliveDelay }),
    ...(options.family === undefined ? {} : { stream: streamFor(options.family) as unknown as () => net.Socket })
  }
}

/** The values of a query without parameters (pg only reads them). */
const noValues: Array<unknown> = []

const quoteIdent = (name: string): string => `"${name.replace(/"/g, "\"\"")}"`

/** pg's own mapping of a parameter to its wire text (idempotent: its results map to themselves). */
const prepareValue = (pg as unknown as { readonly utils: { readonly prepareValue: (value: unknown) => unknown } })
  .utils.prepareValue

/** @internal */
export const make = (options: PgDriver.Options = {}): Driver.Driver<PgDriver.PgTypes> => {
  const settings = settingsOf(options)
  const name = settings.name
  let preferLogged = false

  const errorOf = (conn: Conn | undefined, error: unknown, operation: PgError["operation"]): Failure => {
    const classified = classify(error, { operation, connection: name, secrets: conn?.secrets })
    const dead = conn?.isClosed === true || classified.reason === "ConnectionLost" ||
      classified.severity === "FATAL" || classified.severity === "PANIC"
    return dead ? new Driver.Disconnect({ cause: classified }) : classified
  }

  /** Opens one client: the release ends it (bounded) and destroys its socket. */
  const open = (config: PgDriver.ConnectOptions, ssl: false | tls.ConnectionOptions) =>
    Effect.gen(function*() {
      const secrets = config.password === undefined ? [] : [Redacted.value(config.password)]
      const conn = yield* Effect.acquireRelease(
        Effect.sync(() => {
          const client = new pg.Client(clientConfig(config, ssl))
          const conn = new Conn(client, { host: config.host ?? "localhost", port: config.port ?? 5432 }, secrets)
          // Never without a listener: an idle client's error must not crash the process.
          client.on("error", (error) => conn.markClosed(error))
          client.on("end", () => conn.markClosed("ended"))
          const connection = (client as unknown as { connection: NodeJS.EventEmitter }).connection
          connection.on("parameterStatus", (msg: { parameterName: string; parameterValue: string }) => {
            conn.parameters.set(msg.parameterName, msg.parameterValue)
          })
          return conn
        }),
        (conn) => close(conn)
      )
      yield* Effect.async<void, PgError>((resume) => {
        conn.client.connect((error: Error | undefined) => {
          if (error) resume(Effect.fail(classify(error, { operation: "connect", connection: name, secrets })))
          else resume(Effect.void)
        })
        // Given up (the pool's connectTimeout, its scope): the socket goes at once.
        return Effect.sync(() => conn.destroy())
      })
      const raw = conn.client as unknown as { processID: number | null; secretKey: number | null }
      conn.pid = raw.processID ?? 0
      conn.secretKey = raw.secretKey ?? 0
      return conn as PgDriver.PgConnection
    })

  /**
   * Ends a connection: Terminate (bounded by closeTimeout), then the socket is destroyed. A
   * connection dropped with a query under way (held past the pool's timeout, a stream abandoned)
   * first gets a CancelRequest: a busy backend reads no Terminate, and would run its query to the
   * end after its client left.
   */
  const close = (conn: Conn): Effect.Effect<void> => {
    if (conn.isClosed) return Effect.sync(() => conn.destroy())
    const busy = conn.awaitsReady() && conn.pid !== 0
    const cancel = busy
      ? Cancel.send(conn.target, conn.pid, conn.secretKey).pipe(
        Effect.timeoutOption(settings.closeTimeout),
        Effect.ignore
      )
      : Effect.void
    return cancel.pipe(
      Effect.zipRight(Effect.async<void>((resume) => {
        conn.client.end(() => resume(Effect.void))
      })),
      Effect.timeoutOption(settings.closeTimeout),
      Effect.ensuring(Effect.sync(() => conn.destroy()))
    )
  }

  const connect = (attempt: { readonly config: PgDriver.ConnectOptions }) => {
    const config = attempt.config ?? {}
    const mode = config.sslmode ?? "disable"
    const first = open(config, sslOf(mode, config))
    if (mode !== "prefer") return first
    return Effect.catchIf(
      first,
      (error) => error.reason === "SslNotSupported",
      () =>
        Effect.zipRight(
          preferLogged ? Effect.void : Effect.sync(() => {
            preferLogged = true
          }).pipe(
            Effect.zipRight(
              Effect.logInfo(`redial: postgres "${name}": the server does not support SSL; connecting without it`)
            ),
            Effect.annotateLogs({ connection: name, sslmode: mode })
          ),
          open(config, false)
        )
    )
  }

  /**
   * What an interrupted query does before its fiber stops: a CancelRequest for the backend (unless
   * `request` is false: the server has answered already), then a bounded wait for the query to
   * end. Recovered when both happened in time; otherwise the socket is destroyed (the pool's `lost`
   * sees it).
   *
   * Only `cancelTimeout` cuts the wait; nothing else does, even when the query ends first (the
   * `queryTimeout` race, a second interruption): the connection must not serve again before the
   * server closed the cancel socket, which it does once it has signalled the backend — a signal
   * still on its way would cancel the next query. So the wait runs in a fiber of its own, which an
   * interruption of the caller does not reach (it would reach the caller's children even in an
   * uninterruptible region), and which is interruptible inside so that the timeout can end it.
   */
  const cancelRunning = (conn: Conn, ended: Deferred.Deferred<void>, request = true): Effect.Effect<Interrupted> =>
    Effect.interruptible(
      request
        ? Effect.zip(Cancel.send(conn.target, conn.pid, conn.secretKey), Deferred.await(ended), { concurrent: true })
        : Deferred.await(ended)
    ).pipe(
      Effect.timeoutOption(settings.cancelTimeout),
      Effect.map((done) => Option.isSome(done) ? "Recovered" as const : "Lost" as const),
      Effect.catchAll(() => Effect.succeed("Lost" as const)),
      Effect.tap((how) => how === "Lost" ? Effect.sync(() => conn.destroy()) : Effect.void),
      Effect.forkDaemon,
      Effect.flatMap(Fiber.join),
      Effect.uninterruptible
    )

  /**
   * Sends one query (or cursor read) built by `send`, which must call `callback` once. An
   * interruption cancels it on the server (see `cancelRunning`); with `queryTimeout`, so does a
   * query that runs longer, and it then fails with the server's query_canceled.
   */
  /**
   * One call under way: how it ends (`finish`), whether the server already replied, and, made only
   * when an interruption or `queryTimeout` needs to wait for its end, a Deferred completed then.
   * A plain object per call (a query's hot path allocates little: no Deferred, no cancel effect
   * unless one is needed).
   */
  class Call<A> {
    ended = false
    replied = false
    called = false
    timedOut = false
    signal: Deferred.Deferred<void> | undefined = undefined
    /** Set when the call is sent (Effect.async's resume). */
    resume: (effect: Effect.Effect<A, Failure>) => void = () => undefined
    constructor(readonly conn: Conn, readonly operation: PgError["operation"]) {}

    finish(error: Error | undefined, value: A): void {
      this.ended = true
      if (this.signal !== undefined) Deferred.unsafeDone(this.signal, Exit.void)
      const resume = this.resume
      if (error === undefined || error === null) return resume(Effect.succeed(value))
      const failure = errorOf(this.conn, error, this.operation)
      resume(Effect.fail(
        this.timedOut && failure instanceof PgError && failure.code === "57014" && settings.queryTimeout
          ? new PgError({
            ...failure,
            text: `query timed out after ${Duration.format(settings.queryTimeout)} and was cancelled: ${failure.text}`
          })
          : failure
      ))
    }

    /** pg's callback (and the connection's loss): the first one ends the call. */
    readonly callback = (error: Error | null | undefined, value: A): void => {
      // pg-cursor calls a failed read back twice (the error, then no rows at ReadyForQuery).
      if (this.called) return
      this.called = true
      this.conn.calls.delete(this)
      // pg calls back at the server's ErrorResponse, before the ReadyForQuery that ends the
      // query and carries the transaction status: the call ends with it, so that `status` is
      // the server's and the connection is ready for the next call. A FATAL error is followed
      // by the end of the session instead: it ends the call at once, with its reason.
      if (
        error instanceof pg.DatabaseError && error.severity !== "FATAL" && error.severity !== "PANIC" &&
        this.conn.awaitsReady()
      ) {
        this.replied = true
        return this.conn.afterReady(() => this.finish(error, value))
      }
      this.finish(error ?? undefined, value)
    }

    /**
     * The connection closes with the call under way: it ends with the close, whether or not pg
     * calls back (pg-cursor never answers a read whose portal had completed when the error came).
     */
    lost(): void {
      this.callback(this.conn.closedError() as Error, undefined as A)
    }

    /** Stops the call: nothing to do once it ended, else a cancel (see `cancelRunning`). */
    stop(): Effect.Effect<Interrupted> {
      // Interrupted after the reply came in (before the fiber saw it): the query ended, and the
      // connection is as clean as after any reply.
      if (this.ended) return Effect.succeed("Recovered")
      const signal = this.signal ?? (this.signal = Deferred.unsafeMake<void>(FiberId.none))
      return cancelRunning(this.conn, signal, !this.replied)
    }

    /** The canceller of `Effect.async`: stops the call and records how it ended. */
    interrupt(): Effect.Effect<void> {
      return Effect.suspend(() =>
        Effect.flatMap(this.stop(), (how) =>
          Effect.sync(() => {
            this.conn.interrupted = how
          }))
      )
    }
  }

  /**
   * Sends one query (or cursor read) with `send`, which must call `callback` once (or throw: a
   * value pg cannot send, before anything went out). An interruption cancels it on the server (see
   * `cancelRunning`); with `queryTimeout`, so does a query that runs longer, and it then fails with
   * the server's query_canceled.
   */
  const submit = <A>(
    conn: Conn,
    operation: PgError["operation"],
    send: (callback: (error: Error | null | undefined, value: A) => void) => void,
    timed = true
  ): Effect.Effect<A, Failure> => {
    if (conn.isClosed) return Effect.fail(errorOf(conn, conn.closedError(), operation))
    const call = new Call<A>(conn, operation)
    const query = Effect.async<A, Failure>((resume) => {
      conn.interrupted = undefined
      call.resume = resume
      try {
        send(call.callback)
      } catch (error) {
        call.called = true
        call.ended = true
        return resume(Effect.fail(errorOf(conn, error, operation)))
      }
      if (!call.called) conn.calls.add(call)
      return call.interrupt()
    })
    if (!timed || settings.queryTimeout === undefined) return query
    const limit = settings.queryTimeout
    // The timer does not interrupt the query: it cancels it on the server, and the query ends
    // with the server's answer (57014), or its socket is destroyed if the server does not answer.
    const timer = Effect.sleep(limit).pipe(
      Effect.zipRight(Effect.suspend(() => {
        call.timedOut = true
        return call.stop()
      })),
      Effect.zipRight(Effect.never)
    )
    return Effect.raceFirst(query, timer)
  }

  /** A statement of the driver's own (BEGIN, COMMIT, a ping…): the simple protocol, no queryTimeout. */
  const simple = (conn: Conn, operation: PgError["operation"], text: string) =>
    submit<pg.QueryResult<PgDriver.Row>>(conn, operation, (callback) => void conn.client.query(text, callback), false)

  const asConn = (connection: PgDriver.PgConnection): Conn => connection as Conn

  /**
   * The parameters as pg sends them, mapped here so that a value it cannot send (a circular
   * object, a `toPostgres` that throws) fails the call before anything is sent. pg's own failure
   * comes mid-Bind: it leaves a named statement it believes parsed closed on the server (every
   * later run fails with 26000), and pg-cursor throws it out of its constructor.
   */
  const valuesOf = (
    conn: Conn,
    operation: PgError["operation"],
    params: ReadonlyArray<unknown>
  ): Effect.Effect<Array<unknown>, Failure> =>
    Effect.try({ try: () => params.map(prepareValue), catch: (error) => errorOf(conn, error, operation) })

  /** The error for a statement name this connection already holds with another text, if it does. */
  const nameTaken = (conn: Conn, statement: string, text: string): PgError | undefined => {
    const known = conn.statementText(statement)
    if (known === undefined || known === text) return undefined
    return new PgError({
      reason: "ClientError",
      operation: "prepare",
      connection: name,
      code: "42P05",
      condition: "duplicate_prepared_statement",
      text: `the statement "${statement}" is already prepared on this connection with another text: close it first`
    })
  }

  /** Runs a statement: unnamed (one round trip), or named (parsed at its first run on the connection). */
  const executeOn = (
    conn: Conn,
    text: string,
    statement: string | undefined,
    params: ReadonlyArray<unknown>,
    rowMode?: "array" | undefined
  ): Effect.Effect<PgDriver.Result, Failure> =>
    submit<PgDriver.Result>(conn, "query", (callback) => {
      // Mapped before anything is sent (see valuesOf): a throw here fails the call typed.
      const values = params.length === 0 ? noValues : params.map(prepareValue)
      // A text and values, not a config object: pg copies a config object on every query.
      if (statement === undefined && rowMode === undefined) conn.client.query(text, values, callback)
      else {
        conn.client.query({
          text,
          values,
          ...(statement === undefined ? {} : { name: statement }),
          ...(rowMode === undefined ? {} : { rowMode })
        } as pg.QueryConfig, callback)
      }
    })

  return {
    connect: connect as Driver.Driver<PgDriver.PgTypes>["connect"],
    isFatal: (error) => error.fatal,
    lost: (connection) =>
      Effect.async<void>((resume) => {
        const conn = asConn(connection)
        if (conn.isClosed) return resume(Effect.void)
        const wake = () => resume(Effect.void)
        conn.lostWaiters.add(wake)
        return Effect.sync(() => conn.lostWaiters.delete(wake))
      }),
    afterInterrupt: (connection) =>
      Effect.sync(() => {
        const conn = asConn(connection)
        return conn.interrupted === "Recovered" && !conn.isClosed
      }),
    ping: (connection) => Effect.asVoid(simple(asConn(connection), "ping", "SELECT 1")),
    begin: (connection) => Effect.asVoid(simple(asConn(connection), "begin", "BEGIN")),
    commit: (connection) =>
      Effect.flatMap(simple(asConn(connection), "commit", "COMMIT"), (result) =>
        result.command === "ROLLBACK"
          ? Effect.fail(
            new PgError({
              reason: "InvalidTransactionState",
              operation: "commit",
              connection: name,
              code: "25P02",
              condition: "in_failed_sql_transaction",
              text: "COMMIT was answered with ROLLBACK: the transaction had failed, and was rolled back"
            })
          )
          : Effect.void),
    rollback: (connection) => Effect.asVoid(simple(asConn(connection), "rollback", "ROLLBACK")),
    status: (connection) =>
      Effect.suspend(() => {
        const conn = asConn(connection)
        // pg keeps the last status it was told after the socket closed.
        if (conn.isClosed) return Effect.fail(errorOf(conn, conn.closedError(), "query"))
        switch (conn.client.getTransactionStatus()) {
          case "I":
            return Effect.succeed("idle" as const)
          case "T":
            return Effect.succeed("transaction" as const)
          case "E":
            return Effect.succeed("error" as const)
          default:
            return Effect.fail(errorOf(conn, conn.closedError(), "query"))
        }
      }),
    prepare: (connection, query) =>
      Effect.suspend((): Effect.Effect<PgDriver.Prepared, PgError> => {
        const text = typeof query === "string" ? query : query.text
        const statement = typeof query === "string" ? undefined : query.name
        const rowMode = typeof query === "string" ? undefined : query.rowMode
        const mode = rowMode === undefined ? {} : { rowMode }
        if (statement === undefined) return Effect.succeed({ text, name: undefined, ...mode })
        const taken = nameTaken(asConn(connection), statement, text)
        // Nothing to send: pg parses a name it does not hold at its first execute.
        return taken === undefined ? Effect.succeed({ text, name: statement, ...mode }) : Effect.fail(taken)
      }),
    execute: (connection, prepared, params) =>
      executeOn(asConn(connection), prepared.text, prepared.name, params, prepared.rowMode),
    // prepare + execute in one step; a named statement stays prepared on the connection for the
    // next query of that name (no close: DBConnection's prepare_execute).
    query: (connection, query, params) => {
      const conn = asConn(connection)
      if (typeof query === "string") return executeOn(conn, query, undefined, params)
      const taken = query.name === undefined ? undefined : nameTaken(conn, query.name, query.text)
      return taken === undefined ? executeOn(conn, query.text, query.name, params, query.rowMode) : Effect.fail(taken)
    },
    close: (connection, prepared) =>
      Effect.suspend(() => {
        const conn = asConn(connection)
        const statement = prepared.name
        // Not this statement on this connection (never executed here, or closed already).
        if (statement === undefined || conn.statementText(statement) !== prepared.text) return Effect.void
        return submit<void>(
          conn,
          "deallocate",
          (callback) =>
            void conn.client.query(
              new CloseStatement(statement, (error) => callback(error, undefined)) as unknown as pg.Submittable
            ),
          false
        ).pipe(Effect.tap(() => Effect.sync(() => conn.forget(statement))))
      }),
    declare: (connection, prepared, params) => {
      const conn = asConn(connection)
      return Effect.map(valuesOf(conn, "cursor", params), (values) => {
        const cursor = new PgCursor<PgDriver.Row>(prepared.text, values)
        conn.client.query(cursor)
        return { portal: (cursor as unknown as { _portal: string | null })._portal ?? "", cursor } as CursorImpl
      })
    },
    fetch: (connection, _prepared, cursor, { maxRows }) =>
      Effect.map(
        submit<Array<PgDriver.Row>>(
          asConn(connection),
          "cursor",
          (callback) =>
            void (cursor as CursorImpl).cursor.read(maxRows, (error, rows) => callback(error ?? undefined, rows))
        ),
        (rows) => ({ rows, done: rows.length < maxRows })
      ),
    deallocate: (connection, _prepared, cursor) => {
      const pending = (cursor as CursorImpl).cursor
      // A read failed (or was cancelled): the error ended the portal's use (the server drops it
      // with the transaction), and pg-cursor's close would wait for a ReadyForQuery that came in
      // already, for ever.
      if ((pending as unknown as { state: string }).state === "error") return Effect.void
      return submit<void>(
        asConn(connection),
        "cursor",
        (callback) => void pending.close((error) => callback(error ?? undefined, undefined)),
        false
      )
    },
    savepoints: {
      create: (connection, savepoint) =>
        Effect.asVoid(simple(asConn(connection), "savepoint", `SAVEPOINT ${quoteIdent(savepoint)}`)),
      release: (connection, savepoint) =>
        Effect.asVoid(simple(asConn(connection), "savepoint", `RELEASE SAVEPOINT ${quoteIdent(savepoint)}`)),
      rollbackTo: (connection, savepoint) =>
        Effect.asVoid(simple(asConn(connection), "savepoint", `ROLLBACK TO SAVEPOINT ${quoteIdent(savepoint)}`))
    }
  }
}
