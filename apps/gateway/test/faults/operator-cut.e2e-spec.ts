/*
 * Fault: an operator's network drops for 5 s and comes back. The operator's Socket.IO connection goes through a TCP
 * proxy that the test cuts (both sides see the connection drop; reconnects are refused while it is down). On every
 * reconnect the operator resubscribes with `since` = the newest timestamp it holds, as the dashboard does. Figures:
 * share of the readings sent while it was away that it received (goal 100%), readings received twice (goal 0), and
 * every reading after its first one received exactly once.
 */
import { io, type Socket } from 'socket.io-client';
import { Namespace, type ReadingsPayload, type Reading, type SubscribeAck, TelemetryEvent } from '@fieldline/contracts';
import { startGateway, type TestGateway } from '../support';
import { figure, LONG, ResilientWsDevice, sleep } from './devices';
import { TcpProxy } from './tcp-proxy';

jest.setTimeout(180_000);

const DEVICES = 3;
const HZ = 50;
const CUT_MS = 5000;
const CUTS = LONG ? 5 : 1;

describe('fault: an operator socket cut for 5 s and back', () => {
  let gw: TestGateway;
  let proxy: TcpProxy;

  beforeAll(async () => {
    gw = await startGateway({ DEVICE_RATE: '0' });
    proxy = await new TcpProxy(Number(new URL(gw.url).port)).listen();
  });

  afterAll(async () => {
    await proxy?.close();
    await gw?.stop();
  });

  it(`resubscribing with since, the operator gets every missed reading once (${CUTS} cut(s))`, async () => {
    const t0 = Date.now() - 60_000;
    const devices: ResilientWsDevice[] = [];
    for (let i = 0; i < DEVICES; i++) {
      const id = `cut-${i}`;
      devices.push(
        new ResilientWsDevice(id, { url: () => gw.url, token: await gw.deviceToken(id), t0, stepMs: 1000 / HZ }),
      );
    }
    await Promise.all(devices.map((d) => d.start()));

    // The operator: what it holds per device (every delivery, duplicates included), and the newest ts.
    const got = new Map<string, number[]>(devices.map((d) => [d.id, []]));
    const lastTs = new Map<string, number>();
    const hold = (r: Reading): void => {
      got.get(r.deviceId)?.push(r.seq!);
      if (r.ts > (lastTs.get(r.deviceId) ?? -Infinity)) lastTs.set(r.deviceId, r.ts);
    };
    const socket: Socket = io(proxy.url + Namespace.telemetry, {
      transports: ['websocket'],
      auth: { token: await gw.operatorToken() },
      reconnectionDelay: 250,
      reconnectionDelayMax: 1000,
    });
    socket.on(TelemetryEvent.readings, (p: ReadingsPayload) => p.readings.forEach(hold));
    let subscribed = 0;
    let backfilled = 0;
    let truncated = false;
    socket.on('connect', () => {
      void Promise.all(
        devices.map(async (d) => {
          const since = lastTs.get(d.id);
          const ack: SubscribeAck = await socket
            .timeout(5000)
            .emitWithAck(
              TelemetryEvent.subscribe,
              since === undefined ? { deviceId: d.id } : { deviceId: d.id, since },
            );
          if (!ack.ok) throw new Error(`subscribe ${d.id}: ${ack.error.code}`);
          backfilled += ack.backfill.length;
          truncated ||= ack.truncated;
          ack.backfill.forEach(hold);
        }),
      ).then(() => subscribed++);
    });
    const ticker = setInterval(() => devices.forEach((d) => d.next()), 1000 / HZ);
    try {
      const waitSubscribed = async (n: number): Promise<void> => {
        const until = Date.now() + 30_000;
        while (subscribed < n) {
          if (Date.now() > until) throw new Error('operator did not (re)subscribe');
          await sleep(10);
        }
      };
      await waitSubscribed(1);
      await sleep(1000);
      // Seq ranges produced while the operator was away, per device: [first, last].
      const away: [string, number, number][] = [];
      const outages: number[] = [];
      for (let c = 0; c < CUTS; c++) {
        const from = devices.map((d) => d.produced + 1);
        const cutAt = Date.now();
        proxy.cut();
        await sleep(CUT_MS);
        proxy.restore();
        await waitSubscribed(c + 2);
        outages.push(Date.now() - cutAt);
        devices.forEach((d, i) => away.push([d.id, from[i], d.produced]));
        await sleep(2000);
      }
      clearInterval(ticker);
      await Promise.all(devices.map((d) => d.drained()));
      await sleep(500);

      let expected = 0;
      let missing = 0;
      let duplicated = 0;
      let missed = 0;
      let missedReceived = 0;
      for (const d of devices) {
        const seqs = got.get(d.id)!;
        const have = new Set(seqs);
        duplicated += seqs.length - have.size;
        // Live from the first reading it got: every acknowledged reading after that, exactly once.
        const first = Math.min(...seqs);
        for (let s = first; s <= d.produced; s++) {
          if (!d.acked.has(s)) continue;
          expected++;
          if (!have.has(s)) missing++;
        }
        for (const [id, lo, hi] of away) {
          if (id !== d.id) continue;
          for (let s = lo; s <= hi; s++) {
            missed++;
            if (have.has(s)) missedReceived++;
          }
        }
      }
      figure('operator-cut', {
        devices: DEVICES,
        hz: HZ,
        cuts: CUTS,
        cutMs: CUT_MS,
        awayMs: outages,
        refusedReconnects: proxy.refused,
        missedWhileAway: missed,
        receivedOfMissed: missedReceived,
        share: missed ? Math.round((10_000 * missedReceived) / missed) / 100 : null,
        backfilled,
        truncated,
        expected,
        missing,
        duplicated,
      });
      expect(missed).toBeGreaterThan(0);
      expect(missedReceived).toBe(missed);
      expect(missing).toBe(0);
      expect(duplicated).toBe(0);
      expect(truncated).toBe(false);
    } finally {
      clearInterval(ticker);
      socket.close();
      devices.forEach((d) => d.close());
    }
  });
});
