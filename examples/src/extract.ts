/**
 * Finds the examples of the documentation: every ```ts block of every README.md (the root's and
 * each package's) and of every doc comment in `packages/<name>/src/**.ts`.
 */
import * as fs from "node:fs"
import * as path from "node:path"

export interface Example {
  /** The documented file, relative to the repository root: `packages/core/src/Reconnect.ts`. */
  readonly source: string
  /** The 1-based line of the opening fence in `source`. */
  readonly line: number
  /** `packages/core/src/Reconnect.ts:14`: the name of its test. */
  readonly name: string
  /** The file it is written to, relative to the output folder. */
  readonly file: string
  readonly code: string
  /** `test`: it declares tests with `@effect/vitest` (or `vitest`); `program`: it is run by node. */
  readonly kind: "program" | "test"
  /**
   * The folder that stands for the user's own files, relative to the repository root: the
   * documented package's `test/fixtures` (generated code, `.proto` files). The example's relative
   * imports are resolved from it, and it runs there.
   */
  readonly fixtures: string | undefined
}

const open = /^\s*```(?:ts|typescript)\s*$/
const close = /^\s*```\s*$/

/** The ```ts blocks of `lines`, with the index of each opening fence. */
const blocks = (lines: ReadonlyArray<string>): Array<{ readonly index: number; readonly code: string }> => {
  const found: Array<{ index: number; code: string }> = []
  let start = -1
  lines.forEach((line, index) => {
    if (start < 0) {
      if (open.test(line)) start = index
    } else if (close.test(line)) {
      found.push({ index: start, code: lines.slice(start + 1, index).join("\n") + "\n" })
      start = -1
    }
  })
  return found
}

/** The lines of `text` that are not in a doc comment are blanked, so that line numbers stay. */
const docCommentLines = (text: string): Array<string> => {
  const lines = text.split("\n").map(() => "")
  for (const match of text.matchAll(/\/\*\*[\s\S]*?\*\//g)) {
    const first = text.slice(0, match.index).split("\n").length - 1
    match[0].split("\n").forEach((line, i) => {
      lines[first + i] = line.replace(/^\s*(?:\/\*\*|\*\/|\*(?!\/))? ?/, "").replace(/\*\/\s*$/, "")
    })
  }
  return lines
}

const isTest = (code: string): boolean => /from\s+["'](?:@effect\/vitest|vitest)["']/.test(code)

export const extract = (source: string, text: string, fixtures?: string): Array<Example> => {
  const lines = source.endsWith(".md") ? text.split("\n") : docCommentLines(text)
  return blocks(lines).map(({ code, index }) => {
    const line = index + 1
    const kind = isTest(code) ? "test" : "program"
    const base = `${source.replace(/[^A-Za-z0-9]+/g, "_")}_L${line}`
    return { source, line, name: `${source}:${line}`, file: `${base}.ts`, code, kind, fixtures }
  })
}

/** `packages/<name>/test/fixtures` for a file of that package, if the folder exists. */
const fixturesOf = (root: string, source: string): string | undefined => {
  const match = /^packages\/[^/]+\//.exec(source)
  const folder = match === null ? undefined : `${match[0]}test/fixtures`
  return folder !== undefined && fs.existsSync(path.join(root, folder)) ? folder : undefined
}

const walk = (dir: string): Array<string> =>
  fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name)
    return entry.isDirectory() ? walk(full) : [full]
  })

/** The documented files, relative to `root`, in a stable order. */
export const sources = (root: string): Array<string> => {
  const packages = fs.readdirSync(path.join(root, "packages"), { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name)
    .sort()
  const readmes = ["README.md", ...packages.map((name) => `packages/${name}/README.md`)]
    .filter((file) => fs.existsSync(path.join(root, file)))
  const modules = packages.flatMap((name) => {
    const src = path.join(root, "packages", name, "src")
    return fs.existsSync(src)
      ? walk(src).filter((file) => file.endsWith(".ts")).map((file) =>
        path.relative(root, file).split(path.sep).join("/")
      )
        .sort()
      : []
  })
  return [...readmes, ...modules]
}

export const extractAll = (root: string): Array<Example> =>
  sources(root).flatMap((source) =>
    extract(source, fs.readFileSync(path.join(root, source), "utf8"), fixturesOf(root, source))
  )
