/**
 * `npm run demo:postgres` (scratchpad/src/postgresDemo.ts), run as a user runs it: a pool that
 * survives pg_terminate_backend of all its connections, a cancel that stops the query on the
 * server and keeps the connection, a manager Waiting while psql holds its lock and Active after.
 * It must end with its summary line and exit 0.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { execFile } from "node:child_process"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..")

interface Run {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

const runDemo = (): Effect.Effect<Run> =>
  Effect.async<Run>((resume) => {
    const child = execFile(
      path.join(root, "node_modules", ".bin", "tsx"),
      ["--conditions=@redial/source", "scratchpad/src/postgresDemo.ts"],
      { cwd: root, env: { ...process.env, NO_COLOR: "1" }, timeout: 50_000, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === "number" ? error.code : 1
        resume(Effect.succeed({ code, stdout, stderr }))
      }
    )
    return Effect.sync(() => child.kill())
  })

describe("postgres demo", () => {
  it.live(
    "survives the kill, cancels on the server, goes Waiting → Active when psql lets go, and exits 0",
    () =>
      Effect.gen(function*() {
        const { code, stderr, stdout } = yield* runDemo()
        const context = `${stdout}\n${stderr}`
        expect(code, context).toBe(0)
        expect(stdout, context).toMatch(/terminated [1-9]\d* backends from another session/)
        expect(stdout, context).toMatch(/backend (\d+) is now idle \(the server stopped the query\)/)
        expect(stdout, context).toContain("the same connection")
        // Waiting, still Waiting half-way through psql's hold, then Active (whether the manager's
        // Active line or psql's exit is printed first is a race: the lock is free before psql exits)
        const waiting = stdout.indexOf("manager: Waiting")
        const still = stdout.indexOf("the manager is still Waiting while psql holds the lock")
        const active = stdout.indexOf("manager: Active")
        expect(waiting, context).toBeGreaterThan(-1)
        expect(still, context).toBeGreaterThan(waiting)
        expect(active, context).toBeGreaterThan(still)
        expect(stdout, context).toContain("psql exited (0)")
        expect(stdout.trimEnd().split("\n").at(-1)).toBe(
          "pool survived the kill, the cancel stopped the query, the manager went Waiting → Active"
        )
      }),
    60_000
  )
})
