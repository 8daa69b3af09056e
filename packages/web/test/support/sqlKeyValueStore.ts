/**
 * A `KeyValueStore` on the `SqlClient` in context: one table, `web_sessions`
 * (`key` primary key, `value`), for `SessionStore.layerKeyValueStore` when
 * the instances share a database. The recipe docs/web.md shows.
 */
import * as PlatformError from "@effect/platform/Error"
import * as KeyValueStore from "@effect/platform/KeyValueStore"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"

const failed = (method: string) => () =>
  new PlatformError.SystemError({ reason: "Unknown", module: "KeyValueStore", method })

export const layer: Layer.Layer<KeyValueStore.KeyValueStore, unknown, SqlClient.SqlClient> = Layer.effect(
  KeyValueStore.KeyValueStore,
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    // other instances write too: wait for their write locks rather than fail
    yield* sql.onDialectOrElse({ sqlite: () => sql`PRAGMA busy_timeout = 5000`, orElse: () => Effect.void })
    yield* sql`CREATE TABLE IF NOT EXISTS web_sessions (key TEXT PRIMARY KEY, value TEXT NOT NULL)`
    return KeyValueStore.makeStringOnly({
      get: (key) =>
        sql<{ value: string }>`SELECT value FROM web_sessions WHERE key = ${key}`.pipe(
          Effect.map((rows) => Option.fromNullable(rows[0]?.value)),
          Effect.mapError(failed("get"))
        ),
      set: (key, value) =>
        sql`INSERT INTO web_sessions (key, value) VALUES (${key}, ${value})
            ON CONFLICT (key) DO UPDATE SET value = excluded.value`.pipe(Effect.asVoid, Effect.mapError(failed("set"))),
      remove: (key) =>
        sql`DELETE FROM web_sessions WHERE key = ${key}`.pipe(Effect.asVoid, Effect.mapError(failed("remove"))),
      clear: sql`DELETE FROM web_sessions`.pipe(Effect.asVoid, Effect.mapError(failed("clear"))),
      size: sql<{ n: number }>`SELECT COUNT(*) AS n FROM web_sessions`.pipe(
        Effect.map((rows) => Number(rows[0]?.n ?? 0)),
        Effect.mapError(failed("size"))
      )
    })
  })
)
