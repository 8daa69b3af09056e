/**
 * How credentials are renewed: with the refresh token (OAuth 2.0
 * `refresh_token` grant) or with a still-valid id_token (Auth0's legacy
 * `/delegation`). A test swaps in its own.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { AuthenticationClient } from "./AuthenticationClient.js"
import { type AuthenticationError, LoginRequired } from "./AuthError.js"
import { Credentials } from "./Credentials.js"
import * as Jwt from "./Jwt.js"
import { RenewalPolicy } from "./RenewalPolicy.js"

/**
 * @since 0.1.0
 * @category tags
 */
export class RenewalStrategy extends Context.Tag("@effect-renewal/core/RenewalStrategy")<
  RenewalStrategy,
  RenewalStrategy.Service
>() {}

/**
 * @since 0.1.0
 */
export declare namespace RenewalStrategy {
  /**
   * @since 0.1.0
   * @category models
   */
  export interface Service {
    /**
     * New credentials for `current`, for `scope`. The result may lack a
     * refresh token (the `Renewer` then keeps the current one). One call is
     * one attempt. Failing with an `AuthApiError` of code `invalid_grant`
     * says that the refresh token was rejected: the `Renewer` then drops it.
     */
    readonly renew: (
      current: Credentials,
      options: { readonly scope?: string | undefined }
    ) => Effect.Effect<Credentials, LoginRequired | AuthenticationError>
    /** Revokes what `current` holds at the server (its refresh token), if anything. */
    readonly revoke: (current: Credentials) => Effect.Effect<void, AuthenticationError>
  }
}

const revokeWith = (client: AuthenticationClient.Service) => (current: Credentials) =>
  current.refreshToken === undefined ? Effect.void : client.revoke(current.refreshToken)

/**
 * Renews with `AuthenticationClient.renewAuth`, asking for the stored scope
 * (the scope of the first login) unless the caller asked for another.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeRefreshToken: Effect.Effect<RenewalStrategy.Service, never, AuthenticationClient> = Effect.map(
  AuthenticationClient,
  (client) =>
    RenewalStrategy.of({
      renew: (current, { scope }) =>
        current.refreshToken === undefined
          ? Effect.fail(
            new LoginRequired({ reason: "NoRefreshToken", description: "the stored credentials have no refresh token" })
          )
          : client.renewAuth(current.refreshToken, { scope: scope ?? current.scope }),
      revoke: revokeWith(client)
    })
)

/**
 * Renews with Auth0's legacy `/delegation` and the stored id_token. An
 * id_token that is missing, unreadable or expired (counting the policy's
 * `idTokenLeeway`) fails with `LoginRequired` without a request. The new
 * id_token becomes both the id_token and the bearer token (as in Auth0's
 * legacy flows), and its lifetime the credentials' expiry; the refresh token
 * and scope are kept.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeDelegation: Effect.Effect<RenewalStrategy.Service, never, AuthenticationClient> = Effect.gen(
  function*() {
    const client = yield* AuthenticationClient
    // read once, like the Renewer: a policy provided to the layers applies
    const policy = yield* RenewalPolicy
    return RenewalStrategy.of({
      renew: Effect.fnUntraced(function*(current, { scope }) {
        if (current.idToken === undefined) {
          return yield* new LoginRequired({
            reason: "NoIdToken",
            description: "the stored credentials have no id_token"
          })
        }
        const claims = yield* Effect.mapError(
          Jwt.decode(current.idToken),
          () => new LoginRequired({ reason: "NoIdToken", description: "the stored id_token cannot be read" })
        )
        const now = yield* DateTime.now
        if (Jwt.isExpired(claims, now, policy.idTokenLeeway)) {
          return yield* new LoginRequired({
            reason: "IdTokenExpired",
            description: "the stored id_token has expired; delegation needs a valid one"
          })
        }
        // A rejection here is about the id_token, not the refresh token: it
        // must not be taken for an `invalid_grant` of the refresh token.
        const delegation = yield* client.delegationWithIdToken(current.idToken, { scope: scope ?? current.scope }).pipe(
          Effect.catchIf(
            (error) =>
              error._tag === "AuthApiError" &&
              (error.status === 401 || error.code === "invalid_grant" || error.code === "invalid_token"),
            (error) =>
              Effect.fail(
                new LoginRequired({
                  reason: "IdTokenRejected",
                  description: error.message,
                  cause: error._tag === "AuthApiError" ? error : undefined
                })
              )
          )
        )
        return new Credentials({
          ...current,
          accessToken: delegation.idToken,
          idToken: delegation.idToken,
          tokenType: delegation.tokenType,
          expiresAt: delegation.expiresAt,
          ...(scope === undefined ? {} : { scope })
        }, true)
      }),
      revoke: revokeWith(client)
    })
  }
)

/**
 * @since 0.1.0
 * @category layers
 */
export const refreshToken: Layer.Layer<RenewalStrategy, never, AuthenticationClient> = Layer.effect(
  RenewalStrategy,
  makeRefreshToken
)

/**
 * @since 0.1.0
 * @category layers
 */
export const delegation: Layer.Layer<RenewalStrategy, never, AuthenticationClient> = Layer.effect(
  RenewalStrategy,
  makeDelegation
)
