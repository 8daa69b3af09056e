/**
 * What a fleet's parent and its worker processes say to each other, and the
 * store they share.
 */
import * as TokenCodec from "@effect-renewal/core/TokenCodec"
import type * as TokenStore from "@effect-renewal/core/TokenStore"
import { SqlTokenStore } from "@effect-renewal/sql"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"

/** The database the fleet shares: a SQLite file, or a PostgreSQL URL. */
export type StoreSpec =
  | { readonly kind: "sqlite"; readonly filename: string; readonly tablePrefix: string }
  | { readonly kind: "pg"; readonly url: string; readonly tablePrefix: string }

/** What a worker is told at start (in its environment, as JSON). */
export interface WorkerSpec {
  readonly emulatorUrl: string
  readonly clientId: string
  /** The session key every worker renews. */
  readonly key: string
  readonly store: StoreSpec
  /** The store's encryption key (base64url): entries are encrypted at rest. */
  readonly codecKey: string
}

export type Command =
  | { readonly id: number; readonly type: "get"; readonly count: number }
  | { readonly id: number; readonly type: "exit" }

export type Reply =
  | { readonly id: 0; readonly type: "ready"; readonly pid: number }
  | {
    readonly id: number
    readonly type: "got"
    /** The distinct access tokens the gets returned, as fingerprints. */
    readonly fingerprints: ReadonlyArray<string>
    /** The distinct failures, as `Tag(reason)`. */
    readonly failures: ReadonlyArray<string>
    readonly millis: number
  }

/** The shared SQL store, encrypted with the fleet's key. */
export const storeLayer = (
  spec: StoreSpec,
  codecKey: Redacted.Redacted<string>
): Layer.Layer<TokenStore.TokenStore, unknown> =>
  (spec.kind === "sqlite"
    ? SqlTokenStore.layerSqlite({ filename: spec.filename, tablePrefix: spec.tablePrefix })
    : SqlTokenStore.layerPg({ url: Redacted.make(spec.url), tablePrefix: spec.tablePrefix })).pipe(
      Layer.provide(TokenCodec.layerEncrypted(codecKey))
    )
