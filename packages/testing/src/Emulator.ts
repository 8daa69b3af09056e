/**
 * An Auth0-compatible authorization server for tests: a model of a tenant
 * (refresh token rotation with families, reuse detection, reuse interval,
 * absolute and idle lifetimes, HS256 id_tokens, legacy delegation,
 * revocation), with scripted faults, a request log and counters.
 *
 * The model is written once and served two ways:
 *
 * - `layerMemory`: an in-memory `HttpClient`, no sockets. Requests run in the
 *   caller's fiber, so `TestClock` drives token lifetimes, expiry and latency.
 * - `layerServer`: a real `node:http` server on loopback, for the demo,
 *   cross-process tests and benchmarks.
 *
 * @example
 * ```ts
 * import * as HttpClient from "@effect/platform/HttpClient"
 * import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
 * import * as Effect from "effect/Effect"
 * import * as Emulator from "@effect-renewal/testing/Emulator"
 *
 * const program = Effect.gen(function*() {
 *   const emulator = yield* Emulator.Emulator
 *   const login = yield* emulator.login()
 *   yield* emulator.faultOn("token", Emulator.Fault.status(503, { retryAfter: 2 }))
 *   const client = yield* HttpClient.HttpClient
 *   return yield* client.execute(
 *     HttpClientRequest.post("https://tenant.example/oauth/token").pipe(
 *       HttpClientRequest.bodyUrlParams({
 *         grant_type: "refresh_token",
 *         client_id: emulator.clientId,
 *         refresh_token: login.refresh_token ?? ""
 *       })
 *     )
 *   )
 * }).pipe(Effect.provide(Emulator.layerMemory()))
 * ```
 *
 * @since 0.1.0
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientError from "@effect/platform/HttpClientError"
import type * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Chunk from "effect/Chunk"
import * as Context from "effect/Context"
import type * as Data from "effect/Data"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as FiberSet from "effect/FiberSet"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Http from "node:http"
import type { AddressInfo } from "node:net"
import * as internal from "./internal/model.js"

/**
 * The endpoints the emulator serves: `POST /oauth/token`, `POST /delegation`
 * and `POST /oauth/revoke`.
 *
 * @since 0.1.0
 * @category models
 */
export type Endpoint = "token" | "delegation" | "revoke"

/**
 * The wire body of a successful `POST /oauth/token` (and of `login`).
 *
 * @since 0.1.0
 * @category models
 */
export interface TokenResponseBody {
  readonly access_token: string
  readonly id_token?: string
  readonly refresh_token?: string
  readonly token_type: "Bearer"
  readonly expires_in: number
  readonly scope: string
}

/**
 * The body format of an error: OAuth 2.0 (`{error, error_description}`) or
 * Auth0's legacy one (`{code, description}`).
 *
 * @since 0.1.0
 * @category models
 */
export type ErrorFormat = "oauth" | "auth0"

/**
 * A scripted fault, plain data. Build them with the `Fault` constructors.
 *
 * - `Status`: answer with a status and an error body, optionally with `Retry-After`.
 * - `Latency`: handle the request normally (state changes at once), delay the response.
 * - `Hang`: never answer.
 * - `Reset`: drop the connection.
 * - `Html`: an HTML page with the given status.
 * - `Body`: any raw body (malformed or truncated JSON, empty string...).
 * - `ErrorIn200`: status 200 with an error body.
 *
 * Every fault but `Latency` answers without running the model: no state changes.
 *
 * @since 0.1.0
 * @category faults
 */
export type Fault = Data.TaggedEnum<{
  Status: {
    readonly status: number
    readonly error: string
    readonly description: string
    readonly format: ErrorFormat
    readonly retryAfter: string | undefined
  }
  Latency: { readonly duration: Duration.Duration }
  Hang: {}
  Reset: {}
  Html: { readonly status: number }
  Body: { readonly status: number; readonly body: string; readonly contentType: string | undefined }
  ErrorIn200: { readonly error: string; readonly description: string; readonly format: ErrorFormat }
}>

/**
 * Constructors and matchers for `Fault`.
 *
 * @example
 * ```ts
 * import * as Emulator from "@effect-renewal/testing/Emulator"
 *
 * const faults = [
 *   Emulator.Fault.status(503, { retryAfter: 2 }),
 *   Emulator.Fault.status(403, { error: "access_denied", description: "Denied", format: "auth0" }),
 *   Emulator.Fault.latency("2 seconds"),
 *   Emulator.Fault.hang(),
 *   Emulator.Fault.reset(),
 *   Emulator.Fault.html(502),
 *   Emulator.Fault.body(200, "{\"access_tok"),
 *   Emulator.Fault.errorIn200("invalid_grant", "Unknown or invalid refresh token.")
 * ]
 * ```
 *
 * @since 0.1.0
 * @category faults
 */
export const Fault: {
  /**
   * An error status. `error` defaults from the status (`too_many_requests`
   * for 429, `temporarily_unavailable` for 503, `server_error` for other 5xx,
   * `invalid_request` otherwise), `format` to `"oauth"`.
   */
  readonly status: (status: number, options?: {
    readonly error?: string | undefined
    readonly description?: string | undefined
    readonly format?: ErrorFormat | undefined
    readonly retryAfter?: number | string | undefined
  }) => Fault
  /** Handle the request normally, answer after `duration`. */
  readonly latency: (duration: Duration.DurationInput) => Fault
  /** Never answer. */
  readonly hang: () => Fault
  /** Drop the connection without an answer. */
  readonly reset: () => Fault
  /** An HTML error page (`content-type: text/html`). */
  readonly html: (status: number) => Fault
  /** A raw body, `content-type` defaulting to `application/json`. */
  readonly body: (status: number, body: string, contentType?: string) => Fault
  /** Status 200 with an error body. */
  readonly errorIn200: (error: string, description: string, format?: ErrorFormat) => Fault
  /** Refines a fault by tag. */
  readonly $is: <Tag extends Fault["_tag"]>(tag: Tag) => (u: unknown) => u is Extract<Fault, { readonly _tag: Tag }>
} = internal.Fault

/**
 * One request the emulator received. It never contains a token.
 *
 * @since 0.1.0
 * @category models
 */
export interface RequestLogEntry {
  readonly endpoint: Endpoint | "other"
  readonly method: string
  readonly path: string
  readonly grantType?: string
  readonly status: number | "hang" | "reset"
  /** The tag of the fault applied to this request, if any. */
  readonly fault?: Fault["_tag"]
  /** When the request arrived, in `Clock` milliseconds. */
  readonly at: number
}

/**
 * What the emulator has counted so far.
 *
 * @since 0.1.0
 * @category models
 */
export interface Counters {
  readonly requests: {
    readonly token: number
    readonly delegation: number
    readonly revoke: number
  }
  /** Initial logins (the `login` method and the test-login grant). */
  readonly logins: number
  /** Refresh tokens issued by a `refresh_token` grant with rotation. */
  readonly rotations: number
  readonly reuseDetections: number
  readonly revokedFamilies: number
}

/**
 * A request as the model sees it, independent of the transport. Header names
 * are lower case.
 *
 * @since 0.1.0
 * @category models
 */
export interface EmulatorRequest {
  readonly method: string
  /** The path, a query string is ignored. */
  readonly path: string
  readonly headers: Readonly<Record<string, string>>
  readonly body: string
}

/**
 * What the model answers, before a transport serves it.
 *
 * @since 0.1.0
 * @category models
 */
export type EmulatorOutput =
  | {
    readonly _tag: "Response"
    readonly status: number
    readonly headers: Readonly<Record<string, string>>
    readonly body: string
    /** Serve the response only after this delay (a `Latency` fault). */
    readonly delay?: Duration.Duration
  }
  | { readonly _tag: "Hang" }
  | { readonly _tag: "Reset" }

/**
 * The emulated tenant.
 *
 * @since 0.1.0
 * @category tags
 */
export class Emulator extends Context.Tag("@effect-renewal/testing/Emulator")<Emulator, Emulator.Service>() {}

/**
 * @since 0.1.0
 */
export declare namespace Emulator {
  /**
   * @since 0.1.0
   * @category models
   */
  export interface Options {
    /** Default `"test-client-id"`. */
    readonly clientId?: string | undefined
    /** When set, the token and revoke endpoints require it (`client_secret` or HTTP Basic). */
    readonly clientSecret?: string | undefined
    /** Refresh token rotation. Default `true`. */
    readonly rotation?: boolean | undefined
    /** How long a rotated-out refresh token still works. Default `0`. */
    readonly reuseInterval?: Duration.DurationInput | undefined
    /** Default 1 hour. */
    readonly accessTokenLifetime?: Duration.DurationInput | undefined
    /** Default 10 hours. */
    readonly idTokenLifetime?: Duration.DurationInput | undefined
    /** From the login of the family. Default: none. */
    readonly refreshTokenAbsoluteLifetime?: Duration.DurationInput | undefined
    /** From the issue or last use of a refresh token. Default: none. */
    readonly refreshTokenIdleLifetime?: Duration.DurationInput | undefined
    /** Default `"https://emulator.effect-renewal.test/"`. */
    readonly issuer?: string | undefined
    /** The default audience of access tokens. Default `"https://api.effect-renewal.test"`. */
    readonly audience?: string | undefined
    /** The HS256 key of every JWT the emulator signs. */
    readonly signingSecret?: string | undefined
  }

  /**
   * @since 0.1.0
   * @category models
   */
  export interface ServerOptions extends Options {
    /** Default `0` (an ephemeral port). */
    readonly port?: number | undefined
    /** Default `"127.0.0.1"`. */
    readonly host?: string | undefined
  }

  /**
   * @since 0.1.0
   * @category models
   */
  export interface LoginOptions {
    /** The `sub` of the tokens. Default `"demo-user"`. */
    readonly username?: string | undefined
    /** Default `"openid profile email offline_access"`. */
    readonly scope?: string | undefined
    /** The audience of the access token. Default: the emulator's. */
    readonly audience?: string | undefined
  }

  /**
   * @since 0.1.0
   * @category models
   */
  export interface Service {
    /** The client id the emulator accepts. */
    readonly clientId: string
    /** Runs one request through the model. Both servings use it. */
    readonly handle: (request: EmulatorRequest) => Effect.Effect<EmulatorOutput>
    /**
     * Mints an initial login without HTTP. A refresh token is issued when the
     * scope contains `offline_access`, an id_token when it contains `openid`.
     */
    readonly login: (options?: LoginOptions) => Effect.Effect<TokenResponseBody>
    /** Enqueues faults for the next requests to any endpoint, first in first out. */
    readonly fault: (...faults: ReadonlyArray<Fault>) => Effect.Effect<void>
    /** Enqueues faults for the next requests to one endpoint, first in first out. */
    readonly faultOn: (endpoint: Endpoint, ...faults: ReadonlyArray<Fault>) => Effect.Effect<void>
    /** Drops every queued fault. */
    readonly clearFaults: Effect.Effect<void>
    /** Every request received, oldest first. */
    readonly requests: Effect.Effect<ReadonlyArray<RequestLogEntry>>
    readonly counters: Effect.Effect<Counters>
    /** Revokes the family of a refresh token, as an administrator would. */
    readonly revokeFamilyOf: (refreshToken: string) => Effect.Effect<void>
    /** Whether the family of a refresh token is revoked (`false` for an unknown token). */
    readonly isRevoked: (refreshToken: string) => Effect.Effect<boolean>
  }
}

/**
 * The address of the loopback server of `layerServer`.
 *
 * @since 0.1.0
 * @category tags
 */
export class EmulatorServer
  extends Context.Tag("@effect-renewal/testing/EmulatorServer")<EmulatorServer, EmulatorServer.Service>()
{}

/**
 * @since 0.1.0
 */
export declare namespace EmulatorServer {
  /**
   * @since 0.1.0
   * @category models
   */
  export interface Service {
    /** E.g. `"http://127.0.0.1:43121"`, without a trailing slash. */
    readonly url: string
    readonly port: number
  }
}

/**
 * Builds a fresh emulated tenant.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: (options?: Emulator.Options) => Effect.Effect<Emulator.Service> = internal.make

const settle = (output: EmulatorOutput): Effect.Effect<EmulatorOutput> =>
  output._tag === "Response" && output.delay !== undefined
    ? Effect.as(Effect.sleep(output.delay), output)
    : Effect.succeed(output)

// -----------------------------------------------------------------------------
// In memory
// -----------------------------------------------------------------------------

const textDecoder = new TextDecoder()

const readBody = (
  request: HttpClientRequest.HttpClientRequest
): Effect.Effect<string, HttpClientError.RequestError> => {
  const body = request.body
  switch (body._tag) {
    case "Empty":
      return Effect.succeed("")
    case "Uint8Array":
      return Effect.succeed(textDecoder.decode(body.body))
    case "Raw":
      return Effect.succeed(
        typeof body.body === "string"
          ? body.body
          : body.body instanceof Uint8Array
          ? textDecoder.decode(body.body)
          : body.body instanceof URLSearchParams
          ? body.body.toString()
          : String(body.body)
      )
    case "FormData": {
      const params = new URLSearchParams()
      body.formData.forEach((value, key) => {
        if (typeof value === "string") params.append(key, value)
      })
      return Effect.succeed(params.toString())
    }
    case "Stream":
      return Stream.runCollect(body.stream).pipe(
        Effect.map((chunks) => Buffer.concat(Chunk.toArray(chunks)).toString("utf8")),
        Effect.mapError((cause) => new HttpClientError.RequestError({ request, reason: "Encode", cause }))
      )
  }
}

const contentTypeOf = (request: HttpClientRequest.HttpClientRequest): string | undefined => {
  const body = request.body
  switch (body._tag) {
    case "Uint8Array":
    case "Raw":
    case "Stream":
      return body.contentType
    case "FormData":
      return "application/x-www-form-urlencoded"
    case "Empty":
      return undefined
  }
}

/**
 * An `HttpClient` served by the model, without sockets. Any host is accepted:
 * only the path matters. The request runs in the caller's fiber, so its
 * `Clock` (a `TestClock` in `it.effect`) is the emulator's time.
 *
 * @since 0.1.0
 * @category constructors
 */
export const toHttpClient = (emulator: Emulator.Service): HttpClient.HttpClient =>
  HttpClient.make((request, url) =>
    Effect.gen(function*() {
      const body = yield* readBody(request)
      const contentType = contentTypeOf(request)
      const headers: Record<string, string> = { ...request.headers }
      if (contentType !== undefined && headers["content-type"] === undefined) headers["content-type"] = contentType
      const output = yield* emulator.handle({ method: request.method, path: url.pathname, headers, body })
      switch (output._tag) {
        case "Hang":
          return yield* Effect.never
        case "Reset":
          return yield* new HttpClientError.RequestError({
            request,
            reason: "Transport",
            cause: new Error("socket hang up")
          })
        case "Response": {
          yield* settle(output)
          const nullBody = output.body === "" || output.status === 204 || output.status === 205 ||
            output.status === 304
          return HttpClientResponse.fromWeb(
            request,
            new Response(nullBody ? null : output.body, {
              status: output.status,
              headers: output.headers
            })
          )
        }
      }
    })
  )

/**
 * A fresh emulator and an `HttpClient` served by it, in memory.
 *
 * @example
 * ```ts
 * import { it } from "@effect/vitest"
 * import * as Effect from "effect/Effect"
 * import * as Emulator from "@effect-renewal/testing/Emulator"
 *
 * it.effect("logs in", () =>
 *   Effect.gen(function*() {
 *     const emulator = yield* Emulator.Emulator
 *     yield* emulator.login({ scope: "openid offline_access" })
 *   }).pipe(Effect.provide(Emulator.layerMemory({ rotation: true }))))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerMemory = (options?: Emulator.Options): Layer.Layer<Emulator | HttpClient.HttpClient> =>
  Layer.effect(HttpClient.HttpClient, Effect.map(Emulator, toHttpClient)).pipe(
    Layer.provideMerge(Layer.effect(Emulator, make(options)))
  )

// -----------------------------------------------------------------------------
// Loopback server
// -----------------------------------------------------------------------------

const headersOf = (request: Http.IncomingMessage): Record<string, string> => {
  const headers: Record<string, string> = {}
  for (const [name, value] of Object.entries(request.headers)) {
    if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(", ") : value
  }
  return headers
}

/**
 * Serves an emulator on a `node:http` server until the scope closes. Requests
 * run with the runtime of the caller (its `Clock`); closing the scope stops
 * the server and destroys every open connection, hung ones included.
 *
 * @since 0.1.0
 * @category constructors
 */
export const serve = (
  emulator: Emulator.Service,
  options?: { readonly port?: number | undefined; readonly host?: string | undefined }
): Effect.Effect<EmulatorServer.Service, never, Scope.Scope> =>
  Effect.gen(function*() {
    const host = options?.host ?? "127.0.0.1"
    const run = yield* FiberSet.makeRuntime<never, EmulatorOutput, never>()
    const server = yield* Effect.acquireRelease(
      Effect.async<Http.Server>((resume) => {
        const server = Http.createServer((req, res) => {
          const chunks: Array<Buffer> = []
          req.on("data", (chunk: Buffer) => chunks.push(chunk))
          req.on("error", () => req.socket.destroy())
          req.on("end", () => {
            const fiber = run(
              emulator.handle({
                method: req.method ?? "GET",
                path: new URL(req.url ?? "/", "http://localhost").pathname,
                headers: headersOf(req),
                body: Buffer.concat(chunks).toString("utf8")
              }).pipe(Effect.flatMap(settle))
            )
            res.on("close", () => {
              if (!res.writableFinished) fiber.unsafeInterruptAsFork(fiber.id())
            })
            fiber.addObserver((exit) => {
              if (exit._tag === "Failure") {
                if (!res.headersSent) req.socket.destroy()
                return
              }
              const output = exit.value
              switch (output._tag) {
                case "Hang":
                  return
                case "Reset":
                  req.socket.destroy()
                  return
                case "Response":
                  res.writeHead(output.status, { ...output.headers, "content-length": Buffer.byteLength(output.body) })
                  res.end(output.body)
              }
            })
          })
        })
        server.once("error", (error) => resume(Effect.die(error)))
        server.listen(options?.port ?? 0, host, () => resume(Effect.succeed(server)))
      }),
      (server) =>
        Effect.async<void>((resume) => {
          server.close(() => resume(Effect.void))
          server.closeAllConnections()
        })
    )
    const port = (server.address() as AddressInfo).port
    return { url: `http://${host.includes(":") ? `[${host}]` : host}:${port}`, port }
  })

/**
 * A fresh emulator served on loopback (`127.0.0.1`, an ephemeral port unless
 * `port` is given) for the lifetime of the layer.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerServer = (options?: Emulator.ServerOptions): Layer.Layer<Emulator | EmulatorServer> =>
  Layer.scoped(EmulatorServer, Effect.flatMap(Emulator, (emulator) => serve(emulator, options))).pipe(
    Layer.provideMerge(Layer.effect(Emulator, make(options)))
  )
