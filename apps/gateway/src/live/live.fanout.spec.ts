import type { Reading } from '@fieldline/contracts';
import { LiveFanout } from './live.fanout';

const r = (deviceId: string, seq: number): Reading => ({
  deviceId,
  ts: 1_700_000_000_000 + seq,
  seq,
  metrics: { t: seq },
});
const tick = () => new Promise((res) => setImmediate(res));

describe('LiveFanout', () => {
  it('emits at once when idle, one event per device, in arrival order', async () => {
    const out: [string, number[]][] = [];
    const live = new LiveFanout(50, (id, rs) => out.push([id, rs.map((x) => x.seq!)]));
    live.push(r('a', 1));
    live.push(r('b', 1));
    live.push(r('a', 2));
    await tick();
    expect(out).toEqual([
      ['a', [1, 2]],
      ['b', [1]],
    ]);
  });

  it('coalesces under load: at most one event per device per tick', async () => {
    const out: number[][] = [];
    const live = new LiveFanout(
      30,
      (_id, rs) => out.push(rs.map((x) => x.seq!)),
      () => 1,
    );
    let seq = 0;
    const until = Date.now() + 200;
    while (Date.now() < until) {
      live.push(r('a', ++seq));
      await new Promise((res) => setTimeout(res, 1));
    }
    live.flush();
    expect(out.flat()).toEqual(Array.from({ length: seq }, (_, i) => i + 1));
    expect(out.length).toBeLessThanOrEqual(Math.ceil(200 / 30) + 3);
    expect(out.length).toBeGreaterThan(2);
  });

  it('does not hold anything while the event loop is mostly idle', async () => {
    const out: number[][] = [];
    const live = new LiveFanout(
      1000,
      (_id, rs) => out.push(rs.map((x) => x.seq!)),
      () => 0.3,
    );
    for (let seq = 1; seq <= 5; seq++) {
      live.push(r('a', seq));
      await tick();
    }
    expect(out).toEqual([[1], [2], [3], [4], [5]]);
  });

  it('under load, holds only a device that had an event within the tick; others go out on the next turn', async () => {
    const out: [string, number[]][] = [];
    const live = new LiveFanout(
      100,
      (id, rs) => out.push([id, rs.map((x) => x.seq!)]),
      () => 1,
    );
    live.push(r('a', 1));
    await tick();
    // a just had an event: its next readings wait for the rest of its tick; b, quiet so far, does not wait.
    live.push(r('a', 2));
    live.push(r('b', 1));
    live.push(r('a', 3));
    await tick();
    expect(out).toEqual([
      ['a', [1]],
      ['b', [1]],
    ]);
    const t0 = performance.now();
    while (out.length < 3) await new Promise((res) => setTimeout(res, 5));
    expect(performance.now() - t0).toBeGreaterThan(50);
    expect(out[2]).toEqual(['a', [2, 3]]);
    // A whole tick later, a is idle again: at once.
    await new Promise((res) => setTimeout(res, 110));
    live.push(r('a', 4));
    await tick();
    expect(out[3]).toEqual(['a', [4]]);
  });

  it('tells watchers what it hands out and exposes what is pending', async () => {
    const live = new LiveFanout(10, () => {});
    const seen: number[] = [];
    const unwatch = live.watch('a', (rs) => rs.forEach((x) => seen.push(x.seq!)));
    live.push(r('a', 1));
    live.push(r('b', 1));
    expect(live.pendingFor('a').map((x) => x.seq)).toEqual([1]);
    await tick();
    expect(seen).toEqual([1]);
    expect(live.pendingFor('a')).toEqual([]);
    unwatch();
    live.push(r('a', 2));
    live.flush();
    expect(seen).toEqual([1]);
  });
});
