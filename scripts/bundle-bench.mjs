// Bundles one package's benchmark entry (packages/<name>/bench/index.ts) into a single ES module,
// so that `npm run bench` measures redial's code as it ships: compiled once, without tsx's
// `keepNames` (which wraps every closure made at run time in a `defineProperty` call that the
// published JavaScript does not pay, and that weighs most on code that makes closures per call).
//
//   node scripts/bundle-bench.mjs packages/pool/bench/index.ts packages/pool/build/bench/index.mjs
//
// The @redial/* packages are bundled from their sources (the @redial/source condition); every
// other package (effect, the peers) stays external and loads from node_modules, as it would in a
// user's program. `import.meta.url` keeps meaning the file it was written in (fixtures are found
// relative to it).
import { build } from "esbuild"
import { readFile } from "node:fs/promises"
import { pathToFileURL } from "node:url"

const [entry, outfile] = process.argv.slice(2)
if (entry === undefined || outfile === undefined) {
  console.error("usage: node scripts/bundle-bench.mjs <entry.ts> <out.mjs>")
  process.exit(2)
}

await build({
  entryPoints: [entry],
  outfile,
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  conditions: ["@redial/source"],
  sourcemap: "linked",
  logLevel: "warning",
  plugins: [{
    name: "redial-bench",
    setup(build) {
      build.onResolve({ filter: /^[^./]/ }, (args) => args.path.startsWith("@redial/") ? undefined : { external: true })
      build.onLoad({ filter: /\.ts$/ }, async (args) => {
        const source = await readFile(args.path, "utf8")
        return {
          contents: source.replaceAll("import.meta.url", JSON.stringify(pathToFileURL(args.path).href)),
          loader: "ts"
        }
      })
    }
  }]
})
