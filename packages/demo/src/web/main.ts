/**
 * `pnpm demo:web`: the web demo on loopback (the emulator with its login
 * page, a protected API, the web application), until Ctrl-C.
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Server from "./server.js"

const port = process.env["PORT"] === undefined ? undefined : Number(process.env["PORT"])

Effect.gen(function*() {
  const demo = yield* Server.start({ port })
  yield* Console.log(`effect-renewal web demo

  Open ${demo.appUrl}/ and log in with any username (the emulator's login page).
  Access tokens live 1 minute: reload after that and the page still shows your
  orders (the server renewed your token; your browser never held it).

  emulator (the provider): ${demo.emulatorUrl}
  protected API:           ${demo.apiUrl}/orders

Ctrl-C to stop.`)
  return yield* Effect.never
}).pipe(Effect.scoped, NodeRuntime.runMain)
