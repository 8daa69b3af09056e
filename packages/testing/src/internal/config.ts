/**
 * The emulator's options with their defaults applied, read once at `make`.
 */
import * as Duration from "effect/Duration"
import type * as Emulator from "../Emulator.js"
import * as Dpop from "./dpop.js"

/** @internal */
export interface Config {
  readonly clientId: string
  readonly clientSecret: string | undefined
  readonly rotation: boolean
  readonly reuseIntervalMillis: number
  readonly accessTokenSeconds: number
  readonly idTokenSeconds: number
  readonly absoluteMillis: number
  readonly idleMillis: number
  readonly issuer: string
  readonly audience: string
  /** `undefined`: no policy, every audience asked for is granted. */
  readonly audiences: ReadonlySet<string> | undefined
  readonly signingSecret: string
  readonly idTokenAlgorithm: "RS256" | "HS256"
  readonly authorizationCodeMillis: number
  readonly deviceCodeSeconds: number
  readonly deviceIntervalSeconds: number
  readonly dpop: {
    /** A token request without a proof is refused. */
    readonly required: boolean
    /** Whether each role requires a nonce at first (methods change it at run time). */
    readonly nonce: Readonly<Record<Dpop.Role, boolean>>
    /** How far a proof's `iat` may be from the `Clock`, either way. */
    readonly windowMillis: number
    readonly algorithms: ReadonlyArray<Dpop.Algorithm>
  }
}

const millis = (input: Duration.DurationInput | undefined, orElse: number): number =>
  input === undefined ? orElse : Duration.toMillis(Duration.decode(input))

const seconds = (input: Duration.DurationInput | undefined, orElse: Duration.DurationInput): number =>
  Math.floor(Duration.toSeconds(Duration.decode(input ?? orElse)))

/** @internal */
export const resolve = (options: Emulator.Emulator.Options | undefined): Config => ({
  clientId: options?.clientId ?? "test-client-id",
  clientSecret: options?.clientSecret,
  rotation: options?.rotation ?? true,
  reuseIntervalMillis: millis(options?.reuseInterval, 0),
  accessTokenSeconds: seconds(options?.accessTokenLifetime, "1 hour"),
  idTokenSeconds: seconds(options?.idTokenLifetime, "10 hours"),
  absoluteMillis: millis(options?.refreshTokenAbsoluteLifetime, Infinity),
  idleMillis: millis(options?.refreshTokenIdleLifetime, Infinity),
  issuer: options?.issuer ?? "https://emulator.effect-renewal.test/",
  audience: options?.audience ?? "https://api.effect-renewal.test",
  audiences: options?.audiences === undefined ? undefined : new Set(options.audiences),
  signingSecret: options?.signingSecret ?? "effect-renewal-emulator-signing-secret",
  idTokenAlgorithm: options?.idTokenAlgorithm ?? "RS256",
  authorizationCodeMillis: millis(options?.authorizationCodeLifetime, 60_000),
  deviceCodeSeconds: seconds(options?.deviceCodeLifetime, "10 minutes"),
  deviceIntervalSeconds: seconds(options?.devicePollingInterval, "5 seconds"),
  dpop: {
    required: options?.dpop?.required ?? false,
    nonce: { token: options?.dpop?.nonce ?? false, resource: options?.dpop?.resourceNonce ?? false },
    windowMillis: millis(options?.dpop?.proofWindow, 60_000),
    algorithms: options?.dpop?.algorithms ?? Dpop.ALGORITHMS
  }
})
