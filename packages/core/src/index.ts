/**
 * Keep a user logged in: store the credentials of a login and hand out valid
 * ones on demand, renewed when needed.
 *
 * @since 0.1.0
 */

/**
 * The error model: `LoginRequired`, `RenewalFailed` and `StoreError` for the caller,
 * `AuthApiError` and `NetworkError` underneath, and the one classification of
 * an answer (`classify`) that the predicates and the `Renewer` share.
 *
 * @since 0.1.0
 */
export * as AuthError from "./AuthError.js"

/**
 * A client of an Auth0 tenant's authentication API over `HttpClient`:
 * `renewAuth` (the `refresh_token` grant), `delegationWithIdToken`,
 * `delegationWithRefreshToken` and `revoke`, one attempt per call.
 *
 * @since 0.1.0
 */
export * as AuthenticationClient from "./AuthenticationClient.js"

/**
 * An `HttpClient` that sends the `Renewer`'s access token as
 * `Authorization: Bearer` and, on a 401, renews once and retries.
 *
 * @since 0.1.0
 */
export * as AuthorizedClient from "./AuthorizedClient.js"

/**
 * The credentials of a login (`Credentials`, tokens `Redacted`), the token
 * response they come from (`TokenResponse`) and their stored JSON form.
 *
 * @since 0.1.0
 */
export * as Credentials from "./Credentials.js"

/**
 * The result of Auth0's legacy `/delegation` endpoint: a new id_token.
 *
 * @since 0.1.0
 */
export * as Delegation from "./Delegation.js"

/**
 * DPoP (RFC 9449): tokens bound to a key that only this application holds.
 *
 * @since 0.5.0
 */
export * as Dpop from "./Dpop.js"

/**
 * Reading the claims of a JWT (`exp`, `iat`, `sub`, `aud`, `iss`) without
 * checking its signature.
 *
 * @since 0.1.0
 */
export * as Jwt from "./Jwt.js"

/**
 * The first login, with any OpenID provider: the device flow, the
 * authorization code with PKCE, and the loopback redirect of a native app.
 *
 * @since 0.4.0
 */
export * as Login from "./Login.js"

/**
 * The metrics the `Renewer` records (renewals by outcome, their duration,
 * joins, lock waits, store errors, refresh tokens dropped), for reading or
 * exporting.
 *
 * @since 0.3.0
 */
export * as RenewalMetrics from "./RenewalMetrics.js"

/**
 * How the `Renewer` retries and times out: retry schedule, per-attempt
 * timeout, overall deadline and default `minTtl`.
 *
 * @since 0.1.0
 */
export * as RenewalPolicy from "./RenewalPolicy.js"

/**
 * How credentials are renewed: with the refresh token, or with a still-valid
 * id_token through Auth0's legacy `/delegation`.
 *
 * @since 0.1.0
 */
export * as RenewalStrategy from "./RenewalStrategy.js"

/**
 * The engine: valid credentials for one session key, renewed when needed,
 * once for all concurrent callers, and saved before they are handed out.
 *
 * @since 0.1.0
 */
export * as Renewer from "./Renewer.js"

/**
 * Many users in one application: valid credentials per session key, one
 * `Renewer` per key on demand (released when idle), renewals across keys
 * bounded.
 *
 * @since 0.3.0
 */
export * as Sessions from "./Sessions.js"

/**
 * How a persistent token store writes credentials: plain JSON, or
 * AES-256-GCM encrypted with the session key bound to each entry.
 *
 * @since 0.1.0
 */
export * as TokenCodec from "./TokenCodec.js"

/**
 * Where credentials are kept, by session key: in memory or in owner-only
 * files, with a per-key lock.
 *
 * @since 0.1.0
 */
export * as TokenStore from "./TokenStore.js"
