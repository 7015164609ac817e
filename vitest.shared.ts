import * as path from "node:path"
import { fileURLToPath } from "node:url"
import type { ViteUserConfig } from "vitest/config"

const root = path.dirname(fileURLToPath(import.meta.url))
const packages = ["core", "testing", "grpc", "pool", "amqp", "postgres", "sql", "socket"]

/**
 * Tests run against the TypeScript sources of every workspace package, so
 * `npm test` needs no build step.
 */
export const shared: ViteUserConfig = {
  resolve: {
    alias: packages.flatMap((name) => [
      { find: new RegExp(`^@redial/${name}$`), replacement: path.join(root, "packages", name, "src", "index.ts") },
      { find: new RegExp(`^@redial/${name}/(.*)$`), replacement: path.join(root, "packages", name, "src", "$1.ts") }
    ])
  },
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    fakeTimers: { toFake: [] },
    sequence: { concurrent: false }
  }
}
