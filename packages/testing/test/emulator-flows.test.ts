/**
 * The login flows' rules as pure transitions: no HTTP, no Ref, time as a number.
 */
import * as Authorize from "@effect-renewal/testing/internal/authorize"
import * as Device from "@effect-renewal/testing/internal/device"
import { describe, expect, it } from "@effect/vitest"

// RFC 7636 Appendix B
const RFC_VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
const RFC_CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"

const config = { clientId: "client" }
const query = (extra: Record<string, string> = {}) => ({
  response_type: "code",
  client_id: "client",
  redirect_uri: "https://app.example/cb",
  code_challenge: RFC_CHALLENGE,
  code_challenge_method: "S256",
  ...extra
})

const issued = (state = Authorize.empty) => {
  const request = Authorize.read(config, query())
  if (request._tag !== "Request") throw new Error("a valid request")
  return Authorize.authorize(state, { request, clientId: "client", code: "c-1", expiresAt: 60_000 })[1]
}

describe("authorize", () => {
  it("the S256 challenge of RFC 7636's example verifier", () => {
    expect(Authorize.challengeOf(RFC_VERIFIER)).toBe(RFC_CHALLENGE)
  })

  it("redeems the RFC's verifier once; a replay names the refresh token to revoke", () => {
    const input = { code: "c-1", clientId: "client", redirectUri: "https://app.example/cb", now: 59_999 }
    const [redeemed, after] = Authorize.redeem(issued(), { ...input, verifier: RFC_VERIFIER })
    expect(redeemed._tag).toBe("Redeemed")
    expect(after.counters.codeExchanges).toBe(1)
    const attached = Authorize.attach(after, "c-1", "rt-1")
    const [replay] = Authorize.redeem(attached, { ...input, verifier: RFC_VERIFIER })
    expect(replay).toEqual({ _tag: "Rejected", description: "Invalid authorization code.", revoke: "rt-1" })
  })

  it("expires at expiresAt; another client is refused", () => {
    const input = { code: "c-1", redirectUri: "https://app.example/cb", verifier: RFC_VERIFIER }
    expect(Authorize.redeem(issued(), { ...input, clientId: "client", now: 60_000 })[0]._tag).toBe("Rejected")
    expect(Authorize.redeem(issued(), { ...input, clientId: "other", now: 0 })[0]).toMatchObject({
      description: "The code was issued to another client."
    })
  })

  it("scripted decisions first in first out, then the default", () => {
    let state = Authorize.script(Authorize.empty, { _tag: "Deny" })
    state = Authorize.script(state, { _tag: "Approve", user: "alice" })
    const request = Authorize.read(config, query())
    if (request._tag !== "Request") throw new Error("a valid request")
    const decisions: Array<Authorize.Decision> = []
    for (let i = 0; i < 3; i++) {
      const [decision, next] = Authorize.authorize(state, { request, clientId: "client", code: `c-${i}`, expiresAt: 1 })
      decisions.push(decision)
      state = next
    }
    expect(decisions).toEqual([{ _tag: "Deny" }, { _tag: "Approve", user: "alice" }, {
      _tag: "Approve",
      user: "demo-user"
    }])
    expect(state.counters).toEqual({ authorizations: 2, denials: 1, codeExchanges: 0 })
  })

  it("redirectTo keeps the redirect URI's query and leaves out absent values", () => {
    expect(Authorize.redirectTo("https://app.example/cb?a=1", { code: "x y", state: undefined })).toBe(
      "https://app.example/cb?a=1&code=x+y"
    )
  })

  it("native apps' custom schemes are redirect URIs; fragments and scripts are not", () => {
    expect(Authorize.read(config, query({ redirect_uri: "com.example.app:/callback" }))._tag).toBe("Request")
    expect(Authorize.read(config, query({ redirect_uri: "https://app.example/cb#x" }))._tag).toBe("Invalid")
    expect(Authorize.read(config, query({ redirect_uri: "javascript:alert(1)" }))._tag).toBe("Invalid")
  })
})

describe("device", () => {
  it("user codes are eight consonants in two groups; typed codes are normalized", () => {
    for (let i = 0; i < 50; i++) {
      expect(Device.userCode()).toMatch(/^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$/)
    }
    expect(Device.normalizeUserCode(" bcdf ghjk ")).toBe("BCDF-GHJK")
    expect(Device.normalizeUserCode("bcdf-ghjk")).toBe("BCDF-GHJK")
  })

  const started = Device.start(Device.empty, {
    deviceCode: "d-1",
    userCode: "BCDF-GHJK",
    clientId: "client",
    scope: "openid",
    audience: undefined,
    expiresAt: 600_000,
    intervalSeconds: 5
  })

  it("an approval after the tokens were issued changes nothing: the code stays spent", () => {
    const [, approved] = Device.decide(started, "BCDF-GHJK", { _tag: "Approved", user: "alice" })
    const [granted, spent] = Device.poll(approved, { deviceCode: "d-1", clientId: "client", now: 0 })
    expect(granted._tag).toBe("Approved")
    const [found, again] = Device.decide(spent, "BCDF-GHJK", { _tag: "Approved", user: "mallory" })
    expect(found).toBe(true)
    const [poll] = Device.poll(again, { deviceCode: "d-1", clientId: "client", now: 10_000 })
    expect(poll).toMatchObject({ _tag: "Refused", error: "invalid_grant" })
  })

  it("a poll of another client is invalid_grant and does not count as the last poll", () => {
    const [other, after] = Device.poll(started, { deviceCode: "d-1", clientId: "other", now: 0 })
    expect(other).toMatchObject({ error: "invalid_grant" })
    const [own] = Device.poll(after, { deviceCode: "d-1", clientId: "client", now: 1 })
    expect(own).toMatchObject({ error: "authorization_pending" })
    expect(Device.decide(started, "ZZZZ-ZZZZ", { _tag: "Denied" })[0]).toBe(false)
  })
})
