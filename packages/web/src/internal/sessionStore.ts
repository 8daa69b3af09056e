/**
 * The two `SessionStore`s: in memory (one process), and over a
 * `KeyValueStore` (whatever it is backed by; shared by every instance that
 * shares it). Each entry carries its own expiry; an expired entry reads as
 * absent and is removed when read.
 *
 * @internal
 */
import * as KeyValueStore from "@effect/platform/KeyValueStore"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type * as SessionStore from "../SessionStore.js"
import { SessionRecord, SessionStoreError } from "../SessionStore.js"

// made when first used: the public module, which defines `SessionRecord`, imports this one
const entrySchema = () => Schema.parseJson(Schema.Struct({ record: SessionRecord, expiresAt: Schema.Number }))

/** Whether two records are the same version of a session. @internal */
export const sameRecord = (a: SessionRecord, b: SessionRecord): boolean =>
  a.subject === b.subject && a.createdAt === b.createdAt && a.lastSeenAt === b.lastSeenAt

const failure = (operation: SessionStoreError["operation"], description: string) =>
  new SessionStoreError({ operation, description })

/** @internal */
export const makeMemory: Effect.Effect<SessionStore.SessionStore.Service> = Effect.sync(() => {
  const entries = new Map<string, { readonly record: SessionRecord; readonly expiresAt: number }>()
  const put = (key: string, record: SessionRecord, timeToLive: Duration.DurationInput, now: number) => {
    // the moment to drop what expired, so that memory stays bounded by live sessions
    if (entries.size > 0 && entries.size % 1024 === 0) {
      for (const [k, e] of entries) if (e.expiresAt <= now) entries.delete(k)
    }
    entries.set(key, { record, expiresAt: now + Duration.toMillis(Duration.decode(timeToLive)) })
  }
  return {
    get: (key) =>
      Effect.map(Clock.currentTimeMillis, (now) => {
        const entry = entries.get(key)
        if (entry === undefined) return Option.none()
        if (entry.expiresAt <= now) {
          entries.delete(key)
          return Option.none()
        }
        return Option.some(entry.record)
      }),
    set: (key, record, timeToLive) => Effect.map(Clock.currentTimeMillis, (now) => put(key, record, timeToLive, now)),
    remove: (key) => Effect.sync(() => void entries.delete(key)),
    replace: (key, expected, record, timeToLive) =>
      Effect.map(Clock.currentTimeMillis, (now) => {
        const entry = entries.get(key)
        if (entry === undefined || entry.expiresAt <= now || !sameRecord(entry.record, expected)) return false
        put(key, record, timeToLive, now)
        return true
      }),
    entries: Effect.sync(() => Array.from(entries, ([key, entry]) => [key, entry.record] as const))
  }
})

const prefix = "effect-renewal-web-session:"

/** @internal */
export const makeKeyValueStore: Effect.Effect<SessionStore.SessionStore.Service, never, KeyValueStore.KeyValueStore> =
  Effect.map(KeyValueStore.KeyValueStore, (store) => {
    const Entry = entrySchema()
    const decodeEntry = Schema.decodeUnknownOption(Entry)
    const encodeEntry = Schema.encode(Entry)
    const remove = (key: string) =>
      Effect.mapError(store.remove(prefix + key), () => failure("remove", "the session could not be removed"))
    const get = (key: string) =>
      Effect.gen(function*() {
        const stored = yield* Effect.mapError(
          store.get(prefix + key),
          () => failure("get", "the session store could not be read")
        )
        if (Option.isNone(stored)) return Option.none()
        const entry = decodeEntry(stored.value)
        const now = yield* Clock.currentTimeMillis
        if (Option.isNone(entry) || entry.value.expiresAt <= now) {
          // an unreadable or expired entry is no session
          yield* remove(key)
          return Option.none()
        }
        return Option.some(entry.value.record)
      })
    const set = (key: string, record: SessionRecord, timeToLive: Duration.DurationInput) =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        const expiresAt = now + Duration.toMillis(Duration.decode(timeToLive))
        const value = yield* Effect.mapError(
          encodeEntry({ record, expiresAt }),
          () => failure("set", "the session record could not be encoded")
        )
        yield* Effect.mapError(store.set(prefix + key, value), () => failure("set", "the session could not be saved"))
      })
    return {
      get,
      set,
      remove,
      // a read-compare-write: a KeyValueStore has no compare-and-set
      replace: (key, expected, record, timeToLive) =>
        Effect.flatMap(get(key), (found) =>
          Option.isSome(found) && sameRecord(found.value, expected)
            ? Effect.as(set(key, record, timeToLive), true)
            : Effect.succeed(false))
    }
  })
