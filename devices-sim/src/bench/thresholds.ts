/** Points of the history aggregate the scenario asks for (and the history goal is set at). */
export const HISTORY_POINTS = 1000;

const HISTORY_DAYS = 30;

/**
 * Every threshold of the goals, written once: the goal texts, the rules, the ingest scenario (it measures latency at
 * `latency.rate` and holds `ingest.rate`) and the bench's defaults and --help (the full fan-out ladder and history
 * store reach the goals' sizes) read them. The history's point count is the query the scenario sends.
 */
export const THRESHOLDS = {
  /** The rate the gateway must hold for `holdS` with nothing lost. */
  ingest: { rate: 20_000, holdS: 60 },
  /** Above `harnessCpuPct` the load generator, not the broker, may be what failed. */
  brokerShare: { share: 0.6, harnessCpuPct: 90 },
  latency: { rate: 10_000, p50Ms: 5, p99Ms: 25 },
  fanout: { sockets: 5000, kbPerSocket: 20, deliveredShare: 0.99 },
  /** `days` at 1 Hz is the store the goal is set on (the bench's default); a smaller one is not judged. */
  history: { points: HISTORY_POINTS, days: HISTORY_DAYS, readings: HISTORY_DAYS * 86_400, p50Ms: 200 },
} as const;
