/**
 * What the routes and the middleware answer when they cannot go on: a short
 * page for a browser, JSON for an API, with a fixed message (never a token,
 * a code, a state, an error's cause or a stack trace), and headers that keep
 * them out of caches and frames.
 *
 * @internal
 */
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"

/** The headers of every answer of the routes. @internal */
export const securityHeaders = {
  "cache-control": "no-store",
  "referrer-policy": "no-referrer",
  "x-content-type-options": "nosniff"
} as const

const escapeHtml = (text: string): string =>
  text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;").replace(
    /'/g,
    "&#39;"
  )

/** A page: a title, a sentence, and a link to start again. @internal */
export const page = (status: number, title: string, text: string, link?: { href: string; label: string }) =>
  HttpServerResponse.text(
    `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head>` +
      `<body><h1>${escapeHtml(title)}</h1><p>${escapeHtml(text)}</p>` +
      (link === undefined ? "" : `<p><a href="${escapeHtml(link.href)}">${escapeHtml(link.label)}</a></p>`) +
      `</body></html>`,
    { status, contentType: "text/html; charset=utf-8" }
  ).pipe(
    HttpServerResponse.setHeaders({ ...securityHeaders, "content-security-policy": "default-src 'none'" })
  )

/** A JSON error: `{ error, message }`. @internal */
export const json = (status: number, error: string, message: string) =>
  HttpServerResponse.unsafeJson({ error, message }, { status, headers: securityHeaders })

/** A redirect that no cache keeps. @internal */
export const redirect = (location: string, status: 302 | 303 = 302) =>
  HttpServerResponse.redirect(location, { status, headers: securityHeaders })

/** How long a client should wait after a 503. @internal */
export const retryAfterSeconds = 5
