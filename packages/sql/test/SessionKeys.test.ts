import { derivedKey, entryKey } from "@effect-renewal/core/TokenStore"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import {
  impostorOfAliceApi,
  loneSurrogatesApart,
  noSessionTouchesAnother,
  savingAliceKeepsAliceX,
  scenario,
  type StoreKind
} from "../../core/test/support/sessionKeys.js"
import { backends, credentials, rawClient, refreshTokenOf, store } from "./support.js"

for (const backend of backends) {
  const kind: StoreKind = {
    name: backend.name,
    make: Effect.flatMap(backend.database(), (db) => Effect.map(store(db), (store) => ({ store })))
  }

  describe.skipIf(!backend.enabled)(`Session keys on the ${backend.name} store`, () => {
    it.scopedLive("saving and clearing session alice leaves the login of session alice\\u0000x, and back", () =>
      savingAliceKeepsAliceX(kind))

    it.scopedLive("a session named like alice's API entry neither writes nor removes what alice's get({ audience }) reads", () =>
      impostorOfAliceApi(kind))

    it.scopedLive("sessions whose keys differ in a lone surrogate have entries of their own", () =>
      loneSurrogatesApart(kind))

    it.scopedLive("the session column holds the session's entry key: no U+0000, well-formed", () =>
      Effect.gen(function*() {
        const db = yield* backend.database()
        const s = yield* store(db)
        const session = "alice\u0000api:\uD800%"
        yield* s.set(entryKey(session), credentials("login"))
        yield* s.set(derivedKey(session, "api"), credentials("api"))
        const sql = yield* rawClient(db)
        const rows = yield* sql<{ readonly session_key: string }>`
          SELECT session_key FROM ${sql(`${db.prefix}_entries`)}`.pipe(Effect.orDie)
        expect(rows.map((row) => row.session_key)).toEqual([entryKey(session), entryKey(session)])
        expect(Option.map(yield* s.get(derivedKey(session, "api")), refreshTokenOf)).toEqual(Option.some("refresh-api"))
        yield* s.remove(entryKey(session))
        expect(yield* s.get(derivedKey(session, "api"))).toEqual(Option.none())
      }))

    it.live.prop(
      "no operation on one session (through Sessions) touches another session's entries",
      [scenario],
      ([[sessions, operations]]) => noSessionTouchesAnother(kind, sessions, operations),
      { fastCheck: { numRuns: 25 } }
    )
  })
}
