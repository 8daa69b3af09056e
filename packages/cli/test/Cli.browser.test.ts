/**
 * `login --browser`: the loopback flow with the system browser, which here is
 * `$BROWSER`, a script that loads the URL it is given and follows the
 * redirects (the emulator on loopback approves and sends it back to the
 * command's one-shot server on 127.0.0.1).
 */
import * as Cli from "@effect-renewal/cli/Cli"
import * as Emulator from "@effect-renewal/testing/Emulator"
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import { expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as Output from "./support/console.js"

const clientId = "cli-browser"

for (const dpop of [false, true]) {
  it.live(
    `login --browser${dpop ? " --dpop" : ""} opens the browser on the authorization URL, prints it, and logs in${
      dpop ? " with bound tokens" : ""
    }`,
    () =>
      Effect.gen(function*() {
        const root = fs.mkdtempSync(path.join(os.tmpdir(), "effect-renewal-cli-browser-"))
        const opened = path.join(root, "opened")
        const browser = path.join(root, "browser.mjs")
        fs.writeFileSync(
          browser,
          `#!${process.execPath}\nimport * as fs from "node:fs"\nfs.writeFileSync(${
            JSON.stringify(opened)
          }, process.argv[2])\nconst response = await fetch(process.argv[2])\nawait response.text()\n`,
          { mode: 0o700 }
        )
        const emulator = yield* Emulator.Emulator
        yield* emulator.approveNext({ username: "dee", email: "dee@example.org" })
        const output = Output.capture()
        const previous = process.env["BROWSER"]
        process.env["BROWSER"] = browser
        const code = yield* Cli.run([
          "node",
          "effect-renewal",
          "login",
          "--browser",
          "--issuer",
          emulator.issuer,
          "--client-id",
          clientId,
          ...(dpop ? ["--dpop"] : []),
          "--config-dir",
          path.join(root, "config"),
          "--state-dir",
          path.join(root, "state")
        ]).pipe(
          Effect.withConsole(output.console),
          Effect.ensuring(Effect.sync(() => {
            if (previous === undefined) delete process.env["BROWSER"]
            else process.env["BROWSER"] = previous
          }))
        )
        const stderr = output.stderr.join("\n")
        expect(code).toBe(0)
        const url = fs.readFileSync(opened, "utf8")
        expect(url.startsWith(`${emulator.issuer}authorize?`)).toBe(true)
        expect(stderr).toContain(url)
        expect(stderr).toContain("as dee <dee@example.org>")
        expect(output.stdout).toEqual([])
        // with --dpop, the authorization request names the key's thumbprint (the code is bound to it)
        const jkt = new URL(url).searchParams.get("dpop_jkt")
        if (dpop) {
          expect(jkt).toMatch(/^[\w-]{43}$/)
          expect(stderr).toContain(`bound to a DPoP key (thumbprint ${jkt})`)
        } else {
          expect(jkt).toBeNull()
        }
      }).pipe(
        Effect.provide(Layer.mergeAll(NodeContext.layer, FetchHttpClient.layer, Emulator.layerServer({ clientId })))
      )
  )
}
