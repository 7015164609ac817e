/**
 * PostgreSQL's CancelRequest (protocol section 55.2.9): a new socket to the server carrying the
 * backend's process id and secret key, which the server closes once it has signalled the
 * backend. Needs no connection of the pool and no authentication.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as net from "node:net"

/** The 16 bytes of a CancelRequest. @internal */
export const cancelRequest = (processId: number, secretKey: number): Buffer => {
  const buffer = Buffer.alloc(16)
  buffer.writeInt32BE(16, 0)
  buffer.writeInt32BE(80877102, 4)
  buffer.writeInt32BE(processId, 8)
  buffer.writeInt32BE(secretKey, 12)
  return buffer
}

/** Where a connection's server is: a TCP host and port, or a Unix socket directory. @internal */
export interface Target {
  readonly host: string
  readonly port: number
}

/**
 * Sends a CancelRequest and completes when the server has closed the socket (so the signal was
 * delivered before the caller reuses the connection), or fails with the socket's error. Not
 * bounded here: the caller times it out; interrupting it destroys the socket.
 *
 * @internal
 */
export const send = (target: Target, processId: number, secretKey: number): Effect.Effect<void, Error> =>
  Effect.async<void, Error>((resume) => {
    const socket = target.host.startsWith("/")
      ? net.connect(`${target.host}/.s.PGSQL.${target.port}`)
      : net.connect({ host: target.host, port: target.port })
    let settled = false
    const settle = (error?: Error) => {
      if (settled) return
      settled = true
      socket.destroy()
      resume(error === undefined ? Effect.void : Effect.fail(error))
    }
    socket.once("connect", () => socket.write(cancelRequest(processId, secretKey)))
    socket.on("error", (error) => settle(error))
    socket.once("close", () => settle())
    // The server sends nothing back; read to see the end.
    socket.on("data", () => undefined)
    return Effect.sync(() => {
      settled = true
      socket.destroy()
    })
  })
