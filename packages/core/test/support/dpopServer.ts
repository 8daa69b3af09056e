/**
 * A DPoP authorization server and resource server of our own on a raw
 * loopback server, whose checks are written from RFC 9449 with `jose`'s
 * verifier (`jwtVerify` with `EmbeddedJWK`), independent of the library's
 * signing: `typ`, `alg`, the signature, `htm`, `htu`, `iat`, a `jti` never
 * seen before, `ath` at the resource server, and the nonce each end demands
 * (apart). Refresh tokens rotate, with reuse detection that revokes the
 * family; every token is bound to the key of the proof that obtained it.
 *
 * `/oauth/token` (refresh_token grant), `/oauth/revoke`, and `GET /api/...`
 * (the resource, answering the `sub` of the token).
 */
import * as Effect from "effect/Effect"
import * as jose from "jose"
import type * as Http from "node:http"
import { rawServer, type Received } from "./rawServer.js"

export interface Proof {
  readonly path: string
  readonly payload: jose.JWTPayload & {
    readonly htm?: string
    readonly htu?: string
    readonly nonce?: string
    readonly ath?: string
  }
  readonly jkt: string
  /** The status the server answered. */
  status: number
  /** Why the server refused, if it did. */
  error?: string
}

export interface DpopServer {
  readonly url: string
  /** Every request, proof or not, in order: what was checked and what was answered. */
  readonly requests: Array<{
    readonly path: string
    readonly authorization: string | undefined
    readonly dpop: string | undefined
    status: number
    error?: string
  }>
  /** Every proof that verified. */
  readonly proofs: Array<Proof>
  /** Nonces the ends demand (undefined: none); set them to rotate. */
  nonce: { token: string | undefined; resource: string | undefined }
  /** A refresh token and access token bound to `jkt` (undefined: Bearer), as a login would give. */
  readonly mint: (jkt: string | undefined) => { readonly accessToken: string; readonly refreshToken: string }
  /** Refresh tokens presented after they were rotated (reuse), and families revoked for it. */
  readonly reuses: () => number
  /** Access tokens the resource server refuses from now on (`invalid_token`). */
  readonly expire: (accessToken: string) => void
}

interface Family {
  readonly jkt: string | undefined
  current: string
  revoked: boolean
}

const random = () => jose.base64url.encode(crypto.getRandomValues(new Uint8Array(24)))

const sha256 = async (value: string) =>
  jose.base64url.encode(new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(value))))

export const start = Effect.gen(function*() {
  const families = new Map<string, Family>()
  const accessTokens = new Map<string, { jkt: string | undefined; sub: string }>()
  const expired = new Set<string>()
  const jtis = new Set<string>()
  let reuses = 0
  const state: Omit<DpopServer, "url"> = {
    requests: [],
    proofs: [],
    nonce: { token: undefined, resource: undefined },
    mint: (jkt) => {
      const refreshToken = random()
      const accessToken = random()
      families.set(refreshToken, { jkt, current: refreshToken, revoked: false })
      accessTokens.set(accessToken, { jkt, sub: "alice" })
      return { accessToken, refreshToken }
    },
    reuses: () => reuses,
    expire: (token) => expired.add(token)
  }
  let base = ""

  const answer = (
    response: Http.ServerResponse,
    status: number,
    body: unknown,
    headers: Record<string, string> = {}
  ) => {
    response.writeHead(status, { "content-type": "application/json", ...headers })
    response.end(JSON.stringify(body))
  }

  /** Verifies a proof for `method` at `path`: the payload and the key's thumbprint, or why not. */
  const verify = async (
    received: Received,
    method: string,
    accessToken: string | undefined
  ): Promise<Proof | string> => {
    const header = received.headers["dpop"]
    if (typeof header !== "string") return "no DPoP proof"
    try {
      const { payload, protectedHeader } = await jose.jwtVerify(header, jose.EmbeddedJWK, {
        typ: "dpop+jwt",
        algorithms: ["ES256"]
      })
      if ((protectedHeader.jwk as Record<string, unknown> | undefined)?.["d"] !== undefined) {
        return "a private key in the header"
      }
      const path = new URL(received.url, base).pathname
      if (payload.htm !== method) return "htm"
      if (payload.htu !== `${base}${path}`) return "htu"
      if (typeof payload.iat !== "number" || Math.abs(payload.iat - Date.now() / 1000) > 60) return "iat"
      if (typeof payload.jti !== "string" || jtis.has(payload.jti)) return "jti replayed"
      jtis.add(payload.jti)
      if (accessToken !== undefined && payload.ath !== await sha256(accessToken)) return "ath"
      if (accessToken === undefined && payload.ath !== undefined) return "ath at the token endpoint"
      return {
        path,
        payload: payload as Proof["payload"],
        jkt: await jose.calculateJwkThumbprint(protectedHeader.jwk!),
        status: 0
      }
    } catch (error) {
      return `unverifiable: ${error instanceof Error ? error.message : String(error)}`
    }
  }

  const token = async (received: Received) => {
    const form = new URLSearchParams(received.body)
    const proof = received.headers["dpop"] === undefined ? undefined : await verify(received, "POST", undefined)
    if (typeof proof === "string") return [400, { error: "invalid_dpop_proof", error_description: proof }] as const
    if (proof !== undefined) state.proofs.push(proof)
    if (proof !== undefined && state.nonce.token !== undefined && proof.payload.nonce !== state.nonce.token) {
      return [400, { error: "use_dpop_nonce", error_description: "nonce" }, {
        "dpop-nonce": state.nonce.token
      }] as const
    }
    if (new URL(received.url, base).pathname === "/oauth/revoke") {
      const family = families.get(form.get("token") ?? "")
      if (family !== undefined) family.revoked = true
      return [200, {}] as const
    }
    const presented = form.get("refresh_token") ?? ""
    const family = families.get(presented)
    if (family === undefined || family.revoked) {
      return [400, { error: "invalid_grant", error_description: "unknown" }] as const
    }
    if (family.current !== presented) {
      reuses++
      family.revoked = true
      return [400, { error: "invalid_grant", error_description: "reused" }] as const
    }
    // a bound refresh token needs a proof of its key (RFC 9449 §5)
    if (family.jkt !== undefined && proof?.jkt !== family.jkt) {
      return [400, { error: "invalid_grant", error_description: "not the key of the refresh token" }] as const
    }
    const next = random()
    family.current = next
    families.set(next, family)
    const accessToken = random()
    const jkt = proof?.jkt ?? family.jkt
    accessTokens.set(accessToken, { jkt, sub: "alice" })
    return [200, {
      access_token: accessToken,
      refresh_token: next,
      token_type: jkt === undefined ? "Bearer" : "DPoP",
      expires_in: 3600,
      ...(form.get("scope") === null ? {} : { scope: form.get("scope") })
    }, state.nonce.token === undefined ? {} : { "dpop-nonce": state.nonce.token }] as const
  }

  const resource = async (received: Received) => {
    const authorization = received.headers["authorization"] ?? ""
    const [scheme = "", value = ""] = authorization.split(" ")
    const known = accessTokens.get(value)
    const challenge = (error: string) => ({ "www-authenticate": `DPoP error="${error}", algs="ES256"` })
    if (known === undefined || expired.has(value)) {
      return [401, { error: "invalid_token" }, challenge("invalid_token")] as const
    }
    if (known.jkt === undefined) {
      return scheme === "Bearer" && received.headers["dpop"] === undefined
        ? [200, { sub: known.sub, scheme }] as const
        : [401, { error: "invalid_request" }, challenge("invalid_request")] as const
    }
    if (scheme !== "DPoP") return [401, { error: "invalid_token" }, challenge("invalid_token")] as const
    const proof = await verify(received, "GET", value)
    if (typeof proof === "string") {
      return [401, { error: "invalid_dpop_proof", error_description: proof }, challenge("invalid_dpop_proof")] as const
    }
    state.proofs.push(proof)
    if (state.nonce.resource !== undefined && proof.payload.nonce !== state.nonce.resource) {
      return [401, { error: "use_dpop_nonce" }, {
        ...challenge("use_dpop_nonce"),
        "dpop-nonce": state.nonce.resource
      }] as const
    }
    if (proof.jkt !== known.jkt) return [401, { error: "invalid_token" }, challenge("invalid_token")] as const
    return [200, { sub: known.sub, scheme }] as const
  }

  base = yield* rawServer(() => (received, response) => {
    const path = new URL(received.url, "http://x").pathname
    const entry: DpopServer["requests"][number] = {
      path,
      authorization: received.headers["authorization"],
      dpop: typeof received.headers["dpop"] === "string" ? received.headers["dpop"] : undefined,
      status: 0
    }
    state.requests.push(entry)
    const handled = path.startsWith("/oauth/") ? token(received) : resource(received)
    void handled.then(([status, body, headers]) => {
      entry.status = status
      const error = (body as { readonly error?: string }).error
      if (error !== undefined) entry.error = error
      const last = state.proofs.at(-1)
      if (last !== undefined && last.status === 0) {
        last.status = status
        if (error !== undefined) last.error = error
      }
      answer(response, status, body, headers)
    })
  })
  return Object.assign(state, { url: base }) as DpopServer
})
