/**
 * `@redial/amqp`: Retort's cached RabbitMQ connection for Effect, on amqplib 2.3.
 *
 * @since 0.1.0
 */

/**
 * One cached connection, Retort's `get` / `await`, run-time settings, failover over URLs.
 *
 * @since 0.1.0
 */
export * as AmqpConnection from "./AmqpConnection.js"

/**
 * Managed channels, the confirmed publisher, consumers as Streams.
 *
 * @since 0.1.0
 */
export * as AmqpChannel from "./AmqpChannel.js"

/**
 * `amqp://` and `amqps://` URLs, parsed with core's `ConnectionString`.
 *
 * @since 0.1.0
 */
export * as AmqpConnectionString from "./AmqpConnectionString.js"

/**
 * The typed errors: `AmqpError` (by reply code), `BufferFull`, `Nacked`, `StaleDelivery`,
 * `SetupFailed`.
 *
 * @since 0.1.0
 */
export * from "./AmqpError.js"
