import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as RcMap from "effect/RcMap"
import type * as Scope from "effect/Scope"
import { RenewalFailed } from "../AuthError.js"
import { RenewalPolicy } from "../RenewalPolicy.js"
import { RenewalStrategy } from "../RenewalStrategy.js"
import type * as Renewer from "../Renewer.js"
import type * as Sessions from "../Sessions.js"
import { TokenStore } from "../TokenStore.js"
import * as Logs from "./logs.js"
import type * as Renewal from "./renewal.js"
import * as RenewerInternal from "./renewer.js"

/** @internal */
export const defaultMaxConcurrentRenewals = 16

/** One minute, in millis. @internal */
export const defaultIdleTimeToLive = 60_000

const invalid = (description: string) => new RenewalFailed({ reason: "InvalidRequest", description })

const shutdown = () =>
  new RenewalFailed({ reason: "Shutdown", description: "the Sessions' scope was closed: no renewal can run" })

/** `maxConcurrentRenewals`, or why it cannot be used. @internal */
export const decodeMaxConcurrentRenewals = (input: unknown): number | RenewalFailed =>
  typeof input === "number" && Number.isSafeInteger(input) && input >= 1
    ? input
    : invalid("the Sessions' maxConcurrentRenewals must be a positive integer")

// An option that cannot be used fails every `get` with a typed error, as the
// Renewer does for its `minTtl`; what does not renew (save, hasValid, clear)
// goes on with the default in its place.
const decodeOptions = (options: Sessions.Options) => {
  const max = decodeMaxConcurrentRenewals(options.maxConcurrentRenewals ?? defaultMaxConcurrentRenewals)
  const idle = RenewerInternal.decodeMinTtl(
    options.idleTimeToLive ?? defaultIdleTimeToLive,
    "the Sessions' idleTimeToLive"
  )
  return {
    maxConcurrentRenewals: typeof max === "number" ? max : defaultMaxConcurrentRenewals,
    idleTimeToLive: typeof idle === "number" ? idle : defaultIdleTimeToLive,
    misconfigured: typeof max !== "number" ? max : typeof idle !== "number" ? idle : undefined
  }
}

/**
 * Runs at most `permits` effects at once; the others wait, first come first
 * served, and a permit passes straight from one to the next. (Effect's
 * semaphore wakes every waiter on each release, to let one through: with
 * thousands of renewals waiting, that is quadratic.)
 *
 * The wait comes before a request is sent, so it can be interrupted even
 * inside a renewal (which cannot): a renewer closing while it waits loses
 * nothing. Whoever was granted a permit gives it back however it ends: the
 * grant is recorded when it is made, and the release is in place before the
 * wait starts.
 *
 * @internal
 */
export const makeGate = (permits: number): Renewal.Gate => {
  let free = permits
  let head: Ticket | undefined
  let tail: Ticket | undefined

  const grant = (ticket: Ticket) => {
    ticket.state = granted
    ticket.resume?.()
  }

  const done = (ticket: Ticket) => {
    if (ticket.state !== granted) {
      ticket.state = cancelled // left in the queue, skipped when reached
      return
    }
    let next = head
    while (next !== undefined && next.state === cancelled) next = next.next
    head = next?.next
    if (head === undefined) tail = undefined
    if (next === undefined) free++
    else grant(next)
  }

  const take = (ticket: Ticket) =>
    Effect.async<void>((resume) => {
      if (free > 0) {
        free--
        ticket.state = granted
        return resume(Effect.void)
      }
      ticket.resume = () => resume(Effect.void)
      if (tail === undefined) head = ticket
      else tail.next = ticket
      tail = ticket
    })

  return (effect) =>
    Effect.uninterruptibleMask((restore) =>
      Effect.suspend(() => {
        const ticket: Ticket = { state: waiting, resume: undefined, next: undefined }
        return Effect.ensuring(
          Effect.zipRight(Effect.interruptible(take(ticket)), restore(effect)),
          Effect.sync(() => done(ticket))
        )
      })
    )
}

const waiting = 0
const granted = 1
const cancelled = 2

interface Ticket {
  state: typeof waiting | typeof granted | typeof cancelled
  resume: (() => void) | undefined
  next: Ticket | undefined
}

/** @internal */
export const make = (
  options: Sessions.Options = {}
): Effect.Effect<Sessions.Sessions.Service, never, TokenStore | RenewalStrategy | Scope.Scope> =>
  Effect.gen(function*() {
    const decoded = decodeOptions(options)
    const misconfigured = decoded.misconfigured === undefined ? undefined : Effect.fail(decoded.misconfigured)

    // What every renewer is built with, fixed now: the caller of a `get`
    // that builds one must not change its store, strategy or policy.
    const context = Context.make(TokenStore, yield* TokenStore).pipe(
      Context.add(RenewalStrategy, yield* RenewalStrategy),
      Context.add(RenewalPolicy, yield* RenewalPolicy)
    )

    // One permit per request across all keys; the wait for one counts
    // towards the callers' deadline, like the wait for the store's lock.
    const gate = makeGate(decoded.maxConcurrentRenewals)

    // Idle renewers are released by one sweep for all keys, not by the map:
    // the map would keep a sleeping fiber per idle key, which costs more than
    // the renewer itself. (An idleTimeToLive of zero: the map releases a
    // renewer as soon as its last call ends.)
    const ttl = decoded.idleTimeToLive
    const renewerOptions: Renewer.Options = {
      minTtl: options.minTtl,
      refreshAhead: options.refreshAhead,
      staleIfError: options.staleIfError
    }
    // The renewers built and not yet released, for the calls' fast path,
    // which holds no reference in the map: the sweep alone releases them (it
    // takes them out of here first), and it leaves alone a key in use.
    const live = new Map<string, Renewer.Renewer.Service>()
    const renewers = yield* RcMap.make({
      lookup: (key: string) => {
        const built = Effect.provide(RenewerInternal.make({ ...renewerOptions, key }, { gate }), context)
        return ttl === 0 ? built : Effect.tap(built, (renewer) => {
          live.set(key, renewer)
        })
      },
      idleTimeToLive: ttl === 0 ? 0 : Infinity
    })

    // Per key with a renewer: below zero, minus the calls (and holders) using
    // it; else the time the last one ended.
    const usage = new Map<string, number>()
    const clock = yield* Effect.clock
    const enter = (key: string) => {
      const count = usage.get(key)
      usage.set(key, count === undefined || count >= 0 ? -1 : count - 1)
    }
    const leave = (key: string) => {
      const count = usage.get(key)!
      if (count !== -1) usage.set(key, count + 1)
      else if (ttl === 0) usage.delete(key) // released by the map
      else usage.set(key, clock.unsafeCurrentTimeMillis())
    }
    // Releases the renewers idle for `ttl`, then sleeps until the next one
    // may be due.
    const sweep: Effect.Effect<never> = Effect.suspend(() => {
      const now = clock.unsafeCurrentTimeMillis()
      let next = now + ttl
      const due: Array<string> = []
      for (const [key, since] of usage) {
        if (since < 0) continue
        if (since + ttl <= now) due.push(key)
        else if (since + ttl < next) next = since + ttl
      }
      return Effect.zipRight(
        Effect.zipRight(
          Effect.forEach(due, (key) =>
            Effect.suspend(() => {
              // still idle? (a call may have come meanwhile)
              const since = usage.get(key)
              if (since === undefined || since < 0 || since + ttl > now) return Effect.void
              usage.delete(key)
              live.delete(key)
              return Effect.zipRight(Logs.sessionReleased(key, now - since), RcMap.invalidate(renewers, key))
            }), { discard: true }),
          clock.sleep(Duration.millis(Math.max(1, next - now)))
        ),
        sweep
      )
    })
    if (ttl > 0) yield* Effect.forkScoped(Effect.interruptible(sweep))

    // Runs before the map closes (finalizers run last added first): calls
    // that come after are answered here, not interrupted by the closed map.
    let closed = false
    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        closed = true
        // no call reaches a renewer the map is closing
        live.clear()
      })
    )

    // A call holds its key's renewer for its own length; the renewer is
    // released `idleTimeToLive` after the last call ends.
    const use = <A, E>(key: string, f: (renewer: Renewer.Renewer.Service) => Effect.Effect<A, E>) =>
      Effect.uninterruptibleMask((restore) =>
        Effect.suspend(() => {
          enter(key)
          const known = live.get(key)
          return Effect.ensuring(
            restore(known !== undefined ? f(known) : Effect.scoped(Effect.flatMap(RcMap.get(renewers, key), f))),
            Effect.sync(() => leave(key))
          )
        })
      )
    const held = (key: string) =>
      Effect.zipRight(
        Effect.acquireRelease(Effect.sync(() => enter(key)), () => Effect.sync(() => leave(key))),
        RcMap.get(renewers, key)
      )

    const get = (key: string, getOptions?: Renewer.GetOptions) =>
      misconfigured ?? Effect.suspend(() => closed ? Effect.fail(shutdown()) : use(key, (r) => r.get(getOptions)))

    // With an option unusable, the renewer handed out fails its `get` like
    // the service's.
    const renewer = (key: string): Effect.Effect<Renewer.Renewer.Service, never, Scope.Scope> =>
      misconfigured === undefined ? held(key) : Effect.map(held(key), (renewer) => ({
        key: renewer.key,
        get: () => misconfigured,
        save: renewer.save,
        hasValid: renewer.hasValid,
        clear: renewer.clear,
        get changes() {
          return renewer.changes
        }
      }))

    return {
      get,
      save: (key, credentials) => use(key, (r) => r.save(credentials)),
      hasValid: (key, minTtl) => use(key, (r) => r.hasValid(minTtl)),
      clear: (key, clearOptions) =>
        Effect.suspend(() => closed ? Effect.fail(shutdown()) : use(key, (r) => r.clear(clearOptions))),
      renewer
    }
  })
