/**
 * Many users in one application (a server holding the credentials of many
 * users): valid credentials per session key, over one `TokenStore` and one
 * `RenewalStrategy`.
 *
 * Each key gets a `Renewer` when it is first asked for, with all that the
 * Renewer guarantees for its key (one renewal for concurrent callers, the
 * store's lock, the store read again before renewing); it is released when
 * no call has used it for `idleTimeToLive`. Renewals across all keys share
 * `maxConcurrentRenewals` permits: a burst of expiries never has more
 * requests open at once, and every session is still renewed, in turn.
 *
 * ```ts
 * import * as RenewalStrategy from "@effect-renewal/core/RenewalStrategy"
 * import * as Sessions from "@effect-renewal/core/Sessions"
 * import * as TokenStore from "@effect-renewal/core/TokenStore"
 * import * as Effect from "effect/Effect"
 * import * as Layer from "effect/Layer"
 *
 * const SessionsLive = Sessions.layer({ maxConcurrentRenewals: 8 }).pipe(
 *   Layer.provide([TokenStore.layerMemory, RenewalStrategy.refreshToken])
 * )
 *
 * const accessTokenOf = (userId: string) =>
 *   Effect.flatMap(Sessions.Sessions, (sessions) => sessions.get(userId)).pipe(
 *     Effect.map((credentials) => credentials.accessToken)
 *   )
 * ```
 *
 * @since 0.3.0
 */
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import type { RenewalFailed, RenewerError, StoreError } from "./AuthError.js"
import type { Credentials } from "./Credentials.js"
import * as internal from "./internal/sessions.js"
import type { RenewalStrategy } from "./RenewalStrategy.js"
import type * as Renewer from "./Renewer.js"
import type { TokenStore } from "./TokenStore.js"

/**
 * The credentials of many sessions (users), one `Renewer` per session key on
 * demand.
 *
 * @example
 * ```ts
 * import * as RenewalStrategy from "@effect-renewal/core/RenewalStrategy"
 * import * as Sessions from "@effect-renewal/core/Sessions"
 * import * as TokenStore from "@effect-renewal/core/TokenStore"
 * import * as Effect from "effect/Effect"
 * import * as Layer from "effect/Layer"
 *
 * // a server's sessions: at most 32 token requests at once across users
 * export const SessionsLive = Sessions.layer({ maxConcurrentRenewals: 32, idleTimeToLive: "5 minutes" }).pipe(
 *   Layer.provide([RenewalStrategy.refreshToken, TokenStore.layerMemory])
 * )
 *
 * export const accessTokenOf = (userId: string) =>
 *   Effect.map(Effect.flatMap(Sessions.Sessions, (sessions) => sessions.get(userId)), (c) => c.accessToken)
 * ```
 *
 * @since 0.3.0
 * @category tags
 */
export class Sessions extends Context.Tag("@effect-renewal/core/Sessions")<Sessions, Sessions.Service>() {}

/**
 * The types of the {@link Sessions} service.
 *
 * @since 0.3.0
 */
export declare namespace Sessions {
  /**
   * The `Renewer`'s methods, by session key (any string, see
   * `Renewer.Options.key`). After the service's scope is
   * closed, `get` and `clear` fail with `RenewalFailed` of reason
   * `Shutdown`; `save`, `hasValid` and `renewer` are interrupted.
   *
   * @since 0.3.0
   * @category models
   */
  export interface Service {
    /** `Renewer.get` for the session `key`. */
    readonly get: (key: string, options?: Renewer.GetOptions) => Effect.Effect<Credentials, RenewerError>
    /** `Renewer.save` for the session `key`: stores the credentials of a login. */
    readonly save: (key: string, credentials: Credentials) => Effect.Effect<void, StoreError>
    /** `Renewer.hasValid` for the session `key`; no request is made. */
    readonly hasValid: (
      key: string,
      minTtl?: Duration.DurationInput
    ) => Effect.Effect<boolean, StoreError | RenewalFailed>
    /** `Renewer.clear` for the session `key`: removes its credentials, revoking first with `revoke`. */
    readonly clear: (key: string, options?: Renewer.ClearOptions) => Effect.Effect<void, RenewerError>
    /**
     * The `Renewer` of the session `key`, the one the other methods use, held
     * (not released for idleness) while the scope is open.
     */
    readonly renewer: (key: string) => Effect.Effect<Renewer.Renewer.Service, never, Scope.Scope>
  }
}

/**
 * An option that cannot be used (not a positive integer, not a duration of
 * at least zero and at most 100 years) fails every `get` with `RenewalFailed`
 * of reason `InvalidRequest` naming it, as the `Renewer` does for its
 * `minTtl`; `save`, `hasValid` and `clear` go on, with the default in its
 * place.
 *
 * @since 0.3.0
 * @category models
 */
export interface Options {
  /**
   * How many renewals may be sending requests at once across all keys: 16
   * unless given. A renewal holds its permit from its first request to its
   * last, the policy's waits between retries included.
   */
  readonly maxConcurrentRenewals?: number | undefined
  /** How long a key's `Renewer` is kept after its last call ended: 1 minute unless given. */
  readonly idleTimeToLive?: Duration.DurationInput | undefined
  /** The `minTtl` of a `get` that does not give one: the `RenewalPolicy`'s unless given. */
  readonly minTtl?: Duration.DurationInput | undefined
  /**
   * Refresh ahead for every session while its renewer lives (see
   * `Renewer.Options.refreshAhead`); its renewals count against
   * `maxConcurrentRenewals`. An idle renewer is released, and its refresh
   * ahead with it.
   *
   * @since 0.3.0
   */
  readonly refreshAhead?: Renewer.RefreshAheadOptions | undefined
  /**
   * Stale-if-error for every session (see `Renewer.Options.staleIfError`).
   *
   * @since 0.3.0
   */
  readonly staleIfError?: Duration.DurationInput | undefined
}

/**
 * Sessions over the `TokenStore` and `RenewalStrategy` in context, with the
 * `RenewalPolicy` in force. The renewers and their renewals live in the given
 * scope; closing it closes them (each waits, bounded, for a request already
 * sent, as a `Renewer` does).
 *
 * @since 0.3.0
 * @category constructors
 */
export const make: (
  options?: Options
) => Effect.Effect<Sessions.Service, never, TokenStore | RenewalStrategy | Scope.Scope> = internal.make

/**
 * Provides {@link make}'s `Sessions` for the lifetime of the layer.
 *
 * @since 0.3.0
 * @category layers
 */
export const layer = (options: Options = {}): Layer.Layer<Sessions, never, TokenStore | RenewalStrategy> =>
  Layer.scoped(Sessions, make(options))
