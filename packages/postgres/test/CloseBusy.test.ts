/**
 * A connection the pool drops while its query runs (held past the pool's timeout) is cancelled on
 * the server before it is closed: a busy backend reads no Terminate, and would run its query to
 * the end after its client left (found by the @redial/sql tests: `pg_sleep(30)` held past a
 * 300 ms timeout stayed active on the server after the pool had closed).
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { PgPool } from "../src/index.js"
import * as Pg from "./support/pg.js"

describe("closing a busy connection", () => {
  it.live("a query held past the pool's timeout is stopped on the server, and no backend is left", () =>
    Effect.gen(function*() {
      const app = Pg.unique("close_busy")
      const error = yield* Effect.scoped(Effect.gen(function*() {
        const pool = yield* PgPool.make({ connect: Pg.config(app), size: 1, name: app, timeout: "300 millis" })
        return yield* Effect.flip(pool.query("select pg_sleep(30)"))
      }))
      expect(error._tag).toBe("Timeout")
      // the backend is gone (or at least no longer running the sleep) well before the 30 s
      const deadline = 50
      let left = -1
      for (let i = 0; i < deadline; i++) {
        left = yield* Pg.backends(app)
        if (left === 0) break
        yield* Effect.sleep("100 millis")
      }
      expect(left).toBe(0)
    }))
})
