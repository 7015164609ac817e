/**
 * What the query-path tests read outside the driver: this process's TCP sockets to a port (from
 * /proc: its file descriptors matched against the kernel's socket tables), polls of the server's
 * views, and heap readings after a full GC.
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as fs from "node:fs"
import * as v8 from "node:v8"
import * as vm from "node:vm"

/** The inodes of this process's open sockets. */
const socketInodes = (): Set<string> => {
  const inodes = new Set<string>()
  for (const fd of fs.readdirSync("/proc/self/fd")) {
    try {
      const link = fs.readlinkSync(`/proc/self/fd/${fd}`)
      const match = /^socket:\[(\d+)\]$/.exec(link)
      if (match) inodes.add(match[1]!)
    } catch {
      // closed while listing
    }
  }
  return inodes
}

/**
 * How many of this process's TCP sockets are connected (in any state but LISTEN) to `port` on the
 * remote side. Sockets in TIME_WAIT have no descriptor and do not count.
 */
export const socketsTo = (port: number): Effect.Effect<number> =>
  Effect.sync(() => {
    const mine = socketInodes()
    const hex = port.toString(16).toUpperCase().padStart(4, "0")
    let count = 0
    for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
      let text: string
      try {
        text = fs.readFileSync(table, "utf8")
      } catch {
        continue
      }
      for (const line of text.split("\n").slice(1)) {
        const fields = line.trim().split(/\s+/)
        if (fields.length < 10) continue
        const remote = fields[2]!
        const state = fields[3]!
        const inode = fields[9]!
        if (state !== "0A" && remote.endsWith(`:${hex}`) && mine.has(inode)) count += 1
      }
    }
    return count
  })

/**
 * Polls state outside this process (the server's views, the kernel's sockets), which sends no
 * events, every `interval` until `predicate` holds; dies after `timeout` with the last value.
 */
export const eventually = <A>(
  self: Effect.Effect<A, unknown>,
  predicate: (a: A) => boolean,
  timeout: Duration.DurationInput = "20 seconds",
  interval: Duration.DurationInput = "10 millis"
): Effect.Effect<A> => {
  let last: A | undefined
  return Effect.gen(function*() {
    last = yield* self
    while (!predicate(last)) {
      yield* Effect.sleep(interval)
      last = yield* self
    }
    return last
  }).pipe(
    Effect.timeoutFail({
      duration: timeout,
      onTimeout: () =>
        new Error(
          `the condition did not hold in ${Duration.format(Duration.decode(timeout))}; last: ${JSON.stringify(last)}`
        )
    }),
    Effect.orDie
  )
}

/** `global.gc`, exposed at run time (the test workers are not started with --expose-gc). */
export const exposeGc = (): () => void => {
  v8.setFlagsFromString("--expose-gc")
  return vm.runInNewContext("gc") as () => void
}

/** The heap in use after two full collections. */
export const heapAfterGc = (gc: () => void): Effect.Effect<number> =>
  Effect.sync(() => {
    gc()
    gc()
    return process.memoryUsage().heapUsed
  })

/** Milliseconds of a duration, for comparisons. */
export const ms = (duration: Duration.Duration): number => Duration.toMillis(duration)

/** Every way an error is shown: String, message, stack, JSON (each value once), and the same for its cause. */
export const renderings = (error: unknown): Array<string> => {
  const out: Array<string> = []
  let current: unknown = error
  for (let depth = 0; depth < 4 && current !== undefined && current !== null; depth++) {
    out.push(String(current))
    if (current instanceof Error) out.push(current.message, current.stack ?? "")
    const seen = new WeakSet<object>()
    out.push(
      JSON.stringify(current, (_key, value: unknown) => {
        if (typeof value !== "object" || value === null) return value
        if (seen.has(value)) return "[seen]"
        seen.add(value)
        return value
      }) ?? ""
    )
    current = (current as { cause?: unknown }).cause
  }
  return out
}
