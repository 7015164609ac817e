/**
 * A focused run for profiling, not part of `npm run bench`: the publishers (or consumers) of
 * throughput.ts, each alone for a while against the local broker, with messages/s and CPU per
 * message.
 *
 *   node scripts/bundle-bench.mjs packages/amqp/bench/profile.ts packages/amqp/build/bench/profile.mjs
 *   node --expose-gc [--cpu-prof] packages/amqp/build/bench/profile.mjs \
 *     [publish|consume] [clients, comma-separated] [in flight] [seconds] [rounds]
 *
 * Clients: `redial`, `amqplib`, `amqp-connection-manager` (`all` or "" for all). Default: publish, all of them, 64 in
 * flight, 2 s, 3 rounds (the order rotating). A consume run consumes `seconds` × 10,000 messages
 * with prefetch 100. Under `--cpu-prof`, profile one client at a time so the profile is that
 * client's.
 */
import { collect, fixed, list, median, order, thousands } from "../../../bench/report.js"
import * as Contenders from "./contenders.js"
import { helper, measure, type Measured, publishOnce } from "./throughput.js"

const [what = "publish", names, inFlight = "64", seconds = "2", rounds = "3"] = process.argv.slice(2)

const contenders = await Contenders.make(names === "" || names === "all" ? undefined : names)
const bench = await helper()
try {
  const samples = new Map<string, Array<Measured>>()
  for (let round = 0; round < Number(rounds); round++) {
    for (const contender of order(contenders, round)) {
      let measured: Measured
      if (what === "consume") {
        const count = Number(seconds) * 10_000
        await bench.fill(contender.queue, count)
        collect()
        measured = await measure(async () => {
          await contender.consume(count, 100)
          return count
        })
      } else {
        await publishOnce(contender, Number(inFlight), 500)
        collect()
        measured = await publishOnce(contender, Number(inFlight), Number(seconds) * 1000)
      }
      await bench.purge(contender.queue)
      samples.set(contender.name, [...(samples.get(contender.name) ?? []), measured])
    }
  }
  for (const { name } of contenders) {
    const of = samples.get(name) ?? []
    const at = (pick: (m: Measured) => number) => median(of.map(pick))
    console.log(
      `${name.padEnd(24)} ${what}${what === "publish" ? ` ${inFlight} in flight` : ""}: ` +
        `${thousands(at((m) => m.perSecond)).padStart(7)} messages/s, ${fixed(at((m) => m.cpu), 0)} µs CPU/message ` +
        `(samples: ${list(of.map((m) => m.perSecond), thousands)})`
    )
  }
} finally {
  await bench.close()
  for (const contender of contenders) await contender.close()
}
