/**
 * The whole web demo on loopback: the emulator (with its HTML login page),
 * the protected API, and the web application, each on its own ephemeral
 * port, until the scope closes.
 */
import * as AuthenticationClient from "@effect-renewal/core/AuthenticationClient"
import * as Login from "@effect-renewal/core/Login"
import * as RenewalStrategy from "@effect-renewal/core/RenewalStrategy"
import * as Sessions from "@effect-renewal/core/Sessions"
import * as TokenStore from "@effect-renewal/core/TokenStore"
import * as Emulator from "@effect-renewal/testing/Emulator"
import * as SessionStore from "@effect-renewal/web/SessionStore"
import * as WebAuth from "@effect-renewal/web/WebAuth"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as HttpRouter from "@effect/platform/HttpRouter"
import type * as HttpServer from "@effect/platform/HttpServer"
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import { createServer } from "node:http"
import * as Api from "./api.js"
import * as App from "./app.js"

/** The demo's settings. */
export interface Options {
  /** The access tokens' lifetime: 1 minute unless given (short, to see renewals). */
  readonly accessTokenLifetime?: Duration.DurationInput | undefined
  /** The app's port: an ephemeral one unless given. */
  readonly port?: number | undefined
  /**
   * Where the credentials are kept: memory unless given (a test passes the
   * SQL store to share them between two app instances).
   */
  readonly tokenStore?: Layer.Layer<TokenStore.TokenStore> | undefined
  /** Where the web sessions are kept: memory unless given. */
  readonly sessionStore?: Layer.Layer<SessionStore.SessionStore> | undefined
  /** How long a token must still live to be used (`Sessions`' `minTtl`): the policy's 30 s unless given. */
  readonly minTtl?: Duration.DurationInput | undefined
}

/** The running demo. */
export interface Demo {
  readonly appUrl: string
  readonly apiUrl: string
  readonly emulator: Emulator.Emulator.Service
  readonly emulatorUrl: string
}

/** A random cookie secret for this run: sessions do not outlive the process (nor does the emulator). */
const secret = () =>
  Redacted.make(Buffer.from(globalThis.crypto.getRandomValues(new Uint8Array(32))).toString("base64url"))

/**
 * One instance of the web app, over an emulator already running, with its
 * own stores unless given: for the demo, and for tests that run two
 * instances sharing one store.
 */
export const app = (options: {
  readonly emulator: Emulator.Emulator.Service
  readonly apiUrl: string
  readonly port?: number | undefined
  readonly secret: Redacted.Redacted<string>
  readonly tokenStore: Layer.Layer<TokenStore.TokenStore>
  readonly sessionStore: Layer.Layer<SessionStore.SessionStore>
  readonly minTtl?: Duration.DurationInput | undefined
}) =>
  Effect.gen(function*() {
    const server = yield* NodeHttpServer.make(() => createServer(), { port: options.port ?? 0, host: "127.0.0.1" })
    const port = (server.address as HttpServer.TcpAddress).port
    const appUrl = `http://127.0.0.1:${port}`
    const client = AuthenticationClient.layerDiscovery({
      issuer: options.emulator.issuer,
      clientId: options.emulator.clientId
    })
    const live = WebAuth.layer({ baseUrl: appUrl, secrets: [options.secret] }).pipe(
      Layer.provideMerge(
        Layer.mergeAll(options.sessionStore, Login.layer(), Sessions.layer({ minTtl: options.minTtl }))
      ),
      Layer.provideMerge(RenewalStrategy.refreshToken),
      Layer.provideMerge(options.tokenStore),
      Layer.provideMerge(client),
      Layer.provideMerge(FetchHttpClient.layer)
    )
    const context = yield* Layer.build(live)
    const router = yield* Effect.provide(App.router(options.apiUrl), context)
    yield* server.serve(Effect.provide(Effect.flatten(HttpRouter.toHttpApp(router)), context))
    return appUrl
  })

/** Starts the emulator, the API and one app instance; they stop when the scope closes. */
export const start = (options: Options = {}) =>
  Effect.gen(function*() {
    const emulatorContext = yield* Layer.build(
      Emulator.layerServer({ loginPage: true, accessTokenLifetime: options.accessTokenLifetime ?? "1 minute" })
    )
    const emulator = Context.get(emulatorContext, Emulator.Emulator)
    const emulatorServer = Context.get(emulatorContext, Emulator.EmulatorServer)
    const apiUrl = yield* Api.serve(emulator)
    const appUrl = yield* app({
      emulator,
      apiUrl,
      port: options.port,
      secret: secret(),
      tokenStore: options.tokenStore ?? TokenStore.layerMemory,
      sessionStore: options.sessionStore ?? SessionStore.layerMemory,
      minTtl: options.minTtl
    })
    return { appUrl, apiUrl, emulator, emulatorUrl: emulatorServer.url } satisfies Demo
  })
