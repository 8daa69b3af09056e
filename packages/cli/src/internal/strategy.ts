import { NetworkError } from "@effect-renewal/core/AuthError"
import { RenewalStrategy } from "@effect-renewal/core/RenewalStrategy"
import * as HttpClient from "@effect/platform/HttpClient"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import type { Profile } from "../Profiles.js"

/**
 * The `refresh_token` strategy of a profile, built on its first use: the
 * provider's discovery document is read then, not when the command starts,
 * so that a valid token is handed out with no request at all. A discovery
 * that fails is not kept (the next attempt reads it again) and counts as a
 * network failure: the provider answered at login, so it is most likely
 * unreachable now, and the `Renewer`'s policy retries it.
 */
export const layer = (profile: Profile): Layer.Layer<RenewalStrategy, never, HttpClient.HttpClient> =>
  Layer.effect(
    RenewalStrategy,
    Effect.gen(function*() {
      const http = yield* HttpClient.HttpClient
      const built = yield* Ref.make(Option.none<RenewalStrategy.Service>())
      const build = Effect.promise(() => import("./remote.js")).pipe(
        Effect.flatMap((remote) => remote.strategy(profile)),
        Effect.provideService(HttpClient.HttpClient, http),
        Effect.mapError((error) =>
          new NetworkError({
            reason: "Transport",
            description: `the provider's metadata could not be read: ${error.description}`
          })
        ),
        Effect.tap((strategy) => Ref.set(built, Option.some(strategy)))
      )
      const strategy = Effect.flatMap(
        Ref.get(built),
        Option.match({ onNone: () => build, onSome: Effect.succeed })
      )
      return RenewalStrategy.of({
        name: "refresh_token",
        renew: (current, options) => Effect.flatMap(strategy, (s) => s.renew(current, options)),
        revoke: (current) => Effect.flatMap(strategy, (s) => s.revoke(current))
      })
    })
  )
