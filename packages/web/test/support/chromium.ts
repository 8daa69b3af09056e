/**
 * Headless Chromium for the end-to-end tests: Debian's `chromium`
 * (`/usr/bin/chromium`, or `CHROMIUM_PATH`) driven by `playwright-core`,
 * with a fresh profile. Where it is missing the tests are skipped, except on
 * CI (`CI=true`), where a missing browser is a failure.
 */
import * as Fs from "node:fs"
import * as Path from "node:path"
import { chromium } from "playwright-core"

export const executablePath = process.env["CHROMIUM_PATH"] ?? "/usr/bin/chromium"
export const available = Fs.existsSync(executablePath)
export const required = process.env["CI"] === "true"

export const artifacts = Path.join(__dirname, "..", "..", "test-artifacts")

/** A browser with a new, empty profile (playwright makes a fresh temporary user-data-dir per launch). */
export const launch = async () => {
  const browser = await chromium.launch({
    executablePath,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync"
    ]
  })
  return {
    browser,
    close: () => browser.close()
  }
}
