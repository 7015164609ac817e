/** @internal */
import { RedialError } from "@redial/core"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as FiberSet from "effect/FiberSet"
import * as Queue from "effect/Queue"
import * as Runtime from "effect/Runtime"
import type * as Scope from "effect/Scope"
import * as net from "node:net"
import type * as FaultProxy from "../FaultProxy.js"

/**
 * Bytes queued in one direction before the proxy stops reading its source.
 * The sink's own buffer adds Node's usual 16 KiB on top.
 *
 * @internal
 */
const highWaterMark = 256 * 1024

/** @internal */
export class FaultProxyError extends RedialError("FaultProxyError")<{
  readonly reason: "Listen"
  readonly address: string
  readonly cause: unknown
}> {
  override get message(): string {
    const detail = this.cause instanceof Error ? `: ${this.cause.message}` : ""
    return `FaultProxy could not listen on ${this.address}${detail}. ` +
      `Use port 0 for an ephemeral port, or check that the port is free and the host is a local address.`
  }
}

/**
 * A chunk to forward, or the end of the stream, with the time (Clock millis)
 * it may be written; 0 when there is no latency.
 */
type Item =
  | { readonly _tag: "Data"; readonly chunk: Buffer; readonly due: number }
  | { readonly _tag: "End"; readonly due: number }

/** One client connection through the proxy: the client side and, unless black-holed, the target side. */
interface Link {
  readonly client: net.Socket
  upstream: net.Socket | undefined
  clientClosed: boolean
  upstreamClosed: boolean
  readonly fibers: Array<Fiber.RuntimeFiber<never>>
}

const ignore = (): void => {}

const hostPort = (host: string, port: number): string => host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`

/**
 * Resets a socket (RST, the peer sees ECONNRESET), or destroys it if it is
 * not connected yet (`resetAndDestroy` would wait for the connection).
 */
const reset = (socket: net.Socket): void => {
  if (socket.destroyed) return
  if (socket.pending) socket.destroy()
  else socket.resetAndDestroy()
}

/** Waits until `socket` can take more data, or is gone. */
const awaitDrain = (socket: net.Socket): Effect.Effect<void> =>
  Effect.async((resume) => {
    const done = () => {
      socket.off("drain", done)
      socket.off("close", done)
      resume(Effect.void)
    }
    socket.on("drain", done)
    socket.on("close", done)
    return Effect.sync(() => {
      socket.off("drain", done)
      socket.off("close", done)
    })
  })

const listen = (
  server: net.Server,
  host: string,
  port: number
): Effect.Effect<net.AddressInfo, FaultProxyError> =>
  Effect.async<net.AddressInfo, FaultProxyError>((resume) => {
    const fail = (cause: unknown) =>
      resume(Effect.fail(new FaultProxyError({ reason: "Listen", address: hostPort(host, port), cause })))
    const onError = (cause: Error) => {
      server.off("listening", onListening)
      fail(cause)
    }
    const onListening = () => {
      server.off("error", onError)
      const address = server.address()
      if (address !== null && typeof address === "object") {
        resume(Effect.succeed(address))
      } else {
        server.close()
        fail(new Error(`unexpected server address ${String(address)}`))
      }
    }
    server.once("error", onError)
    server.once("listening", onListening)
    server.listen(port, host)
    return Effect.sync(() => {
      server.off("error", onError)
      server.off("listening", onListening)
      server.close()
    })
  })

/** @internal */
export const make = (
  options: FaultProxy.FaultProxy.Options
): Effect.Effect<FaultProxy.FaultProxy, FaultProxyError, Scope.Scope> =>
  Effect.gen(function*() {
    const targetHost = options.target.host ?? "127.0.0.1"
    const targetPort = options.target.port
    const listenHost = options.host ?? "127.0.0.1"
    const listenPort = options.port ?? 0

    // Fibers forked from socket callbacks live in this set and are interrupted
    // when the scope closes (after the server's release below has run).
    const run = yield* FiberSet.makeRuntime<never, unknown, never>()
    const runSync = Runtime.runSync(yield* Effect.runtime<never>())

    const faults = { refuse: false, blackhole: false, latency: 0 }
    const links = new Set<Link>()
    let open = 0
    let total = 0
    let closing = false

    const settle = (link: Link): void => {
      if (!link.clientClosed || (link.upstream !== undefined && !link.upstreamClosed)) return
      links.delete(link)
      if (link.fibers.length > 0) run(Fiber.interruptAll(link.fibers))
    }

    /** Writes queued items to `sink` in order, each no earlier than its due time. */
    const drain = (
      queue: Queue.Dequeue<Item>,
      source: net.Socket,
      sink: net.Socket,
      flow: { pending: number; paused: boolean }
    ): Effect.Effect<never> =>
      Effect.gen(function*() {
        const item = yield* Queue.take(queue)
        if (item.due > 0) {
          const now = yield* Clock.currentTimeMillis
          if (item.due > now) yield* Effect.sleep(item.due - now)
        }
        if (item._tag === "End") {
          if (!sink.destroyed) sink.end()
          return
        }
        // Checked again at delivery: a black hole also swallows what was in flight.
        const flushed = faults.blackhole || sink.destroyed || !sink.writable || sink.write(item.chunk)
        if (!flushed) yield* awaitDrain(sink)
        flow.pending -= item.chunk.length
        if (flow.paused && flow.pending < highWaterMark) {
          flow.paused = false
          if (!source.destroyed) source.resume()
        }
      }).pipe(Effect.forever)

    /** Forwards `source` to `sink` through a queue drained by a fiber, so latency keeps the order. */
    const forward = (link: Link, source: net.Socket, sink: net.Socket): void => {
      const queue = runSync(Queue.unbounded<Item>())
      const flow = { pending: 0, paused: false }
      link.fibers.push(run(drain(queue, source, sink, flow)))
      const due = (): number => faults.latency > 0 ? runSync(Clock.currentTimeMillis) + faults.latency : 0
      source.on("data", (chunk: Buffer) => {
        if (faults.blackhole) return
        flow.pending += chunk.length
        Queue.unsafeOffer(queue, { _tag: "Data", chunk, due: due() })
        if (!flow.paused && flow.pending >= highWaterMark) {
          flow.paused = true
          source.pause()
        }
      })
      source.once("end", () => Queue.unsafeOffer(queue, { _tag: "End", due: due() }))
      source.resume()
    }

    const onConnection = (client: net.Socket): void => {
      client.on("error", ignore)
      total++
      if (closing) {
        client.destroy()
        return
      }
      if (faults.refuse) {
        reset(client)
        return
      }
      open++
      const link: Link = { client, upstream: undefined, clientClosed: false, upstreamClosed: false, fibers: [] }
      links.add(link)
      client.once("close", (hadError: boolean) => {
        open--
        link.clientClosed = true
        const upstream = link.upstream
        if (upstream !== undefined && (hadError || upstream.pending)) reset(upstream)
        settle(link)
      })

      if (faults.blackhole) {
        // The half-open peer: accepted, never connected to the target, never
        // answered. What the client sends is read and discarded, so the proxy
        // still notices when the client goes away.
        client.on("data", ignore)
        client.once("end", () => client.destroy())
        client.resume()
        return
      }

      // noDelay: Nagle's algorithm would hold a second small write until the first is ACKed,
      // adding up to 40 ms (Linux's delayed ACK) that a direct connection would not have.
      const upstream = net.connect({ host: targetHost, port: targetPort, allowHalfOpen: true, noDelay: true })
      link.upstream = upstream
      upstream.on("error", ignore)
      upstream.once("close", (hadError: boolean) => {
        link.upstreamClosed = true
        // An error (including a failed connect) is passed on as a reset; a clean
        // close travels as the end of the stream, behind the data still queued.
        if (hadError) reset(client)
        settle(link)
      })
      upstream.once("connect", () => {
        if (client.destroyed) {
          upstream.destroy()
          return
        }
        forward(link, client, upstream)
        forward(link, upstream, client)
      })
    }

    const { address, server } = yield* Effect.acquireRelease(
      Effect.suspend(() => {
        const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true, noDelay: true }, onConnection)
        return Effect.map(listen(server, listenHost, listenPort), (address) => ({ address, server }))
      }),
      ({ server }) =>
        Effect.async((resume) => {
          closing = true
          server.close(() => resume(Effect.void))
          for (const link of links) {
            link.client.destroy()
            link.upstream?.destroy()
          }
        })
    )
    // Errors after listening (e.g. EMFILE on accept) must not crash the process.
    server.on("error", (cause) => run(Effect.logWarning("FaultProxy: server error", cause)))

    const proxy: FaultProxy.FaultProxy = {
      host: address.address,
      port: address.port,
      address: hostPort(address.address, address.port),
      cut: Effect.sync(() => {
        for (const link of links) {
          reset(link.client)
          if (link.upstream !== undefined) reset(link.upstream)
        }
      }),
      refuse: (on) =>
        Effect.sync(() => {
          faults.refuse = on
        }),
      blackhole: (on) =>
        Effect.sync(() => {
          faults.blackhole = on
        }),
      latency: (delay) =>
        Effect.sync(() => {
          faults.latency = Math.max(0, Duration.toMillis(Duration.decode(delay)))
        }),
      restore: Effect.sync(() => {
        faults.refuse = false
        faults.blackhole = false
        faults.latency = 0
      }),
      connections: Effect.sync(() => ({ open, total }))
    }
    return proxy
  })
