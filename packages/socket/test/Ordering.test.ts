/**
 * Order and loss across reconnects, on a real `node:net` server on loopback: 10,000 numbered,
 * newline-framed messages, written by one writer while the server drops the connection 20 times,
 * arrive in increasing order, and every one of them written while the socket was down arrives;
 * only messages handed to a socket that then died may be missing.
 */
import { describe, expect, it } from "@effect/vitest"
import { Reconnect } from "@redial/core"
import type { Duration } from "effect"
import { Effect, Fiber, Stream } from "effect"
import * as Net from "node:net"
import { ResilientSocket } from "../src/index.js"

/** What the line server saw. */
interface Seen {
  /** Every complete line received, in arrival order, over all connections. */
  readonly received: Array<number>
  open: number
  accepted: number
  dropped: number
}

/**
 * A server that reads newline-framed numbers and destroys the connection that brings a number at
 * or past `every`, then past `2 × every`, … `drops` times in all (about every `every` messages
 * received), never before it has received `atLeast` lines on that connection (so what a reconnect
 * flushed at its start has arrived); the connection after the last drop is left alone.
 */
const lineServer = (every: number, drops: number, atLeast: number) =>
  Effect.acquireRelease(
    Effect.async<
      { readonly port: number; readonly seen: Seen; readonly close: () => void; readonly server: Net.Server }
    >((resume) => {
      const seen: Seen = { received: [], open: 0, accepted: 0, dropped: 0 }
      const sockets = new Set<Net.Socket>()
      const server = Net.createServer((socket) => {
        seen.accepted++
        seen.open++
        sockets.add(socket)
        let partial = ""
        let lines = 0
        socket.on("error", () => {})
        socket.on("close", () => {
          seen.open--
          sockets.delete(socket)
        })
        socket.on("data", (chunk: Buffer) => {
          const complete = (partial + chunk.toString("latin1")).split("\n")
          partial = complete.pop() ?? ""
          for (const line of complete) seen.received.push(Number(line))
          lines += complete.length
          const last = seen.received.at(-1) ?? -1
          if (seen.dropped < drops && lines >= atLeast && last >= every * (seen.dropped + 1)) {
            seen.dropped++
            socket.destroy()
          }
        })
      })
      const close = () => {
        for (const socket of sockets) socket.destroy()
      }
      server.listen(0, "127.0.0.1", () => {
        const { port } = server.address() as Net.AddressInfo
        resume(Effect.succeed({ port, seen, close, server }))
      })
    }),
    ({ close, server }) =>
      Effect.async<void>((resume) => {
        close() // what a failed test left open
        server.close(() => resume(Effect.void))
      })
  )

/** Polls state the server keeps (it sends no events) until `predicate` holds; dies after `timeout`. */
const eventually = (predicate: () => boolean, timeout: Duration.DurationInput = "30 seconds") =>
  Effect.gen(function*() {
    while (!predicate()) yield* Effect.sleep("5 millis")
  }).pipe(
    Effect.timeoutFail({ duration: timeout, onTimeout: () => new Error("the condition did not hold in time") }),
    Effect.orDie
  )

const TOTAL = 10_000
const DROPS = 20
/** Writes not yet handed to a socket that the writer lets run ahead before it waits. */
const WINDOW = 100

describe("ordering across reconnects", () => {
  it.scopedLive(
    "10,000 messages over 20 server drops: received in strictly increasing order, none lost of those written while down",
    () =>
      Effect.gen(function*() {
        // the writer runs at most WINDOW ahead, so what a reconnect flushes (≤ WINDOW writes) is
        // at the start of the new connection, before the server may drop it
        const { port, seen } = yield* lineServer(470, DROPS, 2 * WINDOW)
        const wasDown: Array<boolean> = []
        const markers: Array<ResilientSocket.Connected> = []

        yield* Effect.scoped(Effect.gen(function*() {
          const socket = yield* ResilientSocket.makeNet({
            name: "ordering",
            host: "127.0.0.1",
            port,
            policy: Reconnect.fixed("1 millis"),
            minUptime: 0
          })
          // the server sends nothing: events carries only the markers
          yield* socket.events.pipe(
            Stream.runForEach((event) =>
              Effect.sync(() => {
                if (event._tag === "Connected") markers.push(event)
              })
            ),
            Effect.forkScoped
          )
          const writer = Effect.gen(function*() {
            const inFlight: Array<Fiber.RuntimeFiber<void, ResilientSocket.WriteError>> = []
            for (let i = 0; i < TOTAL; i++) {
              // the status read right before the write starts, in the same fiber and the same step
              const write = Effect.flatMap(socket.status, (status) => {
                wasDown[i] = status._tag !== "Connected"
                return socket.write(`${i}\n`)
              })
              inFlight.push(yield* Effect.fork(write))
              while (inFlight.length >= WINDOW) yield* Fiber.join(inFlight.shift()!)
              // a pace the server keeps up with (it runs on this event loop): without it all 10,000
              // would be in the kernel before the server reads the first, and its drops would come after
              if (i % 10 === 9) yield* Effect.sleep("1 millis")
            }
            yield* Fiber.joinAll(inFlight)
          })
          yield* writer
          // the last connection is never dropped: everything after the last drop arrives
          yield* eventually(() => seen.received.at(-1) === TOTAL - 1)
        }))

        const received = seen.received
        for (let i = 1; i < received.length; i++) {
          if (!(received[i]! > received[i - 1]!)) {
            expect.fail(`out of order at ${i}: ${received[i - 1]} then ${received[i]}`)
          }
        }
        const arrived = new Set(received)
        const downAndMissing = wasDown.flatMap((down, i) => down && !arrived.has(i) ? [i] : [])
        expect(downAndMissing).toEqual([])
        const writtenWhileDown = wasDown.filter((down) => down).length
        // every drop leaves a moment with the socket down, with the writer still writing
        expect(writtenWhileDown).toBeGreaterThanOrEqual(DROPS)
        expect(seen.dropped).toBe(DROPS)
        expect(seen.accepted).toBe(DROPS + 1)
        expect(markers.at(-1)?.connection).toBe(DROPS + 1)
        // the unsent bytes the markers report were surely not delivered: they are part of what is missing
        const missingBytes = wasDown.reduce((n, _, i) => arrived.has(i) ? n : n + `${i}\n`.length, 0)
        const unsent = markers.reduce((n, marker) => n + marker.unsent, 0)
        expect(unsent).toBeLessThanOrEqual(missingBytes)
        // nothing is left on the server once the socket's scope is closed
        yield* eventually(() => seen.open === 0, "5 seconds")
      }),
    60_000
  )
})
