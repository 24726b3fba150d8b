import { DeviceFaults } from './faults';
import { ReadingProducer } from './producer';
import type { OutMessage } from './transports/transport';

describe('ReadingProducer', () => {
  it('numbers readings and packs them batch to a message; flush emits a partial batch', () => {
    const out: OutMessage[] = [];
    const p = new ReadingProducer('dev-1', 3, null, { seed: 1 }, (m) => out.push(m));
    for (let i = 0; i < 4; i++) p.produce(1000 + i);
    expect(out.map((m) => m.seqs)).toEqual([[1, 2, 3]]);
    expect([p.seq, p.unsent]).toEqual([4, 1]);
    p.flush();
    expect(out.map((m) => [m.count, m.seq])).toEqual([
      [3, 3],
      [1, 4],
    ]);
    expect(JSON.parse(out[1].payload as string)).toMatchObject({ readings: [{ deviceId: 'dev-1', ts: 1003, seq: 4 }] });
    expect(p.unsent).toBe(0);
  });

  it('applies the device-side faults: skewed clock, bursts, out-of-order', () => {
    const out: OutMessage[] = [];
    const faults = new DeviceFaults({ skewMs: 5000, burst: 1, burstSize: 2, ooo: 1, seed: 7 }, 'dev-2', 1);
    const p = new ReadingProducer('dev-2', 1, faults, { seed: 1 }, (m) => out.push(m));
    p.produce(10_000);
    const seqs = (): number[] => out.map((m) => m.seq!);
    // One reading and a burst of two; with ooo at 1 every message that can be held back is, and goes after the next.
    expect(seqs()).toEqual([2, 1]);
    expect(p.unsent).toBe(1);
    p.flush();
    expect(seqs()).toEqual([2, 1, 3]);
    // Stamped by the skewed clock, the burst 1 ms apart.
    expect(faults.skewMs).not.toBe(0);
    const ts = Object.fromEntries(out.map((m) => [m.seq, (JSON.parse(m.payload as string) as { ts: number }).ts]));
    expect(ts).toEqual({ 1: 10_000 + faults.skewMs, 2: 10_001 + faults.skewMs, 3: 10_002 + faults.skewMs });
    expect(faults.stats.burst.readings).toBe(2);
  });
});
