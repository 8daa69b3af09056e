/**
 * No token reaches a span of the store (its attributes, events or exit) or a
 * log line, and no session key reaches a span's attributes: `@effect/sql`
 * records the statements' text, so every value must be a parameter.
 */
import * as RenewalStrategy from "@effect-renewal/core/RenewalStrategy"
import * as Renewer from "@effect-renewal/core/Renewer"
import { derivedKey, entryKey, sessionHash, TokenStore } from "@effect-renewal/core/TokenStore"
import { describe, expect, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Queue from "effect/Queue"
import * as Tracer from "effect/Tracer"
import { inspect } from "node:util"
import { backends, credentials, rawClient, store } from "./support.js"

const session = "session-key-4b1d"
const secret = "tok-9f3a7c"

interface Recorded {
  readonly name: string
  readonly attributes: Map<string, unknown>
  exit?: unknown
  /** What an OpenTelemetry exporter sends: the status message and the exception event (as `@effect/opentelemetry` makes them). */
  status?: string
  exception?: string
}

const recorder = () => {
  const recorded: Array<Recorded> = []
  const tracer = Tracer.make({
    span: (name, parent, context, links, startTime, kind) => {
      const entry: Recorded = { name, attributes: new Map() }
      recorded.push(entry)
      const span: Tracer.Span = {
        _tag: "Span",
        name,
        spanId: `span-${recorded.length}`,
        traceId: "trace",
        parent,
        context,
        status: { _tag: "Started", startTime },
        attributes: entry.attributes,
        links: [...links],
        sampled: true,
        kind,
        end: (endTime, exit) => {
          // as a real span: ended once, and its status says so
          if (span.status._tag === "Ended") return
          ;(span as { status: Tracer.SpanStatus }).status = {
            _tag: "Ended",
            startTime,
            endTime,
            exit
          }
          entry.exit = exit
          if (Exit.isFailure(exit) && !Cause.isInterruptedOnly(exit.cause)) {
            const first = Cause.prettyErrors(exit.cause)[0]
            entry.status = first?.message
            entry.exception = `${first?.name} ${first?.message} ${Cause.pretty(exit.cause, { renderErrorCause: true })}`
          }
        },
        attribute: (key, value) => {
          entry.attributes.set(key, value)
        },
        event: (eventName, __, attributes) => {
          entry.attributes.set(`event:${eventName}`, attributes)
        },
        addLinks: () => {}
      }
      return span
    },
    context: (f) => f()
  })
  const lines: Array<string> = []
  const logger = Logger.make((options) => {
    lines.push(Logger.logfmtLogger.log(options))
  })
  return { recorded, tracer, lines, logger }
}

const text = (u: unknown): string => {
  try {
    return JSON.stringify(u, (_, value) => (typeof value === "bigint" ? value.toString() : value)) ?? ""
  } catch {
    return String(u)
  }
}

for (const backend of backends) {
  describe.skipIf(!backend.enabled)(`SqlTokenStore spans and logs on ${backend.name}`, () => {
    it.scopedLive("hold no token, and no session key in a span attribute", () =>
      Effect.gen(function*() {
        const { lines, logger, recorded, tracer } = recorder()
        const db = yield* backend.database()
        const work = Effect.gen(function*() {
          const a = yield* store(db)
          const b = yield* store(db)
          const heard = yield* Queue.unbounded<void>()
          yield* a.watch!(session, Queue.offer(heard, undefined))
          yield* b.set(session, credentials(secret, secret))
          yield* Queue.take(heard)
          yield* a.withLock(
            session,
            Effect.gen(function*() {
              yield* a.get(session)
              yield* b.set(session, credentials(`${secret}-2`, `${secret}-2`))
              // refused: changed since read
              yield* Effect.exit(a.set(session, credentials(`${secret}-3`, `${secret}-3`)))
              yield* a.set(derivedKey(session, "api"), credentials(`${secret}-4`, `${secret}-4`))
            })
          )
          yield* a.remove(session)
        })
        yield* work.pipe(
          Effect.withTracer(tracer),
          Effect.provide(Logger.replace(Logger.defaultLogger, logger)),
          Logger.withMinimumLogLevel(LogLevel.All)
        )
        expect(recorded.length).toBeGreaterThan(10)
        expect(recorded.some((span) => span.name === "sql.execute")).toBe(true)
        for (const span of recorded) {
          const attributes = text([...span.attributes])
          expect(attributes).not.toContain(secret)
          expect(attributes).not.toContain(session)
          expect(`${span.name} ${text(span.exit)}`).not.toContain(secret)
        }
        for (const line of lines) expect(line).not.toContain(secret)
      }))
  })
}

// a session key as an application may choose it: an e-mail address
const user = "someone.private@example.org"

describe("the session hash of the SQL store's spans and logs", () => {
  it("is FNV-1a 64 (core's): known vectors", () => {
    expect(sessionHash("")).toBe("cbf29ce484222325")
    expect(sessionHash("a")).toBe("af63dc4c8601ec8c")
    expect(sessionHash("foobar")).toBe("85944171f73967e8")
  })
})

for (const backend of backends) {
  describe.skipIf(!backend.enabled)(`the session hash of a Renewer over SqlTokenStore on ${backend.name}`, () => {
    it.scopedLive("is one for the Renewer's spans and the store's, whatever the session key holds", () =>
      Effect.gen(function*() {
        const { recorded, tracer } = recorder()
        const db = yield* backend.database()
        // a key whose store key is escaped (U+0000, U+0001)
        const odd = "someone\u0000private\u0001"
        const work = Effect.gen(function*() {
          const shared = yield* store(db)
          const renewer = yield* Layer.build(
            Renewer.layer({ key: odd }).pipe(
              Layer.provide(Layer.succeed(TokenStore, shared)),
              Layer.provide(Layer.succeed(
                RenewalStrategy.RenewalStrategy,
                RenewalStrategy.RenewalStrategy.of({
                  renew: () => Effect.succeed(credentials(`${secret}-r`, `${secret}-rr`)),
                  revoke: () => Effect.void
                })
              ))
            )
          ).pipe(Effect.map(Context.get(Renewer.Renewer)))
          yield* renewer.save(credentials(secret, secret))
          yield* renewer.get({ forceRefresh: true })
        })
        yield* work.pipe(Effect.withTracer(tracer))
        const hashes = new Set(
          recorded.flatMap((span) => {
            const hash = span.attributes.get("effect-renewal.session")
            return hash === undefined ? [] : [hash]
          })
        )
        expect(recorded.some((span) => span.name.startsWith("SqlTokenStore."))).toBe(true)
        expect(recorded.some((span) => span.name === "effect-renewal.renewal")).toBe(true)
        expect([...hashes]).toEqual([sessionHash(entryKey(odd))])
      }))
  })

  describe.skipIf(!backend.enabled)(`SqlTokenStore on ${backend.name}, failing and succeeding`, () => {
    it.scopedLive("names the session only by its hash in every span (attributes, status, events, exit) and log line", () =>
      Effect.gen(function*() {
        const { lines, logger, recorded, tracer } = recorder()
        const db = yield* backend.database()
        const sql = yield* rawClient(db)
        const entries = sql(`${db.prefix}_entries`)
        const locks = sql(`${db.prefix}_locks`)
        const api = derivedKey(user, "api")
        const failures: Array<string> = []
        const fails = <A, E extends { readonly _tag: string }, R>(effect: Effect.Effect<A, E, R>) =>
          Effect.flatMap(Effect.flip(effect), (error) => Effect.sync(() => failures.push(error._tag)))
        const work = Effect.gen(function*() {
          const a = yield* store(db, { lockTimeout: "150 millis", changePollInterval: "20 millis" })
          const b = yield* store(db, { lockTimeout: "150 millis" })
          const heard = yield* Queue.unbounded<void>()
          yield* a.watch!(user, Queue.offer(heard, undefined))
          // succeeding
          yield* b.set(user, credentials(secret))
          yield* b.set(api, credentials(`${secret}-api`))
          yield* Queue.take(heard)
          yield* a.withLock(user, Effect.zipRight(a.get(user), a.set(user, credentials(`${secret}-1`))))
          // compare-and-set refused
          yield* fails(a.withLock(
            user,
            Effect.gen(function*() {
              yield* a.get(api)
              yield* b.set(api, credentials(`${secret}-2`))
              yield* a.set(api, credentials(`${secret}-3`))
            })
          ))
          // a lock wait that times out
          const locked = yield* Deferred.make<void>()
          const release = yield* Deferred.make<void>()
          const holder = yield* Effect.fork(
            b.withLock(user, Effect.zipRight(Deferred.succeed(locked, undefined), Deferred.await(release)))
          )
          yield* Deferred.await(locked)
          yield* fails(a.withLock(user, Effect.void))
          yield* Deferred.succeed(release, undefined)
          yield* holder.await
          // a lock whose holder died: taken over
          yield* sql`INSERT INTO ${locks} (lock_key, owner, expires_at) VALUES (${user}, ${"dead"}, 0)`
          yield* a.withLock(user, a.get(user))
          // a row that does not decode
          yield* sql`UPDATE ${entries} SET value = ${"not an entry"} WHERE session_key = ${user}`
          yield* fails(a.get(user))
          // the database fails every statement
          yield* sql`DROP TABLE ${locks}`
          yield* sql`DROP TABLE ${entries}`
          yield* fails(a.get(user))
          yield* fails(a.set(api, credentials(`${secret}-4`)))
          yield* fails(a.remove(user))
          yield* fails(a.withLock(user, Effect.void))
          // a Renewer over the failing store: its renewal fails in the store
          const renewer = yield* Layer.build(
            Renewer.layer({ key: user }).pipe(
              Layer.provide(Layer.succeed(TokenStore, a)),
              Layer.provide(Layer.succeed(
                RenewalStrategy.RenewalStrategy,
                RenewalStrategy.RenewalStrategy.of({
                  renew: () => Effect.succeed(credentials(`${secret}-5`)),
                  revoke: () => Effect.void
                })
              ))
            )
          ).pipe(Effect.map(Context.get(Renewer.Renewer)))
          yield* fails(renewer.get({ forceRefresh: true }))
          yield* fails(renewer.save(credentials(`${secret}-6`)))
          // what the fibers the store forked (lease, listener, poller) log meanwhile
          yield* Effect.sleep("100 millis")
        })
        yield* work.pipe(
          Effect.withTracer(tracer),
          Effect.provide(Logger.replace(Logger.defaultLogger, logger)),
          Logger.withMinimumLogLevel(LogLevel.All)
        )
        expect(failures.length).toBe(9)
        expect(failures.every((tag) => tag === "StoreError")).toBe(true)
        const hash = sessionHash(user)
        const spans = recorded.filter((span) => span.name.startsWith("SqlTokenStore."))
        expect(spans.some((span) => span.status !== undefined)).toBe(true)
        expect(spans.every((span) => span.attributes.get("effect-renewal.session") === hash)).toBe(true)
        for (const span of recorded) {
          const all = [
            span.name,
            text([...span.attributes]),
            span.status ?? "",
            span.exception ?? "",
            inspect(span.exit, { depth: 20 }),
            text(span.exit)
          ].join(" ")
          expect(all).not.toContain(user)
          expect(all).not.toContain(secret)
        }
        for (const line of lines) {
          expect(line).not.toContain(user)
          expect(line).not.toContain(secret)
        }
        // the lock wait and the takeover are told, with the session's hash
        expect(lines.some((line) => line.includes("level=DEBUG") && line.includes("waiting") && line.includes(hash)))
          .toBe(true)
        expect(lines.some((line) => line.includes("level=WARN") && line.includes("took over") && line.includes(hash)))
          .toBe(true)
      }))
  })
}
