import { describe, expect, it } from "@effect/vitest"
import * as grpc from "@grpc/grpc-js"
import { Timeout } from "@redial/core"
import { TestCertificates } from "@redial/testing"
import { Duration, Effect, FiberRef, HashSet, Logger, LogLevel, Redacted } from "effect"
import * as fs from "node:fs/promises"
import * as os from "node:os"
import * as path from "node:path"
import { GrpcChannel, GrpcClient, GrpcConnectionString } from "../src/index.js"
import { defaultApiKeyHeader, fromSettings } from "../src/internal/fromSettings.js"
import * as TS from "./support/testServer.js"

type Test = { readonly Echo: GrpcClient.Method<Partial<TS.EchoRequest>, TS.EchoReply> }
const service = TS.loadTestService().service as unknown as Test

const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`

const channelOn = (connectionString: string | Redacted.Redacted<string>, options: Partial<GrpcChannel.Options> = {}) =>
  Effect.gen(function*() {
    const channel = yield* GrpcChannel.make({ connectionString, connectTimeout: "2 seconds", ...options })
    yield* channel.await({ timeout: "10 seconds" })
    return { channel, client: GrpcClient.makeWith(channel, service) }
  })

describe("GrpcChannel from a connection string", () => {
  it.scopedLive("esdb:// with user and password: basic auth reaches the server", () =>
    Effect.gen(function*() {
      const server = yield* TS.TestServer.make()
      const { client } = yield* channelOn(Redacted.make(`esdb://admin:changeit@${server.address}?tls=false`))
      const reply = yield* client.unary("Echo", { message: "hi" })
      expect(reply.metadata["authorization"]).toBe(basic("admin", "changeit"))
    }))

  it.scopedLive("chronicle:// with an apiKey: the key is sent in the header configured", () =>
    Effect.gen(function*() {
      const server = yield* TS.TestServer.make()
      for (const header of ["api-key", "x-api-key", "authorization-key"]) {
        const { client } = yield* channelOn(`chronicle://${server.address}?disableTls=true&apiKey=k3y`, {
          apiKeyHeader: header
        })
        const metadata = (yield* client.unary("Echo", { message: header })).metadata
        expect(metadata[header]).toBe("k3y")
      }
    }))

  it.scopedLive("a Chronicle apiKey goes in api-key by default, the header Cratis' clients send", () =>
    Effect.gen(function*() {
      const server = yield* TS.TestServer.make()
      const settings = yield* GrpcConnectionString.parseChronicle(
        `chronicle://${server.address}?disableTls=true&apiKey=k3y`
      )
      const channel = yield* GrpcChannel.make({ ...(yield* fromSettings(settings)), connectTimeout: "2 seconds" })
      yield* channel.await({ timeout: "10 seconds" })
      const metadata = (yield* GrpcClient.makeWith(channel, service).unary("Echo", { message: "a" })).metadata
      expect(metadata["api-key"]).toBe("k3y")
      expect(metadata["x-api-key"]).toBeUndefined()
      expect(defaultApiKeyHeader).toBe("api-key")
    }))

  it.scopedLive("GrpcChannel.make({ connectionString }) sends a Chronicle apiKey in api-key by default too", () =>
    Effect.gen(function*() {
      const server = yield* TS.TestServer.make()
      const { client } = yield* channelOn(`chronicle://${server.address}?disableTls=true&apiKey=k3y`)
      const metadata = (yield* client.unary("Echo", { message: "a" })).metadata
      expect(metadata["api-key"]).toBe("k3y")
      expect(metadata["x-api-key"]).toBeUndefined()
    }))

  it.effect("keepalive from the string: -1 for the timeout is the longest timer Node has; make takes the extremes", () =>
    Effect.gen(function*() {
      const options = yield* fromSettings(
        yield* GrpcConnectionString.parseEsdb("esdb://h?keepAliveInterval=2147483647&keepAliveTimeout=-1")
      )
      expect(options.keepAlive).toEqual({
        interval: Duration.millis(2_147_483_647),
        timeout: Duration.millis(2_147_483_647)
      })
      expect((yield* fromSettings(yield* GrpcConnectionString.parseEsdb("esdb://h?keepAliveInterval=-1"))).keepAlive)
        .toBe(false)
      // A host name in another script is dialled in its punycode form, which make's address check takes.
      const unicode = yield* fromSettings(yield* GrpcConnectionString.parseEsdb("esdb://морда-кошки.ru,h2:2114"))
      expect(unicode.address).toEqual(["xn----7sblsjajqep7g.ru:2113", "h2:2114"])
      // A string that parses never fails GrpcChannel.make on a range.
      for (
        const query of [
          "keepAliveInterval=1&keepAliveTimeout=1&defaultDeadline=1",
          "keepAliveInterval=2147483647&keepAliveTimeout=2147483647&defaultDeadline=2147483647"
        ]
      ) {
        const channel = yield* GrpcChannel.make({
          connectionString: `esdb://127.0.0.1:1,морда-кошки.ru:1?tls=false&${query}`,
          policy: GrpcChannel.spearPolicy
        })
        yield* channel.close
      }
    }).pipe(Effect.scoped))

  it.scopedLive("chronicle:// with client credentials sends them as basic auth", () =>
    Effect.gen(function*() {
      const server = yield* TS.TestServer.make()
      const { client } = yield* channelOn(`chronicle://client-1:s3cret@${server.address}?disableTls=true`)
      expect((yield* client.unary("Echo", { message: "a" })).metadata["authorization"]).toBe(
        basic("client-1", "s3cret")
      )
    }))

  it.scopedLive("esdb:// with TLS on (the default) and tlsCAFile connects; with another CA it fails typed", () =>
    Effect.gen(function*() {
      const certs = yield* TestCertificates.make()
      const dir = yield* Effect.acquireRelease(
        Effect.promise(() => fs.mkdtemp(path.join(os.tmpdir(), "redial-ca-"))),
        (dir) => Effect.promise(() => fs.rm(dir, { recursive: true, force: true }))
      )
      const caFile = path.join(dir, "ca.pem")
      const otherFile = path.join(dir, "other.pem")
      yield* Effect.promise(() => fs.writeFile(caFile, certs.ca))
      yield* Effect.promise(() => fs.writeFile(otherFile, certs.otherCa))
      const server = yield* TS.TestServer.make({ tls: { key: certs.key, cert: certs.cert } })
      const { client } = yield* channelOn(`esdb://localhost:${server.port}?tlsCAFile=${encodeURIComponent(caFile)}`)
      expect((yield* client.unary("Echo", { message: "tls" })).message).toBe("tls")

      const bad = yield* GrpcChannel.make({
        connectionString: `esdb://localhost:${server.port}?tlsCAFile=${encodeURIComponent(otherFile)}`,
        policy: GrpcChannel.spearPolicy
      })
      const status = yield* Effect.gen(function*() {
        while (true) {
          const s = yield* bad.status
          if (s._tag === "Backoff") return s
          yield* Effect.sleep("20 millis")
        }
      })
      expect(status._tag === "Backoff" && String(status.error.cause)).toMatch(/certificate|verify/i)
    }))

  it.scopedLive("a missing tlsCAFile is an InvalidOption naming it", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(
        GrpcChannel.make({ connectionString: "esdb://localhost:2113?tlsCAFile=/nonexistent/ca.pem" })
      )
      expect(error._tag).toBe("InvalidOption")
      expect(error.message).toContain("tlsCAFile")
    }))

  it.scopedLive("several hosts fail over in order", () =>
    Effect.gen(function*() {
      const a = yield* TS.TestServer.make()
      const b = yield* TS.TestServer.make()
      yield* a.stop
      const { channel } = yield* channelOn(`esdb://${a.address},${b.address}?tls=false`, {
        policy: GrpcChannel.spearPolicy
      })
      expect((yield* channel.connection.get).address).toBe(b.address)
      expect(channel.addresses).toEqual([a.address, b.address])
    }))

  it.scopedLive("defaultDeadline and keepalive come from the string; explicit options win", () =>
    Effect.gen(function*() {
      const server = yield* TS.TestServer.make()
      const { channel, client } = yield* channelOn(
        `esdb://${server.address}?tls=false&defaultDeadline=200&keepAliveInterval=5000`
      )
      expect(channel.defaultDeadline && channel.defaultDeadline.value).toEqual(
        expect.objectContaining({ _tag: "Millis", millis: 200 })
      )
      const error = yield* Effect.flip(client.unary("Echo", { message: "slow", delayMs: 2000 }))
      expect(error).toBeInstanceOf(Timeout)
      // tls=true in the string, but explicit insecure credentials win
      const explicit = yield* channelOn(`esdb://${server.address}`, { credentials: grpc.credentials.createInsecure() })
      expect((yield* explicit.client.unary("Echo", { message: "plain" })).message).toBe("plain")
    }))

  it.scopedLive("bad strings fail with GrpcConnectionStringError; no log line holds the password", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(
        GrpcChannel.make({ connectionString: "esdb://admin:hunter2@h:2113?keepAliveInterval=abc" })
      )
      expect(error._tag).toBe("GrpcConnectionStringError")
      expect(error.message).toContain("keepAliveInterval")
      expect(error.message).not.toContain("hunter2")

      const lines: Array<string> = []
      const logger = Logger.make(({ annotations, message }) => {
        lines.push(JSON.stringify({ message, annotations: [...annotations] }))
      })
      yield* Effect.gen(function*() {
        const server = yield* TS.TestServer.make()
        yield* server.stop
        const channel = yield* GrpcChannel.make({
          connectionString: `esdb://admin:hunter2@${server.address}?tls=false`,
          policy: GrpcChannel.spearPolicy
        })
        yield* Effect.sleep("700 millis")
        yield* channel.close
      }).pipe(
        Effect.locallyWith(FiberRef.currentLoggers, () => HashSet.make(logger)),
        // Status transitions are logged at Debug: read every level.
        Logger.withMinimumLogLevel(LogLevel.All)
      )
      expect(lines.length).toBeGreaterThan(0)
      for (const line of lines) expect(line).not.toContain("hunter2")
      // and the parsed settings print without it
      const settings = yield* GrpcConnectionString.parse("esdb://admin:hunter2@h:2113")
      expect(String(settings)).not.toContain("hunter2")
    }))
})
