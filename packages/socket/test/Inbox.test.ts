/**
 * The read buffer on its own: order, a `Connected` marker before each connection's data (folded
 * when a connection brought nothing), the pause / resume of the live socket around `capacity`,
 * and the end: what was buffered, then `Closed`.
 */
import { describe, expect, it } from "@effect/vitest"
import { Closed } from "@redial/core"
import { TestTime } from "@redial/testing"
import { Chunk, Effect, Exit, Fiber, Option } from "effect"
import { ConnectedMarker, Inbox, type Item, type Source } from "../src/internal/inbox.js"

const { settle } = TestTime

/** A live socket's reading, as the inbox sees it: counts its pauses and resumes. */
class FakeSource implements Source {
  pauses = 0
  resumes = 0
  get paused(): boolean {
    return this.pauses > this.resumes
  }
  readonly pause = (): void => {
    this.pauses++
  }
  readonly resume = (): void => {
    this.resumes++
  }
}

/** Markers as plain values, data as is. */
const show = (item: Item<string>) =>
  item instanceof ConnectedMarker
    ? { connection: item.connection, skipped: item.skipped, unsent: item.unsent }
    : item

const takeShown = (inbox: Inbox<string>) => Effect.map(inbox.take, (chunk) => Chunk.toArray(chunk).map(show))

/** Takes until the buffer is empty (never waits). */
const drainAll = (inbox: Inbox<string>) =>
  Effect.gen(function*() {
    const out: Array<ReturnType<typeof show>> = []
    while (inbox.size > 0) out.push(...(yield* takeShown(inbox)))
    return out
  })

const marker = (connection: number, skipped = 0, unsent = 0) => ({ connection, skipped, unsent })

const closed = new Closed({ connection: "in", reason: "UserClosed" })

describe("Inbox: order and markers", () => {
  it.effect("data comes out in the order it came in, over many takes", () =>
    Effect.gen(function*() {
      const inbox = new Inbox<string>(1_000_000)
      inbox.connected(1, new FakeSource(), 0)
      const data = Array.from({ length: 10_000 }, (_, i) => String(i))
      for (const d of data) inbox.offer(d)
      expect(inbox.size).toBe(10_000)
      const out = yield* drainAll(inbox)
      expect(out).toEqual([marker(1), ...data])
      expect(inbox.size).toBe(0)
    }))

  it.effect("a Connected marker comes before each connection's data, with the unsent bytes of the one before", () =>
    Effect.gen(function*() {
      const inbox = new Inbox<string>(100)
      const first = new FakeSource()
      inbox.connected(1, first, 0)
      inbox.offer("a")
      inbox.offer("b")
      inbox.disconnected(first)
      inbox.connected(2, new FakeSource(), 5)
      inbox.offer("c")
      expect(yield* takeShown(inbox)).toEqual([marker(1), "a", "b", marker(2, 0, 5), "c"])
    }))

  it.effect("a marker with no data after it is folded into the next one: skipped counts it, unsent sums both", () =>
    Effect.gen(function*() {
      const inbox = new Inbox<string>(100)
      inbox.offer("before")
      inbox.connected(1, new FakeSource(), 1)
      inbox.connected(2, new FakeSource(), 3)
      inbox.connected(3, new FakeSource(), 4)
      inbox.offer("x")
      expect(yield* takeShown(inbox)).toEqual(["before", marker(3, 2, 8), "x"])
    }))

  it.effect("a marker the reader has already taken is not folded: the next connection gets its own", () =>
    Effect.gen(function*() {
      const inbox = new Inbox<string>(100)
      inbox.connected(1, new FakeSource(), 0)
      expect(yield* takeShown(inbox)).toEqual([marker(1)])
      inbox.connected(2, new FakeSource(), 7)
      inbox.offer("x")
      expect(yield* takeShown(inbox)).toEqual([marker(2, 0, 7), "x"])
    }))

  it.effect("10,000 connections with no data leave one marker, not 10,000", () =>
    Effect.gen(function*() {
      const inbox = new Inbox<string>(100)
      for (let i = 1; i <= 10_000; i++) {
        const source = new FakeSource()
        inbox.connected(i, source, 1)
        inbox.disconnected(source)
      }
      inbox.offer("x")
      expect(yield* takeShown(inbox)).toEqual([marker(10_000, 9_999, 10_000), "x"])
    }))
})

describe("Inbox: pausing the socket", () => {
  it.effect("the live socket is paused once when data reaches capacity (markers do not count), and resumed once takes bring it down to half", () =>
    Effect.gen(function*() {
      // large enough that one take (at most 4,096 items) does not empty it
      const capacity = 10_000
      const inbox = new Inbox<string>(capacity)
      const source = new FakeSource()
      inbox.connected(1, source, 0)
      for (let i = 0; i < capacity - 1; i++) inbox.offer(String(i))
      expect(source.pauses).toBe(0) // the marker is not counted
      inbox.offer("last")
      expect(source.pauses).toBe(1)
      inbox.offer("one more, already in flight")
      expect(source.pauses).toBe(1) // paused once, not again
      while (inbox.size > capacity / 2) {
        expect(source.paused).toBe(true)
        yield* inbox.take
      }
      expect(source.resumes).toBe(1)
      expect(source.paused).toBe(false)
    }))

  it.effect("a new connection while the buffer is full starts paused; the one that left is not resumed", () =>
    Effect.gen(function*() {
      const inbox = new Inbox<string>(4)
      const first = new FakeSource()
      inbox.connected(1, first, 0)
      for (const d of ["0", "1", "2", "3"]) inbox.offer(d)
      expect(first.paused).toBe(true)
      inbox.disconnected(first)
      const second = new FakeSource()
      inbox.connected(2, second, 0)
      expect(second.paused).toBe(true)
      yield* drainAll(inbox)
      expect(second.paused).toBe(false)
      expect(first.resumes).toBe(0)
    }))
})

describe("Inbox: readers and the end", () => {
  it.effect("end(error): the reader gets the buffered data first, then fails with that Closed", () =>
    Effect.gen(function*() {
      const inbox = new Inbox<string>(100)
      inbox.connected(1, new FakeSource(), 0)
      inbox.offer("a")
      inbox.offer("b")
      inbox.end(closed)
      inbox.offer("after the end")
      expect(yield* takeShown(inbox)).toEqual([marker(1), "a", "b"])
      expect(yield* Effect.flip(inbox.take)).toBe(closed)
    }))

  it.effect("a reader waiting on an empty buffer is woken by data, and by the end", () =>
    Effect.gen(function*() {
      const inbox = new Inbox<string>(100)
      const reader = yield* Effect.fork(takeShown(inbox))
      yield* settle()
      expect(Option.isNone(yield* Fiber.poll(reader))).toBe(true)
      inbox.offer("a")
      expect(yield* Fiber.join(reader)).toEqual(["a"])
      expect(inbox.size).toBe(0)

      const second = yield* Effect.fork(inbox.take)
      yield* settle()
      inbox.end(closed)
      expect(yield* Fiber.await(second)).toEqual(Exit.fail(closed))
    }))

  it.effect("an interrupted reader leaves: data that comes after it goes to the next take, not to it", () =>
    Effect.gen(function*() {
      const inbox = new Inbox<string>(100)
      const reader = yield* Effect.fork(inbox.take)
      yield* settle()
      yield* Fiber.interrupt(reader)
      inbox.offer("a")
      expect(inbox.size).toBe(1)
      expect(yield* takeShown(inbox)).toEqual(["a"])
    }))
})
