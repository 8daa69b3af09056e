/**
 * docs/semantics.md: a RenewalPolicy for the Renewer.
 */
import { RenewalPolicy, RenewalStrategy, Renewer } from "@effect-renewal/core"
import type { AuthenticationClient, AuthError, TokenStore } from "@effect-renewal/core"
import * as Layer from "effect/Layer"

// --- policy ---
const Policy = RenewalPolicy.layer({
  retry: RenewalPolicy.exponentialBackoff({ base: "100 millis", max: "2 seconds", retries: 3 }),
  attemptTimeout: "5 seconds",
  deadline: "15 seconds",
  minTtl: "1 minute",
  maxRetryAfter: "10 seconds"
})

// The Renewer reads the policy when it is built: provide it to its layer.
export const RenewerLive: Layer.Layer<
  Renewer.Renewer,
  AuthError.InvalidConfiguration,
  TokenStore.TokenStore | AuthenticationClient.AuthenticationClient
> = Renewer.layer({ key: "alice" }).pipe(
  Layer.provide(RenewalStrategy.refreshToken),
  Layer.provide(Policy)
)
// --- end policy ---
