import type * as PlatformError from "@effect/platform/Error"
import { StoreError } from "../AuthError.js"

/**
 * A `NotFound` system error (a missing file).
 *
 * @internal
 */
export const isNotFound = (error: PlatformError.PlatformError): boolean =>
  error._tag === "SystemError" && error.reason === "NotFound"

/**
 * A platform error as a `StoreError`. A platform error names the module, the
 * method, the path (a hash of the session key, never its content) and the
 * system's description: no credentials.
 *
 * @internal
 */
export const platformErrorToStoreError =
  (operation: StoreError["operation"], key: string) => (error: PlatformError.PlatformError): StoreError =>
    new StoreError({
      operation,
      key,
      description: error._tag === "SystemError"
        ? `file system error ${error.reason} in ${error.module}.${error.method}${
          error.pathOrDescriptor === undefined ? "" : ` (${error.pathOrDescriptor})`
        }${error.description === undefined ? "" : `: ${error.description}`}`
        : `file system error BadArgument in ${error.module}.${error.method}${
          error.description === undefined ? "" : `: ${error.description}`
        }`
    })
