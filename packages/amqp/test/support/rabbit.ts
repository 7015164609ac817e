/**
 * The shared RabbitMQ broker (127.0.0.1:5672, guest/guest), seen from the server side with
 * `rabbitmqctl`: connections are found by their `connection_name` client property (the
 * `name` option), so a test counts and closes only its own. The broker is never stopped or
 * reconfigured here.
 */
import * as amqplib from "amqplib"
import * as Effect from "effect/Effect"
import { execFile } from "node:child_process"
import * as crypto from "node:crypto"

/** The broker's URL. */
export const url = "amqp://guest:guest@127.0.0.1:5672"
export const port = 5672

const PATH = `${process.env["PATH"] ?? ""}:/usr/sbin:/sbin`

/** Runs `rabbitmqctl args…` and returns its standard output. */
export const rabbitmqctl = (...args: ReadonlyArray<string>): Effect.Effect<string> =>
  Effect.async<string>((resume) => {
    const child = execFile(
      "rabbitmqctl",
      [...args],
      { env: { ...process.env, PATH }, timeout: 60_000, maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error) resume(Effect.die(new Error(`rabbitmqctl ${args.join(" ")} failed: ${stderr || error.message}`)))
        else resume(Effect.succeed(stdout))
      }
    )
    return Effect.sync(() => child.kill())
  })

/** A name no other test uses: for connections, queues and exchanges. */
export const unique = (prefix: string): string => `${prefix}-${crypto.randomBytes(6).toString("hex")}`

const rows = (output: string): Array<Array<string>> =>
  output.split("\n").filter((line) => line.length > 0).map((line) => line.split("\t"))

/** The broker's pids of the open connections whose connection_name is `name`. */
export const connectionsNamed = (name: string): Effect.Effect<Array<string>> =>
  Effect.map(
    rabbitmqctl("list_connections", "pid", "client_properties", "--quiet", "--no-table-headers"),
    (output) =>
      rows(output).filter(([, properties]) => properties?.includes(`{"connection_name","${name}"}`)).map(([pid]) =>
        pid!
      )
  )

/** How many channels are open on the connections named `name`. */
export const channelsOf = (name: string): Effect.Effect<number> =>
  Effect.gen(function*() {
    const pids = new Set(yield* connectionsNamed(name))
    if (pids.size === 0) return 0
    const channels = rows(yield* rabbitmqctl("list_channels", "connection", "--quiet", "--no-table-headers"))
    return channels.filter(([connection]) => pids.has(connection!)).length
  })

/** Closes every connection named `name` from the broker's side (the client sees 320 CONNECTION_FORCED). */
export const closeConnection = (name: string, reason = "closed by a test"): Effect.Effect<number> =>
  Effect.gen(function*() {
    const pids = yield* connectionsNamed(name)
    for (const pid of pids) yield* rabbitmqctl("close_connection", pid, reason)
    return pids.length
  })

/** A plain amqplib connection for a test's own set-up and checks, closed with the scope. */
export const admin = Effect.acquireRelease(
  Effect.promise(async () => {
    const connection = await amqplib.connect(url)
    connection.on("error", () => {})
    const channel = await connection.createChannel()
    channel.on("error", () => {})
    return { connection, channel }
  }),
  ({ connection }) => Effect.promise(() => connection.close().catch(() => {}))
)

/** Runs `f` on a fresh admin channel (a failed call closes only that channel). */
export const withChannel = <A>(f: (channel: amqplib.Channel) => Promise<A>): Effect.Effect<A, unknown> =>
  Effect.scoped(Effect.flatMap(admin, ({ channel }) => Effect.tryPromise({ try: () => f(channel), catch: (e) => e })))
