/**
 * The client's `http.client` span records only headers known to be harmless
 * (`Http.spanHeaders`): a server (or a proxy) that echoes a token or the
 * client secret in a header of its own or in a cookie does not put it in a
 * span attribute. Against a raw loopback server over `fetch`, under a tracer
 * that records every attribute.
 */
import { AuthenticationClient } from "@effect-renewal/core"
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as Headers from "@effect/platform/Headers"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import { rawServer } from "./support/rawServer.js"
import { recordingTracer } from "./support/recordingTracer.js"
import { forms } from "./support/secrets.js"

const REFRESH_TOKEN = "rt-Sent7Hq2Lm9Xc4Vb"
const ISSUED_REFRESH_TOKEN = "rt-Issued3Nd8Kf1Pw6"
const ACCESS_TOKEN = "at-Issued5Gt2Ry8Mz1"
const ID_TOKEN = "idt-Issued9Qa4Ws7Ed3"
const CLIENT_SECRET = "cs-Secret2Zx6Cv9Bn4"
const secrets = [REFRESH_TOKEN, ISSUED_REFRESH_TOKEN, ACCESS_TOKEN, ID_TOKEN, CLIENT_SECRET]

/** A server that answers a token request well, and echoes every secret in headers and cookies. */
const echoing = (status: number) =>
  rawServer(() => (_, response) => {
    response.setHeader("content-type", "application/json")
    response.setHeader("cache-control", "no-store")
    response.setHeader("retry-after", "1")
    response.setHeader("x-debug-token", secrets.join(" "))
    response.setHeader("x-refresh-token", ISSUED_REFRESH_TOKEN)
    response.setHeader("x-id-token", ID_TOKEN)
    response.setHeader("www-authenticate", `Bearer error_description="${ACCESS_TOKEN}"`)
    response.setHeader("set-cookie", secrets.map((secret, i) => `c${i}=${secret}; HttpOnly`))
    response.writeHead(status).end(
      status === 200
        ? JSON.stringify({
          access_token: ACCESS_TOKEN,
          id_token: ID_TOKEN,
          refresh_token: ISSUED_REFRESH_TOKEN,
          token_type: "Bearer",
          expires_in: 60
        })
        : JSON.stringify({ error: "temporarily_unavailable" })
    )
  })

describe("the http.client span records only harmless headers", () => {
  for (
    const [status, authentication, redacting] of [
      [200, "client_secret_basic", "the platform's names"],
      [503, "client_secret_post", "the platform's names"],
      [200, "client_secret_post", "no name"]
    ] as const
  ) {
    it.live(`HTTP ${status}, ${authentication}, ${redacting} redacted: no token or secret echoed in a header or cookie`, () =>
      Effect.scoped(Effect.gen(function*() {
        const url = yield* echoing(status)
        const { spans, tracer } = recordingTracer()
        const client = yield* AuthenticationClient.make({
          domain: url,
          clientId: "client-1",
          clientSecret: Redacted.make(CLIENT_SECRET),
          clientAuthentication: authentication
        }).pipe(Effect.provide(FetchHttpClient.layer))
        yield* Effect.either(client.renewAuth(Redacted.make(REFRESH_TOKEN))).pipe(
          Effect.withTracer(tracer),
          // even for a caller who redacts nothing
          (effect) => redacting === "no name" ? Effect.locally(effect, Headers.currentRedactedNames, []) : effect
        )
        const attributes = spans.flatMap((span) => [...span.attributes])
        const recorded = Object.fromEntries(attributes)
        for (const [key, value] of attributes) {
          for (const secret of secrets) {
            for (const form of forms(secret)) {
              if (`${key}=${String(value)}`.includes(form)) expect.fail(`${key} holds "${form.slice(0, 5)}…"`)
            }
          }
        }
        // what is harmless is still there
        expect(recorded).toMatchObject({
          "http.response.status_code": status,
          "http.response.header.content-type": "application/json",
          "http.response.header.cache-control": "no-store",
          "http.request.header.accept": "application/json"
        })
        expect(recorded["http.response.header.date"]).toBeTypeOf("string")
        if (status === 503) expect(recorded["http.response.header.retry-after"]).toBe("1")
        // headers outside the list are not recorded at all
        for (const name of ["x-debug-token", "x-refresh-token", "x-id-token", "www-authenticate", "set-cookie"]) {
          expect(recorded).not.toHaveProperty(`http.response.header.${name}`)
        }
        expect(recorded).not.toHaveProperty("http.request.header.authorization")
      })))
  }
})
