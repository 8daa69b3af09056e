/**
 * The client's exchange with the authorization server. The `HttpClient` is
 * decorated once (base URL, `Accept`, redirects not followed, the caller's
 * `transformClient`); then one request in, one typed answer out, with the
 * status handling, the body size cap, the timeout and the finishing of errors
 * ({@link Wire.finish}) in this one place.
 *
 * @internal
 */
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as HttpClient from "@effect/platform/HttpClient"
import type * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { flow, identity } from "effect/Function"
import * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"
import type { AuthApiError, AuthenticationError, Presented } from "../AuthError.js"
import { NetworkError } from "../AuthError.js"
import * as Wire from "./wire.js"

/** @internal */
export interface Options {
  /** Prepended to every request's URL, which is an endpoint path. */
  readonly baseUrl: string
  readonly transformClient?: ((client: HttpClient.HttpClient) => HttpClient.HttpClient) | undefined
  readonly timeout?: Duration.Duration | undefined
  /** Secrets any request may carry (the client secret): kept out of every error. */
  readonly secrets: ReadonlyArray<Redacted.Redacted<string>>
}

/** @internal */
export interface Exchange {
  /**
   * Sends `request` (its URL an endpoint path) and hands a 2xx answer's body
   * to `decode`. `presented` is the grant the request carries, `token` its
   * value.
   */
  readonly send: <A>(
    request: HttpClientRequest.HttpClientRequest,
    grant: { readonly presented: Presented; readonly token: Redacted.Redacted<string> },
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
 * The client every request goes through, built once.
 *
 * @internal
 */
export const decorate = (client: HttpClient.HttpClient, options: Options): HttpClient.HttpClient =>
  client.pipe(
    HttpClient.mapRequest(flow(HttpClientRequest.prependUrl(options.baseUrl), HttpClientRequest.acceptJson)),
    HttpClient.transformResponse(withoutRedirects),
    options.transformClient ?? identity
  )

/**
 * A redirected token request would carry its refresh token and client
 * secret to wherever the `Location` points: `fetch` is told not to follow
 * (other clients do not follow by themselves), and a 3xx is an error.
 */
const withoutRedirects = <E, R>(
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
    decode: (status: number, body: Either.Either<unknown, string>) => Effect.Effect<A, AuthApiError>
  ): Effect.Effect<A, AuthenticationError> =>
    Effect.flatMap(readBody(response, maxBodyBytes), (text) => {
      const body = Either.flatMap(text, Wire.parseJson)
      return response.status >= 200 && response.status < 300
        ? Effect.zipRight(Wire.rejectErrorBody(response.status, body), decode(response.status, body))
        : Effect.flatMap(Wire.errorFromResponse(response, body), Effect.fail)
    })

  const send: Exchange["send"] = (request, grant, decode) =>
    httpClient.execute(request).pipe(
      Effect.mapError((error) => Wire.networkError(error)),
      Effect.flatMap((response) => answer(response, decode)),
      (effect) =>
        timeout === undefined ? effect : Effect.timeoutFail(effect, {
          duration: timeout,
          onTimeout: () =>
            new NetworkError({
              reason: "Timeout",
              description: `no answer to ${request.method} ${request.url} at ${options.baseUrl} within ${
                Duration.format(timeout)
              }`
            })
        }),
      Effect.mapError((error) =>
        error._tag === "AuthApiError"
          ? Wire.finish(error, { presented: grant.presented, secrets: [grant.token, ...options.secrets] })
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
  const declared = Number(response.headers["content-length"])
  if (Number.isFinite(declared) && declared > max) return Effect.succeed(tooLarge)
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
