/**
 * The Config layers: options and URLs read from a `Config`, a missing key is a `ConfigError`, a bad
 * option an `InvalidOption`, and a redacted URL works without showing up anywhere.
 */
import { describe, expect, it } from "@effect/vitest"
import { Config, ConfigProvider, Context, Effect, Exit, Layer, Stream } from "effect"
import type * as net from "node:net"
import type { AddressInfo } from "node:net"
import { WebSocketServer } from "ws"
import { ResilientSocket } from "../src/index.js"

class Cache extends Context.Tag("Cache")<Cache, ResilientSocket.ResilientSocket<Uint8Array, net.Socket>>() {}
class Feed
  extends Context.Tag("Feed")<Feed, ResilientSocket.ResilientSocket<Uint8Array | string, globalThis.WebSocket>>()
{}

const cacheConfig = Config.all({ host: Config.string("CACHE_HOST"), port: Config.port("CACHE_PORT") }).pipe(
  Config.map((address) => ({ ...address, name: "cache", autoConnect: false }))
)

describe("ResilientSocket config layers", () => {
  it.effect("layerNetConfig reads the connect options from the Config", () =>
    Effect.gen(function*() {
      const cache = yield* Cache
      expect(cache.name).toBe("cache")
      expect((yield* cache.status)._tag).toBe("Idle")
    }).pipe(
      Effect.provide(ResilientSocket.layerNetConfig(Cache, cacheConfig)),
      Effect.withConfigProvider(ConfigProvider.fromJson({ CACHE_HOST: "127.0.0.1", CACHE_PORT: 6379 }))
    ))

  it.effect("layerNetConfig: a missing key fails the layer with a ConfigError naming it", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(
        Layer.build(ResilientSocket.layerNetConfig(Cache, cacheConfig)).pipe(Effect.scoped)
      )
      expect(Exit.isFailure(exit)).toBe(true)
      expect(String(Exit.isFailure(exit) ? exit.cause : "")).toContain("CACHE_PORT")
    }).pipe(Effect.withConfigProvider(ConfigProvider.fromJson({ CACHE_HOST: "127.0.0.1" }))))

  it.effect("layerNetConfig: a bad option from the Config fails with InvalidOption", () =>
    Effect.gen(function*() {
      const bad = Config.map(cacheConfig, (options) => ({ ...options, readBuffer: 0 }))
      const error = yield* Effect.flip(Layer.build(ResilientSocket.layerNetConfig(Cache, bad)).pipe(Effect.scoped))
      expect(error).toMatchObject({ _tag: "InvalidOption", option: "readBuffer" })
    }).pipe(Effect.withConfigProvider(ConfigProvider.fromJson({ CACHE_HOST: "127.0.0.1", CACHE_PORT: 1 }))))

  it.scopedLive("layerWebSocketConfig connects to a Config.redacted URL", () =>
    Effect.gen(function*() {
      const wss = new WebSocketServer({ port: 0, host: "127.0.0.1" })
      const seen: Array<string> = []
      wss.on("connection", (ws, request) => {
        seen.push(request.url ?? "")
        ws.on("message", (data, isBinary) => ws.send(data, { binary: isBinary }))
      })
      yield* Effect.addFinalizer(() => Effect.async<void>((resume) => void wss.close(() => resume(Effect.void))))
      yield* Effect.async<void>((resume) => void wss.once("listening", () => resume(Effect.void)))
      const port = (wss.address() as AddressInfo).port
      const layer = ResilientSocket.layerWebSocketConfig(Feed, Config.redacted("FEED_URL"), { name: "feed" })
      const reply = yield* Effect.gen(function*() {
        const feed = yield* Feed
        yield* feed.write("hello")
        return yield* feed.messages.pipe(Stream.take(1), Stream.runCollect)
      }).pipe(
        Effect.provide(layer),
        Effect.withConfigProvider(ConfigProvider.fromJson({ FEED_URL: `ws://127.0.0.1:${port}/feed?token=t0k3n` }))
      )
      expect([...reply]).toEqual(["hello"])
      expect(seen).toEqual(["/feed?token=t0k3n"])
    }))
})
