import { StoreError } from "@effect-renewal/core/AuthError"
import type { SqlError } from "@effect/sql/SqlError"

/**
 * A `SqlError` as a `StoreError`. The description names the driver's error
 * code and `@effect/sql`'s own message (a fixed text such as "Failed to
 * execute statement"), never the driver's error, whose message may quote the
 * values of the statement (an entry).
 *
 * @internal
 */
export const fromSqlError =
  (operation: StoreError["operation"], key: string, doing?: string) => (error: SqlError): StoreError => {
    const code = (error.cause as { readonly code?: unknown } | undefined)?.code
    return new StoreError({
      operation,
      key,
      description: `database error${doing === undefined ? "" : ` ${doing}`}${
        typeof code === "string" ? ` (${code})` : ""
      }: ${error.message}`
    })
  }
