/**
 * How soon messages flow again after the server is back: the time from the moment a stopped echo
 * server listens again (on the same port) to the first echoed message the reader gets, against
 * what the reconnect policy allows, the remaining delay of the backoff in progress.
 *
 * A `ResilientSocket` (TCP, or WebSocket) talks to an echo server in the bench process
 * (servers.ts `local`: here the moment of the restart must be exact, on the bench's own clock).
 * Each round:
 *
 * 1. the socket is up for `SETTLE_MS` (longer than its `minUptime`, so the stop is the loss of a
 *    connection that lived, and the policy starts from its beginning) and one message makes the
 *    round trip; a fiber on `changes` notes when each status arrived;
 * 2. the server stops (its listener closed, its connections destroyed); from then a writer forks
 *    a `write` of a 1 KB message every `WRITE_EVERY_MS`: they wait in the socket's buffer. The
 *    socket reconnects at once, is refused, and backs off (the policy's `Backoff` statuses);
 * 3. at `offset` into the `backoff`-th `Backoff` (offsets spread over the delay, one per round)
 *    the server listens again: the restart, at time R (its `listening` event); remaining =
 *    the `Backoff`'s `delay` − (R − the time that status arrived);
 * 4. the reader (`Stream.runForEach(socket.messages, …)`, running all along) notes the first data
 *    after R: the echo of the first buffered write, sent on the new connection.
 *
 * first message − remaining is what redial adds to the policy's wait; its floor, measured in each
 * round once redial is back: a new socket of the same kind (`net.Socket`, `ws`) connects and has
 * one 1 KB message echoed (what any client must do after an outage).
 */
import { type Connection, Reconnect } from "@redial/core"
import { ResilientSocket } from "@redial/socket"
import { Deferred, Duration, Effect, Fiber, Logger, LogLevel, Queue, type Schedule, type Scope, Stream } from "effect"
import * as Net from "node:net"
import WebSocket from "ws"
import { fixed, median, met, table } from "../../../bench/report.js"
import * as Servers from "./servers.js"

const ROUNDS = 10
const SETTLE_MS = 400
const MIN_UPTIME = Duration.millis(250)
const WRITE_EVERY_MS = 10
const TARGET_MS = 50
const SIZE = 1024
const message: Uint8Array = Buffer.alloc(SIZE, "redial ")

interface Case {
  readonly transport: "tcp" | "ws"
  readonly policyName: string
  readonly policy: Schedule.Schedule<unknown, unknown>
  /** The server comes back during this `Backoff` after the loss (1: the first). */
  readonly backoff: number
}

const CASES: ReadonlyArray<Case> = [
  {
    transport: "tcp",
    policyName: "`Reconnect.fixed(\"500 millis\")`",
    policy: Reconnect.fixed("500 millis"),
    backoff: 1
  },
  {
    transport: "tcp",
    policyName: "`Reconnect.exponential({ min: \"100 millis\", max: \"2 seconds\" })`, 3rd backoff (400 ms)",
    policy: Reconnect.exponential({ min: "100 millis", max: "2 seconds" }),
    backoff: 3
  },
  {
    transport: "ws",
    policyName: "`Reconnect.fixed(\"500 millis\")`",
    policy: Reconnect.fixed("500 millis"),
    backoff: 1
  }
]

interface Sample {
  /** ms into the backoff at the restart. */
  readonly offset: number
  /** The backoff's delay, ms. */
  readonly delay: number
  /** ms of the backoff left at the restart. */
  readonly remaining: number
  /** ms from the restart to the `Connecting` status of the attempt after the backoff. */
  readonly connecting: number
  /** ms from the restart to the `Connected` status. */
  readonly connected: number
  /** ms from the restart to the first echoed message read. */
  readonly first: number
  /** ms for a new plain socket to connect and have one message echoed. */
  readonly floor: number
}

interface Stamped {
  readonly status: Connection.Status
  readonly at: number
}

/** The next status with that tag (earlier ones are dropped), when it arrives. */
const next = (queue: Queue.Queue<Stamped>, tag: Connection.Status["_tag"]): Effect.Effect<Stamped, Error> =>
  Effect.flatMap(Queue.take(queue), (event) => event.status._tag === tag ? Effect.succeed(event) : next(queue, tag))
    .pipe(Effect.timeoutFail({ duration: "10 seconds", onTimeout: () => new Error(`no ${tag} status within 10 s`) }))

/** A new plain socket of that kind connects to `port` and has one message echoed: ms. */
const floor = (transport: "tcp" | "ws", port: number): Effect.Effect<number, Error> =>
  Effect.tryPromise({
    try: () =>
      new Promise<number>((resolve, reject) => {
        const start = performance.now()
        if (transport === "tcp") {
          let got = 0
          const conn = Net.createConnection({ host: "127.0.0.1", port, noDelay: true })
          conn.once("error", reject)
          conn.once("connect", () => conn.write(message))
          conn.on("data", (chunk: Buffer) => {
            got += chunk.byteLength
            if (got < SIZE) return
            resolve(performance.now() - start)
            conn.destroy()
          })
        } else {
          const ws = new WebSocket(`ws://127.0.0.1:${port}`)
          ws.once("error", reject)
          ws.once("open", () => ws.send(message))
          ws.once("message", () => {
            resolve(performance.now() - start)
            ws.terminate()
          })
        }
      }),
    catch: (cause) => new Error(`the floor's socket failed: ${String(cause)}`)
  })

const runCase = (c: Case, rounds: number): Effect.Effect<ReadonlyArray<Sample>, unknown, Scope.Scope> =>
  Effect.gen(function*() {
    const server = yield* Effect.acquireRelease(
      Effect.promise(() => Servers.local(c.transport)),
      (server) => Effect.promise(() => server.stop())
    )
    const options = { name: `bench-recovery-${c.transport}`, policy: c.policy, minUptime: MIN_UPTIME }
    const socket: ResilientSocket.ResilientSocket<Uint8Array | string, unknown> = c.transport === "tcp"
      ? yield* ResilientSocket.makeNet({ ...options, host: "127.0.0.1", port: server.port, noDelay: true })
      : yield* ResilientSocket.makeWebSocket(`ws://127.0.0.1:${server.port}`, options)
    const events = yield* Queue.unbounded<Stamped>()
    yield* Effect.forkScoped(
      Stream.runForEach(socket.changes, (status) => Queue.offer(events, { status, at: performance.now() }))
    )
    // The reader: the time of the first data after `armed` was set, into `first`.
    let waiter: Deferred.Deferred<number> | undefined = undefined
    yield* Effect.forkScoped(
      Stream.runForEach(socket.messages, () =>
        Effect.suspend(() => {
          const w = waiter
          if (w === undefined) return Effect.void
          waiter = undefined
          return Deferred.succeed(w, performance.now())
        }))
    )
    const firstData = Effect.gen(function*() {
      const deferred = yield* Deferred.make<number>()
      waiter = deferred
      return deferred
    })

    const samples: Array<Sample> = []
    for (let r = 0; r < rounds; r++) {
      const fraction = (r + 0.5) / rounds
      yield* socket.await()
      yield* Effect.sleep(Duration.millis(SETTLE_MS))
      // One round trip: the path works, and nothing is left to read.
      const echoed = yield* firstData
      yield* socket.write(message)
      yield* Deferred.await(echoed)
      yield* Effect.sleep(Duration.millis(20))
      yield* Queue.takeAll(events)

      yield* Effect.promise(() => server.stop())
      const writer = yield* Effect.fork(
        Effect.forever(
          Effect.zipRight(Effect.fork(socket.write(message)), Effect.sleep(Duration.millis(WRITE_EVERY_MS)))
        )
      )
      let backoff = yield* next(events, "Backoff")
      for (let b = 1; b < c.backoff; b++) backoff = yield* next(events, "Backoff")
      if (backoff.status._tag !== "Backoff") return yield* Effect.fail(new Error("not a Backoff"))
      const delay = Duration.toMillis(backoff.status.delay)
      yield* Effect.sleep(Duration.millis(Math.max(0, backoff.at + fraction * delay - performance.now())))

      const first = yield* firstData
      const restartedAt = yield* Effect.promise(() => server.start())
      const remaining = delay - (restartedAt - backoff.at)
      const connecting = yield* next(events, "Connecting")
      const connected = yield* next(events, "Connected")
      const firstAt = yield* Deferred.await(first).pipe(
        Effect.timeoutFail({ duration: "10 seconds", onTimeout: () => new Error("no message within 10 s") })
      )
      yield* Fiber.interrupt(writer)
      samples.push({
        offset: restartedAt - backoff.at,
        delay,
        remaining,
        connecting: connecting.at - restartedAt,
        connected: connected.at - restartedAt,
        first: firstAt - restartedAt,
        floor: yield* floor(c.transport, server.port)
      })
    }
    return samples
  })

/** The reconnects' warnings are what the bench provokes: not shown. */
const silent = Logger.withMinimumLogLevel(LogLevel.None)

const ms = (n: number) => fixed(n, 1)
const TRANSPORTS = { tcp: "TCP", ws: "WebSocket" } as const

const report = (results: ReadonlyArray<readonly [Case, ReadonlyArray<Sample>]>): string => {
  const summary = results.map(([c, samples]) => {
    const overhead = samples.map((s) => s.first - s.remaining)
    return [
      TRANSPORTS[c.transport],
      c.policyName,
      ms(median(samples.map((s) => s.remaining))),
      ms(median(samples.map((s) => s.first))),
      ms(median(overhead)),
      ms(Math.max(...overhead)),
      ms(median(samples.map((s) => s.connecting - s.remaining))),
      ms(median(samples.map((s) => s.connected - s.connecting))),
      ms(median(samples.map((s) => s.first - s.connected))),
      ms(median(samples.map((s) => s.floor))),
      `${overhead.filter((o) => o <= TARGET_MS).length} of ${samples.length}`,
      met(Math.max(...overhead) <= TARGET_MS)
    ]
  })
  const rows = results.flatMap(([c, samples]) =>
    samples.map((s, i) => [
      TRANSPORTS[c.transport],
      c.policyName,
      String(i + 1),
      `${ms(s.offset)} of ${ms(s.delay)}`,
      ms(s.remaining),
      ms(s.connecting),
      ms(s.connected),
      ms(s.first),
      ms(s.first - s.remaining),
      ms(s.floor),
      met(s.first - s.remaining <= TARGET_MS)
    ])
  )
  const rounds = results[0]?.[1].length ?? 0
  return [
    table(
      `Recovery: from the server's restart to the first echoed message, against the policy's remaining delay — ` +
        `${rounds} rounds per policy (ms)`,
      [
        "socket",
        "policy",
        "remaining (median)",
        "first message (median)",
        "overhead (median)",
        "overhead (max)",
        "`Connecting` − remaining (median)",
        "`Connecting` → `Connected` (median)",
        "`Connected` → first message (median)",
        "floor (median)",
        `rounds ≤ ${TARGET_MS} ms`,
        `max overhead ≤ ${TARGET_MS} ms?`
      ],
      summary,
      [
        "Overhead = time to the first echoed message − the backoff's remaining delay at the restart: what redial",
        "adds to the policy's wait: how late the attempt starts after the backoff (`Connecting` − remaining: the",
        "timer's lateness), the attempt (`Connecting` → `Connected`: TCP connect, WebSocket handshake, the buffered",
        "writes handed to the new socket), then the first echo. Remaining counts from when the `Backoff` status",
        "arrived on `changes` (published just before the manager sleeps); every status time is when it arrived there.",
        "Floor: a new plain socket of the same kind connects and has one message echoed, measured in each round",
        "after redial's recovery. The echo server runs in the bench process, so its restart time is exact."
      ]
    ),
    "",
    table(
      "Recovery, each round (ms)",
      [
        "socket",
        "policy",
        "round",
        "restarted at (into the backoff)",
        "remaining",
        "`Connecting`",
        "`Connected`",
        "first message",
        "overhead",
        "floor",
        `≤ ${TARGET_MS} ms?`
      ],
      rows
    )
  ].join("\n")
}

export const run = async ({ rounds = ROUNDS } = {}): Promise<string> => {
  const results: Array<readonly [Case, ReadonlyArray<Sample>]> = []
  for (const c of CASES) {
    results.push([c, await Effect.runPromise(Effect.scoped(runCase(c, rounds)).pipe(silent))])
  }
  return report(results)
}
