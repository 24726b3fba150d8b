import type { StepResult } from './load';
import type { IngestResult, IngestRun } from './scenarios/ingest';

// Results of made-up runs for the goal and report specs.

export function step(offered: number, p99: number, over: Partial<StepResult> = {}): StepResult {
  return {
    target: 't',
    protocol: 'mqtt',
    devices: 10,
    offered,
    durationS: 5,
    sent: offered * 5,
    acked: offered * 5,
    refused: 0,
    failed: 0,
    dropped: 0,
    unsent: 0,
    achieved: offered,
    accepted: offered * 5,
    stored: offered * 5,
    deliveredByTarget: offered * 5,
    delivered: offered * 5,
    lost: 0,
    acceptedRate: offered,
    storedRate: offered,
    deliveredRate: offered,
    latency: { count: 1, p50: p99 / 4, p95: p99 / 2, p99, max: p99, mean: p99 / 4 },
    ack: { count: 1, p50: 1, p95: 1, p99: 1, max: 1, mean: 1 },
    cpuPct: 50,
    rssMB: 100,
    readingsPerCoreS: offered * 2,
    harnessCpuPct: 40,
    load1: 1,
    sustained: true,
    why: [],
    errors: {},
    loop: null,
    wallS: 6,
    ...over,
  };
}

export function run(id: string, steps: StepResult[], baselines: string[] = []): IngestRun {
  const ok = steps.filter((s) => s.sustained);
  return {
    id,
    target: id.split('-')[0],
    protocol: 'mqtt',
    baselines,
    steps,
    maxSustained: ok.length ? ok[ok.length - 1].offered : 0,
    capped: steps.every((s) => s.sustained),
    atGoalRate: steps.find((s) => s.offered === 10_000) ?? null,
  };
}

export const ingest: IngestResult = {
  runs: [
    run(
      'gateway-mqtt',
      [step(10_000, 30), step(20_000, 200), step(30_000, 2000, { sustained: false, why: ['x'] })],
      ['aedes-mqtt'],
    ),
    run('aedes-mqtt', [step(10_000, 10), step(20_000, 20), step(30_000, 30), step(40_000, 900, { sustained: false })]),
  ],
  sustain: null,
  goalRate: 10_000,
  profileDir: null,
  skipped: [],
};
