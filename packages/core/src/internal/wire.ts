import type * as HttpClientError from "@effect/platform/HttpClientError"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as ParseResult from "effect/ParseResult"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import { AuthApiError, InvalidResponseCode, NetworkError } from "../AuthError.js"

/** @internal */
export const reveal: (token: Redacted.Redacted<string>) => string = Redacted.value

const maxDescription = 300

const text = (u: unknown): string | undefined =>
  typeof u === "string" && u.length > 0 ? u.slice(0, maxDescription) : undefined

/** @internal */
export const parseJson = (body: string): Either.Either<unknown, string> => {
  if (body.trim().length === 0) return Either.left("the body is empty")
  try {
    return Either.right(JSON.parse(body))
  } catch {
    return Either.left(`the body is not JSON (${body.length} characters)`)
  }
}

const isRecord = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null && !Array.isArray(u)

/**
 * Reads either Auth0 error format, `{ error, error_description }` or
 * `{ code, description }` (and `{ name, message }` as a last resort).
 *
 * @internal
 */
export const errorBody = (u: unknown): { readonly code: string; readonly description: string } | undefined => {
  if (!isRecord(u)) return undefined
  const code = text(u.error) ?? text(u.code) ?? (typeof u.statusCode === "number" ? text(u.name) : undefined)
  if (code === undefined) return undefined
  const description = text(u.error_description) ?? text(u.description) ?? text(u.message) ?? ""
  return { code, description }
}

/** @internal */
export const networkError = (error: HttpClientError.HttpClientError, status?: number): NetworkError =>
  new NetworkError({
    reason: "Transport",
    description: status === undefined
      ? `${error.reason} failure on ${error.request.method} ${error.request.url}`
      : `the body of the HTTP ${status} response to ${error.request.method} ${error.request.url} could not be read`
  })

/**
 * `Retry-After` as delta-seconds or an HTTP date, read on 429 and 503.
 *
 * @internal
 */
export const retryAfter = (
  response: HttpClientResponse.HttpClientResponse
): Effect.Effect<Duration.Duration | undefined> =>
  Effect.gen(function*() {
    if (response.status !== 429 && response.status !== 503) return undefined
    const header = response.headers["retry-after"]?.trim()
    if (header === undefined || header.length === 0) return undefined
    if (/^\d+$/.test(header)) return Duration.seconds(Number(header))
    const date = Date.parse(header)
    if (Number.isNaN(date)) return undefined
    const now = yield* Clock.currentTimeMillis
    return Duration.millis(Math.max(0, date - now))
  })

/** @internal */
export const errorFromResponse = (
  response: HttpClientResponse.HttpClientResponse,
  body: string
): Effect.Effect<AuthApiError> =>
  Effect.map(retryAfter(response), (after) => {
    const parsed = Either.map(parseJson(body), errorBody)
    const known = Either.isRight(parsed) ? parsed.right : undefined
    const contentType = response.headers["content-type"]?.split(";")[0]?.trim()
    return new AuthApiError({
      status: response.status,
      code: known?.code ?? InvalidResponseCode,
      description: known?.description ??
        (Either.isLeft(parsed)
          ? `HTTP ${response.status}: ${parsed.left}${contentType ? ` (${contentType})` : ""}`
          : `HTTP ${response.status} without an OAuth error in the body`),
      retryAfter: after
    })
  })

/**
 * A 2xx whose body is an OAuth error (either format) is an error.
 *
 * @internal
 */
export const rejectErrorBody = (
  status: number,
  parsed: Either.Either<unknown, string>
): Effect.Effect<void, AuthApiError> => {
  if (Either.isLeft(parsed) || !isRecord(parsed.right)) return Effect.void
  const json = parsed.right
  const isError = "error" in json || ("code" in json && !("access_token" in json) && !("id_token" in json))
  if (!isError) return Effect.void
  const known = errorBody(json)
  return Effect.fail(
    new AuthApiError({
      status,
      code: known?.code ?? InvalidResponseCode,
      description: known?.description ?? `HTTP ${status} with an error body`
    })
  )
}

/**
 * Decodes a 2xx body. A failure names the fields that were wrong, never
 * their values: they may be tokens.
 *
 * @internal
 */
export const decodeBody = <A, I>(
  schema: Schema.Schema<A, I>,
  status: number,
  parsed: Either.Either<unknown, string>
): Effect.Effect<A, AuthApiError> => {
  const invalid = (description: string) =>
    Effect.fail(new AuthApiError({ status, code: InvalidResponseCode, description }))
  if (Either.isLeft(parsed)) return invalid(`HTTP ${status}: ${parsed.left}`)
  if (!isRecord(parsed.right)) return invalid(`HTTP ${status}: the body is not a JSON object`)
  const decoded = Schema.decodeUnknownEither(schema)(parsed.right)
  if (Either.isRight(decoded)) return Effect.succeed(decoded.right)
  const paths = new Set(
    ParseResult.ArrayFormatter.formatErrorSync(decoded.left).map((issue) => issue.path.map(String).join(".") || "body")
  )
  return invalid(`HTTP ${status}: missing or invalid ${[...paths].join(", ")}`)
}

/**
 * Removes the secrets a request carried from what the server said about it.
 *
 * @internal
 */
export const scrub = (error: AuthApiError, secrets: ReadonlyArray<string>): AuthApiError => {
  const clean = (text: string) =>
    secrets.reduce((t, secret) => secret.length === 0 ? t : t.split(secret).join("<redacted>"), text)
  const code = clean(error.code)
  const description = clean(error.description)
  return code === error.code && description === error.description
    ? error
    : new AuthApiError({ status: error.status, code, description, retryAfter: error.retryAfter })
}
