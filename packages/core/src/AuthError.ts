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
 * @example
 * ```ts
 * import * as Renewer from "@effect-renewal/core/Renewer"
 * import * as Console from "effect/Console"
 * import * as Effect from "effect/Effect"
 * import * as Option from "effect/Option"
 *
 * // The access token, or None when the user must log in again.
 * const accessToken = Effect.gen(function*() {
 *   const renewer = yield* Renewer.Renewer
 *   const credentials = yield* renewer.get()
 *   return Option.some(credentials.accessToken)
 * }).pipe(
 *   Effect.catchTags({
 *     // nothing stored, no refresh token, or the server rejected it: the user must act
 *     LoginRequired: (error) => Console.log(`Please log in again (${error.reason})`).pipe(Effect.as(Option.none())),
 *     // the server or the network outlived the retry policy: the stored credentials are kept
 *     RenewalFailed: (error) => Effect.fail(error)
 *   })
 * )
 * // accessToken: Effect<Option<Redacted<string>>, RenewalFailed | StoreError, Renewer>
 * ```
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"
import type * as Redacted from "effect/Redacted"
import type { Credentials } from "./Credentials.js"

/**
 * The mark every error of this module carries; {@link isAuthError} tests for
 * it.
 *
 * @since 0.1.0
 * @category type ids
 */
export const TypeId: unique symbol = Symbol.for("@effect-renewal/core/AuthError")

/**
 * The type of {@link TypeId}.
 *
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
 * @example
 * ```ts
 * import * as AuthError from "@effect-renewal/core/AuthError"
 * import * as Duration from "effect/Duration"
 *
 * const error = new AuthError.AuthApiError({
 *   status: 429,
 *   code: "too_many_requests",
 *   description: "Rate limit exceeded",
 *   retryAfter: Duration.seconds(2)
 * })
 *
 * console.log(error.message) // "HTTP 429 too_many_requests: Rate limit exceeded (retry after 2s)"
 * console.log(AuthError.isRateLimited(error)) // true
 * console.log(AuthError.classify(error)) // "Transient"
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class AuthApiError extends Data.TaggedError("AuthApiError")<{
  readonly status: number
  readonly code: string
  readonly description: string
  readonly retryAfter?: Duration.Duration | undefined
  /**
   * The grant the request presented, when the client knows it: an
   * `invalid_grant` rejects that one. Absent, a refresh token is assumed (the
   * `refresh_token` grant).
   */
  readonly presented?: Presented | undefined
  /**
   * A refresh token that a 2xx answer carried although the rest of it could
   * not be used (e.g. a missing or absurd `expires_in`). With rotation the
   * server has already replaced the old one: the `Renewer` saves this one
   * before it reports the error.
   */
  readonly issuedRefreshToken?: Redacted.Redacted<string> | undefined
  /**
   * The method and URL of the request that got this answer, without its
   * query (e.g. `POST https://tenant.example.com/oauth/token`); the message
   * starts with it.
   *
   * @since 0.4.0
   */
  readonly endpoint?: string | undefined
}> {
  /**
   * Marks the error as one of this module's (see {@link isAuthError}).
   *
   * @since 0.1.0
   */
  readonly [TypeId]: TypeId = TypeId

  /**
   * A one-line description of the error, without any token.
   *
   * @since 0.1.0
   */
  override get message(): string {
    const retry = this.retryAfter === undefined ? "" : ` (retry after ${Duration.format(this.retryAfter)})`
    const answered = this.endpoint === undefined ? "HTTP" : `${this.endpoint} answered`
    return `${answered} ${this.status} ${this.code}: ${this.description}${retry}`
  }
}

/**
 * Which grant a request presented to the server.
 *
 * @since 0.2.0
 * @category models
 */
export type Presented = "refresh_token" | "id_token" | "authorization_code" | "device_code"

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
   * Marks the error as one of this module's (see {@link isAuthError}).
   *
   * @since 0.1.0
   */
  readonly [TypeId]: TypeId = TypeId

  /**
   * A one-line description of the error, without any token.
   *
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
   * Marks the error as one of this module's (see {@link isAuthError}).
   *
   * @since 0.1.0
   */
  readonly [TypeId]: TypeId = TypeId

  /**
   * A one-line description of the error, without any token.
   *
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
 * The user must log in again:
 *
 * - `NoCredentials`: nothing is stored;
 * - `NoRefreshToken`: the stored credentials cannot be renewed;
 * - `RefreshTokenRejected`: the server rejected the refresh token
 *   (`invalid_grant`: expired, revoked, reused). The only reason that makes
 *   the `Renewer` drop the stored refresh token;
 * - `ActionRequired`: the server wants the user (`mfa_required`,
 *   `login_required`, `consent_required`, `interaction_required`,
 *   `access_denied`); the refresh token is kept;
 * - `NoIdToken`, `IdTokenExpired`, `IdTokenRejected`: the id_token that
 *   delegation needs is missing, expired or rejected; the refresh token is
 *   kept;
 * - `DpopKeyMissing`, `DpopKeyMismatch`: the credentials are bound to a DPoP
 *   key (RFC 9449) and the key stored with them is missing, or is not the
 *   one they are bound to (lost or swapped in a restore or a migration).
 *   Nothing is sent with a wrong key, and the refresh token is kept (a
 *   restore of the right key makes it usable again); a new login with
 *   `dpop: true` replaces both.
 *
 * @since 0.1.0
 * @category errors
 */
export class LoginRequired extends Data.TaggedError("LoginRequired")<{
  readonly reason:
    | "NoCredentials"
    | "NoRefreshToken"
    | "RefreshTokenRejected"
    | "ActionRequired"
    | "NoIdToken"
    | "IdTokenExpired"
    | "IdTokenRejected"
    | "DpopKeyMissing"
    | "DpopKeyMismatch"
  readonly description: string
  readonly cause?: AuthApiError | undefined
}> {
  /**
   * Marks the error as one of this module's (see {@link isAuthError}).
   *
   * @since 0.1.0
   */
  readonly [TypeId]: TypeId = TypeId

  /**
   * A one-line description of the error, without any token.
   *
   * @since 0.1.0
   */
  override get message(): string {
    return `Login required (${this.reason}): ${this.description}`
  }
}

/**
 * Renewal failed, and the user need not log in again:
 *
 * - `Transient`: the network, a timeout, a 5xx, a 429 outlived the policy;
 * - `Deadline`: the renewal did not finish within the policy's deadline;
 * - `Configuration`: the server refused the client itself
 *   (`invalid_client`, `unauthorized_client`, `unsupported_grant_type`): its
 *   id, secret or key is wrong, or it may not use this grant. Retrying does
 *   not help: fix the configuration;
 * - `Unexpected`: an answer the library cannot act on (a bad request, an
 *   unreadable body); not retried;
 * - `TtlUnreachable`: renewed credentials live shorter than the asked `minTtl`
 *   (they were saved);
 * - `AudienceMismatch`: an audience was asked and the access token is for
 *   another one (the refresh token's policy does not allow it); nothing was
 *   handed out;
 * - `InvalidRequest`: an option of the call is unusable;
 * - `Shutdown`: the `Renewer`'s scope was closed.
 *
 * The stored credentials are untouched, except that a rotated refresh token
 * is always saved.
 *
 * @since 0.1.0
 * @category errors
 */
export class RenewalFailed extends Data.TaggedError("RenewalFailed")<{
  readonly reason:
    | "Transient"
    | "Configuration"
    | "Unexpected"
    | "TtlUnreachable"
    | "Deadline"
    | "Shutdown"
    | "AudienceMismatch"
    | "InvalidRequest"
  readonly description: string
  readonly cause?: AuthenticationError | undefined
}> {
  /**
   * Marks the error as one of this module's (see {@link isAuthError}).
   *
   * @since 0.1.0
   */
  readonly [TypeId]: TypeId = TypeId

  /**
   * A one-line description of the error, without any token.
   *
   * @since 0.1.0
   */
  override get message(): string {
    return `Renewal failed (${this.reason}): ${this.description}`
  }
}

/**
 * A login (see the `Login` module) did not give credentials:
 *
 * - `AccessDenied`: the person (or the server's policy) refused
 *   (`access_denied`);
 * - `Expired`: the device code, or the pending authorization, outlived its
 *   lifetime (`expired_token`);
 * - `InvalidCallback`: the redirect back did not belong to this login (a
 *   `state` that does not match, a wrong or missing `iss`, no `code`);
 * - `InvalidIdToken`: the id_token is missing, or its signature, `iss`,
 *   `aud`, `azp`, `exp`, `iat` or `nonce` is wrong; nothing is returned;
 * - `Rejected`: the server refused the grant (`code` holds its error code,
 *   e.g. `invalid_grant` for a code already used);
 * - `Configuration`: the server refused the client itself (`invalid_client`,
 *   `unauthorized_client`) or lacks what the flow needs (no device or
 *   authorization endpoint): fix the configuration;
 * - `Transient`: the network or the server failed and the retries are
 *   exhausted;
 * - `Timeout`: nobody came back within the flow's `timeout`.
 *
 * The description never holds a code, verifier, state, nonce or token.
 *
 * @since 0.4.0
 * @category errors
 */
export class LoginFailed extends Data.TaggedError("LoginFailed")<{
  readonly reason:
    | "AccessDenied"
    | "Expired"
    | "InvalidCallback"
    | "InvalidIdToken"
    | "Rejected"
    | "Configuration"
    | "Transient"
    | "Timeout"
  readonly description: string
  /** The server's error code, when the server said one. */
  readonly code?: string | undefined
  readonly cause?: AuthenticationError | undefined
}> {
  /**
   * Marks the error as one of this module's (see {@link isAuthError}).
   *
   * @since 0.4.0
   */
  readonly [TypeId]: TypeId = TypeId

  /**
   * A one-line description of the error, without any secret.
   *
   * @since 0.4.0
   */
  override get message(): string {
    return `Login failed (${this.reason}): ${this.description}`
  }
}

/**
 * The token store failed: it could not be read or written, or an entry could
 * not be decoded or decrypted. When saving renewed credentials fails, the
 * credentials that could not be saved are in `unsaved`, so that nothing the
 * server issued is lost.
 *
 * `operation` `"open"` (since 0.4.0): the store could not be opened while its
 * layer was built (its directory, database, driver or tables); `key` is then
 * `"*"`.
 *
 * @since 0.1.0
 * @category errors
 */
export class StoreError extends Data.TaggedError("StoreError")<{
  readonly operation: "get" | "set" | "remove" | "lock" | "encode" | "decode" | "open"
  readonly key: string
  readonly description: string
  readonly unsaved?: Credentials | undefined
}> {
  /**
   * Marks the error as one of this module's (see {@link isAuthError}).
   *
   * @since 0.1.0
   */
  readonly [TypeId]: TypeId = TypeId

  /**
   * A one-line description of the error, without any token.
   *
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
 * Whether a value is one of the errors of this module (it carries
 * {@link TypeId}), whatever its tag.
 *
 * @since 0.1.0
 * @category refinements
 */
export const isAuthError = (
  u: unknown
): u is AuthApiError | NetworkError | RenewerError | InvalidConfiguration | LoginFailed =>
  Predicate.hasProperty(u, TypeId)

/**
 * What a failure of the `AuthenticationClient` means for the caller; the one
 * place where answers are classified:
 *
 * | answer | meaning |
 * | --- | --- |
 * | no answer: transport error, timeout | `Transient` |
 * | HTTP 408, 429, 5xx except 501 | `Transient` |
 * | `use_dpop_nonce` (a DPoP nonce challenge that outlived its one retry) | `Transient` |
 * | `invalid_grant` for a refresh token | `RefreshTokenRejected` |
 * | `invalid_grant`, `invalid_token` or HTTP 401 for an id_token | `IdTokenRejected` |
 * | `mfa_required`, `login_required`, `consent_required`, `interaction_required`, `access_denied`, `invalid_token` | `ActionRequired` |
 * | `invalid_client`, `unauthorized_client`, `unsupported_grant_type`, `invalid_dpop_proof` | `Configuration` |
 * | anything else (`invalid_request`, `invalid_scope`, an unreadable body, ...) | `Unexpected` |
 *
 * The `Renewer` answers `RefreshTokenRejected`, `IdTokenRejected` and
 * `ActionRequired` with {@link LoginRequired} of that reason, `Transient` by
 * retrying and then {@link RenewalFailed} `Transient`, and `Configuration` and
 * `Unexpected` with {@link RenewalFailed} of that reason. Only `RefreshTokenRejected` drops the
 * stored refresh token.
 *
 * @example
 * ```ts
 * import * as AuthError from "@effect-renewal/core/AuthError"
 *
 * const rejected = new AuthError.AuthApiError({
 *   status: 403,
 *   code: "invalid_grant",
 *   description: "Unknown or invalid refresh token."
 * })
 * console.log(AuthError.classify(rejected)) // "RefreshTokenRejected"
 *
 * const unavailable = new AuthError.AuthApiError({
 *   status: 503,
 *   code: "temporarily_unavailable",
 *   description: "Try again later"
 * })
 * console.log(AuthError.classify(unavailable)) // "Transient"
 *
 * const timeout = new AuthError.NetworkError({ reason: "Timeout", description: "no answer within 10s" })
 * console.log(AuthError.classify(timeout)) // "Transient"
 * ```
 *
 * @since 0.2.0
 * @category classification
 */
export const classify = (error: AuthenticationError): Classification => {
  if (error._tag === "NetworkError") return "Transient"
  const { code, presented, status } = error
  if (status === 408 || status === 429 || (status >= 500 && status <= 599 && status !== 501)) return "Transient"
  // the next attempt's proof carries the newest nonce
  if (code === "use_dpop_nonce") return "Transient"
  if (presented === "id_token" && (code === "invalid_grant" || code === "invalid_token" || status === 401)) {
    return "IdTokenRejected"
  }
  if (code === "invalid_grant") return "RefreshTokenRejected"
  if (actionCodes.has(code)) return "ActionRequired"
  if (configurationCodes.has(code)) return "Configuration"
  return "Unexpected"
}

/**
 * What an answer means, as {@link classify} decides: the user must log in
 * again (`RefreshTokenRejected`, `IdTokenRejected`, `ActionRequired`), a
 * retry may help (`Transient`), the client is misconfigured
 * (`Configuration`: the server refused the client's id, secret, key or
 * grant), or the library cannot act on it (`Unexpected`).
 *
 * @since 0.2.0
 * @category classification
 */
export type Classification =
  | "RefreshTokenRejected"
  | "IdTokenRejected"
  | "ActionRequired"
  | "Transient"
  | "Configuration"
  | "Unexpected"

const configurationCodes: ReadonlySet<string> = new Set([
  "invalid_client",
  "unauthorized_client",
  "unsupported_grant_type",
  // a proof the server refuses (a clock far off, an algorithm it does not take): not the grant's fault
  "invalid_dpop_proof"
])

const actionCodes: ReadonlySet<string> = new Set([
  "mfa_required",
  "a0.mfa_required",
  "login_required",
  "consent_required",
  "interaction_required",
  "access_denied",
  "invalid_token"
])

/**
 * The error the `Renewer` gives for a failure of the `AuthenticationClient`,
 * by {@link classify}.
 *
 * @example
 * ```ts
 * import * as AuthError from "@effect-renewal/core/AuthError"
 *
 * const error = AuthError.toRenewerError(
 *   new AuthError.AuthApiError({ status: 403, code: "mfa_required", description: "Multifactor authentication required" })
 * )
 * console.log(error._tag, error.reason) // "LoginRequired" "ActionRequired"
 * console.log(AuthError.isMfaRequired(error)) // true
 * ```
 *
 * @since 0.2.0
 * @category classification
 */
export const toRenewerError = (error: AuthenticationError): LoginRequired | RenewalFailed => {
  const kind = classify(error)
  switch (kind) {
    case "Transient":
    case "Configuration":
    case "Unexpected":
      return new RenewalFailed({ reason: kind, description: error.message, cause: error })
    default:
      return new LoginRequired({
        reason: kind,
        description: error.message,
        ...(error._tag === "AuthApiError" ? { cause: error } : {})
      })
  }
}

/**
 * The {@link LoginFailed} that a failed token request of a login gives, by
 * {@link classify}: `Transient` and `Configuration` as classified;
 * `access_denied` is `AccessDenied`, `expired_token` is `Expired`; any other
 * answer is `Rejected` with the server's code.
 *
 * @example
 * ```ts
 * import * as AuthError from "@effect-renewal/core/AuthError"
 *
 * const replayed = AuthError.toLoginFailed(
 *   new AuthError.AuthApiError({ status: 400, code: "invalid_grant", description: "code already used" })
 * )
 * console.log(replayed.reason, replayed.code) // "Rejected" "invalid_grant"
 * ```
 *
 * @since 0.4.0
 * @category classification
 */
export const toLoginFailed = (error: AuthenticationError): LoginFailed => {
  const kind = classify(error)
  const code = error._tag === "AuthApiError" ? error.code : undefined
  const reason = kind === "Transient" || kind === "Configuration"
    ? kind
    : code === "access_denied"
    ? "AccessDenied"
    : code === "expired_token"
    ? "Expired"
    : "Rejected"
  return new LoginFailed({ reason, description: error.message, cause: error, ...(code === undefined ? {} : { code }) })
}

const isAuthenticationError = (u: unknown): u is AuthenticationError =>
  u instanceof AuthApiError || u instanceof NetworkError

const apiError = (u: unknown): Option.Option<AuthApiError> =>
  u instanceof AuthApiError
    ? Option.some(u)
    : (u instanceof LoginRequired || u instanceof RenewalFailed) && u.cause instanceof AuthApiError
    ? Option.some(u.cause)
    : Option.none()

const hasCode = (u: unknown, ...codes: ReadonlyArray<string>): boolean =>
  Option.match(apiError(u), { onNone: () => false, onSome: (e) => codes.includes(e.code) })

/**
 * The server rejected a grant with `invalid_grant` (on the `Renewer`'s
 * errors: the `LoginRequired` it caused).
 *
 * @since 0.1.0
 * @category predicates
 */
export const isInvalidGrant = (u: unknown): boolean => hasCode(u, "invalid_grant")

/**
 * The user must log in again: a {@link LoginRequired}, or a client error that
 * the `Renewer` answers with one (see {@link classify}).
 *
 * @since 0.1.0
 * @category predicates
 */
export const isLoginRequired = (u: unknown): boolean =>
  u instanceof LoginRequired || (isAuthenticationError(u) && loginKinds.has(classify(u)))

const loginKinds: ReadonlySet<Classification> = new Set(["RefreshTokenRejected", "IdTokenRejected", "ActionRequired"])

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
 * A client error worth retrying (see {@link classify}): transport errors,
 * timeouts, and the statuses 408, 429 and 5xx (except 501). Definitive OAuth
 * errors are never transient.
 *
 * @example
 * ```ts
 * import * as AuthError from "@effect-renewal/core/AuthError"
 * import * as AuthenticationClient from "@effect-renewal/core/AuthenticationClient"
 * import * as Effect from "effect/Effect"
 * import type * as Redacted from "effect/Redacted"
 * import * as Schedule from "effect/Schedule"
 *
 * // Calling the client directly (the Renewer retries by its RenewalPolicy):
 * // retry what may succeed later, never a definitive answer.
 * const revoke = (refreshToken: Redacted.Redacted<string>) =>
 *   Effect.flatMap(AuthenticationClient.AuthenticationClient, (client) => client.revoke(refreshToken)).pipe(
 *     Effect.retry({ while: AuthError.isTransient, schedule: Schedule.exponential("200 millis"), times: 3 })
 *   )
 * ```
 *
 * @since 0.1.0
 * @category predicates
 */
export const isTransient = (u: unknown): boolean => isAuthenticationError(u) && classify(u) === "Transient"

/**
 * An error that a later attempt may fix by itself, nobody having to act in
 * between: a client error that {@link isTransient} says is transient, or a
 * {@link RenewalFailed} of reason `Transient` or `Deadline` (the network or
 * the server failed, and the `Renewer`'s policy has already retried).
 *
 * Everything else needs someone first: a {@link LoginRequired} the user, a
 * `RenewalFailed` `Configuration` or `Unexpected` a fix of the client or the
 * server, `AudienceMismatch`, `TtlUnreachable` or `InvalidRequest` another
 * request, `Shutdown` a new `Renewer`, and a {@link StoreError} the store
 * (and its `unsaved` credentials saved).
 *
 * The `Renewer` decides with it what stale-if-error may hide (a `get` then
 * answers with credentials it has) and what refresh ahead tries again after
 * its `retryInterval`.
 *
 * @example
 * ```ts
 * import * as AuthError from "@effect-renewal/core/AuthError"
 * import * as Renewer from "@effect-renewal/core/Renewer"
 * import * as Effect from "effect/Effect"
 * import * as Schedule from "effect/Schedule"
 *
 * // A job that must start with a token: what a later attempt may fix is tried
 * // again a minute later, anything else is reported at once.
 * const token = Effect.flatMap(Renewer.Renewer, (renewer) => renewer.get()).pipe(
 *   Effect.retry({ while: AuthError.isRetryable, schedule: Schedule.spaced("1 minute"), times: 5 })
 * )
 *
 * const down = new AuthError.RenewalFailed({ reason: "Deadline", description: "renewal did not finish within 30s" })
 * console.log(AuthError.isRetryable(down)) // true
 * const lost = new AuthError.LoginRequired({ reason: "RefreshTokenRejected", description: "invalid_grant" })
 * console.log(AuthError.isRetryable(lost)) // false
 * ```
 *
 * @since 0.4.0
 * @category predicates
 */
export const isRetryable = (u: unknown): boolean =>
  isTransient(u) || (u instanceof RenewalFailed && (u.reason === "Transient" || u.reason === "Deadline"))
