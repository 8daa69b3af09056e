/**
 * The demo's protected API: a resource server on loopback that accepts only a
 * valid access token of the emulator (`Authorization: Bearer`), and answers
 * with the user's orders. It checks the token as any resource server would:
 * signature and expiry (through the emulator's `verifyResourceRequest`, which also takes
 * DPoP-bound tokens with their proof).
 */
import type * as Emulator from "@effect-renewal/testing/Emulator"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as HttpRouter from "@effect/platform/HttpRouter"
import type * as HttpServer from "@effect/platform/HttpServer"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Effect from "effect/Effect"
import { createServer } from "node:http"

/** The orders of a user: the same for everyone, stamped with who asked. */
export const ordersOf = (subject: string) => ({
  user: subject,
  orders: [
    { id: "A-1001", item: "Effect mug", quantity: 2 },
    { id: "A-1002", item: "Renewal stickers", quantity: 10 }
  ]
})

/** The API's routes, over the emulator that issued the tokens. */
export const router = (emulator: Emulator.Emulator.Service) =>
  HttpRouter.empty.pipe(
    HttpRouter.get(
      "/orders",
      Effect.gen(function*() {
        const request = yield* HttpServerRequest.HttpServerRequest
        const access = yield* emulator.verifyResourceRequest({
          method: request.method,
          url: `http://${request.headers["host"]}${request.url}`,
          authorization: request.headers["authorization"],
          dpop: request.headers["dpop"]
        })
        if (access._tag === "Refused" || typeof access.claims.sub !== "string") {
          return HttpServerResponse.unsafeJson({ error: access._tag === "Refused" ? access.error : "invalid_token" }, {
            status: access._tag === "Refused" ? access.status : 401,
            headers: { "www-authenticate": access._tag === "Refused" ? access.wwwAuthenticate : "Bearer" }
          })
        }
        return HttpServerResponse.unsafeJson(ordersOf(access.claims.sub))
      })
    )
  )

/** Serves the API on 127.0.0.1 (port 0: an ephemeral one) until the scope closes; its URL. */
export const serve = (emulator: Emulator.Emulator.Service, port = 0) =>
  Effect.gen(function*() {
    const server = yield* NodeHttpServer.make(() => createServer(), { port, host: "127.0.0.1" })
    yield* server.serve(HttpRouter.toHttpApp(router(emulator)).pipe(Effect.flatten))
    const address = server.address as HttpServer.TcpAddress
    return `http://127.0.0.1:${address.port}`
  })
