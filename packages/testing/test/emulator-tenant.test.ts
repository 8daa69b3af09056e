/**
 * The tenant's rules as pure transitions: no HTTP, no Ref, time as a number.
 */
import * as Tenant from "@effect-renewal/testing/internal/tenant"
import { describe, expect, it } from "@effect/vitest"

const MINUTE = 60_000

const policy = (overrides: Partial<Tenant.Policy> = {}): Tenant.Policy => ({
  rotation: true,
  reuseIntervalMillis: 0,
  absoluteMillis: Infinity,
  idleMillis: Infinity,
  audiences: undefined,
  ...overrides
})

const API = "https://api.example"

const loggedIn = (scope = "openid offline_access read:a", now = 0) =>
  Tenant.login(Tenant.empty, { familyId: "f1", user: "alice", scope, audience: API, refreshToken: "rt-0", now })[1]

let drawn = 0
const refresh = (
  p: Tenant.Policy,
  state: Tenant.State,
  token: string,
  now: number,
  asked: { readonly scope?: string; readonly audience?: string } = {}
) => Tenant.refresh(p, state, { token, scope: asked.scope, audience: asked.audience, nextToken: `rt-${++drawn}`, now })

const granted = (outcome: Tenant.Grant | Tenant.Rejected): Tenant.Grant => {
  if (outcome._tag === "Rejected") throw new Error(`expected a grant, got ${outcome.description}`)
  return outcome
}

describe("Tenant", () => {
  it("a login issues a refresh token and starts a family only with offline_access", () => {
    const [online, s1] = Tenant.login(Tenant.empty, {
      familyId: "f0",
      user: "bob",
      scope: "openid  profile openid",
      audience: API,
      refreshToken: "unused",
      now: 0
    })
    expect(online).toEqual({
      _tag: "Grant",
      user: "bob",
      scope: "openid profile",
      audience: API,
      refreshToken: undefined
    })
    expect(s1.counters.logins).toBe(1)
    expect(Tenant.isRevoked(s1, "unused")).toBe(false)
    expect(refresh(policy(), s1, "unused", 0)[0]).toMatchObject({ _tag: "Rejected", error: "invalid_grant" })

    const state = loggedIn()
    expect(granted(refresh(policy(), state, "rt-0", 0)[0]).user).toBe("alice")
  })

  it("rotation: a new token for the old one, which is then reuse and revokes the family", () => {
    const p = policy()
    const [first, s1] = refresh(p, loggedIn(), "rt-0", MINUTE)
    const next = granted(first).refreshToken!
    expect(next).not.toBe("rt-0")
    expect(s1.counters.rotations).toBe(1)

    const [reused, s2] = refresh(p, s1, "rt-0", 2 * MINUTE)
    expect(reused).toEqual({
      _tag: "Rejected",
      error: "invalid_grant",
      description: "Unknown or invalid refresh token."
    })
    expect(s2.counters).toMatchObject({ reuseDetections: 1, revokedFamilies: 1 })
    expect(Tenant.isRevoked(s2, next)).toBe(true)
    // the family is gone: its newest token is refused too, and nothing is counted again
    const [afterRevocation, s3] = refresh(p, s2, next, 2 * MINUTE)
    expect(afterRevocation._tag).toBe("Rejected")
    expect(s3).toBe(s2)
  })

  it("the reuse interval: a rotated-out token works again until it has passed", () => {
    const p = policy({ reuseIntervalMillis: 30_000 })
    const [, s1] = refresh(p, loggedIn(), "rt-0", 0)
    const [again, s2] = refresh(p, s1, "rt-0", 29_999)
    expect(granted(again).refreshToken).toBeTypeOf("string")
    expect(s2.counters).toMatchObject({ rotations: 2, reuseDetections: 0, revokedFamilies: 0 })
    // the interval counts from the first rotation, not from the last reuse
    const [late, s3] = refresh(p, s2, "rt-0", 30_000)
    expect(late._tag).toBe("Rejected")
    expect(s3.counters).toMatchObject({ reuseDetections: 1, revokedFamilies: 1 })
  })

  it("without rotation the token stays and no new one is issued", () => {
    const p = policy({ rotation: false })
    const [a, s1] = refresh(p, loggedIn(), "rt-0", 0)
    const [b, s2] = refresh(p, s1, "rt-0", MINUTE)
    expect(granted(a).refreshToken).toBeUndefined()
    expect(granted(b).refreshToken).toBeUndefined()
    expect(s2.counters.rotations).toBe(0)
  })

  it("the idle lifetime counts from the last use; expiry is not reuse", () => {
    const p = policy({ rotation: false, idleMillis: 60 * MINUTE })
    const [, s1] = refresh(p, loggedIn(), "rt-0", 50 * MINUTE)
    const [ok, s2] = refresh(p, s1, "rt-0", 100 * MINUTE)
    expect(ok._tag).toBe("Grant")
    const [expired, s3] = refresh(p, s2, "rt-0", 160 * MINUTE)
    expect(expired).toMatchObject({ _tag: "Rejected", description: expect.stringMatching(/idle lifetime/) })
    expect(s3).toBe(s2)
  })

  it("the absolute lifetime counts from the login, across rotations", () => {
    const p = policy({ absoluteMillis: 24 * 60 * MINUTE })
    const [first, s1] = refresh(p, loggedIn(), "rt-0", 23 * 60 * MINUTE)
    const [expired, s2] = refresh(p, s1, granted(first).refreshToken!, 24 * 60 * MINUTE)
    expect(expired).toMatchObject({ _tag: "Rejected", description: expect.stringMatching(/absolute lifetime/) })
    expect(s2.counters.revokedFamilies).toBe(0)
  })

  it("a scope asked must be within the granted one; a refusal changes nothing", () => {
    const state = loggedIn()
    const [narrower] = refresh(policy(), state, "rt-0", 0, { scope: "read:a  offline_access read:a" })
    expect(granted(narrower).scope).toBe("read:a offline_access")
    const [wider, after] = refresh(policy(), state, "rt-0", 0, { scope: "openid write:a" })
    expect(wider).toMatchObject({ _tag: "Rejected", error: "invalid_scope" })
    expect(after).toBe(state)
  })

  describe("audience", () => {
    const family = (audience: string): Tenant.Family => ({
      id: "f",
      user: "u",
      scope: "openid",
      audience,
      createdAt: 0,
      revoked: false
    })
    const allowing = policy({ audiences: new Set(["https://orders.example"]) })

    it("an allowed audience, or the login's, is granted; another gets the login's", () => {
      expect(Tenant.audienceFor(allowing, family(API), undefined)).toBe(API)
      expect(Tenant.audienceFor(allowing, family(API), API)).toBe(API)
      expect(Tenant.audienceFor(allowing, family(API), "https://orders.example")).toBe("https://orders.example")
      expect(Tenant.audienceFor(allowing, family(API), "https://billing.example")).toBe(API)
      expect(Tenant.audienceFor(policy({ audiences: new Set() }), family(API), "https://orders.example")).toBe(API)
      // no policy: every audience is granted
      expect(Tenant.audienceFor(policy(), family(API), "https://billing.example")).toBe("https://billing.example")
    })

    it("a refresh grant carries the audience the policy allows", () => {
      const state = loggedIn()
      const [allowed] = refresh(allowing, state, "rt-0", 0, { audience: "https://orders.example" })
      expect(granted(allowed).audience).toBe("https://orders.example")
      const [refused] = refresh(allowing, state, "rt-0", 0, { audience: "https://billing.example" })
      expect(granted(refused).audience).toBe(API)
    })
  })

  it("delegation uses a token without rotating it; a rotated-out one is refused without revoking", () => {
    const p = policy()
    const [used, s1] = Tenant.use(p, loggedIn(), "rt-0", MINUTE)
    expect(used).toEqual({ _tag: "Used", user: "alice" })
    expect(s1.counters.rotations).toBe(0)
    const [, s2] = refresh(p, s1, "rt-0", MINUTE)
    const [refused, s3] = Tenant.use(p, s2, "rt-0", MINUTE)
    expect(refused._tag).toBe("Rejected")
    expect(s3).toBe(s2)
  })

  it("revoking a family; an unknown token changes nothing", () => {
    const state = loggedIn()
    expect(Tenant.revokeFamilyOf(state, "unknown")).toBe(state)
    const revoked = Tenant.revokeFamilyOf(state, "rt-0")
    expect(Tenant.isRevoked(revoked, "rt-0")).toBe(true)
    expect(revoked.counters.revokedFamilies).toBe(1)
    expect(Tenant.revokeFamilyOf(revoked, "rt-0")).toBe(revoked)
    expect(Tenant.isRevoked(state, "unknown")).toBe(false)
  })
})
