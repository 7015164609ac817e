/**
 * `npm run demo:amqp` (scratchpad/src/amqpDemo.ts), run as a user runs it, at twice its pace: a
 * publisher and a consumer through a FaultProxy to the local broker while the path is cut,
 * refused and restored and the broker closes the connection. It must end with
 * "N published, N confirmed, N consumed, 0 lost" and exit 0.
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

/** Runs the demo with tsx, as `npm run demo:amqp` does. */
const runDemo = (env: Record<string, string>): Effect.Effect<Run> =>
  Effect.async<Run>((resume) => {
    const child = execFile(
      path.join(root, "node_modules", ".bin", "tsx"),
      ["--conditions=@redial/source", "scratchpad/src/amqpDemo.ts"],
      { cwd: root, env: { ...process.env, ...env }, timeout: 50_000, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === "number" ? error.code : 1
        resume(Effect.succeed({ code, stdout, stderr }))
      }
    )
    return Effect.sync(() => child.kill())
  })

describe("amqp demo", () => {
  it.live(
    "loses no confirmed message through a cut, a refusal, a restore and a broker close, and exits 0",
    () =>
      Effect.gen(function*() {
        const { code, stderr, stdout } = yield* runDemo({ REDIAL_DEMO_PACE: "0.5" })
        const lines = stdout.trimEnd().split("\n")
        const last = lines[lines.length - 1] ?? ""
        const counts = /^(\d+) published, (\d+) confirmed, (\d+) consumed, (\d+) lost$/.exec(last)
        expect(counts, `${stdout}\n${stderr}`).not.toBeNull()
        const [published, confirmed, consumed, lost] = (counts ?? []).slice(1).map(Number)
        expect(lost).toBe(0)
        expect(confirmed).toBeGreaterThan(1_000)
        expect(confirmed).toBe(published)
        expect(consumed).toBe(confirmed)
        // Every fault happened: attempts were refused (Backoff) and the broker closed the connection.
        expect(stdout).toMatch(/connection +Backoff after attempt/)
        expect(stdout).toMatch(/the broker closed 1 connection/)
        expect(code).toBe(0)
      }),
    60_000
  )
})
