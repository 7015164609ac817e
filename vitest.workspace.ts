import { defineWorkspace, mergeConfig } from "vitest/config"
import { shared } from "./vitest.shared.js"

export default defineWorkspace([
  ...["core", "testing", "grpc", "pool", "amqp", "postgres", "sql", "socket"].map((name) =>
    mergeConfig(shared, {
      root: `./packages/${name}`,
      test: { name }
    })
  ),
  // Every README and doc-comment example, compiled and run (examples/test/examples.test.ts).
  mergeConfig(shared, {
    root: "./examples",
    test: { name: "examples" }
  })
])
