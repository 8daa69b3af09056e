import { StoreError } from "@effect-renewal/core/AuthError"
import type * as PgClient from "@effect/sql-pg/PgClient"
import type * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import type * as SqlClient from "@effect/sql/SqlClient"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
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

const setupError = (description: string) => new StoreError({ operation: "set", key: "*", description })

const load = <M>(name: string, load: () => Promise<M>): Effect.Effect<M, StoreError> =>
  Effect.tryPromise({
    try: load,
    catch: () => setupError(`${name} could not be loaded: add it to the application's dependencies`)
  })

// A driver's failure, or its defect (`better-sqlite3` throws when it cannot
// open the file), as a `StoreError` that never quotes it.
const orSetupError = (description: string) => <A, E, R>(layer: Layer.Layer<A, E, R>): Layer.Layer<A, StoreError, R> =>
  Layer.catchAllCause(layer, (cause) => {
    const failure = Cause.failureOption(cause)
    return Layer.fail(
      Option.isSome(failure) && failure.value instanceof StoreError ? failure.value : setupError(description)
    )
  })

// A database file that does not exist yet is created owner-only (SQLite
// gives its journal and WAL files the database file's permissions), like the
// file store's entries. An existing file keeps the permissions it has.
const createOwnerOnly = (filename: string): Effect.Effect<void, StoreError> =>
  filename === "" || filename === ":memory:" || filename.startsWith("file:")
    ? Effect.void
    : Effect.try({
      try: () => closeSync(openSync(filename, "a", 0o600)),
      catch: () => setupError("the SQLite database file could not be created")
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
  ).pipe(orSetupError("the SQLite database could not be opened"))

/** @internal */
export interface PgConnection {
  readonly url: Redacted.Redacted
  readonly maxConnections?: number | undefined
  readonly applicationName?: string | undefined
}

/** @internal */
export const pg = (connection: PgConnection): Layer.Layer<SqlClient.SqlClient, StoreError> =>
  Layer.unwrapEffect(
    Effect.map(
      load<PgModule>("@effect/sql-pg", () => import("@effect/sql-pg/PgClient")),
      (module) =>
        module.layer({
          url: connection.url,
          ...(connection.maxConnections === undefined ? {} : { maxConnections: connection.maxConnections }),
          applicationName: connection.applicationName ?? "effect-renewal"
        })
    )
    // the error says what failed, never the URL (it may hold a password)
  ).pipe(orSetupError("could not connect to PostgreSQL"))
