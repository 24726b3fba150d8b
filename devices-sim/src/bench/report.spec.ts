import { LatencyRecorder } from './latency';
import type { StepResult } from './load';
import { chartSvg, DOCS_BEGIN, DOCS_END, evaluateGoals, n0, n1, ratio, table, updateDocs } from './report';
import type { IngestResult, IngestRun } from './scenarios/ingest';
import { bucketParam } from './scenarios/history';
import { parsePrometheus } from './targets';

function step(offered: number, p99: number, over: Partial<StepResult> = {}): StepResult {
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

function run(id: string, steps: StepResult[], baselines: string[] = []): IngestRun {
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

const ingest: IngestResult = {
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

describe('report', () => {
  it('formats numbers and ratios, never printing NaN or Infinity', () => {
    expect(n0(12345.6)).toBe('12,346');
    expect(n1(3.14159)).toBe('3.1');
    expect(n1(NaN)).toBe('–');
    expect(ratio(1, 4)).toBe('0.25×');
    expect(ratio(1, 0)).toBe('–');
    expect(ratio(null, 4)).toBe('–');
    expect(table(['a', 'b'], [['1', '2']])).toBe('| a | b |\n| --- | --- |\n| 1 | 2 |');
  });

  it('judges the goals from the runs', () => {
    const goals = evaluateGoals({ ingest } as never);
    const byName = (s: string) => goals.find((g) => g.goal.includes(s))!;
    expect(byName('20,000')).toMatchObject({ met: true });
    expect(byName('bare-broker')).toMatchObject({ met: true });
    expect(byName('bare-broker').measured).toContain('0.67× aedes');
    expect(byName('p50')).toMatchObject({ met: false });
  });

  it('draws one line per run, hollow points where a step was not sustained', () => {
    const svg = chartSvg(ingest, 'title & more');
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg.match(/<polyline/g)).toHaveLength(2);
    expect(svg).toContain('title &amp; more');
    expect(svg).toContain('fill="white" stroke="#1f77b4"');
  });

  it('rewrites only the generated block of the docs', () => {
    const created = updateDocs(null, 'figures 1');
    expect(created).toContain(DOCS_BEGIN);
    const edited = created.replace('# Performance', '# Performance\n\nProse that stays.');
    const again = updateDocs(edited, 'figures 2');
    expect(again).toContain('Prose that stays.');
    expect(again).toContain('figures 2');
    expect(again).not.toContain('figures 1');
    expect(again.indexOf(DOCS_END)).toBeGreaterThan(again.indexOf('figures 2'));
  });
});

describe('helpers', () => {
  it('records latencies in an HDR histogram', () => {
    const r = new LatencyRecorder();
    for (let i = 1; i <= 100; i++) r.record(i);
    r.record(-3);
    const s = r.summary();
    expect(s.count).toBe(101);
    expect(s.p50).toBeCloseTo(50, 0);
    expect(s.p99).toBeCloseTo(99, 0);
    expect(s.max).toBeCloseTo(100, 0);
    r.reset();
    expect(r.summary().count).toBe(0);
  });

  it('sums Prometheus samples over labels', () => {
    const m = parsePrometheus('# HELP x y\n# TYPE x counter\nx{transport="mqtt"} 3\nx{transport="ws"} 4\ny 1.5\n');
    expect(m.get('x')).toBe(7);
    expect(m.get('y')).toBe(1.5);
  });

  it('chooses a bucket the history endpoint accepts for exactly 1,000 points', () => {
    expect(bucketParam(30 * 86_400_000, 1000)).toEqual({ text: '2592s', ms: 2_592_000 });
    expect(bucketParam(2 * 86_400_000, 1000)).toEqual({ text: '172800ms', ms: 172_800 });
  });
});
