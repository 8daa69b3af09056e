/**
 * The wire of the emulated endpoints: routing, form and JSON bodies, client
 * authentication (body or HTTP Basic), and the answers, with both Auth0 error
 * body formats (`{error, error_description}` and `{code, description}`).
 */
import type * as Emulator from "../Emulator.js"
import type { Config } from "./config.js"

/** The test-only grant that mints an initial login over HTTP. @internal */
export const TEST_LOGIN_GRANT = "urn:effect-renewal:test-login"

/** The grant of the authorization code flow. @internal */
export const AUTHORIZATION_CODE_GRANT = "authorization_code"

/** The grant of the device flow (RFC 8628 §3.4). @internal */
export const DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"

/** The grant of the legacy `/delegation` endpoint. @internal */
export const JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"

/** The parameters of a request, first value of each name. @internal */
export type Params = Readonly<Record<string, string>>

/** @internal */
export type Response = Extract<Emulator.EmulatorOutput, { readonly _tag: "Response" }>

/**
 * A request as routed and parsed: `params` are the query's for `GET`, the
 * body's otherwise, `undefined` for a malformed body.
 *
 * @internal
 */
export interface Parsed {
  readonly endpoint: Emulator.Endpoint | "other"
  readonly path: string
  readonly params: Params | undefined
}

const route = (path: string): Emulator.Endpoint | "other" => {
  switch (path) {
    case "/oauth/token":
      return "token"
    case "/delegation":
      return "delegation"
    case "/oauth/revoke":
      return "revoke"
    case "/authorize":
      return "authorize"
    case "/oauth/device/code":
      return "device"
    case "/.well-known/openid-configuration":
    case "/.well-known/oauth-authorization-server":
      return "discovery"
    case "/.well-known/jwks.json":
      return "jwks"
    case "/userinfo":
      return "userinfo"
    default:
      return "other"
  }
}

const parseJson = (body: string): Params | undefined => {
  if (body.trim() === "") return {}
  let value: unknown
  try {
    value = JSON.parse(body)
  } catch {
    return undefined
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) return undefined
  const params: Record<string, string> = {}
  for (const [key, v] of Object.entries(value)) {
    if (typeof v === "string") params[key] = v
    else if (typeof v === "number" || typeof v === "boolean") params[key] = String(v)
  }
  return params
}

const parseForm = (body: string): Params => {
  const params: Record<string, string> = {}
  for (const [key, value] of new URLSearchParams(body)) {
    if (!(key in params)) params[key] = value
  }
  return params
}

/** @internal */
export const parse = (request: Emulator.EmulatorRequest): Parsed => {
  const query = request.path.indexOf("?")
  // `<issuer>/.well-known/...` with an issuer ending in `/` doubles a slash
  const path = (query < 0 ? request.path : request.path.slice(0, query)).replace(/\/{2,}/g, "/")
  if (request.method.toUpperCase() === "GET") {
    return { endpoint: route(path), path, params: query < 0 ? {} : parseForm(request.path.slice(query + 1)) }
  }
  const json = (request.headers["content-type"] ?? "").toLowerCase().includes("json")
  return { endpoint: route(path), path, params: json ? parseJson(request.body) : parseForm(request.body) }
}

/** A parameter, `undefined` when absent or empty. @internal */
export const param = (params: Params, name: string): string | undefined => {
  const value = params[name]
  return value === undefined || value === "" ? undefined : value
}

const formDecode = (s: string): string => {
  try {
    return decodeURIComponent(s.replace(/\+/g, " "))
  } catch {
    return s
  }
}

/** HTTP Basic client credentials (RFC 6749 §2.3.1: form-encoded id and secret). @internal */
export const parseBasic = (
  header: string | undefined
): { readonly id: string; readonly secret: string } | undefined => {
  if (header === undefined) return undefined
  const match = /^basic\s+(\S+)\s*$/i.exec(header)
  if (match === null) return undefined
  const decoded = Buffer.from(match[1]!, "base64").toString("utf8")
  const colon = decoded.indexOf(":")
  if (colon < 0) return undefined
  return { id: formDecode(decoded.slice(0, colon)), secret: formDecode(decoded.slice(colon + 1)) }
}

const jsonHeaders = {
  "content-type": "application/json; charset=utf-8",
  "cache-control": "no-store",
  "pragma": "no-cache"
}

/** @internal */
export const json = (status: number, body: unknown, headers?: Record<string, string>): Response => ({
  _tag: "Response",
  status,
  headers: { ...jsonHeaders, ...headers },
  body: JSON.stringify(body)
})

/** An error body in either Auth0 format. @internal */
export const errorBody = (format: Emulator.ErrorFormat, error: string, description: string) =>
  format === "oauth" ? { error, error_description: description } : { code: error, description }

/** A response without a body. @internal */
export const empty = (status: number): Response => ({ _tag: "Response", status, headers: {}, body: "" })

const escapeHtml = (text: string): string =>
  text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;")

/** An HTML page, e.g. the error page of a request that cannot be redirected. @internal */
export const page = (status: number, title: string, text: string): Response => ({
  _tag: "Response",
  status,
  headers: { "content-type": "text/html; charset=utf-8", "cache-control": "no-store" },
  body: `<!DOCTYPE html>\n<html><head><title>${escapeHtml(title)}</title></head>` +
    `<body><h1>${escapeHtml(title)}</h1><p>${escapeHtml(text)}</p></body></html>\n`
})

/** A `302 Found` to `location`. @internal */
export const redirect = (location: string): Response => ({
  _tag: "Response",
  status: 302,
  headers: { location, "cache-control": "no-store" },
  body: ""
})

/** @internal */
export const oauthError = (status: number, error: string, description: string, headers?: Record<string, string>) =>
  json(status, errorBody("oauth", error, description), headers)

/** @internal */
export const missing = (name: string): Response =>
  oauthError(400, "invalid_request", `Missing required parameter: ${name}`)

/** @internal */
export const unsupportedGrant = (grantType: string): Response =>
  oauthError(400, "unsupported_grant_type", `Unsupported grant type: ${grantType}`)

/**
 * Checks the client: its id in the body or in HTTP Basic (not two different
 * ones) and, where `requireSecret` and the tenant has one, its secret.
 *
 * @internal
 */
export const authenticateClient = (
  config: Pick<Config, "clientId" | "clientSecret">,
  request: Emulator.EmulatorRequest,
  params: Params,
  requireSecret: boolean
): Response | undefined => {
  const basic = parseBasic(request.headers["authorization"])
  const bodyClientId = param(params, "client_id")
  if (basic !== undefined && bodyClientId !== undefined && bodyClientId !== basic.id) {
    return oauthError(401, "invalid_client", "Conflicting client credentials.")
  }
  const clientId = basic?.id ?? bodyClientId
  if (clientId === undefined) return oauthError(401, "invalid_client", "Missing client_id.")
  if (clientId !== config.clientId) return oauthError(401, "invalid_client", "Unknown client.")
  if (requireSecret && config.clientSecret !== undefined) {
    const secret = basic?.secret ?? param(params, "client_secret")
    if (secret !== config.clientSecret) return oauthError(401, "invalid_client", "Client authentication failed.")
  }
  return undefined
}

/** A request an endpoint takes. @internal */
export interface Accepted {
  readonly _tag: "Accepted"
  readonly endpoint: Emulator.Endpoint
  readonly params: Params
}

/** The endpoints read with `GET`; the others take a `POST`. @internal */
const getEndpoints: ReadonlySet<Emulator.Endpoint> = new Set(["authorize", "discovery", "jwks", "userinfo"])

/**
 * The request for its endpoint, or the answer when none takes it: an unknown
 * path, another method than the endpoint's (`GET` for `/authorize`, the
 * documents and `/userinfo`, `POST` for the others), a malformed body, or a client that fails
 * authentication. `/authorize` checks its client itself (an error there is a
 * page, not JSON); the legacy `/delegation` endpoint takes no client secret.
 *
 * @internal
 */
export const accept = (
  config: Pick<Config, "clientId" | "clientSecret">,
  request: Emulator.EmulatorRequest,
  parsed: Parsed
): Accepted | Response => {
  const { endpoint, params } = parsed
  if (endpoint === "other") return json(404, { error: "not_found" })
  const method = getEndpoints.has(endpoint) ? "GET" : "POST"
  if (request.method.toUpperCase() !== method) {
    return oauthError(405, "method_not_allowed", `${request.method} is not allowed, use ${method}.`, { allow: method })
  }
  if (params === undefined) return oauthError(400, "invalid_request", "Malformed request body.")
  if (method === "GET") return { _tag: "Accepted", endpoint, params }
  const unauthenticated = authenticateClient(config, request, params, endpoint !== "delegation")
  return unauthenticated ?? { _tag: "Accepted", endpoint, params }
}
