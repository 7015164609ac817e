/**
 * Channel credentials for one connect attempt: they let grpc-js open one TCP connection, and
 * destroy it when the attempt ends unless it became the live connection.
 *
 * Why (grpc-js 1.14): a subchannel starts its own backoff timer (1 s × 1.6) when it starts
 * connecting, and when that timer fires after a failure it connects again — even after its
 * channel was closed (`subchannel.ts`: `handleBackoffTimer` moves TRANSIENT_FAILURE to
 * CONNECTING when pick-first asked it to `startConnecting`, and `unref` to zero only leaves
 * CONNECTING and READY). Such a stray connection that succeeds is never closed. And grpc-js has
 * no connect timeout: a socket whose peer accepts TCP but never sends HTTP/2 SETTINGS waits
 * for them for ever, after its channel is closed too (`transport.ts`,
 * `Http2SubchannelConnector.createSession`). Its `SecureConnector` is the one hook grpc-js
 * gives into connecting: it is asked `waitForReady()` before every TCP connect, is handed every
 * socket, and is destroyed when its subchannel is released.
 *
 * @internal
 */
import * as grpc from "@grpc/grpc-js"
import type * as net from "node:net"

type CreateSecureConnector = grpc.ChannelCredentials["_createSecureConnector"]
type SecureConnector = ReturnType<CreateSecureConnector>

/** The sockets of one attempt. @internal */
export interface AttemptSockets {
  /** The credentials to make this attempt's channel with. */
  readonly credentials: grpc.ChannelCredentials
  /** The attempt reached READY: the sockets open now are the live connection's. */
  readonly keep: () => void
  /**
   * The attempt is over: no connection from now on, and every socket not kept is destroyed (a
   * kept one is closed by grpc-js when the channel closes, letting calls in flight finish).
   */
  readonly release: () => void
}

class Attempt {
  private connects = 0
  private released = false
  private readonly sockets = new Set<net.Socket>()
  private readonly kept = new Set<net.Socket>()

  /** One TCP connection per attempt: grpc-js's own reconnects are refused before they connect. */
  allow(): boolean {
    return !this.released && this.connects++ === 0
  }

  track(socket: net.Socket): void {
    if (this.released) {
      socket.destroy()
      return
    }
    this.sockets.add(socket)
    socket.once("close", () => {
      this.sockets.delete(socket)
      this.kept.delete(socket)
    })
  }

  keep(): void {
    for (const socket of this.sockets) this.kept.add(socket)
  }

  release(): void {
    this.released = true
    for (const socket of this.sockets) {
      if (!this.kept.has(socket)) socket.destroy()
    }
  }
}

const refused = () =>
  Promise.reject(new Error("redial reconnects this channel itself: grpc-js's own reconnect is disabled"))

class AttemptCredentials extends grpc.ChannelCredentials {
  constructor(private readonly inner: grpc.ChannelCredentials, private readonly attempt: Attempt) {
    super()
  }
  _isSecure(): boolean {
    return this.inner._isSecure()
  }
  // One attempt's credentials: no other channel may share its subchannel.
  _equals(other: grpc.ChannelCredentials): boolean {
    return other === this
  }
  _createSecureConnector(...args: Parameters<CreateSecureConnector>): SecureConnector {
    const connector = this.inner._createSecureConnector(...args)
    const attempt = this.attempt
    return {
      waitForReady: () => attempt.allow() ? connector.waitForReady() : refused(),
      connect: (socket) => {
        attempt.track(socket)
        return connector.connect(socket)
      },
      getCallCredentials: () => connector.getCallCredentials(),
      destroy: () => {
        attempt.release()
        connector.destroy()
      }
    }
  }
}

/**
 * Wraps `credentials` for one attempt. Credentials that are not grpc-js's own (no
 * `_createSecureConnector`) are used as they are, without these guarantees.
 *
 * @internal
 */
export const make = (credentials: grpc.ChannelCredentials): AttemptSockets => {
  const attempt = new Attempt()
  const wrapped = typeof credentials._createSecureConnector === "function"
    ? new AttemptCredentials(credentials, attempt)
    : credentials
  return {
    credentials: wrapped,
    keep: () => attempt.keep(),
    release: () => attempt.release()
  }
}
