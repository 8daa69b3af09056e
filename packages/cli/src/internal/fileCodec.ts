import type { InvalidConfiguration } from "@effect-renewal/core/AuthError"
import * as TokenCodec from "@effect-renewal/core/TokenCodec"
import type * as FileSystem from "@effect/platform/FileSystem"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type { KeyFileError } from "../CliError.js"
import * as StoreKey from "../StoreKey.js"

/**
 * The codec of the key file of `stateDir`, which follows a rotation made by
 * another process (`store rotate-key`) while this one runs: before each
 * write, and after a read that fails, the key file is read again, and a new
 * keyring made when its keys changed. So a process that started before the
 * rotation writes its renewal under the new current key (never under a key
 * about to be retired), and reads an entry already moved to it.
 */
export const make = (
  stateDir: string
): Effect.Effect<TokenCodec.TokenCodec.Service, KeyFileError | InvalidConfiguration, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const first = yield* StoreKey.loadFile(stateDir)
    const signature = (file: typeof StoreKey.KeyFile.Type) =>
      `${file.current}:${file.keys.map((entry) => entry.id).join(",")}`
    let state = { signature: signature(first), codec: yield* TokenCodec.encrypted(StoreKey.keyringOf(first)) }
    const context = yield* Effect.context<FileSystem.FileSystem>()

    // the codec of the key file as it is now; the one held when it cannot be read
    const refresh: Effect.Effect<TokenCodec.TokenCodec.Service> = Effect.gen(function*() {
      const file = yield* StoreKey.read(stateDir)
      if (Option.isNone(file) || signature(file.value) === state.signature) return state.codec
      const codec = yield* TokenCodec.encrypted(StoreKey.keyringOf(file.value))
      state = { signature: signature(file.value), codec }
      return codec
    }).pipe(Effect.orElseSucceed(() => state.codec), Effect.provide(context))

    return {
      encode: (key, credentials) => Effect.flatMap(refresh, (codec) => codec.encode(key, credentials)),
      decode: (key, stored) =>
        state.codec.decode(key, stored).pipe(
          Effect.catchTag("StoreError", (error) => {
            const held = state.codec
            return Effect.flatMap(refresh, (codec) => codec === held ? Effect.fail(error) : codec.decode(key, stored))
          })
        ),
      reencrypt: (stored, key) => Effect.flatMap(refresh, (codec) => codec.reencrypt!(stored, key))
    }
  })
