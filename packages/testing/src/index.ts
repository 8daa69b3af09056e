/**
 * Test support for effect-renewal: an Auth0-compatible emulator, fixtures and
 * mock layers.
 *
 * @since 0.1.0
 */

/**
 * An Auth0-compatible authorization server for tests, in memory (an
 * `HttpClient` layer driven by `TestClock`) or on loopback HTTP, with
 * scripted faults, a request log and counters.
 *
 * @since 0.1.0
 */
export * as Emulator from "./Emulator.js"

/**
 * Ready-made credentials and layers for tests: the whole renewal stack on an
 * in-memory emulator, and test doubles of the `Renewer` and the
 * `RenewalStrategy`.
 *
 * @since 0.1.0
 */
export * as Fixtures from "./Fixtures.js"
