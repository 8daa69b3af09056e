/**
 * The loopback redirect of a native app (RFC 8252 §7.3, §8.3): one callback
 * served on the loopback interface through the platform's `HttpServer`, at
 * `http://127.0.0.1:<port>/callback`.
 *
 * Only a `GET` of that path with this login's `state` is the callback; every
 * other request (a favicon, a stray or forged one) gets a 4xx and the wait
 * goes on. `open` runs beside the wait, within the timeout: one that never
 * returns holds nothing; one that fails ends the wait (`Configuration`),
 * since it is the only way the URL reaches the person. The code is exchanged on the caller's fiber, not the request's (a
 * browser that goes away does not interrupt it); the browser gets a short page
 * that says whether the login worked, and nothing else. The wait for the
 * callback is bounded by `timeout`; the app is removed from the server when
 * the login ends.
 *
 * @internal
 */
import * as HttpServer from "@effect/platform/HttpServer"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as FiberId from "effect/FiberId"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import { LoginFailed } from "../../AuthError.js"
import type { Credentials } from "../../Credentials.js"
import type * as Login from "../../Login.js"
import type * as Authorize from "./authorize.js"
import { equalSecrets } from "./pkce.js"

/** @internal */
export type Options = Login.LoopbackOptions

/** What the loopback needs of the `Login` service. @internal */
export interface Flows<P extends Authorize.Pending> {
  readonly authorize: (
    options: Authorize.Options
  ) => Effect.Effect<{ readonly url: string; readonly pending: P }, LoginFailed>
  readonly complete: (pending: P, callbackUrl: string | URL) => Effect.Effect<Credentials, LoginFailed>
}

/** @internal */
export const defaultTimeout = Duration.minutes(5)

/** @internal */
export const callbackPath = "/callback"

const headers = {
  "cache-control": "no-store",
  "content-security-policy": "default-src 'none'",
  "referrer-policy": "no-referrer",
  "x-content-type-options": "nosniff"
}

const page = (title: string, text: string) =>
  HttpServerResponse.html(
    `<!doctype html><html><head><meta charset="utf-8"><title>${title}</title></head>` +
      `<body><h1>${title}</h1><p>${text}</p></body></html>`
  ).pipe(HttpServerResponse.setHeaders(headers))

const refused = (status: number, text: string) => HttpServerResponse.text(text, { status, headers })

/** The page after the callback: whether it worked, and the failure's reason (a fixed word), nothing else. */
const outcomePage = (exit: Exit.Exit<Credentials, LoginFailed>) =>
  Exit.isSuccess(exit)
    ? page("Logged in", "You are logged in. You can close this window.")
    : page(
      "Login failed",
      `The login failed (${
        Option.match(Cause.failureOption(exit.cause), { onNone: () => "interrupted", onSome: (error) => error.reason })
      }). You can close this window and try again.`
    )

const configuration = (description: string) => new LoginFailed({ reason: "Configuration", description })

/** @internal */
export const loopback = <P extends Authorize.Pending>(
  flows: Flows<P>,
  options: Options
): Effect.Effect<Credentials, LoginFailed, HttpServer.HttpServer> =>
  Effect.scoped(Effect.gen(function*() {
    const timeout = Option.getOrUndefined(Duration.decodeUnknown(options.timeout ?? defaultTimeout))
    if (timeout === undefined || !Duration.isFinite(timeout) || Duration.lessThanOrEqualTo(timeout, Duration.zero)) {
      return yield* configuration("the loopback timeout must be a positive, finite duration")
    }
    const server = yield* HttpServer.HttpServer
    const address = server.address
    if (address._tag !== "TcpAddress" || !(address.hostname === "127.0.0.1" || address.hostname === "::1")) {
      return yield* configuration(
        "the HttpServer of a loopback login must listen on 127.0.0.1 (or ::1) only (RFC 8252 §8.3)"
      )
    }
    const host = address.hostname === "::1" ? "[::1]" : address.hostname
    const redirectUri = `http://${host}:${address.port}${callbackPath}`
    const { pending, url } = yield* flows.authorize({
      redirectUri,
      scope: options.scope,
      audience: options.audience,
      parameters: options.parameters,
      prompt: options.prompt,
      loginHint: options.loginHint,
      dpop: options.dpop
    })

    const callback = yield* Deferred.make<URL>()
    const outcome = yield* Deferred.make<Exit.Exit<Credentials, LoginFailed>>()
    // a caller interrupted during the exchange still answers the browser
    yield* Effect.addFinalizer(() => Deferred.succeed(outcome, Exit.interrupt(FiberId.none)))
    const app = Effect.gen(function*() {
      const request = yield* HttpServerRequest.HttpServerRequest
      const requested = URL.canParse(request.url, redirectUri) ? new URL(request.url, redirectUri) : undefined
      if (request.method !== "GET" || requested === undefined || requested.pathname !== callbackPath) {
        return refused(404, "Not found.")
      }
      const state = requested.searchParams.get("state")
      if (state === null || !equalSecrets(state, Redacted.value(pending.state))) {
        return refused(400, "This is not the callback of the login in progress.")
      }
      // the first callback is the one: a replay of the same URL is told so
      if (!(yield* Deferred.succeed(callback, requested))) {
        return refused(409, "This login has already been completed.")
      }
      return outcomePage(yield* Deferred.await(outcome))
    })
    yield* server.serve(app)
    // `open` runs beside the wait and within the timeout (one that waits for
    // the browser to exit, or never returns, does not hold the login); it is
    // the only way the URL reaches the person: its failure ends the wait
    const opening = yield* Effect.forkScoped(Effect.exit(options.open(url)))
    const openFailed = Effect.flatMap(
      Fiber.join(opening),
      (exit) =>
        Exit.isSuccess(exit)
          ? Effect.never
          : Effect.fail(configuration("open failed: the authorization URL could not be shown"))
    )

    const received = yield* Effect.raceFirst(Deferred.await(callback), openFailed).pipe(
      Effect.timeoutFail({
        duration: timeout,
        onTimeout: () =>
          new LoginFailed({
            reason: "Timeout",
            description: `no callback reached the loopback redirect within ${Duration.format(timeout)}`
          })
      })
    )
    const exit = yield* Effect.exit(flows.complete(pending, received))
    yield* Deferred.succeed(outcome, exit)
    return yield* exit
  }))
