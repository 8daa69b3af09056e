/**
 * The error model of effect-renewal.
 *
 * Three errors a caller can act on: {@link LoginRequired} (the user must log
 * in again), {@link RenewalFailed} (a transient problem outlived the retry
 * policy) and {@link StoreError} (the token store failed). Underneath, the
 * {@link AuthApiError} and {@link NetworkError} of the `AuthenticationClient`
 * say what the authorization server, or the way to it, did.
 *
 * No error carries a token in its message, and credentials carried inside an
 * error stay `Redacted`.
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"
import type { Credentials } from "./Credentials.js"

/**
 * @since 0.1.0
 * @category type ids
 */
export const TypeId: unique symbol = Symbol.for("@effect-renewal/core/AuthError")

/**
 * @since 0.1.0
 * @category type ids
 */
export type TypeId = typeof TypeId

/**
 * The authorization server answered, and the answer is an error: a non-2xx
 * status, a 2xx whose body is an OAuth error, or a body that could not be
 * understood (code `invalid_response`). `status` is the HTTP status.
 *
 * `code` and `description` come from either Auth0 body format,
 * `{ error, error_description }` or `{ code, description }`.
 *
 * @since 0.1.0
 * @category errors
 */
export class AuthApiError extends Data.TaggedError("AuthApiError")<{
  readonly status: number
  readonly code: string
  readonly description: string
  readonly retryAfter?: Duration.Duration | undefined
}> {
  /**
   * @since 0.1.0
   */
  readonly [TypeId]: TypeId = TypeId

  /**
   * @since 0.1.0
   */
  override get message(): string {
    const retry = this.retryAfter === undefined ? "" : ` (retry after ${Duration.format(this.retryAfter)})`
    return `HTTP ${this.status} ${this.code}: ${this.description}${retry}`
  }
}

/**
 * The code of an {@link AuthApiError} whose body could not be understood:
 * HTML, empty, truncated, not JSON, or JSON of the wrong shape.
 *
 * @since 0.1.0
 * @category constants
 */
export const InvalidResponseCode = "invalid_response"

/**
 * The request did not get an answer: the connection failed or was reset, or
 * the attempt timed out.
 *
 * @since 0.1.0
 * @category errors
 */
export class NetworkError extends Data.TaggedError("NetworkError")<{
  readonly reason: "Transport" | "Timeout"
  readonly description: string
}> {
  /**
   * @since 0.1.0
   */
  readonly [TypeId]: TypeId = TypeId

  /**
   * @since 0.1.0
   */
  override get message(): string {
    return `${this.reason === "Timeout" ? "Request timed out" : "Network error"}: ${this.description}`
  }
}

/**
 * The configuration of a client is unusable (for example a `domain` that is
 * not a host or an https URL).
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidConfiguration extends Data.TaggedError("InvalidConfiguration")<{
  readonly description: string
}> {
  /**
   * @since 0.1.0
   */
  readonly [TypeId]: TypeId = TypeId

  /**
   * @since 0.1.0
   */
  override get message(): string {
    return `Invalid configuration: ${this.description}`
  }
}

/**
 * What one call of the `AuthenticationClient` can fail with.
 *
 * @since 0.1.0
 * @category errors
 */
export type AuthenticationError = AuthApiError | NetworkError

/**
 * The user must log in again: no credentials are stored, there is no refresh
 * token, the refresh token was rejected (`Rejected`: `invalid_grant`, revoked,
 * reused; `login_required`, `mfa_required`), or the id_token needed for
 * delegation is missing, expired or rejected.
 *
 * @since 0.1.0
 * @category errors
 */
export class LoginRequired extends Data.TaggedError("LoginRequired")<{
  readonly reason: "NoCredentials" | "NoRefreshToken" | "NoIdToken" | "IdTokenExpired" | "IdTokenRejected" | "Rejected"
  readonly description: string
  readonly cause?: AuthApiError | undefined
}> {
  /**
   * @since 0.1.0
   */
  readonly [TypeId]: TypeId = TypeId

  /**
   * @since 0.1.0
   */
  override get message(): string {
    return `Login required (${this.reason}): ${this.description}`
  }
}

/**
 * Renewal failed for a reason that may go away: the network, a timeout, a
 * 5xx, a 429, or credentials that cannot satisfy the asked `minTtl`. The
 * stored credentials are untouched (or, for `TtlUnreachable`, replaced by the
 * ones just received).
 *
 * @since 0.1.0
 * @category errors
 */
export class RenewalFailed extends Data.TaggedError("RenewalFailed")<{
  readonly reason: "Transient" | "Unexpected" | "TtlUnreachable" | "Deadline" | "Shutdown"
  readonly description: string
  readonly cause?: AuthenticationError | undefined
}> {
  /**
   * @since 0.1.0
   */
  readonly [TypeId]: TypeId = TypeId

  /**
   * @since 0.1.0
   */
  override get message(): string {
    return `Renewal failed (${this.reason}): ${this.description}`
  }
}

/**
 * The token store failed: it could not be read or written, or an entry could
 * not be decoded or decrypted. When saving renewed credentials fails, the
 * credentials that could not be saved are in `unsaved`, so that nothing the
 * server issued is lost.
 *
 * @since 0.1.0
 * @category errors
 */
export class StoreError extends Data.TaggedError("StoreError")<{
  readonly operation: "get" | "set" | "remove" | "lock" | "encode" | "decode"
  readonly key: string
  readonly description: string
  readonly unsaved?: Credentials | undefined
}> {
  /**
   * @since 0.1.0
   */
  readonly [TypeId]: TypeId = TypeId

  /**
   * @since 0.1.0
   */
  override get message(): string {
    return `Token store ${this.operation} failed for "${this.key}": ${this.description}`
  }
}

/**
 * Everything the `Renewer` can fail with.
 *
 * @since 0.1.0
 * @category errors
 */
export type RenewerError = LoginRequired | RenewalFailed | StoreError

/**
 * @since 0.1.0
 * @category refinements
 */
export const isAuthError = (u: unknown): u is AuthApiError | NetworkError | RenewerError | InvalidConfiguration =>
  Predicate.hasProperty(u, TypeId)

const apiError = (u: unknown): Option.Option<AuthApiError> =>
  u instanceof AuthApiError
    ? Option.some(u)
    : (u instanceof LoginRequired || u instanceof RenewalFailed) && u.cause instanceof AuthApiError
    ? Option.some(u.cause)
    : Option.none()

const hasCode = (u: unknown, ...codes: ReadonlyArray<string>): boolean =>
  Option.match(apiError(u), { onNone: () => false, onSome: (e) => codes.includes(e.code) })

/**
 * The refresh token (or grant) was rejected: `invalid_grant`.
 *
 * @since 0.1.0
 * @category predicates
 */
export const isInvalidGrant = (u: unknown): boolean => hasCode(u, "invalid_grant")

/**
 * The user must log in again: a {@link LoginRequired}, or an
 * {@link AuthApiError} saying `login_required` or `invalid_grant`.
 *
 * @since 0.1.0
 * @category predicates
 */
export const isLoginRequired = (u: unknown): boolean =>
  u instanceof LoginRequired || hasCode(u, "login_required", "invalid_grant")

/**
 * Multi-factor authentication is required (`mfa_required`).
 *
 * @since 0.1.0
 * @category predicates
 */
export const isMfaRequired = (u: unknown): boolean => hasCode(u, "mfa_required", "a0.mfa_required")

/**
 * The server is rate limiting (HTTP 429 or `too_many_attempts`).
 *
 * @since 0.1.0
 * @category predicates
 */
export const isRateLimited = (u: unknown): boolean =>
  Option.match(apiError(u), {
    onNone: () => false,
    onSome: (e) => e.status === 429 || e.code === "too_many_attempts" || e.code === "too_many_requests"
  })

/**
 * The request did not reach the server or got no answer in time.
 *
 * @since 0.1.0
 * @category predicates
 */
export const isNetworkError = (u: unknown): boolean =>
  u instanceof NetworkError || (u instanceof RenewalFailed && u.cause instanceof NetworkError)

/**
 * A failure worth retrying: transport errors, timeouts, and the statuses 408,
 * 429 and 5xx (except 501). Definitive OAuth errors are never transient.
 *
 * @since 0.1.0
 * @category predicates
 */
export const isTransient = (u: unknown): boolean =>
  u instanceof NetworkError ||
  (u instanceof AuthApiError &&
    (u.status === 408 || u.status === 429 || (u.status >= 500 && u.status <= 599 && u.status !== 501)))
