/**
 * A client of an Auth0 tenant's authentication API, over `@effect/platform`'s
 * `HttpClient`, named after Auth0's Android `AuthenticationAPIClient`.
 *
 * One call is one attempt: retrying belongs to the `Renewer`, through its
 * `RenewalPolicy`. Every failure is typed: {@link AuthError.AuthApiError}
 * when the server answered with an error (or an answer that could not be
 * understood), {@link AuthError.NetworkError} when it did not answer.
 *
 * @since 0.1.0
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import type { AuthApiError, AuthenticationError } from "./AuthError.js"
import { InvalidConfiguration, NetworkError } from "./AuthError.js"
import * as Credentials from "./Credentials.js"
import * as Delegation from "./Delegation.js"
import * as Wire from "./internal/wire.js"

/**
 * @since 0.1.0
 * @category tags
 */
export class AuthenticationClient extends Context.Tag("@effect-renewal/core/AuthenticationClient")<
  AuthenticationClient,
  AuthenticationClient.Service
>() {}

/**
 * @since 0.1.0
 */
export declare namespace AuthenticationClient {
  /**
   * @since 0.1.0
   * @category models
   */
  export interface Service {
    /** The tenant's base URL, e.g. `https://tenant.auth0.com`. */
    readonly baseUrl: string
    readonly clientId: string
    /**
     * `POST /oauth/token` with `grant_type=refresh_token`. The returned
     * credentials have a `refreshToken` only if the server rotated it.
     */
    readonly renewAuth: (
      refreshToken: Redacted.Redacted<string>,
      options?: RenewAuthOptions
    ) => Effect.Effect<Credentials.Credentials, AuthenticationError>
    /** `POST /delegation` with a (still valid) id_token. */
    readonly delegationWithIdToken: (
      idToken: Redacted.Redacted<string>,
      options?: DelegationOptions
    ) => Effect.Effect<Delegation.Delegation, AuthenticationError>
    /** `POST /delegation` with a refresh token. */
    readonly delegationWithRefreshToken: (
      refreshToken: Redacted.Redacted<string>,
      options?: DelegationOptions
    ) => Effect.Effect<Delegation.Delegation, AuthenticationError>
    /** `POST /oauth/revoke`: revokes a refresh token (and its family). */
    readonly revoke: (refreshToken: Redacted.Redacted<string>) => Effect.Effect<void, AuthenticationError>
  }

  /**
   * @since 0.1.0
   * @category models
   */
  export interface RenewAuthOptions {
    readonly scope?: string | undefined
    readonly audience?: string | undefined
    /** Extra form parameters; they never override the ones the client sets. */
    readonly parameters?: Readonly<Record<string, string>> | undefined
  }

  /**
   * @since 0.1.0
   * @category models
   */
  export interface DelegationOptions {
    readonly scope?: string | undefined
    readonly apiType?: string | undefined
    readonly target?: string | undefined
    /** Extra body parameters; they never override the ones the client sets. */
    readonly parameters?: Readonly<Record<string, string>> | undefined
  }
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** `tenant.auth0.com` or a full URL; plain `http://` only for loopback hosts. */
  readonly domain: string
  readonly clientId: string
  readonly clientSecret?: Redacted.Redacted<string> | undefined
  /** How the secret is sent, `client_secret_post` by default. */
  readonly clientAuthentication?: "client_secret_post" | "client_secret_basic" | undefined
  readonly tokenPath?: string | undefined
  readonly delegationPath?: string | undefined
  readonly revokePath?: string | undefined
  /**
   * How long one call may take before it fails with a `NetworkError` of
   * reason `"Timeout"`. None by default: the `Renewer` bounds each attempt
   * with its `RenewalPolicy`; set it when calling the client directly.
   */
  readonly timeout?: Duration.DurationInput | undefined
}

/**
 * The grant type of `/delegation`.
 *
 * @since 0.1.0
 * @category constants
 */
export const JwtBearerGrantType = "urn:ietf:params:oauth:grant-type:jwt-bearer"

/**
 * Turns a `domain` option into a base URL: a bare host gets `https://`; a
 * full URL must be `https:`, or `http:` on a loopback host.
 *
 * @since 0.1.0
 * @category constructors
 */
export const baseUrl = (domain: string): Effect.Effect<string, InvalidConfiguration> =>
  Effect.suspend(() => {
    const invalid = (description: string) => Effect.fail(new InvalidConfiguration({ description }))
    const trimmed = domain.trim()
    if (trimmed.length === 0) return invalid("domain is empty")
    const hasScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(trimmed)
    let url: URL
    try {
      url = new URL(hasScheme ? trimmed : `https://${trimmed}`)
    } catch {
      return invalid(`domain "${trimmed}" is not a host name or URL`)
    }
    if (url.username !== "" || url.password !== "" || url.search !== "" || url.hash !== "") {
      return invalid("domain must not carry credentials, a query or a fragment")
    }
    if (url.protocol === "http:") {
      if (!isLoopback(url.hostname)) {
        return invalid(`plain http is only allowed for loopback hosts, not ${url.hostname}`)
      }
    } else if (url.protocol !== "https:") {
      return invalid(`unsupported scheme ${url.protocol}`)
    }
    return Effect.succeed(`${url.origin}${url.pathname.replace(/\/+$/, "")}`)
  })

const isLoopback = (hostname: string): boolean =>
  hostname === "localhost" || hostname === "[::1]" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname)

/**
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options: Options
): Effect.Effect<AuthenticationClient.Service, InvalidConfiguration, HttpClient.HttpClient> =>
  Effect.gen(function*() {
    const base = yield* baseUrl(options.domain)
    if (options.clientId.trim().length === 0) {
      return yield* new InvalidConfiguration({ description: "clientId is empty" })
    }
    const httpClient = yield* HttpClient.HttpClient
    const clientId = options.clientId
    const secret = options.clientSecret
    const basic = secret !== undefined && options.clientAuthentication === "client_secret_basic"
    for (const path of [options.tokenPath, options.delegationPath, options.revokePath]) {
      // a path is appended to the base URL: one without a leading slash could change the host
      if (path !== undefined && !/^\/[^/\\]/.test(path)) {
        return yield* new InvalidConfiguration({ description: `endpoint path "${path}" must start with a single "/"` })
      }
    }
    const tokenUrl = base + (options.tokenPath ?? "/oauth/token")
    const delegationUrl = base + (options.delegationPath ?? "/delegation")
    const revokeUrl = base + (options.revokePath ?? "/oauth/revoke")
    const timeout = options.timeout === undefined ? undefined : Duration.decode(options.timeout)

    // Secrets become plain text here, in the body of one request, and nowhere else.
    const form = (url: string, params: Record<string, string | undefined>) => {
      const body: Record<string, string> = {}
      for (const [k, v] of Object.entries(params)) if (v !== undefined) body[k] = v
      body.client_id = clientId
      if (secret !== undefined && !basic) body.client_secret = Wire.reveal(secret)
      const request = HttpClientRequest.post(url).pipe(
        HttpClientRequest.acceptJson,
        HttpClientRequest.bodyUrlParams(body)
      )
      // RFC 6749 2.3.1: both parts are form-urlencoded before base64
      return basic
        ? HttpClientRequest.basicAuth(
          request,
          encodeURIComponent(clientId),
          Redacted.make(encodeURIComponent(Wire.reveal(secret!)))
        )
        : request
    }

    const send = <A>(
      token: Redacted.Redacted<string>,
      request: HttpClientRequest.HttpClientRequest,
      onSuccess: (status: number, body: Either.Either<unknown, string>) => Effect.Effect<A, AuthApiError>
    ): Effect.Effect<A, AuthenticationError> =>
      httpClient.execute(request).pipe(
        Effect.mapError((error) => Wire.networkError(error)),
        Effect.flatMap((response) =>
          response.text.pipe(
            Effect.mapError((error) => Wire.networkError(error, response.status)),
            Effect.flatMap((text) =>
              response.status >= 200 && response.status < 300
                ? Effect.suspend(() => {
                  const body = Wire.parseJson(text)
                  return Effect.zipRight(Wire.rejectErrorBody(response.status, body), onSuccess(response.status, body))
                })
                : Effect.flatMap(Wire.errorFromResponse(response, text), Effect.fail)
            )
          )
        ),
        (effect) =>
          timeout === undefined ? effect : Effect.timeoutFail(effect, {
            duration: timeout,
            onTimeout: () =>
              new NetworkError({
                reason: "Timeout",
                description: `no answer to ${request.method} ${request.url} within ${Duration.format(timeout)}`
              })
          }),
        // A server (or a proxy) may echo what it was sent: never into an error.
        Effect.mapError((error) =>
          error._tag === "AuthApiError"
            ? Wire.scrub(error, secret === undefined ? [Wire.reveal(token)] : [Wire.reveal(token), Wire.reveal(secret)])
            : error
        )
      )

    const renewAuth = (refreshToken: Redacted.Redacted<string>, renew?: AuthenticationClient.RenewAuthOptions) =>
      send(
        refreshToken,
        form(tokenUrl, {
          ...renew?.parameters,
          ...(renew?.scope === undefined ? {} : { scope: renew.scope }),
          ...(renew?.audience === undefined ? {} : { audience: renew.audience }),
          grant_type: "refresh_token",
          refresh_token: Wire.reveal(refreshToken)
        }),
        (status, body) =>
          Effect.flatMap(
            Wire.decodeBody(Credentials.TokenResponse, status, body),
            Credentials.fromTokenResponse
          )
      )

    const delegation = (
      field: "id_token" | "refresh_token",
      token: Redacted.Redacted<string>,
      delegate?: AuthenticationClient.DelegationOptions
    ) => {
      const body: Record<string, string> = { ...delegate?.parameters }
      if (delegate?.scope !== undefined) body.scope = delegate.scope
      if (delegate?.apiType !== undefined) body.api_type = delegate.apiType
      if (delegate?.target !== undefined) body.target = delegate.target
      body.client_id = clientId
      body.grant_type = JwtBearerGrantType
      body[field] = Wire.reveal(token)
      return send(
        token,
        HttpClientRequest.post(delegationUrl).pipe(
          HttpClientRequest.acceptJson,
          HttpClientRequest.bodyUnsafeJson(body)
        ),
        (status, body) =>
          Effect.flatMap(Wire.decodeBody(Delegation.DelegationResponse, status, body), Delegation.fromResponse)
      )
    }

    const revoke = (refreshToken: Redacted.Redacted<string>) =>
      send(refreshToken, form(revokeUrl, { token: Wire.reveal(refreshToken) }), () => Effect.void)

    return AuthenticationClient.of({
      baseUrl: base,
      clientId,
      renewAuth,
      delegationWithIdToken: (idToken, options) => delegation("id_token", idToken, options),
      delegationWithRefreshToken: (refreshToken, options) => delegation("refresh_token", refreshToken, options),
      revoke
    })
  })

/**
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options: Options
): Layer.Layer<AuthenticationClient, InvalidConfiguration, HttpClient.HttpClient> =>
  Layer.effect(AuthenticationClient, make(options))

/**
 * The options read from `Config`; by default from `AUTH0_DOMAIN`,
 * `AUTH0_CLIENT_ID` and (optional) `AUTH0_CLIENT_SECRET`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  config: Config.Config<Options> = defaultConfig
): Layer.Layer<AuthenticationClient, ConfigError.ConfigError | InvalidConfiguration, HttpClient.HttpClient> =>
  Layer.effect(AuthenticationClient, Effect.flatMap(config, make))

/**
 * `AUTH0_DOMAIN`, `AUTH0_CLIENT_ID` and an optional `AUTH0_CLIENT_SECRET`.
 *
 * @since 0.1.0
 * @category config
 */
export const defaultConfig: Config.Config<Options> = Config.map(
  Config.all({
    domain: Config.string("AUTH0_DOMAIN"),
    clientId: Config.string("AUTH0_CLIENT_ID"),
    clientSecret: Config.option(Config.redacted("AUTH0_CLIENT_SECRET"))
  }),
  ({ clientId, clientSecret, domain }): Options =>
    clientSecret._tag === "Some" ? { domain, clientId, clientSecret: clientSecret.value } : { domain, clientId }
)
