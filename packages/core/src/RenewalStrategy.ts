/**
 * How credentials are renewed: with the refresh token (OAuth 2.0
 * `refresh_token` grant) or with a still-valid id_token (Auth0's legacy
 * `/delegation`). A test swaps in its own.
 *
 * A strategy makes one attempt per call and knows nothing of the store, the
 * lock or the retries: the `Renewer` decides when to renew and what to ask
 * for, and reads the strategy's failures with `AuthError.classify`.
 *
 * @example
 * ```ts
 * import * as AuthError from "@effect-renewal/core/AuthError"
 * import * as Credentials from "@effect-renewal/core/Credentials"
 * import * as RenewalStrategy from "@effect-renewal/core/RenewalStrategy"
 * import * as DateTime from "effect/DateTime"
 * import * as Effect from "effect/Effect"
 * import * as Layer from "effect/Layer"
 * import * as Redacted from "effect/Redacted"
 *
 * // A strategy of your own, e.g. for a test: the first renewal succeeds,
 * // the next ones are rejected as an expired refresh token would be.
 * const OnceThenRejected = Layer.effect(
 *   RenewalStrategy.RenewalStrategy,
 *   Effect.sync(() => {
 *     let renewals = 0
 *     return RenewalStrategy.RenewalStrategy.of({
 *       renew: (_current, { scope }) =>
 *         renewals++ === 0
 *           ? Effect.map(DateTime.now, (now) =>
 *             new Credentials.Credentials({
 *               accessToken: Redacted.make("renewed-access-token"),
 *               tokenType: "Bearer",
 *               expiresAt: DateTime.add(now, { hours: 1 }),
 *               ...(scope === undefined ? {} : { scope })
 *             }))
 *           : Effect.fail(
 *             new AuthError.AuthApiError({ status: 403, code: "invalid_grant", description: "Unknown refresh token" })
 *           ),
 *       revoke: () => Effect.void
 *     })
 *   })
 * )
 * ```
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type { AuthenticationClient } from "./AuthenticationClient.js"
import { type AuthenticationError, InvalidConfiguration, LoginRequired } from "./AuthError.js"
import { Credentials } from "./Credentials.js"
import { AuthenticationClientTag } from "./internal/clientTag.js"
import * as Jwt from "./Jwt.js"

/**
 * The tag of the strategy service; {@link refreshToken} and
 * {@link delegation} provide it.
 *
 * @since 0.1.0
 * @category tags
 */
export class RenewalStrategy extends Context.Tag("@effect-renewal/core/RenewalStrategy")<
  RenewalStrategy,
  RenewalStrategy.Service
>() {}

/**
 * The types of the {@link RenewalStrategy} service.
 *
 * @since 0.1.0
 * @category models
 */
export declare namespace RenewalStrategy {
  /**
   * What a strategy does: renew credentials, revoke them.
   *
   * @since 0.1.0
   * @category models
   */
  export interface Service {
    /**
     * New credentials for `current`, for what the `Renewer` decided to ask
     * (`RenewOptions`). The result may lack a refresh token (the `Renewer`
     * then keeps the current one) and a scope (the `Renewer` then takes the
     * asked one). One call is one attempt. Failures are reported as they
     * are: the `Renewer` reads them with `AuthError.classify`.
     */
    readonly renew: (
      current: Credentials,
      options: RenewOptions
    ) => Effect.Effect<Credentials, LoginRequired | AuthenticationError>
    /** Revokes what `current` holds at the server (its refresh token), if anything. */
    readonly revoke: (current: Credentials) => Effect.Effect<void, AuthenticationError>
    /**
     * A short name for spans (`refresh_token`, `delegation`); a strategy of
     * your own may give one.
     *
     * @since 0.3.0
     */
    readonly name?: string | undefined
  }
}

/**
 * What the `Renewer` asks a strategy for, decided once: every field is given,
 * `undefined` when there is nothing to ask.
 *
 * @since 0.2.0
 * @category models
 */
export interface RenewOptions {
  /** The scope to ask for (the login's, unless the caller asked another). */
  readonly scope: string | undefined
  /** The API the access token is for. */
  readonly audience: string | undefined
  /** Extra parameters of the request. */
  readonly parameters: Readonly<Record<string, string>> | undefined
}

/**
 * The options of {@link delegation} and {@link makeDelegation}.
 *
 * @since 0.2.0
 * @category models
 */
export interface DelegationOptions {
  /** How much lifetime the id_token must have left to be used: 5 seconds unless given. */
  readonly idTokenLeeway?: Duration.DurationInput | undefined
}

const revokeWith = (client: AuthenticationClient.Service) => (current: Credentials) =>
  current.refreshToken === undefined ? Effect.void : client.revoke(current.refreshToken)

/**
 * Renews with `AuthenticationClient.renewAuth`, asking for the scope,
 * audience and parameters the `Renewer` gives.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeRefreshToken: Effect.Effect<RenewalStrategy.Service, never, AuthenticationClient> = Effect.map(
  AuthenticationClientTag,
  (client) =>
    RenewalStrategy.of({
      renew: (current, options) =>
        current.refreshToken === undefined
          ? Effect.fail(
            new LoginRequired({ reason: "NoRefreshToken", description: "the stored credentials have no refresh token" })
          )
          : client.renewAuth(current.refreshToken, options),
      revoke: revokeWith(client),
      name: "refresh_token"
    })
)

/**
 * Renews with Auth0's legacy `/delegation` and the stored id_token (Auth0 has
 * deprecated it, and new tenants cannot enable it: prefer
 * {@link refreshToken}). An id_token that is missing, unreadable or expired
 * (counting `idTokenLeeway`) fails with `LoginRequired` without a request.
 * The `audience` is sent as delegation's `target`. The new id_token becomes
 * both the id_token and the bearer token (as in Auth0's legacy flows), and its
 * lifetime the credentials' expiry; the refresh token is kept.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeDelegation = (
  options: DelegationOptions = {}
): Effect.Effect<RenewalStrategy.Service, InvalidConfiguration, AuthenticationClient> =>
  Effect.flatMap(AuthenticationClientTag, (client) => {
    const decoded = Duration.decodeUnknown(options.idTokenLeeway ?? Duration.seconds(5))
    const leeway = Option.getOrUndefined(decoded)
    // a negative amount would be read as zero: a mistake
    if (
      leeway === undefined || !Duration.isFinite(leeway) ||
      (typeof options.idTokenLeeway === "number" && !(options.idTokenLeeway >= 0)) ||
      (typeof options.idTokenLeeway === "string" && /^\s*-/.test(options.idTokenLeeway))
    ) {
      return Effect.fail(
        new InvalidConfiguration({ description: "idTokenLeeway must be a finite duration of at least zero" })
      )
    }
    return Effect.succeed(RenewalStrategy.of({
      name: "delegation",
      renew: Effect.fnUntraced(function*(current, { audience, parameters, scope }) {
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
        if (Jwt.isExpired(claims, yield* DateTime.now, leeway)) {
          return yield* new LoginRequired({
            reason: "IdTokenExpired",
            description: "the stored id_token has expired; delegation needs a valid one"
          })
        }
        const delegation = yield* client.delegationWithIdToken(current.idToken, {
          scope,
          target: audience,
          parameters
        })
        const { refreshToken } = current
        return new Credentials({
          accessToken: delegation.idToken,
          idToken: delegation.idToken,
          tokenType: delegation.tokenType,
          expiresAt: delegation.expiresAt,
          ...(refreshToken === undefined ? {} : { refreshToken })
        }, true)
      }),
      revoke: revokeWith(client)
    }))
  })

/**
 * Provides the {@link makeRefreshToken} strategy: renewal with the refresh
 * token (OAuth 2.0 `refresh_token` grant). The strategy to use unless the
 * tenant only offers legacy delegation.
 *
 * @example
 * ```ts
 * import * as AuthenticationClient from "@effect-renewal/core/AuthenticationClient"
 * import * as RenewalStrategy from "@effect-renewal/core/RenewalStrategy"
 * import * as Renewer from "@effect-renewal/core/Renewer"
 * import * as TokenStore from "@effect-renewal/core/TokenStore"
 * import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
 * import * as Layer from "effect/Layer"
 *
 * const Strategy = RenewalStrategy.refreshToken.pipe(
 *   Layer.provide(AuthenticationClient.layerConfig()),
 *   Layer.provide(FetchHttpClient.layer)
 * )
 *
 * const RenewerLive = Renewer.layer().pipe(Layer.provide([Strategy, TokenStore.layerMemory]))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const refreshToken: Layer.Layer<RenewalStrategy, never, AuthenticationClient> = Layer.effect(
  RenewalStrategy,
  makeRefreshToken
)

/**
 * Provides the {@link makeDelegation} strategy: renewal with the stored
 * id_token through Auth0's legacy `/delegation` (deprecated by Auth0: prefer
 * {@link refreshToken}). Fails with `InvalidConfiguration` for an unusable
 * `idTokenLeeway`.
 *
 * @example
 * ```ts
 * import * as AuthenticationClient from "@effect-renewal/core/AuthenticationClient"
 * import * as RenewalStrategy from "@effect-renewal/core/RenewalStrategy"
 * import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
 * import * as Layer from "effect/Layer"
 *
 * // the id_token must have at least 10 seconds left to be used
 * const Strategy = RenewalStrategy.delegation({ idTokenLeeway: "10 seconds" }).pipe(
 *   Layer.provide(AuthenticationClient.layerConfig()),
 *   Layer.provide(FetchHttpClient.layer)
 * )
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const delegation = (
  options?: DelegationOptions
): Layer.Layer<RenewalStrategy, InvalidConfiguration, AuthenticationClient> =>
  Layer.effect(RenewalStrategy, makeDelegation(options))
