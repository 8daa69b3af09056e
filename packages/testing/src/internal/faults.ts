/**
 * Scripted faults: their constructors, the queue they wait in, and what a
 * faulted request answers. Every fault but `Latency` answers in place of the
 * model, so it changes no state.
 */
import * as Arr from "effect/Array"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Emulator from "../Emulator.js"
import * as Protocol from "./protocol.js"

const FaultData = Data.taggedEnum<Emulator.Fault>()

const defaultError = (status: number): string =>
  status === 429
    ? "too_many_requests"
    : status === 503
    ? "temporarily_unavailable"
    : status >= 500
    ? "server_error"
    : "invalid_request"

/** @internal */
export const Fault: typeof Emulator.Fault = {
  status: (status, options) =>
    FaultData.Status({
      status,
      error: options?.error ?? defaultError(status),
      description: options?.description ?? `Emulated fault: HTTP ${status}.`,
      format: options?.format ?? "oauth",
      retryAfter: options?.retryAfter === undefined ? undefined : String(options.retryAfter)
    }),
  latency: (duration) => FaultData.Latency({ duration: Duration.decode(duration) }),
  hang: () => FaultData.Hang(),
  reset: () => FaultData.Reset(),
  html: (status) => FaultData.Html({ status }),
  body: (status, body, contentType) => FaultData.Body({ status, body, contentType }),
  errorIn200: (error, description, format) => FaultData.ErrorIn200({ error, description, format: format ?? "oauth" }),
  $is: FaultData.$is
}

// -----------------------------------------------------------------------------
// The queue
// -----------------------------------------------------------------------------

/** A fault waiting for a request; `endpoint` `undefined` matches any. @internal */
export interface Queued {
  readonly endpoint: Emulator.Endpoint | undefined
  readonly fault: Emulator.Fault
}

/** @internal */
export const enqueue = (
  queue: ReadonlyArray<Queued>,
  endpoint: Emulator.Endpoint | undefined,
  faults: ReadonlyArray<Emulator.Fault>
): ReadonlyArray<Queued> => [...queue, ...faults.map((fault) => ({ endpoint, fault }))]

/** The first fault queued for this endpoint (or for any), removed from the queue. @internal */
export const take = (
  queue: ReadonlyArray<Queued>,
  endpoint: Emulator.Endpoint | "other"
): readonly [Emulator.Fault | undefined, ReadonlyArray<Queued>] => {
  const index = queue.findIndex((queued) => queued.endpoint === undefined || queued.endpoint === endpoint)
  return index < 0 ? [undefined, queue] : [queue[index]!.fault, Arr.remove(queue, index)]
}

// -----------------------------------------------------------------------------
// Outputs
// -----------------------------------------------------------------------------

const statusTexts: Readonly<Record<number, string>> = {
  400: "Bad Request",
  403: "Forbidden",
  404: "Not Found",
  429: "Too Many Requests",
  500: "Internal Server Error",
  502: "Bad Gateway",
  503: "Service Unavailable",
  504: "Gateway Timeout"
}

const escapeHtml = (text: string): string => text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")

const html = (status: number): Protocol.Response => {
  const title = escapeHtml(`${status} ${statusTexts[status] ?? "Error"}`)
  return {
    _tag: "Response",
    status,
    headers: { "content-type": "text/html; charset=utf-8" },
    body: `<!DOCTYPE html>\n<html><head><title>${title}</title></head>` +
      `<body><center><h1>${title}</h1></center><hr><center>emulated proxy</center></body></html>\n`
  }
}

/**
 * What a request answers under a fault: the model's response (`model`, run
 * only without a fault or under `Latency`, then with the delay attached), or
 * the fault's own output.
 *
 * @internal
 */
export const apply = <R>(
  fault: Emulator.Fault | undefined,
  model: Effect.Effect<Protocol.Response, never, R>
): Effect.Effect<Emulator.EmulatorOutput, never, R> => {
  if (fault === undefined) return model
  switch (fault._tag) {
    case "Latency":
      return Effect.map(model, (response) => ({ ...response, delay: fault.duration }))
    case "Status":
      return Effect.succeed(Protocol.json(
        fault.status,
        Protocol.errorBody(fault.format, fault.error, fault.description),
        fault.retryAfter === undefined ? undefined : { "retry-after": fault.retryAfter }
      ))
    case "ErrorIn200":
      return Effect.succeed(Protocol.json(200, Protocol.errorBody(fault.format, fault.error, fault.description)))
    case "Html":
      return Effect.succeed(html(fault.status))
    case "Body":
      return Effect.succeed({
        _tag: "Response",
        status: fault.status,
        headers: { "content-type": fault.contentType ?? "application/json" },
        body: fault.body
      })
    case "Hang":
      return Effect.succeed({ _tag: "Hang" })
    case "Reset":
      return Effect.succeed({ _tag: "Reset" })
  }
}

/** Waits out the delay of a `Latency` fault, in the caller's `Clock`, before a transport serves the output. @internal */
export const settle = (output: Emulator.EmulatorOutput): Effect.Effect<Emulator.EmulatorOutput> =>
  output._tag === "Response" && output.delay !== undefined
    ? Effect.as(Effect.sleep(output.delay), output)
    : Effect.succeed(output)
