/**
 * `npm run demo:amqp`: a confirmed publisher and a consumer on one cached RabbitMQ connection that
 * lose nothing while the path to the broker is cut, refused and restored, and while the broker
 * itself closes the connection.
 *
 * The local broker (127.0.0.1:5672, guest/guest), a FaultProxy in front of it, and an
 * `AmqpConnection` through the proxy with two channels: a confirm channel whose publisher sends
 * about 400 messages a second (each with its `messageId`, up to 64 awaiting their confirm), and a
 * channel consuming the same queue (prefetch 50), acking each delivery and counting the distinct
 * message ids. Every status change of the connection and of both channels is printed as it
 * happens (from their `changes`). At the end the publisher stops, `flush` waits for every
 * confirm, and the demo waits until every confirmed message was consumed; it prints
 * "N published, N confirmed, N consumed, 0 lost" and exits 0, or 1 if a confirmed message never
 * arrived. Duplicates (at-least-once: a message whose confirm was lost with the connection is
 * sent again) are counted apart.
 *
 * About 18 seconds. REDIAL_DEMO_PACE=0.5 runs every scene in half the time; REDIAL_DEMO_LOGS=1
 * also shows redial's own log lines.
 */
import { AmqpConnection } from "@redial/amqp"
import type { AmqpChannel } from "@redial/amqp"
import { classify } from "@redial/amqp/AmqpError"
import { type Connection, Reconnect } from "@redial/core"
import { FaultProxy } from "@redial/testing"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Stream from "effect/Stream"
import * as SubscriptionRef from "effect/SubscriptionRef"
import { execFile } from "node:child_process"
import * as crypto from "node:crypto"
import { colour, describeStatus, runDemo, timeline } from "./terminal.js"

const BROKER = { host: "127.0.0.1", port: 5672 }
const PACE = Number(process.env["REDIAL_DEMO_PACE"] ?? "1")
/** A scene's length, scaled by REDIAL_DEMO_PACE. */
const scene = (millis: number) => Effect.sleep(Duration.millis(millis * PACE))

/** Runs `rabbitmqctl args…` (as the amqp tests do: test/support/rabbit.ts). */
const rabbitmqctl = (...args: ReadonlyArray<string>): Effect.Effect<string, Error> =>
  Effect.async<string, Error>((resume) => {
    const child = execFile(
      "rabbitmqctl",
      [...args],
      { env: { ...process.env, PATH: `${process.env["PATH"] ?? ""}:/usr/sbin:/sbin` }, timeout: 30_000 },
      (error, stdout, stderr) =>
        resume(
          error ? Effect.fail(new Error(`rabbitmqctl ${args[0]}: ${stderr || error.message}`)) : Effect.succeed(stdout)
        )
    )
    return Effect.sync(() => child.kill())
  })

/** The broker's pids of the connections whose connection_name is `name`. */
const connectionsNamed = (name: string): Effect.Effect<ReadonlyArray<string>, Error> =>
  Effect.map(
    rabbitmqctl("list_connections", "pid", "client_properties", "--quiet", "--no-table-headers"),
    (listed) =>
      listed.split("\n").flatMap((line) => {
        const [pid, properties] = line.split("\t")
        return pid !== undefined && properties?.includes(`{"connection_name","${name}"}`) ? [pid] : []
      })
  )

const describe = (status: AmqpConnection.Status | Connection.Status): string =>
  status._tag === "Blocked"
    ? `${colour.red}Blocked${colour.reset} by the broker (${status.reason})`
    : describeStatus(status)

const program = Effect.gen(function*() {
  const { say, step } = yield* timeline
  const id = crypto.randomBytes(4).toString("hex")
  const name = `redial-demo-${id}`
  const queue = `redial-demo-orders-${id}`

  const proxy = yield* FaultProxy.make({ target: BROKER })
  yield* step(`RabbitMQ on ${BROKER.host}:${BROKER.port}, FaultProxy on ${proxy.address}; queue ${queue}`)

  const amqp = yield* AmqpConnection.make({
    url: `amqp://guest:guest@${proxy.address}`,
    name,
    policy: Reconnect.exponential({ min: "100 millis", max: "1 second" }),
    connectTimeout: "2 seconds",
    minUptime: "1 second"
  })
  const declare = (channel: { assertQueue(queue: string): PromiseLike<unknown> }) => channel.assertQueue(queue)
  const publisher = yield* amqp.confirmChannel({
    name: "publisher",
    setup: declare,
    buffer: { messages: 2_000, overflow: "suspend" },
    confirmTimeout: "5 seconds"
  })
  const consumer = yield* amqp.channel({ name: "consumer", prefetch: 50, setup: declare })

  // Every transition of the connection and of both channels, as it happens.
  const show = <S extends AmqpConnection.Status | Connection.Status>(label: string, changes: Stream.Stream<S>) =>
    Effect.forkScoped(Stream.runForEach(changes, (status) => say(`${label.padEnd(10)} ${describe(status)}`)))
  yield* show("connection", amqp.changes)
  // Why each live connection ended, read from amqplib's `close` (the status only says what comes next),
  // until the demo's own close at the end.
  let ending = false
  yield* amqp.changes.pipe(
    Stream.filter((status) => status._tag === "Connected"),
    Stream.runForEach(() =>
      Effect.flatMap(Effect.either(amqp.get), (model) =>
        Effect.sync(() => {
          if (model._tag === "Left") return
          model.right.once("close", (error?: Error) => {
            if (ending) return
            const reason = error === undefined ? "closed" : classify(error, { connection: name }).message
            Effect.runFork(say(`${"connection".padEnd(10)} ${colour.red}lost${colour.reset}: ${reason}`))
          })
        }))
    ),
    Effect.forkScoped
  )
  yield* show("publisher", publisher.changes)
  yield* show("consumer", consumer.changes)

  // What the publisher and the consumer saw. `outstanding` holds the confirmed ids not consumed yet.
  let published = 0
  let confirmed = 0
  let failed = 0
  let duplicates = 0
  let stale = 0
  const consumed = new Set<string>()
  const confirmedIds = new Set<string>()
  const outstanding = yield* SubscriptionRef.make(0)
  const outstandingIds = new Set<string>()
  const track = Effect.suspend(() => SubscriptionRef.set(outstanding, outstandingIds.size))

  const publishOne = (n: number): Effect.Effect<void> => {
    const messageId = `order-${n}`
    published += 1
    return publisher.sendToQueue(queue, JSON.stringify({ order: n }), { messageId }).pipe(
      Effect.matchEffect({
        onSuccess: () => {
          confirmed += 1
          confirmedIds.add(messageId)
          if (!consumed.has(messageId)) outstandingIds.add(messageId)
          return track
        },
        onFailure: (error: AmqpChannel.PublishError) => {
          failed += 1
          return failed <= 5
            ? say(`  publish ${messageId} ${colour.red}${error._tag}${colour.reset}: ${error.message}`)
            : Effect.void
        }
      })
    )
  }

  let publishing = true
  const publishing$ = yield* Stream.iterate(1, (n) => n + 1).pipe(
    Stream.throttle({ cost: () => 1, units: 4, duration: "10 millis", burst: 8, strategy: "shape" }),
    Stream.takeWhile(() => publishing),
    Stream.mapEffect(publishOne, { concurrency: 64, unordered: true }),
    Stream.runDrain,
    Effect.fork
  )

  const consuming = yield* consumer.consume(queue).pipe(
    Stream.runForEach((delivery) => {
      const messageId = String(delivery.properties.messageId)
      if (consumed.has(messageId)) duplicates += 1
      else consumed.add(messageId)
      outstandingIds.delete(messageId)
      return delivery.ack.pipe(
        Effect.catchTag("StaleDelivery", () => Effect.sync(() => stale += 1)),
        Effect.zipRight(track)
      )
    }),
    Effect.forkScoped
  )

  const progress = Effect.gen(function*() {
    const pending = yield* publisher.pending
    yield* say(
      `  ${colour.dim}published ${published} · confirmed ${confirmed} · consumed ${consumed.size}` +
        ` · buffered ${pending.buffered} · in flight ${pending.inFlight}${colour.reset}`
    )
  })

  yield* publisher.await({ timeout: "10 seconds" })
  yield* consumer.await({ timeout: "10 seconds" })
  yield* step("publishing ~400 messages/s with confirms; consuming with prefetch 50")
  yield* scene(3_000)
  yield* progress

  yield* step("cut: the proxy resets the connection (the channels go with it); everything reconnects at once")
  yield* proxy.cut
  yield* scene(3_000)
  yield* progress

  yield* step("the broker is unreachable: new connections refused, the open one cut; publishes wait in the buffer")
  yield* proxy.refuse(true)
  yield* proxy.cut
  yield* scene(1_500)
  yield* progress
  yield* scene(1_500)
  yield* progress

  yield* step("restored: the next attempt connects; the buffered and the unconfirmed messages are sent, in order")
  yield* proxy.restore
  yield* amqp.await({ timeout: "5 seconds" })
  // rabbitmqctl takes a second or two to start: find the connection's pid meanwhile.
  const pids = yield* Effect.fork(connectionsNamed(name))
  yield* scene(3_000)
  yield* progress

  yield* step("the broker closes the connection (rabbitmqctl close_connection: 320 CONNECTION_FORCED)")
  const found = yield* Fiber.join(pids)
  for (const pid of found) yield* rabbitmqctl("close_connection", pid, "closed by the redial demo")
  yield* say(`  the broker closed ${found.length} connection${found.length === 1 ? "" : "s"} named ${name}`)
  yield* scene(3_000)
  yield* progress

  yield* step("stop publishing; flush waits for the last confirms; wait until every confirmed message is consumed")
  publishing = false
  yield* Fiber.join(publishing$)
  yield* publisher.flush
  yield* outstanding.changes.pipe(
    Stream.takeUntil((n) => n === 0),
    Stream.runDrain,
    Effect.timeoutOption("10 seconds")
  )
  yield* Fiber.interrupt(consuming)
  yield* progress
  yield* Effect.ignore(publisher.call((channel) => channel.deleteQueue(queue)))

  ending = true
  const lost = [...confirmedIds].filter((messageId) => !consumed.has(messageId))
  const unconfirmed = [...consumed].filter((messageId) => !confirmedIds.has(messageId)).length
  yield* say(
    `  ${duplicates} duplicates consumed (dropped by messageId: at-least-once)` +
      (stale > 0 ? `; ${stale} acks of deliveries from a closed channel were StaleDelivery (redelivered)` : "") +
      (failed > 0 ? `; ${failed} publishes failed with a typed error` : "") +
      (unconfirmed > 0 ? `; ${unconfirmed} consumed messages were never confirmed` : "")
  )
  if (lost.length > 0) yield* say(`  ${colour.red}lost: ${lost.slice(0, 10).join(", ")}${colour.reset}`)
  yield* Effect.sync(() =>
    console.log(`${published} published, ${confirmed} confirmed, ${consumed.size} consumed, ${lost.length} lost`)
  )
  if (lost.length > 0) return yield* Effect.fail(new Error(`${lost.length} confirmed messages were never consumed`))
})

runDemo(program)
