import { isAgg, MetricSeries } from './metric-series';

const hist = (xs: number[], bucket = 10) =>
  xs.map((x) => ({ ts: x, value: x / bucket, min: x / bucket - 1, max: x / bucket + 1, count: 5 }));

describe('MetricSeries', () => {
  it('draws aggregated history then raw points as one sorted line, with a band over the aggregated part only', () => {
    const s = new MetricSeries('t');
    s.setHistory(hist([0, 10, 20]), 10);
    const line = s.line;
    s.addRaw(30, 3);
    s.addRaw(31, 3.1);
    s.commit();
    expect(s.line).toBe(line); // appended in place: the chart follows the same array
    expect(s.line.map((p) => p.x)).toEqual([0, 10, 20, 30, 31]);
    expect(s.line.map(isAgg)).toEqual([true, true, true, false, false]);
    expect(s.bandLo.map((p) => [p.x, p.y])).toEqual([
      [0, -1],
      [10, 0],
      [20, 1],
    ]);
    expect(s.bandHi.map((p) => p.y)).toEqual([1, 2, 3]);
  });

  it('puts a late reading in its place', () => {
    const s = new MetricSeries('t');
    s.setHistory(hist([0, 10]), 10);
    for (const x of [30, 40, 35, 50]) s.addRaw(x, x);
    s.commit();
    expect(s.line.map((p) => p.x)).toEqual([0, 10, 30, 35, 40, 50]);
  });

  it('folds the oldest raw points into buckets beyond its bound, keeping min and max', () => {
    const s = new MetricSeries('t', 100);
    s.setHistory([], 10);
    for (let x = 0; x < 101; x++) s.addRaw(x, x % 10 === 3 ? 100 : x % 10);
    s.commit();
    expect(s.rawCount).toBe(51); // from the bucket boundary at or before the newest half
    expect(s.aggCount).toBe(5);
    const first = s.line[0];
    expect(isAgg(first) && [first.x, first.count, first.min, first.max]).toEqual([0, 10, 0, 100]);
    expect(s.line.map((p) => p.x)).toEqual([...s.line.map((p) => p.x)].sort((a, b) => a - b));
    expect(s.line[s.line.length - 1].x).toBe(100);
  });

  it('slides: drops points before the window, keeping one to enter from the edge', () => {
    const s = new MetricSeries('t');
    s.setHistory(hist([0, 10, 20]), 10);
    for (const x of [30, 40, 50]) s.addRaw(x, 1);
    expect(s.trimBefore(35)).toBe(true);
    expect(s.line.map((p) => p.x)).toEqual([30, 40, 50]);
    expect(s.bandLo.map((p) => p.x)).toEqual([20]);
    expect(s.trimBefore(35)).toBe(false);
  });

  it('merges history that fills a hole, combining buckets that meet', () => {
    const s = new MetricSeries('t');
    s.setHistory(hist([0, 10]), 10);
    for (const x of [100, 110]) s.addRaw(x, 1);
    s.mergeHistory([
      { ts: 10, value: 4, min: 0, max: 9, count: 5 },
      { ts: 50, value: 5, min: 5, max: 5, count: 1 },
    ]);
    expect(s.line.map((p) => p.x)).toEqual([0, 10, 50, 100, 110]);
    const merged = s.line[1];
    expect(isAgg(merged) && [merged.count, merged.y, merged.min, merged.max]).toEqual([10, 2.5, 0, 9]);
  });
});
