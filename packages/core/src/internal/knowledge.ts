import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as PubSub from "effect/PubSub"
import * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"
import type { Credentials } from "../Credentials.js"
import * as MinTtl from "./minTtl.js"

/**
 * What a `Renewer` knows of its session in the store, so that `get` need not
 * read it: the login's credentials as last read or written (the hot path
 * hands them out while they have the default `minTtl` left), the API
 * credentials last seen per target, and the lifetime the last renewal of each
 * target brought (a `minTtl` at or above it cannot be met by renewing again;
 * half of it bounds the default `minTtl`, see `MinTtl.required`).
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
  login(): Credentials | undefined
  /** The login's credentials while they have at least the default `minTtl` left, else `orElse`. */
  hot<E>(orElse: Effect.Effect<Credentials, E>): Effect.Effect<Credentials, E>
  /** Counts what this renewer learnt of the store. */
  version(): number
  /** This renewer wrote `credentials` (or removed the entry). */
  publish(credentials: Credentials | undefined): void
  /**
   * A read of the store found `stored`. When it is not what was known (a
   * renewal elsewhere, or another login), the API credentials and lifetimes
   * known so far are forgotten: they may belong to another login.
   */
  observe(stored: Option.Option<Credentials>): void
  /** API credentials last seen for a target key. */
  api(target: string): Credentials | undefined
  setApi(target: string, credentials: Credentials | undefined): void
  /** Millis of lifetime the last renewal for a target key brought. */
  lifetime(target: string): number | undefined
  setLifetime(target: string, millis: number): void
  /**
   * Millis of lifetime credentials for a target key were last issued with,
   * by a renewal of this renewer: the server's setting, so kept when the
   * store changes or a new login is saved (unlike `lifetime`).
   */
  issued(target: string): number | undefined
  /**
   * The store says someone else may have changed the entry: nothing known is
   * handed out until the store is read again (a read started before this
   * call is not taken: `version()` moves).
   */
  invalidate(): void
  /** Whether the store must be read before what is known is handed out. */
  stale(): boolean
  /** Whether anyone is subscribed to `changes`. */
  watched(): boolean
  /** This renewer wrote a new login (or removed it): published, and what earlier renewals brought is forgotten. */
  reset(credentials: Credentials | undefined): void
  /** The renewer is closing: `changes` subscribers end. */
  readonly close: Effect.Effect<void>
  /** The current login's credentials, then each change; nothing is built until someone subscribes. */
  readonly changes: Stream.Stream<Option.Option<Credentials>>
}

class KnowledgeImpl implements Knowledge {
  // The fields are the state; the methods live on the prototype, so that a
  // renewer costs its state and nothing per method.
  private known: Credentials | undefined
  private freshUntil = -Infinity
  private success: Effect.Effect<Credentials> | undefined
  private count = 0
  private apis: Map<string, Credentials> | undefined
  private lifetimes: Map<string, number> | undefined
  private issuedLifetimes: Map<string, number> | undefined
  private hub: PubSub.PubSub<Option.Option<Credentials>> | undefined
  private stream: Stream.Stream<Option.Option<Credentials>> | undefined

  constructor(
    initial: Option.Option<Credentials>,
    private readonly defaultMinTtlMillis: number,
    private readonly now: () => number,
    /** Whether the default minTtl is bounded by the lifetime (see `MinTtl.required`). */
    private readonly bounded: boolean = false
  ) {
    this.remember(Option.getOrUndefined(initial))
  }

  private invalid = false

  private remember(credentials: Credentials | undefined): void {
    this.invalid = false
    this.known = credentials
    this.freshUntil = credentials === undefined
      ? -Infinity
      : DateTime.toEpochMillis(credentials.expiresAt) -
        MinTtl.required(this.defaultMinTtlMillis, this.bounded, this.issued(""))
    this.success = credentials === undefined ? undefined : Effect.succeed(credentials)
  }

  private forget(): void {
    this.apis = undefined
    this.lifetimes = undefined
  }

  login(): Credentials | undefined {
    return this.known
  }

  hot<E>(orElse: Effect.Effect<Credentials, E>): Effect.Effect<Credentials, E> {
    return Effect.suspend(() => this.freshUntil > this.now() ? this.success! : orElse)
  }

  version(): number {
    return this.count
  }

  publish(credentials: Credentials | undefined): void {
    this.count++
    this.remember(credentials)
    if (this.hub !== undefined) this.hub.unsafeOffer(Option.fromNullable(credentials))
  }

  observe(stored: Option.Option<Credentials>): void {
    const found = Option.getOrUndefined(stored)
    if (same(found, this.known)) return this.remember(found)
    // changed by someone else, maybe a new login: API credentials known so
    // far are read again (under the lock) before they are handed out
    this.forget()
    this.publish(found)
  }

  api(target: string): Credentials | undefined {
    return this.apis?.get(target)
  }

  setApi(target: string, credentials: Credentials | undefined): void {
    if (credentials === undefined) this.apis?.delete(target)
    else (this.apis ??= new Map()).set(target, credentials)
  }

  lifetime(target: string): number | undefined {
    return this.lifetimes?.get(target)
  }

  setLifetime(target: string, millis: number): void {
    ;(this.lifetimes ??= new Map()).set(target, millis)
    ;(this.issuedLifetimes ??= new Map()).set(target, millis)
  }

  issued(target: string): number | undefined {
    return this.issuedLifetimes?.get(target)
  }

  invalidate(): void {
    this.count++
    this.invalid = true
    this.freshUntil = -Infinity
  }

  stale(): boolean {
    return this.invalid
  }

  watched(): boolean {
    return this.hub !== undefined
  }

  reset(credentials: Credentials | undefined): void {
    this.publish(credentials)
    this.forget()
  }

  get close(): Effect.Effect<void> {
    return Effect.suspend(() => this.hub === undefined ? Effect.void : PubSub.shutdown(this.hub))
  }

  get changes(): Stream.Stream<Option.Option<Credentials>> {
    return this.stream ??= Stream.unwrapScoped(Effect.suspend(() => this.subscribe()))
  }

  private subscribe() {
    return Effect.flatMap(
      this.hub === undefined ? PubSub.unbounded<Option.Option<Credentials>>() : Effect.succeed(this.hub),
      (created) => {
        const hub = this.hub ??= created
        // subscribed before the current value is read: a change in between is
        // seen twice at worst, never missed
        return Effect.map(
          PubSub.subscribe(hub),
          (subscription) =>
            Stream.concat(Stream.succeed(Option.fromNullable(this.known)), Stream.fromQueue(subscription))
        )
      }
    )
  }
}

/** @internal */
export const make = (
  initial: Option.Option<Credentials>,
  defaultMinTtlMillis: number,
  now: () => number,
  bounded?: boolean
): Knowledge => new KnowledgeImpl(initial, defaultMinTtlMillis, now, bounded)

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
    a.dpop?.jkt === b.dpop?.jkt &&
    DateTime.toEpochMillis(a.expiresAt) === DateTime.toEpochMillis(b.expiresAt))
