import * as Console from "effect/Console"
import * as Effect from "effect/Effect"

/** A `Console` that keeps what is written to stdout (`log`) and stderr (`error`). */
export const capture = () => {
  const stdout: Array<string> = []
  const stderr: Array<string> = []
  const keep = (into: Array<string>) => (...args: ReadonlyArray<unknown>) =>
    Effect.sync(() => {
      into.push(args.map(String).join(" "))
    })
  const known: Record<string | symbol, unknown> = {
    [Console.TypeId]: Console.TypeId,
    log: keep(stdout),
    info: keep(stdout),
    error: keep(stderr),
    warn: keep(stderr),
    unsafe: {
      ...globalThis.console,
      log: (...args: ReadonlyArray<unknown>) => stdout.push(args.map(String).join(" ")),
      error: (...args: ReadonlyArray<unknown>) => stderr.push(args.map(String).join(" "))
    }
  }
  const console = new Proxy(known, {
    get: (target, name) => name in target ? target[name] : () => Effect.void
  }) as unknown as Console.Console
  return { console, stdout, stderr }
}
