/**
 * The emulator's wire, faults and request log, each alone: parsing, client
 * authentication, the fault queue and what a fault answers, redaction.
 */
import * as Faults from "@effect-renewal/testing/internal/faults"
import * as Protocol from "@effect-renewal/testing/internal/protocol"
import * as RequestLog from "@effect-renewal/testing/internal/requestLog"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as TestClock from "effect/TestClock"

const post = (path: string, body: string, headers: Record<string, string> = {}) => ({
  method: "POST",
  path,
  headers: { "content-type": "application/x-www-form-urlencoded", ...headers },
  body
})

const jsonPost = (path: string, body: string) => post(path, body, { "content-type": "application/json" })

const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${id}:${secret}`).toString("base64")}`

describe("Protocol", () => {
  it("routes by path, ignoring a query string", () => {
    expect(Protocol.parse(post("/oauth/token?x=1", "")).endpoint).toBe("token")
    expect(Protocol.parse(post("/delegation", "")).endpoint).toBe("delegation")
    expect(Protocol.parse(post("/oauth/revoke", "")).endpoint).toBe("revoke")
    expect(Protocol.parse(post("/oauth/token/", ""))).toMatchObject({ endpoint: "other", path: "/oauth/token/" })
  })

  it("reads form bodies (first value wins) and JSON bodies (scalars only)", () => {
    expect(Protocol.parse(post("/oauth/token", "a=1&b=x+y&a=2")).params).toEqual({ a: "1", b: "x y" })
    expect(Protocol.parse(jsonPost("/oauth/token", "{\"a\":\"1\",\"n\":2,\"t\":true,\"o\":{},\"z\":null}")).params)
      .toEqual({ a: "1", n: "2", t: "true" })
    expect(Protocol.parse(jsonPost("/oauth/token", "  ")).params).toEqual({})
    for (const malformed of ["{\"a\":", "[1]", "\"text\"", "null"]) {
      expect(Protocol.parse(jsonPost("/oauth/token", malformed)).params).toBeUndefined()
    }
  })

  it("answers what no endpoint takes: 404, 405, malformed body, unauthenticated client", () => {
    const config = { clientId: "c", clientSecret: "s" }
    const answer = (request: ReturnType<typeof post>) => Protocol.accept(config, request, Protocol.parse(request))
    expect(answer(post("/nowhere", ""))).toMatchObject({ _tag: "Response", status: 404 })
    expect(answer({ ...post("/oauth/token", ""), method: "GET" })).toMatchObject({
      status: 405,
      headers: { allow: "POST" }
    })
    expect(answer(jsonPost("/oauth/token", "{"))).toMatchObject({ status: 400 })
    expect(answer(post("/oauth/revoke", "token=t&client_id=c"))).toMatchObject({ status: 401 })
    expect(answer(post("/oauth/revoke", "token=t&client_id=c&client_secret=s"))).toEqual({
      _tag: "Accepted",
      endpoint: "revoke",
      params: { token: "t", client_id: "c", client_secret: "s" }
    })
    // the legacy delegation endpoint takes no client secret
    expect(answer(post("/delegation", "client_id=c"))).toMatchObject({ _tag: "Accepted", endpoint: "delegation" })
  })

  it("both error body formats", () => {
    expect(Protocol.errorBody("oauth", "invalid_grant", "Nope.")).toEqual({
      error: "invalid_grant",
      error_description: "Nope."
    })
    expect(Protocol.errorBody("auth0", "invalid_grant", "Nope.")).toEqual({
      code: "invalid_grant",
      description: "Nope."
    })
  })

  it("HTTP Basic credentials are form-encoded", () => {
    expect(Protocol.parseBasic(basic("my%20client", "a%3Ab+c"))).toEqual({ id: "my client", secret: "a:b c" })
    expect(Protocol.parseBasic(basic("id", "se:cret"))).toEqual({ id: "id", secret: "se:cret" })
    expect(Protocol.parseBasic("Bearer abc")).toBeUndefined()
    expect(Protocol.parseBasic(`Basic ${Buffer.from("no-colon").toString("base64")}`)).toBeUndefined()
  })

  it("client authentication: body or Basic, never two different ids; the secret where required", () => {
    const config = { clientId: "c", clientSecret: "s" }
    const status = (headers: Record<string, string>, params: Protocol.Params, requireSecret = true) =>
      Protocol.authenticateClient(config, post("/oauth/token", "", headers), params, requireSecret)?.status
    expect(status({}, { client_id: "c", client_secret: "s" })).toBeUndefined()
    expect(status({ authorization: basic("c", "s") }, {})).toBeUndefined()
    expect(status({ authorization: basic("c", "s") }, { client_id: "other" })).toBe(401)
    expect(status({}, { client_id: "c" })).toBe(401)
    expect(status({}, { client_id: "c" }, false)).toBeUndefined()
    expect(status({}, {})).toBe(401)
    expect(status({}, { client_id: "other", client_secret: "s" })).toBe(401)
  })
})

describe("Faults", () => {
  it("the queue: first in first out, an endpoint's faults skipped by other endpoints", () => {
    const queue = Faults.enqueue(
      Faults.enqueue([], "token", [Faults.Fault.status(503), Faults.Fault.reset()]),
      undefined,
      [Faults.Fault.hang()]
    )
    const [forRevoke, rest] = Faults.take(queue, "revoke")
    expect(forRevoke?._tag).toBe("Hang")
    const [first, rest2] = Faults.take(rest, "token")
    const [second, rest3] = Faults.take(rest2, "token")
    expect([first?._tag, second?._tag]).toEqual(["Status", "Reset"])
    expect(Faults.take(rest3, "token")).toEqual([undefined, []])
  })

  it.effect("a fault answers in place of the model; latency runs it and delays the answer", () =>
    Effect.gen(function*() {
      let ran = 0
      const model = Effect.sync(() => {
        ran++
        return Protocol.json(200, { ok: true })
      })
      const limited = yield* Faults.apply(Faults.Fault.status(429, { retryAfter: 3, format: "auth0" }), model)
      expect(limited).toMatchObject({ status: 429, headers: { "retry-after": "3" } })
      expect(limited._tag === "Response" && JSON.parse(limited.body)).toEqual({
        code: "too_many_requests",
        description: "Emulated fault: HTTP 429."
      })
      expect(yield* Faults.apply(Faults.Fault.html(502), model)).toMatchObject({
        status: 502,
        headers: { "content-type": "text/html; charset=utf-8" }
      })
      expect(yield* Faults.apply(Faults.Fault.reset(), model)).toEqual({ _tag: "Reset" })
      expect(ran).toBe(0)

      const delayed = yield* Faults.apply(Faults.Fault.latency("2 seconds"), model)
      expect(ran).toBe(1)
      const fiber = yield* Effect.fork(Faults.settle(delayed))
      yield* TestClock.adjust("1999 millis")
      expect(Option.isNone(yield* Fiber.poll(fiber))).toBe(true)
      yield* TestClock.adjust("1 millis")
      expect(yield* Fiber.join(fiber)).toBe(delayed)
    }))
})

describe("RequestLog", () => {
  it("redacts the values of secret parameters, in any case, and keeps the others", () => {
    expect(RequestLog.redact({
      grant_type: "refresh_token",
      refresh_token: "rt",
      Client_Secret: "cs",
      id_token: "it",
      token: "t",
      password: "p",
      audience: "https://orders.example",
      scope: "openid",
      device: "d1"
    })).toEqual({
      grant_type: "refresh_token",
      refresh_token: "<redacted>",
      Client_Secret: "<redacted>",
      id_token: "<redacted>",
      token: "<redacted>",
      password: "<redacted>",
      audience: "https://orders.example",
      scope: "openid",
      device: "d1"
    })
  })

  it("an entry never holds a header; the counts follow the entries", () => {
    const log = RequestLog.make()
    const request = post("/oauth/token", "grant_type=refresh_token&refresh_token=rt", {
      authorization: basic("c", "s")
    })
    const entry = RequestLog.entry({
      request,
      parsed: Protocol.parse(request),
      fault: undefined,
      output: { _tag: "Hang" },
      now: 5
    })
    expect(entry).toEqual({
      endpoint: "token",
      method: "POST",
      path: "/oauth/token",
      grantType: "refresh_token",
      params: { grant_type: "refresh_token", refresh_token: "<redacted>" },
      status: "hang",
      at: 5
    })
    log.append(entry)
    log.append({ ...entry, endpoint: "other" })
    expect(log.counts()).toEqual({
      token: 1,
      delegation: 0,
      revoke: 0,
      authorize: 0,
      device: 0,
      discovery: 0,
      jwks: 0,
      userinfo: 0
    })
    const entries = log.entries()
    log.append(entry)
    expect(entries).toHaveLength(2)
  })
})
