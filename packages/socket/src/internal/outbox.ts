/**
 * The write side of a resilient socket: a bounded buffer in front of whichever socket is live.
 *
 * A write has one state, changed only here:
 *
 * ```text
 * write ─▶ handed to the live socket (done)                 the socket is open and keeps up
 *   │
 *   ├────▶ Queued ─▶ handed (done)                           down, or the socket's buffer is full
 *   │        └─────▶ dropped (BufferFull), timed out, interrupted, Closed
 *   └────▶ Waiting (suspended for room) ─▶ Queued …          overflow "suspend", buffer full
 * ```
 *
 * - A write completes when it is handed to an open socket (`socket.write`, `ws.send`), never later:
 *   what a socket that then dies still held is reported by the inbox's `Connected` marker
 *   (`unsent`), not by the write.
 * - Order is the order in which writes started: a write goes straight to the socket only when
 *   nothing is queued; `attach` hands the queue over in one synchronous step, before any newer
 *   write can run.
 * - The bound counts queued writes (`messages`) and their bytes (`bytes`). It applies while the
 *   socket is down and while a live socket is congested (its own buffer past its high-water mark
 *   until `drain`), so a writer faster than the peer is held by the same policy.
 * - A queued or waiting write that is interrupted (or times out) leaves the buffer at once; one
 *   already handed cannot be taken back.
 *
 * @internal
 */
import type { Closed } from "@redial/core"
import { Timeout } from "@redial/core"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import { BufferFull } from "../SocketError.js"

/**
 * What a sink did with a write: `Ok` handed to the socket, which can take more; `Congested`
 * handed, and the socket's buffer is now past its high-water mark (wait for `onDrain`); `Dead` not
 * handed, the socket is not open (any more).
 * @internal
 */
export const Sent = { Ok: 0, Congested: 1, Dead: 2 } as const
/** @internal */
export type Sent = typeof Sent[keyof typeof Sent]

/**
 * The outbox's counters, tagged with the socket's name. Writes sent straight to a socket are not
 * counted (that path stays free of them); what is buffered now is `pending`.
 *
 * @internal
 */
export const metrics = {
  buffered: Metric.counter("redial_socket_writes_buffered_total", {
    description: "Writes that waited in a socket's buffer (down, or congested)",
    incremental: true
  }),
  rejected: Metric.counter("redial_socket_writes_rejected_total", {
    description: "Buffered writes that failed unsent: BufferFull (fail, dropOldest) or their write timeout",
    incremental: true
  })
}

/** One live socket, as the outbox sees it. @internal */
export interface Sink {
  readonly send: (data: Uint8Array | string) => Sent
  /** Calls `f` once when a congested socket can take more (never if it dies first). */
  readonly onDrain: (f: () => void) => void
}

/** The overflow policy. @internal */
export type Overflow = "fail" | "dropOldest" | "suspend"

/** @internal */
export interface Limits {
  readonly messages: number
  readonly bytes: number
  readonly overflow: Overflow
}

/** Why a write failed. @internal */
export type WriteError = BufferFull | Timeout | Closed

interface Entry {
  readonly data: Uint8Array | string
  readonly bytes: number
  /** How it ended, when it ended before its writer started waiting. */
  result: Effect.Effect<void, WriteError> | undefined
  /** Its writer, waiting. */
  resume: ((effect: Effect.Effect<void, WriteError>) => void) | undefined
  list: List | undefined
  prev: Entry | undefined
  next: Entry | undefined
}

/** Ends an entry's write with `effect` (its writer may not be waiting yet). */
const settle = (entry: Entry, effect: Effect.Effect<void, WriteError>): void => {
  entry.result = effect
  const resume = entry.resume
  if (resume !== undefined) resume(effect)
}

/** A doubly-linked list of entries, so that a write that leaves the middle costs O(1). */
class List {
  head: Entry | undefined = undefined
  tail: Entry | undefined = undefined
  length = 0
  bytes = 0
  push(entry: Entry): void {
    entry.list = this
    entry.prev = this.tail
    entry.next = undefined
    if (this.tail) this.tail.next = entry
    else this.head = entry
    this.tail = entry
    this.length++
    this.bytes += entry.bytes
  }
  unshift(entry: Entry): void {
    entry.list = this
    entry.prev = undefined
    entry.next = this.head
    if (this.head) this.head.prev = entry
    else this.tail = entry
    this.head = entry
    this.length++
    this.bytes += entry.bytes
  }
  remove(entry: Entry): void {
    if (entry.prev) entry.prev.next = entry.next
    else this.head = entry.next
    if (entry.next) entry.next.prev = entry.prev
    else this.tail = entry.prev
    entry.prev = entry.next = entry.list = undefined
    this.length--
    this.bytes -= entry.bytes
  }
  shift(): Entry | undefined {
    const entry = this.head
    if (entry) this.remove(entry)
    return entry
  }
}

const byteLength = (data: Uint8Array | string): number =>
  typeof data === "string" ? Buffer.byteLength(data, "utf8") : data.byteLength

/**
 * The outbox's state: where writes go now. One value, changed by `setState` only.
 * @internal
 */
export type State =
  | { readonly _tag: "Down" }
  | { readonly _tag: "Up"; readonly sink: Sink; readonly ready: boolean }
  | { readonly _tag: "Closed"; readonly error: Closed }

/** @internal */
export class Outbox {
  private state: State = { _tag: "Down" }
  private readonly queued = new List()
  private readonly waiting = new List()
  private readonly buffered: Metric.Metric.Counter<number>
  private readonly rejected: Metric.Metric.Counter<number>

  constructor(
    readonly name: string,
    readonly limits: Limits,
    readonly timeout: Duration.Duration | undefined
  ) {
    this.buffered = Metric.tagged(metrics.buffered, "socket", name)
    this.rejected = Metric.tagged(metrics.rejected, "socket", name)
  }

  /** What is buffered now: queued writes and their bytes (suspended writers not counted). */
  get pending(): { readonly writes: number; readonly bytes: number; readonly waiting: number } {
    return { writes: this.queued.length, bytes: this.queued.bytes, waiting: this.waiting.length }
  }

  get current(): State {
    return this.state
  }

  private setState(next: State): void {
    this.state = next
  }

  /** Hands the queue to a new live socket, in order, then sends straight to it. */
  attach(sink: Sink): void {
    this.setState({ _tag: "Up", sink, ready: true })
    this.flush(sink)
  }

  /** The live socket `sink` is gone: writes queue until the next `attach`. */
  detach(sink: Sink): void {
    if (this.state._tag === "Up" && this.state.sink === sink) this.setState({ _tag: "Down" })
  }

  /** Fails every buffered and waiting write, and every later one, with `error` until `reopen`. */
  close(error: Closed): void {
    this.setState({ _tag: "Closed", error })
    const fail = Effect.fail(error)
    for (let entry = this.queued.shift(); entry; entry = this.queued.shift()) settle(entry, fail)
    for (let entry = this.waiting.shift(); entry; entry = this.waiting.shift()) settle(entry, fail)
  }

  /** After `close`, writes queue again (the socket was started again with `connect`). */
  reopen(): void {
    if (this.state._tag === "Closed") this.setState({ _tag: "Down" })
  }

  readonly write = (data: Uint8Array | string): Effect.Effect<void, WriteError> =>
    Effect.suspend(() => this.sendNow(data) ? Effect.void : this.enqueue(data))

  /** Sends straight to the live socket when it is open, keeping up, and nothing waits before it. */
  private sendNow(data: Uint8Array | string): boolean {
    const state = this.state
    if (state._tag !== "Up" || !state.ready || this.queued.length > 0 || this.waiting.length > 0) return false
    const sent = state.sink.send(data)
    if (sent === Sent.Ok) return true
    if (sent === Sent.Congested) {
      this.congested(state.sink)
      return true
    }
    // The socket died under us: it was not handed; the write is queued for the next one.
    this.detach(state.sink)
    return false
  }

  /**
   * The slow path. The state is read again and the write takes its place in the queue in one step
   * (no fiber can run in between, so no newer write overtakes it), uninterruptibly; only the wait
   * for the socket (bounded by `writeTimeout`) can be interrupted, and an interrupted or timed-out
   * write leaves the queue.
   */
  private enqueue(data: Uint8Array | string): Effect.Effect<void, WriteError> {
    return Effect.uninterruptibleMask((restore) =>
      Effect.suspend(() => {
        const state = this.state
        if (state._tag === "Closed") return Effect.fail(state.error)
        if (this.sendNow(data)) return Effect.void
        const entry: Entry = {
          data,
          bytes: byteLength(data),
          result: undefined,
          resume: undefined,
          list: undefined,
          prev: undefined,
          next: undefined
        }
        const full = this.admit(entry)
        if (full !== undefined) return Effect.zipRight(Metric.increment(this.rejected), Effect.fail(full))
        // Up and ready with something queued: only while a write ahead of this one left the queue.
        const now = this.state
        if (now._tag === "Up" && now.ready) this.flush(now.sink)
        const wait = Effect.async<void, WriteError>((resume) => {
          if (entry.result !== undefined) resume(entry.result)
          else entry.resume = resume
        })
        const timeout = this.timeout
        const bounded = timeout === undefined ? wait : Effect.timeoutFail(wait, {
          duration: timeout,
          onTimeout: () =>
            new Timeout({ connection: this.name, operation: "write", duration: timeout, kind: "Connection" })
        })
        return Metric.increment(this.buffered).pipe(
          Effect.zipRight(restore(bounded)),
          Effect.ensuring(Effect.sync(() => this.leave(entry))),
          Effect.tapError((error) => error._tag === "Closed" ? Effect.void : Metric.increment(this.rejected))
        )
      })
    )
  }

  /** Puts a new entry in the queue, or applies the overflow policy. Returns the error to fail with. */
  private admit(entry: Entry): BufferFull | undefined {
    const { bytes: maxBytes, messages: maxMessages, overflow } = this.limits
    if (entry.bytes > maxBytes) return this.full("bytes", false)
    if (this.waiting.length === 0 && this.fits(entry)) {
      this.queued.push(entry)
      return undefined
    }
    switch (overflow) {
      case "fail":
        return this.full(this.queued.length + 1 > maxMessages ? "messages" : "bytes", false)
      case "suspend":
        this.waiting.push(entry)
        return undefined
      case "dropOldest": {
        const error = this.full(this.queued.length + 1 > maxMessages ? "messages" : "bytes", true)
        for (let oldest = this.queued.head; oldest && !this.fits(entry); oldest = this.queued.head) {
          this.queued.remove(oldest)
          settle(oldest, Effect.fail(error))
        }
        this.queued.push(entry)
        return undefined
      }
    }
  }

  private fits(entry: Entry): boolean {
    return this.queued.length + 1 <= this.limits.messages && this.queued.bytes + entry.bytes <= this.limits.bytes
  }

  private full(limit: "messages" | "bytes", dropped: boolean): BufferFull {
    return new BufferFull({
      socket: this.name,
      limit,
      size: limit === "messages" ? this.limits.messages : this.limits.bytes,
      dropped
    })
  }

  /** An interrupted (or timed-out) write leaves whichever list holds it. */
  private leave(entry: Entry): void {
    const list = entry.list
    if (list === undefined) return
    list.remove(entry)
    this.admitWaiting()
  }

  /** Moves suspended writers into the queue while there is room, oldest first. */
  private admitWaiting(): void {
    for (let entry = this.waiting.head; entry && this.fits(entry); entry = this.waiting.head) {
      this.waiting.remove(entry)
      this.queued.push(entry)
    }
  }

  private congested(sink: Sink): void {
    if (this.state._tag !== "Up" || this.state.sink !== sink) return
    this.setState({ _tag: "Up", sink, ready: false })
    sink.onDrain(() => {
      if (this.state._tag === "Up" && this.state.sink === sink) {
        this.setState({ _tag: "Up", sink, ready: true })
        this.flush(sink)
      }
    })
  }

  /** Hands queued writes to `sink`, oldest first, until the queue is empty or the socket is full. */
  private flush(sink: Sink): void {
    for (;;) {
      this.admitWaiting()
      const entry = this.queued.shift()
      if (entry === undefined) return
      const sent = sink.send(entry.data)
      if (sent === Sent.Dead) {
        this.queued.unshift(entry)
        this.detach(sink)
        return
      }
      settle(entry, Effect.void)
      if (sent === Sent.Congested) {
        this.admitWaiting()
        this.congested(sink)
        return
      }
    }
  }
}
