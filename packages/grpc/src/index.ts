/**
 * @since 0.1.0
 */

/**
 * A managed grpc-js channel: Chronicle and Spear semantics, typed status, failover.
 *
 * @since 0.1.0
 */
export * as GrpcChannel from "./GrpcChannel.js"

/**
 * Typed unary and streaming calls, with deadlines, fail-fast or wait, retry.
 *
 * @since 0.1.0
 */
export * as GrpcClient from "./GrpcClient.js"

/**
 * `esdb://`, `kurrentdb://` and `chronicle://` connection strings, parsed with Schema.
 *
 * @since 0.1.0
 */
export * as GrpcConnectionString from "./GrpcConnectionString.js"

/**
 * gRPC status codes as tagged errors.
 *
 * @since 0.1.0
 */
export * as GrpcError from "./GrpcError.js"
