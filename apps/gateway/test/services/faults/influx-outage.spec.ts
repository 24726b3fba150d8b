/*
 * Fault: InfluxDB stopped while 50 devices send at 10 Hz to a gateway in production mode (INFLUX_URL), then started
 * again. Figures: readings lost and duplicated (every acknowledged (device, seq) against what InfluxDB holds), peak of
 * the write backlog / spill while it is down, time until everything acknowledged is stored after it is back.
 * Short variant: 8 s outage; FAULT_LONG=1: 30 s.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type RestartableService, startRestartable } from '../../../../../scripts/test-services';
import { compare, figure, keyOf, LONG, registerDevice, ResilientWsDevice, sleep } from '../../faults/devices';
import { type GatewayNode, killAll, startNode } from '../cluster';
import { describeWithServices, uniqueName } from '../services';
import { backlog, clusterOn, samplePeaks, storedKeys } from './harness';

const DEVICES = 50;
const HZ = 10;
const OUTAGE_S = LONG ? 30 : 8;
const BEFORE_S = 3;
const AFTER_S = 3;
const DRAIN_GOAL_MS = 60_000;

describeWithServices('fault: InfluxDB stopped while devices send', () => {
  let influx: RestartableService;
  let node: GatewayNode;
  let dataDir: string;

  beforeAll(async () => {
    influx = await startRestartable('influxdb');
    dataDir = mkdtempSync(join(tmpdir(), 'fieldline-fault-influx-'));
  });

  afterAll(async () => {
    await killAll();
    await influx?.remove();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it(`${DEVICES} devices at ${HZ} Hz, InfluxDB down ${OUTAGE_S} s: nothing lost, nothing twice, drained < 60 s`, async () => {
    const cluster = clusterOn({ influx: influx.url });
    node = await startNode(cluster, uniqueName('outage'), { DATA_DIR: dataDir });
    const admin = await node.adminToken();
    const prefix = `${uniqueName('out')}-`;
    const t0 = Date.now() - 1000;
    const devices: ResilientWsDevice[] = [];
    for (let i = 0; i < DEVICES; i++) {
      const id = `${prefix}${String(i).padStart(3, '0')}`;
      devices.push(
        new ResilientWsDevice(id, {
          url: () => node.url,
          token: await registerDevice(node.url, admin, id),
          t0,
          stepMs: 1000 / HZ,
        }),
      );
    }
    await Promise.all(devices.map((d) => d.start()));

    // One tick per reading period; each device sends one reading per tick (readings carry the device's own clock).
    const ticker = setInterval(() => devices.forEach((d) => d.next()), 1000 / HZ);
    try {
      await sleep(BEFORE_S * 1000);
      const peaks = samplePeaks(node);
      const downAt = Date.now();
      await influx.stop('SIGTERM');
      // Reported, not asserted: whether a gateway that still spools is "ready" while its store is down is readiness policy.
      const down = await fetch(`${node.url}/health`);
      const healthDown = `${down.status} ${((await down.json()) as { status?: string }).status}`;
      await sleep(OUTAGE_S * 1000 - (Date.now() - downAt));
      const backlogAtRestart = await backlog(node);
      await influx.start();
      const upAt = Date.now();
      const ackedAtUp = new Set(devices.flatMap((d) => [...d.acked].map((s) => keyOf(d.id, s))));
      const unackedAtUp = devices.reduce((n, d) => n + d.unacked.size, 0);
      await sleep(AFTER_S * 1000);
      clearInterval(ticker);
      await Promise.all(devices.map((d) => d.drained(60_000)));

      // Drain: from InfluxDB answering again until every reading acknowledged before that is in it.
      let drainMs = -1;
      for (;;) {
        const have = new Set(await storedKeys(cluster, prefix).catch(() => [] as string[]));
        if ([...ackedAtUp].every((k) => have.has(k))) {
          drainMs = Date.now() - upAt;
          break;
        }
        if (Date.now() - upAt > 120_000) break;
        await sleep(250);
      }
      const peak = await peaks.stop();
      // Everything acknowledged at the end, once the backlog is gone.
      const acked = devices.flatMap((d) => [...d.acked].map((s) => keyOf(d.id, s)));
      let stored: string[] = [];
      for (let i = 0; i < 240; i++) {
        stored = await storedKeys(cluster, prefix);
        if (compare(acked, stored).lost === 0) break;
        await sleep(250);
      }
      const c = compare(acked, stored);
      const sent = devices.reduce((n, d) => n + d.produced, 0);
      figure('influx-outage', {
        devices: DEVICES,
        hz: HZ,
        outageS: OUTAGE_S,
        sent,
        acked: c.acked,
        stored: c.unique,
        lost: c.lost,
        duplicated: c.duplicated,
        ackedDuringOutage: ackedAtUp.size,
        unackedAtRestart: unackedAtUp,
        resent: devices.reduce((n, d) => n + d.resent, 0),
        refused: devices.reduce((n, d) => n + d.refused, 0),
        healthWhileDown: healthDown,
        peakBacklog: peak,
        backlogAtRestart,
        drainMs,
        lostSample: c.lostSample,
      });
      expect(c.acked).toBe(sent);
      expect(c.lost).toBe(0);
      expect(c.duplicated).toBe(0);
      expect(c.unique).toBe(sent);
      expect(drainMs).toBeGreaterThanOrEqual(0);
      expect(drainMs).toBeLessThan(DRAIN_GOAL_MS);
      expect((await fetch(`${node.url}/health`)).status).toBe(200);
    } finally {
      clearInterval(ticker);
      devices.forEach((d) => d.close());
    }
  }, 300_000);
});
