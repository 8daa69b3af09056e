import * as Context from "effect/Context"
import type { AuthenticationClient } from "../AuthenticationClient.js"

/**
 * The `AuthenticationClient` Tag by its key, for the modules that only ask
 * for the service (`RenewalStrategy`): a `Context` holds services by key, so
 * it finds what `AuthenticationClient` provides. A value import of
 * `AuthenticationClient.ts` would evaluate the client, and jose, in every
 * program that uses the `Renewer`, which loads `RenewalStrategy` for its
 * Tag (the CLI's start-up with a valid token makes no request).
 *
 * @internal
 */
export const AuthenticationClientTag: Context.Tag<AuthenticationClient, AuthenticationClient.Service> = Context
  .GenericTag<AuthenticationClient, AuthenticationClient.Service>("@effect-renewal/core/AuthenticationClient")
