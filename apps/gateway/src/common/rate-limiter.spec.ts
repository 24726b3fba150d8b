import fc from 'fast-check';
import { TokenBucketLimiter } from './rate-limiter';

describe('TokenBucketLimiter', () => {
  let now = 0;
  const make = (rate: number, burst: number) => new TokenBucketLimiter(rate, burst, () => now);
  beforeEach(() => (now = 1000));

  it('lets a burst through, then refills at the rate, per key', () => {
    const l = make(10, 5);
    for (let i = 0; i < 5; i++) expect(l.take('a')).toBe(0);
    expect(l.take('a')).toBe(100); // one token every 100 ms
    expect(l.take('b')).toBe(0); // another key is not affected
    now += 100;
    expect(l.take('a')).toBe(0);
    expect(l.take('a')).toBeGreaterThan(0);
  });

  it('wait() looks without taking', () => {
    const l = make(10, 1);
    expect(l.wait('a')).toBe(0);
    expect(l.take('a')).toBe(0);
    expect(l.wait('a')).toBe(100);
    expect(l.wait('a')).toBe(100);
    now += 100;
    expect(l.wait('a')).toBe(0);
  });

  it('wait(key, cost) tells when a cost would pass, with the same rule as take(), and takes nothing', () => {
    const l = make(10, 5);
    expect(l.take('a', 3)).toBe(0);
    expect(l.wait('a', 2)).toBe(0);
    expect(l.wait('a', 4)).toBe(200); // 2 left, 2 more at 10/s
    expect(l.wait('a', 50)).toBe(300); // a cost above the burst needs a full bucket
    now += 300;
    expect(l.wait('a', 50)).toBe(0);
    expect(l.take('a', 50)).toBe(0);
  });

  it('lets a cost above the burst pass from a full bucket, then makes the debt wait', () => {
    const l = make(10, 5);
    expect(l.take('a', 20)).toBe(0);
    expect(l.take('a', 1)).toBe(1600); // 15 owed + 1 needed, at 10/s
    now += 1600;
    expect(l.take('a', 1)).toBe(0);
  });

  it('forgets idle keys', () => {
    const l = make(1000, 1);
    for (let i = 0; i < 3000; i++) l.take(`k${i}`);
    now += 10;
    for (let i = 0; i < 3000; i++) l.take(`j${i}`);
    expect(l.size).toBeLessThan(6000);
  });

  it('never lets more than burst + rate × time through (property)', () => {
    fc.assert(
      fc.property(
        fc.double({ min: 0.5, max: 1000, noNaN: true }),
        fc.integer({ min: 1, max: 500 }),
        fc.array(fc.tuple(fc.integer({ min: 0, max: 200 }), fc.integer({ min: 1, max: 50 })), { maxLength: 300 }),
        (rate, burst, steps) => {
          now = 0;
          const l = make(rate, burst);
          let passed = 0;
          let maxCost = 0;
          for (const [dt, cost] of steps) {
            now += dt;
            if (l.take('k', cost) === 0) {
              passed += cost;
              maxCost = Math.max(maxCost, cost);
            }
          }
          // A cost above the burst may pass from a full bucket: allow for one such overshoot.
          return passed <= burst + (rate * now) / 1000 + Math.max(0, maxCost - burst) + 1e-6;
        },
      ),
    );
  });
});
