/**
 * The echo servers of the benchmarks.
 *
 * - {@link child}: a TCP echo server (`node:net`, `socket.pipe(socket)`) and a WebSocket echo
 *   server (`ws` 8's `WebSocketServer`, each message sent back as it came, binary or text) in a
 *   child node process (`node -e` of a small inline script), so that the servers' CPU does not
 *   share the bench's event loop: the throughput benchmarks time the client alone.
 * - {@link local}: one echo server of either kind in the bench process that can be stopped (its
 *   listener closed and every connection destroyed) and started again on the same port, for the
 *   recovery benchmark, where the moment of the restart must be known exactly (its `listening`
 *   event, on the bench's own clock).
 */
import { spawn } from "node:child_process"
import { createRequire } from "node:module"
import * as Net from "node:net"
import { WebSocketServer } from "ws"

/** The servers of the child process. */
export interface Child {
  readonly tcpPort: number
  readonly wsPort: number
  /** Connections the servers hold now (asked from the child). */
  readonly connections: () => Promise<{ readonly tcp: number; readonly ws: number }>
  readonly close: () => Promise<void>
}

// The child: both servers on 127.0.0.1, ports told over IPC; "count" is answered with the connections held.
const SCRIPT = `
const net = require("node:net")
const { WebSocketServer } = require(process.argv[1])
const sockets = new Set()
const tcp = net.createServer({ noDelay: true }, (socket) => {
  sockets.add(socket)
  socket.on("error", () => {})
  socket.on("close", () => sockets.delete(socket))
  socket.pipe(socket)
})
const wss = new WebSocketServer({ host: "127.0.0.1", port: 0 })
wss.on("connection", (ws) => {
  ws.on("error", () => {})
  ws.on("message", (data, isBinary) => ws.send(data, { binary: isBinary }))
})
let ready = 0
const tell = () => {
  if (++ready === 2) process.send({ tcpPort: tcp.address().port, wsPort: wss.address().port })
}
tcp.listen(0, "127.0.0.1", tell)
wss.on("listening", tell)
process.on("message", (m) => {
  if (m === "count") process.send({ tcp: sockets.size, ws: wss.clients.size })
})
process.on("disconnect", () => process.exit(0))
`

const wsPath = createRequire(import.meta.url).resolve("ws")

/** Starts the child process's servers; resolves once both listen. */
export const child = (): Promise<Child> =>
  new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, ["-e", SCRIPT, wsPath], { stdio: ["ignore", "inherit", "inherit", "ipc"] })
    proc.once("error", reject)
    proc.once("exit", (code) => reject(new Error(`the echo server process exited with code ${code}`)))
    proc.once("message", (message) => {
      const { tcpPort, wsPort } = message as { tcpPort: number; wsPort: number }
      resolve({
        tcpPort,
        wsPort,
        connections: () =>
          new Promise((resolve) => {
            proc.once("message", (counts) => resolve(counts as { tcp: number; ws: number }))
            proc.send("count")
          }),
        close: () =>
          new Promise((resolve) => {
            if (proc.exitCode !== null) return resolve()
            proc.removeAllListeners("exit")
            proc.once("exit", () => resolve())
            proc.disconnect()
          })
      })
    })
  })

/** An echo server in this process that can be stopped and started again on its port. */
export interface Local {
  readonly port: number
  /** Closes the listener and destroys every connection; resolves once the listener is closed. */
  readonly stop: () => Promise<void>
  /** Listens again on the same port; resolves at the `listening` event with its `performance.now()`. */
  readonly start: () => Promise<number>
  /** Connections accepted in all. */
  readonly accepted: () => number
  /** Connections open now. */
  readonly open: () => number
}

/** A TCP (`node:net`) or WebSocket (`ws`) echo server on 127.0.0.1, listening. */
export const local = async (kind: "tcp" | "ws"): Promise<Local> => {
  let accepted = 0
  let port = 0
  if (kind === "tcp") {
    const sockets = new Set<Net.Socket>()
    const server = Net.createServer({ noDelay: true }, (socket) => {
      accepted++
      sockets.add(socket)
      socket.on("error", () => {})
      socket.on("close", () => sockets.delete(socket))
      socket.pipe(socket)
    })
    const listen = () =>
      new Promise<number>((resolve, reject) => {
        server.once("error", reject)
        server.listen(port, "127.0.0.1", () => {
          server.off("error", reject)
          resolve(performance.now())
        })
      })
    await listen()
    port = (server.address() as Net.AddressInfo).port
    return {
      port,
      stop: () =>
        new Promise((resolve) => {
          server.close(() => resolve())
          for (const socket of sockets) socket.destroy()
        }),
      start: listen,
      accepted: () => accepted,
      open: () => sockets.size
    }
  }
  let wss: WebSocketServer | undefined = undefined
  const listen = () =>
    new Promise<number>((resolve, reject) => {
      const server = new WebSocketServer({ host: "127.0.0.1", port })
      server.on("connection", (ws) => {
        accepted++
        ws.on("error", () => {})
        ws.on("message", (data, isBinary) => ws.send(data, { binary: isBinary }))
      })
      server.once("error", reject)
      server.once("listening", () => {
        server.off("error", reject)
        wss = server
        resolve(performance.now())
      })
    })
  await listen()
  const address = (wss as WebSocketServer | undefined)?.address()
  port = typeof address === "object" && address !== null ? address.port : 0
  return {
    port,
    stop: () =>
      new Promise((resolve) => {
        const server = wss
        wss = undefined
        if (server === undefined) return resolve()
        for (const ws of server.clients) ws.terminate()
        server.close(() => resolve())
      }),
    start: listen,
    accepted: () => accepted,
    open: () => (wss as WebSocketServer | undefined)?.clients.size ?? 0
  }
}
