/**
 * The credentials of a login, their wire form and their stored form.
 *
 * A login flow (the `Login` module's, or one of your own) ends with a token
 * response; decode it with {@link TokenResponse} and turn it into
 * {@link Credentials} with {@link fromTokenResponse}, which reads the receipt
 * time from the `Clock`. A start from a refresh token alone is
 * {@link fromRefreshToken}.
 *
 * @example
 * ```ts
 * import * as Credentials from "@effect-renewal/core/Credentials"
 * import * as Effect from "effect/Effect"
 * import * as Schema from "effect/Schema"
 *
 * // `body` is the JSON body of the token response that ended your login flow.
 * const fromLogin = (body: unknown) =>
 *   Effect.gen(function*() {
 *     const response = yield* Schema.decodeUnknown(Credentials.TokenResponse)(body)
 *     // expiresAt = now (Clock) + expires_in; the scope is the one renewals will ask for
 *     return yield* Credentials.fromTokenResponse(response)
 *   })
 *
 * const credentials = fromLogin({
 *   access_token: "an-access-token",
 *   refresh_token: "a-refresh-token",
 *   token_type: "Bearer",
 *   expires_in: 86400,
 *   scope: "openid profile offline_access"
 * })
 * ```
 *
 * @since 0.1.0
 */
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import { LoginRequired } from "./AuthError.js"
import { DpopKey } from "./Dpop.js"
import * as Scope from "./internal/scope.js"
import * as Jwt from "./Jwt.js"

/**
 * The token types this library can use, each in its canonical spelling:
 * `Bearer` (RFC 6750) and `DPoP` (RFC 9449, a token bound to a key: usable
 * only with the key, which the credentials carry in `dpop`).
 *
 * @since 0.2.0
 * @category models
 */
export type UsableTokenType = "Bearer" | "DPoP"

const usableTokenTypes: Readonly<Record<string, UsableTokenType>> = { bearer: "Bearer", dpop: "DPoP" }

/**
 * A token's type as the server names it, compared case-insensitively:
 * `Bearer` in any spelling decodes to `"Bearer"`, `DPoP` to `"DPoP"`. Any
 * other type (`MAC`, `N_A`, ...) fails to decode: a token of a type the
 * library cannot present would be sent as something it is not. The
 * `AuthenticationClient` refuses a `DPoP` token issued to a request that
 * carried no DPoP proof.
 *
 * @example
 * ```ts
 * import * as Credentials from "@effect-renewal/core/Credentials"
 * import * as Either from "effect/Either"
 * import * as Schema from "effect/Schema"
 *
 * const decode = Schema.decodeUnknownEither(Credentials.TokenType)
 * console.log(decode("bearer")) // { _tag: "Right", right: "Bearer" }
 * console.log(decode("dpop")) // { _tag: "Right", right: "DPoP" }
 * console.log(Either.isLeft(decode("MAC"))) // true
 * ```
 *
 * @since 0.1.0
 * @category schemas
 */
export const TokenType: Schema.Schema<UsableTokenType, string> = Schema.transformOrFail(
  Schema.NonEmptyTrimmedString,
  Schema.Literal("Bearer", "DPoP"),
  {
    strict: true,
    decode: (s, _, ast) => {
      const usable = usableTokenTypes[s.toLowerCase()]
      return usable === undefined
        ? ParseResult.fail(new ParseResult.Type(ast, s, "a token type this library can use: Bearer or DPoP"))
        : ParseResult.succeed(usable)
    },
    encode: ParseResult.succeed
  }
)

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
 * @example
 * ```ts
 * import * as Credentials from "@effect-renewal/core/Credentials"
 * import * as DateTime from "effect/DateTime"
 * import * as Duration from "effect/Duration"
 * import * as Effect from "effect/Effect"
 * import * as Redacted from "effect/Redacted"
 *
 * const program = Effect.gen(function*() {
 *   const now = yield* DateTime.now
 *   const credentials = new Credentials.Credentials({
 *     accessToken: Redacted.make("an-access-token"),
 *     refreshToken: Redacted.make("a-refresh-token"),
 *     tokenType: "Bearer",
 *     expiresAt: DateTime.add(now, { minutes: 10 }),
 *     scope: "openid offline_access"
 *   })
 *   console.log(Duration.format(credentials.ttl(now))) // "10m"
 *   console.log(credentials.isValidAt(now, "5 minutes")) // true
 *   console.log(credentials.isValidAt(now, "15 minutes")) // false
 *   console.log(String(credentials.accessToken)) // "<redacted>"
 * })
 *
 * Effect.runPromise(program)
 * ```
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
  scope: Schema.optionalWith(Schema.String, { exact: true }),
  /**
   * The DPoP key (RFC 9449) the tokens are bound to, for credentials of a
   * login with `dpop: true`: renewals, API credentials and the
   * `AuthorizedClient` sign their proofs with it. Stored with the
   * credentials (the private key in plain text in the JSON form: encrypt
   * the store with `TokenCodec.encrypted`); never shown by `toString`,
   * `toJSON` or `inspect`. Entries stored before have none.
   *
   * @since 0.5.0
   */
  dpop: Schema.optionalWith(DpopKey, { exact: true })
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
 * on the wire. `expires_in` is only RECOMMENDED (RFC 6749, 5.1): see
 * {@link expiresAtOnReceipt} for the expiry of a response without it.
 *
 * @since 0.1.0
 * @category models
 */
export class TokenResponse extends Schema.Class<TokenResponse>("@effect-renewal/core/TokenResponse")({
  accessToken: Schema.propertySignature(Token).pipe(Schema.fromKey("access_token")),
  idToken: Schema.optional(Token).pipe(Schema.fromKey("id_token")),
  refreshToken: Schema.optional(Token).pipe(Schema.fromKey("refresh_token")),
  tokenType: Schema.propertySignature(TokenType).pipe(Schema.fromKey("token_type")),
  expiresIn: Schema.optional(ExpiresIn).pipe(Schema.fromKey("expires_in")),
  scope: Schema.optional(Schema.String)
}) {}

/**
 * The lifetime given to a token whose response has no `expires_in` and that
 * is not a JWT with an `exp`: 5 minutes. Short on purpose: the server did not
 * say how long the token lives, and a guess too long would hand out a token
 * the server already refuses, while one too short costs only an early
 * renewal.
 *
 * @since 0.2.0
 * @category constants
 */
export const defaultExpiresIn: Duration.Duration = Duration.minutes(5)

/**
 * How the expiry of a token that states no lifetime is chosen: the options of
 * {@link expiresAtOnReceipt}, {@link fromTokenResponse} and
 * `Delegation.fromResponse`.
 *
 * @since 0.2.0
 * @category models
 */
export interface ExpiryOptions {
  /**
   * The lifetime of a token that states none ({@link defaultExpiresIn} unless
   * given); kept between zero and a century.
   */
  readonly defaultExpiresIn?: Duration.DurationInput | undefined
}

const maxLifetime = Duration.seconds(maxExpiresIn)

const clampLifetime = (input: Duration.DurationInput | undefined): Duration.Duration =>
  Option.match(input === undefined ? Option.none() : Duration.decodeUnknown(input), {
    onNone: () => defaultExpiresIn,
    onSome: (duration) => Duration.clamp(duration, { minimum: Duration.zero, maximum: maxLifetime })
  })

/**
 * When a token received now expires, reading the receipt time from the
 * `Clock`: the receipt time plus `expiresIn` when the server gave one; else
 * the token's own `exp` when it is a JWT (read without checking its
 * signature, see `Jwt.expiresAtOnReceipt`); else the receipt time plus the
 * default lifetime.
 *
 * @since 0.2.0
 * @category constructors
 */
export const expiresAtOnReceipt = (
  token: Redacted.Redacted<string>,
  expiresIn: number | undefined,
  options?: ExpiryOptions
): Effect.Effect<DateTime.Utc> =>
  Effect.gen(function*() {
    const now = yield* DateTime.now
    if (expiresIn !== undefined) return DateTime.addDuration(now, Duration.seconds(expiresIn))
    const claims = yield* Effect.option(Jwt.decode(token))
    return claims.pipe(
      Option.flatMap((claims) => Jwt.expiresAtOnReceipt(claims, now)),
      Option.getOrElse(() => DateTime.addDuration(now, clampLifetime(options?.defaultExpiresIn)))
    )
  })

/**
 * Turns a token response into credentials, reading the receipt time from the
 * `Clock` (the expiry is {@link expiresAtOnReceipt}'s, from the access
 * token). `scope` is the response's, if it has one: the `Renewer` decides
 * what a renewal without one stands for.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromTokenResponse = (response: TokenResponse, options?: ExpiryOptions): Effect.Effect<Credentials> =>
  Effect.map(expiresAtOnReceipt(response.accessToken, response.expiresIn, options), (expiresAt) => {
    const scope = response.scope
    // the fields were validated when the response was decoded
    return new Credentials({
      accessToken: response.accessToken,
      tokenType: response.tokenType,
      expiresAt,
      ...(response.idToken === undefined ? {} : { idToken: response.idToken }),
      ...(response.refreshToken === undefined ? {} : { refreshToken: response.refreshToken }),
      ...(scope === undefined ? {} : { scope })
    }, true)
  })

/**
 * The access token of credentials made by {@link fromRefreshToken}: not a
 * token, and expired since 1970, so that nothing hands it out.
 *
 * @since 0.4.0
 * @category constants
 */
export const noAccessToken = "effect-renewal:no-access-token"

/**
 * Credentials from a refresh token alone (a migration from another library,
 * an admin tool, a refresh token issued elsewhere), for the `Renewer` or
 * `Sessions` to save: the first `get` renews them before it hands anything
 * out. `scope` is the scope the renewals ask for (the refresh token's own
 * when absent).
 *
 * Their access token is {@link noAccessToken}, expired at the epoch: every
 * `get` renews first, whatever its `minTtl`; stale-if-error never serves
 * credentials past their expiry. A renewal that fails because the server
 * rejects the refresh token leaves nothing usable: the next `get` is a
 * `LoginRequired`. An empty refresh token fails with `LoginRequired` of
 * reason `NoRefreshToken`.
 *
 * @example
 * ```ts
 * import * as Credentials from "@effect-renewal/core/Credentials"
 * import * as Renewer from "@effect-renewal/core/Renewer"
 * import * as DateTime from "effect/DateTime"
 * import * as Effect from "effect/Effect"
 * import * as Redacted from "effect/Redacted"
 *
 * // A refresh token from elsewhere: save it, and the first get renews.
 * const adopt = (refreshToken: Redacted.Redacted<string>) =>
 *   Effect.gen(function*() {
 *     const renewer = yield* Renewer.Renewer
 *     yield* renewer.save(yield* Credentials.fromRefreshToken(refreshToken, { scope: "openid offline_access" }))
 *     return yield* renewer.get() // a request to the token endpoint, then valid credentials
 *   })
 *
 * const credentials = Effect.runSync(Credentials.fromRefreshToken(Redacted.make("a-refresh-token")))
 * console.log(credentials.isValidAt(DateTime.unsafeNow())) // false: a get renews them first
 * ```
 *
 * @since 0.4.0
 * @category constructors
 */
export const fromRefreshToken = (
  refreshToken: Redacted.Redacted<string>,
  options?: {
    readonly scope?: string | undefined
    /**
     * The DPoP key the refresh token is bound to (`Dpop.fromJwk` restores
     * one): renewals prove it. Without it, a bound refresh token is refused
     * by the server.
     *
     * @since 0.5.0
     */
    readonly dpop?: DpopKey | undefined
  }
): Effect.Effect<Credentials, LoginRequired> =>
  Effect.suspend(() => {
    if (Redacted.value(refreshToken).length === 0) {
      return Effect.fail(new LoginRequired({ reason: "NoRefreshToken", description: "the refresh token is empty" }))
    }
    const scope = options?.scope
    const dpop = options?.dpop
    return Effect.succeed(
      new Credentials({
        accessToken: Redacted.make(noAccessToken),
        refreshToken,
        tokenType: dpop === undefined ? "Bearer" : "DPoP",
        expiresAt: DateTime.unsafeMake(0),
        ...(scope === undefined ? {} : { scope }),
        ...(dpop === undefined ? {} : { dpop })
      }, true)
    )
  })

/**
 * Credentials after a renewal: the new ones, keeping the previous refresh
 * token (and id_token, and DPoP key) when the response did not bring one. The scope is the
 * new credentials' own.
 *
 * @example
 * ```ts
 * import * as Credentials from "@effect-renewal/core/Credentials"
 * import * as DateTime from "effect/DateTime"
 * import * as Redacted from "effect/Redacted"
 *
 * const expiresAt = DateTime.unsafeMake("2030-01-01T00:00:00Z")
 * const previous = new Credentials.Credentials({
 *   accessToken: Redacted.make("old-access-token"),
 *   refreshToken: Redacted.make("the-refresh-token"),
 *   tokenType: "Bearer",
 *   expiresAt
 * })
 * // the server did not rotate the refresh token: the answer has none
 * const next = new Credentials.Credentials({
 *   accessToken: Redacted.make("new-access-token"),
 *   tokenType: "Bearer",
 *   expiresAt: DateTime.add(expiresAt, { hours: 1 })
 * })
 *
 * const renewed = Credentials.merge(previous, next)
 * console.log(Redacted.value(renewed.accessToken)) // "new-access-token"
 * console.log(renewed.refreshToken && Redacted.value(renewed.refreshToken)) // "the-refresh-token"
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const merge = (previous: Credentials, next: Credentials): Credentials => {
  const refreshToken = next.refreshToken ?? previous.refreshToken
  const idToken = next.idToken ?? previous.idToken
  const dpop = next.dpop ?? previous.dpop
  const scope = next.scope
  // both sides are valid credentials already: no need to validate again
  return new Credentials({
    accessToken: next.accessToken,
    tokenType: next.tokenType,
    expiresAt: next.expiresAt,
    ...(idToken === undefined ? {} : { idToken }),
    ...(refreshToken === undefined ? {} : { refreshToken }),
    ...(scope === undefined ? {} : { scope }),
    ...(dpop === undefined ? {} : { dpop })
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
 * Encodes credentials to their stored form, {@link StoredJson}; the inverse of
 * {@link decodeJson}.
 *
 * @example
 * ```ts
 * import * as Credentials from "@effect-renewal/core/Credentials"
 * import * as DateTime from "effect/DateTime"
 * import * as Effect from "effect/Effect"
 * import * as Equal from "effect/Equal"
 * import * as Redacted from "effect/Redacted"
 *
 * const credentials = new Credentials.Credentials({
 *   accessToken: Redacted.make("an-access-token"),
 *   tokenType: "Bearer",
 *   expiresAt: DateTime.unsafeMake("2030-01-01T00:00:00Z")
 * })
 *
 * const roundTrip = Effect.gen(function*() {
 *   const json = yield* Credentials.encodeJson(credentials)
 *   const decoded = yield* Credentials.decodeJson(json)
 *   console.log(Equal.equals(decoded.expiresAt, credentials.expiresAt)) // true
 *   console.log(Redacted.value(decoded.accessToken)) // "an-access-token"
 * })
 *
 * Effect.runPromise(roundTrip)
 * ```
 *
 * @since 0.1.0
 * @category codecs
 */
export const encodeJson = (credentials: Credentials): Effect.Effect<string, ParseResult.ParseError> =>
  Effect.suspend(() => encodeStored(credentials))

const encodeStored = Schema.encode(StoredJson)

/**
 * Decodes credentials from their stored form, {@link StoredJson}; fails with
 * a `ParseError` for a string that is not one (whose message may quote the
 * input: do not log it as is).
 *
 * @since 0.1.0
 * @category codecs
 */
export const decodeJson: (json: string) => Effect.Effect<Credentials, ParseResult.ParseError> = Schema.decode(
  StoredJson
)

/**
 * Scopes compared as sets: `"openid email"` equals `"email  openid"`.
 *
 * @example
 * ```ts
 * import * as Credentials from "@effect-renewal/core/Credentials"
 *
 * console.log(Credentials.sameScope("openid email", "email  openid")) // true
 * console.log(Credentials.sameScope("openid email", "openid")) // false
 * console.log(Array.from(Credentials.scopeSet("openid email openid"))) // ["openid", "email"]
 * ```
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
