/**
 * @redial/socket: resilient TCP and WebSocket connections on @effect/platform's Socket.
 *
 * @since 0.1.0
 */

/**
 * `ResilientSocket.makeNet` / `makeWebSocket` (and their layers): a socket that reconnects by a
 * `Schedule`, buffers writes while down under an overflow policy, and reads as one `Stream`.
 *
 * @since 0.1.0
 */
export * as ResilientSocket from "./ResilientSocket.js"

/**
 * `SocketError` (why a connection ended, with WebSocket close codes) and `BufferFull`.
 *
 * @since 0.1.0
 */
export * from "./SocketError.js"
