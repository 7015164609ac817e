/**
 * @since 0.1.0
 */

/**
 * A managed connection: connect, keep, reconnect with a policy, typed status and errors.
 *
 * @since 0.1.0
 */
export * as Connection from "./Connection.js"

/**
 * Shared parsing of `scheme://[user:pass@]host[:port][,host…][/path][?k=v…]` strings.
 *
 * @since 0.1.0
 */
export * as ConnectionString from "./ConnectionString.js"

/**
 * Errors: `Closed`, `NotConnected`, `Timeout`, `ConnectFailed`, `InvalidOption`, and the
 * `RedialError` base (with `isRedialError`) every redial package builds its errors on.
 *
 * @since 0.1.0
 */
export * from "./Errors.js"

/**
 * One Schema-based decoder for the options of every package: field decoders and `decode`, with
 * `InvalidOption` errors that name the option's path and never quote a string input.
 *
 * @since 0.1.0
 */
export * as Options from "./Options.js"

/**
 * Reconnect policies as `Schedule`s: exponential, random, randomExponential, fixed, stop, limit.
 *
 * @since 0.1.0
 */
export * as Reconnect from "./Reconnect.js"

/**
 * One timer fiber to the earliest requested time: `make(onFire)`, `wakeBy(at)`.
 *
 * @since 0.1.0
 */
export * as Alarm from "./Alarm.js"
