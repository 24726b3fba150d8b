/*
 * Fault: a gateway node killed with SIGKILL mid-stream. MQTT devices publish at QoS 1 with persistent sessions to
 * Mosquitto (shared subscription over two nodes); WebSocket devices are connected to the node that dies, reconnect
 * (to the other node, as a load balancer would send them) and resend what was not acknowledged. The dead node is
 * restarted on its own data dir a moment later, as a supervisor would (what it acknowledged from its durable buffer
 * is replayed from there). Figures: readings lost and duplicated per transport (goal 0 and 0).
 *
 * A dedicated Mosquitto: the nodes' shared-subscription group is fixed (`fieldline`), so nodes of another suite on
 * the shared broker would take a share of these devices' messages.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type RestartableService, startRestartable } from '../../../../../scripts/test-services';
import {
  compare,
  figure,
  keyOf,
  LONG,
  QosMqttDevice,
  registerDevice,
  ResilientWsDevice,
  sleep,
} from '../../faults/devices';
import { type GatewayNode, killAll, settled, startNode, waitFor } from '../cluster';
import { describeWithServices, serviceUrls, uniqueName } from '../services';
import { clusterOn, storedKeys } from './harness';

const MQTT_DEVICES = 20;
const WS_DEVICES = 10;
const HZ = 20;
const RUN_S = LONG ? 60 : 12;
const KILL_AT_S = LONG ? 20 : 4;
/**
 * The supervisor restarts the killed node after this long: in the short variant before its last will (5 s), so it
 * takes its own MQTT session back; in the long one after, so the peer takes the session over first.
 */
const RESTART_AFTER_S = LONG ? 10 : 2;

describeWithServices('fault: a gateway node killed with SIGKILL mid-stream', () => {
  let broker: RestartableService;
  let dirA: string;

  beforeAll(async () => {
    broker = await startRestartable('mosquitto');
    dirA = mkdtempSync(join(tmpdir(), 'fieldline-fault-nodeA-'));
  });

  afterAll(async () => {
    await killAll();
    await broker?.remove();
    if (dirA) rmSync(dirA, { recursive: true, force: true });
  });

  it(`MQTT (QoS 1) and WebSocket devices at ${HZ} Hz, node A killed: nothing lost, nothing twice`, async () => {
    const urls = serviceUrls();
    const cluster = clusterOn({ influx: urls.influx, mqtt: broker.url, redis: urls.redis });
    const idA = uniqueName('a');
    const nodes = await Promise.all([startNode(cluster, idA, { DATA_DIR: dirA }), startNode(cluster, uniqueName('b'))]);
    let a: GatewayNode = nodes[0];
    const b: GatewayNode = nodes[1];
    const admin = await a.adminToken();
    const prefix = `${uniqueName('kill')}-`;
    const t0 = Date.now() - 1000;
    const step = 1000 / HZ;

    const mq: QosMqttDevice[] = [];
    for (let i = 0; i < MQTT_DEVICES; i++)
      mq.push(await QosMqttDevice.connect(broker.url, `${prefix}mq${i}`, t0, step));
    const ws: ResilientWsDevice[] = [];
    let aAlive = true;
    for (let i = 0; i < WS_DEVICES; i++) {
      const id = `${prefix}ws${i}`;
      const token = await registerDevice(a.url, admin, id);
      // Connected to A; while A is down the load balancer sends reconnects to B.
      ws.push(new ResilientWsDevice(id, { url: () => (aAlive ? a.url : b.url), token, t0, stepMs: step }));
    }
    await Promise.all(ws.map((d) => d.start()));

    const ticker = setInterval(() => {
      mq.forEach((d) => d.next());
      ws.forEach((d) => d.next());
    }, step);
    try {
      await sleep(KILL_AT_S * 1000);
      const before = await a.metrics();
      aAlive = false;
      expect(await a.kill('SIGKILL')).toBe('SIGKILL');
      const killedAt = Date.now();
      await sleep(RESTART_AFTER_S * 1000);
      a = await startNode(cluster, idA, { DATA_DIR: dirA });
      const restartMs = Date.now() - killedAt;
      await sleep(Math.max(0, (RUN_S - KILL_AT_S - RESTART_AFTER_S) * 1000));
      clearInterval(ticker);
      await Promise.all([...mq.map((d) => d.drained()), ...ws.map((d) => d.drained())]);

      const mqAcked = mq.flatMap((d) => [...d.acked].map((s) => keyOf(d.id, s)));
      const wsAcked = ws.flatMap((d) => [...d.acked].map((s) => keyOf(d.id, s)));
      // Until what InfluxDB holds stops changing (a restarted node replaying, a peer draining a session).
      const keys = await settled(() => storedKeys(cluster, prefix), 3000, 90_000);
      const cm = compare(
        mqAcked,
        keys.filter((k) => k.startsWith(`${prefix}mq`)),
      );
      const cw = compare(
        wsAcked,
        keys.filter((k) => k.startsWith(`${prefix}ws`)),
      );
      const sent = { mqtt: mq.reduce((n, d) => n + d.sent, 0), ws: ws.reduce((n, d) => n + d.sent, 0) };
      const [ma, mb] = await Promise.all([a.metrics(), b.metrics()]);
      figure('node-sigkill', {
        mqttDevices: MQTT_DEVICES,
        wsDevices: WS_DEVICES,
        hz: HZ,
        runS: RUN_S,
        restartMs,
        mqtt: { sent: sent.mqtt, acked: cm.acked, stored: cm.unique, lost: cm.lost, duplicated: cm.duplicated },
        ws: {
          sent: sent.ws,
          acked: cw.acked,
          stored: cw.unique,
          lost: cw.lost,
          duplicated: cw.duplicated,
          resent: ws.reduce((n, d) => n + d.resent, 0),
          reconnects: ws.reduce((n, d) => n + d.reconnects, 0),
        },
        acceptedByABeforeKill:
          (before.get('fieldline_readings_accepted_total{transport="mqtt"}') ?? 0) +
          (before.get('fieldline_readings_accepted_total{transport="ws"}') ?? 0),
        takeovers:
          (ma.get('fieldline_mqtt_session_takeovers_total') ?? 0) +
          (mb.get('fieldline_mqtt_session_takeovers_total') ?? 0),
        // Resends the gateway recognised (acknowledged, not stored again); absent before the spool work.
        duplicatesDropped: (ma.get('fieldline_duplicates_total') ?? 0) + (mb.get('fieldline_duplicates_total') ?? 0),
        lostSample: [...cm.lostSample, ...cw.lostSample],
      });
      expect(cm.acked).toBe(sent.mqtt);
      expect(cw.acked).toBe(sent.ws);
      expect({ mqttLost: cm.lost, wsLost: cw.lost }).toEqual({ mqttLost: 0, wsLost: 0 });
      expect({ mqttDuplicated: cm.duplicated, wsDuplicated: cw.duplicated }).toEqual({
        mqttDuplicated: 0,
        wsDuplicated: 0,
      });
      await waitFor(async () => (await fetch(`${a.url}/health`)).status === 200, 'node A ready again', 30_000);
    } finally {
      clearInterval(ticker);
      ws.forEach((d) => d.close());
      await Promise.all(mq.map((d) => d.close().catch(() => undefined)));
    }
  }, 300_000);
});
