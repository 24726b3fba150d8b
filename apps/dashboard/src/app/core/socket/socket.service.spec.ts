import { TestBed } from '@angular/core/testing';
import type { DeviceSummary, Reading } from '@fieldline/contracts';
import { AuthService } from '../auth/auth.service';
import { FakeManager, type FakeSocket } from './fake-io.testing';
import { GATEWAY_URL, IO_MANAGER_FACTORY } from './io';
import { type LiveBatch, SocketService } from './socket.service';

const T0 = Date.UTC(2026, 10, 25, 12);
const reading = (seq: number, deviceId = 'd1'): Reading => ({ deviceId, ts: T0 + seq * 100, seq, metrics: { t: seq } });
const range = (a: number, b: number, deviceId = 'd1'): Reading[] =>
  Array.from({ length: b - a + 1 }, (_, i) => reading(a + i, deviceId));
const summary = (deviceId: string, online: boolean): DeviceSummary => ({
  deviceId,
  online,
  lastSeen: T0,
  latestTs: T0,
  latest: { t: 1 },
  metrics: ['t'],
});
const flush = (): Promise<void> => new Promise((r) => setTimeout(r, 0));

describe('SocketService', () => {
  let manager: FakeManager;
  let service: SocketService;
  let telemetry: FakeSocket;
  let devices: FakeSocket;

  beforeEach(() => {
    localStorage.clear();
    manager = new FakeManager();
    TestBed.configureTestingModule({
      providers: [
        { provide: IO_MANAGER_FACTORY, useValue: () => manager },
        { provide: GATEWAY_URL, useValue: 'http://gateway.test' },
      ],
    });
    service = TestBed.inject(SocketService);
    telemetry = manager.sockets.get('/telemetry')!;
    devices = manager.sockets.get('/devices')!;
  });

  const connectBoth = (): void => {
    telemetry.accept();
    devices.accept();
  };

  /** A watcher that records every batch it gets. */
  const watcher = (deviceId = 'd1', since?: number) => {
    const batches: LiveBatch[] = [];
    const handle = service.watch(deviceId, (b) => batches.push(b), since === undefined ? {} : { since });
    const seqs = (): number[] => batches.flatMap((b) => b.readings.map((r) => r.seq!));
    return { batches, handle, seqs };
  };

  it('tells connecting, connected, reconnecting and recovered apart', () => {
    expect(telemetry.active && devices.active).toBe(true);
    expect(service.connection()).toBe('connecting');
    telemetry.accept();
    expect(service.connection()).toBe('connecting');
    devices.accept();
    expect(service.connection()).toBe('connected');
    expect(service.recoveredAt()).toBeNull();

    telemetry.drop();
    expect(service.connection()).toBe('reconnecting');
    expect(service.lostAt()).not.toBeNull();
    manager.fire('reconnect_attempt', 3);
    expect(service.attempt()).toBe(3);

    telemetry.accept();
    expect(service.connection()).toBe('connected');
    expect(service.lostAt()).toBeNull();
    expect(service.recoveredAt()).not.toBeNull();
    expect(service.attempt()).toBe(0);
  });

  it('is down when the gateway refuses the handshake, and retries on demand', () => {
    telemetry.active = false;
    telemetry.fire('connect_error', new Error('invalid token'));
    expect(service.connection()).toBe('down');
    expect(service.downReason()).toBe('invalid token');
    service.reconnect();
    expect(service.connection()).toBe('connecting');
    expect(telemetry.active).toBe(true);
  });

  it('sends the token in the handshake and reconnects when it changes', () => {
    const seen: object[] = [];
    telemetry.auth((d) => seen.push(d));
    connectBoth();
    TestBed.inject(AuthService).setToken('jwt-1');
    TestBed.tick();
    telemetry.auth((d) => seen.push(d));
    expect(seen).toEqual([{}, { token: 'jwt-1' }]);
    // The effect dropped both namespaces and asked them to connect again with the new token.
    expect(telemetry.connected).toBe(false);
    expect(telemetry.active).toBe(true);
  });

  it('keeps the device list from the snapshot and applies presence events in bursts', async () => {
    connectBoth();
    devices.fire('snapshot', [summary('b', false), summary('a', true)]);
    expect(service.synced()).toBe(true);
    expect(service.devices().map((d) => d.deviceId)).toEqual(['a', 'b']);
    expect(service.counts()).toEqual({ total: 2, online: 1, offline: 1 });

    devices.fire('online', summary('b', true));
    devices.fire('updated', [summary('c', true), summary('a', true)]);
    expect(service.counts().total).toBe(2); // applied together, after the burst
    await flush();
    expect(service.counts()).toEqual({ total: 3, online: 3, offline: 0 });
    expect(service.device('c')()?.online).toBe(true);
  });

  it('subscribes with since, hands the backfill first, then live readings held during the subscribe, once each', async () => {
    connectBoth();
    const w = watcher('d1', T0);
    expect(telemetry.pending('subscribe').map((e) => e.payload)).toEqual([{ deviceId: 'd1', since: T0 }]);
    expect(w.handle.state()).toBe('subscribing');

    // Live readings arrive before the ack (the room was joined first): 4 and 5 are also in the backfill.
    telemetry.fire('readings', { deviceId: 'd1', readings: range(4, 7) });
    telemetry.fire('readings', { deviceId: 'other', readings: range(1, 3, 'other') });
    expect(w.batches).toEqual([]);
    telemetry.answer('subscribe', { ok: true, deviceId: 'd1', backfill: range(1, 5), truncated: false });
    await flush();

    expect(w.batches.map((b) => b.backfill)).toEqual([true, false]);
    expect(w.seqs()).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(w.handle.state()).toBe('live');
    expect(w.handle.lastTs()).toBe(reading(7).ts);

    telemetry.fire('readings', { deviceId: 'd1', readings: [reading(7), reading(8)] });
    expect(w.seqs()).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
  });

  it('after a reconnect resubscribes with since = the newest reading held and fills in what was missed, no duplicate', async () => {
    connectBoth();
    const w = watcher('d1');
    expect(telemetry.pending('subscribe')[0].payload).toEqual({ deviceId: 'd1' });
    telemetry.answer('subscribe', { ok: true, deviceId: 'd1', backfill: [], truncated: false });
    await flush();
    telemetry.fire('readings', { deviceId: 'd1', readings: range(1, 10) });

    telemetry.drop();
    expect(w.handle.state()).toBe('subscribing');
    // Readings 11..20 happen while the connection is down: nobody hears them.
    telemetry.accept();
    expect(telemetry.pending('subscribe').map((e) => e.payload)).toEqual([{ deviceId: 'd1', since: reading(10).ts }]);
    telemetry.fire('readings', { deviceId: 'd1', readings: range(19, 22) });
    // The gateway's backfill overlaps what the client holds (same ts and seq): dropped.
    telemetry.answer('subscribe', {
      ok: true,
      deviceId: 'd1',
      backfill: [reading(10), ...range(11, 20)],
      truncated: false,
    });
    await flush();

    expect(w.seqs()).toEqual(range(1, 22).map((r) => r.seq));
    expect(service.recoveredReadings()).toBe(10);
  });

  it('ignores the answer to a subscribe sent before the connection dropped', async () => {
    connectBoth();
    const w = watcher('d1', T0);
    telemetry.drop();
    telemetry.accept();
    expect(telemetry.pending('subscribe')).toHaveLength(2);
    telemetry.answer('subscribe', { ok: true, deviceId: 'd1', backfill: range(1, 3), truncated: false });
    await flush();
    expect(w.batches).toEqual([]);
    telemetry.answer('subscribe', { ok: true, deviceId: 'd1', backfill: range(1, 4), truncated: false });
    await flush();
    expect(w.seqs()).toEqual([1, 2, 3, 4]);
  });

  it('reports a gap when the gateway cut the backfill short', async () => {
    connectBoth();
    const w = watcher('d1', T0);
    telemetry.answer('subscribe', { ok: true, deviceId: 'd1', backfill: range(50, 60), truncated: true });
    await flush();
    expect(w.batches[0].gap).toEqual({ from: T0, to: reading(50).ts });
  });

  it('retries a refused or timed-out subscribe with backoff', async () => {
    jest.useFakeTimers();
    try {
      jest.spyOn(console, 'warn').mockImplementation(() => undefined);
      connectBoth();
      const w = watcher('d1', T0);
      telemetry.answer('subscribe', { ok: false, error: { code: 'STORE_UNAVAILABLE', message: 'busy' } });
      await Promise.resolve();
      await Promise.resolve();
      expect(telemetry.pending('subscribe')).toHaveLength(0);
      jest.advanceTimersByTime(600);
      expect(telemetry.pending('subscribe')).toHaveLength(1);
      telemetry.timeOut('subscribe');
      await Promise.resolve();
      await Promise.resolve();
      jest.advanceTimersByTime(1100);
      telemetry.answer('subscribe', { ok: true, deviceId: 'd1', backfill: range(1, 2), truncated: false });
      await Promise.resolve();
      await Promise.resolve();
      expect(w.seqs()).toEqual([1, 2]);
      expect(w.handle.state()).toBe('live');
    } finally {
      jest.useRealTimers();
    }
  });

  it('unsubscribes when the last watcher of a device closes', async () => {
    connectBoth();
    const a = watcher('d1');
    const b = watcher('d1');
    telemetry.answer('subscribe', { ok: true, deviceId: 'd1', backfill: [], truncated: false });
    telemetry.answer('subscribe', { ok: true, deviceId: 'd1', backfill: [], truncated: false });
    await flush();
    telemetry.fire('readings', { deviceId: 'd1', readings: [reading(1)] });
    expect(a.seqs()).toEqual([1]);
    expect(b.seqs()).toEqual([1]);
    a.handle.close();
    expect(telemetry.sent('unsubscribe')).toEqual([]);
    telemetry.fire('readings', { deviceId: 'd1', readings: [reading(2)] });
    expect(a.seqs()).toEqual([1]);
    b.handle.close();
    expect(telemetry.sent('unsubscribe')).toEqual([{ deviceId: 'd1' }]);
    expect(b.handle.state()).toBe('closed');
  });
});
