/**
 * Keep a user logged in: store the credentials of a login and hand out valid
 * ones on demand, renewed when needed.
 *
 * @since 0.1.0
 */

/**
 * @since 0.1.0
 */
export * as AuthError from "./AuthError.js"

/**
 * @since 0.1.0
 */
export * as AuthenticationClient from "./AuthenticationClient.js"

/**
 * @since 0.1.0
 */
export * as AuthorizedClient from "./AuthorizedClient.js"

/**
 * @since 0.1.0
 */
export * as Credentials from "./Credentials.js"

/**
 * @since 0.1.0
 */
export * as Delegation from "./Delegation.js"

/**
 * @since 0.1.0
 */
export * as Jwt from "./Jwt.js"

/**
 * @since 0.1.0
 */
export * as RenewalPolicy from "./RenewalPolicy.js"

/**
 * @since 0.1.0
 */
export * as RenewalStrategy from "./RenewalStrategy.js"

/**
 * @since 0.1.0
 */
export * as Renewer from "./Renewer.js"

/**
 * @since 0.1.0
 */
export * as TokenCodec from "./TokenCodec.js"

/**
 * @since 0.1.0
 */
export * as TokenStore from "./TokenStore.js"
