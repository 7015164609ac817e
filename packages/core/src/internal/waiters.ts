/**
 * The fibers waiting in `Connection.await`, owned by their connection.
 *
 * Each waiter is one `Effect.async` callback in a set: the connection resumes them all when it
 * connects or closes, and an interrupted waiter removes itself. Waiters with a timeout are also
 * kept in a min-heap by deadline, served by one timer fiber per connection that sleeps (on
 * `Clock`) until the earliest deadline. `Effect.timeoutFail` around each wait would fork two
 * fibers per waiter instead: four times the memory and several times the resume time for many
 * waiters.
 *
 * @internal
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"

interface Waiter<A, E> {
  readonly resume: (effect: Effect.Effect<A, E>) => void
  readonly deadline: number
  readonly onTimeout: () => E
  done: boolean
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
  /** Stops the timer: waiters left behind are resumed by the caller first. */
  readonly shutdown: Effect.Effect<void>
  readonly size: () => number
}

/** @internal */
export const make = <A, E>(): Waiters<A, E> => {
  const waiting = new Set<Waiter<A, E>>()
  const deadlines = new MinHeap<Waiter<A, E>>((waiter) => waiter.deadline)
  let timer: { readonly at: number; readonly fiber: Fiber.RuntimeFiber<void> } | undefined

  const finish = (waiter: Waiter<A, E>, effect: Effect.Effect<A, E>) => {
    waiter.done = true
    waiting.delete(waiter)
    waiter.resume(effect)
  }

  // Times out every waiter whose deadline has passed, then sleeps until the next deadline.
  const expire: Effect.Effect<void> = Effect.gen(function*() {
    while (true) {
      const now = yield* Clock.currentTimeMillis
      let next = deadlines.peek()
      while (next !== undefined && (next.done || next.deadline <= now)) {
        deadlines.pop()
        if (!next.done) finish(next, Effect.fail(next.onTimeout()))
        next = deadlines.peek()
      }
      if (next === undefined) return
      yield* Effect.sleep(next.deadline - now)
    }
  })

  // Runs in the waiter's fiber, so the timer inherits its Clock (TestClock in tests).
  const arm = (deadline: number): Effect.Effect<void> =>
    Effect.suspend(() => {
      if (timer !== undefined && timer.at <= deadline) return Effect.void
      const previous = timer?.fiber
      return Effect.forkDaemon(expire).pipe(
        Effect.flatMap((fiber) => {
          const current = { at: deadline, fiber }
          timer = current
          fiber.addObserver(() => {
            if (timer === current) timer = undefined
          })
          return previous ? Fiber.interruptFork(previous) : Effect.void
        })
      )
    })

  const park = (now: () => Effect.Effect<A, E> | undefined, deadline: number, onTimeout: () => E) =>
    Effect.async<A, E>((resume) => {
      const ready = now()
      if (ready !== undefined) return resume(ready)
      const waiter: Waiter<A, E> = { resume, deadline, onTimeout, done: false }
      waiting.add(waiter)
      if (deadline !== Infinity) deadlines.push(waiter)
      return Effect.sync(() => {
        waiter.done = true
        waiting.delete(waiter)
      })
    })

  const noTimeout = (): E => {
    throw new Error("a waiter without a deadline timed out")
  }

  return {
    wait: (now, timeout) =>
      timeout === undefined ? park(now, Infinity, noTimeout) : Effect.flatMap(Clock.currentTimeMillis, (time) => {
        const deadline = time + timeout.millis
        return Effect.zipRight(arm(deadline), park(now, deadline, timeout.onTimeout))
      }),
    resumeAll: (effect) => {
      for (const waiter of waiting) {
        waiter.done = true
        waiter.resume(effect)
      }
      waiting.clear()
      deadlines.clear()
    },
    shutdown: Effect.suspend(() => {
      const fiber = timer?.fiber
      timer = undefined
      return fiber ? Fiber.interrupt(fiber) : Effect.void
    }),
    size: () => waiting.size
  }
}

/** A binary min-heap; entries are removed lazily (the timer skips waiters already done). */
class MinHeap<T> {
  private readonly items: Array<T> = []
  constructor(private readonly key: (item: T) => number) {}

  private keyAt(i: number): number {
    return this.key(this.items[i] as T)
  }

  peek(): T | undefined {
    return this.items[0]
  }

  clear(): void {
    this.items.length = 0
  }

  push(item: T): void {
    const items = this.items
    items.push(item)
    let i = items.length - 1
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (this.keyAt(parent) <= this.key(item)) break
      items[i] = items[parent] as T
      i = parent
    }
    items[i] = item
  }

  pop(): T | undefined {
    const items = this.items
    const top = items[0]
    const last = items.pop()
    if (items.length === 0 || last === undefined) return top
    let i = 0
    const n = items.length
    while (true) {
      const left = 2 * i + 1
      if (left >= n) break
      const right = left + 1
      const child = right < n && this.keyAt(right) < this.keyAt(left) ? right : left
      if (this.keyAt(child) >= this.key(last)) break
      items[i] = items[child] as T
      i = child
    }
    items[i] = last
    return top
  }
}
