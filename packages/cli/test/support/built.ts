/**
 * The built command, as users run it: the esbuild bundle of
 * `scripts/bundle.mjs`, written once per test file into a temporary
 * directory, run by plain `node`, each run with directories of its own.
 */
import { execFile } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
// @ts-expect-error: a plain ES module script, without declarations
import { bundle } from "../../scripts/bundle.mjs"

export const buildBundle = async (): Promise<string> => {
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), "effect-renewal-cli-bundle-"))
  return (await bundle({ outdir, nativeFromHere: true })) as string
}

/** A person's machine: a config and a state directory of its own. */
export interface Home {
  readonly root: string
  readonly env: Readonly<Record<string, string>>
}

export const makeHome = (): Home => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "effect-renewal-cli-home-"))
  return {
    root,
    env: {
      EFFECT_RENEWAL_CONFIG_DIR: path.join(root, "config"),
      EFFECT_RENEWAL_STATE_DIR: path.join(root, "state")
    }
  }
}

export interface Ran {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

/** Runs the built command to its end. */
export const runBuilt = (entry: string, home: Home, args: ReadonlyArray<string>): Promise<Ran> =>
  new Promise((resolve) => {
    const env: Record<string, string> = { PATH: process.env["PATH"] ?? "", HOME: home.root, ...home.env }
    execFile(process.execPath, [entry, ...args], { env, timeout: 60_000 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === "number" ? error.code : -1
      resolve({ code, stdout, stderr })
    })
  })
