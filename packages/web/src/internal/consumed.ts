/**
 * The ids of the pending logins already completed (or being completed) by
 * this instance, each kept until its cookie could no longer be used: a
 * second callback with the same cookie (a double submit, a replay) is
 * refused before its code is sent to the provider, whose refusal of a used
 * code may revoke the first login's refresh token.
 *
 * @internal
 */

/** @internal */
export interface Consumed {
  /** `true` the first time an id is taken, `false` after. */
  readonly take: (id: string, until: number, now: number) => boolean
  /** How many ids are held (for tests). */
  readonly size: () => number
}

/** @internal */
export const make = (): Consumed => {
  const ids = new Map<string, number>()
  // the expired are dropped when the map reaches this size, which is then set to twice what
  // stays: each scan is paid for by as many takes as it looks at (O(1) amortised)
  let scanAt = 1024
  return {
    take: (id, until, now) => {
      if (ids.size >= scanAt) {
        for (const [k, expiry] of ids) if (expiry <= now) ids.delete(k)
        scanAt = Math.max(1024, 2 * ids.size)
      }
      const known = ids.get(id)
      if (known !== undefined && known > now) return false
      ids.set(id, until)
      return true
    },
    size: () => ids.size
  }
}
