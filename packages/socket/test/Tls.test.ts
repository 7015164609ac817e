/**
 * `makeNet` with `tls`: open once the handshake is done, reconnecting like plain TCP; a
 * certificate it refuses is a typed failed attempt (fatal with `isFatal`); a handshake that never
 * completes ends by `connectTimeout`; nothing is left open on the server.
 */
import { describe, expect, it } from "@effect/vitest"
import { Reconnect } from "@redial/core"
import { FaultProxy, TestCertificates } from "@redial/testing"
import { Effect, Stream } from "effect"
import * as Tls from "node:tls"
import { ResilientSocket, SocketError } from "../src/index.js"
import { eventually } from "./support/servers.js"
import { causeOf, recordStatuses } from "./support/status.js"

/** A TLS echo server on 127.0.0.1; counts its open sockets; closed with the scope. */
const tlsEcho = (certs: TestCertificates.Certificates) =>
  Effect.acquireRelease(
    Effect.async<{ readonly server: Tls.Server; readonly port: number; readonly open: Set<Tls.TLSSocket> }>(
      (resume) => {
        const open = new Set<Tls.TLSSocket>()
        const server = Tls.createServer({ key: certs.key, cert: certs.cert }, (socket) => {
          open.add(socket)
          socket.on("error", () => {})
          socket.once("close", () => open.delete(socket))
          socket.pipe(socket)
        })
        server.on("tlsClientError", () => {})
        server.listen(0, "127.0.0.1", () => {
          const address = server.address()
          resume(Effect.succeed({ server, port: typeof address === "object" && address ? address.port : 0, open }))
        })
      }
    ),
    ({ open, server }) =>
      Effect.async<void>((resume) => {
        for (const socket of open) socket.destroy()
        server.close(() => resume(Effect.void))
      })
  )

const text = (data: Uint8Array) => new TextDecoder().decode(data)

describe("makeNet with tls", () => {
  it.scopedLive("echoes over TLS, reconnects after the server drops it, and leaves nothing open", () =>
    Effect.gen(function*() {
      const certs = yield* TestCertificates.make()
      const server = yield* tlsEcho(certs)
      yield* Effect.scoped(Effect.gen(function*() {
        const socket = yield* ResilientSocket.makeNet({
          host: "127.0.0.1",
          port: server.port,
          tls: { ca: certs.ca },
          policy: Reconnect.fixed("20 millis"),
          minUptime: 0
        })
        const live = yield* socket.await()
        expect(live.raw).toBeInstanceOf(Tls.TLSSocket)
        yield* socket.write("one")
        const [first] = yield* socket.messages.pipe(Stream.take(1), Stream.runCollect)
        expect(text(first ?? new Uint8Array())).toBe("one")
        for (const s of server.open) s.destroy()
        yield* eventually(
          Effect.map(Effect.option(socket.get), (c) => c._tag === "Some" ? c.value.id : 0),
          (id) => id === 2
        )
        yield* socket.write("two")
        const [second] = yield* socket.messages.pipe(Stream.take(1), Stream.runCollect)
        expect(text(second ?? new Uint8Array())).toBe("two")
      }))
      // the scope ended: the server sees its sockets close
      yield* eventually(Effect.sync(() => server.open.size), (n) => n === 0)
    }))

  it.scopedLive("an untrusted certificate is a failed attempt (SocketError Open), fatal with isFatal", () =>
    Effect.gen(function*() {
      const certs = yield* TestCertificates.make()
      const server = yield* tlsEcho(certs)
      const retried = yield* ResilientSocket.makeNet({
        name: "untrusted",
        host: "127.0.0.1",
        port: server.port,
        tls: { ca: certs.otherCa },
        policy: Reconnect.fixed("20 millis")
      })
      const statuses = yield* recordStatuses(retried)
      const { status } = yield* statuses.until((s) => s._tag === "Backoff" && s.attempt >= 2)
      const cause = causeOf(status)
      expect(cause).toBeInstanceOf(SocketError)
      expect(cause).toMatchObject({ reason: "Open" })
      const fatal = yield* ResilientSocket.makeNet({
        name: "untrusted-fatal",
        host: "127.0.0.1",
        port: server.port,
        tls: { ca: certs.otherCa },
        isFatal: (error) => error._tag === "SocketError" && error.reason === "Open"
      })
      const error = yield* Effect.flip(fatal.await())
      expect(error).toMatchObject({ _tag: "Closed", reason: "FatalError" })
    }))

  it.scopedLive("a TLS handshake that never completes (black hole) ends by connectTimeout", () =>
    Effect.gen(function*() {
      const certs = yield* TestCertificates.make()
      const server = yield* tlsEcho(certs)
      const proxy = yield* FaultProxy.make({ target: { port: server.port } })
      yield* proxy.blackhole(true)
      const socket = yield* ResilientSocket.makeNet({
        host: proxy.host,
        port: proxy.port,
        tls: { ca: certs.ca, servername: "localhost" },
        connectTimeout: "300 millis",
        policy: Reconnect.fixed("20 millis")
      })
      const statuses = yield* recordStatuses(socket)
      const { status } = yield* statuses.until((s) => s._tag === "Backoff")
      expect(causeOf(status)).toMatchObject({ _tag: "Timeout", operation: "connect" })
    }))
})
