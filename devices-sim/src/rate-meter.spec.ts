import { RateMeter } from './rate-meter';

describe('RateMeter', () => {
  it('measures over about the last second', () => {
    const m = new RateMeter();
    expect(m.rate(0, 0)).toBe(0);
    for (let t = 0; t <= 3000; t += 100) m.sample(t, t / 10);
    // 10 a second for 3 s, then 1,000 a second: only the last second counts.
    for (let t = 3100; t <= 5000; t += 100) m.sample(t, 300 + (t - 3000));
    expect(m.rate(5000, 2300)).toBeCloseTo(1000, 0);
  });
});
