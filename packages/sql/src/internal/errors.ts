import { StoreError } from "@effect-renewal/core/AuthError"
import type { SqlError } from "@effect/sql/SqlError"

/**
 * A `SqlError` as a `StoreError`. The description names the driver's error
 * code, never its message: a driver message may quote the values of the
 * statement (an entry).
 *
 * @internal
 */
export const fromSqlError = (operation: StoreError["operation"], key: string) => (error: SqlError): StoreError => {
  const code = (error.cause as { readonly code?: unknown } | undefined)?.code
  return new StoreError({
    operation,
    key,
    description: `database error${typeof code === "string" ? ` (${code})` : ""}: ${error.message}`
  })
}
