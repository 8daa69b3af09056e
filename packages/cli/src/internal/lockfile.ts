import * as FileSystem from "@effect/platform/FileSystem"
import * as Clock from "effect/Clock"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as crypto from "node:crypto"
import * as os from "node:os"

/**
 * A lock file beside the file it guards, for read-change-write sequences of
 * several processes (two `login`s, a key rotation): created with `O_EXCL`
 * (`wx`), so one process holds it; the others retry with a growing delay,
 * for a bounded time. It holds `{pid, host, nonce}`: a lock whose process is
 * gone (same host) or older than `staleAfter` is broken (renamed away, then
 * removed if it is still the one judged stale), so that a crash never
 * blocks the command for good.
 */

/** The lock could not be taken. */
export class LockError extends Data.TaggedError("LockError")<{
  readonly reason: "Busy" | "Io"
  readonly description: string
}> {}

export interface Options {
  /** How long to wait for another holder (default 10 seconds). */
  readonly wait?: Duration.DurationInput | undefined
  /** A lock older than this is stale whoever holds it (default 30 seconds). */
  readonly staleAfter?: Duration.DurationInput | undefined
}

const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    // EPERM: it exists, another user's
    return (error as NodeJS.ErrnoException).code === "EPERM"
  }
}

const io = (file: string) => (error: { readonly message: string }) =>
  new LockError({ reason: "Io", description: `the lock file ${file} cannot be used: ${error.message}` })

const isCode = (reason: string) => (error: { readonly _tag: string; readonly reason?: unknown }) =>
  error._tag === "SystemError" && error.reason === reason

/** Whether the lock's holder is gone; answers the content judged so. */
const staleContent = (file: string, staleAfter: Duration.Duration) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const read = yield* Effect.all([fs.readFileString(file), fs.stat(file)]).pipe(
      Effect.map(Option.some),
      Effect.catchIf(isCode("NotFound"), () => Effect.succeed(Option.none())),
      Effect.mapError(io(file))
    )
    if (Option.isNone(read)) return Option.none<string>()
    const [text, info] = read.value
    const now = yield* Clock.currentTimeMillis
    const age = Option.match(info.mtime, { onNone: () => 0, onSome: (mtime) => now - mtime.getTime() })
    if (age > Duration.toMillis(staleAfter)) return Option.some(text)
    let holder: { readonly pid?: unknown; readonly host?: unknown } | undefined
    try {
      holder = JSON.parse(text)
    } catch {
      // being written: not stale unless old
      return Option.none()
    }
    return holder !== undefined && holder.host === os.hostname() && typeof holder.pid === "number" &&
        !isAlive(holder.pid)
      ? Option.some(text)
      : Option.none()
  })

/** Breaks a stale lock: renamed away (one breaker wins), removed if it is the one judged stale. */
const breakLock = (file: string, judged: string) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const aside = `${file}.stale.${crypto.randomBytes(6).toString("hex")}`
    const moved = yield* fs.rename(file, aside).pipe(
      Effect.as(true),
      Effect.catchIf(isCode("NotFound"), () => Effect.succeed(false)),
      Effect.mapError(io(file))
    )
    if (!moved) return
    const text = yield* fs.readFileString(aside).pipe(Effect.orElseSucceed(() => judged))
    // another breaker was faster and a new holder took the lock: give it back
    if (text !== judged) yield* Effect.ignore(fs.link(aside, file))
    yield* Effect.ignore(fs.remove(aside))
  })

/** Takes the lock `file`; answers its content, to release it. */
const acquire = (file: string, options: Options | undefined) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const wait = Duration.toMillis(options?.wait ?? "10 seconds")
    const staleAfter = Duration.decode(options?.staleAfter ?? "30 seconds")
    const content = JSON.stringify({
      pid: process.pid,
      host: os.hostname(),
      nonce: crypto.randomBytes(8).toString("hex")
    })
    const start = yield* Clock.currentTimeMillis
    let delay = 2
    while (true) {
      const taken = yield* fs.writeFileString(file, content, { flag: "wx", mode: 0o600 }).pipe(
        Effect.as(true),
        Effect.catchIf(isCode("AlreadyExists"), () => Effect.succeed(false)),
        Effect.mapError(io(file))
      )
      if (taken) return content
      const stale = yield* staleContent(file, staleAfter)
      if (Option.isSome(stale)) {
        yield* breakLock(file, stale.value)
        continue
      }
      if ((yield* Clock.currentTimeMillis) - start >= wait) {
        return yield* new LockError({
          reason: "Busy",
          description: `another effect-renewal process holds the lock file ${file}; if none runs, remove that file`
        })
      }
      yield* Effect.sleep(Duration.millis(delay + Math.random() * delay))
      delay = Math.min(delay * 2, 100)
    }
  })

/** Removes the lock if it is still ours. */
const release = (file: string, content: string) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const text = yield* fs.readFileString(file)
    if (text === content) yield* fs.remove(file)
  }).pipe(Effect.ignore)

/** Runs `body` holding the lock file `file`. */
export const withLock = <A, E, R>(
  file: string,
  body: Effect.Effect<A, E, R>,
  options?: Options
): Effect.Effect<A, E | LockError, R | FileSystem.FileSystem> =>
  Effect.acquireUseRelease(acquire(file, options), () => body, (content) => release(file, content))
