import { AuthError, RenewalPolicy, TokenStore } from "@effect-renewal/core"
import type { RenewalStrategy } from "@effect-renewal/core"
import { Fixtures } from "@effect-renewal/testing"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Scope from "effect/Scope"
import * as Knowledge from "../../src/internal/knowledge.js"
import * as Policy from "../../src/internal/policy.js"
import * as Renewal from "../../src/internal/renewal.js"
import * as Timers from "../../src/internal/timers.js"

const key = "session"

const request = (options: Partial<Renewal.Request> = {}): Renewal.Request => ({
  audience: undefined,
  scope: undefined,
  minTtl: 30_000,
  forceRefresh: false,
  parameters: undefined,
  ...options
})

// A JWT whose payload claims `aud` (no signature: the library never checks one).
const jwt = (aud: string) => `e30.${Buffer.from(JSON.stringify({ aud })).toString("base64url")}.sig`

const setup = (
  renew: RenewalStrategy.RenewalStrategy.Service["renew"],
  wrap: (store: TokenStore.TokenStore.Service) => TokenStore.TokenStore.Service = (store) => store
) =>
  Effect.gen(function*() {
    const memory = yield* TokenStore.makeMemory
    const store = wrap(memory)
    const clock = yield* Effect.clock
    const scope = yield* Scope.make()
    const knowledge = Knowledge.make(Option.none(), 30_000, () => clock.unsafeCurrentTimeMillis())
    const calls: Array<RenewalStrategy.RenewOptions> = []
    const runner = Policy.make(RenewalPolicy.defaultPolicy, clock, Timers.make(clock, Effect.succeed(scope)))
    const renewal = Renewal.make({
      key,
      store,
      knowledge,
      strategy: {
        renew: (current, options) => Effect.suspend(() => (calls.push(options), renew(current, options))),
        revoke: () => Effect.void
      },
      runner,
      clock,
      closing: () => undefined
    })
    const run = (r: Renewal.Request) =>
      Effect.flatMap(runner.watch(() => {}), (watch) => Effect.uninterruptible(renewal.renew(r, watch)))
    const entry = (k: string) => Effect.map(store.get(k), Option.getOrUndefined)
    return { store: memory, knowledge, run, calls, entry }
  })

const value = (token: Redacted.Redacted<string> | undefined) => token === undefined ? undefined : Redacted.value(token)

describe("internal/renewal", () => {
  it.effect("re-reads the store: credentials renewed by someone else are used without a request", () =>
    Effect.gen(function*() {
      const { calls, knowledge, run, store } = yield* setup(() => Fixtures.credentials({ accessToken: "new" }))
      const fresh = yield* Fixtures.credentials({ accessToken: "theirs", refreshToken: "r" })
      yield* store.set(key, fresh)
      const got = yield* run(request())
      expect(value(got.accessToken)).toBe("theirs")
      expect(calls).toEqual([])
      expect(knowledge.login()).toBe(fresh)
    }))

  it.effect("asks for the login's scope explicitly, and keeps the refresh token the answer lacks", () =>
    Effect.gen(function*() {
      const { calls, entry, run, store } = yield* setup(() => Fixtures.credentials({ accessToken: "new" }))
      yield* store.set(key, yield* Fixtures.credentials({ refreshToken: "r", scope: "openid email", ttl: "0 millis" }))
      const got = yield* run(request())
      expect(calls).toEqual([{ scope: "openid email", audience: undefined, parameters: undefined }])
      expect(got.scope).toBe("openid email")
      expect(value((yield* entry(key))!.refreshToken)).toBe("r")
    }))

  it.effect("only RefreshTokenRejected drops the refresh token", () =>
    Effect.gen(function*() {
      for (const [code, dropped] of [["invalid_grant", true], ["mfa_required", false]] as const) {
        const { entry, run, store } = yield* setup(() =>
          Effect.fail(new AuthError.AuthApiError({ status: 403, code, description: "no" }))
        )
        yield* store.set(key, yield* Fixtures.credentials({ refreshToken: "r", ttl: "0 millis" }))
        const error = yield* Effect.flip(run(request()))
        expect(error._tag).toBe("LoginRequired")
        expect(error._tag === "LoginRequired" && error.reason).toBe(dropped ? "RefreshTokenRejected" : "ActionRequired")
        expect((yield* entry(key))!.refreshToken === undefined).toBe(dropped)
      }
    }))

  it.effect("API credentials: kept under a derived key, without the refresh token; a rotated one goes to the session", () =>
    Effect.gen(function*() {
      const { calls, entry, knowledge, run, store } = yield* setup(() =>
        Fixtures.credentials({ accessToken: jwt("https://api"), refreshToken: "rotated" })
      )
      const login = yield* Fixtures.credentials({ accessToken: "login", refreshToken: "r", scope: "openid" })
      yield* store.set(key, login)
      const got = yield* run(request({ audience: "https://api", parameters: { device: "d1" } }))
      expect(calls).toEqual([{ scope: "openid", audience: "https://api", parameters: { device: "d1" } }])
      expect(got.refreshToken).toBeUndefined()
      const target = Renewal.target(request({ audience: "https://api" }), "openid")
      expect(target.name).toBeDefined()
      expect(value((yield* entry(TokenStore.derivedKey(key, target.name!)))!.accessToken)).toBe(jwt("https://api"))
      const session = (yield* entry(key))!
      expect(value(session.accessToken)).toBe("login") // the login is never replaced by API credentials
      expect(value(session.refreshToken)).toBe("rotated")
      expect(knowledge.api(target.name!)).toEqual(got)
    }))

  it.effect("an access token for another audience is a typed failure, and the rotated refresh token is saved", () =>
    Effect.gen(function*() {
      const { entry, run, store } = yield* setup(() =>
        Fixtures.credentials({ accessToken: jwt("https://default"), refreshToken: "rotated" })
      )
      yield* store.set(key, yield* Fixtures.credentials({ refreshToken: "r" }))
      const error = yield* Effect.flip(run(request({ audience: "https://other" })))
      expect(error._tag === "RenewalFailed" && error.reason).toBe("AudienceMismatch")
      expect(value((yield* entry(key))!.refreshToken)).toBe("rotated")
    }))

  it.effect("a failed save reports the credentials that could not be saved", () =>
    Effect.gen(function*() {
      const full = new AuthError.StoreError({ operation: "set", key, description: "full" })
      let writable = true
      const { run, store } = yield* setup(
        () => Fixtures.credentials({ accessToken: "new", refreshToken: "rotated" }),
        (store) => ({ ...store, set: (k, c) => writable ? store.set(k, c) : Effect.fail(full) })
      )
      yield* store.set(key, yield* Fixtures.credentials({ refreshToken: "r", ttl: "0 millis" }))
      writable = false
      const error = yield* Effect.flip(run(request()))
      expect(error._tag).toBe("StoreError")
      expect(error._tag === "StoreError" && value(error.unsaved?.refreshToken)).toBe("rotated")
    }))

  it("a request is for the login unless it names an audience or another scope", () => {
    expect(Renewal.target(request({ scope: "email  openid" }), "openid email").name).toBeUndefined()
    const api = Renewal.target(request({ scope: "openid" }), "openid email")
    expect(api).toMatchObject({ audience: undefined, scope: "openid" })
    expect(Renewal.target(request({ audience: "a" }), "openid").scope).toBe("openid")
    expect(Renewal.target(request({ audience: "a", scope: "x y" }), "openid").name).toBe(
      Renewal.target(request({ audience: "a", scope: "y x" }), "z").name
    )
  })
})
