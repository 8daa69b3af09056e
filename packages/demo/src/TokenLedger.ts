/**
 * Every token value the demo issued or saw, kept so that the final self-check
 * can prove none of them reached the output. Tokens are shown only as
 * fingerprints: the first 6 hex digits of their SHA-256.
 */
import type { Credentials } from "@effect-renewal/core/Credentials"
import * as HttpClient from "@effect/platform/HttpClient"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import { createHash } from "node:crypto"

type Secret = string | Redacted.Redacted<string | Uint8Array> | undefined

const reveal = (secret: Secret): string | undefined => {
  if (secret === undefined) return undefined
  const value = Redacted.isRedacted(secret) ? Redacted.value(secret) : secret
  return typeof value === "string" ? value : Buffer.from(value).toString("base64url")
}

/** `#` and the first 6 hex digits of the token's SHA-256, or `none`. */
export const fingerprint = (token: Redacted.Redacted<string> | undefined): string => {
  const value = reveal(token)
  return value === undefined ? "none" : `#${createHash("sha256").update(value).digest("hex").slice(0, 6)}`
}

/** The secret values of the wire bodies the client receives (tokens, and the device flow's device code). */
const tokenFields = ["access_token", "id_token", "refresh_token", "device_code"] as const

export class TokenLedger extends Effect.Service<TokenLedger>()("@effect-renewal/demo/TokenLedger", {
  sync: () => {
    const values = new Set<string>()
    const add = (...secrets: ReadonlyArray<Secret>): void => {
      for (const secret of secrets) {
        const value = reveal(secret)
        if (value !== undefined && value.length > 0) values.add(value)
      }
    }
    const addBody = (text: string): void => {
      let body: unknown
      try {
        body = JSON.parse(text)
      } catch {
        return
      }
      if (typeof body !== "object" || body === null) return
      for (const field of tokenFields) {
        const value = (body as Record<string, unknown>)[field]
        if (typeof value === "string") add(value)
      }
    }
    return {
      /** Remembers secrets (tokens, key material) that must never be printed. */
      add: (...secrets: ReadonlyArray<Secret>) => Effect.sync(() => add(...secrets)),
      /** Remembers the tokens of credentials. */
      addCredentials: (credentials: Credentials) =>
        Effect.sync(() => add(credentials.accessToken, credentials.idToken, credentials.refreshToken)),
      /**
       * The client, remembering every token of every response body it
       * receives: all that the server issued over HTTP is in the ledger.
       */
      observe: (client: HttpClient.HttpClient): HttpClient.HttpClient =>
        HttpClient.transformResponse(
          client,
          Effect.tap((response) =>
            // `text` is cached by the response: the reader after us gets the same body.
            Effect.ignore(Effect.map(response.text, addBody))
          )
        ),
      /** Whether every one of `secrets` (those defined) is remembered. */
      knows: (...secrets: ReadonlyArray<Secret>) =>
        Effect.sync(() =>
          secrets.every((secret) => {
            const value = reveal(secret)
            return value === undefined || values.has(value)
          })
        ),
      /** The lines that contain a remembered value (the lines, never the values). */
      leaks: (lines: ReadonlyArray<string>) =>
        Effect.sync(() => {
          const leaking: Array<number> = []
          lines.forEach((line, index) => {
            for (const value of values) {
              if (line.includes(value)) {
                leaking.push(index)
                return
              }
            }
          })
          return { values: values.size, leakingLines: leaking }
        })
    }
  }
}) {}
