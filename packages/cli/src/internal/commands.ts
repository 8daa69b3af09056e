import { LoginRequired } from "@effect-renewal/core/AuthError"
import * as AuthorizedClient from "@effect-renewal/core/AuthorizedClient"
import type { Credentials } from "@effect-renewal/core/Credentials"
import * as Dpop from "@effect-renewal/core/Dpop"
import * as Jwt from "@effect-renewal/core/Jwt"
import * as Renewer from "@effect-renewal/core/Renewer"
import * as TokenStore from "@effect-renewal/core/TokenStore"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Console from "effect/Console"
import * as DateTime from "effect/DateTime"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import { ExitCode, HttpStatusError, UsageError } from "../CliError.js"
import * as Profiles from "../Profiles.js"
import { ExitWith } from "./exit.js"
import * as Session from "./session.js"

/** The options of `token` and `header`. */
export interface TokenOptions {
  readonly audience: Option.Option<string>
  readonly scope: Option.Option<string>
  readonly minTtl: Option.Option<Duration.Duration>
  readonly force: boolean
  readonly json: boolean
}

const getOptions = (options: TokenOptions): Renewer.GetOptions => ({
  audience: Option.getOrUndefined(options.audience),
  scope: Option.getOrUndefined(options.scope),
  minTtl: Option.getOrUndefined(options.minTtl),
  forceRefresh: options.force || undefined
})

const expiresIn = (credentials: Credentials) =>
  Effect.map(
    DateTime.now,
    (now) => Math.max(0, Math.floor(DateTime.distance(now, credentials.expiresAt) / 1000))
  )

/** What `header` is for: the request a DPoP proof names. */
export interface HeaderOptions {
  readonly url: Option.Option<string>
  readonly method: string
  readonly nonce: Option.Option<string>
}

/**
 * `header`'s lines: `Authorization`, and for DPoP-bound credentials the
 * proof for the one request named (RFC 9449 proofs are per method and URL:
 * no proof is valid for a request not named).
 */
const headerLines = (credentials: Credentials, accessToken: string, options: HeaderOptions) =>
  Effect.gen(function*() {
    const authorization = `Authorization: ${credentials.tokenType} ${accessToken}`
    // the URL is checked as fetch checks it, for a Bearer token too: the
    // script sends the token there
    const target = Option.isSome(options.url) ? yield* destination(options.url.value, options.method) : undefined
    if (credentials.tokenType !== "DPoP") return [authorization]
    if (target === undefined) {
      return yield* new UsageError({
        description:
          "the profile's tokens are DPoP-bound: each request needs its own proof. Use header --url URL [--method M] (two lines: Authorization and DPoP), or effect-renewal fetch URL"
      })
    }
    if (credentials.dpop === undefined) {
      return yield* new LoginRequired({
        reason: "DpopKeyMissing",
        description: "the stored DPoP-bound credentials carry no key"
      })
    }
    const proof = yield* Dpop.proof(credentials.dpop, {
      method: target.method,
      url: target.url,
      accessToken: credentials.accessToken,
      nonce: Option.getOrUndefined(options.nonce)
    })
    return [authorization, `DPoP: ${Redacted.value(proof)}`]
  })

/** `token` and `header`: a valid access token, renewed when needed. */
export const token = (common: Session.Common, options: TokenOptions, format: "token" | HeaderOptions) =>
  Effect.gen(function*() {
    const where = yield* Session.where(common)
    const settings = yield* Session.profile(common, where)
    const credentials = yield* Effect.flatMap(Renewer.Renewer, (renewer) => renewer.get(getOptions(options))).pipe(
      Effect.provide(Session.renewer(common, where, settings))
    )
    const accessToken = Redacted.value(credentials.accessToken)
    if (options.json) {
      yield* Console.log(JSON.stringify({
        access_token: accessToken,
        token_type: credentials.tokenType,
        expires_at: DateTime.formatIso(credentials.expiresAt),
        expires_in: yield* expiresIn(credentials),
        scope: credentials.scope ?? null
      }))
    } else if (format === "token") {
      yield* Console.log(accessToken)
    } else {
      yield* Console.log((yield* headerLines(credentials, accessToken, format)).join("\n"))
    }
  })

/** What `status` says, also its `--json` form. */
interface Status {
  readonly profile: string
  readonly logged_in: boolean
  readonly issuer?: string | undefined
  readonly client_id?: string | undefined
  readonly subject?: string | undefined
  readonly email?: string | undefined
  readonly scope?: string | undefined
  readonly audience?: string | undefined
  readonly expires_at?: string | undefined
  readonly expired?: boolean | undefined
  readonly refresh_token?: boolean | undefined
  readonly token_type?: string | undefined
  /** The thumbprint of the DPoP key the credentials carry (public: the server binds tokens to it). */
  readonly dpop_jkt?: string | undefined
}

const describeStatus = (status: Status): string => {
  if (!status.logged_in) {
    return [
      `Not logged in (profile "${status.profile}")${status.issuer === undefined ? "" : ` to ${status.issuer}`}.`,
      `Log in with: effect-renewal login${status.issuer === undefined ? " --issuer URL --client-id ID" : ""}${
        status.profile === Profiles.defaultProfile ? "" : ` --profile ${status.profile}`
      }`
    ].join("\n")
  }
  const lines = [
    `Logged in to ${status.issuer} (profile "${status.profile}", client ${status.client_id})`,
    `  subject:        ${status.subject ?? "(unknown: no id_token)"}${
      status.email === undefined ? "" : ` <${status.email}>`
    }`,
    `  scope:          ${status.scope ?? "(none)"}`
  ]
  if (status.audience !== undefined) lines.push(`  audience:       ${status.audience}`)
  if (status.dpop_jkt !== undefined) {
    lines.push(
      status.token_type === "DPoP"
        ? `  DPoP:           tokens bound to key ${status.dpop_jkt}`
        : `  DPoP:           key ${status.dpop_jkt}, but the provider issued ${status.token_type} tokens`
    )
  }
  lines.push(
    `  access token:   ${status.expired ? "expired" : "expires"} ${status.expires_at}`,
    `  refresh token:  ${status.refresh_token ? "held" : "none (a new login is needed when the access token expires)"}`
  )
  return lines.join("\n")
}

/** `status`: who is logged in, never a token; exit 4 when nobody is. */
export const status = (common: Session.Common, options: { readonly json: boolean }) =>
  Effect.gen(function*() {
    const where = yield* Session.where(common)
    const settings = yield* Profiles.get(where.paths.configDir, common.profile)
    const stored = Option.isNone(settings)
      ? Option.none<Credentials>()
      : yield* Effect.flatMap(TokenStore.TokenStore, (store) => store.get(TokenStore.entryKey(common.profile))).pipe(
        Effect.provide(Session.store(where))
      )
    const base = {
      profile: common.profile,
      issuer: Option.getOrUndefined(Option.map(settings, (s) => s.issuer)),
      client_id: Option.getOrUndefined(Option.map(settings, (s) => s.clientId))
    }
    let report: Status
    if (Option.isNone(stored)) {
      report = { ...base, logged_in: false }
    } else {
      const credentials = stored.value
      const claims = credentials.idToken === undefined
        ? undefined
        : yield* Effect.option(Jwt.decode(credentials.idToken)).pipe(Effect.map(Option.getOrUndefined))
      const email = claims?.["email"]
      const now = yield* DateTime.now
      report = {
        ...base,
        logged_in: true,
        subject: claims?.sub,
        email: typeof email === "string" ? email : undefined,
        scope: credentials.scope,
        audience: Option.getOrUndefined(Option.flatMap(settings, (s) => Option.fromNullable(s.audience))),
        expires_at: DateTime.formatIso(credentials.expiresAt),
        expired: DateTime.lessThanOrEqualTo(credentials.expiresAt, now),
        refresh_token: credentials.refreshToken !== undefined,
        token_type: credentials.tokenType,
        dpop_jkt: credentials.dpop?.jkt
      }
    }
    yield* Console.log(options.json ? JSON.stringify(report) : describeStatus(report))
    if (!report.logged_in) return yield* new ExitWith({ code: ExitCode.LoginRequired })
  })

/** `logout`: revoke (unless told not to), then forget the credentials. */
export const logout = (common: Session.Common, options: { readonly revoke: boolean }) =>
  Effect.gen(function*() {
    const where = yield* Session.where(common)
    const settings = yield* Profiles.get(where.paths.configDir, common.profile)
    if (Option.isNone(settings)) {
      return yield* Console.error(`Not logged in (profile "${common.profile}"): nothing to do.`)
    }
    yield* Effect.flatMap(Renewer.Renewer, (renewer) => renewer.clear({ revoke: options.revoke })).pipe(
      Effect.provide(Session.renewer(common, where, settings.value))
    )
    yield* Console.error(
      `Logged out (profile "${common.profile}")${
        options.revoke ? "; the refresh token was revoked" : "; the refresh token was not revoked (--no-revoke)"
      }.`
    )
  })

/** The options of `fetch`. */
export interface FetchOptions {
  readonly url: string
  readonly method: string
  readonly headers: ReadonlyArray<string>
  readonly data: Option.Option<string>
  readonly scope: Option.Option<string>
}

const loopbackHosts = new Set(["localhost", "127.0.0.1", "[::1]"])

/** Where a token may go: an absolute https URL (http to loopback only), with a method. */
const destination = (
  href: string,
  method: string
): Effect.Effect<{ readonly url: URL; readonly method: string }, UsageError> =>
  Effect.gen(function*() {
    const url = yield* Effect.try({
      try: () => new URL(href),
      catch: () => new UsageError({ description: `"${href}" is not an absolute URL` })
    })
    if (url.protocol !== "https:" && !(url.protocol === "http:" && loopbackHosts.has(url.hostname))) {
      return yield* new UsageError({
        description: "the token goes over https only (plain http to a loopback host only)"
      })
    }
    const upper = method.toUpperCase()
    if (!/^[A-Z]+$/.test(upper)) return yield* new UsageError({ description: `"${method}" is not a method` })
    return { url, method: upper }
  })

const request = (options: FetchOptions): Effect.Effect<HttpClientRequest.HttpClientRequest, UsageError> =>
  Effect.gen(function*() {
    const { method, url } = yield* destination(options.url, options.method)
    const headers: Array<[string, string]> = []
    for (const header of options.headers) {
      const colon = header.indexOf(":")
      const name = header.slice(0, colon).trim()
      if (colon <= 0 || !/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) {
        return yield* new UsageError({ description: `-H takes "Name: value" (got a header without a name)` })
      }
      if (name.toLowerCase() === "authorization") {
        return yield* new UsageError({ description: "-H Authorization: fetch sends the profile's token itself" })
      }
      headers.push([name, header.slice(colon + 1).trim()])
    }
    let built = HttpClientRequest.make(method as HttpClientRequest.HttpClientRequest["method"])(url).pipe(
      HttpClientRequest.setHeaders(Object.fromEntries(headers))
    )
    if (Option.isSome(options.data)) {
      const body = options.data.value
      const given = headers.find(([name]) => name.toLowerCase() === "content-type")?.[1]
      const contentType = given ?? (isJson(body) ? "application/json" : "text/plain;charset=utf-8")
      built = HttpClientRequest.bodyText(built, body, contentType)
    }
    return built
  })

const isJson = (text: string): boolean => {
  try {
    JSON.parse(text)
    return true
  } catch {
    return false
  }
}

/** `fetch`: one request with the profile's token (one renewal and retry on a 401). */
export const fetch = (common: Session.Common, options: FetchOptions) =>
  Effect.gen(function*() {
    const built = yield* request(options)
    const where = yield* Session.where(common)
    const settings = yield* Session.profile(common, where)
    const response = yield* Effect.gen(function*() {
      const client = yield* AuthorizedClient.make({ scope: Option.getOrUndefined(options.scope) })
      const response = yield* client.execute(built)
      const body = yield* response.text
      return { status: response.status, body }
    }).pipe(Effect.scoped, Effect.provide(Session.renewer(common, where, settings)))
    if (response.body !== "") yield* Console.log(response.body.replace(/\n$/, ""))
    if (response.status >= 400) {
      const url = new URL(options.url)
      return yield* new HttpStatusError({
        status: response.status,
        method: built.method,
        url: `${url.origin}${url.pathname}`
      })
    }
  })
