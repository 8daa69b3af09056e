/**
 * 1. A device-flow login (RFC 8628), as a CLI does it: `Login.device`
 * prints where to go and the user code, the person approves elsewhere, the
 * polling gets the credentials; the application saves them, and the
 * `Renewer` keeps them valid.
 */
import * as Login from "@effect-renewal/core/Login"
import * as Emulator from "@effect-renewal/testing/Emulator"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { say } from "../Narrator.js"
import { counters, describeTokens, provideLogin, seconds, since, type Story } from "../Stage.js"
import { afterLogin, type Person } from "./afterLogin.js"

const key = "grace-device"
const person: Person = { name: "Grace", username: "grace", email: "grace@example.org" }
/** How long the person takes to type the code in. */
const approvesAfter = Duration.millis(1500)

export const deviceLogin: Story = {
  title: "Device-flow login, as a CLI does it",
  name: "device login",
  expected: "id_token verified, renewed with rotation",
  run: (check) =>
    provideLogin(Effect.gen(function*() {
      const login = yield* Login.Login
      const emulator = yield* Emulator.Emulator
      const before = yield* counters
      const authorization = yield* login.device({ scope: "openid profile email offline_access" })
      const expiresIn = Duration.millis(
        DateTime.toEpochMillis(authorization.expiresAt) - DateTime.toEpochMillis(yield* DateTime.now)
      )
      // A user code is not a token: it is made to be shown (the device code stays in memory).
      yield* say(
        `   login.device() started; the CLI prints:`,
        `     To log in, open ${authorization.verificationUri} and enter the code ${authorization.userCode}`,
        `   (the code lives ${
          Duration.format(Duration.seconds(Math.round(Duration.toSeconds(expiresIn))))
        }; the CLI polls every ${Duration.format(authorization.interval)}).`
      )

      // The person approves on another device, in a fiber of their own.
      const approve = Effect.sleep(approvesAfter).pipe(
        Effect.zipRight(emulator.approveDevice(authorization.userCode, person)),
        Effect.zipRight(
          say(
            `   ... ${
              seconds(approvesAfter)
            } later, ${person.name} enters the code and approves (emulator.approveDevice).`
          )
        )
      )
      const start = yield* DateTime.now
      const [credentials] = yield* Effect.all([authorization.credentials, approve], { concurrency: 2 })
      const took = yield* since(start)
      const after = yield* counters
      const polls = after.devicePolls - before.devicePolls
      yield* say(
        `   authorization.credentials completed after ${seconds(took)} and ${polls} polls: ${
          describeTokens(credentials)
        }.`
      )
      yield* check(
        after.deviceAuthorizations - before.deviceAuthorizations === 1 && polls >= 1,
        `one POST /oauth/device/code, then ${polls} polls of the token endpoint`
      )
      return yield* afterLogin(check, { key, person, credentials, before, after })
    }))
}
