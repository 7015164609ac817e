/**
 * A `ws` 8 WebSocketServer on loopback for the WebSocket tests, scoped: it echoes (or runs a
 * handler of the test's), records what it sees (upgrade requests, connections, messages, pings,
 * the close codes the clients sent), counts its open clients and their TCP sockets, closes every
 * client with a chosen code, and stops and starts again on the same port. Waiting is on its events
 * (`until`), never on a timer.
 *
 * (A socket's statuses are recorded with ./status.ts.)
 */
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as Http from "node:http"
import type * as Net from "node:net"
import { type VerifyClientCallbackAsync, type WebSocket, WebSocketServer } from "ws"
import { makeSignal } from "./signal.js"

/** An upgrade request the server saw (accepted or not). */
export interface Request {
  readonly url: string
  readonly protocols: string | undefined
  readonly headers: Http.IncomingHttpHeaders
}

/** A message the server received. */
export interface Received {
  /** The server-side connection it came on: 1, 2, … in the order they were accepted. */
  readonly connection: number
  readonly data: string | Buffer
  readonly isBinary: boolean
}

/** A connection's end as the server saw it: the code the client sent (1006: none, the TCP just ended). */
export interface ClosedByPeer {
  readonly connection: number
  readonly code: number
  readonly reason: string
}

/** What the server has seen so far. */
export interface Snapshot {
  /** `wss.clients.size`: WebSocket connections open now. */
  readonly clients: number
  /** TCP sockets open now (upgraded or not). */
  readonly sockets: number
  /** WebSocket connections accepted since the server was made (across restarts). */
  readonly accepted: number
  readonly requests: ReadonlyArray<Request>
  readonly received: ReadonlyArray<Received>
  readonly closes: ReadonlyArray<ClosedByPeer>
  /** Ping frames received. */
  readonly pings: number
  /** The protocol each accepted connection agreed on, in order. */
  readonly protocols: ReadonlyArray<string>
}

export interface Options {
  /** Runs on every accepted connection (numbered from 1). Default: echo, text as text, binary as binary. */
  readonly handler?: ((ws: WebSocket, connection: number, request: Http.IncomingMessage) => void) | undefined
  /** ws 8's `autoPong`: false, and pings go unanswered. Default true. */
  readonly autoPong?: boolean | undefined
  /** ws's `verifyClient` (e.g. `(info, done) => done(false, 401, "Unauthorized")`). */
  readonly verifyClient?: VerifyClientCallbackAsync | undefined
}

export interface WsServer {
  readonly port: number
  /** `ws://127.0.0.1:<port><path>` */
  readonly url: (path?: string) => string
  readonly snapshot: Effect.Effect<Snapshot>
  /** Waits (on the server's events) until `predicate` holds; dies after `timeout`. */
  readonly until: (predicate: (s: Snapshot) => boolean, timeout?: Duration.DurationInput) => Effect.Effect<Snapshot>
  /** Closes every open client with this code and reason (a closing handshake). */
  readonly closeAll: (code: number, reason?: string) => Effect.Effect<void>
  /** Destroys every open client's socket without a close frame (the client sees 1006). */
  readonly terminateAll: Effect.Effect<void>
  /** Sends to every open client. */
  readonly broadcast: (data: string | Uint8Array) => Effect.Effect<void>
  /** Stops listening and destroys every socket; completes when the server is closed. */
  readonly stop: Effect.Effect<void>
  /** Listens again on the same port. */
  readonly start: Effect.Effect<void>
}

const echo = (ws: WebSocket) => {
  ws.on("message", (data, isBinary) => ws.send(data, { binary: isBinary }))
}

const listen = (server: Http.Server, port: number): Effect.Effect<number> =>
  Effect.async<number>((resume) => {
    const onError = (error: Error) => resume(Effect.die(error))
    server.once("error", onError)
    server.listen(port, "127.0.0.1", () => {
      server.off("error", onError)
      resume(Effect.succeed((server.address() as Net.AddressInfo).port))
    })
  })

/** A ws server on 127.0.0.1 (an ephemeral port), stopped when the scope ends. */
export const make = (options: Options = {}): Effect.Effect<WsServer, never, Scope.Scope> =>
  Effect.gen(function*() {
    const wss = new WebSocketServer({
      noServer: true,
      autoPong: options.autoPong ?? true,
      ...(options.verifyClient ? { verifyClient: options.verifyClient } : {})
    })
    const handler = options.handler ?? echo
    const sockets = new Set<Net.Socket>()
    const requests: Array<Request> = []
    const received: Array<Received> = []
    const closes: Array<ClosedByPeer> = []
    const protocols: Array<string> = []
    let accepted = 0
    let pings = 0
    const signal = makeSignal()
    const changed = signal.notify

    wss.on("connection", (ws: WebSocket, request: Http.IncomingMessage) => {
      const id = ++accepted
      protocols.push(ws.protocol)
      ws.on("error", () => {})
      ws.on("message", (data, isBinary) => {
        received.push({
          connection: id,
          data: isBinary ? Buffer.from(data as Buffer) : (data as Buffer).toString("utf8"),
          isBinary
        })
        changed()
      })
      ws.on("ping", () => {
        pings++
        changed()
      })
      ws.on("close", (code, reason) => {
        closes.push({ connection: id, code, reason: reason.toString("utf8") })
        changed()
      })
      handler(ws, id, request)
      changed()
    })

    const serve = (): Http.Server => {
      const server = Http.createServer((_, response) => {
        response.writeHead(426).end()
      })
      server.on("connection", (socket: Net.Socket) => {
        sockets.add(socket)
        socket.once("close", () => {
          sockets.delete(socket)
          changed()
        })
        changed()
      })
      server.on("upgrade", (request: Http.IncomingMessage, socket: Net.Socket, head: Buffer) => {
        socket.on("error", () => {})
        requests.push({
          url: request.url ?? "",
          protocols: request.headers["sec-websocket-protocol"],
          headers: request.headers
        })
        changed()
        wss.handleUpgrade(request, socket, head, (ws) => wss.emit("connection", ws, request))
      })
      return server
    }

    let server: Http.Server | undefined = serve()
    const port = yield* listen(server, 0)

    const snapshot = Effect.sync((): Snapshot => ({
      clients: wss.clients.size,
      sockets: sockets.size,
      accepted,
      requests: [...requests],
      received: [...received],
      closes: [...closes],
      pings,
      protocols: [...protocols]
    }))

    const until = (predicate: (s: Snapshot) => boolean, timeout: Duration.DurationInput = "10 seconds") =>
      signal.until(snapshot, predicate, timeout, "the ws server's awaited state")

    const stop = Effect.suspend(() => {
      const current = server
      server = undefined
      if (current === undefined) return Effect.void
      return Effect.async<void>((resume) => {
        current.close(() => resume(Effect.void))
        for (const ws of wss.clients) ws.terminate()
        for (const socket of sockets) socket.destroy()
      })
    })

    const start = Effect.suspend(() => {
      if (server !== undefined) return Effect.void
      const next = serve()
      server = next
      return Effect.asVoid(listen(next, port))
    })

    yield* Effect.addFinalizer(() =>
      Effect.zipRight(
        stop,
        Effect.async<void>((resume) => {
          wss.close(() => resume(Effect.void))
        })
      )
    )

    const self: WsServer = {
      port,
      url: (path = "/") => `ws://127.0.0.1:${port}${path}`,
      snapshot,
      until,
      closeAll: (code, reason) =>
        Effect.sync(() => {
          for (const ws of wss.clients) ws.close(code, reason)
        }),
      terminateAll: Effect.sync(() => {
        for (const ws of wss.clients) ws.terminate()
      }),
      broadcast: (data) =>
        Effect.sync(() => {
          for (const ws of wss.clients) ws.send(data)
        }),
      stop,
      start
    }
    return self
  })
