import * as AuthenticationClient from "@effect-renewal/core/AuthenticationClient"
import * as RenewalStrategy from "@effect-renewal/core/RenewalStrategy"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { AuthenticationClientTag } from "../../src/internal/clientTag.js"

describe("the AuthenticationClient Tag of RenewalStrategy", () => {
  it("has the key of AuthenticationClient", () => {
    expect(AuthenticationClientTag.key).toBe(AuthenticationClient.AuthenticationClient.key)
  })

  it.effect("the strategy finds the client provided with the class Tag", () =>
    Effect.gen(function*() {
      // found by its key: without it, the effects below fail with a missing service
      const client = {} as AuthenticationClient.AuthenticationClient.Service
      const strategy = yield* RenewalStrategy.makeRefreshToken.pipe(
        Effect.provideService(AuthenticationClient.AuthenticationClient, client)
      )
      expect(strategy.name).toBe("refresh_token")
      const delegation = yield* RenewalStrategy.makeDelegation().pipe(
        Effect.provideService(AuthenticationClient.AuthenticationClient, client)
      )
      expect(delegation.name).toBe("delegation")
    }))
})
