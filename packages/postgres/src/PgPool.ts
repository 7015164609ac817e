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
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import * as connectionString from "./internal/connectionString.js"
import type * as PgConnectionString from "./PgConnectionString.js"
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

/**
 * {@link Options} with a connection string: `url`, a `postgres://` URI or a libpq keyword/value
 * string (see `PgConnectionString`), best read with `Config.redacted` since it may hold a
 * password. The URL's settings are merged with the options beside it; a setting given both ways
 * (the URL's host and `connect.host`, its `connect_timeout` and `connectTimeout`) is an
 * `InvalidOption` with reason `Conflict`: neither silently wins.
 *
 * @since 0.1.0
 * @category models
 */
export interface ConfigOptions extends Options {
  readonly url?: string | Redacted.Redacted<string> | undefined
}

/**
 * A layer that provides {@link PgPool} from `Config`, as @effect/sql-pg's `layerConfig`: each
 * option its own `Config` (or the whole record one, such as {@link config}), `url` parsed with
 * `PgConnectionString`. Fails with the `ConfigError` of a missing or invalid value, a
 * `PgConnectionStringError` for a URL that does not parse (its message never holds the
 * password), a `PgSslFileError` for a TLS file of the URL that cannot be read, and as
 * {@link make}.
 *
 * @example
 * ```ts
 * import { PgPool } from "@redial/postgres"
 * import { Config, ConfigProvider, Effect } from "effect"
 *
 * const PoolLive = PgPool.layerConfig({
 *   url: Config.redacted("DATABASE_URL"),
 *   size: Config.integer("POOL_SIZE").pipe(Config.withDefault(4)),
 *   name: Config.succeed("billing")
 * })
 *
 * const program = Effect.gen(function*() {
 *   const pool = yield* PgPool.PgPool
 *   const { rows } = yield* pool.query("select current_user as user")
 *   console.log(rows) // [ { user: 'postgres' } ]
 * }).pipe(
 *   Effect.provide(PoolLive),
 *   Effect.withConfigProvider(ConfigProvider.fromJson({
 *     DATABASE_URL: "postgres://postgres@127.0.0.1:5432/test?application_name=example-layer-config"
 *   }))
 * )
 *
 * Effect.runPromise(program)
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  options: Config.Config.Wrap<ConfigOptions>
): Layer.Layer<
  PgPool,
  | ConfigError.ConfigError
  | PgConnectionString.PgConnectionStringError
  | PgConnectionString.PgSslFileError
  | InvalidOption
  | Timeout
  | Closed
> =>
  Layer.scoped(
    PgPool,
    Effect.flatMap(Config.unwrap(options), (resolved) => Effect.flatMap(connectionString.resolveUrl(resolved), make))
  )

const optional = <A>(config: Config.Config<A>): Config.Config<A | undefined> =>
  Config.map(Config.option(config), Option.getOrUndefined)

/** The record without its absent fields (`exactOptionalPropertyTypes`: absent, not `undefined`). */
const present = <A extends Record<string, unknown>>(record: A): A =>
  Object.fromEntries(Object.entries(record).filter(([, value]) => value !== undefined)) as A

const duration = (name: string): Config.Config<Duration.Duration | undefined> => optional(Config.duration(name))

/**
 * The pool's {@link ConfigOptions} from the configuration, under these names (each optional;
 * durations are written as Effect reads them: `"500 millis"`, `"10 seconds"`):
 *
 * | name                | option                    | name               | option          |
 * | ------------------- | ------------------------- | ------------------ | --------------- |
 * | `URL` (redacted)    | `url`                     | `SIZE`             | `size`          |
 * | `HOST`              | `connect.host`            | `QUEUE_TARGET`     | `queueTarget`   |
 * | `PORT`              | `connect.port`            | `QUEUE_INTERVAL`   | `queueInterval` |
 * | `DATABASE`          | `connect.database`        | `QUEUE`            | `queue`         |
 * | `USER`              | `connect.user`            | `TIMEOUT`          | `timeout`       |
 * | `PASSWORD` (redacted) | `connect.password`      | `CONNECT_TIMEOUT`  | `connectTimeout`|
 * | `SSLMODE`           | `connect.sslmode`         | `IDLE_INTERVAL`    | `idleInterval`  |
 * | `APPLICATION_NAME`  | `connect.applicationName` | `PING_TIMEOUT`     | `pingTimeout`   |
 * | `STATEMENT_TIMEOUT` | `connect.statementTimeout`| `MIN_UPTIME`       | `minUptime`     |
 * | `NAME`              | `name`                    | `LEAK_TIMEOUT`     | `leakTimeout`   |
 * | `QUERY_TIMEOUT`     | `queryTimeout`            | `AWAIT_CONNECTED`  | `awaitConnected`|
 *
 * With a `prefix`, every name is nested under it (`Config.nested`): `config("PG")` reads
 * `PG_HOST` from the environment (`ConfigProvider.fromEnv`), `PG.HOST` from a map. Give `URL` or
 * the separate keys, or both for different settings (see {@link ConfigOptions}).
 *
 * @example
 * ```ts
 * import { PgPool } from "@redial/postgres"
 * import { ConfigProvider, Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const pool = yield* PgPool.PgPool
 *   const { rows } = yield* pool.query("select current_setting('application_name') as app")
 *   console.log(rows) // [ { app: 'example-config' } ]
 * }).pipe(
 *   Effect.provide(PgPool.layerConfig(PgPool.config("PG"))),
 *   // The environment's names (ConfigProvider.fromEnv() reads process.env the same way).
 *   Effect.withConfigProvider(ConfigProvider.fromMap(
 *     new Map([
 *       ["PG_HOST", "127.0.0.1"],
 *       ["PG_DATABASE", "test"],
 *       ["PG_USER", "postgres"],
 *       ["PG_APPLICATION_NAME", "example-config"],
 *       ["PG_SIZE", "2"],
 *       ["PG_CONNECT_TIMEOUT", "5 seconds"]
 *     ]),
 *     { pathDelim: "_" }
 *   ))
 * )
 *
 * Effect.runPromise(program)
 * ```
 *
 * @since 0.1.0
 * @category config
 */
export const config = (prefix?: string): Config.Config<ConfigOptions> => {
  const options = Config.map(
    Config.all({
      url: optional(Config.redacted("URL")),
      connect: Config.map(
        Config.all({
          host: optional(Config.nonEmptyString("HOST")),
          port: optional(Config.port("PORT")),
          database: optional(Config.nonEmptyString("DATABASE")),
          user: optional(Config.nonEmptyString("USER")),
          password: optional(Config.redacted("PASSWORD")),
          sslmode: optional(Config.literal("disable", "prefer", "require", "verify-ca", "verify-full")("SSLMODE")),
          applicationName: optional(Config.nonEmptyString("APPLICATION_NAME")),
          statementTimeout: duration("STATEMENT_TIMEOUT")
        }),
        present
      ),
      name: optional(Config.nonEmptyString("NAME")),
      size: optional(Config.integer("SIZE")),
      queueTarget: duration("QUEUE_TARGET"),
      queueInterval: duration("QUEUE_INTERVAL"),
      queue: optional(Config.boolean("QUEUE")),
      timeout: duration("TIMEOUT"),
      connectTimeout: duration("CONNECT_TIMEOUT"),
      idleInterval: duration("IDLE_INTERVAL"),
      pingTimeout: duration("PING_TIMEOUT"),
      minUptime: duration("MIN_UPTIME"),
      leakTimeout: duration("LEAK_TIMEOUT"),
      queryTimeout: duration("QUERY_TIMEOUT"),
      awaitConnected: optional(Config.boolean("AWAIT_CONNECTED"))
    }),
    ({ connect, ...rest }): ConfigOptions =>
      present({ ...rest, ...(Object.keys(connect).length === 0 ? {} : { connect }) })
  )
  return prefix === undefined ? options : Config.nested(options, prefix)
}
