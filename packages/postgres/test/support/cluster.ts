/**
 * A PostgreSQL 15 cluster of the test's own, for the configurations the shared server cannot
 * give: a password user (scram-sha-256), a `pg_hba.conf` with `reject` lines, ssl off or ssl on
 * with certificates made for it. `initdb` into a temporary directory (as the `postgres` OS user
 * when the tests run as root: initdb refuses root), a free port on 127.0.0.1 only, the Unix
 * socket in the temporary directory, fsync off. Scoped: stopped (`pg_ctl stop -m immediate`) and
 * its directory removed when the scope ends, whatever the test did. It never touches the shared
 * server at 5432.
 *
 * Its `pg_hba.conf`:
 *
 * ```
 * local all     all                     trust          # admin, over the cluster's own socket
 * host  all     rejected   127.0.0.1/32 reject         # → 28000
 * host  all     all        127.0.0.1/32 scram-sha-256  # the user `redial` and its password
 * ```
 *
 * A cluster left behind by a test process that was killed is stopped and removed by the next
 * `make` (each directory names the process that owns it).
 */
import { Context, Duration, Effect, Layer, Redacted } from "effect"
import type * as Scope from "effect/Scope"
import * as childProcess from "node:child_process"
import * as crypto from "node:crypto"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import pg from "pg"
import type { PgDriver } from "../../src/index.js"

/** The user with a password, and the user `pg_hba.conf` rejects. */
export const user = "redial"
export const rejectedUser = "rejected"

/** A running cluster. */
export interface Cluster {
  readonly host: "127.0.0.1"
  readonly port: number
  /** The directory of its Unix socket (and everything else: data, log, certificates). */
  readonly dir: string
  readonly ssl: boolean
  /** The password of {@link user} (and of {@link rejectedUser}). */
  readonly password: Redacted.Redacted<string>
  /** The CA that signed the server's certificate (PEM), when ssl is on. */
  readonly ca: string | undefined
  /** Another CA, which signed nothing the server has (PEM), when ssl is on. */
  readonly otherCa: string | undefined
  /** How long initdb + start took. */
  readonly startedIn: Duration.Duration
  /** Connect options for the password user on 127.0.0.1 with this `application_name`. */
  readonly config: (
    applicationName: string,
    extra?: Partial<PgDriver.ConnectOptions>
  ) => PgDriver.ConnectOptions
  /** Runs `sql` as the superuser over the cluster's socket, on a connection of its own. */
  readonly admin: <R extends pg.QueryResultRow = pg.QueryResultRow>(
    sql: string,
    params?: ReadonlyArray<unknown>
  ) => Effect.Effect<pg.QueryResult<R>, Error>
  /** Client backends with this `application_name`. */
  readonly backends: (applicationName: string) => Effect.Effect<number, Error>
  /** The server's log so far. */
  readonly log: Effect.Effect<string>
  /** TCP connections the server has received so far (its `log_connections` lines for 127.0.0.1). */
  readonly tcpConnections: Effect.Effect<number>
}

/** The service of a cluster shared by a test file's tests (see {@link layer}). */
export class PgCluster extends Context.Tag("redial/test/PgCluster")<PgCluster, Cluster>() {}

/** The PostgreSQL binaries: `$PG_BIN`, Debian's PostgreSQL 15, or `pg_config --bindir`. */
const binDir = (): string => {
  const fromEnv = process.env["PG_BIN"]
  if (fromEnv !== undefined && fromEnv.length > 0) return fromEnv
  const debian = "/usr/lib/postgresql/15/bin"
  if (fs.existsSync(path.join(debian, "initdb"))) return debian
  return childProcess.execFileSync("pg_config", ["--bindir"], { encoding: "utf8" }).trim()
}

const isRoot = (): boolean => process.getuid?.() === 0

/** `command args` as the postgres OS user when we are root (initdb and postgres refuse root). */
const asPostgres = (command: string, args: ReadonlyArray<string>): [string, Array<string>] => {
  if (!isRoot()) return [command, [...args]]
  if (fs.existsSync("/usr/sbin/runuser") || fs.existsSync("/sbin/runuser")) {
    return ["runuser", ["-u", "postgres", "--", command, ...args]]
  }
  const quoted = [command, ...args].map((arg) => `'${arg.replace(/'/g, "'\\''")}'`).join(" ")
  return ["su", ["postgres", "-s", "/bin/sh", "-c", quoted]]
}

/** Runs a program to its end; fails with its stderr. Interrupting it kills it. */
const run = (command: string, args: ReadonlyArray<string>, cwd?: string): Effect.Effect<string, Error> =>
  Effect.async<string, Error>((resume) => {
    const child = childProcess.execFile(
      command,
      [...args],
      { encoding: "utf8", ...(cwd === undefined ? {} : { cwd }) },
      (error, stdout, stderr) => {
        if (error) resume(Effect.fail(new Error(`${command} ${args.join(" ")} failed: ${error.message}\n${stderr}`)))
        else resume(Effect.succeed(stdout))
      }
    )
    return Effect.sync(() => child.kill("SIGKILL"))
  })

/** A loopback port nothing listens on (it was free a moment ago). */
export const freePort: Effect.Effect<number> = Effect.async<number>((resume) => {
  const server = net.createServer()
  server.listen(0, "127.0.0.1", () => {
    const { port } = server.address() as net.AddressInfo
    server.close(() => resume(Effect.succeed(port)))
  })
})

const prefix = "redial-pg-"
const ownerFile = "owner.pid"

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM"
  }
}

/** Kills the postmaster of `data` if its postmaster.pid names a live postgres of that directory. */
const killPostmaster = (data: string): void => {
  try {
    const pid = Number.parseInt(fs.readFileSync(path.join(data, "postmaster.pid"), "utf8").split("\n")[0]!, 10)
    if (!Number.isInteger(pid) || pid <= 0) return
    const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8")
    if (cmdline.includes("postgres") && cmdline.includes(data)) process.kill(pid, "SIGKILL")
  } catch {
    // no postmaster.pid, or no such process: nothing runs there
  }
}

/** Stops and removes the clusters of test processes that died without ending their scope. */
const sweepStale = (): void => {
  const tmp = os.tmpdir()
  for (const entry of fs.readdirSync(tmp)) {
    if (!entry.startsWith(prefix)) continue
    const dir = path.join(tmp, entry)
    try {
      const owner = Number.parseInt(fs.readFileSync(path.join(dir, ownerFile), "utf8"), 10)
      if (Number.isInteger(owner) && alive(owner)) continue
      killPostmaster(path.join(dir, "data"))
      fs.rmSync(dir, { recursive: true, force: true })
    } catch {
      // another process is sweeping or making it: leave it
    }
  }
}

/** A CA, a server certificate it signed for localhost / 127.0.0.1, and a second, unrelated CA. */
const makeCertificates = (dir: string) =>
  Effect.gen(function*() {
    const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    const caExt = ["-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"]
    for (const name of ["ca", "other-ca"]) {
      yield* run(
        "openssl",
        [
          "req",
          "-x509",
          ...ec,
          "-keyout",
          `${name}.key`,
          "-out",
          `${name}.crt`,
          "-days",
          "2",
          "-subj",
          `/CN=redial test ${name}`,
          ...caExt
        ],
        dir
      )
    }
    yield* run("openssl", ["req", ...ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost"], dir)
    fs.writeFileSync(
      path.join(dir, "server.ext"),
      "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n"
    )
    yield* run(
      "openssl",
      [
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.crt",
        "-days",
        "2",
        "-extfile",
        "server.ext"
      ],
      dir
    )
    fs.chmodSync(path.join(dir, "server.key"), 0o600)
    return {
      ca: fs.readFileSync(path.join(dir, "ca.crt"), "utf8"),
      otherCa: fs.readFileSync(path.join(dir, "other-ca.crt"), "utf8")
    }
  })

const chownPostgres = (dir: string) =>
  isRoot() ? Effect.asVoid(run("chown", ["-R", "postgres:postgres", dir])) : Effect.void

/** Options of a cluster. */
export interface Options {
  /** ssl on, with the certificates made for it (default off). */
  readonly ssl?: boolean | undefined
  /** `pg_hba.conf` lines put before the default ones. */
  readonly hba?: ReadonlyArray<string> | undefined
  /** More `postgresql.conf` settings. */
  readonly settings?: Readonly<Record<string, string | number>> | undefined
}

/** Starts a cluster for the current scope. */
export const make = (options: Options = {}): Effect.Effect<Cluster, Error, Scope.Scope> =>
  Effect.gen(function*() {
    const bin = binDir()
    const ssl = options.ssl ?? false
    const password = crypto.randomBytes(18).toString("base64url")
    const [startedIn, { ca, dir, otherCa, port }] = yield* Effect.timed(
      Effect.acquireRelease(
        Effect.gen(function*() {
          yield* Effect.sync(sweepStale)
          const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix))
          fs.writeFileSync(path.join(dir, ownerFile), String(process.pid))
          return dir
        }),
        (dir) =>
          Effect.gen(function*() {
            const data = path.join(dir, "data")
            if (fs.existsSync(path.join(data, "postmaster.pid"))) {
              const [command, args] = asPostgres(path.join(bin, "pg_ctl"), [
                "stop",
                "-D",
                data,
                "-m",
                "immediate",
                "-w"
              ])
              yield* Effect.ignore(run(command, args))
              killPostmaster(data)
            }
            fs.rmSync(dir, { recursive: true, force: true })
          })
      ).pipe(
        Effect.flatMap((dir) =>
          Effect.gen(function*() {
            const certificates = ssl ? yield* makeCertificates(dir) : undefined
            yield* chownPostgres(dir)
            const data = path.join(dir, "data")
            const [initdb, initdbArgs] = asPostgres(path.join(bin, "initdb"), [
              "-D",
              data,
              "-U",
              "postgres",
              "--auth=trust",
              "--no-sync",
              "--no-instructions",
              "-E",
              "UTF8",
              "--locale=C"
            ])
            yield* run(initdb, initdbArgs)
            fs.writeFileSync(
              path.join(data, "pg_hba.conf"),
              [
                ...(options.hba ?? []),
                "local all all trust",
                `host all ${rejectedUser} 127.0.0.1/32 reject`,
                "host all all 127.0.0.1/32 scram-sha-256",
                ""
              ].join("\n")
            )
            // A port taken between freePort and the start: try another.
            let lastError: Error | undefined = undefined
            for (let attempt = 0; attempt < 3; attempt++) {
              const port = yield* freePort
              const settings: Record<string, string | number> = {
                port,
                listen_addresses: "'127.0.0.1'",
                unix_socket_directories: `'${dir}'`,
                fsync: "off",
                synchronous_commit: "off",
                full_page_writes: "off",
                shared_buffers: "'16MB'",
                max_connections: 40,
                password_encryption: "'scram-sha-256'",
                log_connections: "on",
                log_line_prefix: "'%m [%p] '",
                ssl: ssl ? "on" : "off",
                ...(ssl
                  ? {
                    ssl_cert_file: `'${path.join(dir, "server.crt")}'`,
                    ssl_key_file: `'${path.join(dir, "server.key")}'`
                  }
                  : {}),
                ...options.settings
              }
              fs.writeFileSync(
                path.join(data, "postgresql.auto.conf"),
                Object.entries(settings).map(([key, value]) => `${key} = ${value}\n`).join("")
              )
              const [pgCtl, pgCtlArgs] = asPostgres(path.join(bin, "pg_ctl"), [
                "start",
                "-D",
                data,
                "-l",
                path.join(dir, "log"),
                "-w",
                "-t",
                "30"
              ])
              const started = yield* Effect.either(run(pgCtl, pgCtlArgs))
              if (started._tag === "Right") {
                return { dir, port, ca: certificates?.ca, otherCa: certificates?.otherCa }
              }
              lastError = started.left
              const log = fs.existsSync(path.join(dir, "log")) ? fs.readFileSync(path.join(dir, "log"), "utf8") : ""
              if (!log.includes("Address already in use")) break
            }
            return yield* Effect.fail(lastError ?? new Error("the cluster did not start"))
          })
        )
      )
    )

    const admin = <R extends pg.QueryResultRow = pg.QueryResultRow>(
      sql: string,
      params: ReadonlyArray<unknown> = []
    ): Effect.Effect<pg.QueryResult<R>, Error> =>
      Effect.acquireUseRelease(
        Effect.tryPromise({
          try: async () => {
            const client = new pg.Client({
              host: dir,
              port,
              user: "postgres",
              database: "postgres",
              application_name: "redial-test-admin"
            })
            client.on("error", () => undefined)
            await client.connect()
            return client
          },
          catch: (e) => e as Error
        }),
        (client) =>
          Effect.tryPromise({ try: () => client.query<R>(sql, params as Array<unknown>), catch: (e) => e as Error }),
        (client) => Effect.promise(() => client.end().catch(() => undefined))
      )

    // base64url: nothing to quote
    for (const role of [user, rejectedUser]) {
      yield* admin(`CREATE ROLE ${role} LOGIN PASSWORD '${password}'`)
    }

    const log = Effect.sync(() => {
      try {
        return fs.readFileSync(path.join(dir, "log"), "utf8")
      } catch {
        return ""
      }
    })
    return {
      host: "127.0.0.1",
      port,
      dir,
      ssl,
      password: Redacted.make(password),
      ca,
      otherCa,
      startedIn,
      config: (applicationName, extra = {}) => ({
        host: "127.0.0.1",
        port,
        database: "postgres",
        user,
        password: Redacted.make(password),
        applicationName,
        ...extra
      }),
      admin,
      backends: (applicationName) =>
        Effect.map(
          admin<{ n: number }>(
            "select count(*)::int as n from pg_stat_activity where backend_type = 'client backend' and application_name = $1",
            [applicationName]
          ),
          (r) => r.rows[0]!.n
        ),
      log,
      tcpConnections: Effect.map(log, (text) => text.split("connection received: host=127.0.0.1").length - 1)
    } satisfies Cluster
  })

/** A cluster shared by the tests of a file (`layer(Cluster.layer())` from @effect/vitest). */
export const layer = (options: Options = {}): Layer.Layer<PgCluster, Error> => Layer.scoped(PgCluster, make(options))

/** The start time of a cluster, for a log line. */
export const describeStart = (cluster: Cluster): string =>
  `cluster on 127.0.0.1:${cluster.port} (ssl ${cluster.ssl ? "on" : "off"}) started in ${
    Duration.format(cluster.startedIn)
  }`
