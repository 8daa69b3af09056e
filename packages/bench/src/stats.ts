/**
 * Small statistics shared by the benchmark scripts.
 */

/** The `q` quantile (0..1) of `xs`, interpolated between the closest ranks. */
export const quantile = (xs: ReadonlyArray<number>, q: number): number => {
  if (xs.length === 0) return Number.NaN
  const sorted = [...xs].sort((a, b) => a - b)
  const at = (sorted.length - 1) * q
  const lo = Math.floor(at)
  const hi = Math.ceil(at)
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (at - lo)
}

export const median = (xs: ReadonlyArray<number>): number => quantile(xs, 0.5)

export const p90 = (xs: ReadonlyArray<number>): number => quantile(xs, 0.9)

export interface Summary {
  readonly name: string
  readonly median: number
  readonly p90: number
  readonly samples: number
}

export const summarize = (name: string, xs: ReadonlyArray<number>): Summary => ({
  name,
  median: median(xs),
  p90: p90(xs),
  samples: xs.length
})

/** Round robin: round `round` runs the variants starting from a different one each time. */
export const roundRobin = (round: number, count: number): ReadonlyArray<number> =>
  Array.from({ length: count }, (_, j) => (round + j) % count)

/**
 * The median over rounds of `a[i] - b[i]`: two variants measured in the same
 * rounds, paired by round, so that what the machine does meanwhile (other
 * processes, frequency changes) cancels out.
 */
export const pairedDifference = (a: ReadonlyArray<number>, b: ReadonlyArray<number>): number =>
  median(a.map((x, i) => x - b[i]!))
