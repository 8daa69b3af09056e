/**
 * The demo as an Effect: eleven stories against the emulator on loopback (two
 * logins first, as a user starts), a summary table, and a self-check that no
 * token value was printed.
 *
 * `run` returns the report; `program` fails with `DemoFailed` unless every
 * story behaved as described and the self-check passed.
 */
import * as AuthenticationClient from "@effect-renewal/core/AuthenticationClient"
import * as TokenCodec from "@effect-renewal/core/TokenCodec"
import * as Emulator from "@effect-renewal/testing/Emulator"
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as NodePath from "@effect/platform-node/NodePath"
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as FileSystem from "@effect/platform/FileSystem"
import * as HttpClient from "@effect/platform/HttpClient"
import type * as Path from "@effect/platform/Path"
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { Narrator, say } from "./Narrator.js"
import { storeLayer, type StoreSpec } from "./processes/protocol.js"
import { type Check, emulatorOptions, policy, settings, Stage, type Story, type StoryContext } from "./Stage.js"
import { apiCredentials } from "./stories/apiCredentials.js"
import { delegation } from "./stories/delegation.js"
import { deviceLogin } from "./stories/deviceLogin.js"
import { dpop } from "./stories/dpop.js"
import { loopbackLogin } from "./stories/loopbackLogin.js"
import { processesStory } from "./stories/processes.js"
import { revoked } from "./stories/revoked.js"
import { rotation } from "./stories/rotation.js"
import { sessionsStory } from "./stories/sessions.js"
import { singleFlight } from "./stories/singleFlight.js"
import { transientFaults } from "./stories/transientFaults.js"
import { TokenLedger } from "./TokenLedger.js"

export const stories: ReadonlyArray<Story> = [
  deviceLogin,
  loopbackLogin,
  rotation,
  delegation,
  singleFlight,
  transientFaults,
  revoked,
  apiCredentials,
  processesStory,
  sessionsStory,
  dpop
]

export interface Row {
  readonly story: string
  readonly expected: string
  readonly observed: string
  readonly ok: boolean
  /** The checks that did not hold. */
  readonly failures: ReadonlyArray<string>
}

export interface Report {
  readonly rows: ReadonlyArray<Row>
  /** How many distinct token values (and key material) were issued or seen. */
  readonly tokenValues: number
  /** The indexes of printed lines that contained one of them (none, unless something leaked). */
  readonly leakingLines: ReadonlyArray<number>
  readonly ok: boolean
}

export class DemoFailed extends Data.TaggedError("DemoFailed")<{ readonly reasons: ReadonlyArray<string> }> {
  override get message(): string {
    return `the demo did not behave as described: ${this.reasons.join("; ")}`
  }
}

/** A story can take a few seconds; none should take this long. */
const storyTimeout = Duration.seconds(60)

const runStory = (index: number, story: Story): Effect.Effect<Row, never, StoryContext> =>
  Effect.gen(function*() {
    const failures: Array<string> = []
    const check: Check = (ok, what) =>
      Effect.zipRight(
        Effect.sync(() => {
          if (!ok) failures.push(what)
        }),
        say(`   ${ok ? "✓" : "✗"} ${what}`)
      )
    yield* say("", `${index}. ${story.title}`)
    const observed = yield* story.run(check).pipe(
      Effect.timeoutFail({
        duration: storyTimeout,
        onTimeout: () => new Error(`the story took longer than ${Duration.format(storyTimeout)}`)
      }),
      Effect.catchAllCause((cause) => {
        const reason = `unexpected failure: ${Cause.pretty(cause, { renderErrorCause: false }).split("\n")[0]}`
        failures.push(reason)
        return Effect.as(say(`   ✗ ${reason}`), "failed")
      })
    )
    return { story: `${index} ${story.name}`, expected: story.expected, observed, ok: failures.length === 0, failures }
  })

const table = (rows: ReadonlyArray<Row>): ReadonlyArray<string> => {
  const header = ["story", "expected", "observed", "ok"] as const
  const cells = rows.map((row) => [row.story, row.expected, row.observed, row.ok ? "ok" : "FAIL"])
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)))
  const line = (values: ReadonlyArray<string>) => values.map((v, i) => v.padEnd(widths[i]!)).join(" | ").trimEnd()
  return [line(header), widths.map((w) => "-".repeat(w)).join("-+-"), ...cells.map(line)]
}

/** What the demo needs: the emulator on loopback, an `HttpClient`, a file system, and a narrator. */
export type Requirements =
  | Narrator
  | Emulator.Emulator
  | Emulator.EmulatorServer
  | HttpClient.HttpClient
  | FileSystem.FileSystem
  | Path.Path

/**
 * Runs `stories` in order (each one's failure is recorded in its row, never
 * stops the demo), prints the summary and the self-check, returns the report.
 */
export const runStories = (toRun: ReadonlyArray<Story>): Effect.Effect<Report, unknown, Requirements> =>
  Effect.gen(function*() {
    const narrator = yield* Narrator
    const ledger = yield* TokenLedger
    const emulator = yield* Emulator.Emulator
    const server = yield* Emulator.EmulatorServer
    const fs = yield* FileSystem.FileSystem

    // The SQLite store (the embedded default), encrypted, in a temporary
    // directory removed at the end.
    const directory = yield* fs.makeTempDirectoryScoped({ prefix: "effect-renewal-demo-" })
    const storeKey = yield* TokenCodec.generateKey
    yield* ledger.add(storeKey)
    const store: StoreSpec = { kind: "sqlite", filename: `${directory}/tokens.db`, tablePrefix: "effect_renewal" }
    const Store = storeLayer(store, storeKey)

    // Every response the client receives goes through the ledger: each token
    // the server issues is known to the final self-check.
    const http = ledger.observe(yield* HttpClient.HttpClient)
    const Http = Layer.succeed(HttpClient.HttpClient, http)
    // The client finds the provider's endpoints from its issuer (the emulator's
    // own URL on loopback), by its discovery document.
    const Client = AuthenticationClient.layerDiscovery({ issuer: emulator.issuer, clientId: emulator.clientId }).pipe(
      Layer.provide(Http)
    )
    const context = yield* Layer.build(Layer.mergeAll(Store, Client))
    const discovered = Context.get(context, AuthenticationClient.AuthenticationClient).metadata
    // Auth0's domain form, for the story of its legacy /delegation.
    const auth0Client = yield* AuthenticationClient.make({ domain: server.url, clientId: emulator.clientId }).pipe(
      Effect.provide(Http)
    )

    yield* say(
      "effect-renewal demo",
      `   Emulated OpenID provider (an Auth0 tenant) on ${server.url}: access tokens live ${
        Duration.format(settings.accessTokenLifetime)
      }, refresh tokens rotate; renewal minTtl ${Duration.format(settings.minTtl)}.`,
      `   AuthenticationClient.layerDiscovery({ issuer: "${discovered.issuer}" }) read its discovery document: token endpoint ${
        new URL(discovered.tokenEndpoint).pathname
      }, device ${
        discovered.deviceAuthorizationEndpoint === undefined
          ? "none"
          : new URL(discovered.deviceAuthorizationEndpoint).pathname
      }, authorization ${
        discovered.authorizationEndpoint === undefined ? "none" : new URL(discovered.authorizationEndpoint).pathname
      }.`,
      `   Credentials are kept in the SQLite store, encrypted (AES-256-GCM, key generated for this run), in ${store.filename}.`,
      "   Tokens are never printed: #abc123 stands for the first 6 hex digits of a token's SHA-256."
    )

    const rows: Array<Row> = []
    for (const [index, story] of toRun.entries()) {
      rows.push(
        yield* runStory(index + 1, story).pipe(
          Effect.provide(context),
          Effect.provideService(Stage, { directory, store, codecKey: storeKey, http, auth0Client })
        )
      )
    }

    yield* say("", "Summary", ...table(rows))
    const failed = rows.flatMap((row) => row.failures.map((failure) => `   ${row.story}: ${failure}`))
    if (failed.length > 0) yield* say("", "Checks that did not hold:", ...failed)

    // The self-check: everything printed so far, against every token value issued or seen.
    const printed = yield* narrator.printed
    const { leakingLines, values } = yield* ledger.leaks(printed)
    const clean = leakingLines.length === 0
    yield* say(
      "",
      clean
        ? `Self-check: none of the ${values} secrets issued or seen (tokens, device and authorization codes, store key) appears in the ${printed.length} lines printed.`
        : `Self-check FAILED: ${leakingLines.length} printed line(s) contain a token value (lines ${
          leakingLines.join(", ")
        }).`
    )
    const ok = clean && rows.every((row) => row.ok)
    yield* say(ok ? "All stories behaved as described." : "Some stories did not behave as described.")
    return { rows, tokenValues: values, leakingLines, ok }
  }).pipe(
    Effect.scoped,
    Effect.provide(policy),
    Effect.provide(TokenLedger.Default)
  )

/** The demo's stories, returning the report. */
export const run: Effect.Effect<Report, unknown, Requirements> = runStories(stories)

/** Fails with `DemoFailed` unless every story and the self-check passed. */
export const check = (report: Report): Effect.Effect<Report, DemoFailed> => {
  if (report.ok) return Effect.succeed(report)
  const reasons = report.rows.flatMap((row) => row.failures.map((failure) => `${row.story}: ${failure}`))
  if (report.leakingLines.length > 0) reasons.push("a token value appeared in the output")
  return Effect.fail(new DemoFailed({ reasons }))
}

/** The demo, failing with `DemoFailed` unless every story and the self-check passed. */
export const program: Effect.Effect<Report, unknown, Requirements> = Effect.flatMap(run, check)

/** The emulator on loopback, `fetch`, and Node's file system. */
export const layer: Layer.Layer<
  Emulator.Emulator | Emulator.EmulatorServer | HttpClient.HttpClient | FileSystem.FileSystem | Path.Path
> = Layer.mergeAll(
  Emulator.layerServer(emulatorOptions),
  FetchHttpClient.layer,
  NodeFileSystem.layer,
  NodePath.layer
)
