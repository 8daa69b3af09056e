import * as Effect from "effect/Effect"

/**
 * An in-process lock per key: one fiber at a time runs inside `withLock` for a
 * given key, other keys are not blocked. Not reentrant: a fiber that calls
 * `withLock(key, ...)` inside `withLock(key, ...)` waits for itself.
 *
 * A key's entry lives only while some fiber holds or waits for it, so the map
 * does not grow with the number of keys ever used.
 *
 * @internal
 */
export interface KeyedLock {
  readonly withLock: <A, E, R>(key: string, effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  /** The number of keys currently held or waited for (for tests). */
  readonly size: () => number
}

interface Entry {
  readonly semaphore: Effect.Semaphore
  users: number
}

/** @internal */
export const unsafeMake = (): KeyedLock => {
  const entries = new Map<string, Entry>()

  const acquire = (key: string): Effect.Effect<Entry> =>
    Effect.sync(() => {
      let entry = entries.get(key)
      if (entry === undefined) {
        entry = { semaphore: Effect.unsafeMakeSemaphore(1), users: 0 }
        entries.set(key, entry)
      }
      entry.users++
      return entry
    })

  const release = (key: string, entry: Entry): Effect.Effect<void> =>
    Effect.sync(() => {
      entry.users--
      if (entry.users === 0 && entries.get(key) === entry) {
        entries.delete(key)
      }
    })

  return {
    // `acquireUseRelease` registers the user uninterruptibly and always
    // unregisters it; `withPermits` gives the permit back on success, failure
    // and interruption, including interruption while waiting for it.
    withLock: (key, effect) =>
      Effect.acquireUseRelease(
        acquire(key),
        (entry) => entry.semaphore.withPermits(1)(effect),
        (entry) => release(key, entry)
      ),
    size: () => entries.size
  }
}

/** @internal */
export const make: Effect.Effect<KeyedLock> = Effect.sync(unsafeMake)
