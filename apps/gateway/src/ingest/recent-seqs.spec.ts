import type { Reading } from '@fieldline/contracts';
import type { PresenceService } from '../devices/presence.service';
import type { LiveFanout } from '../live/live.fanout';
import type { WriteBuffer } from '../storage/write-buffer';
import { IngestPipeline } from './ingest.pipeline';
import { IngestStats } from './ingest.stats';
import { RecentSeqs } from './recent-seqs';

const T0 = Date.UTC(2025, 0, 1);

describe('RecentSeqs', () => {
  it('knows a recent (seq, ts) of a device, and nothing else', () => {
    const r = new RecentSeqs(8);
    r.add('a', 5, T0);
    expect(r.has('a', 5, T0)).toBe(true);
    expect(r.has('a', 5, T0 + 1)).toBe(false); // a counter that restarted: another reading
    expect(r.has('b', 5, T0)).toBe(false);
    expect(r.has('a', 13, T0)).toBe(false); // same slot, other seq
    r.add('a', 13, T0);
    expect(r.has('a', 5, T0)).toBe(false); // fell out of the window: the store's idempotency covers it
    expect(r.has('a', 0, NaN)).toBe(false);
  });

  it('tracks a bounded number of devices', () => {
    const r = new RecentSeqs(8, 2);
    r.add('a', 1, T0);
    r.add('b', 1, T0);
    r.add('c', 1, T0);
    expect(r.devices).toBe(2);
    expect(r.has('a', 1, T0)).toBe(false);
    expect(r.has('c', 1, T0)).toBe(true);
  });
});

describe('IngestPipeline resends', () => {
  function make(): { pipeline: IngestPipeline; added: Reading[]; live: Reading[]; stats: IngestStats } {
    const added: Reading[] = [];
    const live: Reading[] = [];
    const buffer = { add: (rs: Reading[]) => (added.push(...rs), true), afterDurable: (cb: () => void) => cb() };
    const fanout = { push: (r: Reading) => live.push(r) };
    const presence = { seen: () => undefined };
    const stats = new IngestStats();
    const pipeline = new IngestPipeline(
      buffer as unknown as WriteBuffer,
      fanout as unknown as LiveFanout,
      presence as unknown as PresenceService,
      stats,
    );
    return { pipeline, added, live, stats };
  }
  const msg = (...seqs: number[]): string =>
    JSON.stringify({ readings: seqs.map((seq) => ({ ts: T0 + seq, seq, metrics: { v: seq } })) });

  it('acks a resent reading but neither stores nor fans it out again', () => {
    const { pipeline, added, live, stats } = make();
    expect(pipeline.ingest(msg(1, 2, 3), 'ws', 'dev').readings).toHaveLength(3);
    // Reconnected: resends 2 and 3 (never acked), then 4.
    const again = pipeline.ingest(msg(2, 3, 4), 'ws', 'dev');
    expect(again.readings.map((r) => r.seq)).toEqual([2, 3, 4]);
    expect(added.map((r) => r.seq)).toEqual([1, 2, 3, 4]);
    expect(live.map((r) => r.seq)).toEqual([1, 2, 3, 4]);
    expect(stats.duplicates).toBe(2);
    expect(stats.accepted.ws).toBe(4);
    // Another device's seq 1 is its own.
    pipeline.ingest(msg(1), 'ws', 'other');
    expect(added).toHaveLength(5);
  });
});
