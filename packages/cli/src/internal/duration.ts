import * as Duration from "effect/Duration"
import * as Either from "effect/Either"

const units: Readonly<Record<string, number>> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }

/**
 * A duration as people type it: `30s`, `5m`, `1h`, `1h30m`, `500ms`, `2d`; a
 * bare number is seconds. Answers the problem as text when it is not one.
 */
export const parse = (text: string): Either.Either<Duration.Duration, string> => {
  const trimmed = text.trim().toLowerCase()
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Either.right(Duration.seconds(Number(trimmed)))
  if (trimmed === "" || !/^(\d+(\.\d+)?(ms|s|m|h|d))+$/.test(trimmed)) {
    return Either.left(`"${text}" is not a duration (examples: 30s, 5m, 1h, 1h30m)`)
  }
  let millis = 0
  for (const [, amount, , unit] of trimmed.matchAll(/(\d+(\.\d+)?)(ms|s|m|h|d)/g)) {
    millis += Number(amount) * units[unit!]!
  }
  return Number.isFinite(millis)
    ? Either.right(Duration.millis(millis))
    : Either.left(`"${text}" is too long a duration`)
}
