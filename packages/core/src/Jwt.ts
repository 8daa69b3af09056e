/**
 * Reading the claims of a JWT, without checking its signature: enough to know
 * when an id_token expires. Never use it to trust a token.
 *
 * @example
 * ```ts
 * import * as Jwt from "@effect-renewal/core/Jwt"
 * import * as DateTime from "effect/DateTime"
 * import * as Effect from "effect/Effect"
 *
 * // header.payload.signature, the payload {"sub":"user-1","iat":1700000000,"exp":1700003600}
 * const token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1c2VyLTEiLCJpYXQiOjE3MDAwMDAwMDAsImV4cCI6MTcwMDAwMzYwMH0.c2ln"
 *
 * const program = Effect.gen(function*() {
 *   const claims = yield* Jwt.decode(token)
 *   console.log(claims.sub) // "user-1"
 *   const now = DateTime.unsafeMake("2023-11-14T22:30:00Z")
 *   console.log(Jwt.isExpired(claims, now)) // false
 *   console.log(Jwt.isExpired(claims, now, "1 hour")) // true
 * })
 *
 * Effect.runPromise(program)
 * ```
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Encoding from "effect/Encoding"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"

/**
 * A JWT could not be read. The description never contains the token.
 *
 * @since 0.1.0
 * @category errors
 */
export class JwtError extends Data.TaggedError("JwtError")<{
  readonly description: string
}> {
  /**
   * A one-line description of the error, without the token.
   *
   * @since 0.1.0
   */
  override get message(): string {
    return `Invalid JWT: ${this.description}`
  }
}

const NumericDate = Schema.Number.pipe(Schema.finite())

/**
 * The registered claims this library reads; other claims are kept as they
 * are.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Claims = Schema.Struct(
  {
    exp: Schema.optional(NumericDate),
    iat: Schema.optional(NumericDate),
    nbf: Schema.optional(NumericDate),
    sub: Schema.optional(Schema.String),
    iss: Schema.optional(Schema.String),
    aud: Schema.optional(Schema.Union(Schema.String, Schema.Array(Schema.String)))
  },
  Schema.Record({ key: Schema.String, value: Schema.Unknown })
)

/**
 * The claims of a JWT, as {@link Claims} decodes them.
 *
 * @since 0.1.0
 * @category models
 */
export type Claims = typeof Claims.Type

const decodeClaims = Schema.decodeUnknownEither(Claims)

const fail = (description: string) => Effect.fail(new JwtError({ description }))

/**
 * Decodes the claims of a compact JWS (`header.payload.signature`). A token
 * that is not three base64url parts, or whose payload is not a JSON object
 * with well-typed registered claims, fails with a {@link JwtError}.
 *
 * @example
 * ```ts
 * import * as Jwt from "@effect-renewal/core/Jwt"
 * import * as Effect from "effect/Effect"
 *
 * const program = Effect.gen(function*() {
 *   const error = yield* Effect.flip(Jwt.decode("not-a-jwt"))
 *   console.log(error.message) // "Invalid JWT: expected 3 parts, got 1"
 * })
 *
 * Effect.runPromise(program)
 * ```
 *
 * @since 0.1.0
 * @category decoding
 */
export const decode = (token: Redacted.Redacted<string> | string): Effect.Effect<Claims, JwtError> =>
  Effect.suspend(() => {
    const value = typeof token === "string" ? token : Redacted.value(token)
    const parts = value.split(".")
    if (parts.length !== 3) return fail(`expected 3 parts, got ${parts.length}`)
    const payload = Encoding.decodeBase64UrlString(parts[1]!)
    if (Either.isLeft(payload)) return fail("payload is not base64url")
    let json: unknown
    try {
      json = JSON.parse(payload.right)
    } catch {
      return fail("payload is not JSON")
    }
    if (typeof json !== "object" || json === null || Array.isArray(json)) return fail("payload is not a JSON object")
    const claims = decodeClaims(json)
    if (Either.isLeft(claims)) return fail("a registered claim has the wrong type")
    return Effect.succeed(claims.right)
  })

/**
 * When the token expires, from its `exp` claim.
 *
 * @since 0.1.0
 * @category getters
 */
export const expiresAt = (claims: Claims): Option.Option<DateTime.Utc> =>
  claims.exp === undefined ? Option.none() : DateTime.make(claims.exp * 1000)

const maxLifetimeMillis = 100 * 365 * 24 * 3600 * 1000

/**
 * When a token received at `receivedAt` expires by its claims: its `exp`,
 * but never later than `receivedAt` plus the lifetime the token states
 * (`exp - iat`), so that a server clock running ahead of ours does not
 * lengthen it. `None` without `exp`, or with one more than a century ahead:
 * the caller then needs another source (an `expires_in`, a default
 * lifetime).
 *
 * @since 0.2.0
 * @category getters
 */
export const expiresAtOnReceipt = (claims: Claims, receivedAt: DateTime.Utc): Option.Option<DateTime.Utc> => {
  if (claims.exp === undefined) return Option.none()
  const received = DateTime.toEpochMillis(receivedAt)
  let millis = claims.exp * 1000
  if (claims.iat !== undefined) millis = Math.min(millis, received + (claims.exp - claims.iat) * 1000)
  if (!Number.isFinite(millis) || millis - received > maxLifetimeMillis) return Option.none()
  return DateTime.make(millis)
}

/**
 * Whether the token has expired at `now`, counting `leeway` (time the token
 * must still have left) against it. A token without `exp` never expires.
 *
 * @since 0.1.0
 * @category predicates
 */
export const isExpired = (claims: Claims, now: DateTime.Utc, leeway: Duration.DurationInput = Duration.zero): boolean =>
  Option.match(expiresAt(claims), {
    onNone: () => false,
    onSome: (exp) => DateTime.toEpochMillis(exp) - Duration.toMillis(leeway) <= DateTime.toEpochMillis(now)
  })
