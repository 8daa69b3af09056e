/**
 * `login`, loaded only by that command (a chunk of its own in the bundle):
 * the discovery, the flows, the id_token checks and the loopback server are
 * not on the path of `token`.
 */
import * as AuthenticationClient from "@effect-renewal/core/AuthenticationClient"
import type { Credentials } from "@effect-renewal/core/Credentials"
import * as Jwt from "@effect-renewal/core/Jwt"
import * as Login from "@effect-renewal/core/Login"
import * as Renewer from "@effect-renewal/core/Renewer"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { spawn } from "node:child_process"
import { createServer } from "node:http"
import { UsageError } from "../CliError.js"
import * as Profiles from "../Profiles.js"
import * as Session from "./session.js"

/** The options of `login`. */
export interface LoginOptions {
  readonly issuer: Option.Option<string>
  readonly clientId: Option.Option<string>
  readonly scope: Option.Option<string>
  readonly audience: Option.Option<string>
  readonly browser: boolean
  /** `--dpop`: bind the tokens to a new DPoP key. */
  readonly dpop: boolean
  /** `--no-dpop`: do not, even though the profile's last login did. */
  readonly noDpop: boolean
}

/** The scope of a login that names none: an id_token, and a refresh token for the renewals. */
export const defaultScope = "openid offline_access"

/**
 * Opens the system browser (`$BROWSER` when set, else `open`, `xdg-open`, or
 * Windows' URL handler), without waiting for it. A browser that cannot be
 * started is no error: the URL is printed as well.
 */
export const openBrowser = (url: string): Effect.Effect<void> =>
  Effect.sync(() => {
    const browser = process.env["BROWSER"]
    const [command, args]: [string, Array<string>] = browser !== undefined && browser !== ""
      ? [browser, [url]]
      : process.platform === "darwin"
      ? ["open", [url]]
      : process.platform === "win32"
      ? ["rundll32", ["url.dll,FileProtocolHandler", url]]
      : ["xdg-open", [url]]
    try {
      const child = spawn(command, args, { stdio: "ignore", detached: true })
      child.on("error", () => {})
      child.unref()
    } catch {
      // the URL is printed: the person can open it themselves
    }
  })

const settingsOf = (
  common: Session.Common,
  options: LoginOptions,
  saved: Option.Option<Profiles.Profile>
): Effect.Effect<Profiles.Profile, UsageError> => {
  const issuer = Option.orElse(options.issuer, () => Option.map(saved, (s) => s.issuer))
  const clientId = Option.orElse(options.clientId, () => Option.map(saved, (s) => s.clientId))
  if (Option.isNone(issuer) || Option.isNone(clientId)) {
    return Effect.fail(
      new UsageError({
        description: `login needs --issuer URL and --client-id ID (the profile "${common.profile}" has none saved)`
      })
    )
  }
  if (options.dpop && options.noDpop) {
    return Effect.fail(new UsageError({ description: "login takes --dpop or --no-dpop, not both" }))
  }
  // a new issuer or client starts from the defaults, not from the saved scope
  const same = Option.exists(saved, (s) => s.issuer === issuer.value && s.clientId === clientId.value)
  // DPoP sticks to the profile: a login again without the flag does not
  // quietly downgrade its tokens to Bearer
  const dpop = options.dpop || (!options.noDpop && same && Option.exists(saved, (s) => s.dpop === true))
  const audience = Option.orElse(
    options.audience,
    () => same ? Option.flatMap(saved, (s) => Option.fromNullable(s.audience)) : Option.none()
  )
  return Effect.succeed(
    new Profiles.Profile({
      issuer: issuer.value,
      clientId: clientId.value,
      scope: Option.getOrElse(
        Option.orElse(options.scope, () => same ? Option.map(saved, (s) => s.scope) : Option.none()),
        () => defaultScope
      ),
      ...(Option.isSome(audience) ? { audience: audience.value } : {}),
      ...(dpop ? { dpop: true } : {})
    })
  )
}

const device = (login: Login.Login.Service, settings: Profiles.Profile) =>
  Effect.gen(function*() {
    const authorization = yield* login.device({
      scope: settings.scope,
      audience: settings.audience,
      dpop: settings.dpop
    })
    yield* Console.error(
      [
        `To log in, open ${authorization.verificationUri}`,
        `and enter the code: ${authorization.userCode}`,
        ...(authorization.verificationUriComplete === undefined
          ? []
          : [`(or open ${authorization.verificationUriComplete})`]),
        "Waiting for approval..."
      ].join("\n")
    )
    return yield* authorization.credentials
  })

const loopback = (login: Login.Login.Service, settings: Profiles.Profile) =>
  Login.loopback({
    scope: settings.scope,
    audience: settings.audience,
    dpop: settings.dpop,
    open: (url) =>
      Effect.zipRight(
        Console.error(
          `Opening your browser to log in. If it does not open, open this URL:\n${url}\nWaiting for the browser...`
        ),
        openBrowser(url)
      )
  }).pipe(
    Effect.provideService(Login.Login, login),
    // the callback server lives as long as this login, on loopback only
    Effect.provide(NodeHttpServer.layer(createServer, { port: 0, host: "127.0.0.1" }))
  )

const describe = (credentials: Credentials) =>
  Effect.gen(function*() {
    if (credentials.idToken === undefined) return "(no id_token: ask for the openid scope to see who)"
    const claims = yield* Effect.option(Jwt.decode(credentials.idToken))
    if (Option.isNone(claims)) return "(an id_token that could not be read)"
    const email = claims.value["email"]
    return `${claims.value.sub ?? "(no subject)"}${typeof email === "string" ? ` <${email}>` : ""}`
  })

/** What a login with `--dpop` got: bound tokens (the key's public thumbprint), or Bearer ones. */
const binding = (settings: Profiles.Profile, credentials: Credentials): string =>
  settings.dpop !== true || credentials.dpop === undefined
    ? ""
    : credentials.tokenType === "DPoP"
    ? `\nThe tokens are bound to a DPoP key (thumbprint ${credentials.dpop.jkt}), kept with them.`
    : "\nThe provider issued Bearer tokens: it does not bind them to the DPoP key (see its DPoP settings)."

/** `login`: a flow, then the profile's settings and credentials saved, then who. */
export const run = (common: Session.Common, options: LoginOptions) =>
  Effect.gen(function*() {
    const where = yield* Session.where(common)
    const saved = yield* Profiles.get(where.paths.configDir, common.profile)
    const settings = yield* settingsOf(common, options, saved)
    const client = yield* AuthenticationClient.makeDiscovery({ issuer: settings.issuer, clientId: settings.clientId })
    const login = yield* Login.make().pipe(
      Effect.provideService(AuthenticationClient.AuthenticationClient, client)
    )
    // the store (and its key) is opened before the person is asked anything
    const store = yield* Layer.build(Session.renewer(common, where, settings))
    const credentials = yield* (options.browser ? loopback(login, settings) : device(login, settings))
    yield* Profiles.put(where.paths.configDir, common.profile, settings)
    yield* Effect.flatMap(Renewer.Renewer, (renewer) => renewer.save(credentials)).pipe(Effect.provide(store))
    yield* Console.error(
      `Logged in to ${settings.issuer} as ${yield* describe(credentials)} (profile "${common.profile}").${
        binding(settings, credentials)
      }`
    )
  }).pipe(Effect.scoped)
