/**
 * Web applications on Effect's HTTP server: log users in, keep their tokens
 * on the server, call APIs for them.
 *
 * @since 0.5.0
 */

/**
 * The person of a request on a protected route, and the middleware that
 * provides it.
 *
 * @since 0.5.0
 */
export * as CurrentUser from "./CurrentUser.js"

/**
 * Where the web sessions (who, since when) are kept on the server.
 *
 * @since 0.5.0
 */
export * as SessionStore from "./SessionStore.js"

/**
 * An `HttpClient` that calls APIs with the current person's token.
 *
 * @since 0.5.0
 */
export * as UserClient from "./UserClient.js"

/**
 * The login, callback and logout routes, and the session cookie.
 *
 * @since 0.5.0
 */
export * as WebAuth from "./WebAuth.js"

// `SqlSessionStore` is not in the index: it needs `@effect/sql` (an optional
// peer); import it as `@effect-renewal/web/SqlSessionStore`.
