/**
 * A FIFO queue on an array with a moving head: O(1) push and shift, and entries removed from the
 * middle lazily (the consumer skips entries marked done; `retain` drops them in one pass).
 *
 * @internal
 */
export class Fifo<A> {
  private items: Array<A | undefined> = []
  private head = 0

  get length(): number {
    return this.items.length - this.head
  }

  push(item: A): void {
    this.items.push(item)
  }

  peek(): A | undefined {
    return this.items[this.head]
  }

  shift(): A | undefined {
    if (this.head >= this.items.length) return undefined
    const item = this.items[this.head]
    this.items[this.head] = undefined
    this.head += 1
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head)
      this.head = 0
    }
    return item
  }

  /** The entry `index` places behind the head. */
  at(index: number): A | undefined {
    return this.items[this.head + index]
  }

  /**
   * How many entries at the head satisfy `before`, for a predicate that holds for a prefix of
   * the queue and for nothing after it (a binary search: O(log n)).
   */
  countBefore(before: (item: A) => boolean): number {
    let low = this.head
    let high = this.items.length
    while (low < high) {
      const middle = (low + high) >>> 1
      if (before(this.items[middle] as A)) low = middle + 1
      else high = middle
    }
    return low - this.head
  }

  /** Keeps only the entries `keep` holds for, in order (O(n)). */
  retain(keep: (item: A) => boolean): void {
    const kept: Array<A | undefined> = []
    for (let i = this.head; i < this.items.length; i++) {
      const item = this.items[i] as A
      if (keep(item)) kept.push(item)
    }
    this.items = kept
    this.head = 0
  }
}
