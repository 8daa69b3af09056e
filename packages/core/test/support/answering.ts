import * as AuthenticationClient from "@effect-renewal/core/AuthenticationClient"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Effect from "effect/Effect"

/**
 * An `AuthenticationClient` over an `HttpClient` double that answers every
 * request with `status` and the raw `body` (none for 204 and 304).
 */
export const clientAnswering = (
  status: number,
  body: Uint8Array | string,
  options: { readonly contentType?: string; readonly client?: Partial<AuthenticationClient.Options> } = {}
) =>
  AuthenticationClient.make({ domain: "tenant.example.com", clientId: "client-1", ...options.client }).pipe(
    Effect.provideService(
      HttpClient.HttpClient,
      HttpClient.make((request) =>
        Effect.succeed(
          HttpClientResponse.fromWeb(
            request,
            new Response(status === 204 || status === 304 ? null : (body as unknown as BodyInit), {
              status,
              headers: { "content-type": options.contentType ?? "application/json" }
            })
          )
        )
      )
    )
  )
