import type { IngestReply, Reading } from '@fieldline/contracts';
import type { SimDevice } from './device';
import type { OutMessage, Transport } from './transports';
import { parseFaults } from './faults';
import { outcomeOfWsReply } from './replies';
import { makeIds, Simulator, type SimulatorOptions } from './simulator';

type Answer = (msg: OutMessage, t: FakeTransport) => void;

/** Counts what a device writes and answers like a well-behaved gateway unless told otherwise. */
class FakeTransport implements Transport {
  readonly messages: OutMessage[] = [];
  connected = true;
  window = Infinity;
  inFlight = 0;

  constructor(
    readonly device: SimDevice,
    private readonly answer: Answer = (msg, t) => t.ack(msg),
  ) {}

  get writable(): boolean {
    return this.connected && this.inFlight < this.window;
  }
  connect(): Promise<boolean> {
    if (this.connected) this.device.connected();
    return Promise.resolve(this.connected);
  }
  send(msg: OutMessage): void {
    this.messages.push(msg);
    this.inFlight++;
    this.answer(msg, this);
  }
  close(): Promise<void> {
    return Promise.resolve();
  }

  ack(msg: OutMessage): void {
    this.inFlight--;
    this.device.answered(msg, { accepted: msg.count, refused: 0, codes: {} });
  }
  reply(msg: OutMessage, reply: IngestReply): void {
    this.inFlight--;
    this.device.answered(msg, outcomeOfWsReply(reply, msg.count), { body: reply });
  }
  setConnected(up: boolean): void {
    this.connected = up;
    if (up) this.device.connected();
  }
  readings(): Reading[] {
    return this.messages.filter((m) => !m.fault).flatMap((m) => this.parse(m.payload as string));
  }
  parse(payload: string): Reading[] {
    const v = JSON.parse(payload) as Reading | { readings: Reading[] };
    return 'readings' in v ? v.readings : [v];
  }
}

function fakeSim(options: SimulatorOptions, answer?: Answer) {
  const transports = new Map<string, FakeTransport>();
  const sim = new Simulator({
    staggerMs: 0,
    ...options,
    transportFactory: (d) => {
      const t = new FakeTransport(d, answer);
      transports.set(d.id, t);
      return t;
    },
  });
  return { sim, transports };
}

describe('Simulator scheduling', () => {
  it('holds the requested rate: 20 devices × 50/s for 1 s', async () => {
    const { sim, transports } = fakeSim({ devices: 20, rate: 50, duration: 1 });
    const t0 = performance.now();
    await sim.start();
    await sim.done;
    const took = performance.now() - t0;
    await sim.stop();
    const sent = [...transports.values()].reduce((n, t) => n + t.messages.length, 0);
    expect(sent).toBeGreaterThanOrEqual(950);
    expect(sent).toBeLessThanOrEqual(1050);
    expect(took).toBeGreaterThan(950);
    expect(took).toBeLessThan(2500);
    const s = sim.stats();
    expect(s.sent).toBe(sent);
    expect(s.acked).toBe(sent);
    expect(s.avgRate).toBeGreaterThan(950);
    expect(s.avgRate).toBeLessThan(1050);
    // Spread evenly over devices.
    for (const t of transports.values()) expect(Math.abs(t.messages.length - 50)).toBeLessThanOrEqual(2);
  });

  it('holds 10 000 readings/s (50 devices × 200/s) without a duration', async () => {
    const { sim } = fakeSim({ devices: 50, rate: 200 });
    await sim.start();
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, 1000));
    await sim.stop();
    const elapsed = performance.now() - t0;
    const expected = (10_000 * elapsed) / 1000;
    const s = sim.stats();
    expect(Math.abs(s.sent - expected) / expected).toBeLessThan(0.05);
    expect(s.rate).toBeGreaterThan(9000); // over the last second
  });

  it('spreads devices over a reading period instead of sending in lockstep', async () => {
    const { sim, transports } = fakeSim({ devices: 10, rate: 2, duration: 0.6 });
    await sim.start();
    await sim.done;
    await sim.stop();
    // With per-device phase, device i sends its first reading at i/10 of a 500 ms period.
    const firsts = [...transports.values()].map((t) => t.readings()[0]?.ts ?? 0);
    expect(new Set(firsts).size).toBeGreaterThan(5);
  });

  it('supports fractional rates', async () => {
    const { sim } = fakeSim({ devices: 4, rate: 2.5, duration: 0.8 });
    await sim.start();
    await sim.done;
    await sim.stop();
    expect(sim.stats().sent).toBe(8); // 4 × 2.5 × 0.8
  });
});

describe('SimDevice readings', () => {
  it('numbers readings per device from 1 and stamps plausible metrics', async () => {
    const { sim, transports } = fakeSim({ devices: 3, rate: 40, duration: 0.5, idPrefix: 'seq-' });
    await sim.start();
    await sim.done;
    await sim.stop();
    expect([...transports.keys()]).toEqual(['seq-001', 'seq-002', 'seq-003']);
    for (const [id, t] of transports) {
      const readings = t.readings();
      expect(readings.length).toBe(20);
      readings.forEach((r, i) => {
        expect(r.deviceId).toBe(id);
        expect(r.seq).toBe(i + 1);
        expect(Object.keys(r.metrics).sort()).toEqual(['battery', 'humidity', 'temperature']);
        if (i > 0) expect(r.ts).toBeGreaterThanOrEqual(readings[i - 1].ts);
        expect(Math.abs(r.ts - Date.now())).toBeLessThan(5000);
      });
      expect(sim.device(id)!.seq).toBe(20);
    }
  });

  it('sends { readings: [...] } batches with consecutive seqs, flushing the last partial batch', async () => {
    const { sim, transports } = fakeSim({ devices: 1, rate: 40, duration: 0.55, batch: 5, ids: ['batcher'] });
    await sim.start();
    await sim.done;
    await sim.stop();
    const t = transports.get('batcher')!;
    const payloads = t.messages.map((m) => JSON.parse(m.payload as string));
    expect(payloads.every((p) => Array.isArray(p.readings))).toBe(true);
    expect(payloads.slice(0, -1).every((p) => p.readings.length === 5)).toBe(true);
    expect(t.readings().map((r) => r.seq)).toEqual(Array.from({ length: 22 }, (_, i) => i + 1));
    expect(sim.stats().sent).toBe(22);
    expect(sim.stats().acked).toBe(22);
  });

  it('makes ids zero-padded and refuses invalid ones', () => {
    expect(makeIds(3, 'sim-')).toEqual(['sim-001', 'sim-002', 'sim-003']);
    expect(makeIds(1200, 'd')[1199]).toBe('d1200');
    expect(() => new Simulator({ ids: ['ok', 'not ok'] })).toThrow(/invalid device id/);
    expect(() => new Simulator({ ids: ['a', 'a'] })).toThrow(/unique/);
  });
});

describe('counters from replies', () => {
  it('counts acks, refusals by code and emits events', async () => {
    // Every third reading refused, the rest acked, as a gateway would answer over WebSocket.
    const { sim } = fakeSim({ devices: 2, rate: 30, duration: 0.5 }, (msg, t) => {
      if (msg.seq! % 3 === 0)
        t.reply(msg, { type: 'error', seq: msg.seq, code: 'INVALID_METRIC_VALUE', message: 'nope' });
      else t.reply(msg, { type: 'ack', seq: msg.seq, accepted: 1 });
    });
    const acks: number[] = [];
    const refusals: string[] = [];
    sim.on('ack', (e) => acks.push(e.latencyMs));
    sim.on('refused', (e) => refusals.push(`${e.deviceId}:${e.seq}:${e.code}`));
    await sim.start();
    await sim.done;
    await sim.stop();
    const s = sim.stats();
    expect(s.sent).toBe(30);
    expect(s.refused).toBe(10);
    expect(s.acked).toBe(20);
    expect(s.errors).toEqual({ INVALID_METRIC_VALUE: 10 });
    expect(s.pending).toBe(0);
    expect(acks).toHaveLength(20);
    expect(acks.every((l) => l >= 0)).toBe(true);
    expect(refusals).toContain('sim-001:3:INVALID_METRIC_VALUE');
    for (const d of s.perDevice) expect(d.errors).toEqual({ INVALID_METRIC_VALUE: 5 });
  });

  it('counts a raw message and resolves with its answer', async () => {
    const { sim } = fakeSim({ ids: ['raw-1'], rate: 0 }, (msg, t) => {
      if (msg.raw)
        t.reply(msg, { type: 'error', seq: null, code: 'MALFORMED_JSON', message: 'message is not valid JSON' });
      else t.ack(msg);
    });
    await sim.start();
    const answer = await sim.sendRaw('raw-1', '{not json');
    expect(answer.outcome).toMatchObject({ refused: 1, codes: { MALFORMED_JSON: 1 } });
    expect(answer.body).toMatchObject({ type: 'error', code: 'MALFORMED_JSON' });
    await sim.stop();
    expect(sim.stats()).toMatchObject({ sent: 1, acked: 0, refused: 1, errors: { MALFORMED_JSON: 1 } });
  });

  it('waits at stop for answers still outstanding', async () => {
    const { sim } = fakeSim({ devices: 2, rate: 50, duration: 0.2 }, (msg, t) => setTimeout(() => t.ack(msg), 150));
    await sim.start();
    await sim.done;
    expect(sim.stats().pending).toBeGreaterThan(0);
    await sim.stop();
    expect(sim.stats()).toMatchObject({ sent: 20, acked: 20, pending: 0 });
  });
});

describe('offline behaviour', () => {
  it('buffers while disconnected, drops the oldest beyond maxBuffer, flushes on reconnect', async () => {
    const { sim, transports } = fakeSim({ ids: ['off-1'], rate: 100, maxBuffer: 30 });
    await sim.start();
    const t = transports.get('off-1')!;
    t.setConnected(false);
    const before = t.messages.length;
    await new Promise((r) => setTimeout(r, 500));
    expect(t.messages.length).toBe(before);
    let s = sim.stats();
    expect(s.buffered).toBe(30);
    expect(s.dropped).toBeGreaterThan(0);
    t.setConnected(true);
    s = sim.stats();
    expect(s.buffered).toBe(0);
    await sim.stop();
    // Seqs stay increasing: the buffered readings keep theirs; the dropped ones leave a gap.
    const seqs = t.readings().map((r) => r.seq!);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(new Set(seqs).size).toBe(seqs.length);
  });

  it('resends unanswered messages with the same seq after a failure', async () => {
    let failOnce = true;
    const { sim, transports } = fakeSim({ ids: ['retry-1'], rate: 50, duration: 0.3 }, (msg, t) => {
      if (failOnce && msg.seq === 3) {
        failOnce = false;
        t.inFlight--;
        t.connected = false;
        t.device.failed([msg], 'NO_REPLY', true);
        setTimeout(() => t.setConnected(true), 50);
        return;
      }
      t.ack(msg);
    });
    await sim.start();
    await sim.done;
    await sim.stop();
    const t = transports.get('retry-1')!;
    const seqs = t.readings().map((r) => r.seq!);
    expect(seqs.filter((s) => s === 3)).toHaveLength(2);
    expect(sim.stats()).toMatchObject({ sent: 15, resent: 1, acked: 15, failed: 0, errors: { NO_REPLY: 1 } });
  });

  it('holds back beyond the in-flight window, and stop() does not drain the backlog', async () => {
    const pending: Array<() => void> = [];
    const { sim, transports } = fakeSim({ ids: ['win-1'], rate: 200, duration: 0.2 }, (msg, t) =>
      pending.push(() => t.ack(msg)),
    );
    await sim.start();
    const t = transports.get('win-1')!;
    t.window = 5;
    await sim.done;
    expect(t.messages.length).toBe(5);
    expect(sim.stats()).toMatchObject({ sent: 5, pending: 5, buffered: 35 });
    const stopping = sim.stop();
    pending.splice(0).forEach((f) => f());
    await stopping;
    expect(sim.stats()).toMatchObject({ sent: 5, acked: 5, pending: 0, buffered: 35 });
  });
});

describe('store-and-forward and faults', () => {
  /** A gateway that answers after `delayMs`, refuses malformed messages by code and stores each (device, seq) once. */
  class FlakyGateway {
    readonly stored = new Map<string, Map<number, number>>();
    readonly order = new Map<string, number[]>();
    readonly codes: Record<string, number> = {};
    readonly inFlight = new Map<FakeTransport, Set<OutMessage>>();
    writes = 0;

    constructor(private readonly delayMs = 5) {}

    answer: Answer = (msg, t) => {
      let set = this.inFlight.get(t);
      if (!set) this.inFlight.set(t, (set = new Set()));
      set.add(msg);
      this.writes++;
      const payload = msg.payload as string;
      setTimeout(() => {
        if (!set.delete(msg)) return; // dropped with the connection: no answer ever comes
        const code = this.validate(payload);
        if (code) {
          this.codes[code] = (this.codes[code] ?? 0) + 1;
          return t.reply(msg, { type: 'error', seq: null, code: code as never, message: code });
        }
        const readings = t.parse(payload);
        for (const r of readings) {
          const byDevice = this.stored.get(r.deviceId) ?? new Map<number, number>();
          this.stored.set(r.deviceId, byDevice);
          byDevice.set(r.seq!, (byDevice.get(r.seq!) ?? 0) + 1);
          this.order.set(r.deviceId, [...(this.order.get(r.deviceId) ?? []), r.seq!]);
        }
        t.reply(msg, { type: 'ack', seq: msg.seq, accepted: readings.length });
      }, this.delayMs);
    };

    /** What a transport does when its connection dies: unanswered messages go back to be resent. */
    drop(t: FakeTransport, reconnectAfterMs = 20): void {
      const lost = [...(this.inFlight.get(t) ?? [])];
      this.inFlight.get(t)?.clear();
      t.inFlight -= lost.length;
      t.connected = false;
      t.device.failed(lost, 'NO_REPLY', true);
      t.device.disconnected('dropped');
      setTimeout(() => t.setConnected(true), reconnectAfterMs);
    }

    private validate(payload: string): string | null {
      if (payload.length > 65_536) return 'MESSAGE_TOO_LARGE';
      try {
        const v = JSON.parse(payload) as { metrics?: Record<string, unknown> };
        if (v.metrics && Object.values(v.metrics).some((x) => typeof x !== 'number')) return 'INVALID_METRIC_VALUE';
        return null;
      } catch {
        return 'MALFORMED_JSON';
      }
    }
  }

  function flakySim(options: SimulatorOptions, gw: FlakyGateway) {
    const { sim, transports } = fakeSim(options, gw.answer);
    return { sim, transports };
  }

  it('resends what a dropped connection left unanswered: every reading acked, each stored once', async () => {
    const gw = new FlakyGateway(15);
    const { sim, transports } = flakySim({ ids: ['sf-1', 'sf-2'], rate: 200, duration: 0.6 }, gw);
    await sim.start();
    for (let i = 0; i < 4; i++) {
      await new Promise((r) => setTimeout(r, 120));
      for (const t of transports.values()) gw.drop(t);
    }
    await sim.done;
    expect(await sim.drain(5000)).toBe(true);
    await sim.stop();
    const s = sim.stats();
    expect(s.resent).toBeGreaterThan(0);
    expect(s.reconnects).toBe(8);
    expect(s.failed + s.dropped + s.refused).toBe(0);
    for (const d of s.perDevice) {
      expect(sim.device(d.id)!.ackedSeqs()).toEqual([[1, d.seq]]);
      expect([...gw.stored.get(d.id)!.keys()].sort((a, b) => a - b)).toEqual(range(1, d.seq));
    }
  });

  it('injects every fault kind, reproducibly, and tallies what the gateway answered', async () => {
    const run = async () => {
      const gw = new FlakyGateway(2);
      const { sim, transports } = flakySim(
        {
          ids: ['ft-1', 'ft-2', 'ft-3'],
          rate: 100,
          duration: 0.8,
          seed: 5,
          faults: parseFaults('skew=2s,dup=0.1,ooo=0.1,burst=0.02:5,malformed=0.05'),
        },
        gw,
      );
      await sim.start();
      await sim.done;
      await sim.drain(5000);
      await sim.stop();
      return { gw, sim, transports, s: sim.stats() };
    };
    const { gw, sim, transports, s } = await run();
    const f = s.faults!;
    expect(f.skew.injected).toBe(3);
    expect(f.ooo.injected).toBeGreaterThan(0);
    expect(f.dup.injected).toBeGreaterThan(0);
    expect(f.dup.answers).toEqual({ ack: f.dup.injected });
    expect(f.burst.readings).toBe(f.burst.injected * 5);
    expect(f.malformed.injected).toBeGreaterThan(0);
    expect(Object.values(f.malformed.answers).reduce((a, b) => a + b, 0)).toBe(f.malformed.injected);
    expect(Object.keys(f.malformed.answers).sort()).toEqual(
      expect.arrayContaining(Object.keys(gw.codes).filter((c) => c in f.malformed.answers)),
    );
    // Faults are tallied apart: the readings' counters still add up.
    expect(s.sent).toBe(s.acked);
    expect(s.refused).toBe(0);
    expect(s.errors).toEqual({});
    for (const d of s.perDevice) {
      const t = transports.get(d.id)!;
      const dev = sim.device(d.id)!;
      // Skewed clock: the first reading is stamped `skew` off its scheduled time.
      const first = t.readings().find((r) => r.seq === 1)!;
      expect(Math.abs(first.ts - Date.now())).toBeLessThan(5000);
      expect(Math.abs(dev.faults!.skewMs)).toBeLessThanOrEqual(2000);
      // Nothing lost: every seq acked once; duplicates reached the gateway (which must dedupe them).
      expect(dev.ackedSeqs()).toEqual([[1, d.seq]]);
      const order = gw.order.get(d.id)!;
      expect(order.length).toBe(d.seq + d.faults!.dup.injected);
      expect(order.some((seq, i) => i > 0 && seq < order[i - 1])).toBe(true);
    }
    // Same seed, same faults.
    const again = await run();
    expect(again.s.faults!.dup.injected).toBe(f.dup.injected);
    expect(again.s.faults!.malformed).toEqual(f.malformed);
    expect(again.s.faults!.burst).toEqual(f.burst);
    expect(again.s.perDevice.map((d) => d.seq)).toEqual(s.perDevice.map((d) => d.seq));
  });

  it('cuts connections through the transport (drop=P), counts them, and still loses nothing', async () => {
    const gw = new FlakyGateway(5);
    const drops: string[] = [];
    const { sim, transports } = flakySim(
      { ids: ['dr-1'], rate: 100, duration: 0.6, faults: parseFaults('drop=0.05,seed=2') },
      gw,
    );
    await sim.start();
    const t = transports.get('dr-1')!;
    (t as Transport).drop = () => {
      drops.push('drop');
      gw.drop(t, 5);
    };
    await sim.done;
    expect(await sim.drain(5000)).toBe(true);
    await sim.stop();
    const s = sim.stats();
    expect(s.faults!.drop.injected).toBe(drops.length);
    expect(drops.length).toBeGreaterThan(0);
    expect(sim.ackedSeqs()).toEqual({ 'dr-1': [[1, s.perDevice[0].seq]] });
  });

  it('keeps "retry later" refusals and resends them after retryAfterMs (retryLater)', async () => {
    let refuse = 3;
    const { sim, transports } = fakeSim({ ids: ['rl-1'], rate: 50, duration: 0.3, retryLater: true }, (msg, t) => {
      if (refuse-- > 0)
        return t.reply(msg, {
          type: 'error',
          seq: msg.seq,
          code: 'STORE_UNAVAILABLE',
          message: 'later',
          details: { retryAfterMs: 30 },
        });
      t.ack(msg);
    });
    await sim.start();
    await sim.done;
    await sim.drain(2000);
    await sim.stop();
    const s = sim.stats();
    expect(s).toMatchObject({ sent: 15, acked: 15, refused: 0, deferred: 3, errors: { STORE_UNAVAILABLE: 3 } });
    const seqs = transports
      .get('rl-1')!
      .readings()
      .map((r) => r.seq!);
    expect(seqs.slice(0, 4)).toEqual([1, 1, 1, 1]);
    expect(sim.ackedSeqs()['rl-1']).toEqual([[1, 15]]);
  });

  it('without retryLater, counts them refused as before', async () => {
    const { sim } = fakeSim({ ids: ['rl-2'], rate: 50, duration: 0.2 }, (msg, t) =>
      t.reply(msg, { type: 'error', seq: msg.seq, code: 'RATE_LIMITED', message: 'slow down' }),
    );
    await sim.start();
    await sim.done;
    await sim.stop();
    expect(sim.stats()).toMatchObject({ sent: 10, acked: 0, refused: 10, deferred: 0 });
    expect(sim.ackedSeqs()['rl-2']).toEqual([]);
  });

  it('records only the accepted readings of a partly refused batch', async () => {
    const { sim } = fakeSim({ ids: ['pb-1'], rate: 50, duration: 0.2, batch: 5 }, (msg, t) =>
      t.reply(msg, {
        type: 'ack',
        seq: msg.seq,
        accepted: 4,
        errors: [{ index: 1, seq: msg.seqs![1], code: 'INVALID_METRIC_VALUE', message: 'x' }],
      }),
    );
    await sim.start();
    await sim.done;
    await sim.stop();
    expect(sim.ackedSeqs()['pb-1']).toEqual([
      [1, 1],
      [3, 6],
      [8, 10],
    ]);
  });
});

function range(a: number, b: number): number[] {
  return Array.from({ length: b - a + 1 }, (_, i) => a + i);
}
