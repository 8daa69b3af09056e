/**
 * The result of Auth0's legacy `/delegation` endpoint: a new id_token.
 * `AuthenticationClient.delegationWithIdToken` and
 * `delegationWithRefreshToken` return it; `RenewalStrategy.delegation` turns
 * it into credentials.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import type { ExpiryOptions } from "./Credentials.js"
import { expiresAtOnReceipt, ExpiresIn, Token, TokenType } from "./Credentials.js"

/**
 * A delegation: a new id_token and when it expires (local receipt time plus
 * the lifetime the server gave, or the id_token's own expiry).
 *
 * @since 0.1.0
 * @category models
 */
export class Delegation extends Schema.Class<Delegation>("@effect-renewal/core/Delegation")({
  idToken: Token,
  tokenType: Schema.String,
  expiresAt: Schema.DateTimeUtc
}) {}

/**
 * The body of a successful `/delegation` response, snake_case on the wire.
 * `expires_in` may be missing: the id_token's `exp` then says when it
 * expires.
 *
 * @since 0.1.0
 * @category models
 */
export class DelegationResponse extends Schema.Class<DelegationResponse>("@effect-renewal/core/DelegationResponse")({
  idToken: Schema.propertySignature(Token).pipe(Schema.fromKey("id_token")),
  tokenType: Schema.propertySignature(TokenType).pipe(Schema.fromKey("token_type")),
  expiresIn: Schema.optional(ExpiresIn).pipe(Schema.fromKey("expires_in"))
}) {}

/**
 * Turns a delegation response into a {@link Delegation}, reading the receipt
 * time from the `Clock`; the expiry is `Credentials.expiresAtOnReceipt`'s,
 * from the id_token.
 *
 * @example
 * ```ts
 * import * as Delegation from "@effect-renewal/core/Delegation"
 * import * as Effect from "effect/Effect"
 * import * as Schema from "effect/Schema"
 *
 * const fromBody = (body: unknown) =>
 *   Schema.decodeUnknown(Delegation.DelegationResponse)(body).pipe(
 *     Effect.flatMap((response) => Delegation.fromResponse(response))
 *   )
 *
 * // expires 10 hours after it is received
 * const delegation = fromBody({ id_token: "a-new-id-token", token_type: "Bearer", expires_in: 36000 })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromResponse = (
  response: DelegationResponse,
  options?: ExpiryOptions
): Effect.Effect<Delegation> =>
  Effect.map(expiresAtOnReceipt(response.idToken, response.expiresIn, options), (expiresAt) =>
    new Delegation({
      idToken: response.idToken,
      tokenType: response.tokenType,
      expiresAt
    }))
