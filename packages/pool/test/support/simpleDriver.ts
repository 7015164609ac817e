/**
 * The smallest driver: connections are numbered objects, every callback succeeds (or fails as
 * scripted through `connect`), queries return their text. For the queue and slot tests.
 */
import { Driver } from "@redial/pool"
import { Data, Effect } from "effect"

export class SimpleError extends Data.TaggedError("SimpleError")<{ readonly reason: string }> {}

export interface SimpleConnection {
  readonly id: number
}

export type SimpleTypes = {
  readonly connection: SimpleConnection
  readonly query: string
  readonly prepared: string
  readonly result: string
  readonly row: number
  readonly cursor: number
  readonly error: SimpleError
  readonly config: unknown
}

export interface Simple {
  readonly driver: Driver.Driver<SimpleTypes>
  /** Connections made so far. */
  readonly connects: () => number
  /** Connections released (disconnected) so far. */
  readonly releases: () => number
  /** Whether new connects succeed; while `false` they fail. */
  readonly up: (value: boolean) => void
  /** Fail the next pings with Disconnect. */
  readonly pingFails: (value: boolean) => void
  readonly pings: () => number
}

export const make = (): Simple => {
  let connects = 0
  let releases = 0
  let pings = 0
  let up = true
  let pingFails = false
  const driver: Driver.Driver<SimpleTypes> = {
    connect: () =>
      Effect.suspend(() =>
        up
          ? Effect.acquireRelease(
            Effect.sync(() => ({ id: ++connects })),
            () =>
              Effect.sync(() => {
                releases += 1
              })
          )
          : Effect.fail(new SimpleError({ reason: "database down" }))
      ),
    ping: () =>
      Effect.suspend(() => {
        pings += 1
        return pingFails ? Effect.fail(new Driver.Disconnect({ cause: "ping failed" })) : Effect.void
      }),
    begin: () => Effect.void,
    commit: () => Effect.void,
    rollback: () => Effect.void,
    status: () => Effect.succeed("idle" as const),
    prepare: (_conn, query) => Effect.succeed(query),
    execute: (_conn, prepared) => Effect.succeed(prepared),
    close: () => Effect.void,
    declare: () => Effect.succeed(0),
    fetch: () => Effect.succeed({ rows: [], done: true }),
    deallocate: () => Effect.void
  }
  return {
    driver,
    connects: () => connects,
    releases: () => releases,
    up: (value) => {
      up = value
    },
    pingFails: (value) => {
      pingFails = value
    },
    pings: () => pings
  }
}
