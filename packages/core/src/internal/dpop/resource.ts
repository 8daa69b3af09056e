/**
 * A request to a resource server with DPoP-bound credentials (RFC 9449 §7):
 * `Authorization: DPoP <token>` and a proof with `ath` and the resource
 * origin's last nonce. The answer's `DPoP-Nonce` is kept; a 401 whose
 * `WWW-Authenticate` says `DPoP error="use_dpop_nonce"` is sent once more
 * with the new nonce (no renewal: the token is fine). The `http.client` span
 * is the exchange's own (`Http.traced`: the request as the caller made it,
 * allow-listed headers, the status), not the platform's, whose exit holds the
 * request sent; a transport error names the request as the caller made it.
 * The response handed back holds the request as the caller made it (not the
 * one sent, with the token and the proof), and renders its headers with
 * `dpop` and `dpop-nonce` redacted, wherever and whenever it is logged
 * (a `ResponseError` made from it included).
 *
 * Redirects are not followed (`fetch` is told `redirect: "manual"`; other
 * clients do not follow by themselves): a proof names one URL, and a nonce
 * belongs to the origin that gave it. A 3xx is handed back; a client that
 * wants to follow wraps the `AuthorizedClient` in `HttpClient.followRedirects`,
 * and each hop is then sent with its own proof and its own origin's nonce.
 * The nonce of an answer is kept under the origin of the request that answer
 * is to (`response.request`: the last hop when a client underneath follows).
 *
 * @internal
 */
import * as Headers from "@effect/platform/Headers"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as IncomingMessage from "@effect/platform/HttpIncomingMessage"
import * as Effect from "effect/Effect"
import * as FiberRefs from "effect/FiberRefs"
import { constTrue } from "effect/Function"
import * as Inspectable from "effect/Inspectable"
import * as Redacted from "effect/Redacted"
import type { LoginRequired } from "../../AuthError.js"
import type { Credentials } from "../../Credentials.js"
import { Nonces } from "../../Dpop.js"
import * as Http from "../http.js"
import * as Binding from "./binding.js"
import * as NonceMemory from "./nonces.js"
import * as Proof from "./proof.js"

/** Whether a `WWW-Authenticate` value is a DPoP challenge with `error="use_dpop_nonce"`. @internal */
export const isNonceChallenge = (header: string | undefined): boolean =>
  header !== undefined && /(^|[\s,])DPoP\b/i.test(header) &&
  /(^|[\s,])error\s*=\s*"?use_dpop_nonce"?/i.test(header)

const redactedNames = ["dpop", "dpop-nonce"] as const

/** Headers that render (`inspect`, a logger, `toJSON`) with `dpop` and `dpop-nonce` redacted too. */
const redacting = (headers: Headers.Headers): Headers.Headers => {
  const proto = Object.create(Object.getPrototypeOf(headers), {
    [Inspectable.symbolRedactable]: {
      value(this: Headers.Headers, fiberRefs: FiberRefs.FiberRefs) {
        return Headers.redact(this, [
          ...FiberRefs.getOrDefault(fiberRefs, Headers.currentRedactedNames),
          ...redactedNames
        ])
      }
    }
  })
  return Object.assign(Object.create(proto), headers)
}

/**
 * The response as the caller may keep and log it: its `request` the one the
 * caller made (the one sent holds the token and the proof), its headers
 * rendering `dpop-nonce` redacted. Everything else (status, body, cookies)
 * is the response's own. Its rendering is its own too: the platform's
 * responses render through the response they wrap (`this.original`).
 */
const handedBack = (
  response: HttpClientResponse.HttpClientResponse,
  request: HttpClientRequest.HttpClientRequest
): HttpClientResponse.HttpClientResponse => {
  const toJSON = function(this: HttpClientResponse.HttpClientResponse) {
    const json = IncomingMessage.inspect(this, {
      _id: "@effect/platform/HttpClientResponse",
      request: request.toJSON(),
      status: this.status
    }) as { readonly headers: Headers.Headers }
    // the platform redacts only while a logger renders (`Inspectable.redact`): a nonce never renders
    return { ...json, headers: Headers.redact(json.headers, redactedNames) }
  }
  return Object.create(response, {
    request: { value: request, enumerable: true },
    headers: { get: () => redacting(response.headers), enumerable: true },
    toJSON: { value: toJSON },
    [Inspectable.NodeInspectSymbol]: { value: toJSON },
    toString: {
      value(this: HttpClientResponse.HttpClientResponse) {
        return Inspectable.format(toJSON.call(this))
      }
    }
  })
}

/** @internal */
export interface Sender {
  readonly send: (
    request: HttpClientRequest.HttpClientRequest,
    credentials: Credentials
  ) => Effect.Effect<HttpClientResponse.HttpClientResponse, HttpClientError.HttpClientError | LoginRequired>
}

/** @internal */
export const make = (client: HttpClient.HttpClient): Sender => {
  // the token of the last request and its `ath`: the next requests with the same token reuse it
  let last: { readonly token: string; readonly ath: string } | undefined

  const athOf = (token: Redacted.Redacted<string>): Effect.Effect<string> => {
    const value = Redacted.value(token)
    if (last !== undefined && last.token === value) return Effect.succeed(last.ath)
    return Effect.map(Proof.accessTokenHash(token), (ath) => {
      last = { token: value, ath }
      return ath
    })
  }

  const send: Sender["send"] = (request, credentials) =>
    Effect.gen(function*() {
      const key = credentials.dpop
      if (key === undefined) {
        return yield* Binding.missing("the credentials are DPoP-bound and no DPoP key is stored with them")
      }
      const signer = yield* Binding.signerOf(key)
      if (!URL.canParse(request.url)) {
        return yield* new HttpClientError.RequestError({
          request,
          reason: "InvalidUrl",
          description: "a DPoP proof needs the request's absolute URL"
        })
      }
      const url = new URL(request.url)
      const origin = url.origin
      const ath = yield* athOf(credentials.accessToken)
      const nonces = yield* Nonces
      const authorization = `DPoP ${Redacted.value(credentials.accessToken)}`
      const once = (nonce: string | undefined) =>
        Effect.flatMap(Proof.sign(signer, { method: request.method, url, nonce, ath }), (proof) =>
          // the platform's span would end with the request sent (the token, the proof): this one
          // records the request as the caller made it, and the status
          Http.traced(request, (traceHeaders) =>
            client.execute(
              HttpClientRequest.setHeaders(request, {
                ...traceHeaders,
                authorization,
                dpop: Redacted.value(proof)
              })
            ).pipe(
              Effect.locally(HttpClient.currentTracerDisabledWhen, constTrue),
              Http.withoutRedirects,
              // the origin that answered: the request's, unless a client underneath followed a redirect
              Effect.tap((response) =>
                NonceMemory.observe(nonces, NonceMemory.originOf(response.request.url) ?? origin, response.headers)
              ),
              // a failure names the request as the caller made it: no token, no proof
              Effect.mapError((error) =>
                error._tag === "RequestError" ? new HttpClientError.RequestError({ ...error, request }) : error
              )
            )))
      const used = nonces.get(origin)
      const response = yield* once(used)
      if (response.status !== 401 || !isNonceChallenge(response.headers["www-authenticate"])) {
        return handedBack(response, request)
      }
      const fresh = nonces.get(origin)
      return handedBack(fresh === undefined || fresh === used ? response : yield* once(fresh), request)
    }).pipe(Effect.locallyWith(Headers.currentRedactedNames, (names) => [...names, ...redactedNames]))

  return { send }
}
