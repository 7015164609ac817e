import { describe, expect, it } from "@effect/vitest"
import { FaultProxy, TestConnector } from "@redial/testing"
import { Either } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import * as ConnectionString from "../src/ConnectionString.js"
import { isRedialError } from "../src/index.js"

const packagesDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..")

/** Every TypeScript file under `dir`, recursively. */
const sources = (dir: string): ReadonlyArray<string> =>
  fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const file = path.join(dir, entry.name)
    if (entry.isDirectory()) return sources(file)
    return entry.isFile() && file.endsWith(".ts") ? [file] : []
  })

describe("every redial error is a RedialError", () => {
  it("the connection-string errors and the test kit's errors carry the TypeId", () => {
    const errors = [
      new ConnectionString.ConnectionStringError({ part: "port", reason: "OutOfRange", detail: "x", position: 1 }),
      new ConnectionString.ParamError({ reason: "UnknownKey", detail: "x", key: "k" }),
      new TestConnector.TestConnectError({ reason: "scripted failure" }),
      new FaultProxy.FaultProxyError({ reason: "Listen", address: "127.0.0.1:1", cause: new Error("in use") })
    ]
    for (const error of errors) expect(isRedialError(error), error._tag).toBe(true)
  })

  it("the errors the parser raises carry the TypeId", () => {
    const failures = ["", "pg://h:0", "pg://h/%zz", "pg://ho st", "pg://[::1"].map((input) =>
      ConnectionString.parseEither(input)
    )
    for (const result of failures) {
      expect(Either.isLeft(result)).toBe(true)
      if (Either.isLeft(result)) expect(isRedialError(result.left), result.left.reason).toBe(true)
    }
  })

  // pool's errors are another package's concern and are not checked here.
  it("no source file of core, grpc or testing declares an error with Data.TaggedError or Schema.TaggedError (Errors.ts aside)", () => {
    const errorsTs = path.join(packagesDir, "core", "src", "Errors.ts")
    const files = ["core", "grpc", "testing"].flatMap((name) => sources(path.join(packagesDir, name, "src")))
      .filter((file) => file !== errorsTs)
    expect(files.length).toBeGreaterThan(10)
    const offenders = files.filter((file) => /\bTaggedError\s*\(/.test(fs.readFileSync(file, "utf8")))
      .map((file) => path.relative(packagesDir, file))
    expect(offenders).toEqual([])
  })
})
