/**
 * An Auth0-compatible authorization server for tests: a model of a tenant
 * (refresh token rotation with families, reuse detection, reuse interval,
 * absolute and idle lifetimes, legacy delegation, revocation), the logins
 * of OpenID Connect (discovery, JWKS, RS256 id_tokens, `/authorize` with
 * PKCE, the device flow) with approvals a test scripts, DPoP (RFC 9449) with
 * a protected resource, scripted faults, a request log and counters.
 *
 * The model is written once and served two ways:
 *
 * - `layerMemory`: an in-memory `HttpClient`, no sockets. Requests run in the
 *   caller's fiber, so `TestClock` drives token lifetimes, expiry and latency.
 * - `layerServer`: a real `node:http` server on loopback, for the demo,
 *   cross-process tests and benchmarks.
 *
 * @example
 * ```ts
 * import * as Emulator from "@effect-renewal/testing/Emulator"
 * import * as HttpClient from "@effect/platform/HttpClient"
 * import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
 * import * as Effect from "effect/Effect"
 * import { deepStrictEqual, strictEqual } from "node:assert"
 *
 * // The tenant answers the first token request with a 503, as a busy server would.
 * const program = Effect.gen(function*() {
 *   const emulator = yield* Emulator.Emulator
 *   const login = yield* emulator.login({ scope: "openid offline_access" })
 *   yield* emulator.faultOn("token", Emulator.Fault.status(503, { retryAfter: 2 }))
 *   const client = yield* HttpClient.HttpClient
 *   const response = yield* client.execute(
 *     HttpClientRequest.post("https://any-host.test/oauth/token").pipe(
 *       HttpClientRequest.bodyUrlParams({
 *         grant_type: "refresh_token",
 *         client_id: emulator.clientId,
 *         refresh_token: login.refresh_token!
 *       })
 *     )
 *   )
 *   strictEqual(response.status, 503)
 *   strictEqual(response.headers["retry-after"], "2")
 *   const log = yield* emulator.requests
 *   deepStrictEqual(log.map((entry) => [entry.grantType, entry.status, entry.fault]), [["refresh_token", 503, "Status"]])
 * }).pipe(Effect.provide(Emulator.layerMemory({ rotation: true })))
 *
 * Effect.runPromise(program)
 * ```
 *
 * @since 0.1.0
 */
import * as HttpClient from "@effect/platform/HttpClient"
import type * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import type * as Data from "effect/Data"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import * as internal from "./internal/emulator.js"
import * as internalFaults from "./internal/faults.js"
import * as internalHttpClient from "./internal/httpClient.js"
import * as internalServer from "./internal/server.js"

/**
 * The endpoints the emulator serves: `POST /oauth/token`, `POST /delegation`,
 * `POST /oauth/revoke`; since 0.4.0 `GET /authorize` (`"authorize"`),
 * `POST /oauth/device/code` (`"device"`), `GET
 * /.well-known/openid-configuration` (`"discovery"`, also at
 * `/.well-known/oauth-authorization-server`) and `GET /.well-known/jwks.json`
 * (`"jwks"`); `GET /userinfo` (`"userinfo"`), the protected resource that
 * checks access tokens, Bearer or DPoP-bound.
 *
 * @since 0.1.0
 * @category models
 */
export type Endpoint = "token" | "delegation" | "revoke" | "authorize" | "device" | "discovery" | "jwks" | "userinfo"

/**
 * The wire body of a successful `POST /oauth/token` (and of `login`).
 *
 * @since 0.1.0
 * @category models
 */
export interface TokenResponseBody {
  readonly access_token: string
  readonly id_token?: string
  readonly refresh_token?: string
  /** `"DPoP"` when the access token is bound to a DPoP key (`cnf.jkt`). */
  readonly token_type: "Bearer" | "DPoP"
  readonly expires_in: number
  readonly scope: string
}

/**
 * The body format of an error: OAuth 2.0 (`{error, error_description}`) or
 * Auth0's legacy one (`{code, description}`).
 *
 * @since 0.1.0
 * @category models
 */
export type ErrorFormat = "oauth" | "auth0"

/**
 * A scripted fault, plain data, built with the `Fault` constructors. Every
 * fault but `Latency` answers without running the model: no state changes.
 *
 * @since 0.1.0
 * @category faults
 */
export type Fault = Data.TaggedEnum<{
  Status: {
    readonly status: number
    readonly error: string
    readonly description: string
    readonly format: ErrorFormat
    readonly retryAfter: string | undefined
  }
  Latency: { readonly duration: Duration.Duration }
  Hang: {}
  Reset: {}
  Html: { readonly status: number }
  Body: { readonly status: number; readonly body: string; readonly contentType: string | undefined }
  ErrorIn200: { readonly error: string; readonly description: string; readonly format: ErrorFormat }
}>

/**
 * Constructors and matchers for `Fault`.
 *
 * @example
 * ```ts
 * import * as Emulator from "@effect-renewal/testing/Emulator"
 *
 * const faults = [
 *   Emulator.Fault.status(403, { error: "access_denied", description: "Denied", format: "auth0" }),
 *   Emulator.Fault.body(200, "{\"access_tok"),
 *   Emulator.Fault.errorIn200("invalid_grant", "Unknown or invalid refresh token.")
 * ]
 * ```
 *
 * @since 0.1.0
 * @category faults
 */
export const Fault: {
  /**
   * An error status. `error` defaults from the status (`too_many_requests`
   * for 429, `temporarily_unavailable` for 503, `server_error` for other 5xx,
   * `invalid_request` otherwise), `format` to `"oauth"`.
   */
  readonly status: (status: number, options?: {
    readonly error?: string | undefined
    readonly description?: string | undefined
    readonly format?: ErrorFormat | undefined
    readonly retryAfter?: number | string | undefined
  }) => Fault
  /** Handle the request normally, answer after `duration`. */
  readonly latency: (duration: Duration.DurationInput) => Fault
  /** Never answer. */
  readonly hang: () => Fault
  /** Drop the connection without an answer. */
  readonly reset: () => Fault
  /** An HTML error page (`content-type: text/html`). */
  readonly html: (status: number) => Fault
  /** A raw body, `content-type` defaulting to `application/json`. */
  readonly body: (status: number, body: string, contentType?: string) => Fault
  /** Status 200 with an error body. */
  readonly errorIn200: (error: string, description: string, format?: ErrorFormat) => Fault
  /** Refines a fault by tag. */
  readonly $is: <Tag extends Fault["_tag"]>(tag: Tag) => (u: unknown) => u is Extract<Fault, { readonly _tag: Tag }>
} = internalFaults.Fault

/**
 * One request the emulator received. It never contains a token.
 *
 * @since 0.1.0
 * @category models
 */
export interface RequestLogEntry {
  /** The endpoint the path names, `"other"` for any other path. */
  readonly endpoint: Endpoint | "other"
  /** The HTTP method, e.g. `"POST"`. */
  readonly method: string
  /** The path of the request, without its query. */
  readonly path: string
  /** The `grant_type` parameter, when the request has one. */
  readonly grantType?: string
  /**
   * The form or JSON parameters of the request (`{}` for a malformed body),
   * the values of secret ones (`refresh_token`, `id_token`, `access_token`,
   * `client_secret`, `client_assertion`, `token`, `password`,
   * `authorization`, in any case) replaced by `"<redacted>"`. Headers, the
   * `Authorization` header included, are not kept.
   */
  readonly params: Readonly<Record<string, string>>
  /** The status of the answer, or how the request ended without one. */
  readonly status: number | "hang" | "reset"
  /** The tag of the fault applied to this request, if any. */
  readonly fault?: Fault["_tag"]
  /** When the request arrived, in `Clock` milliseconds. */
  readonly at: number
}

/**
 * What the emulator has counted so far.
 *
 * @since 0.1.0
 * @category models
 */
export interface Counters {
  /** Requests received, by endpoint. */
  readonly requests: {
    readonly token: number
    readonly delegation: number
    readonly revoke: number
    /** @since 0.4.0 */
    readonly authorize: number
    /** @since 0.4.0 */
    readonly device: number
    /** @since 0.4.0 */
    readonly discovery: number
    /** @since 0.4.0 */
    readonly jwks: number
    /** `GET /userinfo`, the protected resource. */
    readonly userinfo: number
  }
  /**
   * Initial logins: the `login` method, the test-login grant, and (since
   * 0.4.0) an exchanged authorization code or an approved device code.
   */
  readonly logins: number
  /**
   * `/authorize` requests answered with a code.
   *
   * @since 0.4.0
   */
  readonly authorizations: number
  /**
   * `/authorize` requests answered with `error=access_denied` (a `denyNext`).
   *
   * @since 0.4.0
   */
  readonly denials: number
  /**
   * Authorization codes exchanged for tokens.
   *
   * @since 0.4.0
   */
  readonly codeExchanges: number
  /**
   * Device codes issued by `POST /oauth/device/code`.
   *
   * @since 0.4.0
   */
  readonly deviceAuthorizations: number
  /**
   * `device_code` grants received by the token endpoint, whatever they
   * answered (`authorization_pending`, `slow_down`, tokens...).
   *
   * @since 0.4.0
   */
  readonly devicePolls: number
  /** Refresh tokens issued by a `refresh_token` grant with rotation. */
  readonly rotations: number
  /** Refresh tokens presented again after they were rotated out (past the reuse interval). */
  readonly reuseDetections: number
  /** Refresh token families revoked: by reuse detection, `/oauth/revoke` or `revokeFamilyOf`. */
  readonly revokedFamilies: number
  /**
   * Requests being served now: from their arrival until their answer is
   * ready to go out (the delay of a `Latency` fault waited out), or, for a
   * `Hang`, until the client gives up. Counted by `serve`, which both
   * transports use.
   *
   * @since 0.3.0
   */
  readonly inFlight: number
  /**
   * The most requests that were in flight at once since the emulator was
   * built: with a `Latency` fault holding the answers, how many requests a
   * client had open together (to check a bound on its concurrency).
   *
   * @since 0.3.0
   */
  readonly maxInFlight: number
  /**
   * DPoP proofs accepted, by the token endpoint, `/delegation` and the
   * resource (`/userinfo`, `verifyResourceRequest`).
   */
  readonly dpopProofs: number
  /** Answers `use_dpop_nonce`: a proof without the current nonce, where one is required or stale. */
  readonly dpopNonceChallenges: number
  /**
   * Proofs refused as invalid (`invalid_dpop_proof`), and token requests
   * without one when `dpop.required`.
   */
  readonly dpopRefusals: number
}

/**
 * The algorithms a DPoP proof may be signed with at the emulator.
 *
 * @since 0.1.0
 * @category models
 */
export type DpopAlgorithm = "ES256" | "ES384" | "RS256" | "PS256" | "EdDSA"

/**
 * Who checks a DPoP proof: the token endpoint (with `/delegation`) or the
 * protected resource. Each has its own nonce, as two servers would.
 *
 * @since 0.1.0
 * @category models
 */
export type DpopServer = "token" | "resource"

/**
 * A request to the protected resource, for `verifyResourceRequest`.
 *
 * @since 0.1.0
 * @category models
 */
export interface ResourceRequest {
  /** E.g. `"GET"`. */
  readonly method: string
  /** The absolute URL requested: a proof's `htu` must name it (query and fragment aside). */
  readonly url: string
  /** The `Authorization` header: `Bearer <token>` or `DPoP <token>`. */
  readonly authorization?: string | undefined
  /** The `DPoP` header: the proof. */
  readonly dpop?: string | undefined
}

/**
 * What the protected resource decides about a request: access, with the
 * access token's claims, or a refusal as the resource answers it (`status`,
 * `WWW-Authenticate`, and the `DPoP-Nonce` of a `use_dpop_nonce`).
 *
 * @since 0.1.0
 * @category models
 */
export type ResourceAccess =
  | {
    readonly _tag: "Authorized"
    /** The claims of the access token (signature and expiry checked). */
    readonly claims: Readonly<Record<string, unknown>>
    /** The thumbprint of the DPoP key the token is bound to, if it is. */
    readonly jkt: string | undefined
  }
  | {
    readonly _tag: "Refused"
    readonly status: 400 | 401
    /** `invalid_request`, `invalid_token`, `invalid_dpop_proof` or `use_dpop_nonce`; `undefined` without credentials. */
    readonly error: string | undefined
    readonly description: string
    /** The `WWW-Authenticate` header of the answer. */
    readonly wwwAuthenticate: string
    /** The resource's current nonce, sent with a `use_dpop_nonce`. */
    readonly dpopNonce?: string | undefined
  }

/**
 * A request as the model sees it, independent of the transport. Header names
 * are lower case.
 *
 * @since 0.1.0
 * @category models
 */
export interface EmulatorRequest {
  readonly method: string
  /**
   * The path, with its query string: the parameters of a `GET` (`/authorize`);
   * the other endpoints ignore it.
   */
  readonly path: string
  readonly headers: Readonly<Record<string, string>>
  readonly body: string
}

/**
 * What the model answers, before a transport serves it.
 *
 * @since 0.1.0
 * @category models
 */
export type EmulatorOutput =
  | {
    readonly _tag: "Response"
    readonly status: number
    readonly headers: Readonly<Record<string, string>>
    readonly body: string
    /** Serve the response only after this delay (a `Latency` fault). */
    readonly delay?: Duration.Duration
  }
  | { readonly _tag: "Hang" }
  | { readonly _tag: "Reset" }

/**
 * The emulated tenant.
 *
 * @since 0.1.0
 * @category tags
 */
export class Emulator extends Context.Tag("@effect-renewal/testing/Emulator")<Emulator, Emulator.Service>() {}

/**
 * The types of the {@link Emulator} service.
 *
 * @since 0.1.0
 * @category models
 */
export declare namespace Emulator {
  /**
   * How the emulated tenant behaves: the options of {@link make},
   * {@link layerMemory} and {@link layerServer}.
   *
   * @example
   * ```ts
   * import * as Emulator from "@effect-renewal/testing/Emulator"
   *
   * // A tenant with rotation, a 30s reuse interval, 5-minute access tokens and
   * // refresh tokens that expire after a day without use.
   * const Tenant = Emulator.layerMemory({
   *   reuseInterval: "30 seconds",
   *   accessTokenLifetime: "5 minutes",
   *   refreshTokenIdleLifetime: "1 day"
   * })
   * ```
   *
   * @since 0.1.0
   * @category models
   */
  export interface Options {
    /** Default `"test-client-id"`. */
    readonly clientId?: string | undefined
    /** When set, the token and revoke endpoints require it (`client_secret` or HTTP Basic). */
    readonly clientSecret?: string | undefined
    /** Refresh token rotation. Default `true`. */
    readonly rotation?: boolean | undefined
    /** How long a rotated-out refresh token still works. Default `0`. */
    readonly reuseInterval?: Duration.DurationInput | undefined
    /** Default 1 hour. */
    readonly accessTokenLifetime?: Duration.DurationInput | undefined
    /** Default 10 hours. */
    readonly idTokenLifetime?: Duration.DurationInput | undefined
    /** From the login of the family. Default: none. */
    readonly refreshTokenAbsoluteLifetime?: Duration.DurationInput | undefined
    /** From the issue or last use of a refresh token. Default: none. */
    readonly refreshTokenIdleLifetime?: Duration.DurationInput | undefined
    /**
     * The `iss` of the tokens and of the discovery document, whose endpoints
     * are on its origin. Default `"https://emulator.effect-renewal.test/"`;
     * with {@link layerServer}, the server's own URL
     * (`"http://127.0.0.1:<port>/"`).
     */
    readonly issuer?: string | undefined
    /** The default audience of access tokens. Default `"https://api.effect-renewal.test"`. */
    readonly audience?: string | undefined
    /**
     * The audiences a refresh token may ask for besides its login's (Auth0's
     * multi-resource refresh token policy). A `refresh_token` grant with
     * `audience=X` gets an access token for X when X is the login's audience
     * or listed here; for any other X the answer is, as at Auth0, a normal 200
     * with an access token for the login's audience. The `scope` asked must
     * still be within the granted one. Default: no policy, every audience is
     * granted.
     */
    readonly audiences?: ReadonlyArray<string> | undefined
    /**
     * The HS256 key of the access tokens the emulator signs (and of the
     * id_tokens with `idTokenAlgorithm: "HS256"`).
     */
    readonly signingSecret?: string | undefined
    /**
     * How id_tokens are signed: `"RS256"` (the default) with the key
     * published in the JWKS, as a relying party checks them; or `"HS256"`
     * with `signingSecret`, as before 0.4.0: hundreds of times cheaper
     * for load tests that issue thousands of id_tokens nobody verifies. The
     * discovery document names the one in force.
     *
     * @since 0.4.0
     */
    readonly idTokenAlgorithm?: "RS256" | "HS256" | undefined
    /**
     * How long a code of `/authorize` can be exchanged. Default 60 seconds.
     *
     * @since 0.4.0
     */
    readonly authorizationCodeLifetime?: Duration.DurationInput | undefined
    /**
     * The `expires_in` of device codes. Default 600 seconds.
     *
     * @since 0.4.0
     */
    readonly deviceCodeLifetime?: Duration.DurationInput | undefined
    /**
     * The `interval` of device codes: the least time between two polls
     * before `slow_down` (which adds 5 seconds to it). Default 5 seconds.
     *
     * @since 0.4.0
     */
    readonly devicePollingInterval?: Duration.DurationInput | undefined
    /**
     * DPoP (RFC 9449). Without it (or with `{}`), proofs are optional: a
     * token request with a valid `DPoP` proof gets a bound access token, one
     * without gets a Bearer token as before.
     */
    readonly dpop?: Emulator.DpopOptions | undefined
  }

  /**
   * How the emulator treats DPoP proofs (RFC 9449).
   *
   * A token request (any grant, and `/delegation`) with a `DPoP` header has
   * its proof checked before the grant runs: an invalid one is a 400
   * `invalid_dpop_proof`, one without the current nonce a 400
   * `use_dpop_nonce` with a `DPoP-Nonce` header; neither spends a code nor a
   * refresh token. An accepted proof binds the access token (`cnf.jkt`,
   * `token_type: "DPoP"`) and, for a public client (no `clientSecret`), the
   * refresh tokens of a new login: refreshing them then needs a proof of the
   * same key (`invalid_grant` otherwise).
   *
   * A proof is checked asynchronously (WebCrypto, as a client signs one): a
   * request with one does not run to its answer within one step of its
   * fiber, as a Bearer request does; under a `TestClock`, await its answer
   * before adjusting the clock, and take a proof's `iat` from the `Clock`.
   *
   * @example
   * ```ts
   * import * as Emulator from "@effect-renewal/testing/Emulator"
   *
   * // Every token request must carry a proof, with the token endpoint's nonce.
   * const Tenant = Emulator.layerMemory({ dpop: { required: true, nonce: true } })
   * ```
   *
   * @since 0.1.0
   * @category models
   */
  export interface DpopOptions {
    /**
     * A token request without a proof is refused with `invalid_dpop_proof`.
     * Default `false`.
     */
    readonly required?: boolean | undefined
    /** The token endpoint requires its nonce in proofs (`requireDpopNonce` changes it). Default `false`. */
    readonly nonce?: boolean | undefined
    /** The resource (`/userinfo`) requires its nonce in proofs. Default `false`. */
    readonly resourceNonce?: boolean | undefined
    /**
     * How far a proof's `iat` may be from the emulator's `Clock`, either way;
     * also how long its `jti` is remembered to refuse a replay. Default 60
     * seconds.
     */
    readonly proofWindow?: Duration.DurationInput | undefined
    /** Default: all of `DpopAlgorithm`. */
    readonly algorithms?: ReadonlyArray<DpopAlgorithm> | undefined
  }

  /**
   * The options of {@link layerServer}: those of the tenant and where to
   * listen.
   *
   * @since 0.1.0
   * @category models
   */
  export interface ServerOptions extends Options {
    /** Default `0` (an ephemeral port). */
    readonly port?: number | undefined
    /** Default `"127.0.0.1"`. */
    readonly host?: string | undefined
    /**
     * Serve HTML pages at `/authorize` for a browser: a login page (a
     * username field and a button; the username becomes the `sub`), then a
     * consent page (Allow / Deny), then the redirect with a code or
     * `access_denied`. The page's decision is scripted and taken at once:
     * do not script decisions (`approveNext`, `denyNext`) for a server with
     * pages, one left pending would be taken first. Default `false`:
     * `/authorize` answers at once, with the next scripted decision.
     *
     * @since 0.5.0
     */
    readonly loginPage?: boolean | undefined
  }

  /**
   * Who approves a login (`approveNext`, `approveDevice`).
   *
   * @example
   * ```ts
   * import * as Emulator from "@effect-renewal/testing/Emulator"
   * import * as HttpClient from "@effect/platform/HttpClient"
   * import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
   * import * as Effect from "effect/Effect"
   * import { strictEqual } from "node:assert"
   * import { createHash, randomBytes } from "node:crypto"
   *
   * // An authorization code login with PKCE, alice approving in the "browser".
   * const program = Effect.gen(function*() {
   *   const emulator = yield* Emulator.Emulator
   *   const client = yield* HttpClient.HttpClient
   *   yield* emulator.approveNext({ username: "alice", email: "alice@example.org" })
   *   const verifier = randomBytes(32).toString("base64url")
   *   const authorize = new URL("authorize", emulator.issuer)
   *   authorize.search = new URLSearchParams({
   *     response_type: "code",
   *     client_id: emulator.clientId,
   *     redirect_uri: "http://127.0.0.1:8765/callback",
   *     scope: "openid email offline_access",
   *     state: "s-1",
   *     nonce: "n-1",
   *     code_challenge: createHash("sha256").update(verifier).digest("base64url"),
   *     code_challenge_method: "S256"
   *   }).toString()
   *   const redirect = yield* client.execute(HttpClientRequest.get(authorize.href))
   *   const callback = new URL(redirect.headers["location"]!)
   *   strictEqual(callback.searchParams.get("state"), "s-1")
   *   strictEqual(callback.searchParams.get("iss"), emulator.issuer)
   *   const token = yield* client.execute(
   *     HttpClientRequest.post(new URL("oauth/token", emulator.issuer).href).pipe(
   *       HttpClientRequest.bodyUrlParams({
   *         grant_type: "authorization_code",
   *         client_id: emulator.clientId,
   *         code: callback.searchParams.get("code")!,
   *         redirect_uri: "http://127.0.0.1:8765/callback",
   *         code_verifier: verifier
   *       })
   *     )
   *   )
   *   strictEqual(token.status, 200)
   *   strictEqual((yield* emulator.counters).codeExchanges, 1)
   * }).pipe(Effect.provide(Emulator.layerMemory()))
   *
   * Effect.runPromise(program)
   * ```
   *
   * @example
   * ```ts
   * import * as Emulator from "@effect-renewal/testing/Emulator"
   * import * as HttpClient from "@effect/platform/HttpClient"
   * import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
   * import * as Effect from "effect/Effect"
   * import * as TestClock from "effect/TestClock"
   * import * as TestContext from "effect/TestContext"
   * import { strictEqual } from "node:assert"
   *
   * // The device flow under a TestClock: pending, then approved by bob.
   * const program = Effect.gen(function*() {
   *   const emulator = yield* Emulator.Emulator
   *   const client = yield* HttpClient.HttpClient
   *   const post = (path: string, params: Record<string, string>) =>
   *     client.execute(
   *       HttpClientRequest.post(new URL(path, emulator.issuer).href).pipe(HttpClientRequest.bodyUrlParams(params))
   *     ).pipe(Effect.flatMap((response) => response.json), Effect.map((body: any) => body))
   *   const started = yield* post("oauth/device/code", { client_id: emulator.clientId, scope: "openid" })
   *   const poll = post("oauth/token", {
   *     grant_type: "urn:ietf:params:oauth:grant-type:device_code",
   *     client_id: emulator.clientId,
   *     device_code: started.device_code
   *   })
   *   strictEqual((yield* poll).error, "authorization_pending")
   *   yield* emulator.approveDevice(started.user_code, { username: "bob" })
   *   yield* TestClock.adjust(`${started.interval} seconds`)
   *   strictEqual(typeof (yield* poll).id_token, "string")
   * }).pipe(Effect.provide(Emulator.layerMemory()))
   *
   * Effect.runPromise(program.pipe(Effect.provide(TestContext.TestContext)))
   * ```
   *
   * @since 0.4.0
   * @category models
   */
  export interface Approval {
    /** The `sub` of the tokens. Default `"demo-user"`. */
    readonly username?: string | undefined
    /** The `email` claim of the id_token. Default: none. */
    readonly email?: string | undefined
  }

  /**
   * Who logs in, and for what: the options of `login`.
   *
   * @since 0.1.0
   * @category models
   */
  export interface LoginOptions {
    /** The `sub` of the tokens. Default `"demo-user"`. */
    readonly username?: string | undefined
    /** Default `"openid profile email offline_access"`. */
    readonly scope?: string | undefined
    /** The audience of the access token. Default: the emulator's. */
    readonly audience?: string | undefined
    /**
     * Binds the tokens to the DPoP key of this RFC 7638 thumbprint, as a
     * token request with a proof of that key would.
     */
    readonly jkt?: string | undefined
  }

  /**
   * The emulated tenant: the model behind both transports, and what a test
   * uses to set it up (`login`, `fault`) and to check what happened
   * (`requests`, `counters`, `isRevoked`).
   *
   * @example
   * ```ts
   * import * as Emulator from "@effect-renewal/testing/Emulator"
   * import * as Effect from "effect/Effect"
   * import { strictEqual } from "node:assert"
   *
   * // An administrator revokes alice's login at the tenant.
   * const program = Effect.gen(function*() {
   *   const emulator = yield* Emulator.Emulator
   *   const login = yield* emulator.login({ username: "alice" })
   *   const refreshToken = login.refresh_token!
   *   yield* emulator.revokeFamilyOf(refreshToken)
   *   strictEqual(yield* emulator.isRevoked(refreshToken), true)
   *   strictEqual((yield* emulator.counters).logins, 1)
   * }).pipe(Effect.provide(Emulator.layerMemory()))
   *
   * Effect.runPromise(program)
   * ```
   *
   * @since 0.1.0
   * @category models
   */
  export interface Service {
    /** The client id the emulator accepts. */
    readonly clientId: string
    /**
     * The issuer: the `iss` of the tokens and of the redirects of
     * `/authorize`, where the discovery document is found
     * (`<issuer>.well-known/openid-configuration`).
     *
     * @since 0.4.0
     */
    readonly issuer: string
    /**
     * Runs one request through the model and answers at once: a `Latency`
     * fault's delay is left in the output, for the transport to wait out.
     */
    readonly handle: (request: EmulatorRequest) => Effect.Effect<EmulatorOutput>
    /**
     * Serves one request as a transport does: `handle`, then the delay of a
     * `Latency` fault waited out on the caller's `Clock`; a `Hang` never ends
     * (until interrupted). Counted in `inFlight` meanwhile. Both servings use
     * it.
     *
     * @since 0.3.0
     */
    readonly serve: (request: EmulatorRequest) => Effect.Effect<EmulatorOutput>
    /**
     * Mints an initial login without HTTP. A refresh token is issued when the
     * scope contains `offline_access`, an id_token when it contains `openid`.
     */
    readonly login: (options?: LoginOptions) => Effect.Effect<TokenResponseBody>
    /** Enqueues faults for the next requests to any endpoint, first in first out. */
    readonly fault: (...faults: ReadonlyArray<Fault>) => Effect.Effect<void>
    /** Enqueues faults for the next requests to one endpoint, first in first out. */
    readonly faultOn: (endpoint: Endpoint, ...faults: ReadonlyArray<Fault>) => Effect.Effect<void>
    /** Drops every queued fault. */
    readonly clearFaults: Effect.Effect<void>
    /** Every request received, oldest first. */
    readonly requests: Effect.Effect<ReadonlyArray<RequestLogEntry>>
    /** What the emulator has counted so far. */
    readonly counters: Effect.Effect<Counters>
    /**
     * Scripts the next `/authorize` without an answer scripted: approved as
     * this user. Scripted answers are used first in first out; when none is
     * left, a request is approved as `"demo-user"`.
     *
     * @since 0.4.0
     */
    readonly approveNext: (approval?: Emulator.Approval) => Effect.Effect<void>
    /**
     * Scripts the next `/authorize` without an answer scripted: the person
     * denies it (a redirect with `error=access_denied`).
     *
     * @since 0.4.0
     */
    readonly denyNext: () => Effect.Effect<void>
    /**
     * The person enters the user code of a device flow and approves: the
     * next poll that is not too soon gets the tokens. Case, spaces and dashes
     * of the user code do not matter; an unknown one fails.
     *
     * @since 0.4.0
     */
    readonly approveDevice: (
      userCode: string,
      approval?: Emulator.Approval
    ) => Effect.Effect<void, Cause.NoSuchElementException>
    /**
     * The person enters the user code of a device flow and denies: the next
     * polls get `access_denied`. An unknown user code fails.
     *
     * @since 0.4.0
     */
    readonly denyDevice: (userCode: string) => Effect.Effect<void, Cause.NoSuchElementException>
    /**
     * Signs the id_tokens from now on with a fresh RSA key, published in the
     * JWKS before the previous ones (which stay published); answers its
     * `kid`. To test a client that fetches the JWKS again on an unknown
     * `kid`.
     *
     * The first key of an emulator is a key pair shared by the emulators of
     * a process (an RSA key takes a quarter second to generate) under a
     * `kid` of its own: another emulator's id_token is refused, its `kid`
     * being unknown here.
     *
     * @since 0.4.0
     */
    readonly rotateSigningKey: () => Effect.Effect<string>
    /** Revokes the family of a refresh token, as an administrator would. */
    readonly revokeFamilyOf: (refreshToken: string) => Effect.Effect<void>
    /** Whether the family of a refresh token is revoked (`false` for an unknown token). */
    readonly isRevoked: (refreshToken: string) => Effect.Effect<boolean>
    /**
     * Requires (by default) or stops requiring the nonce of one server in
     * DPoP proofs from now on.
     */
    readonly requireDpopNonce: (server: DpopServer, required?: boolean) => Effect.Effect<void>
    /**
     * Draws a new nonce for one server: a proof with the previous one gets
     * `use_dpop_nonce` (with the new one), as after a server's rotation.
     * Answers the new nonce.
     */
    readonly rotateDpopNonce: (server: DpopServer) => Effect.Effect<string>
    /** The current DPoP nonce of one server. */
    readonly dpopNonce: (server: DpopServer) => Effect.Effect<string>
    /**
     * Checks a request to the protected resource as `GET /userinfo` does
     * (counted, and a proof's `jti` remembered, likewise): a Bearer token
     * that is not DPoP-bound, or `DPoP <token>` with a proof of its key
     * naming it in `ath` (and the resource's nonce when required).
     */
    readonly verifyResourceRequest: (request: ResourceRequest) => Effect.Effect<ResourceAccess>
  }
}

/**
 * The address of the loopback server of `layerServer`.
 *
 * @since 0.1.0
 * @category tags
 */
export class EmulatorServer
  extends Context.Tag("@effect-renewal/testing/EmulatorServer")<EmulatorServer, EmulatorServer.Service>()
{}

/**
 * The types of the {@link EmulatorServer} service.
 *
 * @since 0.1.0
 * @category models
 */
export declare namespace EmulatorServer {
  /**
   * Where the loopback server listens.
   *
   * @since 0.1.0
   * @category models
   */
  export interface Service {
    /** E.g. `"http://127.0.0.1:43121"`, without a trailing slash. */
    readonly url: string
    /** The port the server listens on (the ephemeral one chosen, when `port` was not given). */
    readonly port: number
  }
}

/**
 * Builds a fresh emulated tenant, to serve with {@link toHttpClient} or
 * {@link serve} (the layers do both for you).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: (options?: Emulator.Options) => Effect.Effect<Emulator.Service> = internal.make

/**
 * An `HttpClient` served by the model, without sockets. Any host is accepted:
 * only the path routes a request (its host and scheme reach the model as the
 * `host` and `x-forwarded-proto` headers, which a DPoP proof's `htu` must
 * name). The request runs in the caller's fiber, so its
 * `Clock` (a `TestClock` in `it.effect`) is the emulator's time.
 *
 * @since 0.1.0
 * @category constructors
 */
export const toHttpClient: (emulator: Emulator.Service) => HttpClient.HttpClient = internalHttpClient.toHttpClient

/**
 * A fresh emulator and an `HttpClient` served by it, in memory.
 *
 * @example
 * ```ts
 * import * as AuthenticationClient from "@effect-renewal/core/AuthenticationClient"
 * import * as Emulator from "@effect-renewal/testing/Emulator"
 * import * as Effect from "effect/Effect"
 * import * as Redacted from "effect/Redacted"
 * import * as TestClock from "effect/TestClock"
 * import * as TestContext from "effect/TestContext"
 * import { strictEqual } from "node:assert"
 *
 * // The emulator's time is the caller's Clock: under a TestClock, a refresh
 * // token expires when the test says so.
 * const program = Effect.gen(function*() {
 *   const emulator = yield* Emulator.Emulator
 *   const login = yield* emulator.login()
 *   // any host: in memory, only the path matters
 *   const client = yield* AuthenticationClient.make({ domain: "tenant.test", clientId: emulator.clientId })
 *   yield* TestClock.adjust("2 hours") // longer than the idle lifetime
 *   const error = yield* Effect.flip(client.renewAuth(Redacted.make(login.refresh_token!)))
 *   strictEqual(error._tag === "AuthApiError" ? error.code : error._tag, "invalid_grant")
 * }).pipe(Effect.provide(Emulator.layerMemory({ refreshTokenIdleLifetime: "1 hour" })))
 *
 * Effect.runPromise(program.pipe(Effect.provide(TestContext.TestContext)))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerMemory = (options?: Emulator.Options): Layer.Layer<Emulator | HttpClient.HttpClient> =>
  Layer.effect(HttpClient.HttpClient, Effect.map(Emulator, toHttpClient)).pipe(
    Layer.provideMerge(Layer.effect(Emulator, make(options)))
  )

/**
 * Serves an emulator on a `node:http` server until the scope closes. Requests
 * run with the runtime of the caller (its `Clock`); closing the scope stops
 * the server and destroys every open connection, hung ones included. The
 * emulator keeps its issuer: for discovery over HTTP, use
 * {@link layerServer}, whose issuer is the server's URL.
 *
 * @since 0.1.0
 * @category constructors
 */
export const serve: (
  emulator: Emulator.Service,
  options?: {
    readonly port?: number | undefined
    readonly host?: string | undefined
    readonly loginPage?: boolean | undefined
  }
) => Effect.Effect<EmulatorServer.Service, never, Scope.Scope> = internalServer.serve

/**
 * A fresh emulator served on loopback (`127.0.0.1`, an ephemeral port unless
 * `port` is given) for the lifetime of the layer. Its issuer, unless the
 * `issuer` option says otherwise, is the server's URL
 * (`"http://127.0.0.1:<port>/"`), so that a client finds the discovery
 * document and the endpoints over HTTP.
 *
 * @example
 * ```ts
 * import * as RenewalStrategy from "@effect-renewal/core/RenewalStrategy"
 * import * as Renewer from "@effect-renewal/core/Renewer"
 * import * as TokenStore from "@effect-renewal/core/TokenStore"
 * import * as Emulator from "@effect-renewal/testing/Emulator"
 * import * as Fixtures from "@effect-renewal/testing/Fixtures"
 * import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
 * import * as Effect from "effect/Effect"
 * import * as Layer from "effect/Layer"
 * import { deepStrictEqual } from "node:assert"
 *
 * // The server's URL is known once it listens: build the client from it.
 * const ClientOverLoopback = Layer.unwrapEffect(
 *   Effect.map(Emulator.EmulatorServer, (server) => Fixtures.layerClient({ domain: server.url }))
 * ).pipe(Layer.provide(FetchHttpClient.layer))
 *
 * const Stack = Renewer.layer().pipe(
 *   Layer.provideMerge(RenewalStrategy.refreshToken),
 *   Layer.provideMerge(TokenStore.layerMemory),
 *   Layer.provideMerge(ClientOverLoopback),
 *   Layer.provideMerge(Emulator.layerServer({ rotation: true }))
 * )
 *
 * // A renewal with a real HTTP request; the server stops when the layer is released.
 * const program = Effect.gen(function*() {
 *   const renewer = yield* Renewer.Renewer
 *   yield* renewer.save(yield* Fixtures.login())
 *   yield* renewer.get({ forceRefresh: true })
 *   const emulator = yield* Emulator.Emulator
 *   const log = yield* emulator.requests
 *   deepStrictEqual(log.map((entry) => [entry.path, entry.grantType, entry.status]), [
 *     ["/oauth/token", "refresh_token", 200]
 *   ])
 * }).pipe(Effect.provide(Stack))
 *
 * Effect.runPromise(program)
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerServer = (options?: Emulator.ServerOptions): Layer.Layer<Emulator | EmulatorServer> =>
  Layer.scopedContext(
    Effect.map(
      internalServer.listenThenMake((issuer) => make({ ...options, issuer: options?.issuer ?? issuer }), options),
      ([emulator, server]) => Context.make(Emulator, emulator).pipe(Context.add(EmulatorServer, server))
    )
  )
