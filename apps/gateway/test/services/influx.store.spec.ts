import type { Reading } from '@fieldline/contracts';
import { InfluxDB } from 'influx';
import { pointTime } from '../../src/storage/influx.layout';
import { normaliseDuration } from '../../src/storage/influx.provision';
import { InfluxStore } from '../../src/storage/influx.store';
import { describeStoreContract } from '../../src/storage/store.contract';
import { PermanentStoreError } from '../../src/storage/store';
import { describeWithServices, serviceUrls, uniqueName } from './services';

const created: string[] = [];
const T0 = Date.UTC(2025, 5, 1);

/** A store on a database of its own. The contract's readings date from 2025: keep them (INF retention). */
function newStore(over: { retention?: string; database?: string } = {}): InfluxStore {
  const database = over.database ?? uniqueName('fl_contract');
  created.push(database);
  return new InfluxStore({ url: `${serviceUrls().influx}/${database}`, retention: over.retention ?? 'INF' });
}

function admin(): InfluxDB {
  const u = new URL(serviceUrls().influx);
  return new InfluxDB({ host: u.hostname, port: Number(u.port) });
}

describeWithServices('InfluxStore', () => {
  afterAll(async () => {
    const influx = admin();
    for (const db of created) await influx.dropDatabase(db).catch(() => undefined);
  });

  describeStoreContract('influxdb', () => Promise.resolve(newStore()));

  describe('layout', () => {
    let store: InfluxStore;
    beforeEach(async () => {
      store = newStore();
      await store.init();
    });
    afterEach(() => store.close());

    it('stores a reading written twice once (device + ts + seq), and keeps readings that differ in seq', async () => {
      const r = (seq: number | undefined, v: number): Reading => ({
        deviceId: 'dup-1',
        ts: T0,
        ...(seq === undefined ? {} : { seq }),
        metrics: { v },
      });
      await store.write([r(1, 1), r(2, 2), r(undefined, 0)]);
      // A QoS 1 redelivery / resend: the same readings again, in another batch and order.
      await store.write([r(2, 2), r(1, 1), r(undefined, 0), r(1, 1)]);
      const got = await store.since('dup-1', 0, 100);
      expect(got.map((x) => [x.ts, x.seq, x.metrics.v])).toEqual([
        [T0, undefined, 0],
        [T0, 1, 1],
        [T0, 2, 2],
      ]);
      const h = await store.history({
        deviceId: 'dup-1',
        from: T0,
        to: T0 + 1,
        bucketMs: 60_000,
        agg: 'count',
        maxPoints: 10,
      });
      expect(h.series[0].points[0].count).toBe(3);
    });

    it('keeps seq values beyond the sub-millisecond slots exactly', async () => {
      const big = Number.MAX_SAFE_INTEGER;
      await store.write([
        { deviceId: 'seq-1', ts: T0, seq: big, metrics: { v: 1 } },
        { deviceId: 'seq-1', ts: T0, seq: 999_999 * 3 + 7, metrics: { v: 2 } },
      ]);
      expect((await store.since('seq-1', 0, 10)).map((x) => x.seq).sort()).toEqual([999_999 * 3 + 7, big].sort());
      expect(pointTime(T0, 0)).toBe(`${T0}000001`);
      expect(pointTime(T0, undefined)).toBe(`${T0}000000`);
      expect(pointTime(T0, 999_998)).toBe(`${T0}999999`);
    });

    it('round-trips metrics named like InfluxDB keywords and tags with quotes and backslashes', async () => {
      const reading: Reading = {
        deviceId: 'odd-1',
        ts: T0,
        seq: 1,
        metrics: { time: 1, device_id: 2, _x: 3, 'a.b-c': 1e21, tiny: -1.5e-7 },
        tags: { q: 'say "hi"', b: "back\\slash \\' quote", nl: 'line\nbreak', c: 'a,b=c d' },
      };
      await store.write([reading]);
      expect(await store.since('odd-1', 0, 10)).toEqual([reading]);
      expect((await store.devices()).find((d) => d.deviceId === 'odd-1')).toMatchObject({
        latest: { time: 1, device_id: 2, _x: 3, 'a.b-c': 1e21, tiny: -1.5e-7 },
      });
      const h = await store.history({
        deviceId: 'odd-1',
        from: T0,
        to: T0 + 1000,
        bucketMs: null,
        agg: 'mean',
        maxPoints: 10,
        metric: 'time',
      });
      expect(h.series).toEqual([{ metric: 'time', points: [{ ts: T0, value: 1 }] }]);
    });
  });

  describe('database and retention policy', () => {
    it('creates the database with its retention policy as the default, and reuses it on the next start', async () => {
      const database = uniqueName('fl_rp');
      const first = newStore({ database, retention: '30d' });
      await first.init();
      await first.close();
      const second = newStore({ database, retention: '30d' });
      await second.init();
      await second.close();
      const policies = await admin().showRetentionPolicies(database);
      expect([...policies]).toEqual([
        expect.objectContaining({ name: 'fieldline', duration: '720h0m0s', default: true }),
      ]);
    });

    it('adds its policy to an existing database, and warns instead of changing a policy that differs', async () => {
      const database = uniqueName('fl_rp');
      created.push(database);
      await admin().createDatabase(database);
      const warnings: string[] = [];
      const log = { log: () => undefined, warn: (m: string) => warnings.push(m) };
      const url = `${serviceUrls().influx}/${database}`;
      const a = new InfluxStore({ url, retention: '2w', log });
      await a.init();
      await a.close();
      const policies = await admin().showRetentionPolicies(database);
      expect(policies.find((p) => p.name === 'fieldline')).toMatchObject({ duration: '336h0m0s', default: false });
      expect(warnings).toEqual([]);
      const b = new InfluxStore({ url, retention: '7d', log });
      await b.init();
      await b.close();
      expect(warnings).toEqual([expect.stringContaining('INFLUX_RETENTION')]);
    });

    it('keeps what fits in the retention policy of a batch and drops (not retries) readings older than it', async () => {
      const store = newStore({ retention: '1h' });
      await store.init();
      try {
        const now = Date.now();
        await store.write([
          { deviceId: 'rp-1', ts: now - 3 * 86_400_000, seq: 1, metrics: { v: 1 } },
          { deviceId: 'rp-1', ts: now - 1000, seq: 2, metrics: { v: 2 } },
        ]);
        expect((await store.since('rp-1', 0, 10)).map((r) => r.seq)).toEqual([2]);
        expect(store.dropped).toBe(1);
      } finally {
        await store.close();
      }
    });
  });

  it('refuses for good (PermanentStoreError) a reading whose field InfluxDB holds with another type', async () => {
    const database = uniqueName('fl_conflict');
    const store = newStore({ database });
    await store.init();
    try {
      // Another writer made field `v` a string: a float `v` is a field type conflict (400), never a retry.
      await admin().writePoints([{ measurement: 'readings', tags: { device_id: 'tc-1' }, fields: { v: 'text' } }], {
        database,
        retentionPolicy: 'fieldline',
      });
      const err = await store.write([{ deviceId: 'tc-1', ts: Date.now(), seq: 1, metrics: { v: 1 } }]).catch((e) => e);
      expect(err).toBeInstanceOf(PermanentStoreError);
      expect((err as PermanentStoreError).refused).toHaveLength(1);
      expect((err as Error).message).toMatch(/field type conflict/);
    } finally {
      await store.close();
    }
  });

  it('fails writes while InfluxDB is unreachable, so the write buffer retries them', async () => {
    const store = new InfluxStore({ url: 'http://127.0.0.1:1/nowhere', timeoutMs: 2000 });
    await expect(store.init()).rejects.toThrow();
  });

  it('normalises retention durations', () => {
    expect(normaliseDuration('30d')).toBe('720h');
    expect(normaliseDuration('720h0m0s')).toBe('720h');
    expect(normaliseDuration('2w')).toBe('336h');
    expect(normaliseDuration('INF')).toBe('INF');
    expect(normaliseDuration('0s')).toBe('INF');
    expect(() => normaliseDuration('soon')).toThrow();
  });
});
