/**
 * A focused run for profiling, not part of `npm run bench`: one or more clients of unary.ts, each
 * alone for a while against the in-process test server, with calls/s, CPU and GC time per call.
 *
 *   node scripts/bundle-bench.mjs packages/grpc/bench/profile.ts packages/grpc/build/bench/profile.mjs
 *   node --expose-gc [--cpu-prof] packages/grpc/build/bench/profile.mjs \
 *     [clients, comma-separated] [concurrency] [seconds] [rounds]
 *
 * Clients: `redial`, `grpc-js`, `nice-grpc` and `grpc-js:effect` (the raw grpc-js client in
 * `Effect.async`, called from fibers: what any Effect wrapper pays at least).
 * Default: all of them, concurrency 64, 2 s, 3 rounds (the order rotating). Under `--cpu-prof`,
 * profile one client at a time so the profile is that client's.
 */
import { Effect, Exit, Logger, LogLevel, Scope } from "effect"
import { choose, collect, fixed, list, median, order, thousands } from "../../../bench/report.js"
import * as TS from "../test/support/testServer.js"
import { contenders, type Measured } from "./unary.js"

const [names, concurrency = "64", seconds = "2", rounds = "3"] = process.argv.slice(2)

const scope = Effect.runSync(Scope.make())
try {
  const { close, contenders: built } = await Effect.runPromise(
    Effect.flatMap(
      TS.TestServer.make(),
      (server) => Effect.map(contenders(server.address), (built) => ({ ...built, address: server.address }))
    ).pipe(Scope.extend(scope), Logger.withMinimumLogLevel(LogLevel.Warning))
  )
  const clients = built
  try {
    const chosen = choose(clients, names)
    const samples = new Map<string, Array<Measured>>()
    for (let round = 0; round < Number(rounds); round++) {
      for (const { driver, name } of order(chosen, round)) {
        await driver(Number(concurrency), 700)
        collect()
        samples.set(name, [...(samples.get(name) ?? []), await driver(Number(concurrency), Number(seconds) * 1000)])
      }
    }
    for (const { name } of chosen) {
      const of = samples.get(name) ?? []
      const at = (pick: (m: Measured) => number) => median(of.map(pick))
      console.log(
        `${name.padEnd(22)} c=${concurrency}: ${thousands(at((m) => m.perSecond)).padStart(6)} calls/s, ` +
          `${fixed(at((m) => m.cpu), 0)} µs CPU/call, ${fixed(at((m) => m.gc), 0)} µs GC/call ` +
          `(CPU samples: ${list(of.map((m) => m.cpu), (n) => fixed(n, 0))})`
      )
    }
  } finally {
    close()
  }
} finally {
  await Effect.runPromise(Scope.close(scope, Exit.void).pipe(Logger.withMinimumLogLevel(LogLevel.Warning)))
}
