// docs/web.md: a web application on HttpRouter and on HttpApi; many instances.
import * as AuthenticationClient from "@effect-renewal/core/AuthenticationClient"
import * as Login from "@effect-renewal/core/Login"
import * as RenewalStrategy from "@effect-renewal/core/RenewalStrategy"
import * as Sessions from "@effect-renewal/core/Sessions"
import * as TokenCodec from "@effect-renewal/core/TokenCodec"
import * as TokenStore from "@effect-renewal/core/TokenStore"
import * as SqlTokenStore from "@effect-renewal/sql/SqlTokenStore"
import * as CurrentUser from "@effect-renewal/web/CurrentUser"
import * as SessionStore from "@effect-renewal/web/SessionStore"
import * as UserClient from "@effect-renewal/web/UserClient"
import * as WebAuth from "@effect-renewal/web/WebAuth"
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as NodePath from "@effect/platform-node/NodePath"
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as HttpApi from "@effect/platform/HttpApi"
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import * as HttpApiEndpoint from "@effect/platform/HttpApiEndpoint"
import * as HttpApiGroup from "@effect/platform/HttpApiGroup"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServer from "@effect/platform/HttpServer"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as KeyValueStore from "@effect/platform/KeyValueStore"
import * as Config from "effect/Config"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { createServer } from "node:http"

// --- the layers ---------------------------------------------------------------

// The provider by discovery (OIDC_ISSUER, OIDC_CLIENT_ID, OIDC_CLIENT_SECRET
// for a confidential client); the app's URL and cookie secrets from the
// environment: SESSION_SECRETS is a comma-separated list, newest first.
const Client = AuthenticationClient.layerDiscoveryConfig().pipe(Layer.provide(FetchHttpClient.layer))

export const WebAuthLive = WebAuth.layerConfig({
  baseUrl: Config.string("APP_URL"),
  secrets: Config.array(Config.redacted(), "SESSION_SECRETS"),
  scope: Config.succeed("openid profile email offline_access")
}).pipe(
  Layer.provideMerge(Layer.mergeAll(SessionStore.layerMemory, Login.layer(), Sessions.layer())),
  Layer.provideMerge(RenewalStrategy.refreshToken),
  Layer.provideMerge(TokenStore.layerMemory),
  Layer.provideMerge(Client),
  Layer.provideMerge(FetchHttpClient.layer)
)

// --- HttpRouter ---------------------------------------------------------------

// A page for everyone, a page for the logged in, an API route that calls
// another API with the person's token; the login routes beside them.
const home = Effect.map(
  CurrentUser.optional,
  Option.match({
    onNone: () => HttpServerResponse.html(`<a href="/login?returnTo=%2Fdashboard">Log in</a>`),
    onSome: (user) => HttpServerResponse.text(`Hello, ${user.subject}`)
  })
)

const dashboard = Effect.map(
  CurrentUser.CurrentUser,
  (user) => HttpServerResponse.text(`Welcome back, ${user.subject}`)
)

const orders = Effect.gen(function*() {
  const client = (yield* UserClient.make()).pipe(HttpClient.filterStatusOk)
  const response = yield* client.execute(HttpClientRequest.get("https://api.example.com/orders"))
  return yield* HttpServerResponse.json(yield* response.json)
})

export const app = Effect.gen(function*() {
  const auth = yield* WebAuth.WebAuth
  return HttpRouter.empty.pipe(
    HttpRouter.get("/", home),
    HttpRouter.get("/dashboard", CurrentUser.requirePage(dashboard)),
    HttpRouter.get("/api/orders", CurrentUser.requireApi(orders)),
    HttpRouter.concat(auth.router)
  )
})

export const main = Effect.flatMap(app, HttpRouter.toHttpApp).pipe(
  Effect.flatMap((httpApp) => HttpServer.serveEffect(httpApp)),
  Effect.zipRight(Effect.never),
  Effect.provide(NodeHttpServer.layer(createServer, { port: 3000 })),
  Effect.provide(WebAuthLive),
  Effect.scoped
)

// --- HttpApi ------------------------------------------------------------------

export class Me extends HttpApiGroup.make("me")
  .add(HttpApiEndpoint.get("me", "/me").addSuccess(Schema.Struct({ subject: Schema.String })))
  .add(HttpApiEndpoint.get("orders", "/orders").addSuccess(Schema.Unknown))
  .middleware(CurrentUser.Authentication)
{}

export class Api extends HttpApi.make("app").add(Me) {}

export const MeLive = HttpApiBuilder.group(Api, "me", (handlers) =>
  handlers
    .handle("me", () => Effect.map(CurrentUser.CurrentUser, (user) => ({ subject: user.subject })))
    .handle("orders", () =>
      UserClient.handleErrors(Effect.gen(function*() {
        const client = (yield* UserClient.make()).pipe(HttpClient.filterStatusOk)
        const response = yield* client.execute(HttpClientRequest.get("https://api.example.com/orders"))
        return yield* response.json
      })).pipe(Effect.catchTags({ RequestError: Effect.die, ResponseError: Effect.die }))))

export const ApiLive = HttpApiBuilder.api(Api).pipe(
  Layer.provide(MeLive),
  Layer.provide(CurrentUser.layerAuthentication)
)

// --- many instances -----------------------------------------------------------

// The credentials in PostgreSQL (one renewal per session across instances,
// encrypted at rest); the sessions in a KeyValueStore every instance shares
// (here files on a shared volume; Redis or a table works the same way).
export const SharedStores = Layer.mergeAll(
  SqlTokenStore.layerPgConfig({ url: Config.redacted("DATABASE_URL") }, { tablePrefix: "app_tokens" }).pipe(
    Layer.provide(TokenCodec.layerEncryptedConfig())
  ),
  SessionStore.layerKeyValueStore.pipe(
    Layer.provide(KeyValueStore.layerFileSystem("/var/lib/app/sessions")),
    Layer.provide([NodeFileSystem.layer, NodePath.layer])
  )
)
