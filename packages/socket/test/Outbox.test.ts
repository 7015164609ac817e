/**
 * The write buffer on its own, against a fake socket (`FakeSink`) that records what it was handed
 * and can be switched to congested (its drain comes when the test says) or dead. On the TestClock,
 * so `writeTimeout` is exact. Then a property over random interleavings of writes, interrupts and
 * socket events, for each overflow policy.
 */
import { describe, expect, it } from "@effect/vitest"
import { Closed, Timeout } from "@redial/core"
import { TestTime } from "@redial/testing"
import { Cause, Duration, Effect, Exit, Fiber, Option, TestClock } from "effect"
import * as fc from "fast-check"
import { type Limits, Outbox, type Overflow, Sent, type Sink } from "../src/internal/outbox.js"
import { BufferFull } from "../src/SocketError.js"

const { settle } = TestTime

type Mode = "Ok" | "Congested" | "Dead"

/** A socket as the outbox sees it: records every write handed to it, in order. */
class FakeSink implements Sink {
  mode: Mode = "Ok"
  private drains: Array<() => void> = []
  constructor(readonly log: Array<string> = [], mode: Mode = "Ok") {
    this.mode = mode
  }
  readonly send = (data: Uint8Array | string): Sent => {
    if (this.mode === "Dead") return Sent.Dead
    this.log.push(typeof data === "string" ? data : Buffer.from(data).toString("utf8"))
    return this.mode === "Ok" ? Sent.Ok : Sent.Congested
  }
  readonly onDrain = (f: () => void): void => {
    this.drains.push(f)
  }
  get drainWaiters(): number {
    return this.drains.length
  }
  /** Its buffer emptied: `mode` becomes `next`, and the drain callbacks run. */
  drain(next: Mode = "Ok"): void {
    this.mode = next
    const drains = this.drains
    this.drains = []
    for (const f of drains) f()
  }
}

/** A sink that takes `n` writes, then is dead. */
const dyingAfter = (n: number, log: Array<string> = []): FakeSink => {
  const sink = new FakeSink(log)
  const send = sink.send
  let left = n
  return Object.assign(sink, {
    send: (data: Uint8Array | string): Sent => {
      if (left === 0) return Sent.Dead
      left--
      return send(data)
    }
  })
}

const limits = (overrides: Partial<Limits> = {}): Limits => ({
  messages: 1000,
  bytes: 1_000_000,
  overflow: "suspend",
  ...overrides
})

const make = (overrides: Partial<Limits> = {}, timeout?: Duration.DurationInput) =>
  new Outbox("out", limits(overrides), timeout === undefined ? undefined : Duration.decode(timeout))

/** Starts a write in its own fiber and lets it reach the buffer. */
const start = (outbox: Outbox, data: Uint8Array | string) =>
  Effect.gen(function*() {
    const fiber = yield* Effect.fork(outbox.write(data))
    yield* settle()
    return fiber
  })

const startAll = (outbox: Outbox, data: ReadonlyArray<string>) => Effect.forEach(data, (d) => start(outbox, d))

const isDone = (fiber: Fiber.RuntimeFiber<unknown, unknown>) => Effect.map(Fiber.poll(fiber), Option.isSome)

/** The typed failure a write fiber ended with. */
const failureOf = <E>(fiber: Fiber.RuntimeFiber<void, E>) =>
  Effect.map(Fiber.await(fiber), (exit) => Exit.isFailure(exit) ? Cause.failureOption(exit.cause) : Option.none())

const closed = new Closed({ connection: "out", reason: "UserClosed" })

const zero = { writes: 0, bytes: 0, waiting: 0 }

describe("Outbox: sending and buffering", () => {
  it.effect("with writeTimeout, a write buffered before an attach goes out before a newer direct write", () =>
    Effect.gen(function*() {
      const outbox = make({ overflow: "fail" }, "5 seconds")
      const sink = new FakeSink()
      const first = yield* Effect.fork(outbox.write("a"))
      // one step: the write runs, finds the socket down, and must take its place in the queue now
      // (the timeout's own fiber would have let the next write overtake it)
      yield* Effect.yieldNow()
      outbox.attach(sink)
      yield* outbox.write("b")
      yield* Fiber.join(first)
      expect(sink.log).toEqual(["a", "b"])
    }))

  it.effect("up with nothing buffered: write completes once the data was handed to the socket, buffering nothing", () =>
    Effect.gen(function*() {
      const outbox = make()
      const sink = new FakeSink()
      outbox.attach(sink)
      yield* outbox.write("a")
      expect(sink.log).toEqual(["a"])
      yield* outbox.write(new TextEncoder().encode("b"))
      expect(sink.log).toEqual(["a", "b"])
      expect(outbox.pending).toEqual(zero)
    }))

  it.effect("down: writes wait in the buffer (counted in writes and UTF-8 bytes), and attach sends them in order before any newer write", () =>
    Effect.gen(function*() {
      const outbox = make()
      const data = ["w0", "héllo", "w2", "w3", "w4"]
      const fibers = yield* startAll(outbox, data)
      expect(outbox.pending).toEqual({ writes: 5, bytes: 2 + 6 + 2 + 2 + 2, waiting: 0 })
      for (const fiber of fibers) expect(yield* isDone(fiber)).toBe(false)

      const sink = new FakeSink()
      outbox.attach(sink)
      // handed over in the attach itself, before any other write can run
      expect(sink.log).toEqual(data)
      yield* outbox.write("newer")
      expect(sink.log).toEqual([...data, "newer"])
      for (const fiber of fibers) expect(yield* Fiber.await(fiber)).toEqual(Exit.void)
      expect(outbox.pending).toEqual(zero)
    }))

  it.effect("detach: later writes wait for the next socket, and the old one gets nothing more", () =>
    Effect.gen(function*() {
      const outbox = make()
      const first = new FakeSink()
      outbox.attach(first)
      yield* outbox.write("a")
      outbox.detach(first)
      const fiber = yield* start(outbox, "b")
      expect(yield* isDone(fiber)).toBe(false)
      const second = new FakeSink()
      outbox.attach(second)
      yield* Fiber.join(fiber)
      expect(first.log).toEqual(["a"])
      expect(second.log).toEqual(["b"])
    }))

  it.effect("a detach of a socket that is no longer the live one changes nothing", () =>
    Effect.gen(function*() {
      const outbox = make()
      const old = new FakeSink()
      const live = new FakeSink()
      outbox.attach(old)
      outbox.attach(live)
      outbox.detach(old)
      yield* outbox.write("a")
      expect(live.log).toEqual(["a"])
    }))
})

describe("Outbox: overflow", () => {
  it.effect("\"fail\", count bound: the write past `messages` fails at once with BufferFull (messages, dropped: false); the buffered ones are kept", () =>
    Effect.gen(function*() {
      const outbox = make({ messages: 3, overflow: "fail" })
      const fibers = yield* startAll(outbox, ["0", "1", "2"])
      const error = yield* Effect.flip(outbox.write("3"))
      expect(error).toBeInstanceOf(BufferFull)
      expect(error).toMatchObject({ _tag: "BufferFull", socket: "out", limit: "messages", size: 3, dropped: false })
      expect(outbox.pending).toEqual({ writes: 3, bytes: 3, waiting: 0 })
      const sink = new FakeSink()
      outbox.attach(sink)
      expect(sink.log).toEqual(["0", "1", "2"])
      for (const fiber of fibers) expect(yield* Fiber.await(fiber)).toEqual(Exit.void)
    }))

  it.effect("\"fail\", byte bound: a write that would pass `bytes` fails with BufferFull (bytes, dropped: false); a smaller one still fits", () =>
    Effect.gen(function*() {
      const outbox = make({ bytes: 10, overflow: "fail" })
      yield* startAll(outbox, ["aaaa", "bbbb"])
      const error = yield* Effect.flip(outbox.write("cccc"))
      expect(error).toMatchObject({ _tag: "BufferFull", limit: "bytes", size: 10, dropped: false })
      yield* start(outbox, "cc")
      expect(outbox.pending).toEqual({ writes: 3, bytes: 10, waiting: 0 })
      const sink = new FakeSink()
      outbox.attach(sink)
      expect(sink.log).toEqual(["aaaa", "bbbb", "cc"])
    }))

  it.effect("\"dropOldest\", count bound: the oldest buffered write fails with BufferFull (dropped: true), the newest is buffered", () =>
    Effect.gen(function*() {
      const outbox = make({ messages: 3, overflow: "dropOldest" })
      const fibers = yield* startAll(outbox, ["0", "1", "2", "3", "4"])
      expect(outbox.pending).toEqual({ writes: 3, bytes: 3, waiting: 0 })
      for (const fiber of fibers.slice(0, 2)) {
        const error = yield* failureOf(fiber)
        expect(Option.getOrThrow(error)).toMatchObject({
          _tag: "BufferFull",
          limit: "messages",
          size: 3,
          dropped: true
        })
      }
      for (const fiber of fibers.slice(2)) expect(yield* isDone(fiber)).toBe(false)
      const sink = new FakeSink()
      outbox.attach(sink)
      expect(sink.log).toEqual(["2", "3", "4"])
      for (const fiber of fibers.slice(2)) expect(yield* Fiber.await(fiber)).toEqual(Exit.void)
    }))

  it.effect("\"dropOldest\", byte bound: as many of the oldest as needed are dropped (bytes, dropped: true) to fit the newest", () =>
    Effect.gen(function*() {
      const outbox = make({ bytes: 10, overflow: "dropOldest" })
      const fibers = yield* startAll(outbox, ["aaaa", "bbbb", "cccccc"])
      expect(Option.getOrThrow(yield* failureOf(fibers[0]!))).toMatchObject({ limit: "bytes", dropped: true })
      expect(yield* isDone(fibers[1]!)).toBe(false)
      expect(outbox.pending).toEqual({ writes: 2, bytes: 10, waiting: 0 })
      const last = yield* start(outbox, "dddddddddd")
      expect(Option.getOrThrow(yield* failureOf(fibers[1]!))).toMatchObject({ limit: "bytes", dropped: true })
      expect(Option.getOrThrow(yield* failureOf(fibers[2]!))).toMatchObject({ limit: "bytes", dropped: true })
      const sink = new FakeSink()
      outbox.attach(sink)
      expect(sink.log).toEqual(["dddddddddd"])
      expect(yield* Fiber.await(last)).toEqual(Exit.void)
    }))

  it.effect("\"suspend\": writers past the bound wait, and are let in first come first served as room frees up", () =>
    Effect.gen(function*() {
      const outbox = make({ messages: 2, overflow: "suspend" })
      const fibers = yield* startAll(outbox, ["0", "1", "2", "3", "4"])
      expect(outbox.pending).toEqual({ writes: 2, bytes: 2, waiting: 3 })
      // a socket that takes one write per drain: room frees up one write at a time
      const sink = new FakeSink([], "Congested")
      outbox.attach(sink)
      expect(sink.log).toEqual(["0"])
      expect(outbox.pending).toEqual({ writes: 2, bytes: 2, waiting: 2 }) // "2" was let in
      sink.drain("Congested")
      expect(sink.log).toEqual(["0", "1"])
      expect(outbox.pending).toEqual({ writes: 2, bytes: 2, waiting: 1 }) // then "3"
      yield* settle()
      expect(yield* isDone(fibers[1]!)).toBe(true)
      expect(yield* isDone(fibers[2]!)).toBe(false) // let in is not sent
      sink.drain("Ok")
      expect(sink.log).toEqual(["0", "1", "2", "3", "4"])
      for (const fiber of fibers) expect(yield* Fiber.await(fiber)).toEqual(Exit.void)
      expect(outbox.pending).toEqual(zero)
    }))

  for (const overflow of ["fail", "dropOldest", "suspend"] as const) {
    it.effect(`"${overflow}": a single write larger than \`bytes\` fails with BufferFull (bytes) and what is buffered stays`, () =>
      Effect.gen(function*() {
        const outbox = make({ bytes: 10, overflow })
        yield* start(outbox, "kept")
        const error = yield* Effect.flip(outbox.write("x".repeat(11)))
        expect(error).toMatchObject({ _tag: "BufferFull", limit: "bytes", size: 10, dropped: false })
        expect(outbox.pending).toEqual({ writes: 1, bytes: 4, waiting: 0 })
        const sink = new FakeSink()
        outbox.attach(sink)
        expect(sink.log).toEqual(["kept"])
      }))
  }
})

describe("Outbox: congestion and dead sockets", () => {
  it.effect("a congested socket: later writes are buffered until its drain, then sent in order, then straight again", () =>
    Effect.gen(function*() {
      const outbox = make()
      const sink = new FakeSink()
      outbox.attach(sink)
      sink.mode = "Congested"
      yield* outbox.write("a") // handed; the socket is now past its high-water mark
      const fibers = yield* startAll(outbox, ["b", "c"])
      expect(sink.log).toEqual(["a"])
      expect(outbox.pending).toEqual({ writes: 2, bytes: 2, waiting: 0 })
      expect(sink.drainWaiters).toBe(1)
      sink.drain()
      expect(sink.log).toEqual(["a", "b", "c"])
      for (const fiber of fibers) expect(yield* Fiber.await(fiber)).toEqual(Exit.void)
      yield* outbox.write("d")
      expect(sink.log).toEqual(["a", "b", "c", "d"])
    }))

  it.effect("the drain of a socket that was replaced sends nothing to it", () =>
    Effect.gen(function*() {
      const outbox = make()
      const old = new FakeSink([], "Congested")
      outbox.attach(old)
      yield* outbox.write("a")
      outbox.detach(old)
      yield* start(outbox, "b")
      old.drain()
      expect(old.log).toEqual(["a"])
      expect(outbox.pending.writes).toBe(1)
      const next = new FakeSink()
      outbox.attach(next)
      expect(next.log).toEqual(["b"])
    }))

  it.effect("a socket found dead while the buffer is handed over: the write it refused goes back at the head, order kept", () =>
    Effect.gen(function*() {
      const outbox = make()
      const data = ["0", "1", "2", "3", "4", "5"]
      const fibers = yield* startAll(outbox, data)
      const log: Array<string> = []
      outbox.attach(dyingAfter(2, log))
      expect(log).toEqual(["0", "1"])
      expect(outbox.current._tag).toBe("Down")
      expect(outbox.pending).toEqual({ writes: 4, bytes: 4, waiting: 0 })
      yield* settle()
      for (const fiber of fibers.slice(0, 2)) expect(yield* isDone(fiber)).toBe(true)
      for (const fiber of fibers.slice(2)) expect(yield* isDone(fiber)).toBe(false)
      const late = yield* start(outbox, "6")
      outbox.attach(new FakeSink(log))
      expect(log).toEqual([...data, "6"])
      for (const fiber of [...fibers, late]) expect(yield* Fiber.await(fiber)).toEqual(Exit.void)
    }))

  it.effect("a socket found dead by a direct write: the write is buffered, not lost, and goes out on the next socket", () =>
    Effect.gen(function*() {
      const outbox = make()
      const sink = new FakeSink()
      outbox.attach(sink)
      sink.mode = "Dead"
      const fiber = yield* start(outbox, "x")
      expect(outbox.current._tag).toBe("Down")
      expect(outbox.pending.writes).toBe(1)
      const next = new FakeSink()
      outbox.attach(next)
      expect(next.log).toEqual(["x"])
      expect(yield* Fiber.await(fiber)).toEqual(Exit.void)
    }))
})

describe("Outbox: timeouts and interruption", () => {
  it.effect("writeTimeout: a buffered write fails with core's Timeout (operation write) at its deadline, leaves the buffer, and is never sent", () =>
    Effect.gen(function*() {
      const outbox = make({}, "1 second")
      const fiber = yield* start(outbox, "late")
      yield* TestClock.adjust("999 millis")
      expect(yield* isDone(fiber)).toBe(false)
      yield* TestClock.adjust("1 millis")
      const error = Option.getOrThrow(yield* failureOf(fiber))
      expect(error).toBeInstanceOf(Timeout)
      expect(error).toMatchObject({ _tag: "Timeout", connection: "out", operation: "write" })
      expect(Duration.toMillis((error as Timeout).duration)).toBe(1000)
      expect(outbox.pending).toEqual(zero)
      const sink = new FakeSink()
      outbox.attach(sink)
      expect(sink.log).toEqual([])
    }))

  it.effect("writeTimeout: a suspended writer times out too and leaves the waiting line", () =>
    Effect.gen(function*() {
      const outbox = make({ messages: 1, overflow: "suspend" }, "1 second")
      yield* start(outbox, "a")
      yield* TestClock.adjust("500 millis")
      const waiter = yield* start(outbox, "b")
      expect(outbox.pending.waiting).toBe(1)
      yield* TestClock.adjust("500 millis") // "a" times out: "b" is let in
      expect(outbox.pending).toEqual({ writes: 1, bytes: 1, waiting: 0 })
      yield* TestClock.adjust("500 millis")
      expect(Option.getOrThrow(yield* failureOf(waiter))).toMatchObject({ _tag: "Timeout", operation: "write" })
      expect(outbox.pending).toEqual(zero)
      const sink = new FakeSink()
      outbox.attach(sink)
      expect(sink.log).toEqual([])
    }))

  it.effect("interrupted writers leave nothing behind: a buffered one frees its room for the next waiter, a waiting one leaves the line", () =>
    Effect.gen(function*() {
      const outbox = make({ messages: 1, overflow: "suspend" })
      const [w0, w1, w2, w3] = yield* startAll(outbox, ["0", "1", "2", "3"])
      expect(outbox.pending).toEqual({ writes: 1, bytes: 1, waiting: 3 })
      yield* Fiber.interrupt(w0!)
      expect(outbox.pending).toEqual({ writes: 1, bytes: 1, waiting: 2 }) // "1" was let in
      yield* Fiber.interrupt(w2!)
      expect(outbox.pending).toEqual({ writes: 1, bytes: 1, waiting: 1 })
      yield* Fiber.interrupt(w1!)
      expect(outbox.pending).toEqual({ writes: 1, bytes: 1, waiting: 0 }) // "3" was let in
      yield* Fiber.interrupt(w3!)
      expect(outbox.pending).toEqual(zero)
      const sink = new FakeSink()
      outbox.attach(sink)
      expect(sink.log).toEqual([])
    }))

  it.effect("an interrupted waiter at the head of the line lets in the smaller one behind it that fits", () =>
    Effect.gen(function*() {
      const outbox = make({ bytes: 10, overflow: "suspend" })
      yield* start(outbox, "xxxxxx") // 6 of 10 bytes
      const big = yield* start(outbox, "aaaaaaaa") // 8: waits
      const small = yield* start(outbox, "bb") // 2 would fit, but waits its turn behind "aaaaaaaa"
      expect(outbox.pending).toEqual({ writes: 1, bytes: 6, waiting: 2 })
      yield* Fiber.interrupt(big)
      // "bb" is at the head now, and fits: it is buffered, not left waiting with room free
      expect(outbox.pending).toEqual({ writes: 2, bytes: 8, waiting: 0 })
      const sink = new FakeSink()
      outbox.attach(sink)
      expect(sink.log).toEqual(["xxxxxx", "bb"])
      expect(yield* Fiber.await(small)).toEqual(Exit.void)
    }))
})

describe("Outbox: close and reopen", () => {
  it.effect("close(error): buffered and waiting writes fail with that Closed, later writes at once; reopen buffers again", () =>
    Effect.gen(function*() {
      const outbox = make({ messages: 2, overflow: "suspend" })
      const fibers = yield* startAll(outbox, ["0", "1", "2"])
      expect(outbox.pending).toEqual({ writes: 2, bytes: 2, waiting: 1 })
      outbox.close(closed)
      for (const fiber of fibers) expect(Option.getOrThrow(yield* failureOf(fiber))).toBe(closed)
      expect(outbox.pending).toEqual(zero)
      expect(yield* Effect.flip(outbox.write("3"))).toBe(closed)
      // attach after close does not happen (the connection is closed); reopen comes first
      outbox.reopen()
      expect(outbox.current._tag).toBe("Down")
      const fiber = yield* start(outbox, "4")
      const sink = new FakeSink()
      outbox.attach(sink)
      expect(sink.log).toEqual(["4"])
      expect(yield* Fiber.await(fiber)).toEqual(Exit.void)
    }))

  it.effect("close while up: writes fail with Closed and are not handed to the socket", () =>
    Effect.gen(function*() {
      const outbox = make()
      const sink = new FakeSink()
      outbox.attach(sink)
      outbox.close(closed)
      expect(yield* Effect.flip(outbox.write("a"))).toBe(closed)
      expect(sink.log).toEqual([])
    }))
})

// --- the property --------------------------------------------------------------------------------

type Op =
  | { readonly _tag: "write"; readonly pad: number }
  | { readonly _tag: "interrupt"; readonly index: number }
  | { readonly _tag: "attach"; readonly dieAfter: number | undefined }
  | { readonly _tag: "detach" }
  | { readonly _tag: "congest" }
  | { readonly _tag: "kill" }
  | { readonly _tag: "drain" }
  | { readonly _tag: "advance"; readonly millis: number }
  | { readonly _tag: "noSettle" }

const op: fc.Arbitrary<Op> = fc.oneof(
  { arbitrary: fc.integer({ min: 0, max: 10 }).map((pad) => ({ _tag: "write", pad } as const)), weight: 10 },
  // now and then a write too large for the buffer
  { arbitrary: fc.constant({ _tag: "write", pad: 30 } as const), weight: 1 },
  { arbitrary: fc.nat(40).map((index) => ({ _tag: "interrupt", index } as const)), weight: 3 },
  { arbitrary: fc.constant({ _tag: "attach", dieAfter: undefined } as const), weight: 1 },
  // a socket that dies after taking a few writes: while the buffer is handed to it
  { arbitrary: fc.nat(2).map((dieAfter) => ({ _tag: "attach", dieAfter } as const)), weight: 2 },
  { arbitrary: fc.constant({ _tag: "detach" } as const), weight: 2 },
  { arbitrary: fc.constant({ _tag: "congest" } as const), weight: 2 },
  { arbitrary: fc.constant({ _tag: "kill" } as const), weight: 2 },
  { arbitrary: fc.constant({ _tag: "drain" } as const), weight: 1 },
  { arbitrary: fc.constantFrom(100, 600, 1000).map((millis) => ({ _tag: "advance", millis } as const)), weight: 1 },
  { arbitrary: fc.constant({ _tag: "noSettle" } as const), weight: 1 }
)

/** Two buffers: one where the byte bound binds first (writes are 2 to 13 bytes), one where the count does. */
const propertyLimits = fc.constantFrom({ messages: 4, bytes: 14 }, { messages: 5, bytes: 60 })

/** The write numbered `i`, `pad` bytes longer than its number. */
const dataOf = (i: number, pad: number) => `${i}.${"x".repeat(pad)}`
const numberOf = (data: string) => Number(data.slice(0, data.indexOf(".")))

interface Writer {
  readonly id: number
  readonly bytes: number
  readonly fiber: Fiber.RuntimeFiber<void, unknown>
}

const runOps = (
  overflow: Overflow,
  timeout: Duration.DurationInput | undefined,
  bound: { readonly messages: number; readonly bytes: number },
  ops: ReadonlyArray<Op>
) =>
  Effect.gen(function*() {
    const outbox = make({ ...bound, overflow }, timeout)
    const log: Array<string> = []
    let sink: FakeSink | undefined = undefined
    const writers: Array<Writer> = []
    let shouldSettle = true

    const unresolved = Effect.filter(writers, (w) => Effect.map(isDone(w.fiber), (done) => !done))

    const check = Effect.gen(function*() {
      const ids = log.map(numberOf)
      // order: what the sockets were handed, over all of them, is strictly increasing
      for (let i = 1; i < ids.length; i++) expect(ids[i]).toBeGreaterThan(ids[i - 1]!)
      const sent = new Set(ids)
      for (const w of writers) {
        const exit = Option.getOrUndefined(yield* Fiber.poll(w.fiber))
        if (exit === undefined) {
          expect(sent.has(w.id)).toBe(false) // unresolved: not handed yet
          continue
        }
        if (Exit.isSuccess(exit)) {
          expect(sent.has(w.id)).toBe(true) // completed: handed to a socket
        } else if (!Cause.isInterruptedOnly(exit.cause)) {
          // failed: with a typed error, and never handed
          const error = Option.getOrThrow(Cause.failureOption(exit.cause))
          expect(error instanceof BufferFull || error instanceof Timeout || error instanceof Closed).toBe(true)
          if (error instanceof BufferFull) {
            expect(error.dropped).toBe(overflow === "dropOldest" && w.bytes <= bound.bytes)
          }
          if (error instanceof Timeout) expect(timeout).toBeDefined()
          expect(sent.has(w.id)).toBe(false)
        }
        // interrupted: handed or not, either is possible (a handed write cannot be taken back)
      }
      // what is still unresolved is exactly what the buffer holds
      const waiting = yield* unresolved
      const pending = outbox.pending
      expect(pending.writes + pending.waiting).toBe(waiting.length)
      expect(pending.writes).toBeLessThanOrEqual(bound.messages)
      expect(pending.bytes).toBeLessThanOrEqual(bound.bytes)
      // the buffered ones are the oldest unresolved (suspended writers wait behind them), and the
      // first one still waiting does not fit
      const queued = waiting.slice(0, pending.writes)
      expect(pending.bytes).toBe(queued.reduce((n, w) => n + w.bytes, 0))
      if (overflow !== "suspend") expect(pending.waiting).toBe(0)
      const head = waiting[pending.writes]
      if (head !== undefined) {
        const fits = pending.writes + 1 <= bound.messages &&
          pending.bytes + head.bytes <= bound.bytes
        expect(fits).toBe(false)
      }
    })

    for (const step of ops) {
      switch (step._tag) {
        case "write": {
          const id = writers.length
          const data = dataOf(id, step.pad)
          writers.push({ id, bytes: data.length, fiber: yield* Effect.fork(outbox.write(data)) })
          break
        }
        case "interrupt": {
          const waiting = yield* unresolved
          if (waiting.length > 0) yield* Fiber.interrupt(waiting[step.index % waiting.length]!.fiber)
          break
        }
        case "attach":
          sink = step.dieAfter === undefined ? new FakeSink(log) : dyingAfter(step.dieAfter, log)
          outbox.attach(sink)
          break
        case "detach":
          if (sink) outbox.detach(sink)
          break
        case "congest":
          if (sink) sink.mode = "Congested"
          break
        case "kill":
          if (sink) sink.mode = "Dead"
          break
        case "drain":
          if (sink && sink.mode !== "Dead") sink.drain()
          break
        case "advance":
          yield* TestClock.adjust(step.millis)
          break
        case "noSettle":
          shouldSettle = false
          break
      }
      if (step._tag !== "noSettle") {
        if (shouldSettle) {
          yield* settle()
          yield* check
        }
        shouldSettle = true
      }
    }
    yield* settle()
    yield* check
    // the end: every write resolves, nothing is left in the buffer
    outbox.close(closed)
    yield* settle()
    yield* check
    expect(yield* unresolved).toEqual([])
    expect(outbox.pending).toEqual(zero)
  })

describe("Outbox: property", () => {
  for (const overflow of ["fail", "dropOldest", "suspend"] as const) {
    for (const timeout of [undefined, "1 second"] as const) {
      it.effect.prop(
        `"${overflow}"${
          timeout === undefined ? "" : ", writeTimeout"
        }: random writes, interrupts and socket events keep order, resolve every write once, and pending matches the unresolved`,
        [propertyLimits, fc.array(op, { minLength: 1, maxLength: 80 })],
        ([bound, ops]) => runOps(overflow, timeout, bound, ops),
        { timeout: 120_000, fastCheck: { numRuns: 150 } }
      )
    }
  }
})
