/**
 * The demo's web application: one page that greets the person and shows
 * their orders from the protected API (called with their token, on the
 * server), a login button and a logout button; `/account`, a page only for
 * the logged in; and the login routes of `WebAuth`.
 */
import * as CurrentUser from "@effect-renewal/web/CurrentUser"
import * as UserClient from "@effect-renewal/web/UserClient"
import * as WebAuth from "@effect-renewal/web/WebAuth"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"

const escapeHtml = (text: string): string =>
  text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;")

const page = (body: string) =>
  HttpServerResponse.text(
    `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>effect-renewal web demo</title>` +
      `<style>body{font-family:sans-serif;max-width:40rem;margin:3rem auto}` +
      `button,a.button{font-size:1rem;padding:.4rem .8rem}</style></head><body>${body}</body></html>`,
    {
      contentType: "text/html; charset=utf-8",
      headers: {
        "cache-control": "no-store",
        "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'"
      }
    }
  )

const anonymous = page(
  `<h1 id="greeting-anonymous">Welcome</h1><p>You are not logged in.</p>` +
    `<p><a class="button" id="login" href="/login?returnTo=%2F">Log in</a></p>`
)

/** The orders, fetched from the API with the current person's token. */
const orders = (apiUrl: string) =>
  Effect.gen(function*() {
    const client = (yield* UserClient.make()).pipe(
      HttpClient.mapRequest(HttpClientRequest.prependUrl(apiUrl)),
      HttpClient.filterStatusOk
    )
    const response = yield* client.execute(HttpClientRequest.get("/orders"))
    return (yield* response.json) as { readonly user: string; readonly orders: ReadonlyArray<unknown> }
  })

const signedIn = (apiUrl: string, title: string) =>
  Effect.gen(function*() {
    const user = yield* CurrentUser.CurrentUser
    const data = yield* orders(apiUrl).pipe(
      // the API's own trouble is shown on the page; a renewal's failure goes to the middleware
      Effect.catchTags({
        RequestError: () => Effect.succeed(undefined),
        ResponseError: () => Effect.succeed(undefined)
      })
    )
    const name = typeof user.claims.name === "string" ? user.claims.name : user.subject
    return page(
      `<h1 id="greeting">Hello, ${escapeHtml(name)}</h1><p>${escapeHtml(title)}</p>` +
        `<h2>Your orders, from the protected API</h2>` +
        (data === undefined
          ? `<p id="data-error">The API could not be reached.</p>`
          : `<pre id="data">${escapeHtml(JSON.stringify(data, null, 2))}</pre>`) +
        `<p><a href="/account">Your account</a> · <a href="/">Home</a></p>` +
        `<form method="post" action="/logout"><button type="submit" id="logout">Log out</button></form>`
    )
  })

/** The app's router: the pages, and the login routes of the `WebAuth` in context. */
export const router = (apiUrl: string) =>
  Effect.map(WebAuth.WebAuth, (auth) =>
    HttpRouter.empty.pipe(
      HttpRouter.get(
        "/",
        Effect.flatMap(CurrentUser.optional, (user) =>
          Option.isNone(user)
            ? Effect.succeed(anonymous)
            : CurrentUser.requirePage(signedIn(apiUrl, "You are logged in; your tokens stay on the server.")))
      ),
      HttpRouter.get("/account", CurrentUser.requirePage(signedIn(apiUrl, "This page is only for the logged in."))),
      HttpRouter.concat(auth.router)
    ))
