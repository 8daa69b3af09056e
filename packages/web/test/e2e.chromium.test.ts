/**
 * The web demo in a real browser (headless Chromium), against the real
 * NodeHttpServer and the emulator on loopback: log in by typing a username,
 * the greeting and the API's data, renewals at expiry (one, also for two
 * tabs), logout, a tampered cookie and a forged callback. Screenshots of the
 * main steps go to packages/web/test-artifacts/ (not committed).
 */
// the demo is private: read from its sources
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import * as Fs from "node:fs"
import * as Path from "node:path"
import type { Browser, Page } from "playwright-core"
import * as Server from "../../demo/src/web/server.js"
import * as Chromium from "./support/chromium.js"

// 3-second access tokens, used while they live at least 1 more second
const TOKEN_SECONDS = 3

const renewals = (demo: Server.Demo) =>
  Effect.runPromise(
    Effect.map(demo.emulator.requests, (entries) =>
      entries.filter((entry) => entry.endpoint === "token" && entry.grantType === "refresh_token").length)
  )

const sleep = (millis: number) => new Promise((resolve) => setTimeout(resolve, millis))

const shot = (page: Page, name: string) => page.screenshot({ path: Path.join(Chromium.artifacts, `${name}.png`) })

/** Through the emulator's pages: type the username, click, allow. */
const logIn = async (page: Page, demo: Server.Demo, username: string) => {
  await page.waitForURL((url) => url.href.startsWith(`${demo.emulatorUrl}/authorize`))
  await page.fill("#username", username)
  await shot(page, `${username}-1-login-page`)
  await page.click("#login")
  await page.waitForSelector("#allow")
  await shot(page, `${username}-2-consent-page`)
  await page.click("#allow")
  await page.waitForURL((url) => url.href.startsWith(demo.appUrl))
}

describe.skipIf(!Chromium.available && !Chromium.required)("the web demo in headless Chromium", () => {
  let scope: Scope.CloseableScope
  let demo: Server.Demo
  let browser: Browser
  let closeBrowser: () => Promise<void>

  beforeAll(async () => {
    if (!Chromium.available) throw new Error(`CI=true and no Chromium at ${Chromium.executablePath}`)
    Fs.mkdirSync(Chromium.artifacts, { recursive: true })
    scope = Effect.runSync(Scope.make())
    demo = await Effect.runPromise(
      Scope.extend(Server.start({ accessTokenLifetime: `${TOKEN_SECONDS} seconds`, minTtl: "1 second" }), scope)
    )
    const launched = await Chromium.launch()
    browser = launched.browser
    closeBrowser = launched.close
  }, 60_000)

  afterAll(async () => {
    await closeBrowser?.()
    if (scope !== undefined) await Effect.runPromise(Scope.close(scope, Exit.void))
  })

  it("log in, see the data, renew at expiry (once, also for two tabs), log out", async () => {
    const context = await browser.newContext()
    const page = await context.newPage()
    await page.goto(`${demo.appUrl}/`)
    expect(await page.textContent("h1")).toBe("Welcome")
    await page.click("#login")
    await logIn(page, demo, "alice")
    expect(await page.textContent("#greeting")).toBe("Hello, alice")
    expect(await page.textContent("#data")).toContain("A-1001")
    expect(await page.textContent("#data")).toContain(`"user": "alice"`)
    await shot(page, "alice-3-greeting-and-data")

    // the browser holds one HttpOnly cookie with an opaque id: no token
    const cookies = await context.cookies()
    expect(cookies.map((c) => c.name)).toEqual(["session"])
    expect(cookies[0]!.httpOnly).toBe(true)
    expect(cookies[0]!.sameSite).toBe("Lax")
    expect(cookies[0]!.value).not.toContain("eyJ")
    expect(await page.evaluate(() => document.cookie)).toBe("")

    // past the access token's expiry: the page still shows the data, after one renewal
    const before = await renewals(demo)
    await sleep(TOKEN_SECONDS * 1000 + 200)
    await page.reload()
    expect(await page.textContent("#data")).toContain("A-1001")
    expect(await renewals(demo)).toBe(before + 1)
    await shot(page, "alice-4-after-renewal")

    // two tabs reloading at expiry: one renewal
    const second = await context.newPage()
    await second.goto(`${demo.appUrl}/account`)
    expect(await second.textContent("#greeting")).toBe("Hello, alice")
    const beforeTabs = await renewals(demo)
    await sleep(TOKEN_SECONDS * 1000 + 200)
    await Promise.all([page.reload(), second.reload()])
    expect(await page.textContent("#data")).toContain("A-1001")
    expect(await second.textContent("#data")).toContain("A-1001")
    expect(await renewals(demo)).toBe(beforeTabs + 1)
    await second.close()

    // log out: the greeting is gone, the refresh token revoked, and the protected page asks for a login
    const revokedBefore = (await Effect.runPromise(demo.emulator.counters)).revokedFamilies
    await page.click("#logout")
    await page.waitForSelector("#login")
    expect(await page.$("#greeting")).toBeNull()
    expect(await page.textContent("h1")).toBe("Welcome")
    await shot(page, "alice-5-logged-out")
    expect((await Effect.runPromise(demo.emulator.counters)).revokedFamilies).toBe(revokedBefore + 1)
    expect(await context.cookies()).toEqual([])
    await page.goto(`${demo.appUrl}/account`)
    expect(page.url().startsWith(`${demo.emulatorUrl}/authorize`)).toBe(true)
    await shot(page, "alice-6-protected-page-asks-for-login")
    await context.close()
  }, 60_000)

  it("a tampered session cookie and a forged callback are refused", async () => {
    const context = await browser.newContext()
    const page = await context.newPage()
    await page.goto(`${demo.appUrl}/account`)
    await logIn(page, demo, "bob")
    expect(page.url()).toBe(`${demo.appUrl}/account`)
    expect(await page.textContent("#greeting")).toBe("Hello, bob")

    // one character of the cookie changed: no session
    const [session] = await context.cookies()
    const value = session!.value
    const tampered = value.slice(0, 10) + (value[10] === "A" ? "B" : "A") + value.slice(11)
    await context.addCookies([{ ...session!, value: tampered }])
    await page.goto(`${demo.appUrl}/account`)
    expect(page.url().startsWith(`${demo.emulatorUrl}/authorize`)).toBe(true)
    await shot(page, "bob-1-tampered-cookie-asks-for-login")
    // the genuine cookie still works
    await context.addCookies([{ ...session!, value }])
    await page.goto(`${demo.appUrl}/account`)
    expect(await page.textContent("#greeting")).toBe("Hello, bob")

    // a login in progress, then a callback it did not ask for (an attacker's code and state)
    await page.goto(`${demo.appUrl}/login?returnTo=%2F`)
    await page.waitForURL((url) => url.href.startsWith(`${demo.emulatorUrl}/authorize`))
    const forged = await page.goto(`${demo.appUrl}/callback?code=attackers-code&state=attackers-state`)
    expect(forged!.status()).toBe(400)
    expect(await page.textContent("body")).toContain("not the callback of the login in progress")
    await shot(page, "bob-2-forged-callback-refused")
    // bob is still bob
    await page.goto(`${demo.appUrl}/`)
    expect(await page.textContent("#greeting")).toBe("Hello, bob")
    await context.close()
  }, 60_000)
})
