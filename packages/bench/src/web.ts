/**
 * "A protected route calling an API with the user's token": requests per
 * second of one route of a web app that calls an API for the person of the
 * request (`CurrentUser.requireApi` + `UserClient`: the session cookie
 * checked, the session read, the person's valid access token from
 * `Sessions`, the API called with it), against the same route without the
 * library (the API called with a token the handler already holds), on the
 * same server, in one run, rounds alternated.
 *
 * Everything runs on loopback in this process: the emulator (its login page,
 * for one real login), the API (the demo's: it checks the token's signature
 * and expiry), the app (`NodeHttpServer`), and the load: `connections`
 * kept-alive undici connections sending GETs back to back for `seconds` per
 * round. Tokens live an hour: no renewal during the run.
 *
 * `tsx src/web.ts` prints the section alone; `main.ts` adds it to the report.
 */
import { AuthenticationClient, Login, RenewalStrategy, Sessions, TokenStore } from "@effect-renewal/core"
import { Emulator } from "@effect-renewal/testing"
import { CurrentUser, SessionStore, UserClient, WebAuth } from "@effect-renewal/web"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as HttpRouter from "@effect/platform/HttpRouter"
import type * as HttpServer from "@effect/platform/HttpServer"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import { spawnSync } from "node:child_process"
import { createServer } from "node:http"
import { fileURLToPath } from "node:url"
import { Agent, request } from "undici"
import * as Api from "../../demo/src/web/api.js"
import { median } from "./stats.js"

const connections = 32
const seconds = 3
const rounds = 3

const fmt = (n: number, digits = 0) =>
  n.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits })

/** Requests answered 200 per second, `connections` at a time for `seconds`. */
const load = (url: string, cookie: string, agent: Agent) =>
  Effect.promise(async () => {
    const until = Date.now() + seconds * 1000
    let ok = 0
    let failed = 0
    const worker = async () => {
      while (Date.now() < until) {
        const response = await request(url, { dispatcher: agent, headers: { cookie } })
        await response.body.text()
        if (response.statusCode === 200) ok++
        else failed++
      }
    }
    const started = Date.now()
    await Promise.all(Array.from({ length: connections }, worker))
    return { perSecond: ok / ((Date.now() - started) / 1000), failed }
  })

/** One login through the emulator's pages, with fetch: the session cookie. */
const login = (appUrl: string, emulatorUrl: string) =>
  Effect.promise(async () => {
    const jar = new Map<string, string>()
    const send = async (url: string, init: RequestInit = {}) => {
      const headers = new Headers(init.headers)
      if (jar.size > 0) headers.set("cookie", [...jar].map(([k, v]) => `${k}=${v}`).join("; "))
      const response = await fetch(url, { ...init, headers, redirect: "manual" })
      for (const c of response.headers.getSetCookie()) {
        const pair = c.split(";")[0]!
        jar.set(pair.slice(0, pair.indexOf("=")), pair.slice(pair.indexOf("=") + 1))
      }
      return { location: response.headers.get("location"), text: await response.text() }
    }
    const started = await send(`${appUrl}/login`)
    const page = await send(started.location!)
    const query = /name="query" value="([^"]*)"/.exec(page.text)![1]!.replace(/&amp;/g, "&")
    const decided = await send(`${emulatorUrl}/authorize/consent`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ query, username: "bench", decision: "allow" }).toString()
    })
    await send(decided.location!)
    return `session=${jar.get("session")!}`
  })

/** The lines of the section. */
export const section: Effect.Effect<ReadonlyArray<string>> = Effect.gen(function*() {
  const tenant = yield* Layer.build(Emulator.layerServer({ loginPage: true, accessTokenLifetime: "1 hour" }))
  const emulator = Context.get(tenant, Emulator.Emulator)
  const emulatorUrl = Context.get(tenant, Emulator.EmulatorServer).url
  const apiUrl = yield* Api.serve(emulator)

  const server = yield* NodeHttpServer.make(() => createServer(), { port: 0, host: "127.0.0.1" })
  const appUrl = `http://127.0.0.1:${(server.address as HttpServer.TcpAddress).port}`
  const context = yield* Layer.build(
    WebAuth.layer({ baseUrl: appUrl, secrets: Redacted.make("a benchmark secret of 32 bytes or more") }).pipe(
      Layer.provideMerge(Layer.mergeAll(SessionStore.layerMemory, Login.layer(), Sessions.layer())),
      Layer.provideMerge(RenewalStrategy.refreshToken),
      Layer.provideMerge(TokenStore.layerMemory),
      Layer.provideMerge(AuthenticationClient.layerDiscovery({ issuer: emulator.issuer, clientId: emulator.clientId })),
      Layer.provideMerge(NodeHttpClient.layerUndici)
    )
  )
  const auth = Context.get(context, WebAuth.WebAuth)
  const http = Context.get(context, HttpClient.HttpClient)
  // the token the route without the library sends: a valid one, held already
  const held = (yield* emulator.login({ username: "bench" })).access_token
  const orders = HttpClientRequest.get(`${apiUrl}/orders`)

  const router = HttpRouter.empty.pipe(
    HttpRouter.get(
      "/with",
      CurrentUser.requireApi(Effect.gen(function*() {
        const client = yield* UserClient.make()
        const response = yield* client.execute(orders)
        return yield* HttpServerResponse.json(yield* response.json, { status: response.status })
      }))
    ),
    HttpRouter.get(
      "/without",
      Effect.gen(function*() {
        const response = yield* http.execute(HttpClientRequest.bearerToken(orders, held))
        return yield* HttpServerResponse.json(yield* response.json, { status: response.status })
      })
    ),
    HttpRouter.concat(auth.router)
  )
  yield* server.serve(Effect.provide(Effect.flatten(HttpRouter.toHttpApp(router)), context))
  const cookie = yield* login(appUrl, emulatorUrl)

  const agent = new Agent({ connections })
  yield* Effect.addFinalizer(() => Effect.promise(() => agent.close()))
  // warm up both routes
  yield* load(`${appUrl}/with`, cookie, agent)
  yield* load(`${appUrl}/without`, cookie, agent)
  const withLibrary: Array<number> = []
  const without: Array<number> = []
  let failures = 0
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? ["without", "with"] : ["with", "without"]
    for (const route of order) {
      const result = yield* load(`${appUrl}/${route}`, cookie, agent)
      failures += result.failed
      ;(route === "with" ? withLibrary : without).push(result.perSecond)
    }
  }
  const renewals = (yield* emulator.requests).filter((e) => e.endpoint === "token" && e.grantType === "refresh_token")
    .length
  const ratio = median(withLibrary) / median(without)
  return [
    "## A protected route calling an API with the user's token",
    "",
    `One route of a web app on \`NodeHttpServer\` that calls an API (the demo's, which checks the token's signature and expiry) for the person of the request: with the library (\`CurrentUser.requireApi\` + \`UserClient\`: the signed session cookie checked, the session read from the \`SessionStore\`, the person's valid access token from \`Sessions\`, the API called with it), and the same route without it (the API called with a token the handler already holds). Same server, same HTTP client (\`NodeHttpClient.layerUndici\`), one run, ${rounds} rounds alternated, ${connections} kept-alive connections for ${seconds} s each; the emulator, the API, the app and the load all in one process on loopback. Tokens live an hour: ${renewals} renewals during the run.`,
    "",
    "| route | requests per second (median) | per round |",
    "| --- | ---: | --- |",
    `| without the library | ${fmt(median(without))} | ${without.map((x) => fmt(x)).join(", ")} |`,
    `| with \`requireApi\` + \`UserClient\` | ${fmt(median(withLibrary))} | ${
      withLibrary.map((x) => fmt(x)).join(", ")
    } |`,
    "",
    `With the library: ${fmt(ratio, 2)}x the requests per second of the route without it (goal: at least 0.8x).${
      failures > 0 ? ` ${failures} requests were not answered 200.` : ""
    }`,
    ""
  ]
}).pipe(Effect.scoped, Effect.orDie)

/**
 * The section's lines, measured in a fresh process of its own (this file
 * under tsx), as `main.ts` runs every benchmark; a failure is a line saying so.
 */
export const lines = (): ReadonlyArray<string> => {
  const child = spawnSync(process.execPath, ["--import", "tsx", fileURLToPath(import.meta.url)], {
    encoding: "utf8",
    maxBuffer: 16 * 1024 * 1024
  })
  return child.status === 0
    ? child.stdout.trimEnd().split("\n").concat("")
    : ["## A protected route calling an API with the user's token", "", `Failed: ${child.stderr.slice(-2000)}`, ""]
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  Effect.runPromise(section).then((out) => console.log(out.join("\n")))
}
