import * as TokenCodec from "@effect-renewal/core/TokenCodec"
import * as TokenStore from "@effect-renewal/core/TokenStore"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { ExitCode, KeyFileError, UsageError } from "../CliError.js"
import * as StoreKey from "../StoreKey.js"
import { ExitWith } from "./exit.js"
import * as Lockfile from "./lockfile.js"
import * as Session from "./session.js"
import * as Store from "./store.js"

/** Where the procedure for keys kept outside the key file is written. */
export const procedureUrl = "https://github.com/effect-renewal/effect-renewal/blob/main/docs/security.md#key-rotation"

const entries = (n: number) => n === 1 ? "1 entry" : `${n} entries`

/**
 * `store rotate-key`: under the key file's lock, a new key is added to the
 * file and made current (the old ones kept), then every entry of the store
 * is re-encrypted with it; with `retire`, and nothing failed, the old keys
 * are removed from the file. Interrupted anywhere, the file still holds
 * every key an entry may be under: a rerun finishes.
 */
export const rotateKey = (common: Session.Common, options: { readonly retire: boolean }) =>
  Effect.gen(function*() {
    const where = yield* Session.where(common)
    const source = yield* Store.keySource
    if (source._tag === "Environment") {
      return yield* new UsageError({
        description:
          `the store's keys come from the environment (EFFECT_RENEWAL_STORE_KEY or EFFECT_RENEWAL_STORE_KEYS), which this command cannot change: their operator rotates them (a keyring with the new key current, a re-encryption, then the old key removed), as ${procedureUrl} says`
      })
    }
    const stateDir = where.paths.stateDir
    // made when missing (there may be entries of another machine in a shared store)
    yield* StoreKey.loadFile(stateDir)
    const lock = `${StoreKey.filePath(stateDir)}.lock`
    yield* Lockfile.withLock(lock, rotate(where, stateDir, options.retire), {
      wait: "10 seconds",
      // held while the whole store is re-encrypted; a crash is detected by its pid
      staleAfter: "1 hour"
    }).pipe(
      Effect.catchTag("LockError", (error) =>
        Effect.fail(new KeyFileError({ path: lock, reason: "Io", description: `is in use: ${error.description}` })))
    )
  })

const rotate = (where: Session.Where, stateDir: string, retire: boolean) =>
  Effect.gen(function*() {
    const before = yield* StoreKey.read(stateDir)
    if (Option.isNone(before)) {
      return yield* new KeyFileError({
        path: StoreKey.filePath(stateDir),
        reason: "Io",
        description: "vanished during the rotation"
      })
    }
    const old = before.value
    let id = StoreKey.generateKey().id
    while (old.keys.some((entry) => entry.id === id) || !TokenCodec.isKeyId(id)) id = StoreKey.generateKey().id
    const key = yield* TokenCodec.generateKey
    const next = { version: 1, current: id, keys: [...old.keys, { id, key }] } as const
    // first the file, every old key kept: an entry re-encrypted below is
    // readable by every process from now on, and an interruption loses nothing
    yield* StoreKey.write(stateDir, next)
    const passes = yield* Effect.gen(function*() {
      const first = yield* TokenStore.reencrypt()
      // before the old keys go, another pass: a process that read the key file
      // before it changed may have written an entry under an old key meanwhile
      const second = retire && first.failed.length === 0 && first.rewritten > 0
        ? Option.some(yield* TokenStore.reencrypt())
        : Option.none<TokenStore.TokenStore.ReencryptSummary>()
      return { first, second }
    }).pipe(Effect.provide(Store.layerWith(where.location, StoreKey.keyringOf(next))))
    const failed = [
      ...passes.first.failed,
      ...Option.match(passes.second, { onNone: () => [], onSome: (s) => s.failed })
    ]
    const rewritten = passes.first.rewritten +
      Option.match(passes.second, { onNone: () => 0, onSome: (s) => s.rewritten })
    const oldIds = old.keys.map((entry) => entry.id).join(", ")
    let keys: string
    if (failed.length > 0) {
      keys = `old keys kept (${oldIds}): the entries that failed are still under them`
    } else if (retire) {
      yield* StoreKey.write(stateDir, { version: 1, current: id, keys: [{ id, key }] })
      keys = `old keys removed (${oldIds})`
    } else {
      keys = `old keys kept (${oldIds}): run again with --retire to remove them`
    }
    yield* Console.error(
      `effect-renewal: key ${id} is current; ${
        entries(rewritten)
      } rewritten, ${passes.first.current} already current, ${failed.length} failed; ${keys}`
    )
    if (failed.length > 0) {
      for (const { entry, error } of failed) yield* Console.error(`  ${entry}: ${error.description}`)
      return yield* new ExitWith({ code: ExitCode.Failure })
    }
  })
