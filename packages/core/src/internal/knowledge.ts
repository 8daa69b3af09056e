import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as PubSub from "effect/PubSub"
import * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"
import type { Credentials } from "../Credentials.js"

/**
 * What a `Renewer` knows of its session in the store, so that `get` need not
 * read it: the login's credentials as last read or written (the hot path
 * hands them out while they have the default `minTtl` left), the API
 * credentials last seen per target, and the lifetime the last renewal of each
 * target brought (a `minTtl` at or above it cannot be met by renewing again).
 *
 * Every write this renewer makes is published (`changes`), and so is every
 * read that finds the store changed by someone else. A read started before a
 * write must not bring back what the write replaced: compare `version()`
 * before and after.
 *
 * @internal
 */
export interface Knowledge {
  /** The login's credentials as last read or written. */
  readonly login: () => Credentials | undefined
  /** The login's credentials while they have at least the default `minTtl` left, else `orElse`. */
  readonly hot: <E>(orElse: Effect.Effect<Credentials, E>) => Effect.Effect<Credentials, E>
  /** Counts what this renewer learnt of the store. */
  readonly version: () => number
  /** This renewer wrote `credentials` (or removed the entry). */
  readonly publish: (credentials: Credentials | undefined) => void
  /**
   * A read of the store found `stored`. When it is not what was known (a
   * renewal elsewhere, or another login), the API credentials and lifetimes
   * known so far are forgotten: they may belong to another login.
   */
  readonly observe: (stored: Option.Option<Credentials>) => void
  /** API credentials last seen for a target key. */
  readonly api: (target: string) => Credentials | undefined
  readonly setApi: (target: string, credentials: Credentials | undefined) => void
  /** Millis of lifetime the last renewal for a target key brought. */
  readonly lifetime: (target: string) => number | undefined
  readonly setLifetime: (target: string, millis: number) => void
  /** This renewer wrote a new login (or removed it): published, and what earlier renewals brought is forgotten. */
  readonly reset: (credentials: Credentials | undefined) => void
  /** The renewer is closing: `changes` subscribers end. */
  readonly close: Effect.Effect<void>
  /** The current login's credentials, then each change; nothing is built until someone subscribes. */
  readonly changes: Stream.Stream<Option.Option<Credentials>>
}

/** @internal */
export const make = (
  initial: Option.Option<Credentials>,
  defaultMinTtlMillis: number,
  now: () => number
): Knowledge => {
  let login: Credentials | undefined
  let freshUntil = -Infinity
  let success: Effect.Effect<Credentials> | undefined
  let version = 0
  let apis: Map<string, Credentials> | undefined
  let lifetimes: Map<string, number> | undefined
  let hub: PubSub.PubSub<Option.Option<Credentials>> | undefined

  const remember = (credentials: Credentials | undefined) => {
    login = credentials
    freshUntil = credentials === undefined
      ? -Infinity
      : DateTime.toEpochMillis(credentials.expiresAt) - defaultMinTtlMillis
    success = credentials === undefined ? undefined : Effect.succeed(credentials)
  }
  remember(Option.getOrUndefined(initial))

  const publish = (credentials: Credentials | undefined) => {
    version++
    remember(credentials)
    if (hub !== undefined) hub.unsafeOffer(Option.fromNullable(credentials))
  }

  const forget = () => {
    apis = undefined
    lifetimes = undefined
  }

  const changes = Stream.unwrapScoped(
    Effect.gen(function*() {
      if (hub === undefined) {
        const created = yield* PubSub.unbounded<Option.Option<Credentials>>()
        hub ??= created
      }
      // subscribed before the current value is read: a change in between is
      // seen twice at worst, never missed
      const subscription = yield* PubSub.subscribe(hub)
      return Stream.concat(Stream.succeed(Option.fromNullable(login)), Stream.fromQueue(subscription))
    })
  )

  return {
    login: () => login,
    hot: (orElse) => Effect.suspend(() => freshUntil > now() ? success! : orElse),
    version: () => version,
    publish,
    observe: (stored) => {
      const found = Option.getOrUndefined(stored)
      if (same(found, login)) return remember(found)
      // changed by someone else, maybe a new login: API credentials known so
      // far are read again (under the lock) before they are handed out
      forget()
      publish(found)
    },
    api: (target) => apis?.get(target),
    setApi: (target, credentials) => {
      if (credentials === undefined) apis?.delete(target)
      else (apis ??= new Map()).set(target, credentials)
    },
    lifetime: (target) => lifetimes?.get(target),
    setLifetime: (target, millis) => {
      ;(lifetimes ??= new Map()).set(target, millis)
    },
    reset: (credentials) => {
      publish(credentials)
      forget()
    },
    close: Effect.suspend(() => hub === undefined ? Effect.void : PubSub.shutdown(hub)),
    changes
  }
}

const token = (redacted: Redacted.Redacted<string> | undefined) =>
  redacted === undefined ? undefined : Redacted.value(redacted)

/** The same credentials, field by field (cheaper than structural equality). @internal */
export const same = (a: Credentials | undefined, b: Credentials | undefined): boolean =>
  a === b ||
  (a !== undefined && b !== undefined &&
    token(a.accessToken) === token(b.accessToken) &&
    token(a.refreshToken) === token(b.refreshToken) &&
    token(a.idToken) === token(b.idToken) &&
    a.tokenType === b.tokenType &&
    a.scope === b.scope &&
    DateTime.toEpochMillis(a.expiresAt) === DateTime.toEpochMillis(b.expiresAt))
