/**
 * An `HttpClient` for the APIs the credentials are for: it sends the access
 * token from the `Renewer` as `Authorization: Bearer`, and on a 401 that
 * blames the token renews once and retries (only if the rejected token is
 * still the current one). A 401 blames the token when its `WWW-Authenticate`
 * says `error="invalid_token"` or names no error at all; one with another
 * error (`invalid_request`, `insufficient_scope`, DPoP's `invalid_dpop_proof`
 * or `use_dpop_nonce`) is returned as it is, without renewing: a new token
 * would not cure it.
 *
 * Credentials of token type `DPoP` (a login with `dpop: true`) are sent as
 * `Authorization: DPoP <token>` with a DPoP proof signed with their key
 * (RFC 9449 §7: `ath`, the resource origin's last nonce); a 401 that asks
 * for a nonce (`WWW-Authenticate: DPoP error="use_dpop_nonce"`) is sent once
 * more with it, without renewing. DPoP credentials without their key fail
 * with `LoginRequired` `DpopKeyMissing`, sending nothing. A DPoP request does
 * not follow redirects (a proof names one URL): the 3xx is handed back, and
 * `HttpClient.followRedirects` around this client follows with a proof per
 * hop. The response handed back holds the request as it was made (without
 * the token or the proof) and never renders the proof or the nonce.
 *
 * A failed renewal is an error of the request: `LoginRequired`,
 * `RenewalFailed` or `StoreError`, beside the `HttpClientError`s.
 *
 * @example
 * ```ts
 * import * as AuthorizedClient from "@effect-renewal/core/AuthorizedClient"
 * import type * as Renewer from "@effect-renewal/core/Renewer"
 * import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
 * import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
 * import * as Effect from "effect/Effect"
 * import * as Layer from "effect/Layer"
 *
 * // Requests carry `Authorization: Bearer <access token>`; a 401 renews once and retries.
 * const ApiClientLive: Layer.Layer<AuthorizedClient.AuthorizedClient, never, Renewer.Renewer> = AuthorizedClient
 *   .layer().pipe(Layer.provide(FetchHttpClient.layer))
 *
 * const listOrders = Effect.gen(function*() {
 *   const api = yield* AuthorizedClient.AuthorizedClient
 *   const response = yield* api.execute(HttpClientRequest.get("https://api.example.com/orders"))
 *   return yield* response.json
 * }).pipe(
 *   // no usable credentials: the user must log in again
 *   Effect.catchTag("LoginRequired", () => Effect.succeed([]))
 * )
 * ```
 *
 * @since 0.1.0
 */
import * as HttpClient from "@effect/platform/HttpClient"
import type * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Equal from "effect/Equal"
import * as Layer from "effect/Layer"
import type { RenewerError } from "./AuthError.js"
import type { Credentials } from "./Credentials.js"
import * as Challenge from "./internal/challenge.js"
import * as Binding from "./internal/dpop/binding.js"
import * as Resource from "./internal/dpop/resource.js"
import { Renewer } from "./Renewer.js"

/**
 * The tag of the authorized `HttpClient`: an `HttpClient` whose requests also
 * fail with the `Renewer`'s errors. {@link layer} provides it.
 *
 * @since 0.1.0
 * @category tags
 */
export class AuthorizedClient extends Context.Tag("@effect-renewal/core/AuthorizedClient")<
  AuthorizedClient,
  HttpClient.HttpClient.With<HttpClientError.HttpClientError | RenewerError>
>() {}

/**
 * Which credentials the client sends: the options of {@link make} and
 * {@link layer}.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The `minTtl` of the credentials sent: the `Renewer`'s unless given. */
  readonly minTtl?: Duration.DurationInput | undefined
  /** The scope of the credentials sent: the stored login's unless given. */
  readonly scope?: string | undefined
}

/**
 * Wraps the `HttpClient` in context. A request goes out with the current
 * access token; a 401 answer that blames the token (`error="invalid_token"`
 * or no error in `WWW-Authenticate`) makes it renew (`forceRefresh`) once
 * and send the request again, unless another caller already replaced the rejected
 * token, in which case the request is sent again with the new one. A second
 * 401 is returned as it is, and so is a 401 with any other error. A DPoP
 * nonce challenge is not a rejection of the token: it is answered with the
 * nonce first (see the module's notes).
 *
 * @example
 * ```ts
 * import * as AuthorizedClient from "@effect-renewal/core/AuthorizedClient"
 * import * as HttpClient from "@effect/platform/HttpClient"
 * import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
 * import * as Effect from "effect/Effect"
 *
 * // An authorized client for one API, with a token that lives at least a minute,
 * // that fails on any status but 2xx.
 * const ordersApi = AuthorizedClient.make({ minTtl: "1 minute", scope: "openid read:orders" }).pipe(
 *   Effect.map((client) =>
 *     client.pipe(
 *       HttpClient.mapRequest(HttpClientRequest.prependUrl("https://api.example.com")),
 *       HttpClient.filterStatusOk
 *     )
 *   )
 * )
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options: Options = {}
): Effect.Effect<
  HttpClient.HttpClient.With<HttpClientError.HttpClientError | RenewerError>,
  never,
  HttpClient.HttpClient | Renewer
> =>
  Effect.gen(function*() {
    const client = yield* HttpClient.HttpClient
    const renewer = yield* Renewer
    // without options, the Renewer's hot path
    const get = options.minTtl === undefined && options.scope === undefined
      ? () => renewer.get()
      : () => renewer.get(options)

    const dpop = Resource.make(client)
    const send = (request: HttpClientRequest.HttpClientRequest, credentials: Credentials) =>
      Binding.isDpopType(credentials.tokenType)
        ? dpop.send(request, credentials)
        : client.execute(HttpClientRequest.bearerToken(request, credentials.accessToken))

    const execute = (
      request: HttpClientRequest.HttpClientRequest
    ): Effect.Effect<HttpClientResponse.HttpClientResponse, HttpClientError.HttpClientError | RenewerError> =>
      Effect.gen(function*() {
        const credentials = yield* get()
        const response = yield* send(request, credentials)
        // only `invalid_token` (or no error said) blames the token: a refused proof, a nonce challenge
        // (already answered once, or without a nonce), a refused scope are returned as they are
        if (response.status !== 401 || !Challenge.blamesToken(response.headers["www-authenticate"])) return response
        const current = yield* get()
        const next = Equal.equals(current.accessToken, credentials.accessToken)
          ? yield* renewer.get({ ...options, forceRefresh: true })
          : current
        return yield* send(request, next)
      })

    return HttpClient.makeWith<never, never, HttpClientError.HttpClientError | RenewerError, never>(
      (request) => Effect.flatMap(request, execute),
      (request) => Effect.succeed(request)
    )
  })

/**
 * Provides the client built by {@link make}; needs the `HttpClient` to wrap
 * and a `Renewer`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options: Options = {}
): Layer.Layer<AuthorizedClient, never, HttpClient.HttpClient | Renewer> =>
  Layer.effect(AuthorizedClient, make(options))
