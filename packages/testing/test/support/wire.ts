/**
 * What the emulator's wire tests share: the in-memory tenant's issuer and
 * client, a request sent through the `HttpClient` in context with its answer
 * read whole, a JWT's claims read without a check, and the in-memory emulator.
 */
import * as Emulator from "@effect-renewal/testing/Emulator"
import * as HttpClient from "@effect/platform/HttpClient"
import type * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Effect from "effect/Effect"

export const ISSUER = "https://emulator.effect-renewal.test/"
export const CLIENT_ID = "test-client-id"

export const send = (request: HttpClientRequest.HttpClientRequest) =>
  Effect.gen(function*() {
    const client = yield* HttpClient.HttpClient
    const response = yield* client.execute(request)
    const text = yield* response.text
    const json = response.headers["content-type"]?.includes("json") ? JSON.parse(text) : undefined
    return { status: response.status, headers: response.headers, text, json }
  })

export const claimsOf = (jwt: string): Record<string, any> =>
  JSON.parse(Buffer.from(jwt.split(".")[1]!, "base64url").toString("utf8"))

export const memory =
  (options?: Emulator.Emulator.Options) =>
  <A, E>(effect: Effect.Effect<A, E, Emulator.Emulator | HttpClient.HttpClient>) =>
    Effect.provide(effect, Emulator.layerMemory(options))
