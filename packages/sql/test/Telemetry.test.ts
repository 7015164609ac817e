/**
 * Telemetry as @effect/sql-pg has it: every statement's `sql.execute` span carries
 * `db.system.name`, `db.namespace`, `server.address`, `server.port` (from the connect options)
 * and the client's own `spanAttributes`.
 */
import { SqlClient } from "@effect/sql"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Tracer } from "effect"
import { RedialPgClient } from "../src/index.js"

describe("RedialPgClient telemetry", () => {
  it.live("a statement's span has @effect/sql-pg's attributes and the client's spanAttributes", () =>
    Effect.gen(function*() {
      const spans: Array<Tracer.Span> = []
      const base = yield* Effect.tracer
      const capturing = Tracer.make({
        span: (...args) => {
          const span = base.span(...args)
          spans.push(span)
          return span
        },
        context: (f, fiber) => base.context(f, fiber)
      })
      yield* Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        yield* sql`select 1 as one`
      }).pipe(
        Effect.provide(RedialPgClient.layer({
          connect: {
            host: "127.0.0.1",
            port: 5432,
            database: "test",
            user: "postgres",
            applicationName: "redial-sql-spans"
          },
          spanAttributes: { "service.name": "billing" }
        })),
        Effect.withTracer(capturing)
      )
      const execute = spans.find((span) => span.name === "sql.execute")
      expect(execute).toBeDefined()
      const attributes = execute!.attributes
      expect(attributes.get("db.system.name")).toBe("postgresql")
      expect(attributes.get("db.namespace")).toBe("test")
      expect(attributes.get("server.address")).toBe("127.0.0.1")
      expect(attributes.get("server.port")).toBe(5432)
      expect(attributes.get("service.name")).toBe("billing")
      expect(attributes.get("db.query.text")).toBe("select 1 as one")
    }))
})
