/**
 * LISTEN / NOTIFY over one core `Connection` that reconnects.
 *
 * - `Registry`: who listens to what (channel → subscribers), the live session, and whether the
 *   listener is closed. The streams' only entry points: subscribe, unsubscribe, dispatch.
 * - `Session`: one backend, and what was sent to it for each channel (`Listening`: LISTEN sent,
 *   `Listened`: in effect, `Unlistening`: UNLISTEN sent). Written only by that session's `sync`
 *   (one fiber at a time: `afterConnect`, then the session's worker) and by `confirm`.
 * - `Subscriber`: one stream's bounded buffer (drop oldest) with its gap markers.
 *
 * `sync` brings the backend to the registry's channels: LISTEN what is wanted and not sent,
 * UNLISTEN what is in effect and no longer wanted, in one statement each (one round trip for a
 * whole re-LISTEN after a reconnect). `afterConnect` runs it before the connection is handed out,
 * so a new backend listens to every channel before its status is `Connected`; then every
 * subscribe and unsubscribe wakes the session's worker, which runs it again.
 *
 * @internal
 */
import { Closed, Connection, InvalidOption, Options as CoreOptions, Reconnect, type Timeout } from "@redial/core"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type pg from "pg"
import * as PgDriver from "../PgDriver.js"
import { classify, type PgError } from "../PgError.js"
import type * as PgListen from "../PgListen.js"

// ---------------------------------------------------------------------------------------------
// Channel names
// ---------------------------------------------------------------------------------------------

/** PostgreSQL's NAMEDATALEN - 1: a longer identifier is truncated, and pg_notify rejects it. */
const MAX_CHANNEL_BYTES = 63

/** A channel as a quoted identifier: any text, with `"` doubled, is one name and never SQL. */
export const quote = (channel: string): string => `"${channel.replace(/"/g, "\"\"")}"`

/** Why `channel` cannot be a channel name, or `undefined`. Never quotes the name. */
export const checkChannel = (channel: unknown): InvalidOption | undefined => {
  if (typeof channel !== "string" || channel.length === 0) {
    return new InvalidOption({ option: "channel", reason: "Invalid", detail: "must be a non-empty string" })
  }
  if (channel.includes("\u0000")) {
    return new InvalidOption({ option: "channel", reason: "Invalid", detail: "must not contain a NUL character" })
  }
  const bytes = Buffer.byteLength(channel, "utf8")
  if (bytes > MAX_CHANNEL_BYTES) {
    return new InvalidOption({
      option: "channel",
      reason: "OutOfRange",
      detail: `must be at most ${MAX_CHANNEL_BYTES} bytes in UTF-8, PostgreSQL's identifier limit (got ${bytes})`
    })
  }
  return undefined
}

// ---------------------------------------------------------------------------------------------
// A stream's buffer
// ---------------------------------------------------------------------------------------------

type Failure = PgError | Closed

const missed = (channel: string, dropped: number, reconnected: boolean): PgListen.Missed => ({
  _tag: "Missed",
  channel,
  dropped,
  reconnected
})

const merge = (a: PgListen.Missed, b: PgListen.Missed): PgListen.Missed =>
  missed(a.channel, a.dropped + b.dropped, a.reconnected || b.reconnected)

/** Past this many consumed slots at the front, the array is compacted (amortised O(1) a push). */
const COMPACT_AFTER = 1024

/**
 * One stream: a buffer of at most `capacity` notifications. When a notification arrives and the
 * buffer is full, the oldest notification is dropped; with markers, a `Missed` takes its place
 * (merged with a neighbouring `Missed`), so the stream says where the gap is and how big. Two
 * `Missed` are never adjacent and `Listening` comes once, so markers never outnumber the
 * notifications by more than two: the buffer is bounded.
 */
class Subscriber {
  /** The session on which this stream's channel was last seen in effect. */
  session: Session | undefined = undefined
  private items: Array<PgListen.Event> = []
  private head = 0
  private notifications = 0
  private wake: (() => void) | undefined = undefined
  private failure: Failure | undefined = undefined

  constructor(readonly channel: string, readonly capacity: number, readonly markers: boolean) {}

  offer(notification: PgListen.Notification): void {
    if (this.failure !== undefined) return
    if (this.notifications === this.capacity) this.dropOldest()
    this.items.push(notification)
    this.notifications++
    this.signal()
  }

  /** The channel is in effect on `session`: from now on this stream gets its notifications. */
  listened(session: Session): void {
    const resumed = this.session !== undefined
    this.session = session
    if (!this.markers || this.failure !== undefined) return
    if (!resumed) this.items.push({ _tag: "Listening", channel: this.channel })
    else {
      const gap = missed(this.channel, 0, true)
      const last = this.items.length > this.head ? this.items.at(-1) : undefined
      if (last?._tag === "Missed") this.items[this.items.length - 1] = merge(last, gap)
      else this.items.push(gap)
    }
    this.signal()
  }

  fail(failure: Failure): void {
    if (this.failure !== undefined) return
    this.failure = failure
    this.signal()
  }

  /** What is buffered (at once), else waits for something; `Some(error)` once failed and drained. */
  readonly take: Effect.Effect<Chunk.Chunk<PgListen.Event>, Option.Option<Failure>> = Effect.suspend(() => {
    if (this.head < this.items.length) return Effect.succeed(this.drain())
    if (this.failure !== undefined) return Effect.fail(Option.some(this.failure))
    return Effect.async<Chunk.Chunk<PgListen.Event>, Option.Option<Failure>>((resume) => {
      this.wake = () => resume(this.take)
      return Effect.sync(() => {
        this.wake = undefined
      })
    })
  })

  private signal(): void {
    const wake = this.wake
    this.wake = undefined
    wake?.()
  }

  private drain(): Chunk.Chunk<PgListen.Event> {
    const out = this.head === 0 ? this.items : this.items.slice(this.head)
    this.items = []
    this.head = 0
    this.notifications = 0
    return Chunk.unsafeFromArray(out)
  }

  private dropOldest(): void {
    this.notifications--
    if (!this.markers) {
      this.head++
    } else {
      // The front holds at most `Listening` and one `Missed` before the first notification.
      const front: Array<PgListen.Event> = []
      let item = this.items[this.head++]
      while (item !== undefined && item._tag !== "Notification") {
        front.push(item)
        item = this.items[this.head++]
      }
      let gap = missed(this.channel, 1, false)
      const before = front[front.length - 1]
      if (before?._tag === "Missed") {
        front.pop()
        gap = merge(before, gap)
      }
      const after = this.items[this.head]
      if (after?._tag === "Missed") {
        this.head++
        gap = merge(gap, after)
      }
      front.push(gap)
      this.head -= front.length
      this.items.splice(this.head, front.length, ...front)
    }
    if (this.head >= COMPACT_AFTER && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head)
      this.head = 0
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Sessions and the registry
// ---------------------------------------------------------------------------------------------

type Sent = "Listening" | "Listened" | "Unlistening"

/** One backend and what was sent to it; its worker wakes on `signal`. */
class Session {
  readonly sent = new Map<string, Sent>()
  constructor(readonly connection: PgDriver.PgConnection, readonly signal: Queue.Queue<void>) {}
  wake(): void {
    this.signal.unsafeOffer(undefined)
  }
}

class Registry {
  readonly channels = new Map<string, Set<Subscriber>>()
  current: Session | undefined = undefined
  /** Set while the connection is closed for good (not by the user): new streams fail with it. */
  closed: Closed | undefined = undefined

  /** Adds a stream; it gets its channel's notifications once LISTEN is in effect. */
  subscribe(subscriber: Subscriber): Closed | undefined {
    if (this.closed !== undefined) return this.closed
    const channel = subscriber.channel
    let subscribers = this.channels.get(channel)
    if (subscribers === undefined) {
      subscribers = new Set()
      this.channels.set(channel, subscribers)
    }
    subscribers.add(subscriber)
    const session = this.current
    if (session === undefined) return undefined
    if (session.sent.get(channel) === "Listened") subscriber.listened(session)
    else session.wake()
    return undefined
  }

  /** Removes a stream; the last one of a channel makes the session UNLISTEN it. */
  unsubscribe(subscriber: Subscriber): void {
    const subscribers = this.channels.get(subscriber.channel)
    if (subscribers === undefined || !subscribers.delete(subscriber)) return
    if (subscribers.size > 0) return
    this.channels.delete(subscriber.channel)
    this.current?.wake()
  }

  /** LISTEN `channel` is in effect on `session` (its statement completed, or a notification came). */
  confirm(session: Session, channel: string): void {
    session.sent.set(channel, "Listened")
    if (this.current !== session) return
    const subscribers = this.channels.get(channel)
    if (subscribers === undefined) return
    for (const subscriber of subscribers) if (subscriber.session !== session) subscriber.listened(session)
  }

  /** A notification from `session`'s backend, to every stream in effect there. */
  dispatch(session: Session, message: pg.Notification): void {
    const channel = message.channel
    if (session.sent.get(channel) === "Listening") this.confirm(session, channel)
    const subscribers = this.channels.get(channel)
    if (subscribers === undefined) return
    const notification: PgListen.Notification = {
      _tag: "Notification",
      channel,
      payload: message.payload ?? "",
      processId: message.processId
    }
    for (const subscriber of subscribers) if (subscriber.session === session) subscriber.offer(notification)
  }

  /** Fails the streams of `channel` (their LISTEN failed) and forgets them. */
  failChannel(channel: string, failure: Failure): void {
    const subscribers = this.channels.get(channel)
    if (subscribers === undefined) return
    this.channels.delete(channel)
    for (const subscriber of subscribers) subscriber.fail(failure)
  }

  /** Fails every stream; while `closed`, new ones fail at once. */
  close(closed: Closed): void {
    this.closed = closed
    for (const channel of [...this.channels.keys()]) this.failChannel(channel, closed)
  }
}

// ---------------------------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------------------------

const DEFAULT_BUFFER_SIZE = 1024

/** The default policy: a lost LISTEN connection loses notifications, so it retries soon. */
export const defaultPolicy = Reconnect.randomExponential({ min: "100 millis", max: "5 seconds" })

const bufferSize = CoreOptions.integer({ min: 1 })

const Settings = Schema.Struct({
  name: Schema.optionalWith(CoreOptions.nonEmptyString, { default: () => "postgres-listen" }),
  bufferSize: Schema.optionalWith(bufferSize, { default: () => DEFAULT_BUFFER_SIZE }),
  healthCheck: Schema.optional(
    Schema.Struct({ interval: CoreOptions.duration(), timeout: Schema.optional(CoreOptions.duration()) })
  )
})

const DEFAULT_HEALTH_CHECK = { interval: "30 seconds", timeout: "10 seconds" } as const

// ---------------------------------------------------------------------------------------------
// The listener
// ---------------------------------------------------------------------------------------------

/** @internal */
export const make = (
  options: PgListen.Options
): Effect.Effect<PgListen.PgListen, InvalidOption, Scope.Scope> =>
  Effect.gen(function*() {
    const settings = yield* Either.match(
      CoreOptions.decode(Settings, {
        name: options.name,
        bufferSize: options.bufferSize,
        healthCheck: options.healthCheck === false ? undefined : options.healthCheck ?? DEFAULT_HEALTH_CHECK
      }),
      { onLeft: Effect.fail, onRight: Effect.succeed }
    )
    const name = settings.name
    const connect = options.connect ?? {}
    const secrets = connect.password === undefined ? [] : [Redacted.value(connect.password)]
    const driver = PgDriver.make({ name })
    const registry = new Registry()
    const sessions = new WeakMap<PgDriver.PgConnection, Session>()

    const query = (
      connection: PgDriver.PgConnection,
      operation: PgError["operation"],
      text: string,
      values?: ReadonlyArray<unknown>
    ): Effect.Effect<pg.QueryResult, PgError> =>
      Effect.async<pg.QueryResult, PgError>((resume) => {
        const callback = (error: Error | undefined, result: pg.QueryResult) =>
          resume(
            error
              ? Effect.fail(classify(error, { operation, connection: name, secrets }))
              : Effect.succeed(result)
          )
        if (values === undefined) connection.client.query(text, callback)
        else connection.client.query(text, values as Array<unknown>, callback)
      })

    const isConnectionError = (session: Session, error: PgError): boolean =>
      session.connection.isClosed || error.reason === "ConnectionLost" || error.severity === "FATAL" ||
      error.severity === "PANIC"

    /**
     * Brings `session`'s backend to the registry's channels in one pass; a change made while it
     * runs wakes the session's worker, which runs it again.
     */
    const sync = (session: Session): Effect.Effect<void, PgError> =>
      Effect.gen(function*() {
        const listen: Array<string> = []
        const unlisten: Array<string> = []
        for (const channel of registry.channels.keys()) if (!session.sent.has(channel)) listen.push(channel)
        for (const [channel, sent] of session.sent) {
          if (sent === "Listened" && !registry.channels.has(channel)) unlisten.push(channel)
        }
        if (listen.length === 0 && unlisten.length === 0) return
        if (listen.length > 0) {
          for (const channel of listen) session.sent.set(channel, "Listening")
          const done = yield* Effect.either(
            query(session.connection, "listen", listen.map((c) => `LISTEN ${quote(c)}`).join("; "))
          )
          if (Either.isRight(done)) {
            for (const channel of listen) {
              if (session.sent.get(channel) === "Listening") registry.confirm(session, channel)
            }
            yield* Effect.logDebug(`redial: postgres listen "${name}": LISTEN ${listen.length} channel(s)`)
          } else {
            const error = done.left
            if (isConnectionError(session, error)) return yield* error
            // A statement error (e.g. a hot standby, which cannot LISTEN): those streams fail.
            for (const channel of listen) {
              session.sent.delete(channel)
              registry.failChannel(channel, error)
            }
            yield* Effect.logWarning(`redial: postgres listen "${name}": LISTEN failed`).pipe(
              Effect.annotateLogs("error", error.message)
            )
          }
        }
        if (unlisten.length > 0) {
          for (const channel of unlisten) session.sent.set(channel, "Unlistening")
          yield* query(session.connection, "listen", unlisten.map((c) => `UNLISTEN ${quote(c)}`).join("; "))
          for (const channel of unlisten) {
            if (session.sent.get(channel) === "Unlistening") session.sent.delete(channel)
          }
          yield* Effect.logDebug(`redial: postgres listen "${name}": UNLISTEN ${unlisten.length} channel(s)`)
        }
      }).pipe(Effect.annotateLogs({ connection: name }))

    const connection: Connection.Connection<PgDriver.PgConnection> = yield* Connection.make<
      PgDriver.PgConnection,
      PgError,
      never,
      PgDriver.ConnectOptions
    >({
      name,
      config: connect,
      acquire: (attempt) =>
        Effect.gen(function*() {
          const pgConnection = yield* driver.connect(attempt)
          const session = new Session(pgConnection, yield* Queue.dropping<void>(1))
          const onNotification = (message: pg.Notification) => registry.dispatch(session, message)
          yield* Effect.acquireRelease(
            Effect.sync(() => {
              pgConnection.client.on("notification", onNotification)
              sessions.set(pgConnection, session)
            }),
            () =>
              Effect.sync(() => {
                pgConnection.client.off("notification", onNotification)
                if (registry.current === session) registry.current = undefined
              })
          )
          return pgConnection
        }),
      lost: (pgConnection) => driver.lost === undefined ? Effect.never : driver.lost(pgConnection),
      isFatal: (error) => error._tag === "PgError" && error.fatal,
      // Every channel is LISTENed on the new backend before anyone gets the connection.
      afterConnect: (pgConnection): Effect.Effect<void, PgError, Scope.Scope> =>
        Effect.gen(function*() {
          const session = sessions.get(pgConnection)
          if (session === undefined) return yield* Effect.dieMessage("PgListen: a connection without its session")
          registry.current = session
          yield* sync(session)
          yield* Queue.take(session.signal).pipe(
            Effect.zipRight(sync(session)),
            Effect.forever,
            // The backend is gone (lost reports it too) or an UNLISTEN failed: start afresh.
            Effect.catchAll((error) => connection.invalidate(error, pgConnection)),
            Effect.forkScoped
          )
        }),
      ...(options.policy === undefined ? { policy: defaultPolicy } : { policy: options.policy }),
      ...(options.connectTimeout === undefined ? {} : { connectTimeout: options.connectTimeout }),
      ...(options.minUptime === undefined ? {} : { minUptime: options.minUptime }),
      ...(settings.healthCheck === undefined ? {} : {
        healthCheck: {
          interval: settings.healthCheck.interval,
          timeout: settings.healthCheck.timeout ?? settings.healthCheck.interval,
          // Not the driver's ping: an interrupted ping sends a CancelRequest and waits for it
          // (`cancelTimeout`), which on a black-holed path doubles the time to notice the loss.
          check: (pgConnection: PgDriver.PgConnection) => query(pgConnection, "ping", "SELECT 1")
        }
      })
    })

    // The connection closed for good (fatal error, policy gave up): every stream fails with it.
    // A `close` by the user is not for good (`connect` starts again): the streams wait.
    yield* connection.changes.pipe(
      Stream.runForEach((status) =>
        Effect.sync(() => {
          if (status._tag === "Closed" && status.reason !== "UserClosed") {
            registry.close(new Closed({ connection: name, reason: status.reason, error: status.error }))
          } else if (status._tag === "Connecting") {
            registry.closed = undefined
          }
        })
      ),
      Effect.forkScoped
    )
    // Runs before the connection closes (finalizers run last added first).
    yield* Effect.addFinalizer(() =>
      Effect.sync(() => registry.close(new Closed({ connection: name, reason: "ScopeClosed" })))
    )

    const subscribe = (
      channel: string,
      streamOptions: PgListen.StreamOptions | undefined,
      markers: boolean
    ): Stream.Stream<PgListen.Event, PgListen.ListenError> =>
      Stream.unwrapScoped(Effect.gen(function*() {
        const invalid = checkChannel(channel)
        if (invalid !== undefined) return yield* invalid
        const capacity = streamOptions?.bufferSize === undefined
          ? settings.bufferSize
          : yield* CoreOptions.decodeEffect(bufferSize, streamOptions.bufferSize, { prefix: "bufferSize" })
        const subscriber = new Subscriber(channel, capacity, markers)
        yield* Effect.acquireRelease(
          Effect.suspend(() => {
            const closed = registry.subscribe(subscriber)
            return closed === undefined ? Effect.void : Effect.fail(closed)
          }),
          () => Effect.sync(() => registry.unsubscribe(subscriber))
        )
        return Stream.repeatEffectChunkOption(subscriber.take)
      }))

    const notify = (channel: string, payload = "") =>
      Effect.suspend((): Effect.Effect<unknown, PgError | Closed | Timeout | InvalidOption> => {
        const invalid = checkChannel(channel)
        if (invalid !== undefined) return Effect.fail(invalid)
        return connection.use(
          (pgConnection) => query(pgConnection, "query", "SELECT pg_notify($1, $2)", [channel, payload]),
          { timeout: options.notifyTimeout ?? options.connectTimeout ?? "15 seconds" }
        )
      }).pipe(Effect.asVoid)

    const listening = Effect.sync((): ReadonlyArray<string> => {
      const session = registry.current
      if (session === undefined || session.connection.isClosed) return []
      const out: Array<string> = []
      for (const [channel, sent] of session.sent) if (sent === "Listened") out.push(channel)
      return out
    })

    const self: PgListen.PgListen = {
      name,
      listen: (channel, streamOptions) =>
        subscribe(channel, streamOptions, false) as Stream.Stream<PgListen.Notification, PgListen.ListenError>,
      events: (channel, streamOptions) => subscribe(channel, streamOptions, true),
      notify,
      listening,
      status: connection.status,
      changes: connection.changes,
      connection
    }
    return self
  })
