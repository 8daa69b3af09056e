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
