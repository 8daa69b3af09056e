/**
 * The credentials of a login, their wire form and their stored form.
 *
 * @since 0.1.0
 */
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import * as Scope from "./internal/scope.js"

/**
 * A token's type, compared case-insensitively: any spelling of `bearer`
 * decodes to `"Bearer"`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const TokenType: Schema.transform<typeof Schema.NonEmptyTrimmedString, typeof Schema.String> = Schema
  .transform(Schema.NonEmptyTrimmedString, Schema.String, {
    strict: true,
    decode: (s) => s.toLowerCase() === "bearer" ? "Bearer" : s,
    encode: (s) => s
  })

const maxExpiresIn = 100 * 365 * 24 * 3600

/**
 * A lifetime in seconds: a finite, non-negative number (at most a century, so
 * that the expiry stays a valid date), or a string holding one.
 *
 * @since 0.1.0
 * @category schemas
 */
export const ExpiresIn: Schema.Schema<number, number | string> = Schema.Union(
  Schema.Number,
  Schema.NumberFromString
).pipe(Schema.finite(), Schema.nonNegative(), Schema.lessThanOrEqualTo(maxExpiresIn))

/**
 * A token as it travels: a non-empty string, `Redacted` once decoded.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Token: Schema.Redacted<typeof Schema.NonEmptyString> = Schema.Redacted(Schema.NonEmptyString)

/**
 * The credentials of a login. Tokens are `Redacted`; `expiresAt` is the local
 * time of receipt plus the lifetime the server gave, so a server's clock skew
 * does not matter.
 *
 * @since 0.1.0
 * @category models
 */
export class Credentials extends Schema.Class<Credentials>("@effect-renewal/core/Credentials")({
  accessToken: Token,
  idToken: Schema.optionalWith(Token, { exact: true }),
  refreshToken: Schema.optionalWith(Token, { exact: true }),
  tokenType: Schema.String,
  expiresAt: Schema.DateTimeUtc,
  scope: Schema.optionalWith(Schema.String, { exact: true })
}) {
  /**
   * The time left until `expiresAt`, zero when expired.
   *
   * @since 0.1.0
   */
  ttl(now: DateTime.Utc): Duration.Duration {
    const millis = DateTime.toEpochMillis(this.expiresAt) - DateTime.toEpochMillis(now)
    return millis > 0 ? Duration.millis(millis) : Duration.zero
  }

  /**
   * Whether the credentials are valid at `now` for at least `minTtl` more.
   *
   * @since 0.1.0
   */
  isValidAt(now: DateTime.Utc, minTtl: Duration.DurationInput = Duration.zero): boolean {
    return DateTime.toEpochMillis(this.expiresAt) - Duration.toMillis(minTtl) > DateTime.toEpochMillis(now)
  }
}

/**
 * The body of a successful token response (`POST /oauth/token`), snake_case
 * on the wire.
 *
 * @since 0.1.0
 * @category models
 */
export class TokenResponse extends Schema.Class<TokenResponse>("@effect-renewal/core/TokenResponse")({
  accessToken: Schema.propertySignature(Token).pipe(Schema.fromKey("access_token")),
  idToken: Schema.optional(Token).pipe(Schema.fromKey("id_token")),
  refreshToken: Schema.optional(Token).pipe(Schema.fromKey("refresh_token")),
  tokenType: Schema.propertySignature(TokenType).pipe(Schema.fromKey("token_type")),
  expiresIn: Schema.propertySignature(ExpiresIn).pipe(Schema.fromKey("expires_in")),
  scope: Schema.optional(Schema.String)
}) {}

/**
 * Turns a token response into credentials, reading the receipt time from the
 * `Clock`. `scope` is the response's, if it has one: the `Renewer` decides
 * what a renewal without one stands for.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromTokenResponse = (response: TokenResponse): Effect.Effect<Credentials> =>
  Effect.map(DateTime.now, (now) => {
    const scope = response.scope
    // the fields were validated when the response was decoded
    return new Credentials({
      accessToken: response.accessToken,
      tokenType: response.tokenType,
      expiresAt: DateTime.addDuration(now, Duration.seconds(response.expiresIn)),
      ...(response.idToken === undefined ? {} : { idToken: response.idToken }),
      ...(response.refreshToken === undefined ? {} : { refreshToken: response.refreshToken }),
      ...(scope === undefined ? {} : { scope })
    }, true)
  })

/**
 * Credentials after a renewal: the new ones, keeping the previous refresh
 * token (and id_token) when the response did not bring one. The scope is the
 * new credentials' own.
 *
 * @since 0.1.0
 * @category combinators
 */
export const merge = (previous: Credentials, next: Credentials): Credentials => {
  const refreshToken = next.refreshToken ?? previous.refreshToken
  const idToken = next.idToken ?? previous.idToken
  const scope = next.scope
  // both sides are valid credentials already: no need to validate again
  return new Credentials({
    accessToken: next.accessToken,
    tokenType: next.tokenType,
    expiresAt: next.expiresAt,
    ...(idToken === undefined ? {} : { idToken }),
    ...(refreshToken === undefined ? {} : { refreshToken }),
    ...(scope === undefined ? {} : { scope })
  }, true)
}

/**
 * The stored form: credentials as a JSON string, tokens in plain text (wrap a
 * persistent store with the encrypted codec to keep them secret at rest).
 *
 * @since 0.1.0
 * @category schemas
 */
export const StoredJson: Schema.Schema<Credentials, string> = Schema.parseJson(Credentials)

/**
 * @since 0.1.0
 * @category codecs
 */
export const encodeJson = (credentials: Credentials): Effect.Effect<string, ParseResult.ParseError> =>
  Effect.suspend(() => encodeStored(credentials))

const encodeStored = Schema.encode(StoredJson)

/**
 * @since 0.1.0
 * @category codecs
 */
export const decodeJson: (json: string) => Effect.Effect<Credentials, ParseResult.ParseError> = Schema.decode(
  StoredJson
)

/**
 * Scopes compared as sets: `"openid email"` equals `"email  openid"`.
 *
 * @since 0.1.0
 * @category utils
 */
export const sameScope: (a: string | undefined, b: string | undefined) => boolean = Scope.same

/**
 * The names of a scope, each once.
 *
 * @since 0.1.0
 * @category utils
 */
export const scopeSet = (scope: string | undefined): ReadonlySet<string> => new Set(Scope.names(scope))
