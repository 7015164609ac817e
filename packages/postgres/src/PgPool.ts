/**
 * A `@redial/pool` pool of PostgreSQL connections on {@link PgDriver}: DBConnection's queue with
 * load shedding, per-slot reconnect, deadlines, cancel on interrupt, and a fatal connect error
 * (bad password, no such database) that closes the pool with its reason instead of retrying for
 * ever.
 *
 * @example
 * ```ts
 * import { PgPool } from "@redial/postgres"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const pool = yield* PgPool.PgPool
 *   const { rows } = yield* pool.query("select 1 + 1 as two")
 *   console.log(rows) // [ { two: 2 } ]
 * })
 *
 * const PoolLive = PgPool.layer({
 *   connect: { host: "127.0.0.1", database: "test", user: "postgres" },
 *   size: 4,
 *   name: "example"
 * })
 *
 * Effect.runPromise(Effect.provide(program, PoolLive))
 * ```
 *
 * @since 0.1.0
 */
import type { Closed, InvalidOption, Timeout } from "@redial/core"
import { Pool } from "@redial/pool"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import * as PgDriver from "./PgDriver.js"

/**
 * A pool of the driver's connections.
 *
 * @since 0.1.0
 * @category models
 */
export type PgPool = Pool.Pool<PgDriver.PgTypes>

/**
 * The service tag of a pool provided by {@link layer}.
 *
 * @since 0.1.0
 * @category tags
 */
export const PgPool: Context.Tag<PgPool, PgPool> = Context.GenericTag<PgPool>("@redial/postgres/PgPool")

/**
 * How to make a pool: where to connect (`connect`), the driver's own options (`cancelTimeout`,
 * `queryTimeout`, `closeTimeout`) and every `Pool.Options` but `config` (which is `connect`).
 *
 * @since 0.1.0
 * @category models
 */
export interface Options extends Omit<Pool.Options<PgDriver.PgTypes>, "config">, Omit<PgDriver.Options, "name"> {
  readonly connect?: PgDriver.ConnectOptions | undefined
}

const driverOptions = (options: Options): PgDriver.Options => ({
  name: options.name ?? "postgres",
  ...(options.cancelTimeout === undefined ? {} : { cancelTimeout: options.cancelTimeout }),
  ...(options.queryTimeout === undefined ? {} : { queryTimeout: options.queryTimeout }),
  ...(options.closeTimeout === undefined ? {} : { closeTimeout: options.closeTimeout })
})

const poolOptions = (options: Options): Pool.Options<PgDriver.PgTypes> => {
  const { cancelTimeout: _c, closeTimeout: _cl, connect, queryTimeout: _q, ...rest } = options
  return { name: "postgres", ...rest, config: connect ?? {} }
}

/**
 * Makes a pool for the current scope (see `Pool.make`). Fails with `InvalidOption` for a bad
 * option; with `awaitConnected`, also with `Timeout` or `Closed` (a fatal connect error stops
 * every slot: `Closed` with reason `FatalError` and the `PgError` as its `error`).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options = {}): Effect.Effect<PgPool, InvalidOption | Timeout | Closed, Scope.Scope> =>
  Effect.suspend(() =>
    Effect.flatMap(
      Effect.try({
        try: () => PgDriver.make(driverOptions(options)),
        catch: (error) => error as InvalidOption
      }),
      (driver) => Pool.make(driver, poolOptions(options))
    )
  )

/**
 * A layer that provides {@link PgPool}, closed when the layer is released.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options = {}): Layer.Layer<PgPool, InvalidOption | Timeout | Closed> =>
  Layer.scoped(PgPool, make(options))
