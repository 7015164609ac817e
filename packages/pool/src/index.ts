/**
 * @since 0.1.0
 */

/**
 * The contract between the pool and a database driver.
 *
 * @since 0.1.0
 */
export * as Driver from "./Driver.js"

/**
 * DBConnection's pool: slots that reconnect, CoDel load shedding, transactions, cursors.
 *
 * @since 0.1.0
 */
export * as Pool from "./Pool.js"

/**
 * The pool's errors: `Dropped`, `TransactionRollingBack`, `RolledBack`.
 *
 * @since 0.1.0
 */
export * from "./PoolError.js"

/**
 * An in-memory, scripted database for testing code that uses a pool.
 *
 * @since 0.1.0
 */
export * as TestDriver from "./TestDriver.js"

/**
 * The integration cases every `Driver` must pass, for any test runner.
 *
 * @since 0.1.0
 */
export * as DriverSuite from "./DriverSuite.js"
