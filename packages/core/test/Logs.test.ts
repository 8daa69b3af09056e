/**
 * What the library logs, at the lowest level (`All`), over a full run against
 * the emulator: the events a user needs (renewals, retries, lock waits, a
 * dropped refresh token, a stale answer, a late answer, an unsaved renewal)
 * at their levels, each naming the session by its hash; and in no line (its
 * message, annotations, spans and cause, rendered as logfmt and JSON) a token,
 * the client secret, the signing secret, the encryption key or a session key,
 * in any of the forms they may travel in.
 */
import {
  AuthenticationClient,
  AuthError,
  Credentials,
  Dpop,
  RenewalPolicy,
  RenewalStrategy,
  Renewer,
  Sessions,
  TokenCodec,
  TokenStore
} from "@effect-renewal/core"
import { sessionHash } from "@effect-renewal/core/internal/tracing"
import { Emulator, Fixtures } from "@effect-renewal/testing"
import { NodeFileSystem, NodePath } from "@effect/platform-node"
import * as FileSystem from "@effect/platform/FileSystem"
import * as HttpClient from "@effect/platform/HttpClient"
import { describe, expect, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as HashMap from "effect/HashMap"
import * as Layer from "effect/Layer"
import * as List from "effect/List"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Redacted from "effect/Redacted"
import * as TestClock from "effect/TestClock"
import { inspect } from "node:util"
import { forms } from "./support/secrets.js"

const CLIENT_SECRET = "cs-Logs+Vq8/Wd3=Hn6&Zp"
const SIGNING_SECRET = "signing-Logs-Tb4Rk9Mx2Lc7"
const ISSUED_REFRESH_TOKEN = "rt-issued-Logs-Jy5Fd1Qs8"
const STORE_KEY = Uint8Array.from({ length: 32 }, (_, i) => (i * 37 + 11) % 256)
const MAIN = "user-Logs-main@example.com"
const AHEAD = "user-Logs-ahead@example.com"
const ALICE = "user-Logs-alice@example.com"
const BOB = "user-Logs-bob@example.com"
const FILED = "user-Logs-filed@example.com"
const OTHER_AUDIENCE = "https://other.effect-renewal.test"

// -----------------------------------------------------------------------------
// What was logged, and every secret the run handled
// -----------------------------------------------------------------------------

interface Line {
  readonly level: string
  readonly message: string
  readonly annotations: Record<string, unknown>
}

const lines: Array<Line> = []
const renderings: Array<string> = []
const collector = Logger.make((options) => {
  const message = Array.isArray(options.message) ? options.message.map(String).join(" ") : String(options.message)
  const annotations = Object.fromEntries(HashMap.toEntries(options.annotations))
  lines.push({ level: options.logLevel.label, message, annotations })
  renderings.push(
    Logger.logfmtLogger.log(options),
    Logger.jsonLogger.log(options),
    inspect([options.message, annotations, List.toArray(options.spans)], { depth: 10 }),
    Cause.pretty(options.cause)
  )
})

/** Every value the run must never log: tokens (as stored), keys (as used by the store). */
const secrets = new Set<string>([
  CLIENT_SECRET,
  SIGNING_SECRET,
  ISSUED_REFRESH_TOKEN,
  Buffer.from(STORE_KEY).toString("base64"),
  Buffer.from(STORE_KEY).toString("hex"),
  MAIN,
  AHEAD,
  ALICE,
  BOB,
  FILED
])
const remember = (credentials: Credentials.Credentials) => {
  for (const token of [credentials.accessToken, credentials.refreshToken, credentials.idToken]) {
    if (token !== undefined) secrets.add(Redacted.value(token))
  }
}

/**
 * A store that remembers every key and every credentials written (or tried),
 * and fails its writes while `failing.set` is on.
 */
const failing = { set: false }
const recording = <E, R>(store: Layer.Layer<TokenStore.TokenStore, E, R>) =>
  Layer.effect(
    TokenStore.TokenStore,
    Effect.map(TokenStore.TokenStore, (inner): TokenStore.TokenStore.Service => ({
      ...inner,
      get: (key) => {
        secrets.add(key)
        return Effect.tap(inner.get(key), (found) => found._tag === "Some" ? remember(found.value) : undefined)
      },
      set: (key, credentials) =>
        Effect.suspend(() => {
          secrets.add(key)
          remember(credentials)
          return failing.set
            ? Effect.fail(new AuthError.StoreError({ operation: "set", key, description: "disk full (simulated)" }))
            : inner.set(key, credentials)
        })
    }))
  ).pipe(Layer.provide(store))

// -----------------------------------------------------------------------------
// The stack
// -----------------------------------------------------------------------------

const policy: RenewalPolicy.Options = {
  retry: RenewalPolicy.exponentialBackoff({ base: "1 second", max: "1 second", retries: 2 }),
  attemptTimeout: "5 seconds",
  deadline: "30 seconds",
  abandonAfter: "2 minutes"
}

const emulator = Emulator.layerMemory({ clientSecret: CLIENT_SECRET, signingSecret: SIGNING_SECRET })
const client = Layer.unwrapEffect(
  Effect.map(Emulator.Emulator, (e) =>
    AuthenticationClient.layer({
      domain: Fixtures.memoryDomain,
      clientId: e.clientId,
      clientSecret: Redacted.make(CLIENT_SECRET)
    }))
).pipe(Layer.orDie)

const base = <E>(store: Layer.Layer<TokenStore.TokenStore, E>) =>
  Layer.mergeAll(Layer.orDie(RenewalStrategy.refreshToken), recording(store)).pipe(
    Layer.provideMerge(client),
    Layer.provideMerge(emulator),
    Layer.provideMerge(RenewalPolicy.layer(policy))
  )

const renewerStack = <E>(options: Renewer.Options, store: Layer.Layer<TokenStore.TokenStore, E>) =>
  Renewer.layer(options).pipe(Layer.provideMerge(base(store)))

const sessionsStack = Sessions.layer({ idleTimeToLive: "1 minute" }).pipe(
  Layer.provideMerge(base(TokenStore.layerMemory))
)

const login = (username = "demo-user") => Effect.tap(Fixtures.login({ username }), remember)

// lets background fibers run what is due at the current TestClock time
const settle = Effect.repeatN(Effect.yieldNow(), 50)

/** `effect` forked, the clock moved by `by`, then joined. */
const during = <A, E, R>(effect: Effect.Effect<A, E, R>, by: Duration.DurationInput) =>
  Effect.gen(function*() {
    const fiber = yield* Effect.fork(effect)
    yield* settle
    yield* TestClock.adjust(by)
    return yield* Fiber.join(fiber)
  })

const faults = (...list: ReadonlyArray<Emulator.Fault>) =>
  Effect.flatMap(Emulator.Emulator, (e) => e.faultOn("token", ...list))

// -----------------------------------------------------------------------------
// The run
// -----------------------------------------------------------------------------

const renewerRun = Effect.gen(function*() {
  const renewer = yield* Renewer.Renewer
  // a login saved, renewed at expiry (with rotation), API credentials for another audience
  yield* renewer.save(yield* login())
  yield* TestClock.adjust("2 hours")
  remember(yield* renewer.get())
  remember(yield* renewer.get({ audience: OTHER_AUDIENCE }))

  // transient faults retried, then retries exhausted
  yield* faults(Emulator.Fault.status(503), Emulator.Fault.status(503))
  remember(yield* during(renewer.get({ forceRefresh: true }), "10 seconds"))
  yield* faults(...Array.from({ length: 3 }, () => Emulator.Fault.status(503)))
  const exhausted = yield* during(Effect.flip(renewer.get({ forceRefresh: true })), "10 seconds")
  expect(exhausted._tag).toBe("RenewalFailed")

  // stale-if-error: the same failure, with credentials that went stale but live
  yield* TestClock.adjust("45 minutes")
  yield* faults(...Array.from({ length: 3 }, () => Emulator.Fault.status(503)))
  remember(yield* during(renewer.get({ minTtl: "30 minutes", staleIfError: "30 minutes" }), "10 seconds"))

  // an answer later than the attempt timeout: the caller is let go, the answer saved
  yield* faults(Emulator.Fault.latency("10 seconds"))
  const late = yield* during(Effect.flip(renewer.get({ forceRefresh: true })), "5 seconds")
  expect(late._tag).toBe("RenewalFailed")
  yield* TestClock.adjust("10 seconds")
  yield* settle
  remember(yield* renewer.get())

  // an unusable 2xx answer carrying a rotated refresh token: saved
  yield* faults(Emulator.Fault.body(200, JSON.stringify({ refresh_token: ISSUED_REFRESH_TOKEN })))
  yield* Effect.flip(renewer.get({ forceRefresh: true }))

  // renewed credentials the store cannot take: the error holds them
  yield* renewer.save(yield* login())
  failing.set = true
  const unsaved = yield* Effect.flip(renewer.get({ forceRefresh: true }))
  failing.set = false
  expect(unsaved._tag).toBe("StoreError")

  // a refresh token revoked at the server: dropped
  const revoked = yield* login()
  yield* renewer.save(revoked)
  yield* Effect.flatMap(Emulator.Emulator, (e) => e.revokeFamilyOf(Redacted.value(revoked.refreshToken!)))
  const rejected = yield* Effect.flip(renewer.get({ forceRefresh: true }))
  expect(rejected._tag).toBe("LoginRequired")

  // a clear with revoke
  yield* renewer.save(yield* login())
  yield* renewer.clear({ revoke: true })
})

const refreshAheadRun = Effect.gen(function*() {
  const renewer = yield* Renewer.Renewer
  yield* renewer.save(yield* login())
  // the first run fails (retries exhausted), the next one, 30 seconds later, renews
  yield* faults(...Array.from({ length: 3 }, () => Emulator.Fault.status(503)))
  yield* TestClock.adjust("55 minutes")
  for (let second = 0; second < 40; second++) {
    yield* settle
    yield* TestClock.adjust("1 second")
  }
  yield* settle
  expect((yield* Effect.flatMap(Emulator.Emulator, (e) => e.counters)).requests.token).toBe(4)
  remember(yield* renewer.get())
})

const sessionsRun = Effect.gen(function*() {
  const sessions = yield* Sessions.Sessions
  yield* sessions.save(ALICE, yield* login("alice"))
  yield* sessions.save(BOB, yield* login("bob"))
  yield* TestClock.adjust("2 hours")
  remember(yield* sessions.get(ALICE))
  remember(yield* sessions.get(BOB))
  yield* TestClock.adjust("2 minutes")
  yield* settle
})

const fileRun = Effect.gen(function*() {
  const renewer = yield* Renewer.Renewer
  yield* renewer.save(yield* login())
  yield* TestClock.adjust("2 hours")
  remember(yield* renewer.get())
})

const fileStore = Layer.unwrapScoped(
  Effect.map(
    Effect.flatMap(FileSystem.FileSystem, (fs) => fs.makeTempDirectoryScoped({ prefix: "logs-test-" })),
    (directory) => TokenStore.layerFileSystem({ directory })
  )
).pipe(
  Layer.provide(TokenCodec.layerEncrypted(Redacted.make(STORE_KEY))),
  Layer.provide(Layer.mergeAll(NodeFileSystem.layer, NodePath.layer)),
  Layer.orDie
)

const fullRun = Effect.gen(function*() {
  yield* renewerRun.pipe(Effect.provide(renewerStack({ key: MAIN, staleIfError: "0 millis" }, TokenStore.layerMemory)))
  yield* refreshAheadRun.pipe(
    Effect.provide(renewerStack({ key: AHEAD, refreshAhead: { lead: "5 minutes" } }, TokenStore.layerMemory))
  )
  yield* sessionsRun.pipe(Effect.provide(sessionsStack))
  yield* fileRun.pipe(Effect.provide(renewerStack({ key: FILED }, fileStore)))
}).pipe(
  Effect.provide(Logger.add(collector)),
  Logger.withMinimumLogLevel(LogLevel.All)
)

// -----------------------------------------------------------------------------
// The checks
// -----------------------------------------------------------------------------

const session = "effect-renewal.session"
const withMessage = (part: string) => lines.filter((line) => line.message.includes(part))
const levelsOf = (part: string) => new Set(withMessage(part).map((line) => line.level))

describe("Logs", () => {
  it.effect("a full run at level All: the expected events at their levels, and no secret in any line", () =>
    Effect.gen(function*() {
      yield* fullRun

      // no secret, in any form, in any rendering of any line
      expect(secrets.size).toBeGreaterThan(20)
      for (const text of renderings) {
        for (const secret of secrets) {
          for (const form of forms(secret)) {
            if (text.includes(form)) expect.fail(`"${form.slice(0, 6)}…" logged in: ${text.slice(0, 300)}`)
          }
        }
      }

      // every line of the library names its session by the hash only
      const hashes = new Set([MAIN, AHEAD, ALICE, BOB, FILED].map(sessionHash))
      const ours = lines.filter((line) => session in line.annotations)
      expect(ours.length).toBeGreaterThan(20)
      for (const line of ours) expect(hashes.has(String(line.annotations[session]))).toBe(true)
      for (const key of [MAIN, AHEAD, ALICE, BOB, FILED]) {
        expect(ours.some((line) => line.annotations[session] === sessionHash(key))).toBe(true)
      }

      // each renewal, with its outcome, attempts and duration
      const renewed = withMessage("renewal: credentials renewed and saved")
      expect(renewed.length).toBeGreaterThan(5)
      for (const line of renewed) {
        expect(line.level).toBe("DEBUG")
        expect(line.annotations["effect-renewal.outcome"]).toBe("success")
        expect(line.annotations["effect-renewal.attempts"]).toBeGreaterThanOrEqual(1)
        expect(typeof line.annotations["effect-renewal.duration_ms"]).toBe("number")
      }
      const failed = lines.filter((line) => line.annotations["effect-renewal.outcome"] !== undefined)
        .map((line) => `${line.annotations["effect-renewal.outcome"]}/${line.annotations["effect-renewal.reason"]}`)
      expect(failed).toEqual(expect.arrayContaining([
        "RenewalFailed/Transient",
        "LoginRequired/RefreshTokenRejected",
        "StoreError/undefined"
      ]))

      expect(levelsOf("store lock taken")).toEqual(new Set(["DEBUG"]))
      const retries = withMessage("retrying after a transient failure")
      expect(retries.length).toBeGreaterThanOrEqual(4)
      for (const line of retries) {
        expect(line.level).toBe("DEBUG")
        // the backoff's delay (1 second, jittered)
        expect(line.annotations["effect-renewal.delay_ms"]).toBeGreaterThan(0)
        expect(line.annotations["effect-renewal.delay_ms"]).toBeLessThanOrEqual(1000)
        expect(line.annotations["effect-renewal.classification"]).toBe("Transient")
        expect(line.annotations["effect-renewal.status"]).toBe(503)
      }
      expect(levelsOf("retries exhausted")).toEqual(new Set(["WARN"]))
      expect(levelsOf("stale-if-error")).toEqual(new Set(["WARN"]))
      expect(levelsOf("an answer came after its callers were released")).toEqual(new Set(["INFO"]))
      expect(levelsOf("held a rotated refresh token; it was saved")).toEqual(new Set(["INFO"]))
      expect(levelsOf("could not be saved; the StoreError holds them (unsaved)")).toEqual(new Set(["ERROR"]))
      expect(withMessage("could not be saved")[0].annotations["effect-renewal.description"]).toBe(
        "disk full (simulated)"
      )
      expect(levelsOf("refresh token rejected by the server")).toEqual(new Set(["WARN"]))
      const ahead = withMessage("refresh ahead: renewing before expiry")
      expect(ahead.map((line) => line.level)).toContain("DEBUG")
      expect(ahead[0].annotations[session]).toBe(sessionHash(AHEAD))
      expect(ahead[0].annotations["effect-renewal.lead_ms"]).toBe(5 * 60_000)
      const aheadFailed = withMessage("refresh ahead: the renewal failed, it will be tried again")
      expect(aheadFailed.map((line) => line.level)).toEqual(["WARN"])
      expect(aheadFailed[0].annotations).toMatchObject({
        [session]: sessionHash(AHEAD),
        "effect-renewal.error": "RenewalFailed",
        "effect-renewal.reason": "Transient"
      })
      const released = withMessage("sessions: idle renewer released")
      // after the saves, then after the gets
      expect(released.map((line) => line.annotations[session]).sort()).toEqual(
        [sessionHash(ALICE), sessionHash(ALICE), sessionHash(BOB), sessionHash(BOB)].sort()
      )
      expect(renewed.some((line) => line.annotations[session] === sessionHash(FILED))).toBe(true)
      expect(withMessage("an answer came after")[0].annotations["effect-renewal.after_release_ms"]).toBe(5000)
    }))

  it.effect("the hot path logs nothing, even at level All", () =>
    Effect.gen(function*() {
      const renewer = yield* Renewer.Renewer
      yield* renewer.save(yield* Fixtures.login())
      yield* renewer.get()
      const before = lines.length
      for (let i = 0; i < 100; i++) yield* renewer.get()
      expect(lines.length).toBe(before)
      yield* TestClock.adjust("2 hours")
      yield* renewer.get()
      expect(lines.length).toBeGreaterThan(before)
    }).pipe(
      Effect.provide(Fixtures.layerMemory()),
      Effect.provide(Logger.add(collector)),
      Logger.withMinimumLogLevel(LogLevel.All)
    ))

  it.effect("a DPoP run at level All: proofs, nonces and the key are never logged; a missing key is logged by reason", () =>
    Effect.gen(function*() {
      const tenant = yield* Emulator.Emulator
      const key = yield* Dpop.generateKey
      const renewer = yield* Renewer.Renewer
      const bound = yield* Fixtures.login({ jkt: key.jkt })
      const dpopSecrets = new Set<string>([Redacted.value(key.jwk).d])
      const keep = (credentials: Credentials.Credentials) => {
        for (const token of [credentials.accessToken, credentials.refreshToken, credentials.idToken]) {
          if (token !== undefined) dpopSecrets.add(Redacted.value(token))
        }
      }
      keep(bound)
      yield* renewer.save(new Credentials.Credentials({ ...bound, dpop: key }))
      const from = lines.length
      const fromRenderings = renderings.length
      for (let i = 0; i < 4; i++) {
        dpopSecrets.add(yield* tenant.rotateDpopNonce("token"))
        keep(yield* renewer.get({ forceRefresh: true }))
      }
      // the key lost: a typed error, logged by its reason
      const { dpop: _, ...withoutKey } = yield* renewer.get()
      yield* renewer.save(new Credentials.Credentials(withoutKey))
      const missing = yield* Effect.flip(renewer.get({ forceRefresh: true }))
      expect(missing._tag === "LoginRequired" && missing.reason).toBe("DpopKeyMissing")
      for (const proof of proofs) dpopSecrets.add(proof)
      expect(proofs.length).toBeGreaterThanOrEqual(8)

      const ours = renderings.slice(fromRenderings)
      expect(ours.length).toBeGreaterThan(4)
      for (const text of ours) {
        for (const secret of dpopSecrets) {
          for (const form of forms(secret)) {
            if (text.includes(form)) expect.fail(`"${form.slice(0, 6)}…" logged in: ${text.slice(0, 300)}`)
          }
        }
      }
      const outcomes = lines.slice(from).filter((line) => line.annotations["effect-renewal.outcome"] !== undefined)
        .map((line) => `${line.annotations["effect-renewal.outcome"]}/${line.annotations["effect-renewal.reason"]}`)
      expect(outcomes).toContain("LoginRequired/DpopKeyMissing")
    }).pipe(
      Effect.provide(
        Renewer.layer().pipe(
          Layer.provide(RenewalStrategy.refreshToken),
          Layer.provide(TokenStore.layerMemory),
          Layer.provide(dpopClient),
          Layer.provideMerge(dpopTenant),
          Layer.provide(Dpop.layerNonces())
        )
      ),
      Effect.provide(Logger.add(collector)),
      Logger.withMinimumLogLevel(LogLevel.All)
    ))
})

/** The proofs sent to the DPoP tenant, read off the wire. */
const proofs: Array<string> = []

/** A tenant that demands nonces, its HttpClient recording the proofs. */
const dpopTenant = Layer.unwrapEffect(Effect.gen(function*() {
  const http = yield* HttpClient.HttpClient
  const recorded = HttpClient.make((request) => {
    const proof = request.headers["dpop"]
    if (proof !== undefined) proofs.push(proof)
    return http.execute(request)
  })
  return Layer.succeed(HttpClient.HttpClient, recorded)
})).pipe(Layer.provideMerge(Emulator.layerMemory({ rotation: true, dpop: { nonce: true } })))

const dpopClient = Layer.unwrapEffect(
  Effect.map(
    Emulator.Emulator,
    (e) => AuthenticationClient.layer({ domain: Fixtures.memoryDomain, clientId: e.clientId })
  )
).pipe(Layer.orDie)
