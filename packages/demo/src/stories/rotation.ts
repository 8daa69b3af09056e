/**
 * 1. Renewal with rotation: past expiry, `get()` renews with the refresh
 * token, which the server rotates; the SQLite store keeps the new one,
 * encrypted.
 */
import * as RenewalStrategy from "@effect-renewal/core/RenewalStrategy"
import * as TokenStore from "@effect-renewal/core/TokenStore"
import * as FileSystem from "@effect/platform/FileSystem"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import { say } from "../Narrator.js"
import { counters, describeTokens, logIn, sameToken, Stage, type Story, untilExpired, withRenewer } from "../Stage.js"
import { fingerprint } from "../TokenLedger.js"

const key = "alice"

export const rotation: Story = {
  title: "Renewal with refresh-token rotation",
  name: "rotation",
  expected: "refresh rotated, no token in the database",
  run: (check) =>
    withRenewer(key, RenewalStrategy.refreshToken, (renewer) =>
      Effect.gen(function*() {
        const login = yield* logIn(renewer)
        yield* say(`   Alice logs in (session "${key}"): ${describeTokens(login)}.`)
        yield* untilExpired(login)

        const before = yield* counters
        const renewed = yield* renewer.get()
        const after = yield* counters
        const requests = after.requests.token - before.requests.token
        yield* say(`   renewer.get() renewed: ${describeTokens(renewed)}.`)
        yield* check(requests === 1, `one POST /oauth/token (counted ${requests})`)
        yield* check(
          !sameToken(renewed.accessToken, login.accessToken),
          `a new access token (${fingerprint(login.accessToken)} -> ${fingerprint(renewed.accessToken)})`
        )
        const rotated = renewed.refreshToken !== undefined && !sameToken(renewed.refreshToken, login.refreshToken)
        yield* check(
          rotated,
          `the refresh token rotated (${fingerprint(login.refreshToken)} -> ${fingerprint(renewed.refreshToken)})`
        )

        const store = yield* TokenStore.TokenStore
        const stored = yield* store.get(key)
        yield* check(
          Option.exists(stored, (s) => sameToken(s.refreshToken, renewed.refreshToken)),
          `the store holds the new refresh token (${
            Option.match(stored, { onNone: () => "nothing stored", onSome: (s) => fingerprint(s.refreshToken) })
          })`
        )

        // The database file (and its write-ahead log, if any) as an attacker
        // with a copy of the disk would read it.
        const { store: database } = yield* Stage
        const fs = yield* FileSystem.FileSystem
        const files = database.kind === "sqlite" ? [database.filename, `${database.filename}-wal`] : []
        let contents = ""
        for (const file of files) {
          if (yield* fs.exists(file)) contents += Buffer.from(yield* fs.readFile(file)).toString("latin1")
        }
        const mode = database.kind === "sqlite" ? (yield* fs.stat(database.filename)).mode & 0o777 : 0
        const tokens = [login, renewed].flatMap((c) => [c.accessToken, c.idToken, c.refreshToken])
          .flatMap((t) => t === undefined ? [] : [Redacted.value(t)])
        const found = tokens.filter((t) => contents.includes(t)).length
        yield* say(`   The SQLite database on disk: ${contents.length} bytes, mode ${mode.toString(8)}.`)
        yield* check(found === 0, `it contains none of the ${tokens.length} token values (found ${found})`)
        yield* check(
          /v1\.[\w-]{16}\.[\w-]{40,}/.test(contents),
          `the entry is AES-256-GCM ciphertext (v1.<iv>.<ciphertext>)`
        )
        yield* check(mode === 0o600, `it is owner-only (mode ${mode.toString(8)})`)
        return `refresh ${fingerprint(login.refreshToken)} -> ${
          fingerprint(renewed.refreshToken)
        }, ${found} tokens in the database`
      }))
}
