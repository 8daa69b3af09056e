/**
 * The SQL part of `.ci/pack-check`, run only when `@effect-renewal/sql` was
 * packed: a `Renewer` over `SqlTokenStore.layerSqlite` on a temporary file
 * saves a login and hands it back, and a second store on the same file reads
 * it.
 */
import { Renewer, TokenStore } from "@effect-renewal/core"
import { SqlTokenStore } from "@effect-renewal/sql"
import { Fixtures } from "@effect-renewal/testing"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { check, run, sameToken } from "./support.js"

const filename = Path.join(Fs.mkdtempSync(Path.join(Os.tmpdir(), "pack-check-sql-")), "tokens.db")
// a store that cannot open its file is this program's defect
const Store = Layer.orDie(SqlTokenStore.layerSqlite({ filename }))

const saveAndGet = Effect.gen(function*() {
  const renewer = yield* Renewer.Renewer
  const login = yield* Fixtures.login()
  yield* renewer.save(login)
  const got = yield* renewer.get()
  yield* check(sameToken(got.accessToken, login.accessToken), "the Renewer hands out what it saved in SQLite")
  return login
}).pipe(Effect.provide(Fixtures.layerMemory({ store: Store })))

const program = Effect.gen(function*() {
  const login = yield* saveAndGet
  const stored = yield* Effect.flatMap(TokenStore.TokenStore, (store) => store.get(renewerKey)).pipe(
    Effect.provide(Store)
  )
  yield* check(
    Option.isSome(stored) && sameToken(stored.value.accessToken, login.accessToken),
    "a second store on the same file reads the saved credentials"
  )
  Fs.rmSync(Path.dirname(filename), { recursive: true, force: true })
  return `saved and read back through SqlTokenStore.layerSqlite (${Path.basename(filename)})`
})

/** The session key of `Renewer.layer()` when none is given. */
const renewerKey = "default"

run("sql", program)
