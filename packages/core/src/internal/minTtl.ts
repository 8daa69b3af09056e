/**
 * The `minTtl` a request needs of credentials: its own, or, when it is the
 * default one (neither the `get` nor the `Renewer` gave a `minTtl`: the
 * `RenewalPolicy`'s), at most half the lifetime credentials for its target
 * were last issued with, once a renewal told it (`issued`, in millis).
 *
 * So tokens that live shorter than the default (20-second tokens under a
 * 30-second default) are handed out for the first half of their life and
 * renewed in the second, instead of failing every `get` with
 * `TtlUnreachable`; tokens that live more than twice the default keep it
 * whole. A `minTtl` someone gave stays strict.
 *
 * @internal
 */
export const required = (minTtl: number, bounded: boolean | undefined, issued: number | undefined): number =>
  bounded === true && issued !== undefined ? Math.min(minTtl, issued / 2) : minTtl
