/**
 * The requests of the `AuthenticationClient`: their fields, the client's
 * authentication, and which grant each one presents. Sending them, and what
 * an answer means, is the exchange's ({@link Http}).
 *
 * @internal
 */
import * as HttpBody from "@effect/platform/HttpBody"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import type * as AuthenticationClient from "../AuthenticationClient.js"
import { InvalidConfiguration } from "../AuthError.js"
import * as Credentials from "../Credentials.js"
import * as Delegation from "../Delegation.js"
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
 * A configured value, repeated in an error, unless it may hold user-info
 * (`user:password@`): a URL that does not parse cannot say where its
 * credentials end, so any `@` keeps the whole value out.
 */
const quoted = (value: string): string =>
  value.includes("@") ? "(not repeated: it contains \"@\", and credentials are never accepted there)" : `"${value}"`

const isLoopback = (hostname: string): boolean =>
  hostname === "localhost" || hostname === "[::1]" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname)

/**
 * An endpoint path is prepended with the base URL: one that does not start
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
  "token"
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

/** @internal */
export const make = (
  options: AuthenticationClient.Options
): Effect.Effect<AuthenticationClient.AuthenticationClient.Service, InvalidConfiguration, HttpClient.HttpClient> =>
  Effect.gen(function*() {
    const base = yield* baseUrl(options.domain)
    const clientId = options.clientId
    if (clientId.trim().length === 0) return yield* new InvalidConfiguration({ description: "clientId is empty" })
    const tokenPath = yield* endpointPath(options.tokenPath, "/oauth/token")
    const delegationPath = yield* endpointPath(options.delegationPath, "/delegation")
    const revokePath = yield* endpointPath(options.revokePath, "/oauth/revoke")
    const secret = options.clientSecret
    const basic = secret !== undefined && options.clientAuthentication === "client_secret_basic"
    // RFC 6749 2.3.1: both parts are form-urlencoded before base64
    const basicPassword = basic ? Redacted.make(encodeURIComponent(Wire.reveal(secret))) : undefined

    const timeout = yield* duration("timeout", options.timeout, "zero")
    const expiry = { defaultExpiresIn: yield* duration("defaultExpiresIn", options.defaultExpiresIn, "positive") }
    const maxResponseBytes = options.maxResponseBytes ?? Http.maxBodyBytes
    if (!Number.isSafeInteger(maxResponseBytes) || maxResponseBytes < 1) {
      return yield* new InvalidConfiguration({
        description: "maxResponseBytes must be a whole number of bytes, at least 1"
      })
    }
    const exchange = Http.make(yield* HttpClient.HttpClient, {
      baseUrl: base,
      transformClient: options.transformClient,
      timeout,
      maxResponseBytes,
      secrets: secret === undefined ? [] : [
        secret,
        // what a Basic authorization header carries, base64-encoded
        Redacted.make(`${encodeURIComponent(clientId)}:${encodeURIComponent(Wire.reveal(secret))}`)
      ]
    })

    // Secrets become plain text here, in the body (or header) of one request, and nowhere else.
    const form = (
      path: string,
      own: Readonly<Record<string, string | undefined>>,
      parameters?: Readonly<Record<string, string>>
    ) => {
      const request = HttpClientRequest.post(path).pipe(
        HttpClientRequest.bodyUrlParams(fields({
          ...own,
          client_id: clientId,
          client_secret: secret === undefined || basic ? undefined : Wire.reveal(secret)
        }, parameters))
      )
      return basicPassword === undefined
        ? request
        : HttpClientRequest.basicAuth(request, encodeURIComponent(clientId), basicPassword)
    }

    // the refresh_token grant rotates: a refresh token in the answer is kept, whatever else fails
    const decodeCredentials = (status: number, body: Either.Either<unknown, string>) =>
      Wire.decodeBody(Credentials.TokenResponse, status, body).pipe(
        Effect.flatMap((response) => Credentials.fromTokenResponse(response, expiry)),
        Effect.mapError((error) => Wire.keepIssuedRefreshToken(error, body))
      )

    const decodeDelegation = (status: number, body: Either.Either<unknown, string>) =>
      Effect.flatMap(
        Wire.decodeBody(Delegation.DelegationResponse, status, body),
        (response) => Delegation.fromResponse(response, expiry)
      )

    const delegation = (
      presented: "id_token" | "refresh_token",
      token: Redacted.Redacted<string>,
      delegate: AuthenticationClient.DelegationOptions | undefined
    ) =>
      exchange.send(
        HttpClientRequest.post(delegationPath).pipe(
          HttpClientRequest.setBody(jsonBody(Object.fromEntries(fields({
            scope: delegate?.scope,
            api_type: delegate?.apiType,
            target: delegate?.target,
            client_id: clientId,
            grant_type: JwtBearerGrantType,
            [presented]: Wire.reveal(token)
          }, delegate?.parameters))))
        ),
        { presented, token },
        decodeDelegation
      )

    return {
      baseUrl: base,
      clientId,
      renewAuth: (refreshToken, renew) =>
        exchange.send(
          form(tokenPath, {
            scope: renew?.scope,
            audience: renew?.audience,
            grant_type: "refresh_token",
            refresh_token: Wire.reveal(refreshToken)
          }, renew?.parameters),
          { presented: "refresh_token", token: refreshToken },
          decodeCredentials
        ),
      delegationWithIdToken: (idToken, delegate) => delegation("id_token", idToken, delegate),
      delegationWithRefreshToken: (refreshToken, delegate) => delegation("refresh_token", refreshToken, delegate),
      revoke: (refreshToken) =>
        exchange.send(
          form(revokePath, { token: Wire.reveal(refreshToken) }),
          { presented: "refresh_token", token: refreshToken },
          Wire.rejectErrorBody
        )
    }
  })
