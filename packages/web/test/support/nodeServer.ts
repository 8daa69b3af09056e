/**
 * The app over a real NodeHttpServer on a loopback port (headers go through
 * node:http), and a client that talks to it with `fetch` and keeps a cookie
 * jar.
 */
import * as Emulator from "@effect-renewal/testing/Emulator"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import type * as HttpServer from "@effect/platform/HttpServer"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import { createServer } from "node:http"
import { app, type Env, providerRedirect } from "./stack.js"

/** Serves the app on 127.0.0.1 (port 0) for the scope: its origin. */
export const serve = Effect.gen(function*() {
  const server = yield* NodeHttpServer.make(() => createServer(), { port: 0, host: "127.0.0.1" })
  const handler = yield* app
  const context = yield* Effect.context<any>()
  yield* server.serve(
    Effect.provide(handler, context).pipe(
      Effect.tapErrorCause((c) => Effect.sync(() => console.log("SERVER", String(c))))
    ) as any
  )
  return `http://127.0.0.1:${(server.address as HttpServer.TcpAddress).port}`
}) as Effect.Effect<string, never, Env | Scope.Scope>

/** A client with a cookie jar; each request's answer, or its failure (a 5-second timeout), as an Either. */
export const fetchClient = (origin: string) => {
  const jar = new Map<string, string>()
  const request = (path: string, init: RequestInit = {}) =>
    Effect.tryPromise(async () => {
      const headers = new Headers(init.headers)
      if (jar.size > 0) headers.set("cookie", [...jar].map(([k, v]) => `${k}=${v}`).join("; "))
      const response = await fetch(origin + path, { ...init, headers, redirect: "manual" })
      for (const cookie of response.headers.getSetCookie()) {
        const [pair] = cookie.split(";")
        const name = pair!.slice(0, pair!.indexOf("="))
        const value = pair!.slice(pair!.indexOf("=") + 1)
        if (/Max-Age=0/i.test(cookie) || value === "") jar.delete(name)
        else jar.set(name, value)
      }
      return { status: response.status, location: response.headers.get("location"), text: await response.text() }
    }).pipe(Effect.timeout("5 seconds"), Effect.either)
  /** The provider approves the next login as `username`; the client follows `authorizeUrl` back to the callback. */
  const completeLogin = (authorizeUrl: string, username: string) =>
    Effect.gen(function*() {
      yield* (yield* Emulator.Emulator).approveNext({ username })
      const callback = yield* providerRedirect(authorizeUrl)
      return yield* request(callback.pathname + callback.search)
    })
  /** The bytes the jar's cookies take in a Cookie header. */
  const jarBytes = () => [...jar].reduce((n, [k, v]) => n + k.length + v.length + 3, 0)
  return { origin, jar, request, completeLogin, jarBytes }
}

/** The app served (as `serve`) and a new client of it. */
export const servedClient = Effect.map(serve, fetchClient)
