/**
 * Scopes, the one place they are read: a scope is a set of space-separated
 * names, so order, repetition and extra spaces do not matter.
 *
 * @internal
 */

/** The names of a scope, each once, in their first order. @internal */
export const names = (scope: string | undefined): ReadonlyArray<string> => {
  if (scope === undefined) return []
  const seen = new Set<string>()
  for (const name of scope.split(/\s+/)) if (name.length > 0) seen.add(name)
  return [...seen]
}

/** A scope written plainly: names once, single spaces; `undefined` when empty. @internal */
export const normalize = (scope: string | undefined): string | undefined => {
  const list = names(scope)
  return list.length === 0 ? undefined : list.join(" ")
}

/** The same string for every spelling of a set of names (`""` for none). @internal */
export const key = (scope: string | undefined): string => [...names(scope)].sort().join(" ")

/** Scopes compared as sets. @internal */
export const same = (a: string | undefined, b: string | undefined): boolean => a === b || key(a) === key(b)
