/**
 * No token reaches a span of the store (its attributes, events or exit) or a
 * log line, and no session key reaches a span's attributes: `@effect/sql`
 * records the statements' text, so every value must be a parameter.
 */
import { derivedKey } from "@effect-renewal/core/TokenStore"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Queue from "effect/Queue"
import * as Tracer from "effect/Tracer"
import { backends, credentials, store } from "./support.js"

const session = "session-key-4b1d"
const secret = "tok-9f3a7c"

const recorder = () => {
  const recorded: Array<{ readonly name: string; readonly attributes: Map<string, unknown>; exit?: unknown }> = []
  const tracer = Tracer.make({
    span: (name, parent, context, links, startTime, kind) => {
      const entry: { readonly name: string; readonly attributes: Map<string, unknown>; exit?: unknown } = {
        name,
        attributes: new Map()
      }
      recorded.push(entry)
      return {
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
        end: (_, exit) => {
          entry.exit = exit
        },
        attribute: (key, value) => {
          entry.attributes.set(key, value)
        },
        event: (eventName, __, attributes) => {
          entry.attributes.set(`event:${eventName}`, attributes)
        },
        addLinks: () => {}
      }
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
