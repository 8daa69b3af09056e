/**
 * The engine: hands out valid credentials for one session key, renewing them
 * when needed, once for all concurrent callers.
 *
 * A `Renewer` needs a `TokenStore` (where the credentials are kept) and a
 * `RenewalStrategy` (how they are renewed); the `RenewalPolicy` in context
 * says how it retries and times out. Save the credentials of a login once
 * with `save`; from then on `get` returns valid ones, renewed and saved when
 * needed, until the user must log in again (`LoginRequired`).
 *
 * @example
 * ```ts
 * import * as AuthenticationClient from "@effect-renewal/core/AuthenticationClient"
 * import * as RenewalStrategy from "@effect-renewal/core/RenewalStrategy"
 * import * as Renewer from "@effect-renewal/core/Renewer"
 * import * as TokenCodec from "@effect-renewal/core/TokenCodec"
 * import * as TokenStore from "@effect-renewal/core/TokenStore"
 * import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
 * import * as NodePath from "@effect/platform-node/NodePath"
 * import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
 * import * as Console from "effect/Console"
 * import * as Effect from "effect/Effect"
 * import * as Layer from "effect/Layer"
 *
 * // Credentials in owner-only files under .tokens/, encrypted with the key in EFFECT_RENEWAL_STORE_KEY.
 * const Store = TokenStore.layerFileSystem({ directory: ".tokens" }).pipe(
 *   Layer.provide([NodeFileSystem.layer, NodePath.layer, TokenCodec.layerEncryptedConfig()])
 * )
 * // The tenant from AUTH0_DOMAIN and AUTH0_CLIENT_ID, reached with fetch.
 * const Strategy = RenewalStrategy.refreshToken.pipe(
 *   Layer.provide(AuthenticationClient.layerConfig()),
 *   Layer.provide(FetchHttpClient.layer)
 * )
 * // One Renewer for the session key "default".
 * const RenewerLive = Renewer.layer().pipe(Layer.provide([Store, Strategy]))
 *
 * const program = Effect.gen(function*() {
 *   const renewer = yield* Renewer.Renewer
 *   // valid for at least the default minTtl (30s, or half the tokens' lifetime if
 *   // they live shorter): renewed and saved first if needed
 *   const credentials = yield* renewer.get()
 *   return credentials.accessToken
 * }).pipe(
 *   Effect.catchTag("LoginRequired", (error) => Console.log(`Please log in again (${error.reason})`)),
 *   Effect.provide(RenewerLive)
 * )
 * ```
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import type { RenewalFailed, RenewerError, StoreError } from "./AuthError.js"
import type { Credentials } from "./Credentials.js"
import * as internal from "./internal/renewer.js"
import type { RenewalStrategy } from "./RenewalStrategy.js"
import type { TokenStore } from "./TokenStore.js"

/**
 * The tag of the renewer service; {@link layer} provides it.
 *
 * @since 0.1.0
 * @category tags
 */
export class Renewer extends Context.Tag("@effect-renewal/core/Renewer")<Renewer, Renewer.Service>() {}

/**
 * The types of the {@link Renewer} service.
 *
 * @since 0.1.0
 * @category models
 */
export declare namespace Renewer {
  /**
   * What a renewer does for its session key.
   *
   * @example
   * ```ts
   * import type * as Credentials from "@effect-renewal/core/Credentials"
   * import * as Renewer from "@effect-renewal/core/Renewer"
   * import * as Console from "effect/Console"
   * import * as Effect from "effect/Effect"
   * import * as Option from "effect/Option"
   * import * as Stream from "effect/Stream"
   *
   * // After the login flow: save its credentials, once.
   * const onLogin = (credentials: Credentials.Credentials) =>
   *   Effect.flatMap(Renewer.Renewer, (renewer) => renewer.save(credentials))
   *
   * // At start-up: is the user still logged in? (no request is made)
   * const isLoggedIn = Effect.flatMap(Renewer.Renewer, (renewer) => renewer.hasValid())
   *
   * // Log out: revoke the refresh token at the server, then forget the credentials.
   * const logout = Effect.flatMap(Renewer.Renewer, (renewer) => renewer.clear({ revoke: true }))
   *
   * // Follow the stored credentials: saved, renewed, cleared.
   * const followChanges = Effect.flatMap(Renewer.Renewer, (renewer) =>
   *   renewer.changes.pipe(
   *     Stream.runForEach((credentials) =>
   *       Console.log(Option.isSome(credentials) ? "logged in" : "logged out")
   *     )
   *   ))
   * ```
   *
   * @since 0.1.0
   * @category models
   */
  export interface Service {
    /** The session key this renewer serves. */
    readonly key: string
    /**
     * Valid credentials: the stored ones while they have at least `minTtl`
     * left, else renewed ones (saved before they are returned). With an
     * `audience`, or a `scope` other than the login's (compared as a set):
     * API credentials for that audience and scope, kept apart from the
     * login's. `forceRefresh` renews whatever is stored.
     */
    readonly get: (options?: GetOptions) => Effect.Effect<Credentials, RenewerError>
    /**
     * Stores the credentials of a login (the scope of this login is the one
     * renewals ask for); the API credentials of the previous login are removed.
     */
    readonly save: (credentials: Credentials) => Effect.Effect<void, StoreError>
    /**
     * Whether `get` can succeed without a new login: credentials are stored
     * and either have `minTtl` left or hold a refresh token. No request is made.
     * An unusable `minTtl` fails with `RenewalFailed` of reason
     * `InvalidRequest`, as `get` does.
     */
    readonly hasValid: (minTtl?: Duration.DurationInput) => Effect.Effect<boolean, StoreError | RenewalFailed>
    /**
     * Removes the stored credentials, API credentials included; with
     * `revoke`, first revokes the refresh token at the server. The local
     * credentials are removed even when revocation fails, which is then
     * reported as `RenewalFailed`.
     */
    readonly clear: (options?: ClearOptions) => Effect.Effect<void, RenewerError>
    /**
     * The stored login credentials as this renewer knows them: first the
     * current ones, then each change this renewer makes (saved, renewed,
     * cleared, refresh token dropped) or finds in the store. `None` when
     * nothing is stored.
     */
    readonly changes: Stream.Stream<Option.Option<Credentials>>
  }
}

/**
 * What a `get` asks for, like Auth0.Android's `getCredentials(scope, minTtl,
 * parameters, forceRefresh)` and `getApiCredentials(audience, scope)`.
 *
 * @example
 * ```ts
 * import * as Renewer from "@effect-renewal/core/Renewer"
 * import * as Effect from "effect/Effect"
 *
 * const program = Effect.gen(function*() {
 *   const renewer = yield* Renewer.Renewer
 *   // the login's credentials, with at least 5 minutes left
 *   const login = yield* renewer.get({ minTtl: "5 minutes" })
 *   // credentials for another API, kept apart from the login's and renewed with its refresh token
 *   const orders = yield* renewer.get({ audience: "https://orders.example.com", scope: "read:orders" })
 *   // renewed now, whatever is stored, with an extra form field in the token request
 *   const fresh = yield* renewer.get({ forceRefresh: true, parameters: { device: "kiosk-7" } })
 *   return { login, orders, fresh }
 * })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface GetOptions {
  /** Lifetime the credentials must have left: the renewer's default unless given. */
  readonly minTtl?: Duration.DurationInput | undefined
  /** The scope to ask for: the stored login's unless given. */
  readonly scope?: string | undefined
  /** The API the access token is for (sent as `audience`). */
  readonly audience?: string | undefined
  /** Extra form fields of the token request, when one is made. */
  readonly parameters?: Readonly<Record<string, string>> | undefined
  /** Renew even if the stored credentials are valid. */
  readonly forceRefresh?: boolean | undefined
  /**
   * This `get`'s stale-if-error bound (see {@link Options.staleIfError}):
   * the renewer's unless given; `0` turns it off.
   *
   * @since 0.3.0
   */
  readonly staleIfError?: Duration.DurationInput | undefined
}

/**
 * The options of `clear`.
 *
 * @since 0.2.0
 * @category models
 */
export interface ClearOptions {
  /** Revoke the refresh token at the server first. */
  readonly revoke?: boolean | undefined
}

/**
 * The options of {@link make} and {@link layer}.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /**
   * The session key: `"default"` unless given. Any string; its entries are
   * kept under `TokenStore.entryKey(key)` and keys derived from it, apart
   * from every other session's.
   */
  readonly key?: string | undefined
  /**
   * The `minTtl` of a `get` that does not give one, strict: credentials that
   * cannot live that long fail with `TtlUnreachable`. Unless given, the
   * policy's, bounded by half the lifetime renewed credentials were issued
   * with (so that tokens living shorter than the policy's `minTtl` are
   * served, and renewed in their second half).
   */
  readonly minTtl?: Duration.DurationInput | undefined
  /**
   * Opt-in: renew in the background before the credentials expire, while
   * callers keep getting the still-valid ones (see {@link RefreshAheadOptions}).
   * It runs in the renewer's scope and stops with it.
   *
   * @since 0.3.0
   */
  readonly refreshAhead?: RefreshAheadOptions | undefined
  /**
   * Opt-in, like HTTP's `stale-if-error`: when a renewal fails transiently
   * (`RenewalFailed` of reason `Transient` or `Deadline`), `get` returns the
   * credentials it has instead, if they have not expired and went stale
   * (expiry minus the `get`'s `minTtl`) less than this long ago, and the
   * store has not said they may have changed. Never for a `forceRefresh`. A
   * `LoginRequired`, a `StoreError` or any other failure is never hidden.
   * Off unless given.
   *
   * @since 0.3.0
   */
  readonly staleIfError?: Duration.DurationInput | undefined
}

/**
 * Refresh ahead: when to renew before expiry.
 *
 * @since 0.3.0
 * @category models
 */
export interface RefreshAheadOptions {
  /** How long before expiry the renewal starts. */
  readonly lead: Duration.DurationInput
  /**
   * At most how much earlier still, at random for each credentials, so that
   * many instances do not renew at the same moment. Default none.
   */
  readonly jitter?: Duration.DurationInput | undefined
  /**
   * The wait before trying again after a renewal failed transiently (after
   * the policy's own retries). Default 30 seconds.
   */
  readonly retryInterval?: Duration.DurationInput | undefined
}

/**
 * A renewer for one session key, with the `RenewalPolicy` in force. Its
 * renewals run in the given scope, not in their callers' fibers.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: (
  options?: Options
) => Effect.Effect<Renewer.Service, never, TokenStore | RenewalStrategy | Scope.Scope> = internal.make

/**
 * A `Renewer` for one session key; needs a `TokenStore` and a
 * `RenewalStrategy`. Renewals run in the layer's scope, so that a caller's
 * interruption never interrupts a renewal already sent, nor the save of its
 * result.
 *
 * @example
 * ```ts
 * import * as RenewalStrategy from "@effect-renewal/core/RenewalStrategy"
 * import * as Renewer from "@effect-renewal/core/Renewer"
 * import * as TokenStore from "@effect-renewal/core/TokenStore"
 * import * as Layer from "effect/Layer"
 *
 * // The session "alice", whose gets want a minute left unless they say otherwise.
 * const Alice = Renewer.layer({ key: "alice", minTtl: "1 minute" })
 *
 * // needs an AuthenticationClient (for the strategy)
 * const AliceLive = Alice.pipe(Layer.provide([TokenStore.layerMemory, RenewalStrategy.refreshToken]))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options = {}): Layer.Layer<Renewer, never, TokenStore | RenewalStrategy> =>
  Layer.scoped(Renewer, make(options))
