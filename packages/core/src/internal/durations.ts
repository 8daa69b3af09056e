import * as Duration from "effect/Duration"
import * as Option from "effect/Option"

const maxMillis = 100 * 365 * 24 * 3600 * 1000

/**
 * A duration setting in millis, or why it cannot be used (a sentence that
 * starts with `name`): not a duration, negative (which `Duration` would read
 * as zero), not finite, more than 100 years, or zero when `positive`. Never
 * throws, whatever `input` is.
 *
 * @internal
 */
export const decode = (input: unknown, name: string, options?: { readonly positive?: boolean }): number | string => {
  // Duration reads NaN and negative amounts as zero: they are mistakes
  if (
    (typeof input === "number" && !(input >= 0)) ||
    (typeof input === "bigint" && input < 0n) ||
    (typeof input === "string" && /^\s*-/.test(input)) ||
    (Array.isArray(input) && input.some((part) => typeof part !== "number" || !(part >= 0)))
  ) {
    return `${name} must be a duration of at least zero`
  }
  const decoded = Duration.decodeUnknown(input)
  if (Option.isNone(decoded)) return `${name} is not a duration`
  const millis = Duration.toMillis(decoded.value)
  if (!(Number.isFinite(millis) && millis >= 0 && millis <= maxMillis)) {
    return `${name} must be a finite duration of at most 100 years`
  }
  return options?.positive === true && millis === 0 ? `${name} must be more than zero` : millis
}
