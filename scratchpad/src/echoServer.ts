/**
 * The demo's gRPC server, in process: `Echo` answers with the message. It can be stopped (every
 * connection closed at once) and started again on the same port.
 */
import * as grpc from "@grpc/grpc-js"
import * as protoLoader from "@grpc/proto-loader"
import type { GrpcClient } from "@redial/grpc"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import { fileURLToPath } from "node:url"

export interface EchoRequest {
  readonly message: string
}

export interface EchoReply {
  readonly message: string
  readonly server: string
}

/** The service as the typed client sees it. */
export type EchoService = { readonly Echo: GrpcClient.Method<EchoRequest, EchoReply> }

const definition = protoLoader.loadSync(fileURLToPath(new URL("echo.proto", import.meta.url)), {
  keepCase: false,
  defaults: true
})

export const service = definition["redial.demo.Echo"] as unknown as grpc.ServiceDefinition & EchoService

export interface EchoServer {
  readonly port: number
  readonly stop: Effect.Effect<void>
  readonly start: Effect.Effect<void>
}

const listen = (port: number) =>
  Effect.async<{ readonly server: grpc.Server; readonly port: number }, Error>((resume) => {
    const server = new grpc.Server()
    server.addService(service, {
      Echo: (call: grpc.ServerUnaryCall<EchoRequest, EchoReply>, callback: grpc.sendUnaryData<EchoReply>) =>
        callback(null, { message: call.request.message, server: "echo" })
    })
    server.bindAsync(
      `127.0.0.1:${port}`,
      grpc.ServerCredentials.createInsecure(),
      (error, bound) => resume(error ? Effect.fail(error) : Effect.succeed({ server, port: bound }))
    )
  })

/** A server on an ephemeral port, shut down with the scope. */
export const make: Effect.Effect<EchoServer, Error, Scope.Scope> = Effect.gen(function*() {
  let current: grpc.Server | undefined
  const first = yield* listen(0)
  current = first.server
  const stop = Effect.sync(() => {
    current?.forceShutdown()
    current = undefined
  })
  yield* Effect.addFinalizer(() => stop)
  return {
    port: first.port,
    stop,
    start: Effect.suspend(() =>
      current
        ? Effect.void
        : listen(first.port).pipe(
          Effect.retry({ times: 20 }),
          Effect.tap(({ server }) =>
            Effect.sync(() => {
              current = server
            })
          ),
          Effect.orDie,
          Effect.asVoid
        )
    )
  }
})
