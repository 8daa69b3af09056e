import * as Effect from "effect/Effect"

/**
 * An in-process lock per key: one fiber at a time runs inside `withLock` for a
 * given key, other keys are not blocked. Not reentrant: a fiber that calls
 * `withLock(key, ...)` inside `withLock(key, ...)` waits for itself.
 *
 * A key's entry lives only while some fiber holds or waits for it, so the map
 * does not grow with the number of keys ever used. Waiters are served first
 * come, first served; the lock passes straight from the holder to the next.
 *
 * @internal
 */
export interface KeyedLock {
  readonly withLock: <A, E, R>(key: string, effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  /** The number of keys currently held or waited for (for tests). */
  readonly size: () => number
}

interface Waiter {
  /** The lock passed to this waiter (it may not have resumed yet). */
  granted: boolean
  readonly resume: () => void
}

interface Entry {
  /** Who waits, in order. */
  readonly waiters: Array<Waiter>
}

/** @internal */
export const unsafeMake = (): KeyedLock => {
  // an entry exists while its key is held
  const entries = new Map<string, Entry>()

  const acquire = (key: string): Effect.Effect<void> =>
    Effect.async<void>((resume) => {
      const entry = entries.get(key)
      if (entry === undefined) {
        entries.set(key, { waiters: [] })
        return resume(Effect.void)
      }
      const waiter: Waiter = { granted: false, resume: () => resume(Effect.void) }
      entry.waiters.push(waiter)
      // Interrupted while waiting: out of the queue; or, if the lock passed
      // to it in the same instant, passed on.
      return Effect.sync(() => {
        if (waiter.granted) return pass(key)
        const index = entry.waiters.indexOf(waiter)
        if (index !== -1) entry.waiters.splice(index, 1)
      })
    })

  // to the next waiter, or free
  const pass = (key: string): void => {
    const entry = entries.get(key)
    if (entry === undefined) return
    const next = entry.waiters.shift()
    if (next === undefined) {
      entries.delete(key)
    } else {
      next.granted = true
      next.resume()
    }
  }

  const release = (key: string): Effect.Effect<void> => Effect.sync(() => pass(key))

  return {
    // The wait can be interrupted; once the lock is taken it is released
    // however `effect` ends, interruption included.
    withLock: (key, effect) =>
      Effect.uninterruptibleMask((restore) =>
        Effect.zipRight(restore(acquire(key)), Effect.ensuring(restore(effect), release(key)))
      ),
    size: () => entries.size
  }
}

/** @internal */
export const make: Effect.Effect<KeyedLock> = Effect.sync(unsafeMake)
