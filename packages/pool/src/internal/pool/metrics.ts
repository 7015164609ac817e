/**
 * The pool's metrics: one set for every pool, told apart by the `pool` tag.
 *
 * @internal
 */
import * as Metric from "effect/Metric"
import * as MetricBoundaries from "effect/MetricBoundaries"

/** @internal */
export const metrics = {
  size: Metric.gauge("redial_pool_size", { description: "Slots of the pool" }),
  idle: Metric.gauge("redial_pool_idle", { description: "Idle connections (sampled every idleInterval)" }),
  busy: Metric.gauge("redial_pool_busy", {
    description: "Connections checked out or being pinged (sampled every idleInterval)"
  }),
  queued: Metric.gauge("redial_pool_queued", { description: "Requests waiting (sampled every idleInterval)" }),
  wait: Metric.histogram(
    "redial_pool_wait_ms",
    MetricBoundaries.exponential({ start: 0.25, factor: 2, count: 18 }),
    "Time from a request to its checkout, in milliseconds"
  ),
  dropped: Metric.counter("redial_pool_dropped_total", {
    description: "Requests dropped by load shedding",
    incremental: true
  }),
  leaks: Metric.counter("redial_pool_leaks_total", {
    description: "Checkouts held longer than leakTimeout",
    incremental: true
  }),
  broken: Metric.counter("redial_pool_broken_total", {
    description: "Connections taken out of service because a call broke them (disconnect, defect, interruption)",
    incremental: true
  })
}

/** The metrics of one pool, tagged once (tagging hashes the labels: not on every update). @internal */
export const tagged = (pool: string) => ({
  size: Metric.tagged(metrics.size, "pool", pool),
  idle: Metric.tagged(metrics.idle, "pool", pool),
  busy: Metric.tagged(metrics.busy, "pool", pool),
  queued: Metric.tagged(metrics.queued, "pool", pool),
  wait: Metric.tagged(metrics.wait, "pool", pool),
  dropped: Metric.tagged(metrics.dropped, "pool", pool),
  leaks: Metric.tagged(metrics.leaks, "pool", pool),
  broken: Metric.tagged(metrics.broken, "pool", pool)
})

/** @internal */
export type Tagged = ReturnType<typeof tagged>
