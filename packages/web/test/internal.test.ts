import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Consumed from "../src/internal/consumed.js"
import * as Keys from "../src/internal/keys.js"
import * as ReturnTo from "../src/internal/returnTo.js"

describe("returnTo", () => {
  it("keeps same-origin paths", () => {
    for (const ok of ["/", "/a", "/a/b?c=d&e=f", "/a#x", "/%2F%2Fencoded-is-a-path", "/a//b"]) {
      expect(ReturnTo.validate(ok), ok).toBe(ok)
    }
  })

  it("refuses everything that could leave the site, or is not a path", () => {
    const refused = [
      undefined,
      null,
      "",
      "a",
      "//evil.example",
      "///evil.example",
      "/\\evil.example",
      "\\\\evil.example",
      "https://evil.example",
      "http:/evil.example",
      "javascript:alert(1)",
      "/\t/evil.example",
      "/\n/evil.example",
      "/\r\n/x",
      "/ /x",
      "/a\\b",
      "/\u0000",
      "/\u0085x",
      `/${"x".repeat(2048)}`
    ]
    for (const value of refused) expect(ReturnTo.validate(value), JSON.stringify(value)).toBeUndefined()
    expect(ReturnTo.orElse("//evil.example", "/home")).toBe("/home")
  })

  it("keeps the URL parser's percent-encoded form (ASCII only, as a Location header needs), at most 512", () => {
    expect(ReturnTo.validate("/€")).toBe("/%E2%82%AC")
    expect(ReturnTo.validate("/é?q=ü#ä")).toBe("/%C3%A9?q=%C3%BC#%C3%A4")
    // dot segments resolved: "//evil.example" would be another host to a browser
    expect(ReturnTo.validate("/a/..//evil.example/x")).toBeUndefined()
    expect(ReturnTo.validate(`/${"a".repeat(511)}`)).toHaveLength(512)
    expect(ReturnTo.validate(`/${"a".repeat(512)}`)).toBeUndefined()
    expect(ReturnTo.validate(`/${"€".repeat(60)}`)).toBeUndefined() // 541 once encoded
  })
})

const secret = (s: string) => Redacted.make(s.padEnd(32, "-"))

describe("cookie keys", () => {
  it.effect("sign / verify: a changed payload, signature, purpose or key is refused", () =>
    Effect.gen(function*() {
      const keys = yield* Keys.make([secret("one")])
      const other = yield* Keys.make([secret("two")])
      const signed = yield* keys.sign("session", "payload")
      expect(yield* keys.verify("session", signed)).toEqual(Option.some("payload"))
      expect(yield* keys.verify("pending-login", signed)).toEqual(Option.none())
      expect(yield* other.verify("session", signed)).toEqual(Option.none())
      expect(yield* keys.verify("session", signed.replace("payload", "paYload"))).toEqual(Option.none())
      const [payload, mac] = signed.split(".")
      expect(yield* keys.verify("session", `${payload}.${mac!.slice(0, -1)}B`)).toEqual(Option.none())
      expect(yield* keys.verify("session", payload!)).toEqual(Option.none())
      // rotation: the old key still verifies when listed after the new one; the new one signs
      const rotated = yield* Keys.make([secret("two"), secret("one")])
      expect(yield* rotated.verify("session", signed)).toEqual(Option.some("payload"))
      expect(yield* keys.verify("session", yield* rotated.sign("session", "p"))).toEqual(Option.none())
    }))

  it.effect("seal / open: authenticated, bound to the purpose, a fresh IV each time", () =>
    Effect.gen(function*() {
      const keys = yield* Keys.make([secret("one")])
      const a = yield* keys.seal("pending-login", "{\"x\":1}")
      const b = yield* keys.seal("pending-login", "{\"x\":1}")
      expect(a).not.toBe(b)
      expect(yield* keys.open("pending-login", a)).toEqual(Option.some("{\"x\":1}"))
      expect(yield* keys.open("session", a)).toEqual(Option.none())
      const [iv, data] = a.split(".")
      const flipped = data!.slice(0, 3) + (data![3] === "A" ? "B" : "A") + data!.slice(4)
      expect(yield* keys.open("pending-login", `${iv}.${flipped}`)).toEqual(Option.none())
      expect(yield* keys.open("pending-login", "garbage")).toEqual(Option.none())
    }))

  it.effect("secrets: at least one, each at least 32 bytes; the error names no secret", () =>
    Effect.gen(function*() {
      expect((yield* Effect.flip(Keys.make([])))._tag).toBe("InvalidConfiguration")
      const short = yield* Effect.flip(Keys.make([Redacted.make("too-short-secret")]))
      expect(short.message).not.toContain("too-short-secret")
    }))
})

describe("Consumed: single use of a pending login's id", () => {
  it("refuses a second take until the expiry; 50 000 live ids cost no full scan per callback", () => {
    const consumed = Consumed.make()
    expect(consumed.take("a", 1_000, 0)).toBe(true)
    expect(consumed.take("a", 1_000, 500)).toBe(false)
    expect(consumed.take("a", 2_000, 1_000)).toBe(true) // past its expiry: the cookie itself has expired
    const started = performance.now()
    let taken = 0
    for (let i = 0; i < 50_000; i++) if (consumed.take(`id-${i}`, 10_000, 1)) taken++
    expect(taken).toBe(50_000)
    for (let i = 0; i < 50_000; i += 997) expect(consumed.take(`id-${i}`, 10_000, 2)).toBe(false)
    // quadratic (a scan of every entry at each take past 1024) takes about 8 s here, this about 50 ms
    expect(performance.now() - started).toBeLessThan(3_000)
    // the expired are dropped when the map has doubled: memory stays bounded by the live ids
    for (let i = 0; i < 20_000; i++) if (!consumed.take(`late-${i}`, 30_000, 20_000)) taken = -1
    expect(taken).toBe(50_000)
    expect(consumed.size()).toBeLessThanOrEqual(20_000)
  })
})
