/**
 * The client's exchange with the authorization server. The `HttpClient` is
 * decorated once (`Accept`, redirects not followed, failures
 * stripped of their request, the caller's `transformClient`); then one request
 * in, one typed answer out, with the `http.client` span, the status handling,
 * the body size cap, the timeout and the finishing of errors
 * ({@link Wire.finish}) in this one place.
 *
 * @internal
 */
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as Headers from "@effect/platform/Headers"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as HttpTraceContext from "@effect/platform/HttpTraceContext"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import { constTrue, flow, identity } from "effect/Function"
import * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"
import type { AuthApiError, AuthenticationError, Presented } from "../AuthError.js"
import { NetworkError } from "../AuthError.js"
import * as Wire from "./wire.js"

/** @internal */
export interface Options {
  readonly transformClient?: ((client: HttpClient.HttpClient) => HttpClient.HttpClient) | undefined
  readonly timeout?: Duration.Duration | undefined
  /** The most bytes of an answer that are read: `maxBodyBytes` unless given. */
  readonly maxResponseBytes?: number | undefined
  /** Secrets any request may carry (the client secret): kept out of every error. */
  readonly secrets: ReadonlyArray<Redacted.Redacted<string>>
}

/**
 * What the exchange must know of one request besides the request itself: the
 * grant it presents (when it presents one), and the secrets it carries (the
 * token presented, a client assertion, a code), kept out of every error.
 *
 * @internal
 */
export interface Sent {
  readonly presented?: Presented | undefined
  readonly secrets: ReadonlyArray<Redacted.Redacted<string>>
  /** Sees the headers of every answer, error or not, before its body is read (a DPoP nonce). */
  readonly observe?: ((headers: Headers.Headers) => void) | undefined
}

/** @internal */
export interface Exchange {
  /**
   * Sends `request` (its URL an absolute endpoint URL) and hands a 2xx
   * answer's body to `decode`, which decides what it means (an OAuth error in
   * a 2xx body included, see `Wire.decodeBody`).
   */
  readonly send: <A>(
    request: HttpClientRequest.HttpClientRequest,
    sent: Sent,
    decode: (status: number, body: Either.Either<unknown, string>) => Effect.Effect<A, AuthApiError>
  ) => Effect.Effect<A, AuthenticationError>
}

/**
 * Token answers weigh a few kilobytes; a body beyond this is not read.
 *
 * @internal
 */
export const maxBodyBytes = 1024 * 1024

/**
 * The client every request goes through, built once. Next to the client in
 * context, before anything else sees them: no redirect is followed, a failure
 * no longer holds the request (its body and headers carry secrets), and the
 * platform's `http.client` span is replaced by the exchange's own (see
 * {@link traced}).
 *
 * @internal
 */
export const decorate = (client: HttpClient.HttpClient, options: Options): HttpClient.HttpClient =>
  client.pipe(
    HttpClient.mapRequest(HttpClientRequest.acceptJson),
    HttpClient.transformResponse(flow(withoutRedirects, Effect.mapError(withoutRequest))),
    HttpClient.withTracerDisabledWhen(constTrue),
    options.transformClient ?? identity
  )

/**
 * Which request an error is about: its method and URL, without the query or
 * fragment (never a body). A URL that does not parse is named as given, up to
 * its first `?` or `#`.
 *
 * @internal
 */
export const endpointOf = (request: HttpClientRequest.HttpClientRequest): string => {
  const url = URL.canParse(request.url) ? new URL(request.url) : undefined
  return `${request.method} ${url === undefined ? request.url.split(/[?#]/)[0] : `${url.origin}${url.pathname}`}`
}

/**
 * The platform's errors keep the request they were about, secrets included
 * (a form or JSON body with a token, a Basic authorization header): a
 * logger, a span or an `inspect` may render it. The copy keeps what says
 * which request it was.
 */
const withoutRequest = (error: HttpClientError.HttpClientError): HttpClientError.HttpClientError => {
  const code = Wire.errorCode(error.cause)
  return new HttpClientError.RequestError({
    request: sanitized(error.request),
    reason: error._tag === "RequestError" ? error.reason : "Transport",
    ...(code === undefined ? {} : { cause: { code } })
  })
}

const harmlessHeaders: ReadonlySet<string> = new Set(["accept", "content-type", "user-agent"])

/** The method and URL of a request (which carry no secret), without its body and other headers. */
const sanitized = (request: HttpClientRequest.HttpClientRequest): HttpClientRequest.HttpClientRequest =>
  HttpClientRequest.make(request.method)(request.url, {
    urlParams: request.urlParams,
    headers: Object.fromEntries(Object.entries(request.headers).filter(([name]) => harmlessHeaders.has(name)))
  })

/**
 * The headers the `http.client` span records, of the request and of the
 * answer: only those known to carry no secret and to say something worth
 * seeing in a trace (the body's type, length and encoding, caching, the
 * server's date, how long to wait, Auth0's rate limits). Any other is left
 * out, named or not: a server or a proxy may echo a token or the client
 * secret in a header of its own (`x-debug-token`) or a cookie (`set-cookie`),
 * the request's `authorization` holds the client secret, and
 * `www-authenticate` may repeat the token it complains about, `dpop` is a
 * proof and `dpop-nonce` a nonce (neither is recorded).
 */
const spanHeaders: ReadonlySet<string> = new Set([
  "accept",
  "cache-control",
  "content-encoding",
  "content-length",
  "content-type",
  "date",
  "retry-after",
  "user-agent",
  "x-ratelimit-limit",
  "x-ratelimit-remaining",
  "x-ratelimit-reset"
])

/**
 * The `http.client` span of one exchange, in place of the platform's: that
 * one ends with the platform's exit, which holds the request and its body
 * (JSON bodies are even rendered as text). This one has the platform's name
 * (`HttpClient.SpanNameGenerator`) and attributes, but records only the
 * headers of {@link spanHeaders} (redacted still by
 * `Headers.currentRedactedNames`), trace propagation when
 * `HttpClient.currentTracerPropagation` allows it, and ends with the status
 * alone, or with the `NetworkError`.
 *
 * @internal
 */
export const traced = <E>(
  request: HttpClientRequest.HttpClientRequest,
  execute: (traceHeaders: Headers.Headers) => Effect.Effect<HttpClientResponse.HttpClientResponse, E>
): Effect.Effect<HttpClientResponse.HttpClientResponse, E> =>
  Effect.withFiberRuntime((fiber) => {
    const url = URL.canParse(request.url) ? new URL(request.url) : undefined
    // an unparsable URL fails in the platform's client, typed
    if (url === undefined || fiber.getFiberRef(HttpClient.currentTracerDisabledWhen)(request)) {
      return execute(Headers.empty)
    }
    const redactedNames = fiber.getFiberRef(Headers.currentRedactedNames)
    const recorded = (headers: Headers.Headers) =>
      Object.entries(Headers.redact(headers, redactedNames)).filter(([name]) => spanHeaders.has(name))
    const attributes: Record<string, unknown> = {
      "http.request.method": request.method,
      "server.address": url.origin,
      ...(url.port === "" ? {} : { "server.port": Number(url.port) }),
      "url.full": url.toString(),
      "url.path": url.pathname,
      "url.scheme": url.protocol.slice(0, -1)
    }
    for (const [name, value] of recorded(request.headers)) attributes[`http.request.header.${name}`] = String(value)
    return Effect.flatMap(HttpClient.SpanNameGenerator, (name) =>
      Effect.flatMap(
        Effect.makeSpan(name(request), { kind: "client", captureStackTrace: false, attributes }),
        (span) =>
          execute(
            fiber.getFiberRef(HttpClient.currentTracerPropagation) ? HttpTraceContext.toHeaders(span) : Headers.empty
          )
            .pipe(
              Effect.withParentSpan(span),
              Effect.onExit((exit) =>
                Effect.flatMap(Clock.currentTimeNanos, (now) =>
                  Effect.sync(() => {
                    if (Exit.isSuccess(exit)) {
                      span.attribute("http.response.status_code", exit.value.status)
                      for (const [name, value] of recorded(exit.value.headers)) {
                        span.attribute(`http.response.header.${name}`, String(value))
                      }
                    }
                    // never the response: it holds the request
                    span.end(now, Exit.isSuccess(exit) ? Exit.void : exit)
                  }))
              )
            )
      ))
  })

/**
 * A redirected token request would carry its refresh token and client
 * secret to wherever the `Location` points: `fetch` is told not to follow
 * (other clients do not follow by themselves), and a 3xx is an error.
 *
 * @internal
 */
export const withoutRedirects = <E, R>(
  response: Effect.Effect<HttpClientResponse.HttpClientResponse, E, R>
): Effect.Effect<HttpClientResponse.HttpClientResponse, E, R> =>
  Effect.flatMap(
    Effect.serviceOption(FetchHttpClient.RequestInit),
    (init) =>
      Effect.provideService(response, FetchHttpClient.RequestInit, {
        ...Option.getOrUndefined(init),
        redirect: "manual"
      })
  )

/** @internal */
export const make = (client: HttpClient.HttpClient, options: Options): Exchange => {
  const httpClient = decorate(client, options)
  const timeout = options.timeout

  const answer = <A>(
    response: HttpClientResponse.HttpClientResponse,
    sent: Sent,
    decode: (status: number, body: Either.Either<unknown, string>) => Effect.Effect<A, AuthApiError>
  ): Effect.Effect<A, AuthenticationError> => {
    sent.observe?.(response.headers)
    return Effect.flatMap(readBody(response, options.maxResponseBytes ?? maxBodyBytes), (text) => {
      const body = Either.flatMap(text, Wire.parseJson)
      return response.status >= 200 && response.status < 300
        ? decode(response.status, body)
        : Effect.flatMap(Wire.errorFromResponse(response, body), Effect.fail)
    })
  }

  const send: Exchange["send"] = (request, sent, decode) =>
    traced(
      HttpClientRequest.acceptJson(request),
      (traceHeaders) =>
        httpClient.execute(HttpClientRequest.setHeaders(request, traceHeaders)).pipe(
          Effect.mapError((error) => Wire.networkError(error))
        )
    ).pipe(
      Effect.flatMap((response) => answer(response, sent, decode)),
      (effect) =>
        timeout === undefined ? effect : Effect.timeoutFail(effect, {
          duration: timeout,
          onTimeout: () =>
            new NetworkError({
              reason: "Timeout",
              description: `no answer to ${endpointOf(request)} within ${Duration.format(timeout)}`
            })
        }),
      Effect.mapError((error) =>
        error._tag === "AuthApiError"
          ? Wire.finish(error, {
            presented: sent.presented,
            secrets: [...sent.secrets, ...options.secrets],
            endpoint: endpointOf(request)
          })
          : error
      )
    )

  return { send }
}

/**
 * The body as text, or why it is not read (`Left`): it weighs more than
 * `max` bytes. A missing body is an empty one.
 */
const readBody = (
  response: HttpClientResponse.HttpClientResponse,
  max: number
): Effect.Effect<Either.Either<string, string>, NetworkError> => {
  const tooLarge = Either.left(`the body exceeds ${max} bytes`)
  const header = response.headers["content-length"]
  const declared = header === undefined ? Number.NaN : Number(header)
  if (Number.isFinite(declared) && declared > max) return Effect.succeed(tooLarge)
  // A declared length within the cap frames the body (the HTTP client reads
  // no more): read it whole, the cheap way. Not when the body is encoded: a
  // client that decodes it (fetch does) could turn a small body into a huge one.
  const encoding = response.headers["content-encoding"]?.trim().toLowerCase()
  if (Number.isSafeInteger(declared) && declared >= 0 && (encoding === undefined || encoding === "identity")) {
    return response.text.pipe(
      Effect.map((text) => Either.right(text)),
      Effect.mapError((error) => Wire.networkError(error, response.status))
    )
  }
  return Effect.suspend(() => {
    const chunks: Array<Uint8Array> = []
    let size = 0
    return Stream.runForEachWhile(response.stream, (chunk) =>
      Effect.sync(() => {
        size += chunk.byteLength
        if (size > max) return false
        chunks.push(chunk)
        return true
      })).pipe(
        Effect.map(() => size > max ? tooLarge : Either.right(decodeText(chunks, size))),
        // A client in context that read the body already (`response.text` in a
        // `transformResponse`) leaves a consumed stream, which the platform
        // reports by throwing: the text it cached is the body.
        Effect.catchAllDefect(() =>
          Effect.map(
            response.text,
            (text) => new TextEncoder().encode(text).byteLength > max ? tooLarge : Either.right(text)
          )
        ),
        Effect.catchIf(
          (error: HttpClientError.ResponseError) => error.reason === "EmptyBody",
          () => Effect.succeed(Either.right(""))
        ),
        Effect.mapError((error) => Wire.networkError(error, response.status))
      )
  })
}

const decodeText = (chunks: ReadonlyArray<Uint8Array>, size: number): string => {
  const bytes = new Uint8Array(size)
  let offset = 0
  for (const chunk of chunks) {
    bytes.set(chunk, offset)
    offset += chunk.byteLength
  }
  return new TextDecoder().decode(bytes)
}
