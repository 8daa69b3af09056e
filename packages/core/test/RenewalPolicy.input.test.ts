// Settings a user can get wrong are typed errors, never a thrown exception:
// a RenewalPolicy with a duration that is not one fails with
// InvalidConfiguration (and so does a layer built on it), and `hasValid`
// with an unusable `minTtl` fails like `get` does, with RenewalFailed
// InvalidRequest, instead of answering `false`.
import { AuthError, RenewalPolicy, Renewer } from "@effect-renewal/core"
import { Fixtures } from "@effect-renewal/testing"
import { describe, expect, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"

const fields = ["attemptTimeout", "deadline", "abandonAfter", "minTtl", "maxRetryAfter"] as const

const unusable: ReadonlyArray<readonly [string, unknown]> = [
  ["a malformed string", "soon"],
  ["a string with a unit Duration does not know", "5 fortnights"],
  ["a negative number", -5],
  ["a negative string", "-5 seconds"],
  ["NaN", Number.NaN],
  ["an infinite duration", Duration.infinity],
  ["an object", { seconds: 5 }]
]

const failureOf = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.map(Effect.exit(effect), (exit) => {
    // a typed failure: no defect, no exception
    expect(Exit.isFailure(exit) && exit.cause._tag).toBe("Fail")
    return Exit.isFailure(exit) && exit.cause._tag === "Fail" ? exit.cause.error : undefined
  })

describe("RenewalPolicy: unusable settings", () => {
  for (const field of fields) {
    for (const [name, input] of unusable) {
      it.effect(`${field}: ${name} is InvalidConfiguration naming it, from make and from layer`, () =>
        Effect.gen(function*() {
          const options = { [field]: input } as unknown as RenewalPolicy.Options
          const made = yield* failureOf(Effect.suspend(() => RenewalPolicy.make(options)))
          expect(made).toBeInstanceOf(AuthError.InvalidConfiguration)
          expect((made as AuthError.InvalidConfiguration).description).toContain(`RenewalPolicy's ${field}`)
          const built = yield* failureOf(
            Effect.scoped(
              Layer.build(
                Renewer.layer().pipe(Layer.provide(RenewalPolicy.layer(options)), Layer.provide(Fixtures.layerMemory()))
              )
            )
          )
          expect(built).toBeInstanceOf(AuthError.InvalidConfiguration)
        }))
    }
  }

  it.effect("a deadline or an attempt timeout of zero is InvalidConfiguration", () =>
    Effect.gen(function*() {
      for (const field of ["attemptTimeout", "deadline"] as const) {
        const error = yield* Effect.flip(RenewalPolicy.make({ [field]: 0 }))
        expect(error.description).toBe(`the RenewalPolicy's ${field} must be more than zero`)
      }
    }))

  it.effect("usable settings replace the defaults, the others stay", () =>
    Effect.gen(function*() {
      const policy = yield* RenewalPolicy.make({ minTtl: "2 minutes", maxRetryAfter: 0, abandonAfter: [300, 0] })
      expect(Duration.toMillis(policy.minTtl)).toBe(120_000)
      expect(Duration.toMillis(policy.maxRetryAfter)).toBe(0)
      expect(Duration.toMillis(policy.abandonAfter)).toBe(300_000)
      expect(policy.deadline).toEqual(RenewalPolicy.defaultPolicy.deadline)
      expect(policy.retry).toBe(RenewalPolicy.defaultPolicy.retry)
    }))
})

describe("Renewer.hasValid: an unusable minTtl", () => {
  for (const [name, input] of unusable) {
    it.effect(`${name}: RenewalFailed InvalidRequest, as get gives`, () =>
      Effect.gen(function*() {
        const renewer = yield* Renewer.Renewer
        yield* renewer.save(yield* Fixtures.login())
        const error = yield* failureOf(renewer.hasValid(input as Duration.DurationInput))
        expect(error).toBeInstanceOf(AuthError.RenewalFailed)
        expect((error as AuthError.RenewalFailed).reason).toBe("InvalidRequest")
        const fromGet = yield* Effect.flip(renewer.get({ minTtl: input as Duration.DurationInput }))
        expect(fromGet).toEqual(error)
      }).pipe(Effect.provide(Fixtures.layerMemory())))
  }
})
