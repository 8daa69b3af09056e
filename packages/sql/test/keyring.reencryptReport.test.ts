/**
 * The re-encryption report names a row it left as it was without its
 * session key, in `entry` and in the `StoreError` beside it, although the
 * error may come from a key learnt from the decrypted entry (hashed mode)
 * or read from the row (clear mode), as the docs promise.
 */
import * as TokenCodec from "@effect-renewal/core/TokenCodec"
import { TokenStore } from "@effect-renewal/core/TokenStore"
import { SqlTokenStore } from "@effect-renewal/sql"
import { describe, expect, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Encoding from "effect/Encoding"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import { backends, credentials, rawClient } from "./support.js"

const rawKey = () => Encoding.encodeBase64Url(globalThis.crypto.getRandomValues(new Uint8Array(32)))
const [k1, k2] = [rawKey(), rawKey()]
const entry = (id: string, key: string) => ({ id, key: Redacted.make<string | Uint8Array>(key) })

const sqlite = backends[0]

for (const mode of ["hashed", "clear"] as const) {
  const options: SqlTokenStore.Options = mode === "hashed"
    ? { hashSessionKeys: Redacted.make<string | Uint8Array>(rawKey()) }
    : {}
  describe(`SqlTokenStore re-encryption report, session keys ${mode}`, () => {
    it.scopedLive("a moved row's failure names neither in its entry nor in its error the session key", () =>
      Effect.gen(function*() {
        const db = yield* sqlite.database(`keyring_report_${Math.random().toString(36).slice(2, 8)}`)
        const open = (codec: TokenCodec.TokenCodec.Service) =>
          Layer.build(
            SqlTokenStore.layer({ tablePrefix: db.prefix, ...options }).pipe(
              Layer.provide(db.client()),
              Layer.provide(Layer.succeed(TokenCodec.TokenCodec, codec))
            )
          ).pipe(Effect.map(Context.get(TokenStore)))
        const email = "alice.liddell@example.com"
        const s1 = yield* open(yield* TokenCodec.encrypted({ current: "k1", keys: [entry("k1", k1)] }))
        yield* s1.set(email, credentials("alice"))
        yield* s1.set("bob", credentials("bob"))
        // an operator restores a row into the wrong place (or an attacker copies it)
        const sql = yield* rawClient(db)
        const table = sql(`${db.prefix}_entries`)
        const rows = yield* sql<{ session_key: string; value: string }>`SELECT session_key, value FROM ${table}`
        const alice = rows.find((row) => row.value !== null && (mode === "hashed" || row.session_key === email))!
        yield* sql`UPDATE ${table} SET value = ${alice.value} WHERE session_key <> ${alice.session_key}`
        const s2 = yield* open(
          yield* TokenCodec.encrypted({ current: "k2", keys: [entry("k1", k1), entry("k2", k2)] })
        )
        const summary = yield* s2.reencrypt!()
        expect(summary.failed).toHaveLength(1)
        const [failure] = summary.failed
        expect(failure.error.description).toMatch(/moved or copied|another session key/)
        expect(failure.error.key).toBe(failure.entry)
        for (const text of [failure.entry, failure.error.key, failure.error.message, JSON.stringify(failure)]) {
          expect(text).not.toContain(email)
          expect(text).not.toContain("bob")
        }
      }))
  })
}
