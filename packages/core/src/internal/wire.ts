/**
 * The wire codec of the authentication API: what an answer's body says. Reads
 * both Auth0 error formats, parses into an `Either`, names failing paths but
 * never values, and {@link finish}es every error with what it must know of
 * its request (the grant presented, the secrets to keep out of it).
 *
 * @internal
 */
import type * as HttpClientError from "@effect/platform/HttpClientError"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Encoding from "effect/Encoding"
import * as ParseResult from "effect/ParseResult"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import type { Presented } from "../AuthError.js"
import { AuthApiError, InvalidResponseCode, NetworkError } from "../AuthError.js"

/** @internal */
export const reveal: (token: Redacted.Redacted<string>) => string = Redacted.value

/**
 * How much of what a server said an error keeps. Applied by {@link finish},
 * after the secrets were removed: a cut made before could split a secret and
 * let its first characters through.
 */
const maxText = 300

// Not cut here: see `maxText`. The body itself is bounded by the exchange.
const text = (u: unknown): string | undefined => typeof u === "string" && u.length > 0 ? u : undefined

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

/**
 * A request that got no usable answer. Says which request (method and URL,
 * which carry no secret) and, when the transport said, its error code
 * (`ECONNRESET`); never the request's body or headers.
 *
 * @internal
 */
export const networkError = (error: HttpClientError.HttpClientError, status?: number): NetworkError => {
  const code = errorCode(error.cause)
  return new NetworkError({
    reason: "Transport",
    description: (status === undefined
      ? `${error.reason} failure on ${error.request.method} ${error.request.url}`
      : `the body of the HTTP ${status} response to ${error.request.method} ${error.request.url} could not be read`) +
      (code === undefined ? "" : ` (${code})`)
  })
}

/**
 * The first system error code (`ECONNREFUSED`, `UND_ERR_SOCKET`) in a chain
 * of causes: a name, never a value, so safe to repeat.
 *
 * @internal
 */
export const errorCode = (cause: unknown): string | undefined => {
  for (let depth = 0; depth < 5 && typeof cause === "object" && cause !== null; depth++) {
    const code = (cause as { readonly code?: unknown }).code
    if (typeof code === "string" && /^[A-Z][A-Z0-9_]{1,39}$/.test(code)) return code
    cause = (cause as { readonly cause?: unknown }).cause
  }
  return undefined
}

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

/**
 * A non-2xx answer: its OAuth error (either format) when the body has one,
 * else a description of what came instead. `body` is the parsed body, or why
 * there is none (see {@link parseJson}).
 *
 * @internal
 */
export const errorFromResponse = (
  response: HttpClientResponse.HttpClientResponse,
  body: Either.Either<unknown, string>
): Effect.Effect<AuthApiError> =>
  Effect.map(retryAfter(response), (after) => {
    const parsed = Either.map(body, errorBody)
    const known = Either.isRight(parsed) ? parsed.right : undefined
    const contentType = response.headers["content-type"]?.split(";")[0]?.trim()
    const redirect = response.status >= 300 && response.status < 400
    return new AuthApiError({
      status: response.status,
      code: known?.code ?? InvalidResponseCode,
      description: known?.description ??
        (redirect
          ? `HTTP ${response.status}: a redirect, not followed (token endpoints never follow redirects)`
          : Either.isLeft(parsed)
          ? `HTTP ${response.status}: ${parsed.left}${contentType ? ` (${contentType})` : ""}`
          : `HTTP ${response.status} without an OAuth error in the body`),
      retryAfter: after
    })
  })

const isErrorBody = (json: unknown): json is Record<string, unknown> =>
  isRecord(json) && ("error" in json || ("code" in json && !("access_token" in json) && !("id_token" in json)))

/**
 * A 2xx whose body is an OAuth error (either format) is an error.
 *
 * @internal
 */
export const rejectErrorBody = (
  status: number,
  parsed: Either.Either<unknown, string>
): Effect.Effect<void, AuthApiError> =>
  Either.isLeft(parsed) || !isErrorBody(parsed.right) ? Effect.void : Effect.fail(errorIn2xx(status, parsed.right))

const errorIn2xx = (status: number, json: Record<string, unknown>): AuthApiError => {
  const known = errorBody(json)
  return new AuthApiError({
    status,
    code: known?.code ?? InvalidResponseCode,
    description: known?.description ?? `HTTP ${status} with an error body`
  })
}

/**
 * Decodes a 2xx body; one that holds an OAuth error is that error (see
 * {@link rejectErrorBody}). A failure names the fields that were wrong, never
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
  if (isErrorBody(parsed.right)) return Effect.fail(errorIn2xx(status, parsed.right))
  if (!isRecord(parsed.right)) return invalid(`HTTP ${status}: the body is not a JSON object`)
  const decoded = Schema.decodeUnknownEither(schema)(parsed.right)
  if (Either.isRight(decoded)) return Effect.succeed(decoded.right)
  const paths = new Set(
    ParseResult.ArrayFormatter.formatErrorSync(decoded.left).map((issue) => issue.path.map(String).join(".") || "body")
  )
  return invalid(`HTTP ${status}: missing or invalid ${[...paths].join(", ")}`)
}

/**
 * A refresh token that a 2xx body carries (a non-empty string
 * `refresh_token`), whatever else is wrong with the body.
 *
 * @internal
 */
export const issuedRefreshToken = (parsed: Either.Either<unknown, string>): Redacted.Redacted<string> | undefined => {
  if (Either.isLeft(parsed) || !isRecord(parsed.right)) return undefined
  const token = parsed.right.refresh_token
  return typeof token === "string" && token.length > 0 ? Redacted.make(token) : undefined
}

/**
 * The error of a 2xx answer to a grant that rotates refresh tokens: with
 * rotation, a refresh token in it has already replaced the one sent, so the
 * error carries it (`issuedRefreshToken`) for the `Renewer` to save, however
 * unusable the rest of the answer is.
 *
 * @internal
 */
export const keepIssuedRefreshToken = (
  error: AuthApiError,
  parsed: Either.Either<unknown, string>
): AuthApiError => {
  const issued = issuedRefreshToken(parsed)
  return issued === undefined ? error : new AuthApiError({
    status: error.status,
    code: error.code,
    description: error.description,
    retryAfter: error.retryAfter,
    presented: error.presented,
    issuedRefreshToken: issued,
    endpoint: error.endpoint
  })
}

/**
 * What an error of one request must know about that request: the grant it
 * presented, the secrets it carried, and which endpoint it was for.
 *
 * @internal
 */
export interface Sent {
  readonly presented?: Presented | undefined
  readonly secrets: ReadonlyArray<Redacted.Redacted<string>>
  /** The method and URL (without query) the request was for. */
  readonly endpoint?: string | undefined
}

/**
 * The last step of every {@link AuthApiError} the client returns, and the
 * only one that knows the request: sets the grant it presented and the
 * endpoint it was for, removes the
 * secrets it carried (and a refresh token the answer issued) from what the
 * server said (a server or a proxy may echo its input), then cuts the texts
 * to a readable length. An `issuedRefreshToken` is kept.
 *
 * @internal
 */
export const finish = (error: AuthApiError, sent: Sent): AuthApiError => {
  const issued = error.issuedRefreshToken
  // a server may also repeat, in its error text, the refresh token it issues
  const clean = redactor(issued === undefined ? sent.secrets : [...sent.secrets, issued])
  return new AuthApiError({
    status: error.status,
    code: cut(clean(error.code)),
    description: cut(clean(error.description)),
    retryAfter: error.retryAfter,
    presented: sent.presented,
    issuedRefreshToken: issued,
    endpoint: sent.endpoint
  })
}

const cut = (text: string): string => text.length > maxText ? `${text.slice(0, maxText)}…` : text

/**
 * Replaces every form in which a secret travels, or may be echoed: as is,
 * form- and URI-encoded (as sent in a form body), JSON-escaped (as sent in a
 * JSON body), base64 and base64url (as in a Basic authorization header).
 * Case-insensitively: percent-encodings come in both cases, and redacting too
 * much is harmless.
 *
 * @internal
 */
export const redactor = (secrets: ReadonlyArray<Redacted.Redacted<string>>): (text: string) => string => {
  const forms = new Set(secrets.map(reveal).filter((value) => value.length > 0).flatMap(encodings))
  if (forms.size === 0) return (text) => text
  // longest first, so that a form is replaced whole before any form inside it
  const pattern = new RegExp([...forms].sort((a, b) => b.length - a.length).map(escape).join("|"), "gi")
  return (text) => text.replace(pattern, "<redacted>")
}

const encodings = (value: string): ReadonlyArray<string> => {
  const base64 = Encoding.encodeBase64(value)
  // A lone surrogate travels as U+FFFD (UTF-8 has no encoding for it): so it
  // is sent in a form body and a header, and so a server may echo it. On the
  // value as is, `encodeURIComponent` throws.
  const wellFormed = value.replace(loneSurrogate, "\uFFFD")
  return [
    value,
    wellFormed,
    encodeURIComponent(wellFormed),
    new URLSearchParams({ s: value }).toString().slice("s=".length),
    JSON.stringify(value).slice(1, -1),
    base64,
    base64.replace(/=+$/, ""),
    Encoding.encodeBase64Url(value),
    ...embeddedBase64(value)
  ]
}

/**
 * A secret base64-encoded inside a longer text (`id:secret` in a Basic
 * header, a whole echoed request) does not show its own base64: the encoding
 * depends on where the secret starts within a 3-byte group. For each of the
 * three alignments, what every such encoding shares: the groups made of the
 * secret's bytes alone.
 */
const embeddedBase64 = (value: string): ReadonlyArray<string> => {
  const bytes = new TextEncoder().encode(value)
  const forms: Array<string> = []
  for (let skip = 0; skip < 3; skip++) {
    const whole = Math.floor((bytes.length - skip) / 3) * 3
    if (whole < 6) continue
    const core = Encoding.encodeBase64(bytes.subarray(skip, skip + whole))
    forms.push(core, Encoding.encodeBase64Url(bytes.subarray(skip, skip + whole)))
  }
  return forms
}

const loneSurrogate = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g

const escape = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")
