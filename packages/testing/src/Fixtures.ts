/**
 * Ready-made credentials and layers for tests: the whole renewal stack wired
 * to an emulator, and test doubles of the `Renewer` and `RenewalStrategy`.
 *
 * @example
 * ```ts
 * import * as Renewer from "@effect-renewal/core/Renewer"
 * import * as Emulator from "@effect-renewal/testing/Emulator"
 * import * as Fixtures from "@effect-renewal/testing/Fixtures"
 * import * as Effect from "effect/Effect"
 * import * as TestClock from "effect/TestClock"
 * import * as TestContext from "effect/TestContext"
 * import { strictEqual } from "node:assert"
 *
 * // The body of a test: in a vitest suite, return it from `it.effect`, which
 * // provides the TestContext itself.
 * const renewsAnExpiredLogin = Effect.gen(function*() {
 *   const renewer = yield* Renewer.Renewer
 *   yield* renewer.save(yield* Fixtures.login())
 *   yield* TestClock.adjust("2 hours") // the emulator's access tokens live 1 hour
 *   yield* renewer.get()
 *   const emulator = yield* Emulator.Emulator
 *   strictEqual((yield* emulator.counters).requests.token, 1)
 * }).pipe(Effect.provide(Fixtures.layerMemory()))
 *
 * Effect.runPromise(renewsAnExpiredLogin.pipe(Effect.provide(TestContext.TestContext)))
 * ```
 *
 * @since 0.1.0
 */
import * as AuthenticationClient from "@effect-renewal/core/AuthenticationClient"
import type { InvalidConfiguration } from "@effect-renewal/core/AuthError"
import * as Credentials from "@effect-renewal/core/Credentials"
import * as RenewalPolicy from "@effect-renewal/core/RenewalPolicy"
import * as RenewalStrategy from "@effect-renewal/core/RenewalStrategy"
import * as Renewer from "@effect-renewal/core/Renewer"
import * as TokenStore from "@effect-renewal/core/TokenStore"
import type * as HttpClient from "@effect/platform/HttpClient"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as Emulator from "./Emulator.js"

/**
 * The domain the in-memory emulator is reached at (any host works in memory).
 *
 * @since 0.1.0
 * @category constants
 */
export const memoryDomain = "emulator.effect-renewal.test"

const decodeTokenResponse = Schema.decodeUnknownSync(Credentials.TokenResponse)

/**
 * Logs a test user in at the emulator and returns the credentials as the
 * library holds them (expiry from the `Clock`).
 *
 * @example
 * ```ts
 * import * as Renewer from "@effect-renewal/core/Renewer"
 * import * as Fixtures from "@effect-renewal/testing/Fixtures"
 * import * as Effect from "effect/Effect"
 *
 * // alice logs in without a refresh token: renewal will need a new login
 * const aliceWithoutRefreshToken = Effect.gen(function*() {
 *   const credentials = yield* Fixtures.login({ username: "alice", scope: "openid profile" })
 *   const renewer = yield* Renewer.Renewer
 *   yield* renewer.save(credentials)
 * })
 * ```
 *
 * @since 0.1.0
 * @category fixtures
 */
export const login = (
  options?: Emulator.Emulator.LoginOptions
): Effect.Effect<Credentials.Credentials, never, Emulator.Emulator> =>
  Effect.flatMap(Emulator.Emulator, (emulator) => emulator.login(options)).pipe(
    Effect.flatMap((body) => Credentials.fromTokenResponse(decodeTokenResponse(body)))
  )

/**
 * Credentials made up on the spot, expiring `ttl` from now (1 hour by
 * default). For tests that do not need a server.
 *
 * @example
 * ```ts
 * import * as Fixtures from "@effect-renewal/testing/Fixtures"
 *
 * // about to expire, with a refresh token: the next get renews
 * const expiring = Fixtures.credentials({ refreshToken: "rt", ttl: "10 seconds" })
 * ```
 *
 * @since 0.1.0
 * @category fixtures
 */
export const credentials = (options: {
  readonly accessToken?: string | undefined
  readonly refreshToken?: string | undefined
  readonly idToken?: string | undefined
  readonly scope?: string | undefined
  readonly ttl?: Duration.DurationInput | undefined
} = {}): Effect.Effect<Credentials.Credentials> =>
  Effect.map(DateTime.now, (now) =>
    new Credentials.Credentials({
      accessToken: Redacted.make(options.accessToken ?? "test-access-token"),
      tokenType: "Bearer",
      expiresAt: DateTime.addDuration(now, options.ttl ?? Duration.hours(1)),
      ...(options.refreshToken === undefined ? {} : { refreshToken: Redacted.make(options.refreshToken) }),
      ...(options.idToken === undefined ? {} : { idToken: Redacted.make(options.idToken) }),
      ...(options.scope === undefined ? {} : { scope: options.scope })
    }))

/**
 * An `AuthenticationClient` for the emulator: in memory through the
 * `HttpClient` of `Emulator.layerMemory`, or at a loopback server's URL.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerClient = (
  options: { readonly domain?: string | undefined; readonly clientId?: string | undefined } = {}
): Layer.Layer<AuthenticationClient.AuthenticationClient, never, HttpClient.HttpClient | Emulator.Emulator> =>
  Layer.unwrapEffect(
    Effect.map(Emulator.Emulator, (emulator) =>
      AuthenticationClient.layer({
        domain: options.domain ?? memoryDomain,
        clientId: options.clientId ?? emulator.clientId
      }))
  ).pipe(Layer.orDie)

/**
 * The whole stack in memory: an emulator, its `HttpClient`, the
 * `AuthenticationClient`, a strategy, a memory `TokenStore` and a `Renewer`.
 * Everything runs under the test's `Clock`.
 *
 * @example
 * ```ts
 * import * as Renewer from "@effect-renewal/core/Renewer"
 * import * as Emulator from "@effect-renewal/testing/Emulator"
 * import * as Fixtures from "@effect-renewal/testing/Fixtures"
 * import * as Effect from "effect/Effect"
 * import * as TestContext from "effect/TestContext"
 * import { strictEqual } from "node:assert"
 *
 * // A tenant without rotation; the Renewer of the session "alice", wanting a minute left.
 * const Stack = Fixtures.layerMemory({
 *   emulator: { rotation: false },
 *   renewer: { key: "alice" },
 *   policy: { minTtl: "1 minute" }
 * })
 *
 * // An answer the library cannot act on fails the get, and keeps the stored credentials.
 * const program = Effect.gen(function*() {
 *   const renewer = yield* Renewer.Renewer
 *   yield* renewer.save(yield* Fixtures.login())
 *   const emulator = yield* Emulator.Emulator
 *   yield* emulator.faultOn("token", Emulator.Fault.status(400, { error: "invalid_request" }))
 *   const error = yield* Effect.flip(renewer.get({ forceRefresh: true }))
 *   strictEqual(error._tag, "RenewalFailed")
 *   strictEqual(yield* renewer.hasValid(), true)
 * }).pipe(Effect.provide(Stack))
 *
 * Effect.runPromise(program.pipe(Effect.provide(TestContext.TestContext)))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerMemory = (options: {
  readonly emulator?: Emulator.Emulator.Options | undefined
  readonly renewer?: Renewer.Options | undefined
  readonly policy?: RenewalPolicy.Options | undefined
  /** The strategy: `refreshToken` unless given; `"delegation"` is `RenewalStrategy.delegation()`. */
  readonly strategy?:
    | "refreshToken"
    | "delegation"
    | Layer.Layer<RenewalStrategy.RenewalStrategy, InvalidConfiguration, AuthenticationClient.AuthenticationClient>
    | undefined
  /** The token store: a memory store unless given (e.g. one that fails on demand). */
  readonly store?: Layer.Layer<TokenStore.TokenStore> | undefined
} = {}): Layer.Layer<
  | Renewer.Renewer
  | TokenStore.TokenStore
  | RenewalStrategy.RenewalStrategy
  | AuthenticationClient.AuthenticationClient
  | Emulator.Emulator
  | HttpClient.HttpClient
> =>
  Renewer.layer(options.renewer).pipe(
    Layer.provideMerge(
      // a strategy the test configured wrongly is the test's defect
      Layer.orDie(
        options.strategy === "delegation"
          ? RenewalStrategy.delegation()
          : options.strategy === undefined || options.strategy === "refreshToken"
          ? RenewalStrategy.refreshToken
          : options.strategy
      )
    ),
    Layer.provideMerge(options.store ?? TokenStore.layerMemory),
    Layer.provideMerge(layerClient()),
    Layer.provideMerge(Emulator.layerMemory(options.emulator)),
    // a policy the test configured wrongly is the test's defect
    Layer.provide(Layer.orDie(RenewalPolicy.layer(options.policy ?? {})))
  )

/**
 * A `Renewer` that always hands out the given credentials: for testing code
 * that needs credentials without renewal in the picture.
 *
 * @example
 * ```ts
 * import * as Renewer from "@effect-renewal/core/Renewer"
 * import * as Fixtures from "@effect-renewal/testing/Fixtures"
 * import * as Effect from "effect/Effect"
 * import * as Redacted from "effect/Redacted"
 * import { strictEqual } from "node:assert"
 *
 * // Code under test: needs a Renewer, not a server.
 * const authorizationHeader = Effect.gen(function*() {
 *   const renewer = yield* Renewer.Renewer
 *   const credentials = yield* renewer.get()
 *   return `${credentials.tokenType} ${Redacted.value(credentials.accessToken)}`
 * })
 *
 * const usesTheCurrentAccessToken = Effect.gen(function*() {
 *   const credentials = yield* Fixtures.credentials({ accessToken: "abc" })
 *   const header = yield* authorizationHeader.pipe(Effect.provide(Fixtures.renewerSucceeding(credentials)))
 *   strictEqual(header, "Bearer abc")
 * })
 *
 * Effect.runPromise(usesTheCurrentAccessToken)
 * ```
 *
 * @since 0.1.0
 * @category mocks
 */
export const renewerSucceeding = (value: Credentials.Credentials): Layer.Layer<Renewer.Renewer> =>
  Layer.succeed(
    Renewer.Renewer,
    Renewer.Renewer.of({
      key: "default",
      get: () => Effect.succeed(value),
      save: () => Effect.void,
      hasValid: () => Effect.succeed(true),
      clear: () => Effect.void,
      changes: Stream.make(Option.some(value))
    })
  )

/**
 * A `RenewalStrategy` from a function: for testing the `Renewer`'s rules
 * against any behaviour of the server side.
 *
 * @example
 * ```ts
 * import * as AuthError from "@effect-renewal/core/AuthError"
 * import * as Credentials from "@effect-renewal/core/Credentials"
 * import * as Renewer from "@effect-renewal/core/Renewer"
 * import * as TokenStore from "@effect-renewal/core/TokenStore"
 * import * as Fixtures from "@effect-renewal/testing/Fixtures"
 * import * as Effect from "effect/Effect"
 * import * as Fiber from "effect/Fiber"
 * import * as Layer from "effect/Layer"
 * import * as Redacted from "effect/Redacted"
 * import * as TestClock from "effect/TestClock"
 * import * as TestContext from "effect/TestContext"
 * import { strictEqual } from "node:assert"
 *
 * // A server that answers 503 three times, then renews.
 * const flaky = (attempts: { count: number }) =>
 *   Fixtures.strategyFrom((current) =>
 *     Effect.suspend(() => {
 *       attempts.count++
 *       return attempts.count <= 3
 *         ? Effect.fail(new AuthError.AuthApiError({ status: 503, code: "temporarily_unavailable", description: "busy" }))
 *         : Fixtures.credentials({ accessToken: `renewed-${attempts.count}` }).pipe(
 *           Effect.map((renewed) => Credentials.merge(current, renewed))
 *         )
 *     })
 *   )
 *
 * const attempts = { count: 0 }
 * const retriesThenSaves = Effect.gen(function*() {
 *   const renewer = yield* Renewer.Renewer
 *   yield* renewer.save(yield* Fixtures.credentials({ refreshToken: "rt", ttl: "10 seconds" }))
 *   const fiber = yield* Effect.fork(renewer.get()) // 10s left < 30s minTtl: renews
 *   yield* TestClock.adjust("30 seconds") // the backoff sleeps
 *   const credentials = yield* Fiber.join(fiber)
 *   strictEqual(Redacted.value(credentials.accessToken), "renewed-4")
 *   strictEqual(attempts.count, 4)
 * }).pipe(Effect.provide(Renewer.layer().pipe(Layer.provide([TokenStore.layerMemory, flaky(attempts)]))))
 *
 * Effect.runPromise(retriesThenSaves.pipe(Effect.provide(TestContext.TestContext)))
 * ```
 *
 * @since 0.1.0
 * @category mocks
 */
export const strategyFrom = (
  renew: RenewalStrategy.RenewalStrategy.Service["renew"],
  revoke: RenewalStrategy.RenewalStrategy.Service["revoke"] = () => Effect.void
): Layer.Layer<RenewalStrategy.RenewalStrategy> =>
  Layer.succeed(RenewalStrategy.RenewalStrategy, RenewalStrategy.RenewalStrategy.of({ renew, revoke }))
