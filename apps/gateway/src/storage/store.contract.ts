import type { HistoryQuery, HistorySeries, Reading } from '@fieldline/contracts';
import type { TelemetryStore } from './store';

/*
 * The behaviour every TelemetryStore promises, run against each implementation (DuckDB, InfluxDB). It tests only
 * what the interface says, on fixed timestamps, so a failure names a broken promise rather than an implementation
 * detail.
 */

/** 2025-01-15T00:00:00Z, a Wednesday in winter (Europe/Berlin is UTC+1). */
const T0 = Date.UTC(2025, 0, 15);
const MIN = 60_000;
const HOUR = 3_600_000;
const DAY = 86_400_000;

function query(deviceId: string, over: Partial<HistoryQuery> = {}): HistoryQuery {
  return { deviceId, from: T0 - DAY, to: T0 + 30 * DAY, bucketMs: null, agg: 'mean', maxPoints: 1000, ...over };
}

function seriesOf(series: HistorySeries[], metric: string): HistorySeries {
  const s = series.find((x) => x.metric === metric);
  if (!s) throw new Error(`no series for ${metric} in [${series.map((x) => x.metric).join(', ')}]`);
  return s;
}

/**
 * Registers the store contract suite. `makeStore` returns a new, empty store that is not yet initialised; the suite
 * calls `init()` and `close()`.
 */
export function describeStoreContract(name: string, makeStore: () => Promise<TelemetryStore>): void {
  describe(`TelemetryStore contract: ${name}`, () => {
    let store: TelemetryStore;
    let open = false;

    beforeEach(async () => {
      store = await makeStore();
      await store.init();
      open = true;
    });

    afterEach(async () => {
      if (open) await store.close();
    });

    it('has a kind and answers ping', async () => {
      expect(typeof store.kind).toBe('string');
      expect(store.kind.length).toBeGreaterThan(0);
      await expect(store.ping()).resolves.toBeUndefined();
    });

    it('accepts an empty batch', async () => {
      await store.write([]);
      expect(await store.devices()).toEqual([]);
    });

    describe('write and since', () => {
      it('round-trips readings with seq, tags and several metrics', async () => {
        const a: Reading = {
          deviceId: 'dev-a',
          ts: T0 + 1000,
          seq: 7,
          metrics: { temp: 21.5, hum: 40 },
          tags: { site: 'north', fw: '1.2' },
        };
        const b: Reading = { deviceId: 'dev-a', ts: T0 + 2000, metrics: { temp: -3.25 } };
        await store.write([a, b]);
        const got = await store.since('dev-a', T0, 100);
        expect(got).toEqual([a, b]);
        // Absent optional fields stay absent: no seq: undefined / tags: null on the wire.
        expect(got[1]).not.toHaveProperty('seq');
        expect(got[1]).not.toHaveProperty('tags');
        expect(got[0]).not.toBe(a);
      });

      it('returns readings oldest first whatever the write order, ties by seq', async () => {
        const r = (ts: number, seq: number): Reading => ({ deviceId: 'dev-a', ts, seq, metrics: { v: seq } });
        await store.write([r(T0 + 3000, 5), r(T0 + 1000, 9), r(T0 + 2000, 3), r(T0 + 2000, 1)]);
        await store.write([r(T0 + 500, 10), r(T0 + 2000, 2)]);
        const got = await store.since('dev-a', 0, 100);
        expect(got.map((x) => [x.ts, x.seq])).toEqual([
          [T0 + 500, 10],
          [T0 + 1000, 9],
          [T0 + 2000, 1],
          [T0 + 2000, 2],
          [T0 + 2000, 3],
          [T0 + 3000, 5],
        ]);
      });

      it('excludes since itself and stops at limit, counting readings not metrics', async () => {
        const readings: Reading[] = [];
        for (let i = 0; i < 10; i++)
          readings.push({ deviceId: 'dev-a', ts: T0 + i * 1000, seq: i, metrics: { a: i, b: -i, c: i * 2 } });
        await store.write(readings);
        const after = await store.since('dev-a', T0 + 3000, 100);
        expect(after.map((x) => x.seq)).toEqual([4, 5, 6, 7, 8, 9]);
        const limited = await store.since('dev-a', T0 + 3000, 4);
        expect(limited.map((x) => x.seq)).toEqual([4, 5, 6, 7]);
        expect(limited[0].metrics).toEqual({ a: 4, b: -4, c: 8 });
        expect(await store.since('dev-a', T0 + 9000, 100)).toEqual([]);
        expect(await store.since('nobody', 0, 100)).toEqual([]);
      });

      it('stops before `before` when given (exclusive), still at most limit', async () => {
        const readings: Reading[] = [];
        for (let i = 0; i < 10; i++) readings.push({ deviceId: 'dev-b', ts: T0 + i * 1000, seq: i, metrics: { a: i } });
        await store.write(readings);
        expect((await store.since('dev-b', T0 + 2000, 100, T0 + 6000)).map((x) => x.seq)).toEqual([3, 4, 5]);
        expect((await store.since('dev-b', T0 + 2000, 2, T0 + 6000)).map((x) => x.seq)).toEqual([3, 4]);
        expect(await store.since('dev-b', T0 + 2000, 100, T0 + 3000)).toEqual([]);
      });

      it('stores a batch of 10k readings in one write', async () => {
        const readings: Reading[] = [];
        for (let i = 0; i < 10_000; i++) {
          readings.push({ deviceId: 'dev-big', ts: T0 + i * 100, seq: i, metrics: { temp: 20 + (i % 10), volt: 3.3 } });
        }
        await store.write(readings);
        const got = await store.since('dev-big', 0, 20_000);
        expect(got).toHaveLength(10_000);
        expect(got[0]).toEqual(readings[0]);
        expect(got[9_999]).toEqual(readings[9_999]);
        const h = await store.history(query('dev-big', { metric: 'temp', bucketMs: DAY, agg: 'count' }));
        expect(h.series[0].points).toEqual([{ ts: T0, value: 10_000, min: 20, max: 29, count: 10_000 }]);
      });

      it('keeps concurrent writes apart and complete', async () => {
        const batches = [0, 1, 2, 3, 4].map((b) =>
          Array.from({ length: 200 }, (_, i): Reading => ({
            deviceId: 'dev-c',
            ts: T0 + b * 1000 + i,
            seq: b * 1000 + i,
            metrics: { v: b },
          })),
        );
        await Promise.all(batches.map((batch) => store.write(batch)));
        const got = await store.since('dev-c', 0, 10_000);
        expect(got).toHaveLength(1000);
        expect(got.map((r) => r.seq)).toEqual(batches.flat().map((r) => r.seq));
      });
    });

    describe('idempotent writes', () => {
      it('stores a reading written twice (a replay, a retry, a resend) once', async () => {
        const r = (ts: number, seq: number): Reading => ({ deviceId: 'dev-i', ts, seq, metrics: { v: seq, w: 1 } });
        const batch = [r(T0 + 1000, 1), r(T0 + 2000, 2), r(T0 + 3000, 3)];
        await store.write(batch);
        await store.write(batch);
        // Overlapping, and with a duplicate inside one batch.
        await store.write([r(T0 + 3000, 3), r(T0 + 4000, 4), r(T0 + 4000, 4)]);
        const got = await store.since('dev-i', 0, 100);
        expect(got.map((x) => x.seq)).toEqual([1, 2, 3, 4]);
        const h = await store.history(query('dev-i', { bucketMs: DAY, agg: 'count' }));
        expect(seriesOf(h.series, 'v').points.map((p) => p.value)).toEqual([4]);
        expect(seriesOf(h.series, 'w').points.map((p) => p.value)).toEqual([4]);
      });

      it('keeps readings that differ only in seq, and treats same device + ts + metric without seq as one', async () => {
        await store.write([
          { deviceId: 'dev-j', ts: T0 + 1000, seq: 1, metrics: { v: 1 } },
          { deviceId: 'dev-j', ts: T0 + 1000, seq: 2, metrics: { v: 2 } },
          { deviceId: 'dev-k', ts: T0 + 1000, metrics: { v: 5 } },
        ]);
        await store.write([{ deviceId: 'dev-k', ts: T0 + 1000, metrics: { v: 5 } }]);
        expect((await store.since('dev-j', 0, 100)).map((x) => x.seq)).toEqual([1, 2]);
        const k = await store.history(query('dev-k', { bucketMs: DAY, agg: 'count' }));
        expect(seriesOf(k.series, 'v').points.map((p) => p.value)).toEqual([1]);
      });
    });

    describe('history', () => {
      /** temp every 10 min for 3 h from T0 (values 0..17), hum every 30 min (100, 101, ...). */
      async function seed(deviceId = 'dev-h'): Promise<void> {
        const readings: Reading[] = [];
        for (let i = 0; i < 18; i++) {
          const metrics: Record<string, number> = { temp: i };
          if (i % 3 === 0) metrics['hum'] = 100 + i / 3;
          readings.push({ deviceId, ts: T0 + i * 10 * MIN, seq: i, metrics });
        }
        await store.write(readings);
      }

      it('returns raw points per metric, sorted by metric name and by ts', async () => {
        await seed();
        const h = await store.history(query('dev-h'));
        expect(h).toMatchObject({ deviceId: 'dev-h', bucketMs: null, agg: 'mean', truncated: false });
        expect(h.series.map((s) => s.metric)).toEqual(['hum', 'temp']);
        expect(seriesOf(h.series, 'temp').points).toHaveLength(18);
        expect(seriesOf(h.series, 'temp').points[3]).toEqual({ ts: T0 + 30 * MIN, value: 3 });
        expect(seriesOf(h.series, 'hum').points.map((p) => p.value)).toEqual([100, 101, 102, 103, 104, 105]);
      });

      it('cuts raw points at maxPoints per metric, oldest first, and says so', async () => {
        await seed();
        const h = await store.history(query('dev-h', { maxPoints: 5 }));
        expect(h.truncated).toBe(true);
        expect(seriesOf(h.series, 'temp').points.map((p) => p.value)).toEqual([0, 1, 2, 3, 4]);
        expect(seriesOf(h.series, 'hum').points.map((p) => p.value)).toEqual([100, 101, 102, 103, 104]);
        const exact = await store.history(query('dev-h', { metric: 'hum', maxPoints: 6 }));
        expect(exact.truncated).toBe(false);
        expect(exact.series[0].points).toHaveLength(6);
      });

      it('filters by metric', async () => {
        await seed();
        const h = await store.history(query('dev-h', { metric: 'hum', bucketMs: HOUR }));
        expect(h.series.map((s) => s.metric)).toEqual(['hum']);
        const none = await store.history(query('dev-h', { metric: 'nothing' }));
        expect(none.series.flatMap((s) => s.points)).toEqual([]);
      });

      it('treats from as inclusive and to as exclusive', async () => {
        await seed();
        const raw = await store.history(query('dev-h', { metric: 'temp', from: T0 + 20 * MIN, to: T0 + 50 * MIN }));
        expect(raw.series[0].points.map((p) => p.ts)).toEqual([T0 + 20 * MIN, T0 + 30 * MIN, T0 + 40 * MIN]);
        const agg = await store.history(
          query('dev-h', { metric: 'temp', from: T0 + 20 * MIN, to: T0 + 50 * MIN, bucketMs: HOUR, agg: 'count' }),
        );
        expect(agg.series[0].points).toEqual([{ ts: T0, value: 3, min: 2, max: 4, count: 3 }]);
      });

      it('aggregates per bucket aligned to the epoch: mean, min, max, last, count', async () => {
        await seed();
        const base = { metric: 'temp', bucketMs: HOUR };
        const mean = await store.history(query('dev-h', { ...base, agg: 'mean' }));
        expect(mean.bucketMs).toBe(HOUR);
        expect(mean.truncated).toBe(false);
        expect(mean.series[0].points).toEqual([
          { ts: T0, value: 2.5, min: 0, max: 5, count: 6 },
          { ts: T0 + HOUR, value: 8.5, min: 6, max: 11, count: 6 },
          { ts: T0 + 2 * HOUR, value: 14.5, min: 12, max: 17, count: 6 },
        ]);
        const values = async (agg: HistoryQuery['agg']): Promise<number[]> =>
          (await store.history(query('dev-h', { ...base, agg }))).series[0].points.map((p) => p.value);
        expect(await values('min')).toEqual([0, 6, 12]);
        expect(await values('max')).toEqual([5, 11, 17]);
        expect(await values('last')).toEqual([5, 11, 17]);
        expect(await values('count')).toEqual([6, 6, 6]);
      });

      it('takes last by timestamp, not by write order', async () => {
        await store.write([
          { deviceId: 'dev-l', ts: T0 + 5 * MIN, metrics: { v: 2 } },
          { deviceId: 'dev-l', ts: T0 + 1 * MIN, metrics: { v: 9 } },
        ]);
        await store.write([{ deviceId: 'dev-l', ts: T0 + 3 * MIN, metrics: { v: 4 } }]);
        const h = await store.history(query('dev-l', { bucketMs: HOUR, agg: 'last' }));
        expect(h.series[0].points).toEqual([{ ts: T0, value: 2, min: 2, max: 9, count: 3 }]);
      });

      it('starts buckets that do not divide an hour on multiples of the width since the epoch', async () => {
        // 7-minute buckets: T0 is 28_948_320 min after the epoch, 2 min past a multiple of 7.
        const start = T0 - 2 * MIN;
        await store.write([
          { deviceId: 'dev-b', ts: T0 + 4 * MIN + 59_999, metrics: { v: 1 } },
          { deviceId: 'dev-b', ts: T0 + 5 * MIN, metrics: { v: 2 } },
        ]);
        const h = await store.history(query('dev-b', { bucketMs: 7 * MIN, agg: 'count' }));
        expect(h.series[0].points.map((p) => [p.ts, p.count])).toEqual([
          [start, 1],
          [start + 7 * MIN, 1],
        ]);
      });

      it('aggregates every metric when none is named', async () => {
        await seed();
        const h = await store.history(query('dev-h', { bucketMs: 3 * HOUR, agg: 'mean' }));
        expect(h.series.map((s) => s.metric)).toEqual(['hum', 'temp']);
        expect(seriesOf(h.series, 'hum').points).toEqual([{ ts: T0, value: 102.5, min: 100, max: 105, count: 6 }]);
        expect(seriesOf(h.series, 'temp').points).toEqual([{ ts: T0, value: 8.5, min: 0, max: 17, count: 18 }]);
      });

      it('aligns day buckets to local midnight when a time zone is given', async () => {
        // 23:30 UTC is 00:30 the next day in Berlin (UTC+1 in January).
        await store.write([
          { deviceId: 'dev-tz', ts: T0 + 22 * HOUR + 30 * MIN, metrics: { v: 1 } },
          { deviceId: 'dev-tz', ts: T0 + 23 * HOUR + 30 * MIN, metrics: { v: 2 } },
          { deviceId: 'dev-tz', ts: T0 + DAY + 12 * HOUR, metrics: { v: 3 } },
        ]);
        const utc = await store.history(query('dev-tz', { bucketMs: DAY, agg: 'count' }));
        expect(utc.series[0].points.map((p) => [p.ts, p.count])).toEqual([
          [T0, 2],
          [T0 + DAY, 1],
        ]);
        const explicitUtc = await store.history(query('dev-tz', { bucketMs: DAY, agg: 'count', tz: 'UTC' }));
        expect(explicitUtc.series).toEqual(utc.series);
        const berlin = await store.history(query('dev-tz', { bucketMs: DAY, agg: 'count', tz: 'Europe/Berlin' }));
        expect(berlin.series[0].points.map((p) => [p.ts, p.count])).toEqual([
          [T0 - HOUR, 1],
          [T0 + DAY - HOUR, 2],
        ]);
      });

      it('follows daylight saving time in local day buckets', async () => {
        // Berlin springs forward on 2025-03-30: that local day lasts 23 h.
        const mar29 = Date.UTC(2025, 2, 28, 23); // local midnight, UTC+1
        const mar30 = Date.UTC(2025, 2, 29, 23);
        const mar31 = Date.UTC(2025, 2, 30, 22); // local midnight, UTC+2
        await store.write([
          { deviceId: 'dev-dst', ts: mar30 + HOUR, metrics: { v: 1 } },
          { deviceId: 'dev-dst', ts: mar31 - MIN, metrics: { v: 2 } },
          { deviceId: 'dev-dst', ts: mar31, metrics: { v: 3 } },
          { deviceId: 'dev-dst', ts: mar29 + 12 * HOUR, metrics: { v: 0 } },
        ]);
        const h = await store.history({
          deviceId: 'dev-dst',
          from: mar29,
          to: mar31 + DAY,
          bucketMs: DAY,
          agg: 'last',
          maxPoints: 100,
          tz: 'Europe/Berlin',
        });
        expect(h.series[0].points.map((p) => [p.ts, p.value, p.count])).toEqual([
          [mar29, 0, 1],
          [mar30, 2, 2],
          [mar31, 3, 1],
        ]);
      });

      it('ignores the time zone for buckets shorter than a day', async () => {
        await store.write([{ deviceId: 'dev-tz', ts: T0 + 90 * MIN, metrics: { v: 1 } }]);
        const h = await store.history(query('dev-tz', { bucketMs: HOUR, agg: 'count', tz: 'Asia/Kolkata' }));
        expect(h.series[0].points.map((p) => p.ts)).toEqual([T0 + HOUR]);
      });

      it('answers an empty history for an unknown device', async () => {
        const raw = await store.history(query('nobody'));
        expect(raw.truncated).toBe(false);
        expect(raw.series.flatMap((s) => s.points)).toEqual([]);
        const agg = await store.history(query('nobody', { bucketMs: HOUR }));
        expect(agg.series.flatMap((s) => s.points)).toEqual([]);
      });
    });

    describe('devices', () => {
      it('lists each device with its last timestamp and the latest value of each metric', async () => {
        await store.write([
          { deviceId: 'dev-2', ts: T0 + 1000, metrics: { temp: 1, hum: 50 } },
          { deviceId: 'dev-2', ts: T0 + 3000, metrics: { temp: 3 } },
          { deviceId: 'dev-1', ts: T0 + 500, metrics: { volt: 3.3 } },
        ]);
        // Written later but older: must not become the latest.
        await store.write([{ deviceId: 'dev-2', ts: T0 + 2000, metrics: { temp: 2, hum: 51 } }]);
        const devices = [...(await store.devices())].sort((a, b) => a.deviceId.localeCompare(b.deviceId));
        expect(devices).toEqual([
          { deviceId: 'dev-1', lastTs: T0 + 500, latest: { volt: 3.3 }, metrics: ['volt'] },
          { deviceId: 'dev-2', lastTs: T0 + 3000, latest: { temp: 3, hum: 51 }, metrics: ['hum', 'temp'] },
        ]);
      });
    });

    it("never lets another device's data into a device's answers", async () => {
      const mk = (deviceId: string, v: number): Reading[] =>
        [0, 1, 2].map((i) => ({ deviceId, ts: T0 + i * MIN, seq: i, metrics: { temp: v, [`only_${v}`]: v } }));
      await store.write([...mk('dev-x', 1), ...mk('dev-y', 2), ...mk('dev-x.y', 3)]);
      const since = await store.since('dev-x', 0, 100);
      expect(since).toHaveLength(3);
      expect(since.every((r) => r.deviceId === 'dev-x' && r.metrics['temp'] === 1)).toBe(true);
      const raw = await store.history(query('dev-x'));
      expect(raw.series.map((s) => s.metric)).toEqual(['only_1', 'temp']);
      expect(seriesOf(raw.series, 'temp').points.map((p) => p.value)).toEqual([1, 1, 1]);
      const agg = await store.history(query('dev-x', { bucketMs: HOUR, agg: 'count', tz: 'Europe/Berlin' }));
      expect(seriesOf(agg.series, 'temp').points).toEqual([{ ts: T0, value: 3, min: 1, max: 1, count: 3 }]);
      const dev = (await store.devices()).find((d) => d.deviceId === 'dev-x');
      expect(dev).toEqual({
        deviceId: 'dev-x',
        lastTs: T0 + 2 * MIN,
        latest: { temp: 1, only_1: 1 },
        metrics: ['only_1', 'temp'],
      });
    });

    it('keeps metrics named like Object.prototype members as any other name', async () => {
      const metrics = JSON.parse('{"constructor":1,"toString":2,"valueOf":3,"hasOwnProperty":4}') as Record<
        string,
        number
      >;
      await store.write([{ deviceId: 'dev-p', ts: T0, seq: 1, metrics }]);
      const [got] = await store.since('dev-p', 0, 10);
      expect(Object.entries(got.metrics).sort()).toEqual(Object.entries(metrics).sort());
      const dev = (await store.devices()).find((d) => d.deviceId === 'dev-p');
      expect(Object.entries(dev?.latest ?? {}).sort()).toEqual(Object.entries(metrics).sort());
      const raw = await store.history(query('dev-p'));
      expect(raw.series.map((s) => s.metric).sort()).toEqual(Object.keys(metrics).sort());
    });

    it('averages values near the largest double without overflowing', async () => {
      const big = 1e308;
      await store.write([0, 1, 2].map((i) => ({ deviceId: 'dev-m', ts: T0 + i * MIN, seq: i, metrics: { v: big } })));
      const plain = await store.history(query('dev-m', { bucketMs: HOUR, agg: 'mean' }));
      expect(seriesOf(plain.series, 'v').points.map((p) => p.value)).toEqual([big]);
      const local = await store.history(query('dev-m', { bucketMs: DAY, agg: 'mean', tz: 'Europe/Berlin' }));
      expect(seriesOf(local.series, 'v').points.map((p) => p.value)).toEqual([big]);
    });

    it('fails calls after close', async () => {
      open = false;
      await store.close();
      await expect(store.ping()).rejects.toThrow();
      await expect(store.write([{ deviceId: 'dev-a', ts: T0, metrics: { v: 1 } }])).rejects.toThrow();
    });
  });
}
