import * as Effect from "effect/Effect"
import type * as Either from "effect/Either"
import { InvalidConfiguration, StoreError } from "../AuthError.js"
import type { TokenCodec } from "../TokenCodec.js"
import type { TokenStore } from "../TokenStore.js"

/**
 * What the persistent stores' `reencrypt` share: the codec's re-encryption,
 * or why there is none, and the count of what happened to each entry.
 *
 * @internal
 */

/** What happened to one entry: `gone` (removed meanwhile) is not counted. @internal */
export type Outcome = "rewritten" | "current" | "gone"

/** The codec's `reencrypt`, or an `InvalidConfiguration` when it has none. @internal */
export const codecOf = (
  codec: TokenCodec.Service
): Effect.Effect<NonNullable<TokenCodec.Service["reencrypt"]>, InvalidConfiguration> =>
  codec.reencrypt === undefined
    ? Effect.fail(
      new InvalidConfiguration({
        description:
          "the store's TokenCodec has no keys to re-encrypt with: provide TokenCodec.layerEncrypted (a keyring) to the store"
      })
    )
    : Effect.succeed(codec.reencrypt)

/**
 * `error` named by `entry` (how the report names the entry: a file name)
 * instead of its key: re-encryption learns an entry's store key from the
 * entry itself, and the report never names a session key.
 *
 * @internal
 */
export const relabel = (entry: string, error: StoreError): StoreError =>
  new StoreError({ operation: error.operation, key: entry, description: error.description })

/** The report; each failure's error named by its entry ({@link relabel}). @internal */
export const tally = () => {
  let rewritten = 0
  let current = 0
  const failed: Array<{ readonly entry: string; readonly error: StoreError }> = []
  return {
    add: (entry: string, outcome: Either.Either<Outcome, StoreError>): void => {
      if (outcome._tag === "Left") failed.push({ entry, error: relabel(entry, outcome.left) })
      else if (outcome.right === "rewritten") rewritten++
      else if (outcome.right === "current") current++
    },
    summary: (): TokenStore.ReencryptSummary => ({ rewritten, current, failed })
  }
}
