/**
 * `npm run demo:pool`: a `@redial/pool` of three TCP connections that survives cuts, refusals and
 * an overload.
 *
 * A line server on loopback, a FaultProxy in front of it, and a pool named "orders" whose driver
 * (`lineDriver.ts`) speaks the line protocol through the proxy. The demo serves queries and a
 * stream, commits a transaction and rolls one back with a typed reason, cuts every connection
 * under calls in flight, refuses connections while requests arrive, offers three times the load
 * the pool can serve, and closes the pool. Every outcome and the pool's stats are printed as they
 * happen. Exits 0 after about 6 seconds; REDIAL_DEMO_LOGS=1 also shows each slot's reconnect
 * attempts and backoff.
 */
import { Reconnect } from "@redial/core"
import { Pool } from "@redial/pool"
import { FaultProxy } from "@redial/testing"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import * as LineDriver from "./lineDriver.js"
import * as LineServer from "./lineServer.js"
import { colour, runDemo, timeline } from "./terminal.js"

const describeStats = (stats: Pool.Stats): string => {
  const connecting = stats.connecting > 0
    ? `${colour.yellow}connecting ${stats.connecting}${colour.reset}`
    : `connecting ${stats.connecting}`
  return `idle ${stats.idle} · busy ${stats.busy} · ${connecting} · queued ${stats.queued} (size ${stats.size})`
}

const describeError = (error: { readonly _tag: string; readonly message: string }): string =>
  `${colour.red}${error._tag}${colour.reset}: ${error.message}`

/** Reads `get` every 5 ms until `done` holds; fails with `failure` after 5 s. */
const pollUntil = <A, E>(get: Effect.Effect<A, E>, done: (a: A) => boolean, failure: string) =>
  Effect.repeat(get, Schedule.addDelay(Schedule.recurUntil(done), () => "5 millis")).pipe(
    Effect.timeoutFail({ duration: "5 seconds", onTimeout: () => new Error(failure) })
  )

const ms = (duration: Duration.Duration): string => `${Math.round(Duration.toMillis(duration))} ms`

const program = Effect.gen(function*() {
  const { say, step } = yield* timeline

  const server = yield* LineServer.server
  const proxy = yield* FaultProxy.make({ target: { port: server.port } })
  yield* step(`line server on 127.0.0.1:${server.port}, FaultProxy on ${proxy.address}`)

  // The wire traffic of the transactions scene, as the driver sends and reads it.
  let tracing = false
  const driver = LineDriver.make({
    port: proxy.port,
    trace: (connection, line, reply) =>
      tracing ? say(`  wire  #${connection.client.id} → ${line}  ${colour.dim}←${colour.reset} ${reply}`) : Effect.void
  })

  const pool = yield* Effect.scoped(Effect.gen(function*() {
    const pool = yield* Pool.make(driver, {
      name: "orders",
      size: 3,
      queueTarget: "20 millis",
      queueInterval: "100 millis",
      timeout: "1 second",
      policy: Reconnect.exponential({ min: "100 millis", max: "400 millis" }),
      connectTimeout: "500 millis"
    })

    /** Prints the stats whenever they change, until `done` holds. */
    const watch = (done: (stats: Pool.Stats) => boolean) =>
      Effect.suspend(() => {
        let last = ""
        const printed = Effect.tap(pool.stats, (stats) => {
          const line = describeStats(stats)
          if (line === last) return Effect.void
          last = line
          return say(`  stats ${line}`)
        })
        return pollUntil(printed, done, "the pool's stats did not settle")
      })

    /** A query, answered with the connection that served it. */
    const ask = (line: string, params: ReadonlyArray<unknown>) =>
      pool.run((conn) => Effect.map(conn.query(line, params), (reply) => `${reply} ← #${conn.connection.client.id}`))

    // (a) -------------------------------------------------------------------------------------
    yield* step(`(a) pool "${pool.name}" of 3: each slot connects through the proxy`)
    yield* watch((stats) => stats.idle === 3)
    yield* say("  6 queries at once on 3 connections:")
    const answers = yield* Effect.forEach([1, 2, 3, 4, 5, 6], (n) => ask("ECHO order $1", [n]), {
      concurrency: "unbounded"
    })
    for (const answer of answers) yield* say(`  query ${colour.green}${answer}${colour.reset}`)
    const rows = yield* Stream.runCollect(pool.stream("ECHO apple,pear,plum,fig,kiwi", [], { maxRows: 2 }))
    yield* say(`  stream ${colour.green}${[...rows].join(", ")}${colour.reset} (a cursor fetched 2 rows at a time)`)

    // (b) -------------------------------------------------------------------------------------
    yield* Effect.sleep("300 millis")
    yield* step("(b) transactions: one commits; one calls conn.rollback(\"out of stock\")")
    tracing = true
    const charged = yield* pool.transaction((conn) =>
      Effect.gen(function*() {
        yield* conn.query("ECHO reserved order $1", [7])
        return yield* conn.query("ECHO charged order $1", [7])
      })
    )
    yield* say(`  commit ${colour.green}${charged}${colour.reset}`)
    const outOfStock = yield* pool.transaction((conn) =>
      Effect.gen(function*() {
        const stock = yield* conn.query("ECHO $1", [0])
        if (Number(stock) === 0) return yield* conn.rollback("out of stock" as const)
        return yield* conn.query("ECHO reserved order $1", [8])
      })
    ).pipe(Effect.either)
    tracing = false
    if (Either.isLeft(outOfStock) && outOfStock.left === "out of stock") {
      yield* say(`  rollback: the transaction failed with ${colour.red}"${outOfStock.left}"${colour.reset}, typed`)
    } else {
      yield* say(`  rollback: ${colour.red}unexpected outcome${colour.reset} ${String(outOfStock)}`)
    }

    // (c) -------------------------------------------------------------------------------------
    yield* Effect.sleep("300 millis")
    yield* step("(c) cut: 60 ms latency each way, 3 queries in flight, then every connection is reset")
    yield* proxy.latency("60 millis")
    const inFlight = yield* Effect.fork(
      Effect.forEach([1, 2, 3], (n) => Effect.either(ask("ECHO slow query $1", [n])), { concurrency: "unbounded" })
    )
    yield* Effect.sleep("50 millis")
    yield* proxy.cut
    for (const result of yield* Fiber.join(inFlight)) {
      yield* Either.match(result, {
        onLeft: (error) => say(`  query ${describeError(error)}`),
        onRight: (answer) => say(`  query ${colour.green}${answer}${colour.reset}`)
      })
    }
    yield* say("  the slots reconnect by their policy (exponential 100 ms → 400 ms; a handshake takes ≥ 120 ms):")
    yield* watch((stats) => stats.connecting === 0 && stats.idle === 3)
    yield* proxy.latency(0)
    yield* say(`  query ${colour.green}${yield* ask("ECHO order $1", [9])}${colour.reset}`)

    // (d) -------------------------------------------------------------------------------------
    yield* Effect.sleep("300 millis")
    yield* step("(d) refuse new connections and cut the open ones: the database is down")
    yield* proxy.refuse(true)
    yield* proxy.cut
    yield* say("  nothing is in flight: the driver's `lost` (its socket closed) takes them out of service at once")
    yield* watch((stats) => stats.connecting === 3)
    yield* step(
      "(d) a request every 100 ms: each queues, and the queue's poll sheds it (Dropped) before its 1-s timeout"
    )
    let shownDropped = false
    const request = (n: number) =>
      Effect.timed(Effect.either(ask("ECHO order $1", [n]))).pipe(
        Effect.flatMap(([took, result]) => {
          if (Either.isRight(result)) {
            return say(`  #${n}  ${colour.green}${result.right}${colour.reset} after ${ms(took)}`)
          }
          const error = result.left
          if (error._tag === "Dropped" && shownDropped) {
            return say(`  #${n}  ${colour.red}Dropped${colour.reset} after ${ms(error.waited)}`)
          }
          shownDropped ||= error._tag === "Dropped"
          return say(`  #${n}  ${describeError(error)}`)
        })
      )
    const requests = yield* Effect.fork(
      Effect.forEach(
        Array.from({ length: 20 }, (_, i) => i),
        (i) => Effect.zipRight(Effect.sleep(Duration.millis(i * 100)), request(100 + i)),
        { concurrency: "unbounded", discard: true }
      )
    )
    yield* Effect.sleep("650 millis")
    yield* say(`  stats ${describeStats(yield* pool.stats)}`)
    yield* Effect.sleep("600 millis")
    yield* step("(d) restore: each slot connects at its next attempt (backoff ≤ 400 ms); the first one back serves")
    yield* proxy.restore
    yield* Fiber.join(requests)
    yield* watch((stats) => stats.connecting === 0 && stats.idle === 3)

    // (e) -------------------------------------------------------------------------------------
    yield* Effect.sleep("300 millis")
    yield* step("(e) overload: 15 ms latency each way (3 connections serve ~90 queries/s); 400 requests/s for 1.5 s")
    yield* proxy.latency("15 millis")
    let served = 0
    let dropped = 0
    let timedOut = 0
    let failed = 0
    const waits: Array<number> = []
    const sample = yield* Effect.fork(
      Effect.zipRight(
        Effect.sleep("750 millis"),
        Effect.flatMap(pool.stats, (stats) => say(`  stats ${describeStats(stats)}`))
      )
    )
    yield* Effect.forEach(
      Array.from({ length: 150 }, (_, wave) => wave),
      (wave) =>
        Effect.zipRight(
          Effect.sleep(Duration.millis(wave * 10)),
          Effect.forEach([0, 1, 2, 3], (k) =>
            Effect.timed(Effect.either(pool.query("ECHO burst $1", [wave * 4 + k]))).pipe(
              Effect.map(([took, result]) => {
                if (Either.isRight(result)) {
                  served += 1
                  waits.push(Duration.toMillis(took))
                } else if (result.left._tag === "Dropped") {
                  dropped += 1
                } else if (result.left._tag === "Timeout") {
                  timedOut += 1
                } else {
                  failed += 1
                }
              })
            ), { concurrency: "unbounded", discard: true })
        ),
      { concurrency: "unbounded", discard: true }
    )
    yield* Fiber.join(sample)
    yield* proxy.latency(0)
    waits.sort((a, b) => a - b)
    const percentile = (p: number) => Math.round(waits[Math.min(waits.length - 1, Math.floor(waits.length * p))] ?? 0)
    yield* say(
      `  ${colour.green}${served} served${colour.reset} (p50 ${percentile(0.5)} ms, max ${percentile(1)} ms), ` +
        `${colour.red}${dropped} dropped${colour.reset}, ${timedOut} timed out` +
        (failed > 0 ? `, ${failed} failed otherwise` : "") + " (of 600)"
    )
    yield* watch((stats) => stats.busy === 0 && stats.queued === 0)

    // (f) -------------------------------------------------------------------------------------
    yield* Effect.sleep("300 millis")
    const { open } = yield* proxy.connections
    yield* step(`(f) close the pool's scope (the proxy has ${open} connections open)`)
    return pool
  }))

  const closed = yield* pollUntil(proxy.connections, (connections) => connections.open === 0, "sockets left open")
  yield* say(`  every socket closed: the proxy has ${closed.open} open (${closed.total} accepted in all)`)
  const late = yield* Effect.either(pool.query("ECHO too late", []))
  if (Either.isLeft(late)) yield* say(`  query after the close ${describeError(late.left)}`)
  yield* step("done")
})

runDemo(program)
