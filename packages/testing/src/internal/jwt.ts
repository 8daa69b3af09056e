/**
 * HS256 JSON Web Tokens for the emulator: signing and verification with
 * `node:crypto`. Internal.
 */
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto"

/** @internal */
export type Claims = Readonly<Record<string, unknown>>

const encodeSegment = (value: unknown): string => Buffer.from(JSON.stringify(value), "utf8").toString("base64url")

const signature = (input: string, secret: string): Buffer => createHmac("sha256", secret).update(input).digest()

/** @internal */
export const sign = (claims: Claims, secret: string): string => {
  const input = `${encodeSegment({ alg: "HS256", typ: "JWT" })}.${encodeSegment(claims)}`
  return `${input}.${signature(input, secret).toString("base64url")}`
}

const base64UrlPattern = /^[A-Za-z0-9_-]*$/

const decodeSegment = (segment: string): unknown => {
  if (!base64UrlPattern.test(segment)) return undefined
  try {
    return JSON.parse(Buffer.from(segment, "base64url").toString("utf8"))
  } catch {
    return undefined
  }
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

/**
 * Verifies the signature of an HS256 token and returns its claims, or
 * `undefined` when the token is malformed or its signature does not match.
 *
 * @internal
 */
export const verify = (token: string, secret: string): Claims | undefined => {
  const parts = token.split(".")
  if (parts.length !== 3) return undefined
  const [header, payload, sig] = parts as [string, string, string]
  if (!base64UrlPattern.test(sig)) return undefined
  const decodedHeader = decodeSegment(header)
  if (!isRecord(decodedHeader) || decodedHeader.alg !== "HS256") return undefined
  const expected = signature(`${header}.${payload}`, secret)
  const actual = Buffer.from(sig, "base64url")
  if (actual.length !== expected.length || !timingSafeEqual(actual, expected)) return undefined
  const claims = decodeSegment(payload)
  return isRecord(claims) ? claims : undefined
}

/**
 * An opaque random string: 32 random bytes, base64url.
 *
 * @internal
 */
export const opaqueToken = (): string => randomBytes(32).toString("base64url")

/** @internal */
export const jwtId = (): string => randomBytes(12).toString("base64url")
