/**
 * A real grpc-js server for the integration tests, in the test process on
 * loopback, serving the `redial.test.Test` service of `test/fixtures/test.proto`.
 *
 * The server can be stopped (every connection closed at once) and started
 * again on the same port, counts the TCP connections it holds, and records
 * every call it receives with its metadata.
 */
import * as grpc from "@grpc/grpc-js"
import * as protoLoader from "@grpc/proto-loader"
import { Clock, Data, Duration, Effect, Schedule } from "effect"
import type { Scope } from "effect"
import { once } from "node:events"
import * as fs from "node:fs/promises"
import { setTimeout as delay } from "node:timers/promises"
import { fileURLToPath } from "node:url"

// --- the service ------------------------------------------------------------------------------

/** Absolute path of `test/fixtures/test.proto`. */
export const protoPath: string = fileURLToPath(new URL("../fixtures/test.proto", import.meta.url))

/**
 * How the proto is loaded, here and by anyone loading it again:
 *
 * - `keepCase: false`: fields are camelCase in JS (`delay_ms` is `delayMs`), the
 *   usual grpc-js convention; map keys are data and keep their case.
 * - `longs: Number`: int64 fields are plain numbers (the tests stay far below 2^53).
 * - `defaults: true`: decoded messages carry every field, so the interfaces
 *   below hold for what a handler or client receives.
 */
export const loaderOptions: protoLoader.Options = {
  keepCase: false,
  longs: Number,
  enums: String,
  defaults: true,
  oneofs: true
}

/** `EchoRequest`: Echo replies after `delayMs`. */
export interface EchoRequest {
  readonly message: string
  readonly delayMs: number
}

/** `EchoReply`: the message and the request's metadata (key → first value; binary values in base64). */
export interface EchoReply {
  readonly message: string
  readonly metadata: Readonly<Record<string, string>>
}

/** `CountRequest`: stream n = 1..count, `intervalMs` apart; count 0 streams forever. */
export interface CountRequest {
  readonly count: number
  readonly intervalMs: number
}

/** `CountReply`. */
export interface CountReply {
  readonly n: number
}

/** `FailRequest`: the status code, details and trailing metadata to answer with. */
export interface FailRequest {
  readonly code: number
  readonly details: string
  readonly trailers: Readonly<Record<string, string>>
}

/** `Number` (an int64 `value`), what Sum's client sends. */
export interface Number {
  readonly value: number
}

/** `Total`: the sum of the values Sum received and how many there were. */
export interface Total {
  readonly value: number
  readonly count: number
}

/** The loaded `redial.test.Test` service. */
export interface TestService {
  /** For `new grpc.Server().addService`, `grpc.makeGenericClientConstructor(service, "Test")`. */
  readonly service: grpc.ServiceDefinition
  readonly packageDefinition: protoLoader.PackageDefinition
}

/** The fully qualified service name; call paths are `/redial.test.Test/Echo` etc. */
export const serviceName = "redial.test.Test"

const isService = (definition: protoLoader.AnyDefinition | undefined): definition is protoLoader.ServiceDefinition =>
  definition !== undefined && !("format" in definition)

let loaded: TestService | undefined

/**
 * Loads `test.proto` (synchronously, once per process) with `loaderOptions`.
 */
export const loadTestService = (): TestService => {
  if (loaded === undefined) {
    const packageDefinition = protoLoader.loadSync(protoPath, loaderOptions)
    const service = packageDefinition[serviceName]
    if (!isService(service)) throw new Error(`${protoPath} does not define the service ${serviceName}`)
    loaded = { service, packageDefinition }
  }
  return loaded
}

// --- the handlers -----------------------------------------------------------------------------

/** A call the server received. */
export interface ReceivedCall {
  /** The method name, e.g. `"Echo"`. */
  readonly method: string
  /** The full path, e.g. `"/redial.test.Test/Echo"`. */
  readonly path: string
  /** The request metadata: key → first value (binary values in base64). */
  readonly metadata: Readonly<Record<string, string>>
}

const metadataRecord = (metadata: grpc.Metadata): Record<string, string> => {
  const record: Record<string, string> = {}
  for (const [key, value] of Object.entries(metadata.getMap())) {
    record[key] = typeof value === "string" ? value : value.toString("base64")
  }
  return record
}

/**
 * Sleeps that end early, with `false`, once the call is cancelled (by the
 * client, or because its connection died), so no handler outlives its call.
 */
const cancellation = (call: {
  readonly cancelled: boolean
  readonly once: (event: "cancelled", listener: () => void) => unknown
}) => {
  const controller = new AbortController()
  if (call.cancelled) controller.abort()
  else call.once("cancelled", () => controller.abort())
  const signal = controller.signal
  return {
    signal,
    sleep: (millis: number): Promise<boolean> =>
      signal.aborted
        ? Promise.resolve(false)
        : millis <= 0
        ? Promise.resolve(true)
        : delay(millis, undefined, { signal }).then(() => true, () => false)
  }
}

const handlers = (record: (method: string, metadata: grpc.Metadata) => void): grpc.UntypedServiceImplementation => ({
  Echo: (call: grpc.ServerUnaryCall<EchoRequest, EchoReply>, callback: grpc.sendUnaryData<EchoReply>) => {
    record("Echo", call.metadata)
    const metadata = metadataRecord(call.metadata)
    void cancellation(call).sleep(call.request.delayMs).then((alive) => {
      if (alive) callback(null, { message: call.request.message, metadata })
    })
  },

  Count: (call: grpc.ServerWritableStream<CountRequest, CountReply>) => {
    record("Count", call.metadata)
    call.on("error", () => {})
    const { signal, sleep } = cancellation(call)
    const { count, intervalMs } = call.request
    const run = async () => {
      for (let n = 1; count === 0 || n <= count; n++) {
        if (n > 1 && !(await sleep(intervalMs))) return
        if (signal.aborted) return
        // Honour backpressure, or a forever stream with interval 0 would fill memory.
        if (!call.write({ n })) await once(call, "drain", { signal })
      }
      call.end()
    }
    void run().catch(() => {})
  },

  Fail: (call: grpc.ServerUnaryCall<FailRequest, EchoReply>, callback: grpc.sendUnaryData<EchoReply>) => {
    record("Fail", call.metadata)
    const { code, details, trailers } = call.request
    const metadata = new grpc.Metadata()
    try {
      for (const [key, value] of Object.entries(trailers)) metadata.set(key, value)
    } catch (error) {
      callback({ code: grpc.status.INVALID_ARGUMENT, details: `bad trailers: ${String(error)}` })
      return
    }
    if (code === grpc.status.OK) callback(null, { message: details, metadata: {} }, metadata)
    else callback({ code, details, metadata })
  },

  Sum: (call: grpc.ServerReadableStream<Number, Total>, callback: grpc.sendUnaryData<Total>) => {
    record("Sum", call.metadata)
    let value = 0
    let count = 0
    call.on("data", (number: Number) => {
      value += number.value
      count++
    })
    call.on("end", () => callback(null, { value, count }))
    call.on("error", () => {})
  },

  Chat: (call: grpc.ServerDuplexStream<EchoRequest, EchoReply>) => {
    record("Chat", call.metadata)
    call.on("error", () => {})
    const metadata = metadataRecord(call.metadata)
    const { sleep } = cancellation(call)
    // One chain keeps the replies in request order whatever their delays.
    let replies = Promise.resolve(true)
    call.on("data", (request: EchoRequest) => {
      replies = replies.then(async (alive) => {
        if (!alive || !(await sleep(request.delayMs))) return false
        call.write({ message: request.message, metadata })
        return true
      })
    })
    call.on("end", () => {
      void replies.then((alive) => {
        if (alive) call.end()
      })
    })
  }
})

// --- connections, from /proc ------------------------------------------------------------------

const ESTABLISHED = "01"
const LISTEN = "0A"

const readOrEmpty = (path: string): Promise<string> =>
  fs.readFile(path, "utf8").catch((error: NodeJS.ErrnoException) => {
    if (error.code === "ENOENT") return "" // no IPv6 in this kernel
    throw error
  })

/** The inodes of the sockets this process holds open. */
const ownSocketInodes = async (): Promise<Set<string>> => {
  const inodes = new Set<string>()
  const fds = await fs.readdir("/proc/self/fd")
  await Promise.all(fds.map(async (fd) => {
    const link = await fs.readlink(`/proc/self/fd/${fd}`).catch(() => "") // closed meanwhile
    const match = /^socket:\[(\d+)\]$/.exec(link)
    if (match !== null) inodes.add(match[1]!)
  }))
  return inodes
}

/**
 * How many of this process's TCP sockets with local (or remote) port `port` are in each
 * state (`/proc/net/tcp` hex state codes). Counting only this process's
 * sockets keeps out another process's client that happens to get `port` as
 * its ephemeral port while the server is stopped.
 */
const socketStates = (port: number, side: "local" | "remote" = "local"): Effect.Effect<Map<string, number>> =>
  Effect.promise(async () => {
    const [tables, inodes] = await Promise.all([
      Promise.all([readOrEmpty("/proc/net/tcp"), readOrEmpty("/proc/net/tcp6")]),
      ownSocketInodes()
    ])
    const states = new Map<string, number>()
    for (const line of tables.join("\n").split("\n")) {
      // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode ...
      const fields = line.trim().split(/\s+/)
      const address = fields[side === "local" ? 1 : 2]
      const state = fields[3]
      const inode = fields[9]
      if (address === undefined || state === undefined || inode === undefined || !inodes.has(inode)) continue
      if (parseInt(address.slice(address.lastIndexOf(":") + 1), 16) !== port) continue
      states.set(state, (states.get(state) ?? 0) + 1)
    }
    return states
  })

/**
 * The ESTABLISHED TCP sockets this process holds whose remote port is `port`: the client side of
 * its connections to a server (or a `FaultProxy`) on that port, read from `/proc/net/tcp` and
 * `/proc/net/tcp6`. Linux only. A grpc-js client's sockets are not listed by
 * `process._getActiveHandles()`; here they are, whatever holds them.
 */
export const clientConnections = (port: number): Effect.Effect<number> =>
  socketStates(port, "remote").pipe(Effect.map((states) => states.get(ESTABLISHED) ?? 0))

// --- the server -------------------------------------------------------------------------------

/**
 * The server could not listen: `AddressInUse` when the port stayed taken
 * through the retries, `Bind` for anything else.
 */
export class TestServerError extends Data.TaggedError("TestServerError")<{
  readonly reason: "Bind" | "AddressInUse"
  readonly address: string
  readonly cause: unknown
}> {
  override get message() {
    return `The test server could not listen on ${this.address}` +
      (this.reason === "AddressInUse" ? " (address in use)" : "") +
      `: ${this.cause instanceof Error ? this.cause.message : String(this.cause)}`
  }
}

/** A running (or stopped) test server. */
export interface TestServer {
  /** The port, fixed for the server's life (the ephemeral one chosen when `port` was 0). */
  readonly port: number
  /** `host:port`, e.g. `"127.0.0.1:40123"`, for `new grpc.Client(address, ...)`. */
  readonly address: string
  /**
   * `forceShutdown`: every connection is closed at once and the port freed.
   * Returns once the listener and the server-side sockets are gone. No-op when
   * stopped.
   *
   * grpc-js ends each HTTP/2 session with a CANCEL, so calls in flight fail
   * with CANCELLED ("Call cancelled"); new calls fail with UNAVAILABLE. For a
   * crash-like connection loss (ECONNRESET, UNAVAILABLE in flight), put a
   * `FaultProxy` from @redial/testing in front and `cut` it.
   */
  readonly stop: Effect.Effect<void>
  /**
   * Listens again on the same port with a fresh `grpc.Server` (retrying a
   * few seconds while the port is still in use). No-op when running.
   */
  readonly start: Effect.Effect<void, TestServerError>
  /** Whether the server is listening. */
  readonly running: Effect.Effect<boolean>
  /** The ESTABLISHED TCP connections on the server side of `port`. Linux only (reads /proc). */
  readonly connections: Effect.Effect<number>
  /** Every call received since `make`, across restarts, in order of arrival. */
  readonly calls: Effect.Effect<ReadonlyArray<ReceivedCall>>
}

/** Options of `TestServer.make`. */
export interface TestServerOptions {
  /** Default 0: an ephemeral port. */
  readonly port?: number
  /** Default `"127.0.0.1"`. */
  readonly host?: string
  /** Serve TLS with this key and certificate chain (PEM); plaintext without. */
  readonly tls?: { readonly key: Buffer; readonly cert: Buffer }
}

/** Real time for the waits here, even under a TestClock: the server runs on real time. */
const live = <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> => Effect.withClock(self, Clock.make())

const bind = (
  server: grpc.Server,
  address: string,
  credentials: grpc.ServerCredentials
): Effect.Effect<number, TestServerError> =>
  Effect.async<number, TestServerError>((resume) => {
    const fail = (cause: unknown) =>
      resume(
        Effect.fail(
          new TestServerError({
            reason: cause instanceof Error && cause.message.includes("EADDRINUSE") ? "AddressInUse" : "Bind",
            address,
            cause
          })
        )
      )
    try {
      server.bindAsync(address, credentials, (error, port) => {
        if (error === null) resume(Effect.succeed(port))
        else fail(error)
      })
    } catch (error) {
      fail(error)
    }
  })

const hostPort = (host: string, port: number): string => host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`

const make = (options: TestServerOptions = {}): Effect.Effect<TestServer, TestServerError, Scope.Scope> =>
  Effect.gen(function*() {
    const host = options.host ?? "127.0.0.1"
    const credentials = options.tls === undefined
      ? grpc.ServerCredentials.createInsecure()
      : grpc.ServerCredentials.createSsl(null, [{ private_key: options.tls.key, cert_chain: options.tls.cert }])
    const { service } = loadTestService()
    const calls: Array<ReceivedCall> = []
    const implementation = handlers((method, metadata) => {
      calls.push({ method, path: `/${serviceName}/${method}`, metadata: metadataRecord(metadata) })
    })
    const lock = yield* Effect.makeSemaphore(1)
    let current: grpc.Server | undefined

    const listen = (port: number): Effect.Effect<number, TestServerError> =>
      Effect.suspend(() => {
        const server = new grpc.Server()
        server.addService(service, implementation)
        return bind(server, hostPort(host, port), credentials).pipe(
          Effect.tap(() => {
            current = server
          }),
          Effect.tapError(() => Effect.sync(() => server.forceShutdown()))
        )
      })

    const port = yield* Effect.acquireRelease(listen(options.port ?? 0), () => stop)

    const connections = socketStates(port).pipe(Effect.map((states) => states.get(ESTABLISHED) ?? 0))

    // forceShutdown closes the listener and destroys the sessions, but the
    // sockets close on a later tick: wait (briefly) so "stopped" means it.
    const closed = socketStates(port).pipe(
      Effect.repeat({
        schedule: Schedule.spaced("5 millis"),
        until: (states) => (states.get(LISTEN) ?? 0) === 0 && (states.get(ESTABLISHED) ?? 0) === 0
      }),
      Effect.timeout("2 seconds"),
      // Best effort: a start after this retries while the port is still taken.
      Effect.catchAllCause(() => Effect.void),
      live
    )

    const stop: Effect.Effect<void> = lock.withPermits(1)(Effect.suspend(() => {
      const server = current
      if (server === undefined) return Effect.void
      current = undefined
      server.forceShutdown()
      return closed
    }))

    const start: Effect.Effect<void, TestServerError> = lock.withPermits(1)(
      Effect.suspend(() =>
        current !== undefined ? Effect.void : listen(port).pipe(
          Effect.retry({
            schedule: Schedule.spaced("20 millis"),
            while: (error) => error.reason === "AddressInUse",
            times: 250
          }),
          live,
          Effect.asVoid
        )
      )
    )

    return {
      port,
      address: hostPort(host, port),
      stop,
      start,
      running: Effect.sync(() => current !== undefined),
      connections,
      calls: Effect.sync(() => calls.slice())
    }
  })

/**
 * @example
 * const server = yield* TestServer.make()
 * const client = new (grpc.makeGenericClientConstructor(loadTestService().service, "Test"))(
 *   server.address, grpc.credentials.createInsecure())
 */
export const TestServer = {
  /** Listens on `host:port` (default `127.0.0.1`, an ephemeral port); force-shut down when the scope closes. */
  make
}

// --- waiting ----------------------------------------------------------------------------------

/** `waitFor` gave up: the condition did not hold in time. */
export class WaitForTimeoutError extends Data.TaggedError("WaitForTimeoutError")<{
  readonly description: string
  readonly timeout: Duration.Duration
  readonly last: unknown
}> {
  override get message() {
    return `Timed out after ${Duration.format(this.timeout)} waiting for ${this.description}; last value: ${
      show(this.last)
    }`
  }
}

const show = (value: unknown): string => {
  try {
    return JSON.stringify(value) ?? String(value)
  } catch {
    return String(value)
  }
}

/**
 * Runs `self` every 10 ms, in real time, until `predicate` holds for its value,
 * and returns that value. Fails with `WaitForTimeoutError` after `timeout`
 * (default 5 seconds); errors of `self` end the wait at once.
 *
 * @example
 * yield* waitFor(server.connections, (n) => n === 0, { description: "the server to drop its connections" })
 */
export const waitFor = <A, E, R>(
  self: Effect.Effect<A, E, R>,
  predicate: (value: A) => boolean,
  options: { readonly timeout?: Duration.DurationInput; readonly description?: string } = {}
): Effect.Effect<A, E | WaitForTimeoutError, R> =>
  Effect.suspend(() => {
    const timeout = Duration.decode(options.timeout ?? "5 seconds")
    let last: unknown = undefined
    const poll: Effect.Effect<A, E, R> = Effect.flatMap(self, (value) => {
      last = value
      return predicate(value) ? Effect.succeed(value) : Effect.zipRight(Effect.sleep("10 millis"), poll)
    })
    return poll.pipe(
      Effect.timeoutFail({
        duration: timeout,
        onTimeout: () => new WaitForTimeoutError({ description: options.description ?? "the condition", timeout, last })
      }),
      live
    )
  })
