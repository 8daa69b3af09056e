/**
 * The discovery document (OpenID Connect Discovery 1.0, RFC 8414): the
 * issuer and the endpoints the emulator serves, on the issuer's origin.
 */
import type { Config } from "./config.js"
import * as Protocol from "./protocol.js"

/** The paths of the endpoints, Auth0's. @internal */
export const paths = {
  authorization: "/authorize",
  token: "/oauth/token",
  device: "/oauth/device/code",
  revocation: "/oauth/revoke",
  jwks: "/.well-known/jwks.json",
  userinfo: "/userinfo",
  activate: "/activate"
} as const

/** An endpoint's absolute URL: its path on the issuer's origin. @internal */
export const endpoint = (issuer: string, path: string): string => new URL(path, issuer).href

/** The document served at `/.well-known/openid-configuration`. @internal */
export const document = (config: Pick<Config, "issuer" | "clientSecret" | "idTokenAlgorithm" | "dpop">) => ({
  issuer: config.issuer,
  authorization_endpoint: endpoint(config.issuer, paths.authorization),
  token_endpoint: endpoint(config.issuer, paths.token),
  device_authorization_endpoint: endpoint(config.issuer, paths.device),
  revocation_endpoint: endpoint(config.issuer, paths.revocation),
  jwks_uri: endpoint(config.issuer, paths.jwks),
  userinfo_endpoint: endpoint(config.issuer, paths.userinfo),
  response_types_supported: ["code"],
  response_modes_supported: ["query"],
  grant_types_supported: ["authorization_code", "refresh_token", Protocol.DEVICE_CODE_GRANT],
  code_challenge_methods_supported: ["S256"],
  token_endpoint_auth_methods_supported: config.clientSecret === undefined
    ? ["none", "client_secret_post", "client_secret_basic"]
    : ["client_secret_post", "client_secret_basic"],
  revocation_endpoint_auth_methods_supported: config.clientSecret === undefined
    ? ["none", "client_secret_post", "client_secret_basic"]
    : ["client_secret_post", "client_secret_basic"],
  id_token_signing_alg_values_supported: [config.idTokenAlgorithm],
  scopes_supported: ["openid", "profile", "email", "offline_access"],
  subject_types_supported: ["public"],
  claims_supported: ["iss", "sub", "aud", "exp", "iat", "nonce", "email"],
  authorization_response_iss_parameter_supported: true,
  dpop_signing_alg_values_supported: config.dpop.algorithms
})
