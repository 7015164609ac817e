/**
 * A `@redial/pool` driver over the line protocol of `lineServer.ts`, for `npm run demo:pool`.
 *
 * A connection is a `LineClient` (a socket that did the HELLO/WELCOME handshake; the connect
 * scope's end destroys it). A query is a line, `$1`, `$2` … replaced by its parameters; executing
 * it sends the line and returns the reply line. `BEGIN` / `COMMIT` / `ROLLBACK` and `PING` are
 * lines too. A cursor runs its query once and serves the reply's comma-separated values as rows.
 * The socket failing or closing during a call is a `Driver.Disconnect`, and its closing at any
 * time completes `lost`: the pool drops that connection and its slot reconnects; an `ERR` reply is
 * a `QueryError`, and the connection stays.
 */
import { Driver } from "@redial/pool"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as LineServer from "./lineServer.js"

/** The server answered `ERR` (or not what the command expects). The connection is fine. */
export class QueryError extends Data.TaggedError("QueryError")<{
  readonly line: string
  readonly reply: string
}> {
  override get message(): string {
    return `the server answered "${this.reply}" to "${this.line}"`
  }
}

export interface LineConnection {
  readonly client: LineServer.LineClient
  /** Tracked on the client: the protocol has no transaction status of its own. */
  transaction: Driver.TransactionStatus
}

/** The rows of a reply, served `maxRows` at a time. */
export interface LineCursor {
  readonly rows: ReadonlyArray<string>
  offset: number
}

export type LineTypes = {
  readonly connection: LineConnection
  readonly query: string
  readonly prepared: string
  readonly result: string
  readonly row: string
  readonly cursor: LineCursor
  readonly error: LineServer.SocketError | QueryError
  readonly config: unknown
}

export interface Options {
  /** The port to connect to (the FaultProxy's, in the demo). */
  readonly port: number
  /** Called after every line answered: what the demo prints as wire traffic. */
  readonly trace?: (connection: LineConnection, line: string, reply: string) => Effect.Effect<void>
}

const bind = (query: string, params: ReadonlyArray<unknown>): string =>
  query.replace(/\$(\d+)/g, (placeholder, n: string) => {
    const index = Number(n) - 1
    return index < params.length ? String(params[index]) : placeholder
  })

export const make = (options: Options): Driver.Driver<LineTypes> => {
  const { port, trace } = options

  /** Sends a line and reads the reply; a socket failure means the connection is gone. */
  const send = (connection: LineConnection, line: string): Effect.Effect<string, Driver.Disconnect | QueryError> =>
    connection.client.request(line).pipe(
      Effect.mapError((cause) => new Driver.Disconnect({ cause })),
      Effect.tap((reply) => trace === undefined ? Effect.void : trace(connection, line, reply)),
      Effect.filterOrFail((reply) => reply !== "ERR", (reply) => new QueryError({ line, reply }))
    )

  /** Sends a command that must be answered `expected`. */
  const command = (connection: LineConnection, line: string, expected: string) =>
    send(connection, line).pipe(
      Effect.filterOrFail((reply) => reply === expected, (reply) => new QueryError({ line, reply })),
      Effect.asVoid
    )

  const transactionCommand = (line: string, after: Driver.TransactionStatus) => (connection: LineConnection) =>
    command(connection, line, "OK").pipe(
      Effect.tap(() => {
        connection.transaction = after
      })
    )

  return {
    connect: () => Effect.map(LineServer.connect(port), (client): LineConnection => ({ client, transaction: "idle" })),
    // The socket closing on its own: the pool takes the connection out of service at once.
    lost: (connection) => connection.client.closed,
    ping: (connection) =>
      // A ping answered wrongly means the stream is out of step: drop the connection.
      command(connection, "PING", "PONG").pipe(
        Effect.catchTag("QueryError", (cause) => Effect.fail(new Driver.Disconnect({ cause })))
      ),
    begin: transactionCommand("BEGIN", "transaction"),
    commit: transactionCommand("COMMIT", "idle"),
    rollback: transactionCommand("ROLLBACK", "idle"),
    status: (connection) => Effect.succeed(connection.transaction),
    prepare: (_connection, query) => Effect.succeed(query),
    execute: (connection, prepared, params) => send(connection, bind(prepared, params)),
    close: () => Effect.void,
    declare: (connection, prepared, params) =>
      Effect.map(send(connection, bind(prepared, params)), (reply): LineCursor => ({
        rows: reply === "" ? [] : reply.split(","),
        offset: 0
      })),
    fetch: (_connection, _prepared, cursor, { maxRows }) =>
      Effect.sync(() => {
        const rows = cursor.rows.slice(cursor.offset, cursor.offset + maxRows)
        cursor.offset += rows.length
        return { rows, done: cursor.offset >= cursor.rows.length }
      }),
    deallocate: () => Effect.void
  }
}
