/**
 * The emulator's pages for a browser (`layerServer({ loginPage: true })`): at
 * `GET /authorize` a login page (a username field and a button), then a
 * consent page (Allow / Deny), then the redirect back to the client with a
 * code (or `access_denied`). The username typed becomes the `sub` of the
 * tokens. There is no password: anyone reaching the emulator logs in as
 * anyone, which is what a test or a demo needs and why the emulator is
 * never a real provider.
 *
 * The pages only collect the decision: the last step scripts it
 * (`approveNext` / `denyNext`) and runs the original `/authorize` request
 * through the emulator, under a lock, so that two browsers deciding at once
 * each get their own decision, and every check, code and counter is the
 * emulator's own. A request `/authorize` refuses (unknown client, no PKCE)
 * is answered by the emulator as without the pages.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import type * as Emulator from "../Emulator.js"
import * as Authorize from "./authorize.js"
import * as Protocol from "./protocol.js"

/** The paths of the page's forms. @internal */
export const paths = { login: "/authorize/login", consent: "/authorize/consent" } as const

const usernamePattern = /^[A-Za-z0-9._@+-]{1,64}$/

const escapeHtml = (text: string): string =>
  text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;").replace(
    /'/g,
    "&#39;"
  )

const headers = {
  "content-type": "text/html; charset=utf-8",
  "cache-control": "no-store",
  // no form-action: Chromium applies it to the redirect back to the client, on another origin
  "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'",
  "x-frame-options": "DENY",
  "referrer-policy": "no-referrer"
}

const html = (status: number, title: string, body: string): Protocol.Response => ({
  _tag: "Response",
  status,
  headers,
  body: `<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>` +
    `<style>body{font-family:sans-serif;max-width:28rem;margin:3rem auto}input,button{font-size:1rem;padding:.4rem}</style>` +
    `</head><body><h1>${escapeHtml(title)}</h1>${body}</body></html>\n`
})

const hidden = (name: string, value: string) =>
  `<input type="hidden" name="${escapeHtml(name)}" value="${escapeHtml(value)}">`

const loginPage = (query: string, clientId: string, problem?: string) =>
  html(
    problem === undefined ? 200 : 400,
    "Log in to the emulator",
    `<p>Log in to continue to <strong>${escapeHtml(clientId)}</strong>. Any username works: it becomes the ` +
      `<code>sub</code> of the tokens.</p>` +
      (problem === undefined ? "" : `<p role="alert">${escapeHtml(problem)}</p>`) +
      `<form method="post" action="${paths.login}">${hidden("query", query)}` +
      `<label for="username">Username</label> ` +
      `<input id="username" name="username" autocomplete="username" required autofocus ` +
      `pattern="[A-Za-z0-9._@+\\-]{1,64}"> <button type="submit" id="login">Log in</button></form>`
  )

const consentPage = (query: string, clientId: string, username: string, scope: string) =>
  html(
    200,
    "Allow access?",
    `<p><strong>${escapeHtml(clientId)}</strong> asks to act for <strong id="user">${escapeHtml(username)}</strong>, ` +
      `with the scope <code>${escapeHtml(scope)}</code>.</p>` +
      `<form method="post" action="${paths.consent}">${hidden("query", query)}${hidden("username", username)}` +
      `<button type="submit" name="decision" value="allow" id="allow">Allow</button> ` +
      `<button type="submit" name="decision" value="deny" id="deny">Deny</button></form>`
  )

const formOf = (request: Emulator.EmulatorRequest): Protocol.Params => {
  const params: Record<string, string> = {}
  for (const [key, value] of new URLSearchParams(request.body)) if (!(key in params)) params[key] = value
  return params
}

const queryOf = (path: string): string => {
  const index = path.indexOf("?")
  return index < 0 ? "" : path.slice(index + 1)
}

const pathOf = (path: string): string => {
  const index = path.indexOf("?")
  return (index < 0 ? path : path.slice(0, index)).replace(/\/{2,}/g, "/")
}

/**
 * The emulator's handler with the pages in front of `/authorize`: requests
 * to any other path go to the emulator unchanged.
 *
 * @internal
 */
export const make = (emulator: Emulator.Emulator.Service) => {
  const lock = Effect.unsafeMakeSemaphore(1)
  // what `/authorize` reads of the request: a request it refuses goes to it as is
  const readAuthorize = (query: string) =>
    Authorize.read({ clientId: emulator.clientId }, Object.fromEntries(new URLSearchParams(query)))

  const decide = (query: string, decision: Effect.Effect<void>) =>
    lock.withPermits(1)(
      Effect.zipRight(decision, emulator.serve({ method: "GET", path: `/authorize?${query}`, headers: {}, body: "" }))
    )

  return (request: Emulator.EmulatorRequest): Effect.Effect<Emulator.EmulatorOutput> => {
    const path = pathOf(request.path)
    const method = request.method.toUpperCase()
    if (path === "/authorize" && method === "GET") {
      const query = queryOf(request.path)
      return readAuthorize(query)._tag === "Request"
        ? Effect.succeed(loginPage(query, emulator.clientId))
        : emulator.serve(request)
    }
    if ((path === paths.login || path === paths.consent) && method === "POST") {
      const form = formOf(request)
      const query = form["query"] ?? ""
      const read = readAuthorize(query)
      if (read._tag !== "Request") {
        return Effect.succeed(Protocol.page(400, "Invalid authorization request", "Start the login again."))
      }
      const username = form["username"] ?? ""
      if (!usernamePattern.test(username)) {
        return Effect.succeed(
          loginPage(query, emulator.clientId, "A username is 1 to 64 letters, digits or . _ @ + -")
        )
      }
      if (path === paths.login) return Effect.succeed(consentPage(query, emulator.clientId, username, read.scope))
      return form["decision"] === "allow"
        ? decide(query, emulator.approveNext({ username }))
        : decide(query, emulator.denyNext())
    }
    return emulator.serve(request)
  }
}
