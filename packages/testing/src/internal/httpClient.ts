/**
 * The in-memory transport: an `HttpClient` whose requests run through the
 * emulator in the caller's fiber, so the caller's `Clock` is the emulator's
 * time. No sockets; only the path and query of the URL route a request (its
 * host and scheme are passed on, for the `htu` of a DPoP proof).
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientError from "@effect/platform/HttpClientError"
import type * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import type * as Emulator from "../Emulator.js"

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

// statuses whose response must not have a body (the `Response` constructor throws on one)
const nullBodyStatuses: ReadonlySet<number> = new Set([204, 205, 304])

/** @internal */
export const toHttpClient = (emulator: Emulator.Emulator.Service): HttpClient.HttpClient =>
  HttpClient.make((request, url) =>
    Effect.gen(function*() {
      const body = yield* readBody(request)
      const contentType = contentTypeOf(request)
      const headers: Record<string, string> = { ...request.headers }
      if (contentType !== undefined && headers["content-type"] === undefined) headers["content-type"] = contentType
      // where the request was sent, as a socket would say it: a DPoP proof's `htu` is checked against it
      headers["host"] ??= url.host
      headers["x-forwarded-proto"] ??= url.protocol.replace(/:$/, "")
      const output = yield* emulator.serve({ method: request.method, path: url.pathname + url.search, headers, body })
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
          const nullBody = output.body === "" || nullBodyStatuses.has(output.status)
          return HttpClientResponse.fromWeb(
            request,
            new Response(nullBody ? null : output.body, { status: output.status, headers: output.headers })
          )
        }
      }
    })
  )
