/**
 * Test support for effect-renewal: an Auth0-compatible emulator, fixtures and
 * mock layers.
 *
 * @since 0.1.0
 */

/**
 * @since 0.1.0
 */
export * as Emulator from "./Emulator.js"

/**
 * @since 0.1.0
 */
export * as Fixtures from "./Fixtures.js"
