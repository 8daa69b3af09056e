/**
 * What Chromium sends with a
 * same-origin logout form when the page has `Referrer-Policy: no-referrer`
 * (a common hardening; this package's own pages send it), and what
 * `POST /logout`'s check says of it.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Http from "node:http"
import * as Origin from "../src/internal/origin.js"
import * as Chromium from "./support/chromium.js"

describe.skipIf(!Chromium.available && !Chromium.required)(
  "POST /logout origin check: a form on a no-referrer page",
  () => {
    it("a same-origin form POST from a no-referrer page (Origin: null) is accepted", async () => {
      let seen: Record<string, string | undefined> = {}
      const server = Http.createServer((req, res) => {
        if (req.method === "POST") {
          seen = { origin: req.headers["origin"], "sec-fetch-site": req.headers["sec-fetch-site"] as string }
          res.writeHead(200, { "content-type": "text/plain" }).end("posted")
          return
        }
        res.writeHead(200, { "content-type": "text/html", "referrer-policy": "no-referrer" })
          .end(`<form method="post" action="/logout"><button id="out">Log out</button></form>`)
      })
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
      const origin = `http://127.0.0.1:${(server.address() as { port: number }).port}`
      const { browser, close } = await Chromium.launch()
      try {
        const page = await browser.newPage()
        await page.goto(origin + "/")
        await Promise.all([page.waitForURL(origin + "/logout"), page.click("#out")])
        console.log("Chromium sent", seen)
        // the user's own logout button must be accepted
        expect(Origin.isSameOrigin(seen, origin)).toBe(true)
      } finally {
        await close()
        server.close()
      }
    }, 30_000)
  }
)
