import { TestBed } from '@angular/core/testing';
import { autoBucketMs, type HistoryResponse, type Reading } from '@fieldline/contracts';
import type { HistoryFetcher, HistoryRequest } from '../api/history.api';
import { FakeManager, type FakeSocket } from '../socket/fake-io.testing';
import { GATEWAY_URL, IO_MANAGER_FACTORY } from '../socket/io';
import { SocketService } from '../socket/socket.service';
import { SeriesFeed, SETTLE_MS } from './series-feed';
import { resolveRange } from './time-range';

const NOW = Date.UTC(2026, 10, 25, 12, 0, 7, 300);
const flush = (): Promise<void> => new Promise((r) => setTimeout(r, 0));

/** A device sending every second: the ground truth the feed must reproduce. */
const truth: Reading[] = Array.from({ length: 400 }, (_, i) => ({
  deviceId: 'd1',
  ts: NOW - 330_000 + i * 1000,
  seq: i,
  metrics: { t: i, h: 50 },
}));

/** The store's answer: buckets over [from, to), mean/min/max/count per metric (what the gateway computes). */
const store: HistoryFetcher = (deviceId, q: HistoryRequest) => {
  const bucket = autoBucketMs(q.from, q.to, q.maxPoints);
  const rows = truth.filter((r) => r.ts >= q.from && r.ts < q.to);
  const series = ['h', 't'].map((metric) => {
    const byBucket = new Map<number, number[]>();
    for (const r of rows) {
      const b = r.ts - (r.ts % bucket);
      byBucket.set(b, [...(byBucket.get(b) ?? []), r.metrics[metric]]);
    }
    const points = [...byBucket].map(([ts, vs]) => ({
      ts,
      value: vs.reduce((a, b) => a + b, 0) / vs.length,
      min: Math.min(...vs),
      max: Math.max(...vs),
      count: vs.length,
    }));
    return { metric, points };
  });
  const res: HistoryResponse = {
    deviceId,
    from: q.from,
    to: q.to,
    bucketMs: bucket,
    agg: 'mean',
    series,
    truncated: false,
  };
  return Promise.resolve(res);
};

describe('SeriesFeed: history stitched to live', () => {
  let manager: FakeManager;
  let socket: SocketService;
  let telemetry: FakeSocket;

  beforeEach(() => {
    manager = new FakeManager();
    TestBed.configureTestingModule({
      providers: [
        { provide: IO_MANAGER_FACTORY, useValue: () => manager },
        { provide: GATEWAY_URL, useValue: 'http://gateway.test' },
      ],
    });
    socket = TestBed.inject(SocketService);
    telemetry = manager.sockets.get('/telemetry')!;
    telemetry.accept();
    manager.sockets.get('/devices')!.accept();
  });

  const open = (fetch: HistoryFetcher = store) => {
    const requests: HistoryRequest[] = [];
    const feed = new SeriesFeed(
      {
        fetch: (id, q) => {
          requests.push(q);
          return fetch(id, q);
        },
        watch: (...args) => socket.watch(...args),
        now: () => NOW,
      },
      { deviceId: 'd1', range: resolveRange('5m', NOW), maxPoints: 100, keepLatest: 5 },
    );
    return { feed, requests };
  };

  it('cuts at a settled bucket boundary, then subscribes from the cut: every reading once, in order', async () => {
    const { feed, requests } = open();
    await feed.start();
    const bucket = autoBucketMs(NOW - 300_000, NOW, 100);
    expect(bucket).toBe(5000);
    expect(feed.cut % bucket).toBe(0);
    expect(feed.cut).toBeLessThanOrEqual(NOW - SETTLE_MS);
    expect(requests).toEqual([{ from: NOW - 300_000, to: feed.cut, maxPoints: 100, metric: undefined }]);
    expect(telemetry.pending('subscribe')[0].payload).toEqual({ deviceId: 'd1', since: feed.cut - 1 });

    const sent = truth.filter((r) => r.ts <= NOW);
    const live = truth.filter((r) => r.ts > NOW);
    // The live stream had already started (held until the ack), overlapping the backfill by one reading.
    telemetry.fire('readings', { deviceId: 'd1', readings: [sent[sent.length - 1], ...live.slice(0, 3)] });
    telemetry.answer('subscribe', {
      ok: true,
      deviceId: 'd1',
      backfill: sent.filter((r) => r.ts >= feed.cut),
      truncated: false,
    });
    await flush();
    telemetry.fire('readings', { deviceId: 'd1', readings: live.slice(3) });

    const s = feed.seriesOf('t')!;
    const xs = s.line.map((p) => p.x);
    expect(xs).toEqual([...xs].sort((a, b) => a - b));
    // History covers [from, cut) in buckets; from the cut on every reading is there exactly once.
    expect(feed.rawTimestamps('t')).toEqual(truth.filter((r) => r.ts >= feed.cut).map((r) => r.ts));
    expect(s.aggCount).toBe((feed.cut - (NOW - 300_000 - ((NOW - 300_000) % bucket))) / bucket);
    // Every reading of the window is counted once, in a bucket or as a raw point.
    const counted = s.line.reduce((n, p) => n + ('count' in p ? (p as { count: number }).count : 1), 0);
    expect(counted).toBe(truth.filter((r) => r.ts >= NOW - 300_000).length);
    expect(feed.metrics()).toEqual(['h', 't']);
    expect(feed.latest().map((r) => r.seq)).toEqual([399, 398, 397, 396, 395]);
  });

  it('after a reconnect continues the same series: no gap, no duplicate', async () => {
    const { feed } = open();
    await feed.start();
    const before = truth.filter((r) => r.ts >= feed.cut && r.ts <= NOW);
    telemetry.answer('subscribe', { ok: true, deviceId: 'd1', backfill: before, truncated: false });
    await flush();
    const later = truth.filter((r) => r.ts > NOW);
    telemetry.fire('readings', { deviceId: 'd1', readings: later.slice(0, 20) });

    telemetry.drop();
    telemetry.accept();
    const last = later[19].ts;
    expect(telemetry.pending('subscribe')[0].payload).toEqual({ deviceId: 'd1', since: last });
    telemetry.answer('subscribe', { ok: true, deviceId: 'd1', backfill: later.slice(19, 40), truncated: false });
    await flush();
    telemetry.fire('readings', { deviceId: 'd1', readings: later.slice(38) });

    expect(feed.rawTimestamps('t')).toEqual(truth.filter((r) => r.ts >= feed.cut).map((r) => r.ts));
  });

  it('fetches a hole left by a cut backfill as history', async () => {
    const { feed, requests } = open();
    await feed.start();
    const after = truth.filter((r) => r.ts >= feed.cut);
    telemetry.answer('subscribe', { ok: true, deviceId: 'd1', backfill: after.slice(5), truncated: true });
    await flush();
    await flush();
    expect(requests[1]).toMatchObject({ from: feed.cut, to: after[5].ts });
    const s = feed.seriesOf('t')!;
    const counted = s.line.reduce((n, p) => n + ('count' in p ? (p as { count: number }).count : 1), 0);
    expect(counted).toBe(truth.filter((r) => r.ts >= NOW - 300_000).length);
  });

  it('reports a history failure and subscribes to nothing', async () => {
    const { feed } = open(() => Promise.reject(Object.assign(new Error('x'), { status: 0 })));
    await feed.start();
    expect(feed.status()).toBe('error');
    expect(feed.error()).toBe('the gateway cannot be reached');
    expect(telemetry.pending('subscribe')).toHaveLength(0);
  });

  it('slides a live window and stops listening when closed', async () => {
    const { feed } = open();
    await feed.start();
    telemetry.answer('subscribe', { ok: true, deviceId: 'd1', backfill: [], truncated: false });
    await flush();
    const before = feed.seriesOf('t')!.size;
    feed.trim(NOW + 60_000);
    expect(feed.seriesOf('t')!.size).toBeLessThan(before);
    expect(feed.seriesOf('t')!.line[1].x).toBeGreaterThanOrEqual(NOW + 60_000 - 300_000);
    feed.close();
    expect(telemetry.sent('unsubscribe')).toEqual([{ deviceId: 'd1' }]);
  });
});
