/**
 * `oidc-provider` (panva's OpenID Certified server) in process, on
 * `127.0.0.1` at an ephemeral port, for integration tests against a server
 * that is not our own reading of the standards.
 *
 * Configurable: the clients, the features, the token lifetimes, any other
 * configuration; the `Provider` instance is exposed. Interactions (the login
 * and consent pages of `/auth`) are served at `/interaction/:uid` on the same
 * server and answered programmatically by `interaction` (approve as a user,
 * with every scope and claim asked for, or deny), which a test may replace
 * between flows with `answerInteractions`.
 *
 * @example
 * ```ts
 * it.scopedLive("...", () =>
 *   Effect.gen(function*() {
 *     const op = yield* OidcProvider.start({
 *       clients: [{ client_id: "c", client_secret: "s", grant_types: ["client_credentials"], response_types: [] }],
 *       features: { clientCredentials: { enabled: true } }
 *     })
 *     // op.issuer === "http://127.0.0.1:<port>"
 *   }))
 * ```
 */
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as Jose from "jose"
import * as Http from "node:http"
import type { AddressInfo } from "node:net"
import type { ClientMetadata, Configuration, Interaction } from "oidc-provider"
import Provider from "oidc-provider"

/** How an interaction ends: logged in (and consented) as a user, or an OAuth error. */
export type InteractionAnswer =
  | { readonly _tag: "Approve"; readonly accountId: string }
  | { readonly _tag: "Deny"; readonly error: string; readonly description?: string | undefined }

/** Approve as `accountId` (every scope and claim asked for is granted). */
export const approve = (accountId = "demo-user"): InteractionAnswer => ({ _tag: "Approve", accountId })

/** End the interaction with an OAuth error, `access_denied` unless given. */
export const deny = (error = "access_denied", description?: string): InteractionAnswer => ({
  _tag: "Deny",
  error,
  description
})

export type InteractionHandler = (
  interaction: Interaction,
  provider: Provider
) => InteractionAnswer | Promise<InteractionAnswer>

export interface Options {
  /** The clients (oidc-provider's client metadata). */
  readonly clients?: ReadonlyArray<ClientMetadata> | undefined
  /** oidc-provider's `features`, e.g. `{ clientCredentials: { enabled: true } }`. */
  readonly features?: Record<string, unknown> | undefined
  /** oidc-provider's `ttl`, e.g. `{ AccessToken: 3600, DeviceCode: 600 }`. */
  readonly ttl?: Record<string, unknown> | undefined
  /** Claims of an account, by account id (`sub` is always the id). */
  readonly accounts?: Readonly<Record<string, Readonly<Record<string, unknown>>>> | undefined
  /** How interactions are answered: `approve()` unless given. */
  readonly interaction?: InteractionHandler | undefined
  /** Any other configuration, merged last (it wins). */
  readonly configuration?: Configuration | undefined
}

export interface OidcProvider {
  /** `http://127.0.0.1:<port>`, exactly as the discovery document says. */
  readonly issuer: string
  readonly provider: Provider
  readonly server: Http.Server
  /** The public JWKS the provider signs id_tokens with. */
  readonly jwks: { readonly keys: ReadonlyArray<Jose.JWK> }
  /** Replaces how the next interactions are answered. */
  readonly answerInteractions: (handler: InteractionHandler) => void
  /** Every interaction answered so far, in order. */
  readonly interactions: ReadonlyArray<Interaction>
}

/** The path interactions are served at. */
export const interactionPath = "/interaction/"

/**
 * Finishes an interaction with `answer`, the way an interaction page would:
 * a login (with the account), then a consent that grants what was asked, or
 * an error. Answers the browser with the 303 back to the authorization.
 */
export const finishInteraction = async (
  provider: Provider,
  req: Http.IncomingMessage,
  res: Http.ServerResponse,
  interaction: Interaction,
  answer: InteractionAnswer
): Promise<void> => {
  if (answer._tag === "Deny") {
    await provider.interactionFinished(req, res, {
      error: answer.error,
      ...(answer.description === undefined ? {} : { error_description: answer.description })
    }, { mergeWithLastSubmission: false })
    return
  }
  const accountId = interaction.session?.accountId ?? answer.accountId
  const result: Record<string, unknown> = { login: { accountId } }
  if (interaction.prompt.name === "consent") {
    const clientId = String(interaction.params.client_id)
    const grant = interaction.grantId === undefined
      ? new provider.Grant({ accountId, clientId })
      : (await provider.Grant.find(interaction.grantId)) ?? new provider.Grant({ accountId, clientId })
    const details = interaction.prompt.details as {
      readonly missingOIDCScope?: ReadonlyArray<string>
      readonly missingOIDCClaims?: ReadonlyArray<string>
      readonly missingResourceScopes?: Readonly<Record<string, ReadonlyArray<string>>>
    }
    if (details.missingOIDCScope) grant.addOIDCScope(details.missingOIDCScope.join(" "))
    if (details.missingOIDCClaims) grant.addOIDCClaims(details.missingOIDCClaims)
    for (const [resource, scopes] of Object.entries(details.missingResourceScopes ?? {})) {
      grant.addResourceScope(resource, scopes.join(" "))
    }
    result.consent = { grantId: await grant.save() }
  }
  await provider.interactionFinished(req, res, result, { mergeWithLastSubmission: true })
}

/** A fresh RS256 signing key for the provider's id_tokens: its private JWK. */
const signingKey = async (): Promise<Jose.JWK> => {
  const pair = await Jose.generateKeyPair("RS256", { extractable: true })
  return { ...(await Jose.exportJWK(pair.privateKey)), alg: "RS256", use: "sig", kid: "op-signing-1" }
}

/**
 * Starts the provider on `127.0.0.1:0` and stops it with the scope. The
 * issuer is known only once the port is: the server is listening before the
 * Provider exists, and answers 503 until then.
 */
export const start = (options: Options = {}): Effect.Effect<OidcProvider, never, Scope.Scope> =>
  Effect.gen(function*() {
    let handler: (req: Http.IncomingMessage, res: Http.ServerResponse) => void = (_req, res) => {
      res.statusCode = 503
      res.end()
    }
    const server = yield* Effect.acquireRelease(
      Effect.async<Http.Server>((resume) => {
        const server = Http.createServer((req, res) => handler(req, res))
        server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
      }),
      (server) =>
        Effect.async<void>((resume) => {
          server.closeAllConnections()
          server.close(() => resume(Effect.void))
        })
    )
    const port = (server.address() as AddressInfo).port
    const issuer = `http://127.0.0.1:${port}`
    const key = yield* Effect.promise(signingKey)
    const { d: _d, dp: _dp, dq: _dq, p: _p, q: _q, qi: _qi, ...publicKey } = key
    const accounts = options.accounts ?? {}
    let answer: InteractionHandler = options.interaction ?? (() => approve())
    const interactions: Array<Interaction> = []

    const provider = new Provider(issuer, {
      clients: options.clients ?? [],
      jwks: { keys: [key] },
      cookies: { keys: ["effect-renewal-test-cookie-key"] },
      features: { devInteractions: { enabled: false }, ...options.features },
      // explicit lifetimes (oidc-provider notices the defaults); a test's own win
      ttl: { ClientCredentials: 600, ...options.ttl },
      interactions: {
        url: (_ctx: unknown, interaction: { readonly uid: string }) => `${interactionPath}${interaction.uid}`
      },
      findAccount: (_ctx: unknown, sub: string) => ({
        accountId: sub,
        claims: () => ({ ...accounts[sub], sub })
      }),
      ...options.configuration
    })
    const callback = provider.callback()

    handler = (req, res) => {
      if (req.url?.startsWith(interactionPath)) {
        ;(async () => {
          const interaction = await provider.interactionDetails(req, res)
          interactions.push(interaction)
          await finishInteraction(provider, req, res, interaction, await answer(interaction, provider))
        })().catch((error: unknown) => {
          res.statusCode = 500
          res.end(`interaction failed: ${error instanceof Error ? error.message : String(error)}`)
        })
        return
      }
      callback(req, res)
    }

    return {
      issuer,
      provider,
      server,
      jwks: { keys: [publicKey] },
      answerInteractions: (next) => {
        answer = next
      },
      interactions
    }
  })

/**
 * A minimal browser for the authorization endpoint: follows redirects by
 * hand (keeping cookies, as the interaction needs them) until one goes to a
 * URL that `stop` accepts (the client's redirect URI), and returns that URL
 * without requesting it. Fails on an answer that is not a redirect, or after
 * `maxHops` redirects.
 */
export const browse = (
  url: string,
  stop: (location: string) => boolean,
  maxHops = 10
): Effect.Effect<string> =>
  Effect.promise(async () => {
    const jar = new Map<string, string>()
    let next = url
    for (let hop = 0; hop < maxHops; hop++) {
      const cookie = [...jar].map(([name, value]) => `${name}=${value}`).join("; ")
      const response = await fetch(next, { redirect: "manual", headers: cookie === "" ? {} : { cookie } })
      for (const set of response.headers.getSetCookie()) {
        const [pair = "", ...attributes] = set.split(";")
        const at = pair.indexOf("=")
        const name = pair.slice(0, at).trim()
        const value = pair.slice(at + 1).trim()
        const expired = value === "" ||
          attributes.some((a) => /^\s*expires=/i.test(a) && Date.parse(a.split("=")[1] ?? "") < Date.now())
        if (expired) jar.delete(name)
        else jar.set(name, value)
      }
      const location = response.headers.get("location")
      if (response.status < 300 || response.status >= 400 || location === null) {
        throw new Error(`${next} answered ${response.status} without a redirect: ${await response.text()}`)
      }
      next = new URL(location, next).href
      if (stop(next)) return next
    }
    throw new Error(`more than ${maxHops} redirects from ${url}`)
  })

/**
 * A cookie-keeping browser for pages that need forms (the device flow's):
 * `request` sends cookies it was given and keeps those it gets, following
 * nothing by itself.
 */
const cookieBrowser = () => {
  const jar = new Map<string, string>()
  return async (url: string, init: { readonly form?: Record<string, string> } = {}): Promise<Response> => {
    const cookie = [...jar].map(([name, value]) => `${name}=${value}`).join("; ")
    const response = await fetch(url, {
      redirect: "manual",
      method: init.form === undefined ? "GET" : "POST",
      headers: {
        ...(cookie === "" ? {} : { cookie }),
        ...(init.form === undefined ? {} : { "content-type": "application/x-www-form-urlencoded" })
      },
      ...(init.form === undefined ? {} : { body: new URLSearchParams(init.form).toString() })
    })
    for (const set of response.headers.getSetCookie()) {
      const [pair = ""] = set.split(";")
      const at = pair.indexOf("=")
      const name = pair.slice(0, at).trim()
      const value = pair.slice(at + 1).trim()
      if (value === "") jar.delete(name)
      else jar.set(name, value)
    }
    return response
  }
}

const hiddenField = (html: string, name: string): string => {
  const found = new RegExp(`name="${name}" value="([^"]*)"`).exec(html)?.[1]
  if (found === undefined) throw new Error(`no ${name} field in the page: ${html.slice(0, 500)}`)
  return found
}

/**
 * The person at the device flow's verification page (oidc-provider's
 * `/device`): opens `verification_uri_complete`, submits the user code,
 * confirms it (or aborts, which denies), goes through the interaction (the
 * provider's `interaction` handler answers it) and ends at the success page,
 * whose text is returned.
 */
export const confirmDevice = (
  verificationUriComplete: string,
  options: { readonly abort?: boolean | undefined } = {}
): Effect.Effect<string> =>
  Effect.promise(async () => {
    const request = cookieBrowser()
    // the form oidc-provider posts by script: the user code and the xsrf token
    const start = await (await request(verificationUriComplete)).text()
    const action = new URL(/action="([^"]*)"/.exec(start)?.[1] ?? "", verificationUriComplete).href
    const userCode = hiddenField(start, "user_code")
    const confirmPage =
      await (await request(action, { form: { xsrf: hiddenField(start, "xsrf"), user_code: userCode } }))
        .text()
    const xsrf = hiddenField(confirmPage, "xsrf")
    let response = await request(action, {
      form: options.abort === true
        ? { xsrf, user_code: userCode, abort: "yes" }
        : { xsrf, user_code: userCode, confirm: "yes" }
    })
    let url = action
    for (let hop = 0; hop < 10 && response.status >= 300 && response.status < 400; hop++) {
      url = new URL(response.headers.get("location") ?? "", url).href
      response = await request(url)
    }
    return await response.text()
  })
