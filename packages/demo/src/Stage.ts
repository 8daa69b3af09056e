/**
 * What every story shares: the settings of the run, the store's directory,
 * and small helpers to log a user in, build a `Renewer`, wait for expiry and
 * check what was observed.
 */
import type * as AuthenticationClient from "@effect-renewal/core/AuthenticationClient"
import type * as AuthError from "@effect-renewal/core/AuthError"
import type { Credentials } from "@effect-renewal/core/Credentials"
import * as Login from "@effect-renewal/core/Login"
import * as RenewalPolicy from "@effect-renewal/core/RenewalPolicy"
import type * as RenewalStrategy from "@effect-renewal/core/RenewalStrategy"
import * as Renewer from "@effect-renewal/core/Renewer"
import type * as TokenStore from "@effect-renewal/core/TokenStore"
import * as Emulator from "@effect-renewal/testing/Emulator"
import * as Fixtures from "@effect-renewal/testing/Fixtures"
import type * as FileSystem from "@effect/platform/FileSystem"
import * as HttpClient from "@effect/platform/HttpClient"
import type * as Path from "@effect/platform/Path"
import * as Context from "effect/Context"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import { type Narrator, say } from "./Narrator.js"
import type { StoreSpec } from "./processes/protocol.js"
import { fingerprint, TokenLedger } from "./TokenLedger.js"

/** Short lifetimes, so that the whole demo takes seconds. */
export const settings = {
  accessTokenLifetime: Duration.seconds(2),
  idTokenLifetime: Duration.seconds(30),
  minTtl: Duration.seconds(1)
} as const

/** An API the refresh tokens may ask for besides the login's audience. */
export const ordersApi = "https://orders.example.test"

/**
 * The emulated tenant: refresh token rotation, short-lived access tokens, and
 * device codes polled every second (the smallest `interval` there is), so
 * that a device-flow login takes seconds.
 */
export const emulatorOptions: Emulator.Emulator.ServerOptions = {
  rotation: true,
  audiences: [ordersApi],
  accessTokenLifetime: settings.accessTokenLifetime,
  idTokenLifetime: settings.idTokenLifetime,
  devicePollingInterval: "1 second"
}

/** Short backoff so that a burst of faults is ridden out in about two seconds. */
export const policyOptions = {
  retry: RenewalPolicy.exponentialBackoff({ base: "100 millis", max: "1 second", retries: 5 }),
  minTtl: settings.minTtl,
  attemptTimeout: "5 seconds",
  deadline: "10 seconds",
  maxRetryAfter: "5 seconds"
} as const

export const policy: Layer.Layer<RenewalPolicy.RenewalPolicy, AuthError.InvalidConfiguration> = RenewalPolicy.layer(
  policyOptions
)

export interface StageService {
  /** The temporary directory of the store's database. */
  readonly directory: string
  /** The store every story uses: SQLite, in `directory`. */
  readonly store: StoreSpec
  /** The store's encryption key (worker processes need it too). */
  readonly codecKey: Redacted.Redacted<string>
  /**
   * The `HttpClient` of the run, observed by the `TokenLedger`: whatever
   * goes through it (the logins' answers, the renewals') is known to the
   * final self-check.
   */
  readonly http: HttpClient.HttpClient
  /**
   * The emulator as Auth0, through the client's `domain` form (which derives
   * Auth0's endpoints instead of discovering them): the only form that
   * reaches Auth0's legacy `/delegation`. The stories' `AuthenticationClient`
   * is the discovered one.
   */
  readonly auth0Client: AuthenticationClient.AuthenticationClient.Service
}

export class Stage extends Context.Tag("@effect-renewal/demo/Stage")<Stage, StageService>() {}

/** What a story may use. */
export type StoryContext =
  | Narrator
  | TokenLedger
  | Stage
  | Emulator.Emulator
  | Emulator.EmulatorServer
  | TokenStore.TokenStore
  | AuthenticationClient.AuthenticationClient
  | FileSystem.FileSystem
  | Path.Path

/** Records one expectation of a story, and says whether it held. */
export type Check = (ok: boolean, what: string) => Effect.Effect<void, never, Narrator>

export interface Story {
  readonly title: string
  /** Short names, for the summary table. */
  readonly name: string
  readonly expected: string
  /** Narrates, checks, and returns what was observed (short, for the summary table). */
  readonly run: (check: Check) => Effect.Effect<string, unknown, StoryContext>
}

/**
 * Runs `use` with a `Renewer` for the session `key`, renewing with
 * `strategy`; the renewer lives as long as `use` runs.
 */
export const withRenewer = <A, E, R>(
  key: string,
  strategy: Layer.Layer<RenewalStrategy.RenewalStrategy, never, AuthenticationClient.AuthenticationClient>,
  use: (renewer: Renewer.Renewer.Service) => Effect.Effect<A, E, R>
) =>
  Effect.flatMap(Renewer.Renewer, use).pipe(
    Effect.provide(Renewer.layer({ key }).pipe(Layer.provide(strategy)))
  )

/**
 * Logs a demo user in at the emulator and saves the credentials through the
 * renewer; remembers its tokens (they never went over HTTP).
 */
export const logIn = (renewer: Renewer.Renewer.Service, options?: Emulator.Emulator.LoginOptions) =>
  Effect.gen(function*() {
    const credentials = yield* Fixtures.login(options)
    const ledger = yield* TokenLedger
    yield* ledger.addCredentials(credentials)
    yield* renewer.save(credentials)
    return credentials
  })

/**
 * Runs `effect` with a `Login` over the story's `AuthenticationClient` (the
 * discovered one) and the ledger's `HttpClient` (which also reads the JWKS).
 * A fresh one per story: its JWKS cache starts empty.
 */
export const provideLogin = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.flatMap(
    Stage,
    ({ http }) => Effect.provide(effect, Login.layer().pipe(Layer.provide(Layer.succeed(HttpClient.HttpClient, http))))
  )

/** Sleeps until the access token of `credentials` has expired (plus a margin). */
export const untilExpired = (credentials: Credentials) =>
  Effect.gen(function*() {
    const now = yield* DateTime.now
    const wait = Duration.millis(
      Math.max(0, DateTime.toEpochMillis(credentials.expiresAt) - DateTime.toEpochMillis(now)) + 100
    )
    yield* say(`   ... waiting ${seconds(wait)} for the access token to expire`)
    yield* Effect.sleep(wait)
  })

export const counters = Effect.flatMap(Emulator.Emulator, (emulator) => emulator.counters)

/** Milliseconds since `start`, by the Clock. */
export const since = (start: DateTime.Utc) =>
  Effect.map(DateTime.now, (now) => Duration.millis(DateTime.toEpochMillis(now) - DateTime.toEpochMillis(start)))

export const seconds = (duration: Duration.Duration): string => `${(Duration.toMillis(duration) / 1000).toFixed(1)} s`

/** `access #abc123, refresh #def456` */
export const describeTokens = (credentials: Credentials): string =>
  [
    `access ${fingerprint(credentials.accessToken)}`,
    ...(credentials.idToken === undefined ? [] : [`id ${fingerprint(credentials.idToken)}`]),
    `refresh ${fingerprint(credentials.refreshToken)}`
  ].join(", ")

/** Whether two tokens are the same value (compared without printing them). */
export const sameToken = (
  a: Redacted.Redacted<string> | undefined,
  b: Redacted.Redacted<string> | undefined
): boolean => a === undefined || b === undefined ? a === b : Redacted.value(a) === Redacted.value(b)
