import * as RenewalStrategy from "@effect-renewal/core/RenewalStrategy"
import { describe, expect, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Narrator from "../src/Narrator.js"
import * as Program from "../src/program.js"
import { logIn, type Story, withRenewer } from "../src/Stage.js"

// Runs `effect` with the demo's layers, capturing what it prints.
const capture = <A, E>(effect: Effect.Effect<A, E, Program.Requirements>) =>
  Effect.gen(function*() {
    const lines: Array<string> = []
    const exit = yield* effect.pipe(
      Effect.provide(Program.layer),
      Effect.provide(Narrator.layer((line) => Effect.sync(() => void lines.push(line)))),
      Effect.exit
    )
    return { exit, lines, output: lines.join("\n") }
  })

// What a token printed by mistake would look like: a JWT, or a long base64url word.
const tokenLike = (output: string): ReadonlyArray<string> => [
  ...(output.match(/eyJ[\w-]{8,}\.[\w-]{8,}/g) ?? []),
  ...output.split(/[^A-Za-z0-9_-]+/).filter((word) => word.length >= 32 && /[A-Za-z0-9]/.test(word))
]

describe("pnpm demo", () => {
  it.live("every story behaves as described, and no token is printed", () =>
    Effect.gen(function*() {
      const { exit, lines, output } = yield* capture(Program.program)
      // on failure, the reasons (which story, which check) are in the message
      expect(Exit.isFailure(exit) ? Cause.pretty(exit.cause) : "success").toBe("success")
      const report = Exit.isSuccess(exit) ? exit.value : undefined
      expect(report?.rows.map((row) => [row.story, row.ok, row.failures])).toEqual([
        ["1 device login", true, []],
        ["2 loopback login", true, []],
        ["3 rotation", true, []],
        ["4 delegation", true, []],
        ["5 single flight", true, []],
        ["6 transient faults", true, []],
        ["7 revoked", true, []],
        ["8 API credentials", true, []],
        ["9 many processes", true, []],
        ["10 many users", true, []],
        ["11 dpop", true, []]
      ])
      // The self-check compared the output with every token issued or seen.
      expect(report?.leakingLines).toEqual([])
      expect(report?.tokenValues).toBeGreaterThanOrEqual(20)
      expect(tokenLike(output)).toEqual([])
      // The client was found by discovery from the emulator's issuer, its own loopback URL.
      expect(output).toMatch(/AuthenticationClient\.layerDiscovery\(\{ issuer: "http:\/\/127\.0\.0\.1:\d+\/" \}\)/)
      // The logins: the user code is shown as a CLI shows it; no redirect's code or state is.
      expect(output).toMatch(
        /To log in, open http:\/\/127\.0\.0\.1:\d+\/activate and enter the code [A-Z]{4}-[A-Z]{4}\n/
      )
      expect(output).not.toMatch(/[?&](code|state|nonce|code_challenge)=/)
      expect(lines.at(-1)).toBe("All stories behaved as described.")
      expect(output).toMatch(
        /Self-check: none of the \d+ secrets issued or seen \(tokens, device and authorization codes, store key\) appears in the \d+ lines printed\./
      )
    }), 120_000)

  it.live("a story that does not behave, or prints a token, fails the demo", () =>
    Effect.gen(function*() {
      const failing: Story = {
        title: "A check that does not hold",
        name: "failing",
        expected: "a failed check",
        run: (check) => Effect.as(check(false, "two plus two is five"), "observed")
      }
      const throwing: Story = {
        title: "An unexpected failure",
        name: "throwing",
        expected: "a failure",
        run: () => Effect.fail(new Error("boom"))
      }
      const leaking: Story = {
        title: "A story that prints a token",
        name: "leaking",
        expected: "the self-check catches it",
        run: () =>
          withRenewer("leaky", RenewalStrategy.refreshToken, (renewer) =>
            Effect.gen(function*() {
              const login = yield* logIn(renewer)
              yield* Narrator.say(`   the access token is ${Redacted.value(login.accessToken)}`)
              return "printed a token"
            }))
      }
      const { exit, output } = yield* capture(
        Effect.flatMap(Program.runStories([failing, throwing, leaking]), Program.check)
      )
      const failure = Exit.isFailure(exit) ? Option.getOrUndefined(Cause.failureOption(exit.cause)) : undefined
      expect(failure).toBeInstanceOf(Program.DemoFailed)
      expect((failure as Program.DemoFailed).reasons).toEqual([
        "1 failing: two plus two is five",
        "2 throwing: unexpected failure: Error: boom",
        "a token value appeared in the output"
      ])
      expect(output).toContain("Self-check FAILED: 1 printed line(s) contain a token value")
      expect(output).toContain("Some stories did not behave as described.")
    }), 30_000)
})
