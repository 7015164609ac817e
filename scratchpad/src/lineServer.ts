/**
 * A tiny line protocol over TCP, for the demos: the server answers `HELLO` with `WELCOME` (the
 * handshake of every new connection), `PING` with `PONG`, `BEGIN` / `COMMIT` / `ROLLBACK` with
 * `OK`, `ECHO text` with `text`, and anything else with `ERR`. The client sends a line and reads
 * the next one, in order.
 */
import * as Data from "effect/Data"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as net from "node:net"

export class SocketError extends Data.TaggedError("SocketError")<{
  readonly reason: "Connect" | "Closed" | "Protocol"
  readonly cause?: unknown
}> {
  override get message(): string {
    const detail = this.cause instanceof Error ? `: ${this.cause.message}` : ""
    return `socket ${this.reason.toLowerCase()} error${detail}`
  }
}

const answer = (line: string): string => {
  if (line === "HELLO") return "WELCOME"
  if (line === "PING") return "PONG"
  if (line === "BEGIN" || line === "COMMIT" || line === "ROLLBACK") return "OK"
  if (line.startsWith("ECHO ")) return line.slice("ECHO ".length)
  return "ERR"
}

/** A server on 127.0.0.1 (ephemeral port), closed with the scope. */
export const server: Effect.Effect<{ readonly port: number }, never, Scope.Scope> = Effect.acquireRelease(
  Effect.async<net.Server>((resume) => {
    const srv = net.createServer((socket) => {
      let buffer = ""
      socket.on("error", () => socket.destroy())
      socket.on("data", (chunk) => {
        buffer += chunk.toString("utf8")
        let newline = buffer.indexOf("\n")
        while (newline >= 0) {
          const line = buffer.slice(0, newline)
          buffer = buffer.slice(newline + 1)
          socket.write(`${answer(line)}\n`)
          newline = buffer.indexOf("\n")
        }
      })
    })
    srv.listen(0, "127.0.0.1", () => resume(Effect.succeed(srv)))
  }),
  (srv) => Effect.async<void>((resume) => void srv.close(() => resume(Effect.void)))
).pipe(Effect.map((srv) => ({ port: (srv.address() as net.AddressInfo).port })))

/** A connected client: one request at a time per line, answered in order. */
export interface LineClient {
  readonly id: number
  readonly request: (line: string) => Effect.Effect<string, SocketError>
  /** Completes when the socket closes. */
  readonly closed: Effect.Effect<void>
}

let nextId = 0

/** Connects, and performs the HELLO/WELCOME handshake; the socket is destroyed with the scope. */
export const connect = (port: number): Effect.Effect<LineClient, SocketError, Scope.Scope> =>
  Effect.gen(function*() {
    const socket = yield* Effect.acquireRelease(
      Effect.async<net.Socket, SocketError>((resume) => {
        const socket = net.connect(port, "127.0.0.1")
        const onError = (cause: Error) => resume(Effect.fail(new SocketError({ reason: "Connect", cause })))
        socket.once("error", onError)
        socket.once("connect", () => {
          socket.off("error", onError)
          resume(Effect.succeed(socket))
        })
        return Effect.sync(() => socket.destroy())
      }),
      (socket) => Effect.sync(() => socket.destroy())
    )
    const closed = yield* Deferred.make<void>()
    const pending: Array<(line: string | undefined) => void> = []
    let buffer = ""
    socket.on("error", () => socket.destroy())
    socket.on("close", () => {
      Deferred.unsafeDone(closed, Effect.void)
      for (const resolve of pending.splice(0)) resolve(undefined)
    })
    socket.on("data", (chunk) => {
      buffer += chunk.toString("utf8")
      let newline = buffer.indexOf("\n")
      while (newline >= 0) {
        pending.shift()?.(buffer.slice(0, newline))
        buffer = buffer.slice(newline + 1)
        newline = buffer.indexOf("\n")
      }
    })
    const request = (line: string) =>
      Effect.async<string, SocketError>((resume) => {
        if (socket.destroyed) return resume(Effect.fail(new SocketError({ reason: "Closed" })))
        const resolve = (answer: string | undefined) =>
          resume(answer === undefined ? Effect.fail(new SocketError({ reason: "Closed" })) : Effect.succeed(answer))
        pending.push(resolve)
        socket.write(`${line}\n`)
        // An abandoned request (timed out) keeps its place in the queue, so later answers stay
        // matched to their requests: the answer it would have got is skipped.
        return Effect.sync(() => {
          const index = pending.indexOf(resolve)
          if (index >= 0) pending[index] = () => {}
        })
      })
    const welcome = yield* request("HELLO")
    if (welcome !== "WELCOME") return yield* new SocketError({ reason: "Protocol" })
    nextId += 1
    return { id: nextId, request, closed: Deferred.await(closed) }
  })
