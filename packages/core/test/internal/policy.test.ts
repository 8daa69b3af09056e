import { AuthError, RenewalPolicy } from "@effect-renewal/core"
import { describe, expect, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Scope from "effect/Scope"
import * as TestClock from "effect/TestClock"
import * as Policy from "../../src/internal/policy.js"
import * as Timers from "../../src/internal/timers.js"

const tick = Effect.repeatN(Effect.yieldNow(), 10)

const status = (status: number, options: { code?: string; retryAfter?: Duration.DurationInput } = {}) =>
  new AuthError.AuthApiError({
    status,
    code: options.code ?? "server_error",
    description: "test",
    ...(options.retryAfter === undefined ? {} : { retryAfter: Duration.decode(options.retryAfter) })
  })

// A runner for `policy`, an attempt that answers from a script (an error, or a
// number after some time), and the log of attempt times and releases.
const setup = (
  options: RenewalPolicy.Options,
  script: ReadonlyArray<
    AuthError.AuthenticationError | { readonly value: number; readonly after?: Duration.DurationInput }
  >
) =>
  Effect.gen(function*() {
    const clock = yield* Effect.clock
    const scope = yield* Scope.make()
    const timers = Timers.make(clock, Effect.succeed(scope))
    const runner = Policy.make(yield* RenewalPolicy.make(options), clock, timers)
    const attempts: Array<number> = []
    const released: Array<AuthError.RenewalFailed> = []
    let interrupted = 0
    const attempt = Effect.suspend(() => {
      const step = script[attempts.length] ?? { value: -1 }
      attempts.push(clock.unsafeCurrentTimeMillis())
      if ("_tag" in step) return Effect.fail(step)
      return Effect.as(Effect.sleep(step.after ?? "0 millis"), step.value).pipe(
        Effect.onInterrupt(() => Effect.sync(() => interrupted++))
      )
    })
    const watch = yield* runner.watch((error) => released.push(error))
    const fiber = yield* Effect.fork(Effect.uninterruptible(runner.run(attempt, watch)))
    return { fiber, attempts, released, timers, watch, interrupted: () => interrupted }
  })

const backoff = RenewalPolicy.exponentialBackoff({ base: "1 second", max: "1 second", retries: 3 })

describe("internal/policy", () => {
  it.effect("an answer in time costs no timer and no retry", () =>
    Effect.gen(function*() {
      const { attempts, fiber, released, timers, watch } = yield* setup({}, [{ value: 1 }])
      expect(yield* Fiber.join(fiber)).toBe(1)
      expect(attempts.length).toBe(1)
      expect(released).toEqual([])
      expect(timers.pending()).toBe(1) // the callers' deadline, until the renewal is over
      watch.stop()
      expect(timers.pending()).toBe(0)
    }))

  it.effect("transient failures are retried on the schedule, never sooner than Retry-After", () =>
    Effect.gen(function*() {
      const { attempts, fiber } = yield* setup({ retry: backoff }, [
        status(503, { retryAfter: "5 seconds" }),
        new AuthError.NetworkError({ reason: "Transport", description: "reset" }),
        { value: 2 }
      ])
      yield* TestClock.adjust("10 seconds")
      expect(yield* Fiber.join(fiber)).toBe(2)
      expect(attempts[1]! - attempts[0]!).toBeGreaterThanOrEqual(5000)
      expect(attempts[2]! - attempts[1]!).toBeLessThan(5000)
    }))

  it.effect("definitive answers are never retried", () =>
    Effect.gen(function*() {
      const { attempts, fiber } = yield* setup({ retry: backoff }, [status(400, { code: "invalid_grant" })])
      const error = yield* Effect.flip(Fiber.join(fiber))
      expect(error._tag === "AuthApiError" && error.code).toBe("invalid_grant")
      expect(attempts.length).toBe(1)
    }))

  it.effect("the schedule's retries are all there is: the last failure is reported", () =>
    Effect.gen(function*() {
      const { attempts, fiber } = yield* setup({ retry: backoff }, Array.from({ length: 10 }, () => status(502)))
      yield* TestClock.adjust("1 minute")
      const error = yield* Effect.flip(Fiber.join(fiber))
      expect(error._tag === "AuthApiError" && error.status).toBe(502)
      expect(attempts.length).toBe(4)
    }))

  it.effect("a Retry-After beyond maxRetryAfter, or beyond the deadline, fails at once", () =>
    Effect.gen(function*() {
      const cases: ReadonlyArray<RenewalPolicy.Options> = [
        { maxRetryAfter: "10 seconds" },
        { deadline: "30 seconds", maxRetryAfter: "5 minutes" }
      ]
      for (const options of cases) {
        const { attempts, fiber } = yield* setup({ retry: backoff, ...options }, [
          status(429, { retryAfter: "45 seconds" })
        ])
        const error = yield* Effect.flip(Fiber.join(fiber))
        expect(AuthError.isRateLimited(error)).toBe(true)
        expect(attempts.length).toBe(1)
      }
    }))

  it.effect("a slow attempt lets the callers go at attemptTimeout, and its late answer is still returned", () =>
    Effect.gen(function*() {
      const { attempts, fiber, released } = yield* setup({ attemptTimeout: "4 seconds", deadline: "30 seconds" }, [
        { value: 9, after: "10 seconds" }
      ])
      yield* TestClock.adjust("4 seconds")
      expect(released.map((e) => e.reason)).toEqual(["Transient"])
      expect(AuthError.isNetworkError(released[0])).toBe(true)
      yield* TestClock.adjust("6 seconds")
      expect(yield* Fiber.join(fiber)).toBe(9)
      expect(attempts.length).toBe(1)
    }))

  it.effect("at the deadline the callers get Deadline; the request goes on, and a late answer is returned", () =>
    Effect.gen(function*() {
      const { attempts, fiber, interrupted, released } = yield* setup(
        { attemptTimeout: "4 seconds", deadline: "10 seconds", abandonAfter: "1 minute" },
        [{ value: 9, after: "40 seconds" }]
      )
      yield* TestClock.adjust("10 seconds")
      expect(released.map((e) => e.reason)).toEqual(["Transient", "Deadline"])
      yield* TestClock.adjust("30 seconds")
      expect(yield* Fiber.join(fiber)).toBe(9)
      expect(interrupted()).toBe(0)
      expect(attempts.length).toBe(1)
    }))

  it.effect("a request still out at abandonAfter is abandoned, and the run fails with Deadline", () =>
    Effect.gen(function*() {
      const { fiber, interrupted, released } = yield* setup(
        { attemptTimeout: "4 seconds", deadline: "10 seconds", abandonAfter: "1 minute" },
        [{ value: 9, after: "1 hour" }]
      )
      yield* TestClock.adjust("1 minute")
      yield* tick
      expect(released.map((e) => e.reason)).toEqual(["Transient", "Deadline"])
      expect(interrupted()).toBe(1)
      const error = yield* Effect.flip(Fiber.join(fiber))
      expect(error._tag === "RenewalFailed" && error.reason).toBe("Deadline")
    }))

  it.effect("waits between attempts never go past the deadline", () =>
    Effect.gen(function*() {
      const slow = RenewalPolicy.exponentialBackoff({ base: "20 seconds", max: "20 seconds", retries: 5 })
      const { attempts, fiber } = yield* setup({ retry: slow, deadline: "30 seconds" }, [
        status(503),
        status(503),
        status(503)
      ])
      yield* TestClock.adjust("1 minute")
      const error = yield* Effect.flip(Fiber.join(fiber))
      expect(error._tag === "RenewalFailed" && error.reason).toBe("Deadline")
      expect(AuthError.isTransient(error._tag === "RenewalFailed" ? error.cause : undefined)).toBe(true)
      expect(attempts.at(-1)! - attempts[0]!).toBeLessThanOrEqual(30_000)
    }))
})
