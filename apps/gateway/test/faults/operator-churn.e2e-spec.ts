/*
 * Fault: operators that connect, subscribe and disconnect, over and over (10,000 cycles with FAULT_LONG=1, 2,000 in
 * CI), while a device sends to the rooms they join. Figures: device rooms and operator sockets at /metrics (must be
 * back to 0), heap after a forced GC against the baseline taken the same way after a warm-up.
 *
 * The gateway runs in this process (embedded mode), so the heap includes the test's own clients; they are closed and
 * unreferenced too, so a leak on either side shows. Tolerance: 8 MB over baseline. A leak of one socket's server-side
 * state (a Socket, its handshake and rooms: several KB) per cycle would be ≥ 8 MB after 2,000 cycles, and ≥ 40 MB
 * after 10,000; what stays below is allocator and JIT noise (measured: see the printed figure).
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { io, type Socket } from 'socket.io-client';
import { Namespace, TelemetryEvent, type SubscribeAck } from '@fieldline/contracts';
import { startGateway, type TestGateway } from '../support';
import { figure, LONG, ResilientWsDevice, sleep } from './devices';

jest.setTimeout(600_000);

const CYCLES = LONG ? 10_000 : 2_000;
const WARMUP = 300;
const CONCURRENCY = 20;
const DEVICES = 20;
const HEAP_TOLERANCE = 8 * 1024 * 1024;

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

async function settledHeap(): Promise<{ heapUsed: number; rss: number }> {
  for (let i = 0; i < 4; i++) {
    gc();
    await sleep(50);
  }
  const m = process.memoryUsage();
  return { heapUsed: m.heapUsed, rss: m.rss };
}

describe('fault: 10,000 operator connect/subscribe/disconnect cycles', () => {
  let gw: TestGateway;

  beforeAll(async () => {
    gw = await startGateway({ DEVICE_RATE: '0' });
  });

  afterAll(async () => {
    await gw?.stop();
  });

  it(`${CYCLES} cycles: rooms and sockets back to 0, heap back to baseline`, async () => {
    const token = await gw.operatorToken();
    const admin = await gw.adminToken();
    const metrics = async (): Promise<Map<string, number>> => {
      const text = await (await fetch(`${gw.url}/metrics`, { headers: { authorization: `Bearer ${admin}` } })).text();
      return new Map(
        text
          .split('\n')
          .map((l) => /^([a-z_]+(?:\{[^}]*\})?) (\S+)$/.exec(l))
          .filter((m) => m !== null)
          .map((m) => [m[1], Number(m[2])]),
      );
    };
    const devices: ResilientWsDevice[] = [];
    for (let i = 0; i < DEVICES; i++) {
      const id = `churn-${i}`;
      devices.push(
        new ResilientWsDevice(id, { url: () => gw.url, token: await gw.deviceToken(id), t0: Date.now(), stepMs: 100 }),
      );
    }
    await Promise.all(devices.map((d) => d.start()));
    // 10 readings/s per device into the rooms the operators join, with `since` backfill on every other subscribe.
    const ticker = setInterval(() => devices.forEach((d) => d.next()), 100);

    let failed = 0;
    let peakRooms = 0;
    const cycle = async (i: number): Promise<void> => {
      const socket: Socket = io(gw.url + Namespace.telemetry, {
        transports: ['websocket'],
        reconnection: false,
        forceNew: true,
        auth: { token },
      });
      try {
        await new Promise<void>((resolve, reject) => {
          socket.once('connect', resolve);
          socket.once('connect_error', reject);
        });
        const deviceId = `churn-${i % DEVICES}`;
        const req = i % 2 ? { deviceId, since: Date.now() - 2000 } : { deviceId };
        const ack: SubscribeAck = await socket.timeout(5000).emitWithAck(TelemetryEvent.subscribe, req);
        if (!ack.ok) failed++;
      } catch {
        failed++;
      } finally {
        socket.disconnect();
      }
    };
    const run = async (from: number, n: number): Promise<void> => {
      let next = from;
      await Promise.all(
        Array.from({ length: CONCURRENCY }, async () => {
          while (next < from + n) await cycle(next++);
        }),
      );
    };
    try {
      await run(0, WARMUP);
      await sleep(500);
      const m0 = await metrics();
      const base = await settledHeap();
      const started = Date.now();
      const sampler = setInterval(() => {
        void metrics().then((m) => (peakRooms = Math.max(peakRooms, m.get('fieldline_device_rooms') ?? 0)));
      }, 500);
      await run(WARMUP, CYCLES);
      clearInterval(sampler);
      const ms = Date.now() - started;
      await sleep(1000);
      const m1 = await metrics();
      const after = await settledHeap();
      const mb = (n: number): number => Math.round(n / 104_857.6) / 10;
      figure('operator-churn', {
        cycles: CYCLES,
        concurrency: CONCURRENCY,
        cyclesPerS: Math.round((CYCLES * 1000) / ms),
        failed,
        peakRooms,
        rooms: { before: m0.get('fieldline_device_rooms'), after: m1.get('fieldline_device_rooms') },
        sockets: { before: m0.get('fieldline_operator_sockets'), after: m1.get('fieldline_operator_sockets') },
        heapMB: { before: mb(base.heapUsed), after: mb(after.heapUsed), delta: mb(after.heapUsed - base.heapUsed) },
        heapBytesPerCycle: Math.round((after.heapUsed - base.heapUsed) / CYCLES),
        rssMB: { before: mb(base.rss), after: mb(after.rss) },
      });
      expect(failed).toBe(0);
      expect(m1.get('fieldline_device_rooms')).toBe(0);
      expect(m1.get('fieldline_operator_sockets')).toBe(0);
      expect(after.heapUsed - base.heapUsed).toBeLessThan(HEAP_TOLERANCE);
    } finally {
      clearInterval(ticker);
      devices.forEach((d) => d.close());
    }
  });
});
