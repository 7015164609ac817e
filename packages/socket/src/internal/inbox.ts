/**
 * The read side of a resilient socket: what the live sockets received, in order, with a marker
 * at the start of each connection, for the socket's one reader (`messages` / `events`).
 *
 * - Bounded by pausing the socket, not by dropping: past `capacity` data items the live socket is
 *   paused (TCP then holds the peer back); it resumes once the reader has taken the buffer down to
 *   half. Markers do not count, and cannot pile up: a `Connected` marker with no data after it is
 *   replaced by the next one (which then reports both connections' unsent bytes).
 * - When the socket closes for good an `End` item is put last: the reader gets what came before,
 *   then `Closed`.
 *
 * @internal
 */
import type { Closed } from "@redial/core"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"

/** The marker at the start of each connection. @internal */
export class ConnectedMarker {
  readonly _tag = "Connected"
  constructor(
    readonly connection: number,
    /** Connections before this one whose end the reader has not seen yet (with no data of theirs). */
    readonly skipped: number,
    /** Bytes handed to the previous connection(s) that were still in its own buffer when it ended. */
    readonly unsent: number
  ) {}
}

class EndMarker {
  constructor(readonly error: Closed) {}
}

/** Pauses and resumes the live socket's reading. @internal */
export interface Source {
  readonly pause: () => void
  readonly resume: () => void
}

/** @internal */
export type Item<In> = In | ConnectedMarker

/** A fiber waiting in `take` (every item) or `takeData` (data only: markers are skipped). */
interface Reader<In> {
  readonly dataOnly: boolean
  readonly resume: (chunk: Chunk.Chunk<Item<In>> | Closed) => void
}

/** A reader called with each item as it comes (`ResilientSocket.run`). @internal */
export interface Handler<In> {
  readonly data: (data: In) => void
  readonly connected: (marker: ConnectedMarker) => void
  readonly end: (error: Closed) => void
}

/** The most items one take returns. */
const CHUNK = 4096

/** @internal */
export class Inbox<In> {
  private items: Array<In | ConnectedMarker | EndMarker> = []
  private head = 0
  /** Data items buffered (markers not counted). */
  private data = 0
  private readers: Array<Reader<In>> = []
  /** A `run` reading with a handler: it takes every item as it comes, nothing is buffered. */
  private handler: Handler<In> | undefined = undefined
  private source: Source | undefined = undefined
  private paused = false
  /** `end` was called and no connection came since: a second `end` adds nothing. */
  private ended = false

  constructor(readonly capacity: number) {}

  get size(): number {
    return this.data
  }

  /** A new connection: reads come from `source` from now on, after a `Connected` marker. */
  connected(connection: number, source: Source, unsent: number): void {
    this.ended = false
    this.source = source
    this.paused = false
    const last = this.items.length > this.head ? this.items[this.items.length - 1] : undefined
    if (this.handler !== undefined) {
      this.handler.connected(new ConnectedMarker(connection, 0, unsent))
    } else if (last instanceof ConnectedMarker) {
      this.items[this.items.length - 1] = new ConnectedMarker(connection, last.skipped + 1, last.unsent + unsent)
    } else {
      this.push(new ConnectedMarker(connection, 0, unsent))
    }
    if (this.data >= this.capacity) this.pauseSource()
  }

  /** Whether `source` is paused now because the reader is behind. */
  isPausing(source: Source): boolean {
    return this.paused && this.source === source
  }

  /** The live connection's source is gone. */
  disconnected(source: Source): void {
    if (this.source === source) {
      this.source = undefined
      this.paused = false
    }
  }

  readonly offer = (data: In): void => {
    const handler = this.handler
    if (handler !== undefined) return handler.data(data)
    this.data++
    this.push(data)
    if (this.data >= this.capacity) this.pauseSource()
  }

  /** The socket closed for good: the reader fails with `error` after what is buffered. */
  end(error: Closed): void {
    if (this.ended) return
    this.ended = true
    if (this.handler !== undefined) this.handler.end(error)
    else this.push(new EndMarker(error))
  }

  /** Started again after `end` (`connect`): an `End` the reader has not reached yet is taken back. */
  reopen(): void {
    if (!this.ended) return
    this.ended = false
    if (this.items.length > this.head && this.items[this.items.length - 1] instanceof EndMarker) this.items.pop()
  }

  /**
   * Hands every item to `handler` from now on, what is buffered first (in order), until `detach`.
   * A paused socket is resumed: the handler keeps up by taking each item as it comes.
   */
  attach(handler: Handler<In>): void {
    this.handler = handler
    const items = this.items
    const head = this.head
    this.items = []
    this.head = 0
    this.data = 0
    for (let i = head; i < items.length; i++) {
      const item = items[i]
      if (item instanceof EndMarker) handler.end(item.error)
      else if (item instanceof ConnectedMarker) handler.connected(item)
      else handler.data(item as In)
    }
    if (this.paused && this.source) {
      this.paused = false
      this.source.resume()
    }
  }

  detach(handler: Handler<In>): void {
    if (this.handler === handler) this.handler = undefined
  }

  private push(item: In | ConnectedMarker | EndMarker): void {
    // A reader waits only on an empty buffer: hand the item over (a data-only reader skips markers).
    if (this.readers.length > 0 && this.items.length === this.head) {
      if (item instanceof EndMarker) {
        const reader = this.readers.shift()
        if (reader !== undefined) return reader.resume(item.error)
      } else if (item instanceof ConnectedMarker) {
        const i = this.readers.findIndex((reader) => !reader.dataOnly)
        if (i >= 0) return this.readers.splice(i, 1)[0]?.resume(Chunk.of(item))
        // Only `messages` readers wait: the reader of this socket does not want markers.
        return
      } else {
        const reader = this.readers.shift()
        if (reader !== undefined) {
          this.data--
          return reader.resume(Chunk.of(item))
        }
      }
    }
    this.items.push(item)
  }

  private pauseSource(): void {
    if (!this.paused && this.source) {
      this.paused = true
      this.source.pause()
    }
  }

  /** Takes up to CHUNK items, waiting for one when empty. */
  readonly take: Effect.Effect<Chunk.Chunk<Item<In>>, Closed> = this.taker(false)

  /** Takes up to CHUNK data items (markers are skipped), waiting for one when there is none. */
  readonly takeData: Effect.Effect<Chunk.Chunk<In>, Closed> = this.taker(true) as Effect.Effect<
    Chunk.Chunk<In>,
    Closed
  >

  private taker(dataOnly: boolean): Effect.Effect<Chunk.Chunk<Item<In>>, Closed> {
    const wait = Effect.async<Chunk.Chunk<Item<In>>, Closed>((resume) => {
      const reader: Reader<In> = {
        dataOnly,
        resume: (chunk) => resume(Chunk.isChunk(chunk) ? Effect.succeed(chunk) : Effect.fail(chunk))
      }
      this.readers.push(reader)
      return Effect.sync(() => {
        const i = this.readers.indexOf(reader)
        if (i >= 0) this.readers.splice(i, 1)
      })
    })
    return Effect.suspend(() => {
      if (this.items.length > this.head) {
        const taken = this.takeNow(dataOnly)
        if (!Array.isArray(taken)) return Effect.fail(taken)
        if (taken.length > 0) return Effect.succeed(Chunk.unsafeFromArray(taken))
        // only markers were there, and a data reader skipped them
        if (this.items.length > this.head) return this.taker(dataOnly)
      }
      return wait
    })
  }

  private takeNow(dataOnly: boolean): Array<Item<In>> | Closed {
    const first = this.items[this.head]
    if (first instanceof EndMarker) {
      this.items[this.head++] = undefined as never
      this.compact()
      return first.error
    }
    const out: Array<Item<In>> = []
    while (this.head < this.items.length && out.length < CHUNK) {
      const item = this.items[this.head]
      if (item instanceof EndMarker) break
      this.items[this.head++] = undefined as never
      if (item instanceof ConnectedMarker) {
        if (!dataOnly) out.push(item)
      } else {
        this.data--
        out.push(item as Item<In>)
      }
    }
    this.compact()
    if (this.paused && this.data <= this.capacity / 2 && this.source) {
      this.paused = false
      this.source.resume()
    }
    return out
  }

  private compact(): void {
    if (this.head === this.items.length) {
      this.items = []
      this.head = 0
    } else if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head)
      this.head = 0
    }
  }
}
