import { StoreError } from "@effect-renewal/core/AuthError"
import type * as PgClient from "@effect/sql-pg/PgClient"
import type * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import type * as SqlClient from "@effect/sql/SqlClient"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import { closeSync, openSync } from "node:fs"

/**
 * The driver layers, imported when a layer is built: `@effect/sql-sqlite-node`
 * and `@effect/sql-pg` are optional peer dependencies, and importing
 * `SqlTokenStore` must not need the one an application does not use.
 *
 * @internal
 */

// type-only: erased from the output, so loading this module needs neither
type SqliteModule = typeof SqliteClient
type PgModule = typeof PgClient

// A failure while the layer is built: the store could not be opened.
const openError = (description: string) => new StoreError({ operation: "open", key: "*", description })

/**
 * What went wrong, in one line: the code and message of an OS or driver
 * error, and of the error it wraps (`@effect/sql`'s `SqlError` wraps the
 * driver's). Every text of `secrets` in them reads `***`.
 */
const describe = (error: unknown, secrets: ReadonlyArray<string>): string => {
  const parts: Array<string> = []
  let current: unknown = error
  for (let depth = 0; depth < 3 && typeof current === "object" && current !== null; depth++) {
    const { code, message } = current as { readonly code?: unknown; readonly message?: unknown }
    const text = typeof message === "string" ? message.split("\n")[0].slice(0, 300) : ""
    const part = typeof code === "string" && !text.includes(code) ? `${code}${text === "" ? "" : `: ${text}`}` : text
    if (part !== "" && !parts.includes(part)) parts.push(part)
    current = (current as { readonly cause?: unknown }).cause
  }
  let line = parts.length === 0 ? String(Cause.isCause(error) ? Cause.squash(error) : error) : parts.join(": ")
  for (const secret of secrets) if (secret.length > 0) line = line.split(secret).join("***")
  return line
}

const load = <M>(name: string, load: () => Promise<M>): Effect.Effect<M, StoreError> =>
  Effect.tryPromise({
    try: load,
    catch: (error) =>
      openError(`${name} could not be loaded (${describe(error, [])}): add it to the application's dependencies`)
  })

// A driver's failure, or its defect (`better-sqlite3` throws when it cannot
// open the file), as a `StoreError` naming the database and the driver's
// error (with `secrets` masked).
const orOpenError =
  (what: string, secrets: ReadonlyArray<string>) =>
  <A, E, R>(layer: Layer.Layer<A, E, R>): Layer.Layer<A, StoreError, R> =>
    Layer.catchAllCause(layer, (cause) => {
      const failure = Cause.failureOption(cause)
      if (Option.isSome(failure) && failure.value instanceof StoreError) return Layer.fail(failure.value)
      return Layer.fail(openError(`${what}: ${describe(Cause.squash(cause), secrets)}`))
    })

// a SQLite URI filename may carry options (a key, for an encrypting build) in its query
const sqliteLocation = (filename: string): string => filename.split("?")[0]

// A database file that does not exist yet is created owner-only (SQLite
// gives its journal and WAL files the database file's permissions), like the
// file store's entries. An existing file keeps the permissions it has.
const createOwnerOnly = (filename: string): Effect.Effect<void, StoreError> =>
  filename === "" || filename === ":memory:" || filename.startsWith("file:")
    ? Effect.void
    : Effect.try({
      try: () => closeSync(openSync(filename, "a", 0o600)),
      catch: (error) => openError(`the SQLite database file ${filename} could not be created: ${describe(error, [])}`)
    })

/** @internal */
export const sqlite = (filename: string): Layer.Layer<SqlClient.SqlClient, StoreError> =>
  Layer.unwrapEffect(
    Effect.zipRight(
      createOwnerOnly(filename),
      Effect.map(
        load<SqliteModule>("@effect/sql-sqlite-node", () => import("@effect/sql-sqlite-node/SqliteClient")),
        (module) => module.layer({ filename })
      )
    )
  ).pipe(orOpenError(`the SQLite database ${sqliteLocation(filename)} could not be opened`, []))

/** @internal */
export interface PgConnection {
  readonly url: Redacted.Redacted
  readonly maxConnections?: number | undefined
  readonly applicationName?: string | undefined
}

/**
 * The URL of a PostgreSQL database as an error may show it: scheme, user,
 * host, port and database; never the password or the query (which may hold
 * one: `sslpassword`, `password`). And the texts an error must not show.
 */
const pgLocation = (url: string): { readonly shown: string; readonly secrets: ReadonlyArray<string> } => {
  const secrets = [url]
  try {
    const parsed = new URL(url)
    if (parsed.password !== "") secrets.push(parsed.password, decodeURIComponent(parsed.password))
    for (const [name, value] of parsed.searchParams) {
      if (/pass|key|secret|token/i.test(name)) secrets.push(value)
    }
    const user = parsed.username === "" ? "" : `${decodeURIComponent(parsed.username)}@`
    return { shown: `${parsed.protocol}//${user}${parsed.host}${parsed.pathname}`, secrets }
  } catch {
    return { shown: "(a URL that could not be parsed)", secrets }
  }
}

/** @internal */
export const pg = (connection: PgConnection): Layer.Layer<SqlClient.SqlClient, StoreError> => {
  const location = pgLocation(Redacted.value(connection.url))
  return Layer.unwrapEffect(
    Effect.map(
      load<PgModule>("@effect/sql-pg", () => import("@effect/sql-pg/PgClient")),
      (module) =>
        module.layer({
          url: connection.url,
          ...(connection.maxConnections === undefined ? {} : { maxConnections: connection.maxConnections }),
          applicationName: connection.applicationName ?? "effect-renewal"
        })
    )
  ).pipe(orOpenError(`could not connect to PostgreSQL at ${location.shown}`, location.secrets))
}
