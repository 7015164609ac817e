/**
 * @redial/sql: @effect/sql's SqlClient on redial's pool.
 *
 * @since 0.1.0
 */

/**
 * The `SqlClient` / `PgClient` layer on `@redial/pool` and `@redial/postgres`, and helpers that
 * read redial's typed error out of an `SqlError`.
 *
 * @since 0.1.0
 */
export * as RedialPgClient from "./RedialPgClient.js"
