/**
 * The options of `WebAuth`, checked once, with their defaults.
 *
 * @internal
 */
import { InvalidConfiguration } from "@effect-renewal/core/AuthError"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import type * as WebAuth from "../WebAuth.js"
import * as Cookies from "./cookies.js"
import * as ReturnTo from "./returnTo.js"

/** @internal */
export interface Settings {
  /** The application's origin, e.g. `https://app.example.com`. */
  readonly origin: string
  readonly redirectUri: string
  readonly scope: string
  readonly audience: string | undefined
  readonly parameters: Readonly<Record<string, string>> | undefined
  readonly paths: WebAuth.WebAuth.Service["paths"]
  readonly afterLogout: string
  /** Whether the provider's logout is sent the id_token as `id_token_hint`. */
  readonly idTokenHint: boolean
  readonly idleMillis: number
  readonly absoluteMillis: number
  readonly pendingMillis: number
  /** How often the lapsed sessions are swept (ended, refresh token revoked). */
  readonly sweepMillis: number
  /** How long a record is kept in the store past its session's end, for its end to be seen and done. */
  readonly graceMillis: number
  /** How often a session's last use is written: at most once per this. */
  readonly touchMillis: number
  readonly cookies: Cookies.Settings
  readonly secrets: ReadonlyArray<Redacted.Redacted<string>>
}

const invalid = (description: string) => new InvalidConfiguration({ description })

const loopbackHosts = new Set(["127.0.0.1", "[::1]", "localhost"])

const duration = (name: string, input: Duration.DurationInput | undefined, fallback: Duration.DurationInput) => {
  const decoded = Option.filter(
    Duration.decodeUnknown(input ?? fallback),
    (d) => Duration.isFinite(d) && Duration.greaterThan(d, Duration.zero)
  )
  return Option.match(decoded, {
    onNone: () => Effect.fail(invalid(`WebAuth's ${name} must be a positive, finite duration`)),
    onSome: (d) => Effect.succeed(Duration.toMillis(d))
  })
}

const path = (name: string, value: string | undefined, fallback: string) => {
  const chosen = value ?? fallback
  return ReturnTo.validate(chosen) === chosen && !chosen.includes("?") && !chosen.includes("#")
    ? Effect.succeed(chosen)
    : Effect.fail(invalid(`WebAuth's ${name} must be a path starting with a single /`))
}

/** @internal */
export const decode = (options: WebAuth.Options): Effect.Effect<Settings, InvalidConfiguration> =>
  Effect.gen(function*() {
    if (typeof options.baseUrl !== "string" || !URL.canParse(options.baseUrl)) {
      return yield* invalid("WebAuth's baseUrl must be an absolute URL")
    }
    const base = new URL(options.baseUrl)
    const secure = base.protocol === "https:"
    if (!secure && !(base.protocol === "http:" && loopbackHosts.has(base.hostname))) {
      return yield* invalid("WebAuth's baseUrl must be https: (http: only on a loopback host)")
    }
    if (base.username !== "" || base.password !== "") {
      return yield* invalid("WebAuth's baseUrl must not hold credentials")
    }
    const paths = {
      login: yield* path("paths.login", options.paths?.login, "/login"),
      callback: yield* path("paths.callback", options.paths?.callback, "/callback"),
      logout: yield* path("paths.logout", options.paths?.logout, "/logout")
    }
    const afterLogout = yield* path("afterLogout", options.afterLogout, "/")
    const scope = (options.scope ?? "openid profile offline_access").trim().split(/\s+/).join(" ")
    if (!scope.split(" ").includes("openid")) {
      return yield* invalid("WebAuth's scope must have openid: the session's person is the id_token's subject")
    }
    const cookieName = options.cookieName ?? "session"
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(cookieName)) {
      return yield* invalid("WebAuth's cookieName must be 1 to 64 letters, digits, - or _")
    }
    const idleMillis = yield* duration("idleLifetime", options.idleLifetime, "1 day")
    const absoluteMillis = yield* duration("absoluteLifetime", options.absoluteLifetime, "7 days")
    const pendingMillis = yield* duration("pendingLifetime", options.pendingLifetime, "10 minutes")
    const sweepMillis = yield* duration("sweepInterval", options.sweepInterval, "1 minute")
    const secrets = Array.isArray(options.secrets) ? options.secrets : [options.secrets as Redacted.Redacted<string>]
    return {
      origin: base.origin,
      redirectUri: new URL(paths.callback, base.origin).href,
      scope,
      audience: options.audience,
      parameters: options.parameters,
      paths,
      afterLogout,
      idTokenHint: options.idTokenHint === true,
      idleMillis,
      absoluteMillis,
      pendingMillis,
      sweepMillis,
      graceMillis: Math.max(86_400_000, 2 * sweepMillis),
      touchMillis: Math.min(60_000, Math.floor(idleMillis / 4)),
      cookies: {
        secure,
        ...Cookies.names(cookieName, secure),
        sessionMaxAge: Duration.millis(absoluteMillis),
        pendingMaxAge: Duration.millis(pendingMillis)
      },
      secrets
    }
  })
