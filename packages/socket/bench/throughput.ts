/**
 * Messages per second through one connected socket, 1 KB messages, against an echo server in a
 * child process (servers.ts: the server's CPU is not the bench's): `ResilientSocket` against the
 * bare `@effect/platform` socket it is built on and against the Node socket used directly, for TCP
 * and for WebSocket.
 *
 * Contenders, each on one connection made before the rounds and kept to the end:
 *
 * - TCP, bare platform: `NodeSocket.makeNet` (from @effect/platform-node-shared), one `run` with a
 *   handler that counts the bytes received, writes with `yield* write(message)` from its `writer`
 *   (which completes at the socket's write callback);
 * - TCP, redial: `ResilientSocket.makeNet`, `yield* socket.write(message)`, read with
 *   `Stream.runForEach(socket.messages, …)`;
 * - TCP, floor: a `net.Socket`, `socket.write` and its `data` events, no Effect at all;
 * - WebSocket, bare platform: `Socket.makeWebSocket` with `Socket.WebSocketConstructor` provided
 *   with `ws`'s WebSocket, `run` and `writer` as for TCP (its write completes at `send`);
 * - WebSocket, redial: `ResilientSocket.makeWebSocket` (`ws` underneath), as for TCP;
 * - redial with `run(handler)` (TCP and WebSocket): the same socket read by its callback reader,
 *   the platform's own model, instead of the `messages` Stream;
 * - WebSocket, floor: a `ws` WebSocket, `send` and its `message` events.
 *
 * Every TCP socket has Nagle off (`noDelay`), the server's too.
 *
 * One measurement: for `MEASURE_MS` the client writes 1 KB messages, with at most `window` of them
 * not yet echoed (64: pipelined, throughput-bound; 1: request/response, write one and wait for its
 * echo, latency-bound), then waits for the last echo; messages/s = messages written / time from
 * the first write to the last echoed byte read. Echoed bytes are counted, not messages (TCP
 * coalesces). CPU µs/message is this process's user + system time: the client alone.
 *
 * Each measurement is preceded by a `WARMUP_MS` run of the same contender (not counted) and a full
 * GC. A round measures every contender in each mode, the contenders of one transport and mode back
 * to back (so that a round's ratio compares measurements made under the same machine load), their
 * order rotating from round to round (`order`); a first, shorter round is not counted. The table gives the medians of the rounds and, for redial,
 * the ratio to the bare platform socket (of the medians; its spread is that of the rounds' own
 * ratios).
 */
import * as NodeSocket from "@effect/platform-node-shared/NodeSocket"
import * as Socket from "@effect/platform/Socket"
import { ResilientSocket } from "@redial/socket"
import { Deferred, Effect, Exit, Fiber, Layer, Logger, LogLevel, Scope, Stream } from "effect"
import * as Net from "node:net"
import WebSocket from "ws"
import { collect, fixed, list, median, met, order, ratio, spread, table, thousands } from "../../../bench/report.js"
import * as Servers from "./servers.js"

const WARMUP_MS = 250
const MEASURE_MS = 1_000
const ROUNDS = 5
/** Messages written and not yet echoed, at most: pipelined, then request/response. */
const WINDOWS: ReadonlyArray<number> = [64, 1]
const SIZE = 1024
const TARGET = 0.9

/** The content of every message: 1 KB. */
const message: Uint8Array = Buffer.alloc(SIZE, "redial ")

type Transport = "tcp" | "ws"
type Name = "platform" | "redial" | "redialRun" | "raw"

/** One measurement's bookkeeping: messages written, bytes echoed, and who waits for what. */
class Flow {
  sent = 0
  received = 0
  stopped = false
  /** Called once when the window opens again. */
  credit: (() => void) | undefined = undefined
  /** Called once when every message written was echoed, after `stop`. */
  drained: (() => void) | undefined = undefined
  constructor(readonly window: number) {}

  /** Fewer than `window` messages not yet echoed. */
  get open(): boolean {
    return this.sent * SIZE - this.received < this.window * SIZE
  }

  readonly receive = (bytes: number): void => {
    this.received += bytes
    if (this.stopped) this.checkDrained()
    else if (this.credit !== undefined && this.open) {
      const f = this.credit
      this.credit = undefined
      f()
    }
  }

  stop(): void {
    this.stopped = true
    this.checkDrained()
  }

  private checkDrained(): void {
    if (this.drained !== undefined && this.received >= this.sent * SIZE) {
      const f = this.drained
      this.drained = undefined
      f()
    }
  }
}

/** The effect that waits until the window is open. */
const credit = (flow: Flow): Effect.Effect<void> =>
  flow.open ? Effect.void : Effect.async<void>((resume) => {
    flow.credit = () => resume(Effect.void)
  })

/** Stops the flow and waits until everything written was echoed. */
const drain = (flow: Flow): Effect.Effect<void> =>
  Effect.async<void>((resume) => {
    flow.drained = () => resume(Effect.void)
    flow.stop()
  })

/** One socket under test. `run(window, millis)` writes for `millis` with `window` in flight: messages written. */
interface Contender {
  readonly name: Name
  readonly transport: Transport
  readonly run: (window: number, millis: number) => Promise<number>
  readonly close: () => Promise<void>
}

/** A contender on an Effect socket: `write` one message, and `reader` counting into the current flow. */
const effectContender = (
  name: Name,
  transport: Transport,
  scope: Scope.CloseableScope,
  write: (data: Uint8Array) => Effect.Effect<void, unknown>,
  target: { current: Flow }
): Contender => ({
  name,
  transport,
  run: (window, millis) =>
    Effect.runPromise(Effect.gen(function*() {
      const flow = new Flow(window)
      target.current = flow
      const end = performance.now() + millis
      while (performance.now() < end) {
        if (!flow.open) yield* credit(flow)
        flow.sent++
        yield* write(message)
      }
      yield* drain(flow)
      return flow.sent
    })),
  close: () => Effect.runPromise(Scope.close(scope, Exit.void))
})

/** A contender on a callback socket: writes while the window is open, from its `data` events. */
const callbackContender = (
  name: Name,
  transport: Transport,
  send: (data: Uint8Array) => void,
  target: { current: Flow },
  close: () => Promise<void>
): Contender => ({
  name,
  transport,
  run: (window, millis) =>
    new Promise((resolve) => {
      const flow = new Flow(window)
      target.current = flow
      const end = performance.now() + millis
      const pump = () => {
        while (flow.open) {
          if (performance.now() >= end) {
            flow.drained = () => resolve(flow.sent)
            return flow.stop()
          }
          flow.sent++
          send(message)
        }
        flow.credit = pump
      }
      pump()
    }),
  close
})

const byteLength = (data: Uint8Array | string): number =>
  typeof data === "string" ? Buffer.byteLength(data) : data.byteLength

/** Without the sockets' info logs. */
const quiet = Logger.withMinimumLogLevel(LogLevel.Warning)

/** Runs `make` in a new scope kept open until the contender closes. */
const scoped = <A>(make: (scope: Scope.CloseableScope) => Effect.Effect<A, unknown, Scope.Scope>): Promise<A> =>
  Effect.runPromise(quiet(Effect.flatMap(Scope.make(), (scope) => Scope.extend(make(scope), scope))))

const platformTcp = (port: number): Promise<Contender> =>
  scoped((scope) =>
    Effect.gen(function*() {
      const target = { current: new Flow(1) }
      const socket = yield* NodeSocket.makeNet({ host: "127.0.0.1", port, noDelay: true })
      const opened = yield* Deferred.make<void>()
      yield* Effect.forkScoped(
        socket.run((chunk) => target.current.receive(chunk.byteLength), { onOpen: Deferred.succeed(opened, void 0) })
      )
      yield* Deferred.await(opened)
      const write = yield* socket.writer
      return effectContender("platform", "tcp", scope, write, target)
    })
  )

const platformWs = (port: number): Promise<Contender> =>
  scoped((scope) =>
    Effect.gen(function*() {
      const target = { current: new Flow(1) }
      const socket = yield* Socket.makeWebSocket(`ws://127.0.0.1:${port}`).pipe(
        Effect.provide(
          Layer.succeed(
            Socket.WebSocketConstructor,
            (url, protocols) => new WebSocket(url, protocols) as unknown as globalThis.WebSocket
          )
        )
      )
      const opened = yield* Deferred.make<void>()
      yield* Effect.forkScoped(
        socket.run((chunk) => target.current.receive(chunk.byteLength), { onOpen: Deferred.succeed(opened, void 0) })
      )
      yield* Deferred.await(opened)
      const write = yield* socket.writer
      return effectContender("platform", "ws", scope, write, target)
    })
  )

const redial = (
  transport: Transport,
  make: Effect.Effect<ResilientSocket.ResilientSocket<Uint8Array | string, unknown>, unknown, Scope.Scope>,
  reading: "messages" | "run" = "messages"
): Promise<Contender> =>
  scoped((scope) =>
    Effect.gen(function*() {
      const target = { current: new Flow(1) }
      const socket = yield* make
      yield* socket.await()
      const reader = yield* Effect.forkScoped(
        reading === "messages"
          ? Stream.runForEach(socket.messages, (data) => Effect.sync(() => target.current.receive(byteLength(data))))
          : socket.run((data) => target.current.receive(byteLength(data)))
      )
      yield* Effect.addFinalizer(() => Fiber.interrupt(reader))
      return effectContender(reading === "messages" ? "redial" : "redialRun", transport, scope, socket.write, target)
    })
  )

const rawTcp = (port: number): Promise<Contender> =>
  new Promise((resolve, reject) => {
    const target = { current: new Flow(1) }
    const conn = Net.createConnection({ host: "127.0.0.1", port, noDelay: true })
    conn.once("error", reject)
    conn.once("connect", () => {
      conn.on("data", (chunk: Buffer) => target.current.receive(chunk.byteLength))
      resolve(callbackContender("raw", "tcp", (data) => conn.write(data), target, () =>
        new Promise((resolve) => {
          conn.once("close", () => resolve())
          conn.end()
        })))
    })
  })

const rawWs = (port: number): Promise<Contender> =>
  new Promise((resolve, reject) => {
    const target = { current: new Flow(1) }
    const ws = new WebSocket(`ws://127.0.0.1:${port}`)
    ws.once("error", reject)
    ws.once("open", () => {
      ws.on("message", (data: Buffer) => target.current.receive(data.byteLength))
      resolve(callbackContender("raw", "ws", (data) => ws.send(data), target, () =>
        new Promise((resolve) => {
          ws.once("close", () => resolve())
          ws.close(1000)
        })))
    })
  })

const contenders = async (server: Servers.Child): Promise<ReadonlyArray<Contender>> => [
  await platformTcp(server.tcpPort),
  await redial(
    "tcp",
    ResilientSocket.makeNet({ name: "bench-tcp", host: "127.0.0.1", port: server.tcpPort, noDelay: true })
  ),
  await redial(
    "tcp",
    ResilientSocket.makeNet({ name: "bench-tcp-run", host: "127.0.0.1", port: server.tcpPort, noDelay: true }),
    "run"
  ),
  await rawTcp(server.tcpPort),
  await platformWs(server.wsPort),
  await redial("ws", ResilientSocket.makeWebSocket(`ws://127.0.0.1:${server.wsPort}`, { name: "bench-ws" })),
  await redial(
    "ws",
    ResilientSocket.makeWebSocket(`ws://127.0.0.1:${server.wsPort}`, { name: "bench-ws-run" }),
    "run"
  ),
  await rawWs(server.wsPort)
]

/** Messages per second, and this process's CPU µs per message. */
export interface Measured {
  readonly perSecond: number
  readonly cpu: number
}

export const measure = async (contender: Contender, window: number, millis: number): Promise<Measured> => {
  const cpu = process.cpuUsage()
  const start = performance.now()
  const messages = await contender.run(window, millis)
  const seconds = (performance.now() - start) / 1000
  const used = process.cpuUsage(cpu)
  return { perSecond: messages / seconds, cpu: (used.user + used.system) / messages }
}

const key = (transport: Transport, window: number, name: Name) => `${transport}@${window}:${name}`

type Samples = Map<string, Array<Measured>>

const round = async (
  r: number,
  all: ReadonlyArray<Contender>,
  settings: { readonly warmupMs: number; readonly measureMs: number; readonly windows: ReadonlyArray<number> },
  record: (key: string, measured: Measured) => void
): Promise<void> => {
  for (const transport of ["tcp", "ws"] as const) {
    for (const window of settings.windows) {
      // The contenders of one line back to back, so that a round's ratio compares neighbours.
      for (const contender of order(all.filter((c) => c.transport === transport), r)) {
        await contender.run(window, settings.warmupMs)
        collect()
        record(key(transport, window, contender.name), await measure(contender, window, settings.measureMs))
      }
    }
  }
}

const LABELS: Record<Transport, Record<Name, string>> = {
  tcp: {
    platform: "bare platform: `NodeSocket.makeNet`, `run` + `writer`",
    redial: "`ResilientSocket.makeNet`: `write` + `messages`",
    redialRun: "`ResilientSocket.makeNet`: `write` + `run(handler)`",
    raw: "`net.Socket` used directly (floor)"
  },
  ws: {
    platform: "bare platform: `Socket.makeWebSocket` on ws, `run` + `writer`",
    redial: "`ResilientSocket.makeWebSocket`: `write` + `messages`",
    redialRun: "`ResilientSocket.makeWebSocket`: `write` + `run(handler)`",
    raw: "`ws` used directly (floor)"
  }
}

const MODES: Record<number, string> = { 64: "pipelined, 64 in flight", 1: "request/response" }
const TRANSPORTS: Record<Transport, string> = { tcp: "TCP", ws: "WebSocket" }
const NAMES: ReadonlyArray<Name> = ["platform", "redial", "redialRun", "raw"]

const report = (
  samples: Samples,
  settings: { readonly rounds: number; readonly measureMs: number },
  leftOpen: { readonly tcp: number; readonly ws: number }
): string => {
  const of = (k: string) => samples.get(k) ?? []
  const perSecond = (k: string) => median(of(k).map((m) => m.perSecond))
  const transports = (["tcp", "ws"] as const).filter((t) =>
    WINDOWS.some((w) => NAMES.some((n) => of(key(t, w, n)).length > 0))
  )
  const rows = transports.flatMap((transport) =>
    WINDOWS.flatMap((window) =>
      NAMES.filter((name) => of(key(transport, window, name)).length > 0).map((name) => {
        const k = key(transport, window, name)
        const base = key(transport, window, "platform")
        const rate = perSecond(k)
        const baseRate = perSecond(base)
        const ratios = of(k).map((m, i) => m.perSecond / (of(base)[i]?.perSecond ?? NaN))
        const compared = name !== "platform" && of(base).length > 0
        return [
          TRANSPORTS[transport],
          MODES[window] ?? `${window} in flight`,
          LABELS[transport][name],
          thousands(rate),
          spread(of(k).map((m) => m.perSecond)),
          fixed(median(of(k).map((m) => m.cpu)), 1),
          compared ? ratio(rate, baseRate) : "",
          compared ? spread(ratios) : "",
          (name === "redial" || name === "redialRun") && compared ? met(rate / baseRate >= TARGET) : ""
        ]
      })
    )
  )
  const notes = transports.flatMap((transport) =>
    WINDOWS.flatMap((window) =>
      NAMES.filter((name) => of(key(transport, window, name)).length > 0).map((name) => {
        const values = of(key(transport, window, name))
        return `- ${TRANSPORTS[transport]}, ${MODES[window]}, ${name}: ${
          list(values.map((m) => m.perSecond), thousands)
        } messages/s; ${list(values.map((m) => m.cpu), 1)} µs CPU/message`
      })
    )
  )
  return table(
    `Messages/s through one connected socket, 1 KB messages, echo server in a child process — ${settings.rounds} ` +
      `rounds of ${settings.measureMs / 1000} s, medians`,
    [
      "transport",
      "mode",
      "client",
      "messages/s",
      "spread",
      "CPU µs/msg",
      "÷ bare platform",
      "ratio spread",
      `≥ ${TARGET}× platform?`
    ],
    rows,
    [
      "A message is 1 KB written and its echo read back; `pipelined`: at most 64 messages not yet echoed;",
      "`request/response`: each written after the echo of the one before. The echo servers (`node:net`, `ws`) run",
      "in a child process, so CPU µs/msg is the client's alone (this process's user + system time). Spread: half",
      "the range of the rounds' samples, against the median; ratio spread: the same for the rounds' own ratios.",
      "The bare platform TCP `writer` completes at the socket's write callback; redial's `write` when the bytes",
      "are handed to the socket (its documented guarantee), as the floor's `socket.write`.",
      `Connections the servers still held after every client closed (asked for up to 2 s): TCP ${leftOpen.tcp}, ` +
      `WebSocket ${leftOpen.ws}.`,
      "",
      "Samples (one per round):",
      "",
      ...notes
    ]
  )
}

/**
 * The connections the servers hold once the clients' closes have gone through: a bare platform
 * WebSocket's `close(1000)` does not wait for the closing handshake, so the count is asked again
 * (for up to 2 s) until it is 0.
 */
const settled = async (server: Servers.Child): Promise<{ readonly tcp: number; readonly ws: number }> => {
  for (let i = 0; i < 40; i++) {
    const counts = await server.connections()
    if (counts.tcp + counts.ws === 0) return counts
    await Effect.runPromise(Effect.sleep("50 millis"))
  }
  return server.connections()
}

export const run = async (
  {
    clients = undefined as string | undefined,
    measureMs = MEASURE_MS,
    rounds = ROUNDS,
    warmupMs = WARMUP_MS,
    windows = WINDOWS
  } = {}
): Promise<string> => {
  const server = await Servers.child()
  try {
    const made = await contenders(server)
    const all = clients === undefined
      ? made
      : made.filter((c) => clients.split(",").includes(`${c.transport}:${c.name}`))
    const unused = made.filter((c) => !all.includes(c))
    for (const contender of unused) await contender.close()
    const samples: Samples = new Map()
    try {
      // A first round, short and not counted, warms the JIT for every contender.
      await round(0, all, { warmupMs, measureMs: warmupMs, windows }, () => {})
      for (let r = 0; r < rounds; r++) {
        await round(r, all, { warmupMs, measureMs, windows }, (k, measured) => {
          samples.set(k, [...(samples.get(k) ?? []), measured])
        })
      }
    } finally {
      for (const contender of all) await contender.close()
    }
    const leftOpen = await settled(server)
    return report(samples, { rounds, measureMs }, leftOpen)
  } finally {
    await server.close()
  }
}
