/**
 * Every example of the documentation compiles and runs: each ```ts block of every README.md and
 * of every doc comment in `packages/<name>/src` is written to `examples/build/examples/`, all are
 * typechecked in one program against the packages' sources, and
 *
 * - a program is bundled and run by node: it must exit with code 0 within 30 s;
 * - an example that declares tests (it imports `@effect/vitest`) is imported here, so that its
 *   tests run as tests of this file, in a `describe` named after the example.
 *
 * An example's relative imports, and the files it reads, are its package's `test/fixtures`
 * (generated code, `.proto` files): they stand for the user's own files. Each test is named after
 * the file and line of the example's opening fence. `npm run test:examples` runs this file alone.
 */
import { beforeAll, describe, expect, it } from "@effect/vitest"
import * as path from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"
import { bundle, run, typecheck, write } from "../src/check.js"
import { extractAll } from "../src/extract.js"

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..")
const out = path.join(root, "examples", "build")
const deadline = 30_000

const examples = extractAll(root)
const files = write(root, examples, path.join(out, "examples"))
const fileOf = (name: string): string => files.get(name)!

// Started at once, awaited by each test: the programs run while the typecheck goes on.
let typechecked: ReturnType<typeof typecheck>
let bundled: ReturnType<typeof bundle>

beforeAll(() => {
  typechecked = typecheck(root, [...files.values()], out)
  bundled = bundle(
    examples.filter((example) => example.kind === "program").map((example) => fileOf(example.name)),
    path.join(out, "run")
  )
})

const compiles = async (name: string) => {
  const errors = (await typechecked).get(fileOf(name))
  if (errors !== undefined) expect.fail(`${name} does not compile:\n${errors}`)
}

it("finds the examples of every package", () => {
  const sources = new Set(examples.map((example) => example.source))
  for (const source of ["README.md", "packages/core/README.md", "packages/pool/src/Pool.ts"]) {
    expect(sources).toContain(source)
  }
})

for (const example of examples) {
  if (example.kind === "program") {
    it.concurrent(example.name, async () => {
      const built = (await bundled).get(fileOf(example.name))!
      const cwd = path.join(root, example.fixtures ?? "")
      const result = "error" in built ? undefined : await run(built.file, { cwd, timeout: deadline })
      await compiles(example.name)
      if ("error" in built) return expect.fail(`${example.name} does not build:\n${built.error}`)
      if (result!.timedOut) expect.fail(`${example.name} did not exit within ${deadline} ms:\n${result!.output}`)
      if (result!.code !== 0) {
        expect.fail(`${example.name} exited with ${result!.code ?? result!.signal}:\n${result!.output}`)
      }
    }, 180_000)
  } else {
    describe(example.name, async () => {
      it("compiles", () => compiles(example.name), 180_000)
      await import(pathToFileURL(fileOf(example.name)).href)
    })
  }
}
