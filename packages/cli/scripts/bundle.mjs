/**
 * Bundles the whole command with esbuild into `dist/bundle/` (unless told):
 * `main.cjs`, one CommonJS file (what only `login`, a renewal or PostgreSQL
 * need is inside, evaluated on first use), and `effect-renewal.mjs`, the
 * launcher that runs it with V8's code cache (`scripts/launcher.mjs`).
 * Everything is inside but `better-sqlite3` (a native module, the package's
 * one dependency) and `pg-native` (an optional driver of `pg`).
 *
 * CommonJS, not an ES module: `vm.Script` takes a code cache on every
 * Node.js version, and the cache spares most of the start-up's compilation.
 *
 *   node scripts/bundle.mjs [outdir] [--native-from-here] [--metafile=FILE]
 *
 * `--native-from-here` makes the bundle import `better-sqlite3` by its path
 * in this workspace, so that a bundle written elsewhere (a test's temporary
 * directory) runs.
 */
import * as esbuild from "esbuild"
import * as fs from "node:fs"
import { createRequire } from "node:module"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

const here = path.dirname(fileURLToPath(import.meta.url))
const root = path.join(here, "..")

/** The bundle's entry file name. */
export const entryName = "effect-renewal.mjs"

/**
 * Builds the bundle into `outdir`; answers the path of its entry.
 *
 * @param {{ outdir?: string, nativeFromHere?: boolean, metafile?: string }} [options]
 */
export const bundle = async (options = {}) => {
  const outdir = options.outdir ?? path.join(root, "dist", "bundle")
  fs.rmSync(outdir, { recursive: true, force: true })
  const result = await esbuild.build({
    entryPoints: [path.join(root, "src", "internal", "main.ts")],
    outfile: path.join(outdir, "main.cjs"),
    bundle: true,
    format: "cjs",
    platform: "node",
    target: "node20",
    minify: process.env.EFFECT_RENEWAL_BUNDLE_MINIFY !== "0",
    legalComments: "none",
    external: ["pg-native"],
    metafile: options.metafile !== undefined,
    plugins: [{
      name: "native",
      setup: (build) =>
        build.onResolve({ filter: /^better-sqlite3$/ }, (args) => ({
          path: options.nativeFromHere
            ? createRequire(path.join(args.resolveDir, "index.js")).resolve(args.path)
            : args.path,
          external: true
        }))
    }],
    logLevel: "warning"
  })
  if (options.metafile !== undefined) fs.writeFileSync(options.metafile, JSON.stringify(result.metafile))
  fs.copyFileSync(path.join(here, "launcher.mjs"), path.join(outdir, entryName))
  return path.join(outdir, entryName)
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2)
  const outdir = args.find((arg) => !arg.startsWith("--"))
  const metafile = args.find((arg) => arg.startsWith("--metafile="))?.slice("--metafile=".length)
  const entry = await bundle({
    outdir: outdir === undefined ? undefined : path.resolve(outdir),
    nativeFromHere: args.includes("--native-from-here"),
    metafile
  })
  console.log(entry)
}
