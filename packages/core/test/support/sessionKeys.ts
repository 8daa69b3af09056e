/**
 * Session keys that alias (issue 13): the scenarios and the property, for
 * any store (the SQL tests run them on SQLite and PostgreSQL).
 */
import { Credentials, RenewalStrategy, Renewer, Sessions, TokenCodec, TokenStore } from "@effect-renewal/core"
import { NodeFileSystem, NodePath } from "@effect/platform-node"
import { expect } from "@effect/vitest"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as fc from "effect/FastCheck"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import { createHash } from "node:crypto"
import * as nodeFs from "node:fs"
import * as os from "node:os"
import * as nodePath from "node:path"

// ---------------------------------------------------------------------------
// stores, a strategy, what a test looks at
// ---------------------------------------------------------------------------

/** A fresh store for one test, and (file store) what its directory holds: every file's name and bytes. */
export interface StoreKind {
  readonly name: string
  readonly make: Effect.Effect<
    { readonly store: TokenStore.TokenStore.Service; readonly files?: () => ReadonlyMap<string, string> },
    never,
    Scope.Scope
  >
}

export const memory: StoreKind = { name: "memory", make: Effect.map(TokenStore.makeMemory, (store) => ({ store })) }

export const file: StoreKind = {
  name: "file",
  make: Effect.gen(function*() {
    const directory = yield* Effect.acquireRelease(
      Effect.sync(() => nodeFs.mkdtempSync(nodePath.join(os.tmpdir(), "effect-renewal-keys-"))),
      (directory) => Effect.sync(() => nodeFs.rmSync(directory, { recursive: true, force: true }))
    )
    const store = yield* TokenStore.makeFileSystem({ directory }).pipe(
      Effect.provide([NodeFileSystem.layer, NodePath.layer]),
      Effect.orDie
    )
    const files = () =>
      new Map(
        nodeFs.readdirSync(directory).map((name) => [name, nodeFs.readFileSync(nodePath.join(directory, name), "hex")])
      )
    return { store, files }
  })
}

/** A server that renews any login, for any audience: the access token says which renewal it was. */
export const renewing = () => {
  let renewals = 0
  return RenewalStrategy.RenewalStrategy.of({
    renew: (_current, { audience }) =>
      Effect.map(DateTime.now, (now) =>
        new Credentials.Credentials({
          accessToken: Redacted.make(`renewed-${++renewals}-for-${audience ?? "login"}`),
          tokenType: "Bearer",
          expiresAt: DateTime.add(now, { hours: 1 })
        })),
    revoke: () => Effect.void
  })
}

export const login = (name: string) =>
  Effect.map(DateTime.now, (now) =>
    new Credentials.Credentials({
      accessToken: Redacted.make(`access-${name}`),
      refreshToken: Redacted.make(`refresh-${name}`),
      tokenType: "Bearer",
      expiresAt: DateTime.add(now, { hours: 1 })
    }))

const access = (credentials: Credentials.Credentials) => Redacted.value(credentials.accessToken)

/** Exactly what the json codec would store: every field, tokens in clear. */
const fingerprint = (credentials: Option.Option<Credentials.Credentials>) =>
  Option.isNone(credentials)
    ? Effect.succeed("none")
    : Effect.orDie(TokenCodec.json.encode("", credentials.value))

const renewerFor = (store: TokenStore.TokenStore.Service, strategy: RenewalStrategy.RenewalStrategy.Service) =>
(
  key: string
): Effect.Effect<Renewer.Renewer.Service, never, Scope.Scope> =>
  Renewer.make({ key }).pipe(
    Effect.provideService(TokenStore.TokenStore, store),
    Effect.provideService(RenewalStrategy.RenewalStrategy, strategy)
  )

export const API = "https://api.example.test"

/**
 * The store key the Renewer of `key` writes for the API credentials of
 * `audience`, found by watching it write them.
 */
const apiEntryOf = (key: string, audience: string) =>
  Effect.scoped(Effect.gen(function*() {
    const underlying = yield* TokenStore.makeMemory
    const written: Array<string> = []
    const store: TokenStore.TokenStore.Service = {
      ...underlying,
      set: (entry, credentials) =>
        Effect.zipRight(Effect.sync(() => written.push(entry)), underlying.set(entry, credentials))
    }
    const renewer = yield* renewerFor(store, renewing())(key)
    yield* renewer.save(yield* login(key))
    yield* Effect.orDie(renewer.get({ audience }))
    return written.find((entry) => entry !== key)!
  }))

// ---------------------------------------------------------------------------
// the findings of issue 13
// ---------------------------------------------------------------------------

/** `save`/`clear` of session `alice` leave the entries of session `alice\u0000x`, and the other way round. */
export const savingAliceKeepsAliceX = (kind: StoreKind) =>
  Effect.gen(function*() {
    const { store } = yield* kind.make
    const renewer = renewerFor(store, renewing())
    const other = yield* renewer("alice\u0000x")
    expect(other.key).toBe("alice\u0000x")
    yield* other.save(yield* login("x"))
    const alice = yield* renewer("alice")
    yield* alice.save(yield* login("alice"))
    // a renewer built now reads what the store holds for the session
    const reread = (key: string) => Effect.scoped(Effect.flatMap(renewer(key), (r) => Effect.exit(r.get())))
    expect(Exit.map(yield* reread("alice\u0000x"), access)).toEqual(Exit.succeed("access-x"))
    yield* alice.clear()
    expect(Exit.map(yield* reread("alice\u0000x"), access)).toEqual(Exit.succeed("access-x"))
    expect(Exit.isFailure(yield* reread("alice"))).toBe(true)
    // and the other way round
    yield* alice.save(yield* login("alice"))
    yield* other.clear()
    expect(Exit.map(yield* reread("alice"), access)).toEqual(Exit.succeed("access-alice"))
  })

/** A session whose key is the store key of alice's API credentials neither writes nor removes them. */
export const impostorOfAliceApi = (kind: StoreKind) =>
  Effect.gen(function*() {
    const entry = yield* apiEntryOf("alice", API)
    expect(entry.startsWith("alice\u0000")).toBe(true)
    const { store } = yield* kind.make
    const renewer = renewerFor(store, renewing())
    const alice = yield* renewer("alice")
    yield* alice.save(yield* login("alice"))
    const impostor = yield* renewer(entry)
    yield* impostor.save(yield* login("impostor"))
    const forApi = yield* alice.get({ audience: API })
    expect(access(forApi)).toBe(`renewed-1-for-${API}`)
    yield* impostor.clear()
    const again = yield* Effect.scoped(Effect.flatMap(renewer("alice"), (r) => r.get({ audience: API })))
    expect(access(again)).toBe(`renewed-1-for-${API}`)
    expect(Exit.isFailure(yield* Effect.exit(Effect.scoped(Effect.flatMap(renewer(entry), (r) => r.get())))))
      .toBe(true)
  })

/** Keys that differ only in lone surrogates (UTF-8 turns each into U+FFFD) are sessions of their own. */
export const loneSurrogatesApart = (kind: StoreKind) =>
  Effect.gen(function*() {
    const { store } = yield* kind.make
    const renewer = renewerFor(store, renewing())
    const keys = ["\uD800", "\uDBFF", "\uDC00", "\uFFFD", "a\uD83D", "a\uDE00"]
    for (const key of keys) yield* (yield* renewer(key)).save(yield* login(key))
    for (const key of keys) {
      const got = yield* Effect.scoped(Effect.flatMap(renewer(key), (r) => r.get()))
      expect(access(got)).toBe(`access-${key}`)
    }
  })

// ---------------------------------------------------------------------------
// keys for properties
// ---------------------------------------------------------------------------

/** Pieces that make keys near each other: separators, escapes, surrogate halves, what derived keys look like. */
const piece = fc.constantFrom(
  "",
  "a",
  "alice",
  "\u0000",
  "\u0001",
  "0000",
  "0001",
  "\u00010000",
  "%",
  "%00",
  "%25",
  "\uD83D",
  "\uDE00",
  "\uD800",
  "\uDFFF",
  "\uFFFD",
  "api:",
  `api:["${API}",""]`,
  "x"
)

/** Strings made of the pieces above. */
export const tricky = fc.array(piece, { maxLength: 6 }).map((pieces) => pieces.join(""))

/** Any string of UTF-16 code units (lone surrogates included), or one made of tricky pieces. */
export const anyString = fc.oneof(
  tricky,
  fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)) })
)

// ---------------------------------------------------------------------------
// operations on one session never touch another's entries
// ---------------------------------------------------------------------------

export type Operation =
  | { readonly op: "save"; readonly session: number }
  | { readonly op: "get"; readonly session: number; readonly audience: string | undefined; readonly force: boolean }
  | { readonly op: "clear"; readonly session: number }
  | { readonly op: "hasValid"; readonly session: number }

const operation = (sessions: number): fc.Arbitrary<Operation> => {
  const session = fc.nat({ max: sessions - 1 })
  return fc.oneof(
    fc.record({ op: fc.constant("save" as const), session }),
    fc.record({
      op: fc.constant("get" as const),
      session,
      audience: fc.oneof(fc.constant(undefined), fc.constant(API), anyString),
      force: fc.boolean()
    }),
    fc.record({ op: fc.constant("clear" as const), session }),
    fc.record({ op: fc.constant("hasValid" as const), session })
  )
}

/** What follows a shared beginning: nothing, anything, or what a derived key holds after the session. */
const rest = fc.oneof(
  fc.constant(""),
  tricky,
  tricky.map((name) => `\u0000${name}`),
  fc.constant(`\u0000api:["${API}",""]`)
)

/** Sessions apart, or sharing a beginning (`alice`, `alice\u0000x`, `alice\u0000api:[...]`). */
const sessionKeys = fc.oneof(
  { arbitrary: fc.uniqueArray(anyString, { minLength: 2, maxLength: 4 }), weight: 1 },
  {
    arbitrary: fc.tuple(tricky, fc.uniqueArray(rest, { minLength: 2, maxLength: 4 })).map(([base, rests]) =>
      rests.map((rest) => `${base}${rest}`)
    ),
    weight: 3
  }
)

/** A few session keys, and operations on them. */
export const scenario = sessionKeys.chain((sessions) =>
  fc.tuple(fc.constant(sessions), fc.array(operation(sessions.length), { minLength: 1, maxLength: 12 }))
)

/**
 * Runs `operations` through `Sessions` over a store of `kind`, and after each
 * one checks that every entry another session wrote or read is as it was,
 * that no store key is used by two sessions, and (file store) that every file
 * not named after the session is byte for byte as it was.
 */
export const noSessionTouchesAnother = (
  kind: StoreKind,
  sessions: ReadonlyArray<string>,
  operations: ReadonlyArray<Operation>
) =>
  Effect.scoped(Effect.gen(function*() {
    const { files, store: underlying } = yield* kind.make
    let current = -1
    const users = new Map<string, Set<number>>()
    const use = (key: string) =>
      Effect.sync(() => {
        const set = users.get(key) ?? new Set<number>()
        set.add(current)
        users.set(key, set)
      })
    const store: TokenStore.TokenStore.Service = {
      ...underlying,
      get: (key) => Effect.zipRight(use(key), underlying.get(key)),
      set: (key, credentials) => Effect.zipRight(use(key), underlying.set(key, credentials)),
      remove: (key) => Effect.zipRight(use(key), underlying.remove(key))
    }
    const all = yield* Sessions.make().pipe(
      Effect.provideService(TokenStore.TokenStore, store),
      Effect.provideService(RenewalStrategy.RenewalStrategy, renewing())
    )
    const read = (keys: ReadonlyArray<string>) =>
      Effect.forEach(
        keys,
        (key) => Effect.map(Effect.flatMap(underlying.get(key), fingerprint), (print) => [key, print])
      )
    // the files, but those named after the session part of a key `session` used
    const filesBut = (session: number, all: ReadonlyMap<string, string> | undefined) => {
      if (all === undefined) return []
      const prefixes = Array.from(users).filter(([, by]) => by.has(session)).map(([key]) =>
        `${createHash("sha256").update(TokenStore.sessionKeyOf(key)).digest("hex")}.`
      )
      return Array.from(all).filter(([name]) => !prefixes.some((prefix) => name.startsWith(prefix)))
    }
    for (const step of operations) {
      current = step.session
      const key = sessions[step.session]!
      const others = Array.from(users).filter(([, by]) => !by.has(step.session)).map(([key]) => key)
      const before = yield* read(others)
      const filesBefore = files?.()
      switch (step.op) {
        case "save":
          yield* all.save(key, yield* login(`${step.session}`))
          break
        case "get":
          yield* Effect.exit(all.get(key, { audience: step.audience, forceRefresh: step.force }))
          break
        case "clear":
          yield* Effect.exit(all.clear(key))
          break
        case "hasValid":
          yield* all.hasValid(key)
      }
      expect(yield* read(others)).toEqual(before)
      expect(filesBut(step.session, files?.())).toEqual(filesBut(step.session, filesBefore))
      for (const by of users.values()) expect(by.size).toBe(1)
    }
  }))
