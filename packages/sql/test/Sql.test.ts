/**
 * @effect/sql's own test cases that need a real client (Effect-TS/effect, branch v3): the
 * `SqlPersistedQueue` suite (packages/sql/test/SqlPersistedQueueTest.ts, which @effect/sql-pg runs
 * against its client in packages/sql-pg/test/SqlPersistedQueue.test.ts), run here against
 * `RedialPgClient.layer` on the shared server. The same cases and expectations; each test has its
 * queue table of its own (`layerStore({ tableName })`, upstream uses the default table of a fresh
 * container) and a client of its own, checked for leftover backends once released.
 *
 * Upstream's `Effect.fnUntraced(function*(value) { assert… })` callbacks without a `yield` are
 * `(value) => Effect.sync(() => assert…)` here (the lint's require-yield).
 *
 * As upstream, the tests run under the TestClock (`it.effect`, as `it.layer` builds its layer with
 * the test services): the store polls every second of TestClock time, and `TestClock.adjust`
 * drives it.
 */
import { PersistedQueue } from "@effect/experimental"
import { SqlPersistedQueue } from "@effect/sql"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Layer, Schema, TestClock, TestServices } from "effect"
import * as Pg from "./support/pg.js"

const Item = Schema.Struct({
  n: Schema.BigInt
})

/**
 * upstream's `suite(client)` layer (`PersistedQueue.layer` on `SqlPersistedQueue.layerStore()`,
 * merged with the client), with a queue table and an application_name of the test's own; the table
 * is dropped and the backends counted (live clock) once the layer is released.
 */
const withQueue = <A, E, R>(prefix: string, effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const app = Pg.unique(prefix)
    const tableName = Pg.unique("effect_queue")
    const layer = PersistedQueue.layer.pipe(
      Layer.provide(SqlPersistedQueue.layerStore({ tableName })),
      Layer.provideMerge(Pg.clientLayer(app))
    )
    yield* Pg.dropping([tableName], Effect.provide(effect, layer))
    yield* TestServices.provideLive(Pg.noBackendLeft(app))
  })

// upstream: packages/sql/test/SqlPersistedQueueTest.ts, it.layer(layer)("SqlPersistedQueue", …),
// run by packages/sql-pg/test/SqlPersistedQueue.test.ts with PgContainer.ClientLive
describe("SqlPersistedQueue (upstream SqlPersistedQueueTest.ts via sql-pg SqlPersistedQueue.test.ts)", () => {
  // upstream: "offer + take"
  it.effect("offer + take", () =>
    withQueue(
      "sqlq_offer",
      Effect.gen(function*() {
        const queue = yield* PersistedQueue.make({
          name: "test-queue-a",
          schema: Item
        })

        yield* queue.offer({ n: 42n })
        yield* queue.take((value) =>
          Effect.sync(() => {
            assert.strictEqual(value.n, 42n)
          })
        )
      })
    ))

  // upstream: "interrupt"
  it.effect("interrupt", () =>
    withQueue(
      "sqlq_interrupt",
      Effect.gen(function*() {
        const queue = yield* PersistedQueue.make({
          name: "test-queue-b",
          schema: Item
        })

        yield* queue.offer({ n: 42n })

        const latch = Effect.unsafeMakeLatch()
        const fiber = yield* queue.take(Effect.fnUntraced(function*(_value) {
          yield* latch.open
          return yield* Effect.never
        })).pipe(Effect.fork)

        const fiber2 = yield* queue.take((val) => Effect.succeed(val)).pipe(Effect.fork)

        yield* latch.await

        // allow some real time to pass to ensure the second take is really
        // waiting
        yield* TestClock.adjust(1000)
        yield* Effect.sleep(1000).pipe(
          TestServices.provideLive
        )
        assert.isNull(fiber2.unsafePoll())

        yield* Fiber.interrupt(fiber)

        yield* TestClock.adjust(1000)

        assert.strictEqual((yield* Fiber.join(fiber2)).n, 42n)
      })
    ))

  // upstream: "failure"
  it.effect("failure", () =>
    withQueue(
      "sqlq_failure",
      Effect.gen(function*() {
        const queue = yield* PersistedQueue.make({
          name: "test-queue-c",
          schema: Item
        })

        yield* queue.offer({ n: 42n })

        const error = yield* queue.take(() => Effect.fail("boom")).pipe(Effect.flip)
        assert.strictEqual(error, "boom")

        const value = yield* queue.take((val, { attempts }) => {
          assert.strictEqual(attempts, 1)
          return Effect.succeed(val)
        })
        assert.strictEqual(value.n, 42n)
      })
    ))

  // upstream: "idempotent offer"
  it.effect("idempotent offer", () =>
    withQueue(
      "sqlq_idempotent",
      Effect.gen(function*() {
        const queue = yield* PersistedQueue.make({
          name: "idempotent-offer",
          schema: Item
        })

        yield* queue.offer({ n: 42n }, { id: "custom-id" })
        yield* queue.offer({ n: 42n }, { id: "custom-id" })
        yield* queue.take((value) =>
          Effect.sync(() => {
            assert.strictEqual(value.n, 42n)
          })
        )
        const fiber = yield* queue.take((value) =>
          Effect.sync(() => {
            assert.strictEqual(value.n, 42n)
          })
        ).pipe(Effect.fork)

        yield* TestClock.adjust(1000)
        yield* Effect.sleep(1000).pipe(
          TestServices.provideLive
        )

        assert.isNull(fiber.unsafePoll())
      })
    ))
})
