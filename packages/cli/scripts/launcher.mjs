/**
 * Runs the command's bundle (`main.cjs`, beside this file) with V8's code
 * cache: the first run compiles the bundle and saves what V8 compiled (the
 * functions it ran included) to `$XDG_CACHE_HOME/effect-renewal/` (default
 * `~/.cache/effect-renewal/`, owner-only); later runs start from it, which
 * spares most of the compilation. A cache that is missing, stale (another
 * bundle or Node.js: the file is named by both) or cannot be written only
 * costs time.
 * `EFFECT_RENEWAL_COMPILE_CACHE=0` turns it off.
 */
import * as crypto from "node:crypto"
import * as fs from "node:fs"
import Module, { createRequire } from "node:module"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import * as vm from "node:vm"

const file = fileURLToPath(new URL("main.cjs", import.meta.url))
const source = fs.readFileSync(file, "utf8")

let cacheFile
if (process.env.EFFECT_RENEWAL_COMPILE_CACHE !== "0") {
  const base = process.env.XDG_CACHE_HOME !== undefined && path.isAbsolute(process.env.XDG_CACHE_HOME)
    ? process.env.XDG_CACHE_HOME
    : path.join(os.homedir(), ".cache")
  // by content: V8 checks a cache against the length of its source only, and
  // npm gives every installed file the same mtime
  const digest = crypto.createHash("sha256").update(source).digest("hex").slice(0, 24)
  const id = `${process.version}-${process.arch}-${digest}`
  cacheFile = path.join(base, "effect-renewal", `compile-${id}.bin`)
}

let cachedData
if (cacheFile !== undefined) {
  try {
    cachedData = fs.readFileSync(cacheFile)
  } catch {
    // first run: compiled from the source
  }
}

const script = new vm.Script(Module.wrap(source), { filename: file, cachedData, importModuleDynamically: undefined })
if (cacheFile !== undefined && (cachedData === undefined || script.cachedDataRejected === true)) {
  // at exit, so that the functions this run compiled are in the cache too
  process.once("exit", () => {
    try {
      const directory = path.dirname(cacheFile)
      fs.mkdirSync(directory, { recursive: true, mode: 0o700 })
      const temporary = `${cacheFile}.${process.pid}.tmp`
      fs.writeFileSync(temporary, script.createCachedData(), { mode: 0o600 })
      fs.renameSync(temporary, cacheFile)
    } catch {
      // a cache that cannot be written is only a slower start
    }
  })
}
const module = { exports: {} }
script.runInThisContext()(module.exports, createRequire(file), module, file, path.dirname(file))
