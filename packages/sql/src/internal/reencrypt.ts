import { InvalidConfiguration, StoreError } from "@effect-renewal/core/AuthError"
import type { TokenCodec } from "@effect-renewal/core/TokenCodec"
import type { TokenStore } from "@effect-renewal/core/TokenStore"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import type { Keys, Location } from "./keys.js"
import { relabel } from "./redaction.js"
import { unreadableValue } from "./rows.js"

/**
 * Re-encryption of the SQL store: every row with a value, in key order, a
 * page at a time; each entry's store key is its row's (clear mode), or read
 * from the (`v2`) entry (hashed mode), or one of the keys given; the entry
 * is rewritten under its session's lock (the Renewer's) by compare-and-set, so that a renewal
 * written meanwhile is re-encrypted as it now is (usually already current),
 * never replaced by a stale copy. A row that cannot be re-encrypted is
 * reported, and left as it is.
 *
 * @internal
 */

/** @internal */
export const pageSize = 200

/** What re-encryption needs of the store's rows. @internal */
export interface Rows {
  /** The rows with a value after `after`, in key order, at most {@link pageSize}. */
  readonly page: (
    after: Location | undefined
  ) => Effect.Effect<ReadonlyArray<Location & { readonly value: unknown }>, StoreError>
  /**
   * Under the lock of `key`'s session: reads the row of `location`; `next(stored)` is its
   * new value (none: left as it is), written by compare-and-set.
   */
  readonly rewrite: (
    key: string,
    location: Location,
    next: (stored: string) => Effect.Effect<Option.Option<string>, StoreError>
  ) => Effect.Effect<"written" | "unchanged" | "gone", StoreError>
}

const rowKey = (location: Location): string => `${location.session}\u0000${location.sub}`

/** @internal */
export const run = (
  rows: Rows,
  keys: Keys,
  codec: TokenCodec.Service,
  options: TokenStore.ReencryptOptions | undefined
): Effect.Effect<TokenStore.ReencryptSummary, StoreError | InvalidConfiguration> =>
  Effect.gen(function*() {
    const reencode = codec.reencrypt
    if (reencode === undefined) {
      return yield* new InvalidConfiguration({
        description:
          "the store's TokenCodec has no keys to re-encrypt with: provide TokenCodec.layerEncrypted (a keyring) to the store"
      })
    }
    // the rows of the keys given, for the entries that do not name their key
    const known = new Map<string, string>()
    for (const key of options?.keys ?? []) known.set(rowKey(keys.locationOf(key)), key)

    const one = (row: Location, value: string): Effect.Effect<"rewritten" | "current" | "gone", StoreError> =>
      Effect.gen(function*() {
        const first = yield* reencode(value, keys.keyOfRow(row) ?? known.get(rowKey(row)))
        if (first._tag === "Current") return "current" as const
        const key = first.key
        const location = keys.locationOf(key)
        if (location.session !== row.session || location.sub !== row.sub) {
          return yield* new StoreError({
            operation: "decode",
            key,
            description: "the entry is in another entry's row (moved or copied there): not rewritten"
          })
        }
        let current = false
        const outcome = yield* rows.rewrite(key, row, (stored) => {
          if (stored === value) return Effect.succeed(Option.some(first.stored))
          // written meanwhile (a renewal): re-encrypted as it now is
          return Effect.map(reencode(stored, key), (again) => {
            current = again._tag === "Current"
            return again._tag === "Current" ? Option.none() : Option.some(again.stored)
          })
        })
        return outcome === "gone" ? "gone" as const : current ? "current" as const : "rewritten" as const
      })

    let rewritten = 0
    let current = 0
    const failed: Array<{ readonly entry: string; readonly error: StoreError }> = []
    let after: Location | undefined = undefined
    while (true) {
      const page: ReadonlyArray<Location & { readonly value: unknown }> = yield* rows.page(after)
      for (const row of page) {
        const outcome = typeof row.value === "string"
          ? yield* Effect.either(one(row, row.value))
          : Either.left(
            new StoreError({ operation: "decode", key: "*", description: unreadableValue(row.value) ?? "not text" })
          )
        if (outcome._tag === "Left") {
          // the error names the row as the report does, never the key learnt from the entry
          const entry = keys.labelOfRow(row)
          failed.push({ entry, error: relabel(entry, outcome.left) })
        } else if (outcome.right === "rewritten") rewritten++
        else if (outcome.right === "current") current++
      }
      if (page.length < pageSize) break
      after = page[page.length - 1]
    }
    return { rewritten, current, failed }
  })
