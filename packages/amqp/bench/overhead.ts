/**
 * What the confirmed publisher costs per message by itself, without a broker or a socket: the
 * publisher of a confirm channel (`internal/publisher.ts`, as `confirmChannel()` builds it) on a
 * stand-in amqplib `ConfirmChannel` whose broker confirms everything sent, in one batch per turn
 * of the event loop (`setImmediate`), as RabbitMQ's multiple acks do; against the floor, the
 * same stand-in called from fibers through `Effect.async`. Both run `c` fibers publishing in a
 * loop (1 KB, each awaiting its confirm), so the difference is redial's work per message: the
 * buffer, the message id, the sender fiber, the confirm bookkeeping.
 *
 * Not part of `npm run bench` (the numbers against the broker are what users see); a focused
 * run for `--cpu-prof`, where the broker's noise and the socket's system time are absent:
 *
 *   node scripts/bundle-bench.mjs packages/amqp/bench/overhead.ts packages/amqp/build/bench/overhead.mjs
 *   node --expose-gc [--cpu-prof] packages/amqp/build/bench/overhead.mjs [redial|floor|all] [in flight] [seconds] [rounds]
 */
import { Connection, Reconnect } from "@redial/core"
import type * as amqplib from "amqplib"
import { Duration, Effect, Exit, Logger, LogLevel, Scope, SubscriptionRef } from "effect"
import { EventEmitter } from "node:events"
import type { Loops } from "../../../bench/report.js"
import { collect, effectLoops, fixed, list, median, order, thousands } from "../../../bench/report.js"
import type * as AmqpConnection from "../src/AmqpConnection.js"
import type { Base, Handle } from "../src/internal/channel.js"
import * as publisher from "../src/internal/publisher.js"
import { content } from "./contenders.js"

type Callback = (error: unknown, ok?: unknown) => void

/** amqplib's `ConfirmChannel`, as far as a publisher uses it; its broker confirms once per turn. */
class Stub extends EventEmitter {
  private pending: Array<Callback> = []
  private scheduled = false
  closed = false

  publish(_exchange: string, _routingKey: string, _content: Buffer, _options: unknown, callback: Callback): boolean {
    this.pending.push(callback)
    if (!this.scheduled) {
      this.scheduled = true
      setImmediate(this.confirm)
    }
    return true
  }

  private readonly confirm = () => {
    this.scheduled = false
    const batch = this.pending
    this.pending = []
    for (const callback of batch) callback(null, {})
  }

  close(): Promise<void> {
    this.closed = true
    this.emit("close")
    return Promise.resolve()
  }
}

/** A channel handle whose channel is a {@link Stub}, open at once. */
const stubHandle = Effect.gen(function*() {
  const status = yield* SubscriptionRef.make<AmqpConnection.Status>({ _tag: "Connected", attempt: 1 })
  const manager = yield* Connection.make<Stub, never>({
    name: "overhead",
    acquire: Effect.acquireRelease(Effect.sync(() => new Stub()), (stub) => Effect.promise(() => stub.close())),
    lost: (stub) =>
      Effect.async<void>((resume) => {
        stub.once("close", () => resume(Effect.void))
      }),
    policy: Reconnect.fixed("100 millis"),
    connectTimeout: Duration.infinity
  })
  const handle: Handle<amqplib.ConfirmChannel> = {
    name: "overhead",
    amqp: { name: "overhead", status: SubscriptionRef.get(status), changes: status.changes } as unknown as Base,
    manager: manager as unknown as Connection.Connection<amqplib.ConfirmChannel>,
    policy: Reconnect.fixed("100 millis"),
    isClosed: (channel) => (channel as unknown as Stub).closed,
    errorOf: () => undefined
  }
  const stub = yield* manager.await()
  return { handle, stub }
})

export interface Measured {
  readonly perSecond: number
  /** CPU time (user + system) per message, in µs. */
  readonly cpu: number
}

const measure = async (loops: Loops, concurrency: number, millis: number): Promise<Measured> => {
  const cpu = process.cpuUsage()
  const start = performance.now()
  const messages = await loops(concurrency, start + millis)
  const seconds = (performance.now() - start) / 1000
  const used = process.cpuUsage(cpu)
  return { perSecond: messages / seconds, cpu: (used.user + used.system) / messages }
}

const quiet = Logger.withMinimumLogLevel(LogLevel.Warning)

/** The two contenders on their own stubs; `close` ends their scope. */
export const contenders = async () => {
  const scope = Effect.runSync(Scope.make())
  const built = await Effect.runPromise(
    Effect.gen(function*() {
      const redial = yield* stubHandle
      const pub = yield* publisher.make(redial.handle, {})
      const floor = yield* stubHandle
      const raw = floor.stub
      return [
        { name: "redial", loops: effectLoops(() => pub.publish("", "q", content)) },
        {
          name: "floor",
          loops: effectLoops(() =>
            Effect.async<void, unknown>((resume) => {
              raw.publish("", "q", content, {}, (error) => resume(error ? Effect.fail(error) : Effect.void))
            })
          )
        }
      ] as const
    }).pipe(Scope.extend(scope), quiet)
  )
  return { contenders: built, close: () => Effect.runPromise(Scope.close(scope, Exit.void).pipe(quiet)) }
}

const [which = "all", inFlight = "64", seconds = "2", rounds = "3"] = process.argv.slice(2)
const { close, contenders: all } = await contenders()
try {
  const chosen = all.filter((c) => which === "all" || c.name === which)
  const samples = new Map<string, Array<Measured>>()
  for (let round = 0; round < Number(rounds); round++) {
    for (const { loops, name } of order(chosen, round)) {
      await measure(loops, Number(inFlight), 500)
      collect()
      samples.set(name, [...(samples.get(name) ?? []), await measure(loops, Number(inFlight), Number(seconds) * 1000)])
    }
  }
  for (const { name } of chosen) {
    const of = samples.get(name) ?? []
    console.log(
      `${name.padEnd(7)} ${inFlight} in flight: ${
        thousands(median(of.map((m) => m.perSecond))).padStart(8)
      } publishes/s, ` +
        `${fixed(median(of.map((m) => m.cpu)), 1)} µs CPU/message (samples: ${list(of.map((m) => m.cpu), 1)})`
    )
  }
} finally {
  await close()
}
