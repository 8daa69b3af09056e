// The example of the README, kept here so that `pnpm check` compiles it.
import { AuthenticationClient, RenewalStrategy, Renewer, TokenCodec, TokenStore } from "@effect-renewal/core"
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as NodePath from "@effect/platform-node/NodePath"
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"

// OIDC_ISSUER, OIDC_CLIENT_ID (and OIDC_CLIENT_SECRET), EFFECT_RENEWAL_STORE_KEY from the environment:
// the provider's endpoints come from its discovery document (<issuer>/.well-known/openid-configuration)
const RenewerLive = Renewer.layer().pipe(
  Layer.provide(RenewalStrategy.refreshToken),
  Layer.provide(AuthenticationClient.layerDiscoveryConfig()),
  Layer.provide(FetchHttpClient.layer),
  Layer.provide(TokenStore.layerFileSystem({ directory: ".tokens" })),
  Layer.provide(TokenCodec.layerEncryptedConfig()),
  Layer.provide([NodeFileSystem.layer, NodePath.layer])
)

const callApi = Effect.gen(function*() {
  const renewer = yield* Renewer.Renewer
  const credentials = yield* renewer.get() // valid for at least the default minTtl; renewed if not
  return credentials.accessToken // Redacted: use it as a bearer token, never log it
}).pipe(
  Effect.catchTag("LoginRequired", () => Effect.logInfo("ask the user to log in again"))
)

export { callApi, RenewerLive }
