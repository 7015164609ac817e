/**
 * Memory stays flat, on a real `node:net` server on loopback: with each overflow policy while the
 * server is away (100,000 writes of 1 KB into a buffer of 1,000), after which the server comes
 * back and what the policy kept is sent; and over 10,000 connections the server drops at once.
 * Heap readings are taken after full collections (`--expose-gc` set at run time).
 */
import { describe, expect, it } from "@effect/vitest"
import { Reconnect } from "@redial/core"
import type { Duration } from "effect"
import { Cause, Effect, Exit, Fiber, Logger, LogLevel, Option } from "effect"
import * as Net from "node:net"
import * as v8 from "node:v8"
import * as vm from "node:vm"
import { ResilientSocket } from "../src/index.js"
import type { Overflow } from "../src/ResilientSocket.js"
import { BufferFull } from "../src/SocketError.js"

const exposeGc = (): () => void => {
  v8.setFlagsFromString("--expose-gc")
  return vm.runInNewContext("gc") as () => void
}

/** The heap and array buffers in use after two full collections. */
const memoryAfterGc = (gc: () => void) =>
  Effect.sync(() => {
    gc()
    gc()
    const usage = process.memoryUsage()
    return usage.heapUsed + usage.arrayBuffers
  })

const MB = 1024 * 1024

/** Polls state the server keeps (it sends no events) until `predicate` holds; dies after `timeout`. */
const eventually = (predicate: () => boolean, timeout: Duration.DurationInput = "30 seconds") =>
  Effect.gen(function*() {
    while (!predicate()) yield* Effect.sleep("5 millis")
  }).pipe(
    Effect.timeoutFail({ duration: timeout, onTimeout: () => new Error("the condition did not hold in time") }),
    Effect.orDie
  )

/** A loopback port nothing listens on (it was free a moment ago). */
const freePort = Effect.async<number>((resume) => {
  const server = Net.createServer()
  server.listen(0, "127.0.0.1", () => {
    const { port } = server.address() as Net.AddressInfo
    server.close(() => resume(Effect.succeed(port)))
  })
})

interface Seen {
  /** The numbers of the newline-framed messages received, over all connections. */
  readonly received: Array<number>
  open: number
  accepted: number
}

/**
 * A server on `port` that starts listening at `listen`, reads newline-framed messages that start
 * with their number (or, with `dropAtOnce`, destroys every connection as it comes). Its scope
 * closes it and every connection.
 */
const server = (port: number, options: { readonly dropAtOnce?: boolean } = {}) =>
  Effect.gen(function*() {
    const seen: Seen = { received: [], open: 0, accepted: 0 }
    const sockets = new Set<Net.Socket>()
    const net = Net.createServer((socket) => {
      seen.accepted++
      seen.open++
      sockets.add(socket)
      socket.on("error", () => {})
      socket.on("close", () => {
        seen.open--
        sockets.delete(socket)
      })
      if (options.dropAtOnce) return void socket.destroy()
      let partial = ""
      socket.on("data", (chunk: Buffer) => {
        const lines = (partial + chunk.toString("latin1")).split("\n")
        partial = lines.pop() ?? ""
        for (const line of lines) seen.received.push(Number(line.slice(0, line.indexOf("."))))
      })
    })
    yield* Effect.addFinalizer(() =>
      Effect.async<void>((resume) => {
        for (const socket of sockets) socket.destroy()
        if (!net.listening) return resume(Effect.void)
        net.close(() => resume(Effect.void))
      })
    )
    const listen = Effect.async<void>((resume) => {
      net.listen(port, "127.0.0.1", () => resume(Effect.void))
    })
    return { seen, listen }
  })

/** Message `i`: its number, padded to 1 KB with the newline. */
const message = (i: number) => `${i}.`.padEnd(1023, "x") + "\n"

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, k) => from + k)

const TOTAL = 100_000
const BATCH = 1000
const BUFFER = 1000

type Writer = Fiber.RuntimeFiber<void, ResilientSocket.WriteError>

/**
 * `TOTAL` writes of 1 KB while nothing listens, in batches of `BATCH`; the heap after 20,000 and
 * after 100,000. Returns the writers still waiting (what the policy kept), how the others ended,
 * and the growth. `"fail"`: the writes past the bound fail at once. `"dropOldest"`: every batch
 * drops the one before. `"suspend"`: one writer past the bound waits for good, the others are
 * interrupted while they wait, one batch in ten by their own 1 ms timeout.
 */
const writeWhileDown = (
  socket: ResilientSocket.ResilientSocket<Uint8Array, Net.Socket>,
  overflow: Overflow,
  gc: () => void
) =>
  Effect.gen(function*() {
    let waiting: Array<{ readonly id: number; readonly fiber: Writer }> = []
    const ended = { full: 0, dropped: 0, interrupted: 0 }
    const fork = (id: number) =>
      Effect.map(Effect.fork(socket.write(message(id))), (fiber) => waiting.push({ id, fiber }))
    let at20k = 0
    for (let from = 0; from < TOTAL; from += BATCH) {
      const ids = range(from, from + BATCH)
      if (from === 0) {
        for (const id of ids) yield* fork(id)
        if (overflow === "suspend") yield* fork(BUFFER) // the one that waits for good
      } else if (overflow === "fail") {
        for (const id of ids) {
          const error = yield* Effect.flip(socket.write(message(id)))
          if (!(error instanceof BufferFull) || error.dropped) expect.fail(`write ${id}: ${String(error)}`)
          ended.full++
        }
      } else if (overflow === "dropOldest") {
        for (const id of ids) yield* fork(id)
      } else if ((from / BATCH) % 10 === 0) {
        const timed = yield* Effect.forEach(ids, (id) =>
          Effect.fork(Effect.timeoutOption(socket.write(message(id + 1)), "1 millis")))
        for (const fiber of timed) {
          expect(yield* Fiber.join(fiber)).toEqual(Option.none())
          ended.interrupted++
        }
      } else {
        const fibers = yield* Effect.forEach(ids, (id) =>
          Effect.fork(socket.write(message(id + 1))))
        // they all wait in the line, behind the one that waits for good
        for (let n = 0; n < 1000 && (yield* socket.pending).waiting < BATCH + 1; n++) yield* Effect.yieldNow()
        expect((yield* socket.pending).waiting).toBe(BATCH + 1)
        yield* Fiber.interruptAll(fibers)
        ended.interrupted += fibers.length
      }
      // the writers the policy let go have ended
      yield* Effect.repeatN(Effect.yieldNow(), 3)
      const still: typeof waiting = []
      for (const writer of waiting) {
        const exit = Option.getOrUndefined(yield* Fiber.poll(writer.fiber))
        if (exit === undefined) {
          still.push(writer)
          continue
        }
        const error = Exit.isFailure(exit) ? Option.getOrUndefined(Cause.failureOption(exit.cause)) : undefined
        if (!(error instanceof BufferFull)) return expect.fail(`write ${writer.id} ended with ${String(exit)}`)
        ended[error.dropped ? "dropped" : "full"]++
      }
      waiting = still
      if (from + BATCH === 20_000) at20k = yield* memoryAfterGc(gc)
    }
    const growth = (yield* memoryAfterGc(gc)) - at20k
    return { waiting, ended, growth }
  })

describe("memory while the server is away", () => {
  for (const overflow of ["fail", "dropOldest", "suspend"] as const) {
    it.scopedLive(
      `"${overflow}": 100,000 writes of 1 KB into a buffer of 1,000 keep the heap flat; the server comes back and what was kept is sent`,
      () =>
        Effect.gen(function*() {
          const gc = exposeGc()
          const port = yield* freePort
          const { listen, seen } = yield* server(port)
          const socket = yield* ResilientSocket.makeNet({
            name: `memory-${overflow}`,
            host: "127.0.0.1",
            port,
            policy: Reconnect.fixed("100 millis"),
            buffer: { messages: BUFFER, overflow }
          })
          const { ended, growth, waiting } = yield* writeWhileDown(socket, overflow, gc)
          // 80,000 writes of 1 KB between the readings: anything kept per write would be ≥ 80 MB
          expect(growth).toBeLessThan(20 * MB)
          expect(yield* socket.pending).toEqual({
            writes: BUFFER,
            bytes: BUFFER * 1024,
            waiting: overflow === "suspend" ? 1 : 0
          })
          const kept = overflow === "fail"
            ? range(0, BUFFER)
            : overflow === "dropOldest"
            ? range(TOTAL - BUFFER, TOTAL)
            : range(0, BUFFER + 1)
          expect(waiting.map((w) => w.id)).toEqual(kept)
          expect(ended).toEqual(
            overflow === "fail"
              ? { full: TOTAL - BUFFER, dropped: 0, interrupted: 0 }
              : overflow === "dropOldest"
              ? { full: 0, dropped: TOTAL - BUFFER, interrupted: 0 }
              : { full: 0, dropped: 0, interrupted: TOTAL - BUFFER }
          )

          yield* listen
          for (const { fiber } of waiting) expect(yield* Fiber.await(fiber)).toEqual(Exit.void)
          yield* eventually(() => seen.received.length >= kept.length)
          expect(seen.received).toEqual(kept)
          expect(yield* socket.pending).toEqual({ writes: 0, bytes: 0, waiting: 0 })
        }),
      120_000
    )
  }
})

describe("memory over reconnects", () => {
  it.scopedLive(
    "10,000 connections the server drops at once keep the heap flat, and none is left open on the server after the scope",
    () =>
      Effect.gen(function*() {
        const gc = exposeGc()
        const port = yield* freePort
        const { listen, seen } = yield* server(port, { dropAtOnce: true })
        yield* listen
        let growth = 0
        yield* Effect.scoped(Effect.gen(function*() {
          yield* ResilientSocket.makeNet({
            name: "memory-reconnects",
            host: "127.0.0.1",
            port,
            policy: Reconnect.fixed("1 millis"),
            minUptime: 0
          })
          yield* eventually(() => seen.accepted >= 2000)
          const at2k = yield* memoryAfterGc(gc)
          yield* eventually(() => seen.accepted >= 10_000, "200 seconds")
          growth = (yield* memoryAfterGc(gc)) - at2k
        }))
        // 8,000 connections between the readings: a closed net.Socket kept per connection is about
        // 7 MB; flat is well under 1 MB
        expect(growth).toBeLessThan(4 * MB)
        yield* eventually(() => seen.open === 0, "5 seconds")
      }).pipe(Logger.withMinimumLogLevel(LogLevel.Error)), // not 10,000 "reconnecting" warnings
    240_000
  )
})
