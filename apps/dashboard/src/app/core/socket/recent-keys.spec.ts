import { readingKey, RecentKeys } from './recent-keys';

describe('RecentKeys', () => {
  it('keys readings by device, ts and seq', () => {
    const a = readingKey({ deviceId: 'a', ts: 5, seq: 1, metrics: { t: 1 } });
    expect(readingKey({ deviceId: 'a', ts: 5, seq: 1, metrics: { t: 2 } })).toBe(a);
    expect(readingKey({ deviceId: 'a', ts: 5, seq: 2, metrics: { t: 1 } })).not.toBe(a);
    expect(readingKey({ deviceId: 'b', ts: 5, seq: 1, metrics: { t: 1 } })).not.toBe(a);
    expect(readingKey({ deviceId: 'a', ts: 5, metrics: { t: 1 } })).not.toBe(a);
  });

  it('accepts a key once and forgets the oldest beyond its capacity', () => {
    const keys = new RecentKeys(3);
    expect(['k1', 'k2', 'k1', 'k3'].map((k) => keys.add(k))).toEqual([true, true, false, true]);
    expect(keys.add('k4')).toBe(true); // evicts k1
    expect(keys.size).toBe(3);
    expect(keys.add('k1')).toBe(true);
    expect(keys.add('k4')).toBe(false);
  });
});
