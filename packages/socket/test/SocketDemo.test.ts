/**
 * `npm run demo:socket` (scratchpad/src/socketDemo.ts), run as a user runs it, at twice its pace:
 * numbered lines through a FaultProxy that cuts, refuses and black-holes, and a server restart. It
 * must end with "N written, N echoed, N refused by the buffer, N lost with dying sockets, 0 out of
 * order" and exit 0, having gone through every fault.
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

/** Runs the demo with tsx, as `npm run demo:socket` does. */
const runDemo = (env: Record<string, string>): Effect.Effect<Run> =>
  Effect.async<Run>((resume) => {
    const child = execFile(
      path.join(root, "node_modules", ".bin", "tsx"),
      ["--conditions=@redial/source", "scratchpad/src/socketDemo.ts"],
      { cwd: root, env: { ...process.env, ...env }, timeout: 50_000, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === "number" ? error.code : 1
        resume(Effect.succeed({ code, stdout, stderr }))
      }
    )
    return Effect.sync(() => child.kill())
  })

describe("socket demo", () => {
  it.live(
    "keeps the lines in order through a cut, a refusal, a black hole and a server restart, and exits 0",
    () =>
      Effect.gen(function*() {
        const { code, stderr, stdout } = yield* runDemo({ REDIAL_DEMO_PACE: "0.5" })
        const lines = stdout.trimEnd().split("\n")
        const last = lines[lines.length - 1] ?? ""
        const counts =
          /^(\d+) written, (\d+) echoed, (\d+) refused by the buffer, (\d+) lost with dying sockets, (\d+) out of order$/
            .exec(last)
        expect(counts, `${stdout}\n${stderr}`).not.toBeNull()
        const [written, echoed, , lost, outOfOrder] = (counts ?? []).slice(1).map(Number)
        expect(outOfOrder).toBe(0)
        expect(echoed).toBeGreaterThan(100)
        expect((echoed ?? 0) + (lost ?? 0)).toBe(written)
        // every fault happened: refused attempts, a ping timeout, the server's end, several connections
        expect(stdout).toMatch(/Backoff after attempt \d+: .*could not be opened/)
        expect(stdout).toMatch(/ping timed out/)
        expect(stdout).toMatch(/connection #5/)
        expect(code).toBe(0)
      }),
    60_000
  )
})
