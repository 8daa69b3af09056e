/**
 * docs/errors.md: what a caller does with each error of the Renewer.
 */
import { AuthError, Renewer } from "@effect-renewal/core"
import type { Credentials } from "@effect-renewal/core"
import * as Effect from "effect/Effect"

// --- handle ---
type Outcome =
  | { readonly _tag: "Ready"; readonly credentials: Credentials.Credentials }
  | { readonly _tag: "LogIn"; readonly mfa: boolean }
  | { readonly _tag: "TryLater" }

export const credentialsOrNextStep: Effect.Effect<Outcome, AuthError.StoreError, Renewer.Renewer> = Effect.gen(
  function*() {
    const renewer = yield* Renewer.Renewer
    const credentials = yield* renewer.get()
    return { _tag: "Ready", credentials } as const
  }
).pipe(
  Effect.catchTags({
    // The user must log in again; isMfaRequired tells whether the server asked for MFA.
    LoginRequired: (error) => Effect.succeed({ _tag: "LogIn", mfa: AuthError.isMfaRequired(error) } as const),
    // Transient (network, timeout, 5xx, 429 after the retries), Deadline, Unexpected or
    // TtlUnreachable: no new login is needed; try again later.
    RenewalFailed: (error) =>
      Effect.as(
        Effect.logWarning("renewal failed", error.reason, AuthError.isRateLimited(error) ? "rate limited" : ""),
        { _tag: "TryLater" } as const
      )
  }),
  // The store failed. If renewed credentials could not be saved, they are in
  // `unsaved`: use them, and save them again (renewer.save) once the store is back.
  Effect.catchTag("StoreError", (error) =>
    error.unsaved !== undefined
      ? Effect.succeed({ _tag: "Ready", credentials: error.unsaved } as const)
      : Effect.fail(error))
)
// --- end handle ---
