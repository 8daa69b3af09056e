import type * as SqlClient from "@effect/sql/SqlClient"
import type * as Statement from "@effect/sql/Statement"
import type { Dialect } from "./schema.js"

/**
 * Reading the entries table's rows as they may be, not as the store writes
 * them: a row written by another program, a restore or a bug can hold any
 * type in any column on SQLite, and any `BIGINT` on PostgreSQL.
 *
 * Versions are read as text and kept as `bigint`, compared in SQL after a
 * `CAST` of their text: exact over the whole 64-bit range (a `Number` is not
 * above 2^53, and a client may parse `BIGINT` into one). The next version is
 * {@link nextVersion}: it restarts at 1 from the largest one (or from a
 * version below 1), so that a write never overflows and never produces 0,
 * the version that means "no row".
 *
 * @internal
 */

/** An entry's version; `0n`: no row. @internal */
export type Version = bigint

const int64Min = -(2n ** 63n)
const int64Max = 2n ** 63n - 1n

/** The version text of a row (`CAST(version AS TEXT)`), or `undefined` when it is not a 64-bit integer. @internal */
export const parseVersion = (raw: unknown): Version | undefined => {
  if (typeof raw === "bigint") return raw >= int64Min && raw <= int64Max ? raw : undefined
  if (typeof raw === "number") return Number.isSafeInteger(raw) ? BigInt(raw) : undefined
  if (typeof raw !== "string" || !/^-?[0-9]{1,19}$/.test(raw)) return undefined
  const version = BigInt(raw)
  return version >= int64Min && version <= int64Max ? version : undefined
}

/** The column `version` as text (select it `AS version`). @internal */
export const versionText = (sql: SqlClient.SqlClient, column: string): Statement.Fragment =>
  sql.literal(`CAST(${column} AS TEXT)`)

/** A version as a statement's value: its text, cast to the column's type. @internal */
export const versionValue = (sql: SqlClient.SqlClient, dialect: Dialect, version: Version): Statement.Fragment =>
  sql`CAST(${version.toString()} AS ${sql.literal(dialect === "pg" ? "BIGINT" : "INTEGER")})`

/**
 * The version after a write of the row whose version is `column`: one more,
 * or 1 from the largest 64-bit integer and from anything below 1 (or, on
 * SQLite, not an integer). Compare-and-set compares for equality: a holder
 * that read a version before the restart is refused unless 2^63 writes
 * happened meanwhile.
 *
 * @internal
 */
export const nextVersion = (sql: SqlClient.SqlClient, dialect: Dialect, column: string): Statement.Fragment =>
  sql.literal(
    dialect === "pg"
      ? `CASE WHEN ${column} >= 1 AND ${column} < ${int64Max} THEN ${column} + 1 ELSE 1 END`
      // SQLite: a column of any other type (text, real, blob) restarts too
      : `CASE WHEN typeof(${column}) = 'integer' AND ${column} >= 1 AND ${column} < ${int64Max} THEN ${column} + 1 ELSE 1 END`
  )

/** Why a stored value cannot be handed to the codec, if it cannot. @internal */
export const unreadableValue = (value: unknown): string | undefined =>
  typeof value === "string"
    ? undefined
    : `the stored entry is not text (${
      value instanceof Uint8Array ? `${value.byteLength} bytes of binary data` : typeof value
    }): it was not written by this store`
