/**
 * Compiles and runs the examples written out by `write`: one TypeScript program typechecks them
 * all against the packages' sources (the `@redial/source` condition), esbuild bundles the
 * programs in one build, and each program runs in its own node process, which must exit with
 * code 0 within a deadline.
 */
import { build } from "esbuild"
import { execFile } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import type { Example } from "./extract.js"

/** Writes each example to `dir` (emptied first); returns the absolute path of each, by name. */
export const write = (root: string, examples: ReadonlyArray<Example>, dir: string): Map<string, string> => {
  fs.rmSync(dir, { recursive: true, force: true })
  fs.mkdirSync(dir, { recursive: true })
  const files = new Map<string, string>()
  for (const example of examples) {
    const file = path.join(dir, example.file)
    fs.writeFileSync(file, `// ${example.name}\n${relocate(root, example, dir)}`)
    files.set(example.name, file)
  }
  return files
}

/** The example's code with its relative imports resolved from its fixtures folder. */
const relocate = (root: string, example: Example, dir: string): string => {
  const fixtures = example.fixtures
  if (fixtures === undefined) return example.code
  return example.code.replace(
    /(\bfrom\s+|\bimport\s*\(\s*|\bimport\s+)(["'])(\.\.?\/[^"']*)\2/g,
    (_match, keyword: string, quote: string, specifier: string) => {
      const target = path.relative(dir, path.join(root, fixtures, specifier)).split(path.sep).join("/")
      return `${keyword}${quote}${target.startsWith(".") ? target : `./${target}`}${quote}`
    }
  )
}

/**
 * Typechecks `files` in one program (`tsc -p`, in a child process so that the examples run
 * meanwhile), with the compiler options of `tsconfig.base.json` (strict,
 * `exactOptionalPropertyTypes` …) but without the unused-name checks (an example may declare
 * what it shows), resolving `@redial/*` to the TypeScript sources (the `@redial/source`
 * condition). Returns the errors of each file, by absolute path (a file without any is absent);
 * an error in a package source is reported against every example, as it breaks them all.
 */
export const typecheck = (root: string, files: ReadonlyArray<string>, dir: string): Promise<Map<string, string>> => {
  const project = path.join(dir, "tsconfig.json")
  fs.mkdirSync(dir, { recursive: true })
  fs.writeFileSync(
    project,
    JSON.stringify(
      {
        extends: path.relative(dir, path.join(root, "tsconfig.base.json")),
        compilerOptions: {
          composite: false,
          declaration: false,
          declarationMap: false,
          sourceMap: false,
          noEmit: true,
          incremental: true,
          tsBuildInfoFile: "tsbuildinfo",
          noUnusedLocals: false,
          noUnusedParameters: false,
          customConditions: ["@redial/source"]
        },
        files: files.map((file) => path.relative(dir, file))
      },
      null,
      2
    )
  )
  const tsc = path.join(root, "node_modules", "typescript", "bin", "tsc")
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [tsc, "-p", project, "--pretty", "false"],
      { cwd: root, maxBuffer: 64 * 1024 * 1024 },
      (_error, stdout, stderr) => {
        const byFile = new Map<string, Array<string>>()
        const wanted = files.map((file) => path.resolve(file))
        let owners: Array<string> = wanted
        for (const line of `${stdout}${stderr}`.split("\n")) {
          if (line.trim() === "") continue
          const at = /^(.+?)\(\d+,\d+\): error /.exec(line)
          if (at !== null) {
            const file = path.resolve(root, at[1] ?? "")
            owners = wanted.includes(file) ? [file] : wanted
          } else if (!line.startsWith(" ")) {
            owners = wanted // an error without a file (a bad option)
          }
          for (const owner of owners) byFile.set(owner, [...(byFile.get(owner) ?? []), line])
        }
        resolve(new Map([...byFile].map(([file, lines]) => [file, lines.join("\n")])))
      }
    )
  })
}

/**
 * Bundles each of `files` (programs) into `outdir` as one `.mjs`; returns, for each file, its
 * output or the error that stopped its build (one example that does not build stops no other).
 */
export type Bundle = { readonly file: string } | { readonly error: string }

export const bundle = (files: ReadonlyArray<string>, outdir: string): Promise<Map<string, Bundle>> =>
  Promise.all(files.map(async (entry): Promise<readonly [string, Bundle]> => {
    const file = path.join(outdir, path.basename(entry).replace(/\.ts$/, ".mjs"))
    try {
      await build({
        entryPoints: [entry],
        outfile: file,
        bundle: true,
        platform: "node",
        format: "esm",
        target: "node20",
        // redial from its sources; effect, grpc-js and every other package from node_modules.
        conditions: ["@redial/source"],
        sourcemap: "inline",
        logLevel: "silent",
        plugins: [{
          name: "redial-examples",
          setup(build) {
            build.onResolve(
              { filter: /^[^./]/ },
              (args) => args.path.startsWith("@redial/") ? undefined : { path: args.path, external: true }
            )
          }
        }]
      })
      return [entry, { file }]
    } catch (error) {
      return [entry, { error: error instanceof Error ? error.message : String(error) }]
    }
  })).then((entries) => new Map(entries))

export interface Run {
  readonly code: number | null
  readonly signal: string | null
  readonly timedOut: boolean
  readonly output: string
}

/** Runs one bundled program with node in `cwd`; kills it after `timeout` ms. */
export const run = (file: string, options: { readonly cwd: string; readonly timeout: number }): Promise<Run> =>
  new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      ["--enable-source-maps", file],
      { cwd: options.cwd, timeout: options.timeout, killSignal: "SIGKILL", env: { ...process.env, NO_COLOR: "1" } },
      (error, stdout, stderr) => {
        resolve({
          code: child.exitCode,
          signal: child.signalCode,
          timedOut: error !== null && "killed" in error && error.killed === true,
          output: `${stdout}${stderr}`.trim()
        })
      }
    )
  })
