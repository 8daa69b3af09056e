/**
 * A terminal a test can type into and read, as a person would: `tmux` on a
 * socket of its own (so that no other tmux server is touched), one session
 * per command. Missing tmux fails on CI (`CI=true`), and skips elsewhere.
 */
import { execFileSync, spawnSync } from "node:child_process"
import * as crypto from "node:crypto"

export const available = (): boolean => spawnSync("tmux", ["-V"]).status === 0

const quote = (text: string) => `'${text.replace(/'/g, `'\\''`)}'`

export interface Terminal {
  /** What the screen shows now (the whole history of the pane). */
  readonly screen: () => string
  /** Waits until the screen matches, answering the match. */
  readonly waitFor: (pattern: RegExp, timeoutMs?: number) => Promise<RegExpMatchArray>
  /** The command's exit code, once it ended. */
  readonly exitCode: (timeoutMs?: number) => Promise<number>
  readonly close: () => void
}

/** Starts `command` (argv, with `env`) in a new tmux session, 200 columns wide. */
export const start = (argv: ReadonlyArray<string>, env: Readonly<Record<string, string>>): Terminal => {
  const socket = `effect-renewal-cli-${crypto.randomBytes(4).toString("hex")}`
  const tmux = (...args: Array<string>) => execFileSync("tmux", ["-L", socket, ...args], { encoding: "utf8" })
  const assignments = Object.entries(env).map(([name, value]) => `${name}=${quote(value)}`).join(" ")
  const line = `env ${assignments} ${argv.map(quote).join(" ")}; echo "EXIT=$?"; sleep 600`
  tmux("new-session", "-d", "-s", "cli", "-x", "200", "-y", "50", line)
  const screen = () => tmux("capture-pane", "-p", "-J", "-S", "-", "-t", "cli")
  const waitFor = async (pattern: RegExp, timeoutMs = 20_000) => {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const match = screen().match(pattern)
      if (match !== null) return match
      if (Date.now() > deadline) throw new Error(`the screen never showed ${pattern}:\n${screen()}`)
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
  }
  return {
    screen,
    waitFor,
    exitCode: async (timeoutMs) => Number((await waitFor(/EXIT=(\d+)/, timeoutMs))[1]),
    close: () => {
      spawnSync("tmux", ["-L", socket, "kill-server"])
    }
  }
}
