/**
 * The requests of the `AuthenticationClient`: their fields, the client's
 * authentication ({@link ClientAuthentication}), and which grant each one
 * presents, to the endpoints of the metadata ({@link Discovery}: discovered,
 * or Auth0's `domain` form). Sending them, and what an answer means, is the
 * exchange's ({@link Http}).
 *
 * @internal
 */
import * as HttpBody from "@effect/platform/HttpBody"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import type * as AuthenticationClient from "../AuthenticationClient.js"
import type { AuthenticationError } from "../AuthError.js"
import { AuthApiError, InvalidConfiguration, InvalidResponseCode } from "../AuthError.js"
import * as Credentials from "../Credentials.js"
import * as Delegation from "../Delegation.js"
import type { DpopKey } from "../Dpop.js"
import * as ClientAuthentication from "./clientAuthentication.js"
import * as Discovery from "./discovery.js"
import * as TokenEndpoint from "./dpop/tokenEndpoint.js"
import { isLoopback, quoted } from "./endpoints.js"
import * as Http from "./http.js"
import * as Wire from "./wire.js"

/** @internal */
export const JwtBearerGrantType = "urn:ietf:params:oauth:grant-type:jwt-bearer"

/** @internal */
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
      return invalid(`domain ${quoted(trimmed)} is not a host name or URL`)
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

/**
 * An endpoint path is appended to the base URL: one that does not start
 * with a single `/` could change the host (`//evil.example`, `.evil.example`).
 */
const endpointPath = (path: string | undefined, fallback: string): Effect.Effect<string, InvalidConfiguration> =>
  path === undefined
    ? Effect.succeed(fallback)
    : /^\/[^/\\]/.test(path)
    ? Effect.succeed(path)
    : Effect.fail(
      new InvalidConfiguration({ description: `endpoint path ${quoted(path)} must start with a single "/"` })
    )

/**
 * Names that carry a grant or the client's identity: always the client's,
 * never taken from a caller's `parameters`.
 */
const credentialFields: ReadonlySet<string> = new Set([
  "grant_type",
  "client_id",
  "client_secret",
  "client_assertion",
  "client_assertion_type",
  "refresh_token",
  "id_token",
  "token",
  "code",
  "code_verifier",
  "device_code"
])

/**
 * The fields of a request: the client's own (an `undefined` one is not sent),
 * and a caller's extra `parameters`, which never override the client's own
 * fields nor name a credential.
 */
const fields = (
  own: Readonly<Record<string, string | undefined>>,
  parameters: Readonly<Record<string, string>> | undefined
): Array<[string, string]> => {
  const body = new Map<string, string>()
  if (parameters !== undefined) {
    for (const [name, value] of Object.entries(parameters)) {
      if (typeof value === "string" && !credentialFields.has(name)) body.set(name, value)
    }
  }
  for (const [name, value] of Object.entries(own)) if (value !== undefined) body.set(name, value)
  return [...body]
}

/**
 * A JSON body as bytes whose content type does not end in `json`: the
 * platform renders a body of a `json` or `text/` type as text wherever its
 * request is inspected or logged, and this one carries a token.
 */
const jsonBody = (body: Readonly<Record<string, string>>): HttpBody.HttpBody =>
  HttpBody.uint8Array(new TextEncoder().encode(JSON.stringify(body)), "application/json; charset=utf-8")

const century = Duration.days(36_525)

/** A duration option: absent, or a `Duration` input within `[minimum, century]`. */
const duration = (
  name: string,
  input: Duration.DurationInput | undefined,
  minimum: "zero" | "positive"
): Effect.Effect<Duration.Duration | undefined, InvalidConfiguration> => {
  if (input === undefined) return Effect.succeed(undefined)
  // `Duration` reads a negative or NaN input as zero: refused here, not silently changed
  const negative = (typeof input === "number" && !(input >= 0)) ||
    (typeof input === "string" && input.trim().startsWith("-")) ||
    (typeof input === "bigint" && input < BigInt(0))
  const decoded = Option.filter(
    negative ? Option.none() : Duration.decodeUnknown(input),
    (d) => Duration.lessThanOrEqualTo(d, century) && (minimum === "zero" || Duration.greaterThan(d, Duration.zero))
  )
  return Option.match(decoded, {
    onSome: Effect.succeed,
    onNone: () =>
      Effect.fail(
        new InvalidConfiguration({
          description: `${name} must be a ${
            minimum === "positive" ? "positive" : "non-negative"
          } duration, at most a century`
        })
      )
  })
}

/** What both forms share once the metadata is known: checked options, the exchange. */
interface Common {
  readonly clientId: string
  readonly authentication: ClientAuthentication.ClientAuthentication
  readonly exchange: Http.Exchange
  readonly expiry: { readonly defaultExpiresIn: Duration.Duration | undefined }
  readonly timeout: Duration.Duration | undefined
}

/** The options both forms share, checked; the exchange over the `HttpClient` in context. */
const common = (
  options: AuthenticationClient.ClientOptions,
  audience: string
): Effect.Effect<Common, InvalidConfiguration, HttpClient.HttpClient> =>
  Effect.gen(function*() {
    const clientId = options.clientId
    if (typeof clientId !== "string" || clientId.trim().length === 0) {
      return yield* new InvalidConfiguration({ description: "clientId is empty" })
    }
    const timeout = yield* duration("timeout", options.timeout, "zero")
    const expiry = { defaultExpiresIn: yield* duration("defaultExpiresIn", options.defaultExpiresIn, "positive") }
    const maxResponseBytes = options.maxResponseBytes ?? Http.maxBodyBytes
    if (!Number.isSafeInteger(maxResponseBytes) || maxResponseBytes < 1) {
      return yield* new InvalidConfiguration({
        description: "maxResponseBytes must be a whole number of bytes, at least 1"
      })
    }
    const authentication = yield* ClientAuthentication.make({
      clientId,
      clientSecret: options.clientSecret,
      clientAuthentication: options.clientAuthentication,
      privateKey: options.privateKey,
      privateKeyAlgorithm: options.privateKeyAlgorithm,
      privateKeyId: options.privateKeyId,
      audience
    })
    const exchange = Http.make(yield* HttpClient.HttpClient, {
      transformClient: options.transformClient,
      timeout,
      maxResponseBytes,
      secrets: authentication.secrets
    })
    return { clientId, authentication, exchange, expiry, timeout }
  })

/** @internal */
export const make = (
  options: AuthenticationClient.Options
): Effect.Effect<AuthenticationClient.AuthenticationClient.Service, InvalidConfiguration, HttpClient.HttpClient> =>
  Effect.gen(function*() {
    const base = yield* baseUrl(options.domain)
    const tokenPath = yield* endpointPath(options.tokenPath, "/oauth/token")
    const delegationPath = yield* endpointPath(options.delegationPath, "/delegation")
    const revokePath = yield* endpointPath(options.revokePath, "/oauth/revoke")
    const metadata = Discovery.auth0(base, { token: tokenPath, revoke: revokePath })
    return build(yield* common(options, metadata.issuer), base, metadata, `${base}${delegationPath}`)
  })

/** @internal */
export const makeDiscovery = (
  options: AuthenticationClient.DiscoveryOptions
): Effect.Effect<AuthenticationClient.AuthenticationClient.Service, InvalidConfiguration, HttpClient.HttpClient> =>
  Effect.gen(function*() {
    const issuer = options.issuer
    const url = yield* Discovery.issuerUrl(issuer)
    const shared = yield* common(options, issuer)
    const metadata = yield* Discovery.discover(issuer, shared.exchange, shared.timeout)
    return build(shared, `${url.origin}${url.pathname.replace(/\/+$/, "")}`, metadata, undefined)
  })

/**
 * An answer the client gives without sending anything: the metadata has no
 * endpoint for this request.
 */
const notOffered = (code: string, description: string) =>
  Effect.fail(new AuthApiError({ status: 400, code, description: `not sent: ${description}` }))

/** A request to an absolute URL: its query, if any, kept apart (never named in an error). */
const post = (endpoint: string) => HttpClientRequest.post(URL.canParse(endpoint) ? new URL(endpoint) : endpoint)

/** The endpoints `formRequest` posts to: those of the metadata that take the client's authentication. */
const formEndpoints = (metadata: AuthenticationClient.Metadata): ReadonlyArray<string> =>
  [metadata.tokenEndpoint, metadata.deviceAuthorizationEndpoint, metadata.revocationEndpoint].filter(
    (endpoint): endpoint is string => endpoint !== undefined
  )

const build = (
  shared: Common,
  base: string,
  metadata: AuthenticationClient.Metadata,
  delegationEndpoint: string | undefined
): AuthenticationClient.AuthenticationClient.Service => {
  const { authentication, clientId, exchange, expiry } = shared

  /**
   * A request to `endpoint`, with a DPoP proof when `dpop` is given (a
   * `use_dpop_nonce` answer is sent once more with the new nonce: see
   * `TokenEndpoint.send`). Each sending is made afresh: a client assertion
   * is single-use too.
   */
  const proven = <A>(
    endpoint: string,
    dpop: DpopKey | undefined,
    sending: (
      dpop: { readonly proof: Redacted.Redacted<string>; readonly observe: Http.Sent["observe"] } | undefined
    ) => Effect.Effect<A, AuthenticationError>
  ): Effect.Effect<A, AuthenticationError> =>
    dpop === undefined ?
      sending(undefined) :
      TokenEndpoint.send(dpop, endpoint, (proof, observe) => sending({ proof, observe }))

  const withProof = (proof: Redacted.Redacted<string> | undefined) =>
  (
    request: HttpClientRequest.HttpClientRequest
  ) => proof === undefined ? request : HttpClientRequest.setHeader(request, "DPoP", Redacted.value(proof))

  /**
   * A form to `endpoint` with the client's authentication, sent: the fields
   * of one request, its secrets (the token presented, the assertion, the
   * proof) kept out of its errors.
   */
  const send = <A>(
    endpoint: string,
    own: Readonly<Record<string, string | undefined>>,
    parameters: Readonly<Record<string, string>> | undefined,
    sent: Http.Sent,
    decode: (status: number, body: Either.Either<unknown, string>) => Effect.Effect<A, AuthApiError>,
    dpop?: DpopKey | undefined
  ): Effect.Effect<A, AuthenticationError> =>
    proven(endpoint, dpop, (proof) =>
      Effect.flatMap(
        Effect.mapError(authentication.authenticate, (error) => Wire.finish(error, sent)),
        (authenticated) =>
          exchange.send(
            authenticated.apply(
              post(endpoint).pipe(
                HttpClientRequest.bodyUrlParams(fields({ ...own, ...authenticated.fields }, parameters)),
                withProof(proof?.proof)
              )
            ),
            {
              presented: sent.presented,
              secrets: [...sent.secrets, ...authenticated.secrets, ...(proof === undefined ? [] : [proof.proof])],
              observe: proof?.observe
            },
            decode
          )
      ))

  /** A `DPoP` token type answered to a request that carried no proof: not a token to send as Bearer. */
  const dpopWithoutProof = (status: number) =>
    new AuthApiError({
      status,
      code: InvalidResponseCode,
      description: `HTTP ${status}: the server issued a DPoP-bound token to a request without a DPoP proof`
    })

  // the refresh_token grant rotates: a refresh token in the answer is kept, whatever else fails
  const decodeCredentials = (dpop: DpopKey | undefined) => (status: number, body: Either.Either<unknown, string>) =>
    Wire.decodeBody(Credentials.TokenResponse, status, body).pipe(
      Effect.flatMap((response) =>
        response.tokenType === "DPoP" && dpop === undefined
          ? Effect.fail(dpopWithoutProof(status))
          : Credentials.fromTokenResponse(response, expiry)
      ),
      // bound to the key of the request: renewals, API credentials and requests use it
      Effect.map((credentials) =>
        dpop === undefined ? credentials : new Credentials.Credentials({ ...credentials, dpop }, true)
      ),
      Effect.mapError((error) => Wire.keepIssuedRefreshToken(error, body))
    )

  // as for credentials: a DPoP-bound token answered to a request without a proof is refused
  const decodeDelegation = (dpop: DpopKey | undefined) => (status: number, body: Either.Either<unknown, string>) =>
    Effect.flatMap(
      Wire.decodeBody(Delegation.DelegationResponse, status, body),
      (response) =>
        response.tokenType === "DPoP" && dpop === undefined
          ? Effect.fail(dpopWithoutProof(status))
          : Delegation.fromResponse(response, expiry)
    )

  const decodeJson = (status: number, body: Either.Either<unknown, string>) =>
    Effect.zipRight(
      Wire.rejectErrorBody(status, body),
      Either.match(body, {
        onLeft: (why) =>
          Effect.fail(new AuthApiError({ status, code: InvalidResponseCode, description: `HTTP ${status}: ${why}` })),
        onRight: (json) => Effect.succeed<unknown>(json)
      })
    )

  const delegation = (
    presented: "id_token" | "refresh_token",
    token: Redacted.Redacted<string>,
    delegate: AuthenticationClient.DelegationOptions | undefined
  ): Effect.Effect<Delegation.Delegation, AuthenticationError> =>
    delegationEndpoint === undefined
      ? notOffered(
        "unsupported_grant_type",
        `delegation is Auth0's legacy endpoint, and the provider at ${metadata.issuer} was discovered, not named by its Auth0 domain`
      )
      : proven(delegationEndpoint, delegate?.dpop, (proof) =>
        exchange.send(
          post(delegationEndpoint).pipe(
            HttpClientRequest.setBody(jsonBody(Object.fromEntries(fields({
              scope: delegate?.scope,
              api_type: delegate?.apiType,
              target: delegate?.target,
              client_id: clientId,
              grant_type: JwtBearerGrantType,
              [presented]: Wire.reveal(token)
            }, delegate?.parameters)))),
            withProof(proof?.proof)
          ),
          {
            presented,
            secrets: proof === undefined ? [token] : [token, proof.proof],
            observe: proof?.observe
          },
          decodeDelegation(delegate?.dpop)
        ))

  const tokenRequest: AuthenticationClient.AuthenticationClient.Service["tokenRequest"] = (
    grantType,
    own,
    request
  ) =>
    send(
      metadata.tokenEndpoint,
      { ...own, grant_type: grantType },
      request?.parameters,
      { presented: request?.presented, secrets: request?.secrets ?? [] },
      decodeCredentials(request?.dpop),
      request?.dpop
    )

  return {
    baseUrl: base,
    clientId,
    metadata,
    tokenRequest,
    // the client's credentials go only where the metadata says a form is posted
    formRequest: (endpoint, own, request) =>
      formEndpoints(metadata).includes(endpoint)
        ? send(endpoint, own, request?.parameters, { secrets: request?.secrets ?? [] }, decodeJson, request?.dpop)
        : notOffered(
          "unauthorized_client",
          "the URL is not an endpoint of the provider's metadata that takes a form (token, device authorization, revocation)"
        ),
    renewAuth: (refreshToken, renew) =>
      tokenRequest("refresh_token", {
        scope: renew?.scope,
        audience: renew?.audience,
        refresh_token: Wire.reveal(refreshToken)
      }, { parameters: renew?.parameters, presented: "refresh_token", secrets: [refreshToken], dpop: renew?.dpop }),
    delegationWithIdToken: (idToken, delegate) => delegation("id_token", idToken, delegate),
    delegationWithRefreshToken: (refreshToken, delegate) => delegation("refresh_token", refreshToken, delegate),
    revoke: (refreshToken, revoke) =>
      metadata.revocationEndpoint === undefined
        ? notOffered("unsupported_token_type", `the provider at ${metadata.issuer} has no revocation endpoint`)
        : send(
          metadata.revocationEndpoint,
          { token: Wire.reveal(refreshToken) },
          undefined,
          { presented: "refresh_token", secrets: [refreshToken] },
          Wire.rejectErrorBody,
          revoke?.dpop
        )
  }
}
