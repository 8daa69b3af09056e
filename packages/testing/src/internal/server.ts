/**
 * The loopback transport: a `node:http` server that runs each request through
 * the emulator with the runtime of whoever served it, until its scope closes.
 */
import * as Effect from "effect/Effect"
import * as FiberSet from "effect/FiberSet"
import type * as Scope from "effect/Scope"
import * as Http from "node:http"
import type * as Emulator from "../Emulator.js"
import * as LoginPage from "./loginPage.js"
import * as Protocol from "./protocol.js"

const headersOf = (request: Http.IncomingMessage): Record<string, string> => {
  const headers: Record<string, string> = {}
  for (const [name, value] of Object.entries(request.headers)) {
    if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(", ") : value
  }
  return headers
}

const portOf = (server: Http.Server): number => {
  const address = server.address()
  return typeof address === "object" && address !== null ? address.port : 0
}

/** Where to listen. @internal */
export interface ListenOptions {
  readonly port?: number | undefined
  readonly host?: string | undefined
  /** The HTML login and consent pages at `/authorize` (see `loginPage.ts`). */
  readonly loginPage?: boolean | undefined
}

/** The emulator's handler, behind the login pages when asked. */
const handlerOf = (emulator: Emulator.Emulator.Service, options: ListenOptions | undefined) =>
  options?.loginPage === true ? LoginPage.make(emulator) : emulator.serve

/** @internal */
export const serve = (
  emulator: Emulator.Emulator.Service,
  options?: ListenOptions
): Effect.Effect<Emulator.EmulatorServer.Service, never, Scope.Scope> => listen(handlerOf(emulator, options), options)

/**
 * Serves requests with `handler` until the scope closes. The handler may be
 * made after the server listens (an emulator whose issuer is the server's
 * URL).
 *
 * @internal
 */
export const listen = (
  handler: (request: Emulator.EmulatorRequest) => Effect.Effect<Emulator.EmulatorOutput>,
  options?: ListenOptions
): Effect.Effect<Emulator.EmulatorServer.Service, never, Scope.Scope> =>
  Effect.gen(function*() {
    const host = options?.host ?? "127.0.0.1"
    const run = yield* FiberSet.makeRuntime<never, Emulator.EmulatorOutput, never>()
    const listener: Http.RequestListener = (req, res) => {
      const chunks: Array<Buffer> = []
      req.on("data", (chunk: Buffer) => chunks.push(chunk))
      req.on("error", () => req.socket.destroy())
      req.on("end", () => {
        const fiber = run(
          handler({
            method: req.method ?? "GET",
            // the request target as sent (`new URL` would read `//x` as a host)
            path: req.url ?? "/",
            headers: headersOf(req),
            body: Buffer.concat(chunks).toString("utf8")
          })
        )
        // a client that goes away stops the wait for a delayed or hung answer
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
    }
    const server = yield* Effect.acquireRelease(
      Effect.async<Http.Server>((resume) => {
        const server = Http.createServer(listener)
        server.once("error", (error) => resume(Effect.die(error)))
        server.listen(options?.port ?? 0, host, () => resume(Effect.succeed(server)))
      }),
      (server) =>
        Effect.async<void>((resume) => {
          server.close(() => resume(Effect.void))
          // hung connections would keep `close` waiting forever
          server.closeAllConnections()
        })
    )
    return { url: `http://${host.includes(":") ? `[${host}]` : host}:${portOf(server)}`, port: portOf(server) }
  })

/**
 * Listens first, then builds the emulator with the server's URL (`issuer`,
 * ending in `/`), so that its issuer can be where it is served. A request
 * arriving before the emulator is built (none can know the port yet) is a 503.
 *
 * @internal
 */
export const listenThenMake = (
  make: (issuer: string) => Effect.Effect<Emulator.Emulator.Service>,
  options?: ListenOptions
): Effect.Effect<
  readonly [Emulator.Emulator.Service, Emulator.EmulatorServer.Service],
  never,
  Scope.Scope
> =>
  Effect.gen(function*() {
    let handler: ((request: Emulator.EmulatorRequest) => Effect.Effect<Emulator.EmulatorOutput>) | undefined
    const server = yield* listen(
      (request) => handler === undefined ? Effect.succeed(Protocol.empty(503)) : handler(request),
      options
    )
    const emulator = yield* make(`${server.url}/`)
    handler = handlerOf(emulator, options)
    return [emulator, server] as const
  })
