/**
 * A raw HTTP server on 127.0.0.1, for answers the emulator cannot give (a
 * malformed body, an echo of what was sent, a reset): `behaviour` answers
 * each request (or not). Closed with the scope; gives its base URL.
 */
import * as Effect from "effect/Effect"
import * as Http from "node:http"
import type { AddressInfo } from "node:net"

export interface Received {
  readonly url: string
  readonly headers: Http.IncomingHttpHeaders
  readonly body: string
}

export type Behaviour = (received: Received, response: Http.ServerResponse) => void

export const rawServer = (behaviour: () => Behaviour) =>
  Effect.acquireRelease(
    Effect.async<Http.Server>((resume) => {
      const server = Http.createServer((request, response) => {
        const chunks: Array<Buffer> = []
        request.on("data", (chunk: Buffer) => chunks.push(chunk))
        request.on("end", () =>
          behaviour()({
            url: request.url ?? "",
            headers: request.headers,
            body: Buffer.concat(chunks).toString("utf8")
          }, response))
      })
      server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
    }),
    (server) =>
      Effect.async<void>((resume) => {
        server.closeAllConnections()
        server.close(() => resume(Effect.void))
      })
  ).pipe(Effect.map((server) => `http://127.0.0.1:${(server.address() as AddressInfo).port}`))
