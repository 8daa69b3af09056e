import * as SessionStore from "@effect-renewal/web/SessionStore"
import * as KeyValueStore from "@effect/platform/KeyValueStore"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as TestClock from "effect/TestClock"

const record = new SessionStore.SessionRecord({
  subject: "alice",
  claims: { sub: "alice", email: "alice@example.test", nested: { a: [1, 2] } },
  createdAt: 0,
  lastSeenAt: 0
})

const stores: ReadonlyArray<readonly [string, Layer.Layer<SessionStore.SessionStore | KeyValueStore.KeyValueStore>]> = [
  ["layerMemory", Layer.merge(SessionStore.layerMemory, KeyValueStore.layerMemory)],
  ["layerKeyValueStore", SessionStore.layerKeyValueStore.pipe(Layer.provideMerge(KeyValueStore.layerMemory))]
]

describe.each(stores)("SessionStore.%s", (_, layer) => {
  it.effect("set, get, expiry on the Clock, remove", () =>
    Effect.gen(function*() {
      const store = yield* SessionStore.SessionStore
      expect(yield* store.get("web:a")).toEqual(Option.none())
      yield* store.set("web:a", record, "1 hour")
      expect(Option.getOrThrow(yield* store.get("web:a")).claims).toEqual(record.claims)
      yield* TestClock.adjust("59 minutes")
      expect(Option.isSome(yield* store.get("web:a"))).toBe(true)
      yield* TestClock.adjust("1 minute")
      expect(yield* store.get("web:a")).toEqual(Option.none())
      yield* store.set("web:b", record, "1 hour")
      yield* store.remove("web:b")
      expect(yield* store.get("web:b")).toEqual(Option.none())
    }).pipe(Effect.provide(layer)))

  it.effect("replace: only over the record expected, never over a removed or changed one", () =>
    Effect.gen(function*() {
      const store = yield* SessionStore.SessionStore
      const touched = new SessionStore.SessionRecord({ ...record, lastSeenAt: 60_000 })
      yield* store.set("web:a", record, "1 hour")
      expect(yield* store.replace!("web:a", record, touched, "1 hour")).toBe(true)
      expect(Option.getOrThrow(yield* store.get("web:a")).lastSeenAt).toBe(60_000)
      // the record read before is no longer there: not written
      expect(yield* store.replace!("web:a", record, touched, "1 hour")).toBe(false)
      yield* store.remove("web:a")
      expect(yield* store.replace!("web:a", touched, touched, "1 hour")).toBe(false)
      expect(yield* store.get("web:a")).toEqual(Option.none())
    }).pipe(Effect.provide(layer)))
})

describe("SessionStore.layerMemory: entries", () => {
  it.effect("lists every entry held, for the sweep", () =>
    Effect.gen(function*() {
      const store = yield* SessionStore.SessionStore
      yield* store.set("web:a", record, "1 hour")
      yield* store.set("web:b", record, "2 hours")
      expect((yield* store.entries!).map(([key]) => key).sort()).toEqual(["web:a", "web:b"])
      yield* store.remove("web:a")
      expect((yield* store.entries!).map(([key]) => key)).toEqual(["web:b"])
    }).pipe(Effect.provide(SessionStore.layerMemory)))
})

describe("SessionStore.layerKeyValueStore", () => {
  it.effect("an entry that does not decode is no session, and is removed", () =>
    Effect.gen(function*() {
      const kv = yield* KeyValueStore.KeyValueStore
      yield* kv.set("effect-renewal-web-session:web:x", "{not json")
      const store = yield* SessionStore.SessionStore
      expect(yield* store.get("web:x")).toEqual(Option.none())
      expect(yield* kv.has("effect-renewal-web-session:web:x")).toBe(false)
    }).pipe(Effect.provide(SessionStore.layerKeyValueStore.pipe(Layer.provideMerge(KeyValueStore.layerMemory)))))
})
