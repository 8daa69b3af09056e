// The AuthorizedClient sample of docs/getting-started.md.
import { AuthorizedClient } from "@effect-renewal/core"
import type { Renewer } from "@effect-renewal/core"
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"

// Requests carry `Authorization: Bearer <access token>`; a 401 renews once and retries.
export const ApiClientLive: Layer.Layer<AuthorizedClient.AuthorizedClient, never, Renewer.Renewer> = AuthorizedClient
  .layer().pipe(Layer.provide(FetchHttpClient.layer))

export const listOrders = Effect.gen(function*() {
  const api = yield* AuthorizedClient.AuthorizedClient
  const response = yield* api.execute(HttpClientRequest.get("https://api.example.com/orders"))
  return yield* response.json
})
