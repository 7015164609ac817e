/**
 * @redial/postgres: PostgreSQL for Effect on node-postgres.
 *
 * @since 0.1.0
 */

/**
 * `@redial/pool`'s driver on node-postgres: cancel on interrupt, typed SQLSTATE errors.
 *
 * @since 0.1.0
 */
export * as PgDriver from "./PgDriver.js"

/**
 * The typed error of PostgreSQL, classified fatal / retryable.
 *
 * @since 0.1.0
 */
export * as PgError from "./PgError.js"

/**
 * A pool of PostgreSQL connections: `make`, `layer`, the `PgPool` tag.
 *
 * @since 0.1.0
 */
export * as PgPool from "./PgPool.js"

/**
 * LISTEN / NOTIFY as streams over one connection that reconnects and LISTENs again.
 *
 * @since 0.1.0
 */
export * as PgListen from "./PgListen.js"

/**
 * `postgres://` URIs and libpq keyword/value strings, read into typed connect options.
 *
 * @since 0.1.0
 */
export * as PgConnectionString from "./PgConnectionString.js"

/**
 * Electric's connection manager: Waiting / Starting / Active on an exclusive advisory lock, a
 * pool and `onActive` while active, the SSL and IPv4 fallbacks.
 *
 * @since 0.1.0
 */
export * as PgManager from "./PgManager.js"
