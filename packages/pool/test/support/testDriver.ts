/**
 * The pool's own tests use the package's `TestDriver` (src/TestDriver.ts), which models an in-order
 * protocol: nothing may reach a connection after a callback on it died or was interrupted.
 */
export * from "../../src/TestDriver.js"
