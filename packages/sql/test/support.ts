import * as Credentials from "@effect-renewal/core/Credentials"
import type * as TokenCodec from "@effect-renewal/core/TokenCodec"
import { TokenStore } from "@effect-renewal/core/TokenStore"
import { SqlTokenStore } from "@effect-renewal/sql"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Context from "effect/Context"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"

export const pgUrl = process.env.EFFECT_RENEWAL_PG_URL ?? "postgres://postgres@127.0.0.1:5432/test"

const pgReachable = async (): Promise<boolean> =>
  Effect.runPromise(
    Effect.scoped(
      Effect.flatMap(
        Layer.build(PgClient.layer({ url: Redacted.make(pgUrl), connectTimeout: "3 seconds" })),
        (context) => Context.get(context, SqlClient.SqlClient)`SELECT 1`
      )
    ).pipe(Effect.timeout("5 seconds"), Effect.as(true), Effect.orElseSucceed(() => false))
  )

/**
 * Whether the PostgreSQL suites run: always under `CI=true` (an unreachable
 * database then fails them), else when the database answers.
 */
export const runPg: boolean = process.env.CI === "true" || (await pgReachable())

if (!runPg) {
  console.warn(
    `PostgreSQL tests skipped: no database at EFFECT_RENEWAL_PG_URL (${pgUrl.replace(/:[^:@/]*@/, ":***@")})`
  )
}

export const randomPrefix = (): string => `t_${Math.random().toString(36).slice(2, 10)}`

export interface Backend {
  readonly name: "sqlite" | "pg"
  readonly enabled: boolean
  /**
   * A database for one test: `client()` opens a new client on it (its own
   * connections, like another process); the database (SQLite file, or the
   * tables of `prefix` on PostgreSQL) is dropped when the scope closes.
   */
  readonly database: (prefix?: string) => Effect.Effect<Database, never, Scope.Scope>
}

export interface Database {
  readonly prefix: string
  /** For child processes: `sqlite:<file>` or the PostgreSQL URL. */
  readonly target: string
  readonly client: () => Layer.Layer<SqlClient.SqlClient>
}

const sqliteBackend: Backend = {
  name: "sqlite",
  enabled: true,
  database: (prefix = randomPrefix()) =>
    Effect.acquireRelease(
      Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "effect-renewal-sql-"))),
      (directory) => Effect.sync(() => fs.rmSync(directory, { recursive: true, force: true }))
    ).pipe(Effect.map((directory) => {
      const filename = path.join(directory, "store.db")
      return { prefix, target: `sqlite:${filename}`, client: () => Layer.orDie(SqliteClient.layer({ filename })) }
    }))
}

const pgClient = (): Layer.Layer<SqlClient.SqlClient> => Layer.orDie(PgClient.layer({ url: Redacted.make(pgUrl) }))

const pgBackend: Backend = {
  name: "pg",
  enabled: runPg,
  database: (prefix = randomPrefix()) =>
    Effect.acquireRelease(
      Effect.succeed({ prefix, target: pgUrl, client: pgClient }),
      () =>
        Effect.scoped(Effect.flatMap(Layer.build(pgClient()), (context) => {
          const sql = Context.get(context, SqlClient.SqlClient)
          return sql`DROP TABLE IF EXISTS ${sql(`${prefix}_entries`)}, ${sql(`${prefix}_locks`)}, ${
            sql(`${prefix}_meta`)
          }, ${sql(`${prefix}_migrations`)}`
        })).pipe(Effect.orDie)
    )
}

export const backends: ReadonlyArray<Backend> = [sqliteBackend, pgBackend]

/** A store over a new client of `database`. */
export const store = (
  database: Database,
  options: SqlTokenStore.Options = {},
  codec?: Layer.Layer<TokenCodec.TokenCodec, unknown>
): Effect.Effect<TokenStore.Service, never, Scope.Scope> => {
  const base = SqlTokenStore.layer({ tablePrefix: database.prefix, ...options }).pipe(Layer.provide(database.client()))
  return Layer.build(codec === undefined ? base : Layer.provide(base, codec)).pipe(
    Effect.map(Context.get(TokenStore)),
    Effect.orDie
  )
}

/** A raw client of `database`, for looking at the rows. */
export const rawClient = (database: Database): Effect.Effect<SqlClient.SqlClient, never, Scope.Scope> =>
  Effect.map(Layer.build(database.client()), Context.get(SqlClient.SqlClient))

export const credentials = (name: string, refreshToken?: string): Credentials.Credentials =>
  new Credentials.Credentials({
    accessToken: Redacted.make(`access-${name}`),
    refreshToken: Redacted.make(refreshToken ?? `refresh-${name}`),
    tokenType: "Bearer",
    expiresAt: DateTime.unsafeMake(Date.UTC(2030, 0, 1))
  })

export const refreshTokenOf = (c: Credentials.Credentials): string | undefined =>
  c.refreshToken === undefined ? undefined : Redacted.value(c.refreshToken)
