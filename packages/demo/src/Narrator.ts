/**
 * Everything the demo prints goes through `say`, which also records it, so
 * that the demo can check at the end that no token value was ever printed.
 */
import * as Console from "effect/Console"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"

/** Prints one line. The demo's default is `Console.log`; a test captures lines instead. */
export type Print = (line: string) => Effect.Effect<void>

export interface Service {
  /** Prints each line and records it. */
  readonly say: (...lines: ReadonlyArray<string>) => Effect.Effect<void>
  /** Every line said so far, oldest first. */
  readonly printed: Effect.Effect<ReadonlyArray<string>>
}

export class Narrator extends Context.Tag("@effect-renewal/demo/Narrator")<Narrator, Service>() {}

export const make = (print: Print): Service => {
  const lines: Array<string> = []
  return {
    say: (...said) =>
      Effect.forEach(said, (line) => Effect.zipRight(Effect.sync(() => lines.push(line)), print(line)), {
        discard: true
      }),
    printed: Effect.sync(() => lines.slice())
  }
}

/** A narrator printing with `print` (`Console.log` unless given). */
export const layer = (print: Print = (line) => Console.log(line)): Layer.Layer<Narrator> =>
  Layer.sync(Narrator, () => make(print))

/** Says lines through the `Narrator` in context. */
export const say = (...lines: ReadonlyArray<string>): Effect.Effect<void, never, Narrator> =>
  Effect.flatMap(Narrator, (narrator) => narrator.say(...lines))
