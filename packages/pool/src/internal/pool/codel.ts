/**
 * DBConnection's queue management (a CoDel variant), as pure decisions: the pool tells it when a
 * connection is checked in and when its poll timer fires; it answers whether to shed and which
 * requests. It reads and writes only its own state, like DBConnection's backoff, which is data its
 * connection process consumes.
 *
 * The rule (DBConnection.ConnectionPool): the pool tracks the shortest wait of any request served
 * in the current interval. At each interval boundary, if that minimum exceeded the target, the
 * pool is "slow" for the next interval; while slow, a check-in drops every waiting request older
 * than 2 × target and serves the first younger one. The poll timer drops the same way when the
 * queue made no progress over a whole interval.
 *
 * @internal
 */

/** @internal */
export interface Codel {
  readonly target: number
  readonly interval: number
  /** The shortest wait served in the current interval. */
  delay: number
  /** Whether the previous interval's minimum exceeded the target. */
  slow: boolean
  /** When the current interval ends. */
  next: number
  /** When the poll runs next, and the head's request time at the previous poll. */
  poll: number
  lastSent: number
}

/** @internal */
export const make = (target: number, interval: number, now: number): Codel => ({
  target,
  interval,
  delay: 0,
  slow: false,
  next: now,
  poll: now + interval,
  lastSent: now
})

/**
 * A connection was checked in at `now`. Returns the request time before which waiting requests
 * are shed (`-Infinity`: none), and whether this check-in starts a new interval.
 *
 * @internal
 */
export const onCheckin = (codel: Codel, now: number): number => {
  if (now >= codel.next) {
    codel.slow = codel.delay > codel.target
    codel.next = now + codel.interval
    codel.delay = Infinity
    return -Infinity
  }
  return codel.slow ? now - 2 * codel.target : -Infinity
}

/**
 * The check-in served a request sent at `sent` (`undefined`: the queue was empty): the interval's
 * minimum wait follows.
 *
 * @internal
 */
export const onServed = (codel: Codel, now: number, sent: number | undefined): void => {
  if (sent === undefined) {
    codel.delay = 0
    return
  }
  const delay = now - sent
  if (delay < codel.delay) codel.delay = delay
}

/**
 * The poll timer fired at `now`; `headSent` is the oldest live request's time (`undefined`: none)
 * and `idle` whether a connection is idle. Returns the request time before which requests are
 * shed (`-Infinity`: none).
 *
 * @internal
 */
export const onPoll = (codel: Codel, now: number, headSent: number | undefined, idle: boolean): number => {
  let shedBefore = -Infinity
  if (headSent !== undefined && headSent <= codel.lastSent && !idle) {
    // No progress over the interval: the head waited through all of it.
    if (now >= codel.next) {
      codel.slow = codel.delay > codel.target
      codel.delay = now - headSent
      codel.next = now + codel.interval
      if (codel.slow) shedBefore = now - 2 * codel.target
    }
    codel.lastSent = headSent
  } else {
    codel.lastSent = headSent ?? now
  }
  codel.poll = now + codel.interval
  return shedBefore
}
