import { n0, n1, ratio, table } from './format';
import { LatencyRecorder } from './latency';
import { chartSvg, DOCS_BEGIN, DOCS_END, updateDocs } from './report';
import { ingest } from './results.testing';
import { bucketParam } from './scenarios/history';
import { parsePrometheus } from './targets';

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
