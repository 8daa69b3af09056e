// One classification: `AuthError.isRetryable` says which Renewer errors a
// later attempt may fix, and stale-if-error and refresh ahead both decide by
// it: for each failure a server can make, a `get` gets stale credentials
// exactly when the predicate holds for that failure, and refresh ahead tries
// again exactly then.
import { AuthError, RenewalPolicy, Renewer } from "@effect-renewal/core"
import { Emulator, Fixtures } from "@effect-renewal/testing"
import { describe, expect, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as TestClock from "effect/TestClock"

const Fault = Emulator.Fault

const tokenRequests = Effect.flatMap(Emulator.Emulator, (e) => e.counters).pipe(Effect.map((c) => c.requests.token))

// one retry a second later; 10 seconds for the callers
const defaultPolicy: RenewalPolicy.Options = {
  retry: RenewalPolicy.exponentialBackoff({ base: "1 second", max: "1 second", retries: 1 }),
  deadline: "10 seconds"
}

const settle = Effect.repeatN(Effect.yieldNow(), 20)

/** Logs in (a 1-hour token), then makes every token request fail with `fault`. */
const loggedInFailing = (fault: () => Emulator.Fault) =>
  Effect.gen(function*() {
    const credentials = yield* Fixtures.login()
    yield* Effect.flatMap(Renewer.Renewer, (renewer) => renewer.save(credentials))
    yield* Effect.flatMap(
      Emulator.Emulator,
      (emulator) => emulator.faultOn("token", ...Array.from({ length: 20 }, fault))
    )
  })

// no answer: callers are released with Deadline after 1 second (a renewer
// closing waits, in real time too, up to attemptTimeout for a request out)
const short: RenewalPolicy.Options = { ...defaultPolicy, deadline: "1 second", attemptTimeout: "1 second" }

const failures: ReadonlyArray<readonly [string, () => Emulator.Fault, RenewalPolicy.Options?]> = [
  ["503", () => Fault.status(503)],
  ["a reset", () => Fault.reset()],
  ["no answer (Deadline)", () => Fault.hang(), short],
  ["400 invalid_request", () => Fault.status(400)],
  ["401 invalid_client", () => Fault.status(401, { error: "invalid_client" })],
  ["403 mfa_required", () => Fault.status(403, { error: "mfa_required" })],
  ["403 invalid_grant", () => Fault.status(403, { error: "invalid_grant" })],
  ["an unreadable 200", () => Fault.html(200)]
]

// 20 s left of a 1-hour token: under the default 30 s minTtl, not expired
const STALE = Duration.seconds(3580)

/** What a `get` fails with, 20 s before expiry, when stale-if-error is off. */
const failureOf = (fault: () => Emulator.Fault, policy: RenewalPolicy.Options) =>
  Effect.gen(function*() {
    yield* loggedInFailing(fault)
    yield* TestClock.adjust(STALE)
    const renewer = yield* Renewer.Renewer
    const fiber = yield* Effect.fork(Effect.flip(renewer.get()))
    yield* TestClock.adjust("15 seconds")
    return yield* Fiber.join(fiber)
  }).pipe(Effect.provide(Fixtures.layerMemory({ policy })))

describe("AuthError.isRetryable: the one classification of stale-if-error and refresh ahead", () => {
  for (const [name, fault, policy = defaultPolicy] of failures) {
    it.effect(`${name}: stale-if-error hides it exactly when isRetryable holds`, () =>
      Effect.gen(function*() {
        const error = yield* failureOf(fault, policy)
        const stale = yield* Effect.gen(function*() {
          yield* loggedInFailing(fault)
          yield* TestClock.adjust(STALE)
          const renewer = yield* Renewer.Renewer
          const fiber = yield* Effect.fork(Effect.either(renewer.get()))
          yield* TestClock.adjust("15 seconds")
          return yield* Fiber.join(fiber)
        }).pipe(Effect.provide(Fixtures.layerMemory({ policy, renewer: { staleIfError: "1 hour" } })))
        expect(Either.isRight(stale)).toBe(AuthError.isRetryable(error))
        if (Either.isLeft(stale)) expect(stale.left._tag).toBe(error._tag)
      }))

    it.effect(`${name}: refresh ahead tries again exactly when isRetryable holds`, () =>
      Effect.gen(function*() {
        const error = yield* failureOf(fault, policy)
        const counts = yield* Effect.gen(function*() {
          yield* loggedInFailing(fault)
          // the background renewal starts 5 minutes before expiry
          yield* TestClock.adjust("55 minutes")
          yield* settle
          yield* TestClock.adjust("15 seconds") // the policy's retry and deadline
          yield* settle
          const first = yield* tokenRequests
          // a request left without an answer is abandoned after 2 minutes
          for (let i = 0; i < 8; i++) {
            yield* TestClock.adjust("30 seconds")
            yield* settle
          }
          return [first, yield* tokenRequests] as const
        }).pipe(
          Effect.provide(
            Fixtures.layerMemory({
              policy,
              renewer: { refreshAhead: { lead: "5 minutes", retryInterval: "30 seconds" } }
            })
          )
        )
        expect(counts[0]).toBeGreaterThan(0)
        expect(counts[1] > counts[0]).toBe(AuthError.isRetryable(error))
      }))
  }

  it("holds for client errors isTransient says are transient, and for RenewalFailed Transient or Deadline only", () => {
    const retryable = [
      new AuthError.NetworkError({ reason: "Timeout", description: "t" }),
      new AuthError.AuthApiError({ status: 503, code: "temporarily_unavailable", description: "d" }),
      new AuthError.RenewalFailed({ reason: "Transient", description: "d" }),
      new AuthError.RenewalFailed({ reason: "Deadline", description: "d" })
    ]
    const definitive = [
      new AuthError.AuthApiError({ status: 400, code: "invalid_grant", description: "d" }),
      ...(["Configuration", "Unexpected", "TtlUnreachable", "AudienceMismatch", "InvalidRequest", "Shutdown"] as const)
        .map((reason) => new AuthError.RenewalFailed({ reason, description: "d" })),
      new AuthError.LoginRequired({ reason: "NoCredentials", description: "d" }),
      new AuthError.StoreError({ operation: "lock", key: "k", description: "d" }),
      new Error("not ours"),
      undefined
    ]
    for (const error of retryable) expect(AuthError.isRetryable(error)).toBe(true)
    for (const error of definitive) expect(AuthError.isRetryable(error)).toBe(false)
  })
})
