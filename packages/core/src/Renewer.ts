/**
 * The engine: hands out valid credentials for one session key, renewing them
 * when needed, once for all concurrent callers.
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
import type { RenewerError, StoreError } from "./AuthError.js"
import type { Credentials } from "./Credentials.js"
import * as internal from "./internal/renewer.js"
import type { RenewalStrategy } from "./RenewalStrategy.js"
import type { TokenStore } from "./TokenStore.js"

/**
 * @since 0.1.0
 * @category tags
 */
export class Renewer extends Context.Tag("@effect-renewal/core/Renewer")<Renewer, Renewer.Service>() {}

/**
 * @since 0.1.0
 */
export declare namespace Renewer {
  /**
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
     */
    readonly hasValid: (minTtl?: Duration.DurationInput) => Effect.Effect<boolean, StoreError>
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
}

/**
 * @since 0.2.0
 * @category models
 */
export interface ClearOptions {
  /** Revoke the refresh token at the server first. */
  readonly revoke?: boolean | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The session key in the `TokenStore`: `"default"` unless given. */
  readonly key?: string | undefined
  /** The `minTtl` of a `get` that does not give one: the policy's unless given. */
  readonly minTtl?: Duration.DurationInput | undefined
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
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options = {}): Layer.Layer<Renewer, never, TokenStore | RenewalStrategy> =>
  Layer.scoped(Renewer, make(options))
