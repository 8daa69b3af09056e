/**
 * No code, verifier, state, nonce, device code or token of a login reaches
 * an error, a span (attributes, events, exit) or a log line, whatever way the
 * login fails: every flow against the emulator in memory, under a tracer and
 * a logger that keep everything, including a token endpoint that echoes the
 * whole request in its error description.
 */
import { Login } from "@effect-renewal/core"
import * as Emulator from "@effect-renewal/testing/Emulator"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import { describe, expect, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Redacted from "effect/Redacted"
import * as TestClock from "effect/TestClock"
import { inspect } from "node:util"
import * as Stack from "./support/loginStack.js"
import { recordingTracer } from "./support/recordingTracer.js"
import { forms } from "./support/secrets.js"

const redirectUri = "http://127.0.0.1:8765/callback"

/** Everything a value can show: its renderings, and every string reachable from it. */
const texts = (root: unknown): Array<string> => {
  const found: Array<string> = [inspect(root, { depth: 20, showHidden: true }), String(root)]
  if (Cause.isCause(root)) found.push(Cause.pretty(root))
  const seen = new Set<object>()
  const visit = (value: unknown, depth: number): void => {
    if (typeof value === "string") found.push(value)
    if (typeof value !== "object" || value === null || depth > 40 || seen.has(value)) return
    seen.add(value)
    if (ArrayBuffer.isView(value)) {
      found.push(Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString("utf8"))
      return
    }
    if (value instanceof Map) { for (const [k, v] of value) [k, v].forEach((x) => visit(x, depth + 1)) }
    if (value instanceof Error) found.push(value.message, value.stack ?? "")
    for (const key of Reflect.ownKeys(value)) {
      const descriptor = Object.getOwnPropertyDescriptor(value, key)
      if (descriptor !== undefined && "value" in descriptor) visit(descriptor.value, depth + 1)
    }
  }
  visit(root, 0)
  return found
}

/** A tracer and a logger that keep everything, and the secrets seen so far. */
const recorder = () => {
  const kept: Array<unknown> = []
  const secrets = new Set<string>()
  const { spans, tracer } = recordingTracer()
  const logger = Logger.make((options) => {
    kept.push(Logger.logfmtLogger.log(options), options.message, options.cause, options.annotations)
  })
  const observe = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
    effect.pipe(
      Effect.exit,
      Effect.tap((exit) => Effect.sync(() => kept.push(exit))),
      Effect.flatten,
      Effect.withTracer(tracer),
      Effect.provide(Logger.replace(Logger.defaultLogger, logger))
    )
  const expectClean = () => {
    expect(secrets.size).toBeGreaterThan(0)
    for (const text of texts([kept, spans])) {
      for (const secret of secrets) {
        for (const form of forms(secret)) {
          if (text.includes(form)) expect.fail(`"${form.slice(0, 6)}…" in ${text.slice(0, 300)}`)
        }
      }
    }
  }
  return { observe, expectClean, secrets }
}

/** The device codes the emulator handed out, read off the wire. */
const deviceCodes = new Set<string>()

/** The DPoP proofs sent to the token endpoint, read off the wire. */
const proofs = new Set<string>()

/**
 * The emulator in memory, the device codes it hands out recorded; with
 * `echo`, its token endpoint answers every request with an error whose
 * description is the whole request body.
 */
const Intercepted = (echo: boolean) =>
  Layer.unwrapEffect(Effect.gen(function*() {
    const emulator = yield* Emulator.Emulator
    const memory = Emulator.toHttpClient(emulator)
    const answer = (request: Parameters<typeof HttpClientResponse.fromWeb>[0], status: number, body: unknown) =>
      HttpClientResponse.fromWeb(
        request,
        new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } })
      )
    const client = HttpClient.make((request) => {
      if (request.url.endsWith("/oauth/device/code")) {
        return Effect.flatMap(memory.execute(request), (response) =>
          Effect.map(response.json, (body) => {
            const code = (body as { readonly device_code?: unknown }).device_code
            if (typeof code === "string") deviceCodes.add(code)
            return answer(request, response.status, body)
          }))
      }
      const proof = request.headers["dpop"]
      if (proof !== undefined) proofs.add(proof)
      if (!echo || !request.url.endsWith("/oauth/token")) return memory.execute(request)
      const body = request.body._tag === "Uint8Array" ? new TextDecoder().decode(request.body.body) : ""
      return Effect.succeed(
        answer(request, 400, { error: "invalid_grant", error_description: `rejected: ${body} ${proof ?? ""}` })
      )
    })
    return Layer.succeed(HttpClient.HttpClient, client)
  })).pipe(Layer.provideMerge(Emulator.layerMemory()))

describe("Login: no secret in any error, log or span", () => {
  it.effect("authorization code: every failure, and a token endpoint that echoes the request", () =>
    Effect.gen(function*() {
      const { expectClean, observe, secrets } = recorder()
      const login = yield* Login.Login
      const attempt = (
        prepare: (callback: URL) => string,
        options: { readonly deny?: boolean } = {}
      ) =>
        Effect.gen(function*() {
          const emulator = yield* Emulator.Emulator
          if (options.deny === true) yield* emulator.denyNext()
          const { pending, url } = yield* login.authorize({ redirectUri })
          for (const secret of [pending.state, pending.nonce, pending.codeVerifier]) secrets.add(Redacted.value(secret))
          const callback = new URL(yield* Stack.followAuthorize(url))
          const code = callback.searchParams.get("code")
          if (code !== null) secrets.add(code)
          return yield* Effect.either(observe(login.complete(pending, prepare(callback))))
        })
      const results = [
        yield* attempt((callback) => callback.href.replace(/state=[^&]*/, "state=forged")),
        yield* attempt((callback) => callback.href.replace(/iss=[^&]*/, "iss=https%3A%2F%2Fevil.example%2F")),
        yield* attempt((callback) => `${callback.href}&code=another`),
        yield* attempt((callback) => callback.href, { deny: true })
      ]
      expect(results.map((result) => result._tag === "Left" && result.left.reason)).toEqual([
        "InvalidCallback",
        "InvalidCallback",
        "InvalidCallback",
        "AccessDenied"
      ])
      expectClean()
    }).pipe(Effect.provide(Stack.layer(Intercepted(true)))))

  it.effect("the code exchange echoed back, a replay, an expired pending: Rejected and Expired, scrubbed", () =>
    Effect.gen(function*() {
      const { expectClean, observe, secrets } = recorder()
      const login = yield* Login.Login
      const { pending, url } = yield* login.authorize({ redirectUri })
      const callback = yield* Stack.followAuthorize(url)
      secrets.add(new URL(callback).searchParams.get("code")!)
      for (const secret of [pending.state, pending.nonce, pending.codeVerifier]) secrets.add(Redacted.value(secret))
      const echoed = yield* Effect.flip(observe(login.complete(pending, callback)))
      expect([echoed.reason, echoed.code]).toEqual(["Rejected", "invalid_grant"])
      yield* TestClock.adjust("11 minutes")
      const expired = yield* Effect.flip(observe(login.complete(pending, callback)))
      expect(expired.reason).toBe("Expired")
      expectClean()
    }).pipe(Effect.provide(Stack.layer(Intercepted(true)))))

  it.effect("device flow: denied, a server down, expired, and polls echoed back", () =>
    Effect.gen(function*() {
      const { expectClean, observe, secrets } = recorder()
      const login = yield* Login.Login
      const emulator = yield* Emulator.Emulator
      const run = (prepare: (userCode: string) => Effect.Effect<void, unknown>) =>
        Effect.gen(function*() {
          const authorization = yield* observe(login.device())
          const fiber = yield* Effect.fork(Effect.flip(observe(authorization.credentials)))
          yield* Effect.orDie(prepare(authorization.userCode))
          yield* TestClock.adjust("11 minutes")
          return (yield* Fiber.join(fiber)).reason
        })
      expect(yield* run(() => Effect.void)).toBe("Expired")
      expect(yield* run((userCode) => emulator.denyDevice(userCode))).toBe("AccessDenied")
      yield* emulator.faultOn("token", ...Array.from({ length: 40 }, () => Emulator.Fault.status(503)))
      expect(yield* run(() => Effect.void)).toBe("Transient")
      for (const code of deviceCodes) secrets.add(code)
      expectClean()
    }).pipe(Effect.provide(Stack.layer(Intercepted(false)))))

  it.effect("device flow against a token endpoint that echoes the poll: the device code is scrubbed", () =>
    Effect.gen(function*() {
      const { expectClean, observe, secrets } = recorder()
      const login = yield* Login.Login
      deviceCodes.clear()
      const authorization = yield* observe(login.device())
      const fiber = yield* Effect.fork(Effect.flip(observe(authorization.credentials)))
      yield* TestClock.adjust("5 seconds")
      const error = yield* Fiber.join(fiber)
      expect([error.reason, error.code]).toEqual(["Rejected", "invalid_grant"])
      expect(deviceCodes.size).toBe(1)
      for (const code of deviceCodes) secrets.add(code)
      expectClean()
    }).pipe(Effect.provide(Stack.layer(Intercepted(true)))))

  it.effect("with dpop: true, the code exchange and the polls echoed back with their proofs: no key, no proof", () =>
    Effect.gen(function*() {
      const { expectClean, observe, secrets } = recorder()
      const login = yield* Login.Login
      proofs.clear()
      deviceCodes.clear()
      const { pending, url } = yield* login.authorize({ redirectUri, dpop: true })
      const callback = yield* Stack.followAuthorize(url)
      secrets.add(new URL(callback).searchParams.get("code")!)
      for (const secret of [pending.state, pending.nonce, pending.codeVerifier]) secrets.add(Redacted.value(secret))
      secrets.add(Redacted.value(pending.dpop!.jwk).d)
      // the pending authorization, as a web app would log it by mistake, shows no key either
      yield* observe(Effect.logInfo("pending", pending, String(pending), JSON.stringify(pending)))
      const echoed = yield* Effect.flip(observe(login.complete(pending, callback)))
      expect([echoed.reason, echoed.code]).toEqual(["Rejected", "invalid_grant"])

      const authorization = yield* observe(login.device({ dpop: true }))
      const fiber = yield* Effect.fork(Effect.flip(observe(authorization.credentials)))
      yield* TestClock.adjust("5 seconds")
      expect((yield* Fiber.join(fiber)).code).toBe("invalid_grant")
      for (const code of deviceCodes) secrets.add(code)
      expect(proofs.size).toBe(2)
      for (const proof of proofs) secrets.add(proof)
      expectClean()
    }).pipe(Effect.provide(Stack.layer(Intercepted(true)))))
})
