/**
 * The requests waiting for a connection, oldest first. A request leaves the queue when it is
 * served, dropped, timed out or interrupted; the queue marks it done and skips it lazily, so each
 * of those is O(1). Requests being shed (sent before `shedBefore`) are dropped by the pool's timer a
 * slice at a time; until then `next` skips them.
 *
 * @internal
 */
import type * as Effect from "effect/Effect"
import { Fifo } from "./fifo.js"

/** @internal */
export interface Waiter<A, E> {
  /** When the request was made (ms on the pool's clock). */
  readonly sent: number
  resume: (effect: Effect.Effect<A, E>) => void
  /** Served, dropped, timed out or interrupted. */
  done: boolean
  /** What it was served with, until it takes it: an interrupted waiter gives it back. */
  served: A | undefined
}

/** @internal */
export class WaitQueue<A, E> {
  private readonly fifo = new Fifo<Waiter<A, E>>()
  /** Requests waiting: pushed and not yet settled. */
  private live = 0
  /** Requests sent before this are being shed. */
  shedBefore = -Infinity

  get size(): number {
    return this.live
  }

  push(waiter: Waiter<A, E>): void {
    this.fifo.push(waiter)
    this.live += 1
  }

  /** Marks a waiter done, once; false if it was already. */
  settle(waiter: Waiter<A, E>): boolean {
    if (waiter.done) return false
    waiter.done = true
    this.live -= 1
    return true
  }

  /** The oldest live request, shed or not. */
  head(): Waiter<A, E> | undefined {
    const fifo = this.fifo
    for (let first = fifo.peek(); first !== undefined && first.done; first = fifo.peek()) fifo.shift()
    return fifo.peek()
  }

  /** Removes and returns the oldest live request if `when` holds for it. */
  shiftIf(when: (waiter: Waiter<A, E>) => boolean): Waiter<A, E> | undefined {
    const first = this.head()
    if (first === undefined || !when(first)) return undefined
    this.fifo.shift()
    return first
  }

  /** Sheds every request sent before `cutoff`; true when one at the head is now due to be dropped. */
  shed(cutoff: number): boolean {
    if (cutoff <= this.shedBefore) return false
    this.shedBefore = cutoff
    const first = this.head()
    return first !== undefined && first.sent < cutoff
  }

  /** The oldest live request not being shed (a binary search past those being shed). */
  next(): Waiter<A, E> | undefined {
    const first = this.head()
    const cutoff = this.shedBefore
    if (first === undefined || first.sent >= cutoff) return first
    const fifo = this.fifo
    for (let i = fifo.countBefore((w) => w.sent < cutoff), w = fifo.at(i); w !== undefined; w = fifo.at(++i)) {
      if (!w.done) return w
    }
    return undefined
  }

  /** Removes every waiter (the pool closed); returns the live ones. */
  drain(): Array<Waiter<A, E>> {
    const out: Array<Waiter<A, E>> = []
    for (let w = this.head(); w !== undefined; w = this.head()) {
      this.fifo.shift()
      if (this.settle(w)) out.push(w)
    }
    return out
  }
}
