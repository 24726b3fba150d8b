import { ErrorCode, type FieldlineError } from './errors';
import { autoBucketMs, NICE_BUCKETS_MS, parseDuration, parseHistoryParams } from './rest';

const now = Date.UTC(2026, 10, 25, 12);

describe('history parameters', () => {
  it('parses durations', () => {
    expect(parseDuration('500ms')).toBe(500);
    expect(parseDuration('10s')).toBe(10_000);
    expect(parseDuration('5m')).toBe(300_000);
    expect(parseDuration('1h')).toBe(3_600_000);
    expect(parseDuration('1d')).toBe(86_400_000);
    expect(parseDuration('0s')).toBeNull();
    expect(parseDuration('1 h')).toBeNull();
    expect(parseDuration('-1h')).toBeNull();
  });

  it('auto bucket picks the smallest nice width within maxPoints', () => {
    expect(autoBucketMs(0, 3_600_000, 1000)).toBe(5000); // 3.6 s needed → 5 s
    expect(autoBucketMs(0, 7 * 86_400_000, 1000)).toBe(900_000); // 604.8 s → 15 min
    expect(autoBucketMs(0, 1000, 1000)).toBe(1);
    for (const [span, max] of [
      [86_400_000, 300],
      [30 * 86_400_000, 1000],
      [123_456, 7],
    ]) {
      const b = autoBucketMs(0, span, max);
      expect(Math.ceil(span / b)).toBeLessThanOrEqual(max);
      const i = NICE_BUCKETS_MS.indexOf(b);
      if (i > 0) expect(Math.ceil(span / NICE_BUCKETS_MS[i - 1])).toBeGreaterThan(max);
    }
  });

  it('defaults to the last hour, auto buckets, mean, 1000 points', () => {
    expect(parseHistoryParams('d', {}, now)).toEqual({
      deviceId: 'd',
      from: now - 3_600_000,
      to: now,
      bucketMs: 5000,
      agg: 'mean',
      maxPoints: 1000,
    });
  });

  it('takes raw, explicit buckets, ISO times and a time zone', () => {
    const q = parseHistoryParams(
      'd',
      { from: '2026-11-24T00:00:00Z', to: String(now), bucket: '1d', agg: 'max', tz: 'Europe/Berlin' },
      now,
    );
    expect(q).toMatchObject({
      from: Date.UTC(2026, 10, 24),
      to: now,
      bucketMs: 86_400_000,
      agg: 'max',
      tz: 'Europe/Berlin',
    });
    expect(parseHistoryParams('d', { bucket: 'raw', metric: 'temperature' }, now)).toMatchObject({
      bucketMs: null,
      metric: 'temperature',
    });
  });

  it.each([
    [{ from: 'yesterday' }],
    [{ from: String(now), to: String(now - 1) }],
    [{ maxPoints: '0' }],
    [{ maxPoints: '100000' }],
    [{ agg: 'median' }],
    [{ bucket: 'often' }],
    [{ bucket: '1ms', from: String(now - 86_400_000) }],
    [{ tz: 'Mars/Olympus' }],
    [{ metric: 'bad name' }],
    // Beyond what a store can represent: a 400, never a store error (503).
    [{ from: '-1' }],
    [{ from: '1.5' }],
    [{ to: 'Tue, 1 Dec 2026 10:00:00 GMT' }],
    [{ from: '99999999999999999999' }],
    [{ to: '+275760-09-13T00:00:00Z' }],
    [{ from: '2262-06-01T00:00:00Z', to: '2263-01-01T00:00:00Z' }],
  ])('refuses %p with INVALID_REQUEST', (params) => {
    let code: string | undefined;
    try {
      parseHistoryParams('d', params, now);
    } catch (err) {
      code = (err as FieldlineError).code;
    }
    expect(code).toBe(ErrorCode.INVALID_REQUEST);
  });
});
