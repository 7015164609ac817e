/**
 * A tiny fake PostgreSQL server on `node:net`, for the connect cases a real cluster is too slow
 * for or cannot give: it answers an SSLRequest with `N` (or `S` and then bytes that are not TLS),
 * answers the StartupMessage with a FATAL ErrorResponse carrying a chosen SQLSTATE, resets every
 * connection as it is accepted, or accepts and never answers (a black hole). It counts the
 * connections it received, those still open, the SSLRequests and StartupMessages it read, and
 * when each connection came.
 */
import { Effect, Fiber, Ref, Schedule } from "effect"
import type * as Scope from "effect/Scope"
import * as net from "node:net"

/** What the fake does with a connection. */
export type Behaviour =
  /** Answers the StartupMessage with a FATAL ErrorResponse and closes (an SSLRequest gets `N` first). */
  | {
    readonly _tag: "Error"
    readonly code: string
    readonly message: string
    readonly severity?: "FATAL" | "ERROR" | undefined
  }
  /** Answers an SSLRequest with `N`, and the StartupMessage with a FATAL 28P01. */
  | { readonly _tag: "NoSsl" }
  /** Answers an SSLRequest with `S`, then writes bytes that are not TLS. */
  | { readonly _tag: "SslGarbage" }
  /**
   * Asks for the password in clear text and answers with a FATAL 28P01 that echoes it in its
   * message, detail and hint (a misconfigured proxy or server): what the client must mask.
   */
  | { readonly _tag: "EchoPassword" }
  /** Resets every connection as soon as it is accepted. */
  | { readonly _tag: "Reset" }
  /**
   * Accepts and never answers, not even the client's FIN; reads and discards what it sends. Its
   * connection closes only once the client has destroyed its socket (a half-close is not enough).
   */
  | { readonly _tag: "BlackHole" }

/** What the fake has seen. */
export interface Counts {
  /** Connections accepted, in all. */
  readonly total: number
  /** Connections still open. */
  readonly open: number
  readonly sslRequests: number
  readonly startups: number
  /** When each connection was accepted (Clock milliseconds). */
  readonly arrivals: ReadonlyArray<number>
}

/** A running fake. */
export interface FakeServer {
  readonly host: "127.0.0.1"
  readonly port: number
  readonly counts: Effect.Effect<Counts>
  /** Changes what the fake does with the connections accepted from now on. */
  readonly set: (behaviour: Behaviour) => Effect.Effect<void>
}

const SSL_REQUEST = 80877103
const GSSENC_REQUEST = 80877104
const CANCEL_REQUEST = 80877102

/** A backend ErrorResponse: 'E', length, then (type, value, NUL) fields and a final NUL. */
export const errorResponse = (
  severity: string,
  code: string,
  message: string,
  more: { readonly detail?: string; readonly hint?: string } = {}
): Buffer => {
  const all = [["S", severity], ["V", severity], ["C", code], ["M", message]]
  if (more.detail !== undefined) all.push(["D", more.detail])
  if (more.hint !== undefined) all.push(["H", more.hint])
  const fields = Buffer.concat(
    all.map(([type, value]) =>
      Buffer.concat([Buffer.from(type!, "ascii"), Buffer.from(value!, "utf8"), Buffer.from([0])])
    )
  )
  const body = Buffer.concat([fields, Buffer.from([0])])
  const header = Buffer.alloc(5)
  header.write("E", 0, "ascii")
  header.writeInt32BE(body.length + 4, 1)
  return Buffer.concat([header, body])
}

const probe = Buffer.from([0])

/** Not TLS: a TLS client reading this fails its handshake. */
const garbage = Buffer.from("HTTP/1.1 400 Bad Request\r\nthis is not a TLS record at all\r\n\r\n", "ascii")

/** Starts a fake on a free loopback port for the current scope; every socket is destroyed at its end. */
export const make = (initial: Behaviour): Effect.Effect<FakeServer, never, Scope.Scope> =>
  Effect.gen(function*() {
    const clock = yield* Effect.clock
    const state = yield* Ref.make<Counts>({ total: 0, open: 0, sslRequests: 0, startups: 0, arrivals: [] })
    let behaviour = initial
    const sockets = new Set<net.Socket>()
    const update = (f: (counts: Counts) => Counts) => Effect.runSync(Ref.update(state, f))

    const handle = (socket: net.Socket, current: Behaviour) => {
      if (current._tag === "Reset") {
        socket.resetAndDestroy()
        return
      }
      let buffered = Buffer.alloc(0)
      let started = false
      socket.on("data", (chunk) => {
        if (current._tag === "BlackHole") return
        buffered = Buffer.concat([buffered, chunk])
        // After the startup (EchoPassword only): the PasswordMessage, 'p' + length + the password + NUL.
        if (started) {
          if (buffered.length < 5 || buffered.length < 1 + buffered.readInt32BE(1)) return
          const password = buffered.subarray(5, buffered.readInt32BE(1)).toString("utf8")
          socket.end(errorResponse(
            "FATAL",
            "28P01",
            `password authentication failed: "${password}" is not the password`,
            { detail: `the client sent ${password}`, hint: `not ${password}` }
          ))
          return
        }
        while (buffered.length >= 8) {
          const length = buffered.readInt32BE(0)
          if (length < 8 || length > 10_000) {
            socket.destroy()
            return
          }
          if (buffered.length < length) return
          const code = buffered.readInt32BE(4)
          buffered = buffered.subarray(length)
          if (code === SSL_REQUEST || code === GSSENC_REQUEST) {
            if (code === SSL_REQUEST) update((c) => ({ ...c, sslRequests: c.sslRequests + 1 }))
            if (current._tag === "SslGarbage" && code === SSL_REQUEST) {
              socket.write("S")
              socket.end(garbage)
              return
            }
            socket.write("N")
            continue
          }
          if (code === CANCEL_REQUEST) {
            socket.end()
            return
          }
          update((c) => ({ ...c, startups: c.startups + 1 }))
          if (current._tag === "EchoPassword") {
            started = true
            // AuthenticationCleartextPassword: 'R', length 8, 3
            const request = Buffer.alloc(9)
            request.write("R", 0, "ascii")
            request.writeInt32BE(8, 1)
            request.writeInt32BE(3, 5)
            socket.write(request)
            return
          }
          const answer = current._tag === "Error"
            ? errorResponse(current.severity ?? "FATAL", current.code, current.message)
            : errorResponse("FATAL", "28P01", "password authentication failed for user \"fake\"")
          socket.end(answer)
          return
        }
      })
    }

    // Half-open allowed, so that a black hole need not answer the client's FIN; the other
    // behaviours end their side when the client does.
    const server = net.createServer({ allowHalfOpen: true }, (socket) => {
      sockets.add(socket)
      const current = behaviour
      const now = clock.unsafeCurrentTimeMillis()
      update((c) => ({ ...c, total: c.total + 1, open: c.open + 1, arrivals: [...c.arrivals, now] }))
      socket.on("error", () => undefined)
      socket.on("end", () => {
        // A black hole keeps its side open after the client's FIN and probes it, a byte every 20 ms:
        // a client that destroyed its socket answers with a reset (and the connection closes here);
        // one that only half-closed it still reads, and the connection stays open.
        if (current._tag !== "BlackHole") {
          socket.end()
          return
        }
        const probing = Effect.runFork(
          Effect.repeat(Effect.sync(() => socket.write(probe)), Schedule.spaced("20 millis"))
        )
        socket.once("close", () => Effect.runFork(Fiber.interrupt(probing)))
      })
      socket.on("close", () => {
        sockets.delete(socket)
        update((c) => ({ ...c, open: c.open - 1 }))
      })
      handle(socket, current)
    })
    server.on("error", () => undefined)

    const port = yield* Effect.acquireRelease(
      Effect.async<number>((resume) => {
        server.listen(0, "127.0.0.1", () => resume(Effect.succeed((server.address() as net.AddressInfo).port)))
      }),
      () =>
        Effect.async<void>((resume) => {
          for (const socket of sockets) socket.destroy()
          server.close(() => resume(Effect.void))
        })
    )

    return {
      host: "127.0.0.1",
      port,
      counts: Ref.get(state),
      set: (next) =>
        Effect.sync(() => {
          behaviour = next
        })
    } satisfies FakeServer
  })
