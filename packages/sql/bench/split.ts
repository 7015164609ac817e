/**
 * Where the time of one `SqlClient` statement goes, not part of `npm run bench`: `select 1`
 * through ever more of the stack, each step alone on a pool of 10 (steps interleaved, the order
 * rotating each round). For each step: CPU µs per query of this process (medians of the rounds;
 * noisy on a shared machine) and Effect operations per query (exact: the fiber run loop's
 * operations counted by a supervisor with OpSupervision on, over 200 queries from one caller).
 *
 * - `pg.Pool in Effect.async`: `pool.query(text, callback)` in `Effect.async`, what
 *   @effect/sql-pg's connection does outside a transaction;
 * - `… in Effect.scoped`, `… + acquireRelease`, `… + Scope.addFinalizer`: the same in a scope as
 *   @effect/sql's Statement opens one per statement, empty, with a finalizer added by
 *   `Effect.acquireRelease` (which saves and restores the fiber's FiberRefs around it), and with
 *   one added by `Scope.addFinalizer` (which does not);
 * - `@effect/sql-pg SqlClient`: sql\`select 1\`;
 * - `redial pool.run(void)`, `redial pool.query`: the pool's fast path, without and with the query;
 * - `redial scoped checkout + query`: `Effect.scoped(pool.checkout → co.query)`, the path
 *   @effect/sql takes on RedialPgClient (its acquirer is the pool's scoped checkout);
 * - `redial SqlClient`: sql\`select 1\` on RedialPgClient;
 * - `what-if: SqlClient on pool.query`: NOT the package's client: a SqlClient made here with
 *   `SqlClient.make` whose acquirer is `Effect.succeed` of a Connection on `pool.query` (as
 *   @effect/sql-pg's is on `pg.Pool.query`), to measure that change before anyone makes it;
 * - `… transaction`: `withTransaction` of select 1 / 2 / 3 on each client (per transaction).
 *
 *   node scripts/bundle-bench.mjs packages/sql/bench/split.ts packages/sql/build/bench/split.mjs
 *   node --expose-gc packages/sql/build/bench/split.mjs [concurrency] [seconds] [rounds] [steps, comma-separated]
 */
import * as Reactivity from "@effect/experimental/Reactivity"
import { SqlClient } from "@effect/sql"
import { PgClient } from "@effect/sql-pg"
import type { Connection } from "@effect/sql/SqlConnection"
import { SqlError } from "@effect/sql/SqlError"
import {
  Context,
  Effect,
  Exit,
  Layer,
  Logger,
  LogLevel,
  RuntimeFlags,
  RuntimeFlagsPatch,
  Scope,
  Stream,
  Supervisor
} from "effect"
import pg from "pg"
import { choose, collect, effectLoops, fixed, list, median, order, table, thousands } from "../../../bench/report.js"
import { RedialPgClient } from "../src/index.js"
import * as Contenders from "./contenders.js"

const [concurrency = "16", seconds = "1", rounds = "5", names] = process.argv.slice(2)
const SIZE = 10
const TEXT = "select 1"
const COUNTED = 200

const quiet = Logger.withMinimumLogLevel(LogLevel.Warning)
const scope = Effect.runSync(Scope.make())
const app = (name: string) => `bench_sql_split_${name}_${process.pid}`

const redial = Context.get(
  await Effect.runPromise(
    Layer.buildWithScope(
      RedialPgClient.layer({ connect: { ...Contenders.server, applicationName: app("redial") }, size: SIZE }),
      scope
    ).pipe(quiet)
  ),
  RedialPgClient.RedialPgClient
)
const sqlPg = Context.get(
  await Effect.runPromise(
    Layer.buildWithScope(
      PgClient.layer({
        host: Contenders.server.host,
        port: Contenders.server.port,
        database: Contenders.server.database,
        username: Contenders.server.user,
        applicationName: app("sqlpg"),
        maxConnections: SIZE
      }),
      scope
    )
  ),
  SqlClient.SqlClient
)
const pgPool = new pg.Pool({ ...Contenders.server, application_name: app("pgpool"), max: SIZE })
pgPool.on("error", () => {})

const failed = (cause: unknown) => new SqlError({ cause, message: "Failed to execute statement" })
type Transform = (<A extends object>(rows: ReadonlyArray<A>) => ReadonlyArray<A>) | undefined

/** The what-if's Connection: every statement on the pool's `query` (its run fast path, no scoped checkout). */
class OnPool implements Connection {
  constructor(readonly pool: RedialPgClient.RedialPgClient["pool"]) {}
  execute(sql: string, params: ReadonlyArray<unknown>, transformRows: Transform) {
    return Effect.mapBoth(this.pool.query(sql, params), {
      onFailure: failed,
      onSuccess: (result) => transformRows === undefined ? result.rows : transformRows(result.rows)
    })
  }
  executeRaw(sql: string, params: ReadonlyArray<unknown>) {
    return Effect.mapError(this.pool.query(sql, params), failed)
  }
  executeValues(sql: string, params: ReadonlyArray<unknown>) {
    return Effect.mapBoth(this.pool.query({ text: sql, rowMode: "array" }, params), {
      onFailure: failed,
      onSuccess: (result) => result.rows as unknown as ReadonlyArray<ReadonlyArray<unknown>>
    })
  }
  executeUnprepared(sql: string, params: ReadonlyArray<unknown>, transformRows: Transform) {
    return this.execute(sql, params, transformRows)
  }
  executeStream(sql: string, params: ReadonlyArray<unknown>) {
    return Stream.mapError(this.pool.stream(sql, params, { maxRows: 128 }), failed)
  }
}

const onPool = await Effect.runPromise(
  SqlClient.make({
    acquirer: Effect.succeed(new OnPool(redial.pool)),
    compiler: PgClient.makeCompiler(),
    spanAttributes: []
  }).pipe(Effect.provide(Reactivity.layer))
)

const pgPoolQuery = () =>
  Effect.async<pg.QueryResult, Error>((resume) => {
    pgPool.query(TEXT, (error, result) => resume(error ? Effect.fail(error) : Effect.succeed(result)))
  })

const transaction = (sql: SqlClient.SqlClient) => () =>
  sql.withTransaction(Effect.all([sql`select 1`, sql`select 2`, sql`select 3`]))

interface Step {
  readonly name: string
  readonly op: () => Effect.Effect<unknown, unknown>
}

const steps: ReadonlyArray<Step> = [
  { name: "pg.Pool in Effect.async", op: pgPoolQuery },
  { name: "pg.Pool in Effect.async in Effect.scoped", op: () => Effect.scoped(pgPoolQuery()) },
  {
    name: "pg.Pool in Effect.async in Effect.scoped + acquireRelease",
    op: () => Effect.scoped(Effect.zipRight(Effect.acquireRelease(Effect.void, () => Effect.void), pgPoolQuery()))
  },
  {
    name: "pg.Pool in Effect.async in Effect.scoped + Scope.addFinalizer",
    op: () =>
      Effect.scoped(Effect.zipRight(
        Effect.flatMap(Effect.scope, (scope) => Scope.addFinalizer(scope, Effect.void)),
        pgPoolQuery()
      ))
  },
  { name: "@effect/sql-pg SqlClient", op: () => sqlPg`select 1` },
  { name: "redial pool.run(void)", op: () => redial.pool.run(() => Effect.void) },
  { name: "redial pool.query", op: () => redial.pool.query(TEXT) },
  {
    name: "redial scoped checkout + query",
    op: () => Effect.scoped(Effect.flatMap(redial.pool.checkout, (co) => co.query(TEXT, [])))
  },
  { name: "redial SqlClient", op: () => redial`select 1` },
  { name: "what-if: SqlClient on pool.query", op: () => onPool`select 1` },
  { name: "@effect/sql-pg transaction", op: transaction(sqlPg) },
  { name: "redial transaction", op: transaction(redial) }
]

/** Counts every operation the fiber run loop evaluates under it (OpSupervision must be on). */
class OpCounter extends Supervisor.AbstractSupervisor<void> {
  ops = 0
  get value() {
    return Effect.void
  }
  override onEffect(): void {
    this.ops++
  }
}

/** Effect operations per call of `op`, from one caller (the runtime's count, not a sample). */
const opsOf = async (op: () => Effect.Effect<unknown, unknown>): Promise<number> => {
  const counter = new OpCounter()
  const calls = (n: number) =>
    Effect.gen(function*() {
      for (let i = 0; i < n; i++) yield* op()
    })
  await Effect.runPromise(calls(20))
  await Effect.runPromise(
    calls(COUNTED).pipe(
      Effect.supervised(counter),
      Effect.withRuntimeFlagsPatch(RuntimeFlagsPatch.enable(RuntimeFlags.OpSupervision))
    )
  )
  return counter.ops / COUNTED
}

const chosen = choose(steps, names)
try {
  const ops = new Map<string, number>()
  for (const step of chosen) ops.set(step.name, await opsOf(step.op))
  const cpu = new Map<string, Array<number>>()
  const rates = new Map<string, Array<number>>()
  // round -1 warms the JIT and opens pg.Pool's and @effect/sql-pg's connections; not counted
  for (let round = -1; round < Number(rounds); round++) {
    for (const step of order(chosen, round + 1)) {
      const loops = effectLoops(step.op)
      await loops(Number(concurrency), performance.now() + 300)
      collect()
      const used = process.cpuUsage()
      const start = performance.now()
      const queries = await loops(Number(concurrency), start + Number(seconds) * 1000)
      const elapsed = (performance.now() - start) / 1000
      const time = process.cpuUsage(used)
      if (round < 0) continue
      cpu.set(step.name, [...(cpu.get(step.name) ?? []), (time.user + time.system) / queries])
      rates.set(step.name, [...(rates.get(step.name) ?? []), queries / elapsed])
    }
  }
  console.log(table(
    `Where a statement's time goes, ${concurrency} callers, pools of ${SIZE} — ${rounds} interleaved rounds of ${seconds} s`,
    ["step", "Effect ops / call", "CPU µs / call (median)", "calls/s (median)", "CPU µs samples"],
    chosen.map((step) => {
      const c = cpu.get(step.name) ?? []
      return [
        step.name,
        fixed(ops.get(step.name) ?? NaN, 0),
        fixed(median(c), 0),
        thousands(median(rates.get(step.name) ?? [])),
        list(c, 0)
      ]
    })
  ))
} finally {
  await pgPool.end()
  await Effect.runPromise(quiet(Scope.close(scope, Exit.void)))
}
