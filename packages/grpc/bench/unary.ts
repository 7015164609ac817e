/**
 * Unary calls per second against one in-process test server (`TestServer.make()` of the tests,
 * the `Echo` method, a 5-byte message, no delay), the clients side by side in the same process:
 *
 * - redial: `yield* client.unary("Echo", request)` with `GrpcClient.makeWith(channel, service)` on
 *   a connected `GrpcChannel` (default call options: failFast, no deadline), `c` fibers each
 *   calling in a loop (the call's Effect is built anew each time, as a program would);
 * - grpc-js: `new (grpc.makeGenericClientConstructor(service, "Test"))(address, insecure)`
 *   (default channel options), `c` async loops awaiting a Promise around the callback;
 * - nice-grpc: `createClient(service, createChannel(address))`, `c` async loops;
 * - the floor of any Effect client: the raw grpc-js client in `Effect.async`, called from the
 *   same `c` fibers (what wrapping a callback API in Effect costs at least).
 *
 * Each measurement runs one client for `WARMUP_MS` (not counted), then for `MEASURE_MS`: every
 * loop starts calls until the time is up; calls/s = completed calls / time until the last loop's
 * last call returned. CPU per call (this process: client and server) is measured over the same
 * window, which starts after a full GC. A round measures every client at both concurrencies; the
 * order of the clients changes from round to round. The table gives the medians of the rounds.
 */
import * as grpc from "@grpc/grpc-js"
import { Effect, Exit, Logger, LogLevel, Scope } from "effect"
import { createChannel, createClient } from "nice-grpc"
import { PerformanceObserver } from "node:perf_hooks"
import type { Loops } from "../../../bench/report.js"
import {
  collect,
  effectLoops,
  fixed,
  list,
  median,
  met,
  order,
  promiseLoops,
  ratio,
  table,
  thousands
} from "../../../bench/report.js"
import { GrpcChannel, GrpcClient } from "../src/index.js"
import * as TS from "../test/support/testServer.js"

const WARMUP_MS = 1_000
const MEASURE_MS = 2_000
const ROUNDS = 5
const CONCURRENCY: ReadonlyArray<number> = [1, 64]
const TARGET = 0.9

type Test = {
  readonly Echo: GrpcClient.Method<Partial<TS.EchoRequest>, TS.EchoReply>
}

const request: TS.EchoRequest = { message: "hello", delayMs: 0 }

export interface Measured {
  readonly perSecond: number
  /** CPU time (user + system) of the process per call, in µs: client and server. */
  readonly cpu: number
  /** Time in garbage collection per call, in µs. */
  readonly gc: number
}

/** Runs `concurrency` loops of calls until `millis` have passed. */
export type Driver = (concurrency: number, millis: number) => Promise<Measured>

let gcMillis = 0
new PerformanceObserver((entries) => {
  for (const entry of entries.getEntries()) gcMillis += entry.duration
}).observe({ entryTypes: ["gc"] })

const measure = async (run: (end: number) => Promise<number>, millis: number): Promise<Measured> => {
  const cpu = process.cpuUsage()
  const gc = gcMillis
  const start = performance.now()
  const calls = await run(start + millis)
  const seconds = (performance.now() - start) / 1000
  const used = process.cpuUsage(cpu)
  return { perSecond: calls / seconds, cpu: (used.user + used.system) / calls, gc: ((gcMillis - gc) * 1000) / calls }
}

/** Measures `loops` for `millis`: calls/s, and CPU and GC time per call. */
const timed = (loops: Loops): Driver => (concurrency, millis) => measure((end) => loops(concurrency, end), millis)

export interface Contender {
  readonly name: string
  readonly driver: Driver
}

/**
 * The clients, connected to `address`; `close` closes the two that live outside the scope.
 */
export const contenders = (
  address: string
): Effect.Effect<{ readonly contenders: ReadonlyArray<Contender>; readonly close: () => void }, unknown, Scope.Scope> =>
  Effect.gen(function*() {
    const { service } = TS.loadTestService()
    const test = service as unknown as Test

    const channel = yield* GrpcChannel.make({ address, name: "bench" })
    yield* channel.await({ timeout: "10 seconds" })
    const typed = GrpcClient.makeWith(channel, test)

    const Raw = grpc.makeGenericClientConstructor(service, "Test")
    const raw = new Raw(address, grpc.credentials.createInsecure())
    const rawEcho = raw["Echo"] as (request: TS.EchoRequest, callback: grpc.requestCallback<TS.EchoReply>) => unknown
    const rawCall = () =>
      new Promise<TS.EchoReply>((resolve, reject) =>
        rawEcho.call(raw, request, (error, reply) => error ? reject(error) : resolve(reply!))
      )

    const niceChannel = createChannel(address)
    const nice = createClient(service as grpc.ServiceDefinition, niceChannel) as unknown as {
      readonly Echo: (request: TS.EchoRequest) => Promise<TS.EchoReply>
    }

    return {
      contenders: [
        { name: "redial", driver: timed(effectLoops(() => typed.unary("Echo", request))) },
        { name: "grpc-js", driver: timed(promiseLoops(rawCall)) },
        { name: "nice-grpc", driver: timed(promiseLoops(() => nice.Echo(request))) },
        {
          name: "grpc-js:effect",
          driver: timed(effectLoops(() =>
            Effect.async<TS.EchoReply, grpc.ServiceError>((resume) => {
              const call = (rawEcho as (r: TS.EchoRequest, cb: grpc.requestCallback<TS.EchoReply>) => grpc.Call).call(
                raw,
                request,
                (error, reply) => resume(error ? Effect.fail(error) : Effect.succeed(reply!))
              )
              return Effect.sync(() => call.cancel())
            })
          ))
        }
      ],
      close: () => {
        raw.close()
        niceChannel.close()
      }
    }
  })

/**
 * One round: a fresh server and fresh clients (the test server keeps every call it receives, so
 * a server per round keeps the heap from growing over the run), every client measured at every
 * concurrency, the clients in the order of round `r`. A full GC before each measurement.
 */
const round = (
  r: number,
  warmupMs: number,
  measureMs: number,
  record: (name: string, concurrency: number, measured: Measured) => void
): Promise<void> => {
  const scope = Effect.runSync(Scope.make())
  return Effect.runPromise(
    Effect.gen(function*() {
      const server = yield* TS.TestServer.make()
      const { close, contenders: clients } = yield* contenders(server.address)
      yield* Effect.promise(async () => {
        try {
          for (const { driver, name } of order(clients, r)) {
            for (const concurrency of CONCURRENCY) {
              await driver(concurrency, warmupMs)
              collect()
              record(name, concurrency, await driver(concurrency, measureMs))
            }
          }
        } finally {
          close()
        }
      })
    }).pipe(
      Scope.extend(scope),
      Effect.ensuring(Scope.close(scope, Exit.void)),
      Logger.withMinimumLogLevel(LogLevel.Warning)
    )
  )
}

const NAMES: ReadonlyArray<string> = ["redial", "grpc-js", "nice-grpc", "grpc-js:effect"]

export const run = async (
  { measureMs = MEASURE_MS, rounds = ROUNDS, warmupMs = WARMUP_MS } = {}
): Promise<string> => {
  const samples = new Map<string, Array<Measured>>()
  const of = (name: string, concurrency: number) => samples.get(`${name}@${concurrency}`) ?? []
  // A first round, not counted, warms the JIT for every client.
  await round(0, warmupMs, warmupMs, () => {})
  for (let r = 0; r < rounds; r++) {
    await round(r, warmupMs, measureMs, (name, concurrency, measured) => {
      samples.set(`${name}@${concurrency}`, [...of(name, concurrency), measured])
    })
  }
  const perSecond = (name: string, concurrency: number) => median(of(name, concurrency).map((m) => m.perSecond))
  const cpu = (name: string, concurrency: number) => median(of(name, concurrency).map((m) => m.cpu))
  const rows = CONCURRENCY.flatMap((concurrency) => {
    const raw = perSecond("grpc-js", concurrency)
    const nice = perSecond("nice-grpc", concurrency)
    const line = (name: string, label: string) => {
      const calls = perSecond(name, concurrency)
      const isRedial = name === "redial" || name === "grpc-js:effect"
      return [
        String(concurrency),
        label,
        thousands(calls),
        fixed(cpu(name, concurrency), 0),
        isRedial ? ratio(calls, raw) : "",
        isRedial ? ratio(calls, nice) : "",
        name === "redial" ? `≥ ${TARGET}× grpc-js` : "",
        name === "redial" ? met(calls / raw >= TARGET) : ""
      ]
    }
    return [
      line("redial", "redial `client.unary`"),
      line("grpc-js", "grpc-js generic client"),
      line("nice-grpc", "nice-grpc"),
      line("grpc-js:effect", "grpc-js in `Effect.async` from fibers (the floor of an Effect client)")
    ]
  })
  const notes = CONCURRENCY.flatMap((concurrency) =>
    NAMES.map((name) =>
      `- ${name}, concurrency ${concurrency}: ${
        list(of(name, concurrency).map((m) => m.perSecond), thousands)
      } calls/s; ${list(of(name, concurrency).map((m) => m.cpu), (n) => fixed(n, 0))} µs CPU/call`
    )
  )
  return table(
    "Unary `Echo` calls/s — client and test server in one process (loopback, plaintext); " +
      `${rounds} rounds of ${measureMs / 1000} s after ${warmupMs / 1000} s of warm-up, medians`,
    ["concurrency", "client", "calls/s", "CPU µs/call", "÷ grpc-js", "÷ nice-grpc", "target", "met?"],
    rows,
    [
      "CPU µs/call: the process's user + system time per call, client and server together.",
      "",
      "Samples (one per round):",
      "",
      ...notes
    ]
  )
}
