/**
 * @since 0.1.0
 */

/**
 * A scoped TCP proxy on loopback that cuts, refuses, black-holes and slows connections.
 *
 * @since 0.1.0
 */
export * as FaultProxy from "./FaultProxy.js"

/**
 * Counts the characters string and regular-expression built-ins look at: a deterministic test of
 * linear time.
 *
 * @since 0.1.0
 */
export * as StringWork from "./StringWork.js"

/**
 * A scripted `acquire` for testing reconnect logic on `TestClock`.
 *
 * @since 0.1.0
 */
export * as TestConnector from "./TestConnector.js"

/**
 * Throwaway TLS certificates (a CA, a server certificate, an unrelated CA), made with `openssl`.
 *
 * @since 0.1.0
 */
export * as TestCertificates from "./TestCertificates.js"

/**
 * `TestClock` helpers: wait for a status, advance time until an effect completes.
 *
 * @since 0.1.0
 */
export * as TestTime from "./TestTime.js"
