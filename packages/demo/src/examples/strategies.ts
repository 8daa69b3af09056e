// docs/strategies.md: the two strategies.
import * as AuthenticationClient from "@effect-renewal/core/AuthenticationClient"
import * as RenewalStrategy from "@effect-renewal/core/RenewalStrategy"
import * as Renewer from "@effect-renewal/core/Renewer"
import * as TokenStore from "@effect-renewal/core/TokenStore"
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as Layer from "effect/Layer"

const Client = AuthenticationClient.layerConfig().pipe(Layer.provide(FetchHttpClient.layer))

// The refresh token: the default choice.
export const WithRefreshToken = Renewer.layer().pipe(
  Layer.provide(RenewalStrategy.refreshToken),
  Layer.provide([Client, TokenStore.layerMemory])
)

// Legacy delegation: renew only while the id_token has at least a minute left.
export const WithDelegation = Renewer.layer().pipe(
  Layer.provide(RenewalStrategy.delegation({ idTokenLeeway: "1 minute" })),
  Layer.provide([Client, TokenStore.layerMemory])
)
