/**
 * How soon a channel is back after the network is: the time from the moment a refusing peer
 * accepts connections again to the first successful unary call, against what the reconnect
 * policy allows, the remaining wait of the backoff in progress.
 *
 * A channel with `Reconnect.fixed(DELAY)` (connectTimeout 5 s) talks to the in-process test
 * server through a `FaultProxy`. Each repetition:
 *
 * 1. waits until the channel is `Connected`, then `proxy.refuse(true)` and `proxy.cut`: the
 *    connection dies, the next attempt is refused, the channel enters `Backoff` (its `delay` is
 *    the policy's next delay); a fiber on `channel.changes` notes when each status arrived;
 * 2. sleeps until `offset` into that backoff (offsets spread over the delay, one per
 *    repetition), then `proxy.refuse(false)`: the restore, at time R;
 *    remaining = delay − (R − time the Backoff status arrived);
 * 3. right at R starts a `mode: "wait"` call (deadline 10 s): it parks on `connection.await` and
 *    is sent the moment the channel is `Connected`, so its completion is the recovery, with no
 *    polling granularity. A loop of failFast calls every 5 ms runs beside it: what a caller
 *    that retries on `NotConnected` sees (up to 5 ms later).
 *
 * recovery − remaining is then what the channel adds to the policy's wait: the connect attempt
 * (TCP + HTTP/2 handshake through the proxy) and one call.
 *
 * The proxy also counts the TCP connections it accepted: one per connect attempt (grpc-js's own
 * reconnect never runs), compared with the attempts seen on `channel.changes`.
 */
import { Reconnect } from "@redial/core"
import type { Connection } from "@redial/core"
import { FaultProxy } from "@redial/testing"
import { Duration, Effect, Exit, Fiber, Logger, LogLevel, Schedule, Scope, Stream } from "effect"
import { fixed, list, median, met, table } from "../../../bench/report.js"
import { GrpcChannel, GrpcClient } from "../src/index.js"
import * as TS from "../test/support/testServer.js"

const DELAY_MS = 500
/** Where in the backoff the restore falls, as fractions of the delay: one repetition each. */
const OFFSETS: ReadonlyArray<number> = [0.05, 0.2, 0.35, 0.5, 0.65, 0.8, 0.95]
const POLL_MS = 5
const TARGET_MS = 100

type Test = {
  readonly Echo: GrpcClient.Method<Partial<TS.EchoRequest>, TS.EchoReply>
}

interface Sample {
  readonly offset: number
  /** ms of the backoff left at the restore. */
  readonly remaining: number
  /** ms from the restore to the wait-mode call's reply. */
  readonly wait: number
  /** ms from the restore to the first failFast call that succeeded. */
  readonly poll: number
}

interface Event {
  readonly status: Connection.Status
  readonly at: number
}

/** The first Backoff status that arrived after `since`, once it has. */
const backoffAfter = (events: ReadonlyArray<Event>, since: number): Effect.Effect<Event> =>
  Effect.suspend(() => {
    const found = events.find((event) => event.at >= since && event.status._tag === "Backoff")
    return found !== undefined
      ? Effect.succeed(found)
      : Effect.zipRight(Effect.sleep("1 millis"), backoffAfter(events, since))
  })

const repetition = (
  channel: GrpcChannel.GrpcChannel,
  client: GrpcClient.GrpcClient<Test>,
  proxy: FaultProxy.FaultProxy,
  events: ReadonlyArray<Event>,
  fraction: number
): Effect.Effect<Sample, GrpcClient.CallError | Error> =>
  Effect.gen(function*() {
    yield* channel.await({ timeout: "10 seconds" })
    // A call on the connection, so it is in use when cut.
    yield* client.unary("Echo", { message: "before" })
    const cutAt = performance.now()
    yield* proxy.refuse(true)
    yield* proxy.cut
    const backoff = yield* backoffAfter(events, cutAt).pipe(
      Effect.timeoutFail({ duration: "10 seconds", onTimeout: () => new Error("the channel never backed off") })
    )
    if (backoff.status._tag !== "Backoff") return yield* Effect.fail(new Error("not a Backoff"))
    const delay = Duration.toMillis(backoff.status.delay)
    const offset = fraction * delay
    yield* Effect.sleep(Duration.millis(Math.max(0, backoff.at + offset - performance.now())))

    const restoredAt = performance.now()
    yield* proxy.refuse(false)
    const remaining = delay - (restoredAt - backoff.at)
    const since = () => performance.now() - restoredAt
    const waited = yield* Effect.fork(
      Effect.map(client.unary("Echo", { message: "wait" }, { mode: "wait", deadline: "10 seconds" }), since)
    )
    const polled = yield* Effect.fork(
      client.unary("Echo", { message: "poll" }).pipe(
        Effect.retry({ schedule: Schedule.spaced(Duration.millis(POLL_MS)), times: 10_000 / POLL_MS }),
        Effect.map(since)
      )
    )
    const wait = yield* Fiber.join(waited)
    const poll = yield* Fiber.join(polled)
    return { offset: restoredAt - backoff.at, remaining, wait, poll }
  })

interface Counts {
  /** `Connecting` statuses: the connect attempts. */
  readonly attempts: number
  /** TCP connections the proxy accepted. */
  readonly connections: number
}

const report = (samples: ReadonlyArray<Sample>, counts: Counts): string => {
  const ms = (n: number) => fixed(n, 1)
  const rows = samples.map((s) => [
    ms(s.offset),
    ms(s.remaining),
    ms(s.wait),
    ms(s.wait - s.remaining),
    ms(s.poll),
    ms(s.poll - s.remaining)
  ])
  const excess = (pick: (s: Sample) => number) => samples.map((s) => pick(s) - s.remaining)
  const wait = excess((s) => s.wait)
  const poll = excess((s) => s.poll)
  const summary = (name: string, values: ReadonlyArray<number>) => [
    name,
    ms(median(values)),
    ms(Math.max(...values)),
    `≤ ${TARGET_MS} ms`,
    met(Math.max(...values) <= TARGET_MS)
  ]
  return [
    table(
      `Recovery after the network returns — \`Reconnect.fixed("${DELAY_MS} millis")\`, through a FaultProxy to the ` +
        "in-process test server: recovery − remaining backoff (ms)",
      ["first successful call", "median", "max", "target (max)", "met?"],
      [
        summary("`mode: \"wait\"` call started at the restore", wait),
        summary(`failFast call every ${POLL_MS} ms`, poll)
      ]
    ),
    "",
    table(
      "Recovery, each repetition (ms)",
      [
        "restored at (into the backoff)",
        "backoff remaining",
        "wait call",
        "− remaining",
        "failFast loop",
        "− remaining"
      ],
      rows,
      [
        `Samples of recovery − remaining: wait ${list(wait)}; failFast ${list(poll)}.`,
        "",
        "\"Remaining\" counts from when the `Backoff` status arrived on `channel.changes` (the manager publishes it",
        "just before it sleeps). The wait call is sent the moment the channel is connected; the failFast loop",
        "polls every 5 ms, so it lands up to 5 ms later.",
        "",
        `TCP connections the proxy accepted: ${counts.connections}, for ${counts.attempts} connect attempts ` +
        `(target: one each; ${met(counts.connections === counts.attempts)}).`
      ]
    )
  ].join("\n")
}

export const run = async (): Promise<string> => {
  const scope = Effect.runSync(Scope.make())
  try {
    const [samples, counts] = await Effect.runPromise(
      Effect.gen(function*() {
        const server = yield* TS.TestServer.make()
        const proxy = yield* FaultProxy.make({ target: { port: server.port } })
        const channel = yield* GrpcChannel.make({
          address: proxy.address,
          name: "bench-recovery",
          policy: Reconnect.fixed(Duration.millis(DELAY_MS)),
          connectTimeout: "5 seconds",
          autoConnect: false
        })
        const client = GrpcClient.makeWith(channel, TS.loadTestService().service as unknown as Test)
        const events: Array<Event> = []
        yield* Effect.forkScoped(Stream.runForEach(channel.changes, (status) =>
          Effect.sync(() => {
            events.push({ status, at: performance.now() })
          })))
        // Connect once the statuses are watched, so every attempt is counted.
        while (events.length === 0) yield* Effect.sleep("1 millis")
        yield* channel.connect
        const samples: Array<Sample> = []
        for (const fraction of OFFSETS) {
          samples.push(yield* repetition(channel, client, proxy, events, fraction))
        }
        // Long enough for a stray reconnect of grpc-js's own (1 s backoff) to reach the proxy.
        yield* Effect.sleep("1500 millis")
        const counts: Counts = {
          attempts: events.filter((event) => event.status._tag === "Connecting").length,
          connections: (yield* proxy.connections).total
        }
        return [samples, counts] as const
      }).pipe(Scope.extend(scope), Logger.withMinimumLogLevel(LogLevel.None))
    )
    return report(samples, counts)
  } finally {
    await Effect.runPromise(Scope.close(scope, Exit.void).pipe(Logger.withMinimumLogLevel(LogLevel.None)))
  }
}
