import { TokenStore } from "@effect-renewal/core"
import { describe, expect, it } from "@effect/vitest"
import * as fc from "effect/FastCheck"
import {
  anyString,
  API,
  file,
  impostorOfAliceApi,
  loneSurrogatesApart,
  memory,
  noSessionTouchesAnother,
  savingAliceKeepsAliceX,
  scenario
} from "./support/sessionKeys.js"

for (const kind of [memory, file]) {
  describe(`Session keys on the ${kind.name} store`, () => {
    it.scoped("saving and clearing session alice leaves the login of session alice\\u0000x, and back", () =>
      savingAliceKeepsAliceX(kind))

    it.scoped("a session named like alice's API entry neither writes nor removes what alice's get({ audience }) reads", () =>
      impostorOfAliceApi(kind))

    it.scoped("sessions whose keys differ in a lone surrogate have entries of their own", () =>
      loneSurrogatesApart(kind))

    it.effect.prop(
      "no operation on one session (through Sessions) touches another session's entries",
      [scenario],
      ([[sessions, operations]]) => noSessionTouchesAnother(kind, sessions, operations),
      { fastCheck: { numRuns: kind === memory ? 100 : 50 } }
    )
  })
}

const utf8 = (s: string) => Buffer.from(new TextEncoder().encode(s)).toString("hex")
const isWellFormed = (s: string) => !/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(s)
const units = (s: string | undefined) => s?.split("").map((c) => c.charCodeAt(0))

describe("TokenStore keys", () => {
  it("are the keys written before 0.4.0 for a key without U+0000, U+0001 or a lone surrogate", () => {
    expect(TokenStore.entryKey("alice")).toBe("alice")
    expect(TokenStore.entryKey("")).toBe("")
    expect(TokenStore.entryKey("user%40example.com \uD83D\uDE00")).toBe("user%40example.com \uD83D\uDE00")
    expect(TokenStore.derivedKey("alice", `api:["${API}",null]`)).toBe(`alice\u0000api:["${API}",null]`)
    expect(TokenStore.sessionKeyOf(TokenStore.derivedKey("alice", "orders"))).toBe("alice")
  })

  it("escape U+0000, U+0001 and lone surrogates as U+0001 and four hex digits", () => {
    expect(TokenStore.entryKey("alice\u0000x")).toBe("alice\u00010000x")
    expect(TokenStore.entryKey("\u0001")).toBe("\u00010001")
    expect(TokenStore.entryKey("\uD800\uD83D\uDE00\uDC00")).toBe("\u0001d800\uD83D\uDE00\u0001dc00")
    expect(TokenStore.derivedKey("alice\u0000x", "y\u0000z")).toBe("alice\u00010000x\u0000y\u00010000z")
  })

  it.prop(
    "no two distinct (session, target) pairs share a store key or its UTF-8 bytes; a key's session part is its session's entry key",
    [fc.array(fc.tuple(anyString, fc.option(anyString, { nil: undefined })), { minLength: 2, maxLength: 12 })],
    ([pairs]) => {
      const byBytes = new Map<string, string>()
      for (const [session, name] of pairs) {
        const entry = TokenStore.entryKey(session)
        const key = name === undefined ? entry : TokenStore.derivedKey(session, name)
        expect(entry.includes("\u0000")).toBe(false)
        expect(isWellFormed(key)).toBe(true)
        expect(TokenStore.sessionKeyOf(key)).toBe(entry)
        if (!/[\u0000\u0001]/.test(session) && isWellFormed(session)) expect(entry).toBe(session)
        const pair = JSON.stringify([units(session), units(name)])
        const bytes = utf8(key)
        expect(byBytes.get(bytes) ?? pair).toBe(pair)
        byBytes.set(bytes, pair)
      }
    },
    { fastCheck: { numRuns: 1000 } }
  )
})
