import { type FieldlineError, LIMITS, parseMessage } from '@fieldline/contracts';
import {
  addFaultStats,
  DeviceFaults,
  emptyFaultStats,
  expandRanges,
  formatFaults,
  hasFaults,
  malformedPayload,
  OVERSIZE_BYTES,
  parseFaults,
  SeqSet,
} from './faults';
import { mulberry32 } from './sensors';
import { Backoff, backoffMs } from '@fieldline/contracts';

describe('parseFaults', () => {
  it('reads every kind, with units and defaults', () => {
    expect(parseFaults('drop=0.01,skew=5s,dup=0.02,ooo=0.01,burst=0.005:50,malformed=0.01')).toEqual({
      dropProbability: 0.01,
      skewMs: 5000,
      dup: 0.02,
      ooo: 0.01,
      burst: 0.005,
      burstSize: 50,
      malformed: 0.01,
    });
    expect(parseFaults(' drop=1.5m , skew=250ms, burst=0.1, malformed=1:oversize ')).toEqual({
      dropEveryMs: 90_000,
      skewMs: 250,
      burst: 0.1,
      burstSize: 10,
      malformed: 1,
      malformedKinds: ['oversize'],
    });
  });

  it('names what is wrong', () => {
    expect(() => parseFaults('drop')).toThrow(/<kind>=<value>/);
    expect(() => parseFaults('drop=1.5')).toThrow(/probability/);
    expect(() => parseFaults('skew=5')).toThrow(/duration/);
    expect(() => parseFaults('burst=0.1:x')).toThrow(/burst size/);
    expect(() => parseFaults('malformed=0.1:json+xml')).toThrow(/"xml"/);
    expect(() => parseFaults('jitter=0.1')).toThrow(/unknown fault "jitter"/);
    expect(() => parseFaults('seed=-1')).toThrow(/seed/);
  });

  it('round-trips through formatFaults and knows an empty spec', () => {
    const text = 'drop=0.01,skew=5000ms,ooo=0.01,dup=0.02,burst=0.005:50,malformed=0.01:json+type,seed=3';
    expect(formatFaults(parseFaults(text))).toBe(text);
    expect(hasFaults(parseFaults('dup=0,seed=4'))).toBe(false);
    expect(hasFaults(parseFaults('drop=20s'))).toBe(true);
    expect(hasFaults(undefined)).toBe(false);
  });
});

describe('DeviceFaults', () => {
  const decisions = (seed: number, id: string) => {
    const f = new DeviceFaults(parseFaults('drop=0.1,skew=5s,dup=0.1,ooo=0.1,burst=0.1:3,malformed=0.1'), id, seed);
    const out: unknown[] = [f.skewMs];
    for (let i = 0; i < 200; i++) out.push(f.dropNow(), f.outOfOrder(), f.duplicate(), f.burst(), f.malformed(id, i));
    return out;
  };

  it('is reproducible from the seed, and differs per device and per seed', () => {
    expect(decisions(7, 'dev-1')).toEqual(decisions(7, 'dev-1'));
    expect(decisions(7, 'dev-1')).not.toEqual(decisions(7, 'dev-2'));
    expect(decisions(7, 'dev-1')).not.toEqual(decisions(8, 'dev-1'));
    // `seed=` in the spec overrides the simulator's seed.
    const a = new DeviceFaults(parseFaults('skew=5s,seed=1'), 'd', 100);
    const b = new DeviceFaults(parseFaults('skew=5s,seed=1'), 'd', 200);
    expect(a.skewMs).toBe(b.skewMs);
  });

  it('draws skew within ±skew and hits probabilities at about their rate', () => {
    let hits = 0;
    for (let i = 0; i < 100; i++) {
      const f = new DeviceFaults({ skewMs: 5000, dup: 0.2 }, `d${i}`, 1);
      expect(Math.abs(f.skewMs)).toBeLessThanOrEqual(5000);
      for (let j = 0; j < 100; j++) if (f.duplicate()) hits++;
    }
    expect(hits / 10_000).toBeGreaterThan(0.18);
    expect(hits / 10_000).toBeLessThan(0.22);
  });

  it('spaces interval drops 0.5–1.5 intervals apart', () => {
    const f = new DeviceFaults({ dropEveryMs: 1000 }, 'd', 1);
    const at: number[] = [];
    for (let t = 0; t <= 100_000; t += 10) if (f.dropDue(t)) at.push(t);
    const gaps = at.slice(1).map((t, i) => t - at[i]);
    expect(at.length).toBeGreaterThan(80);
    expect(at.length).toBeLessThan(120);
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(490);
    expect(Math.max(...gaps)).toBeLessThanOrEqual(1510);
  });

  it('adds tallies', () => {
    const a = emptyFaultStats();
    const b = emptyFaultStats();
    a.dup = { injected: 1, answers: { ack: 1 } };
    b.dup = { injected: 2, answers: { ack: 1, NO_REPLY: 1 } };
    b.burst = { injected: 1, readings: 50, answers: {} };
    addFaultStats(a, b);
    expect(a.dup).toEqual({ injected: 3, answers: { ack: 2, NO_REPLY: 1 } });
    expect(a.burst).toEqual({ injected: 1, readings: 50, answers: {} });
  });
});

describe('malformed messages get the documented code from the shared parser', () => {
  const codeOf = (payload: string): string => {
    const bytes = Buffer.byteLength(payload);
    try {
      const parsed = parseMessage(payload, bytes, { deviceId: 'dev-1', receivedAt: Date.now() });
      return parsed.errors[0]?.code ?? 'ACCEPTED';
    } catch (err) {
      return (err as FieldlineError).code;
    }
  };

  it.each([
    ['json', 'MALFORMED_JSON'],
    ['type', 'INVALID_METRIC_VALUE'],
    ['oversize', 'MESSAGE_TOO_LARGE'],
  ] as const)('%s → %s', (kind, code) => {
    expect(codeOf(malformedPayload(kind, 'dev-1', Date.now()))).toBe(code);
  });

  it('oversize is above the message limit and below the MQTT packet cap', () => {
    const n = Buffer.byteLength(malformedPayload('oversize', 'dev-1', Date.now()));
    expect(n).toBe(OVERSIZE_BYTES);
    expect(n).toBeGreaterThan(LIMITS.maxMessageBytes);
    expect(n).toBeLessThan(LIMITS.maxMessageBytes + 4096);
  });
});

describe('SeqSet', () => {
  it('keeps in-order adds as one range and merges out-of-order ones', () => {
    const s = new SeqSet();
    for (let i = 1; i <= 1000; i++) s.add(i);
    expect(s.ranges()).toEqual([[1, 1000]]);
    expect(s.add(500)).toBe(false);
    expect(s.add(1003)).toBe(true);
    expect(s.add(1005)).toBe(true);
    expect(s.ranges()).toEqual([
      [1, 1000],
      [1003, 1003],
      [1005, 1005],
    ]);
    s.add(1004);
    s.add(1001);
    s.add(1002);
    expect(s.ranges()).toEqual([[1, 1005]]);
    expect(s.size).toBe(1005);
    expect(s.delete(10)).toBe(true);
    expect(s.delete(10)).toBe(false);
    expect(s.delete(1)).toBe(true);
    expect(s.ranges()).toEqual([
      [2, 9],
      [11, 1005],
    ]);
    expect(s.has(11)).toBe(true);
    expect(s.has(10)).toBe(false);
  });

  it('matches a plain Set under random adds and deletes', () => {
    const rnd = mulberry32(42);
    const s = new SeqSet();
    const ref = new Set<number>();
    for (let i = 0; i < 5000; i++) {
      const x = Math.floor(rnd() * 300);
      if (rnd() < 0.8) expect(s.add(x)).toBe(!ref.has(x) && ref.add(x) !== undefined);
      else expect(s.delete(x)).toBe(ref.delete(x));
    }
    expect(s.values()).toEqual([...ref].sort((a, b) => a - b));
    expect(s.size).toBe(ref.size);
    expect(expandRanges(s.ranges())).toEqual(s.values());
  });
});

describe('reconnect backoff', () => {
  it('draws uniformly below min(cap, base·2^attempt) ("full jitter")', () => {
    expect(backoffMs(0, 500, 30_000, () => 0.999)).toBe(499);
    expect(backoffMs(3, 500, 30_000, () => 0.5)).toBe(2000);
    expect(backoffMs(20, 500, 30_000, () => 0.5)).toBe(15_000);
    expect(backoffMs(5, 500, 30_000, () => 0)).toBe(0);
  });

  it('grows over failed attempts and resets only after a stable connection', () => {
    const b = new Backoff({ baseMs: 100, capMs: 1000, stableMs: 5000, random: () => 0.999 });
    expect([b.next(), b.next(), b.next(), b.next(), b.next()]).toEqual([99, 199, 399, 799, 999]);
    b.up(0);
    b.down(1000); // short-lived: no reset
    expect(b.next()).toBe(999);
    b.up(10_000);
    b.down(16_000);
    expect(b.attempts).toBe(0);
    expect(b.next()).toBe(99);
  });

  it('spreads 1000 devices that lost the broker together instead of stampeding', () => {
    const rnd = mulberry32(1);
    const perSecond = new Map<number, number>();
    for (let d = 0; d < 1000; d++) {
      const b = new Backoff({ random: rnd });
      // Each device fails its first four attempts (broker still down), then gets in.
      let t = 0;
      for (let i = 0; i < 5; i++) t += b.next();
      const s = Math.floor(t / 1000);
      perSecond.set(s, (perSecond.get(s) ?? 0) + 1);
    }
    expect(Math.max(...perSecond.values())).toBeLessThan(250);
    expect(perSecond.size).toBeGreaterThan(8);
  });
});
