/**
 * The fibers waiting in `Connection.await`, owned by their connection.
 *
 * Each waiter is one `Effect.async` callback in a set: the connection resumes them all when it
 * connects or closes, and an interrupted waiter removes itself, from the set and from the
 * deadline heap, at once. Waiters with a timeout are also kept in a min-heap by deadline, served
 * by one `Alarm` per connection. `Effect.timeoutFail` around each wait would fork two fibers per
 * waiter instead: four times the memory and several times the resume time for many waiters.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as Alarm from "./alarm.js"

interface Waiter<A, E> {
  readonly resume: (effect: Effect.Effect<A, E>) => void
  readonly deadline: number
  readonly onTimeout: () => E
  /** The waiter's position in the deadline heap, -1 when it is not there. */
  index: number
}

/** @internal */
export interface Waiters<A, E> {
  /**
   * Waits until `resumeAll`, or until `timeout` ms pass (then fails with `onTimeout()`). `now` is
   * asked first, in the same synchronous step as the registration, so no `resumeAll` can fall
   * between the check and the wait: when it returns an effect, that is the result at once.
   */
  readonly wait: (
    now: () => Effect.Effect<A, E> | undefined,
    timeout?: { readonly millis: number; readonly onTimeout: () => E }
  ) => Effect.Effect<A, E>
  /** Resumes every waiter with `effect`. */
  readonly resumeAll: (effect: Effect.Effect<A, E>) => void
  /** How many fibers wait. */
  readonly size: () => number
  /** How many of them have a deadline (entries in the deadline heap). */
  readonly timed: () => number
}

/**
 * Waiters whose deadlines are read from and slept on the `Clock` of the caller; the alarm fiber
 * lives in the caller's scope.
 *
 * @internal
 */
export const make = <A, E>(): Effect.Effect<Waiters<A, E>, never, Scope.Scope> =>
  Effect.gen(function*() {
    const clock = yield* Effect.clock
    const waiting = new Set<Waiter<A, E>>()
    const deadlines = new DeadlineHeap<Waiter<A, E>>()

    // Times out every waiter whose deadline has passed; the alarm's next wake is the next deadline.
    const alarm = yield* Alarm.make((now) =>
      Effect.sync(() => {
        let next = deadlines.peek()
        while (next !== undefined && next.deadline <= now) {
          deadlines.pop()
          waiting.delete(next)
          next.resume(Effect.fail(next.onTimeout()))
          next = deadlines.peek()
        }
        return next === undefined ? Infinity : next.deadline
      })
    )

    const park = (now: () => Effect.Effect<A, E> | undefined, timeout?: {
      readonly millis: number
      readonly onTimeout: () => E
    }) =>
      Effect.async<A, E>((resume) => {
        const ready = now()
        if (ready !== undefined) return resume(ready)
        const deadline = timeout === undefined ? Infinity : clock.unsafeCurrentTimeMillis() + timeout.millis
        const waiter: Waiter<A, E> = { resume, deadline, onTimeout: timeout?.onTimeout ?? noTimeout, index: -1 }
        waiting.add(waiter)
        if (deadline !== Infinity) {
          deadlines.push(waiter)
          alarm.wakeBy(deadline)
        }
        return Effect.sync(() => {
          waiting.delete(waiter)
          deadlines.remove(waiter)
        })
      })

    return {
      wait: park,
      resumeAll: (effect) => {
        const resumed = Array.from(waiting)
        waiting.clear()
        deadlines.clear()
        for (const waiter of resumed) waiter.resume(effect)
      },
      size: () => waiting.size,
      timed: () => deadlines.size()
    }
  })

const noTimeout = (): never => {
  throw new Error("a waiter without a deadline timed out")
}

/**
 * A binary min-heap by `deadline` in which every entry knows its position, so an interrupted
 * waiter is taken out in O(log n) at once instead of staying until its deadline.
 */
class DeadlineHeap<T extends { readonly deadline: number; index: number }> {
  private readonly items: Array<T> = []

  size(): number {
    return this.items.length
  }

  peek(): T | undefined {
    return this.items[0]
  }

  clear(): void {
    for (const item of this.items) item.index = -1
    this.items.length = 0
  }

  push(item: T): void {
    item.index = this.items.length
    this.items.push(item)
    this.up(item.index)
  }

  pop(): T | undefined {
    const top = this.items[0]
    if (top !== undefined) this.removeAt(0)
    return top
  }

  remove(item: T): void {
    if (item.index >= 0 && this.items[item.index] === item) this.removeAt(item.index)
  }

  private removeAt(i: number): void {
    const items = this.items
    const removed = items[i] as T
    const last = items.pop() as T
    removed.index = -1
    if (i === items.length) return
    items[i] = last
    last.index = i
    this.down(i)
    this.up(last.index)
  }

  private set(i: number, item: T): void {
    this.items[i] = item
    item.index = i
  }

  private up(i: number): void {
    const items = this.items
    const item = items[i] as T
    while (i > 0) {
      const parent = (i - 1) >> 1
      const above = items[parent] as T
      if (above.deadline <= item.deadline) break
      this.set(i, above)
      i = parent
    }
    this.set(i, item)
  }

  private down(i: number): void {
    const items = this.items
    const n = items.length
    const item = items[i] as T
    while (true) {
      const left = 2 * i + 1
      if (left >= n) break
      const right = left + 1
      const child = right < n && (items[right] as T).deadline < (items[left] as T).deadline ? right : left
      const below = items[child] as T
      if (below.deadline >= item.deadline) break
      this.set(i, below)
      i = child
    }
    this.set(i, item)
  }
}
