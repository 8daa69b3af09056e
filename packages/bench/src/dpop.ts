/**
 * The cost of DPoP (RFC 9449), in process: signing one proof (ES256 with
 * `jose` over WebCrypto), and an `AuthorizedClient` request with and without
 * DPoP against an in-memory server (an `HttpClient` double that answers 200),
 * over a `Renewer` whose credentials are valid (no renewal). `renewer.get()`
 * is measured on both kinds of credentials too: a DPoP key costs nothing
 * there, the proof is made per request by the `AuthorizedClient`.
 *
 * `dpopSection()` answers the lines of the section "## The cost of a DPoP
 * proof"; run alone (`pnpm exec tsx packages/bench/src/dpop.ts`), prints them.
 */
import { AuthorizedClient, Credentials, Dpop, RenewalStrategy, Renewer, TokenStore } from "@effect-renewal/core"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import { pathToFileURL } from "node:url"
import { median } from "./stats.js"

const rounds = 7

/** Microseconds per call of `effect`: the median of `rounds` rounds of `calls` sequential calls, after a warm-up. */
const perCall = <E, R>(effect: Effect.Effect<unknown, E, R>, calls: number): Effect.Effect<number, E, R> =>
  Effect.gen(function*() {
    for (let i = 0; i < calls / 5; i++) yield* effect
    const samples: Array<number> = []
    for (let round = 0; round < rounds; round++) {
      const start = performance.now()
      for (let i = 0; i < calls; i++) yield* effect
      samples.push(((performance.now() - start) * 1000) / calls)
    }
    return median(samples)
  })

const answering = HttpClient.make((request) =>
  Effect.succeed(HttpClientResponse.fromWeb(request, new Response("ok", { status: 200 })))
)

const never = Layer.succeed(RenewalStrategy.RenewalStrategy, {
  renew: () => Effect.dieMessage("no renewal in this benchmark"),
  revoke: () => Effect.void
})

const credentials = (key: Dpop.DpopKey | undefined) =>
  new Credentials.Credentials({
    accessToken: Redacted.make(
      "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLW9mLWEtdG9rZW4tb2YtdXN1YWwtc2l6ZQ"
    ),
    refreshToken: Redacted.make("a-refresh-token"),
    tokenType: key === undefined ? "Bearer" : "DPoP",
    expiresAt: DateTime.unsafeMake(Date.now() + 24 * 3_600_000),
    ...(key === undefined ? {} : { dpop: key })
  })

/** Per request of an `AuthorizedClient`, and per `renewer.get()`, on these credentials. */
const requestCost = (saved: Credentials.Credentials) =>
  Effect.gen(function*() {
    const renewer = yield* Renewer.Renewer
    yield* renewer.save(saved)
    const client = yield* AuthorizedClient.make().pipe(Effect.provideService(HttpClient.HttpClient, answering))
    const request = HttpClientRequest.get("https://api.example.com/orders?page=1")
    const get = yield* perCall(renewer.get(), 200_000)
    const call = yield* perCall(client.execute(request), 5_000)
    return { get, call }
  }).pipe(Effect.provide(Renewer.layer().pipe(Layer.provide([TokenStore.layerMemory, never]))), Effect.scoped)

const fmt = (n: number, digits: number) =>
  n.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits })

/** The lines of the section "## The cost of a DPoP proof". */
export const dpopSection = (): Promise<ReadonlyArray<string>> =>
  Effect.runPromise(Effect.gen(function*() {
    const key = yield* Dpop.generateKey
    const url = "https://api.example.com/orders"
    const sign = yield* perCall(Dpop.proof(key, { method: "GET", url }), 2_000)
    const accessToken = Redacted.make("an-access-token-of-some-length-0123456789")
    const signWithAth = yield* perCall(Dpop.proof(key, { method: "GET", url, accessToken }), 2_000)
    const generate = yield* perCall(Dpop.generateKey, 200)
    const bearer = yield* requestCost(credentials(undefined))
    const dpop = yield* requestCost(credentials(key))
    return [
      "## The cost of a DPoP proof",
      "",
      `In process, median of ${rounds} rounds after a warm-up. A proof is an ES256 JWS signed with \`jose\` over WebCrypto; the \`AuthorizedClient\` makes one per request (with \`ath\`, the SHA-256 of the token, computed once per token), the token endpoint one per request. The server is an \`HttpClient\` double that answers 200 at once: the request figures are the client's own cost. \`renewer.get()\` does no DPoP work: its figure is the same with a key.`,
      "",
      "| what | µs per call |",
      "| --- | ---: |",
      `| \`Dpop.proof\` (sign one proof) | ${fmt(sign, 1)} |`,
      `| \`Dpop.proof\` with \`accessToken\` (\`ath\`: one SHA-256 more) | ${fmt(signWithAth, 1)} |`,
      `| \`Dpop.generateKey\` (once per login) | ${fmt(generate, 1)} |`,
      `| \`AuthorizedClient\` request, Bearer credentials | ${fmt(bearer.call, 1)} |`,
      `| \`AuthorizedClient\` request, DPoP credentials | ${fmt(dpop.call, 1)} |`,
      `| \`renewer.get()\` on valid Bearer credentials | ${fmt(bearer.get, 3)} |`,
      `| \`renewer.get()\` on valid DPoP credentials | ${fmt(dpop.get, 3)} |`,
      "",
      `A DPoP request costs ${
        fmt(dpop.call - bearer.call, 1)
      } µs more than a Bearer one here: the proof (the row above) is about half of it; the rest (the client's own span in place of the platform's, the asynchronous hop of the WebCrypto signature) was not broken down further.`,
      ""
    ]
  }))

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  dpopSection().then((lines) => console.log(lines.join("\n")))
}
