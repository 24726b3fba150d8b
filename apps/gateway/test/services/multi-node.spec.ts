/*
 * Several gateway nodes (separate processes of the built gateway) on real Mosquitto, Redis and InfluxDB.
 * All nodes of this file share one MQTT shared-subscription group, so they run one after another in one file.
 */
import mqtt from 'mqtt';
import {
  AUTH_EXPIRED_EVENT,
  AuthPath,
  type DeviceSummary,
  deviceTokenPath,
  type ErrorBody,
  INGEST_PATH,
  telemetryTopic,
  userPath,
} from '@fieldline/contracts';
import { Simulator } from '../../../../devices-sim/src';
import { login, Operator, sleep, WsDevice, wsUpgradeStatus } from '../support';
import {
  type Cluster,
  type GatewayNode,
  killAll,
  newCluster,
  settled,
  startNode,
  storedSeqs,
  waitFor,
} from './cluster';
import { describeWithServices, serviceUrls, uniqueName } from './services';

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i + 1);
const sorted = (xs: number[]): number[] => [...xs].sort((x, y) => x - y);

describeWithServices('several gateway nodes on Mosquitto, Redis, InfluxDB and PostgreSQL', () => {
  let cluster: Cluster;
  let a: GatewayNode;
  let b: GatewayNode;

  beforeAll(async () => {
    cluster = newCluster();
    [a, b] = await Promise.all([startNode(cluster, uniqueName('a')), startNode(cluster, uniqueName('b'))]);
  });

  afterAll(async () => {
    await killAll();
    await cluster?.influx.dropDatabase(cluster.database).catch(() => undefined);
  });

  it('an operator on node B gets the readings of an MQTT and a WebSocket device sent at node A, each stored once', async () => {
    const N = 100;
    const mqId = uniqueName('mq');
    const wsId = uniqueName('ws');
    const op = await b.operator();
    for (const id of [mqId, wsId]) expect(await op.subscribe(id)).toMatchObject({ ok: true });

    const device = await mqtt.connectAsync(serviceUrls().mqtt, { clientId: mqId, reconnectPeriod: 0 });
    const ws = await a.wsDevice(wsId);
    const base = Date.now() - 60_000;
    const reading = (seq: number) => ({ ts: base + seq * 10, seq, metrics: { t: seq, h: 50 } });
    await Promise.all(
      range(N).map((seq) => device.publishAsync(telemetryTopic(mqId), JSON.stringify(reading(seq)), { qos: 1 })),
    );
    for (let i = 0; i < N; i += 10) {
      const reply = await ws.send({ readings: range(10).map((k) => ({ deviceId: wsId, ...reading(i + k) })) });
      expect(reply).toMatchObject({ type: 'ack', accepted: 10 });
    }

    await waitFor(() => op.of(mqId).length >= N && op.of(wsId).length >= N, 'both devices live at node B', 30_000);
    await sleep(300);
    for (const id of [mqId, wsId]) expect(sorted(op.of(id).map((r) => r.seq!))).toEqual(range(N));
    // The WebSocket device's readings all entered at node A; the broker split the MQTT device's between the nodes.
    const [ma, mb] = await Promise.all([a.metrics(), b.metrics()]);
    expect(ma.get('fieldline_readings_accepted_total{transport="ws"}')).toBe(N);
    expect(mb.get('fieldline_readings_accepted_total{transport="ws"}')).toBe(0);
    expect(
      (ma.get('fieldline_readings_accepted_total{transport="mqtt"}') ?? 0) +
        (mb.get('fieldline_readings_accepted_total{transport="mqtt"}') ?? 0),
    ).toBe(N);

    for (const id of [mqId, wsId]) {
      const stored = await settled(() => storedSeqs(cluster, id));
      expect(sorted(stored.map(([, seq]) => seq))).toEqual(range(N));
    }

    // Shared presence: both nodes show the same two devices, online, with the same latest values.
    const view = (ds: DeviceSummary[]) =>
      ds
        .filter((d) => d.deviceId === mqId || d.deviceId === wsId)
        .map(({ deviceId, online, latest, latestTs, metrics }) => ({ deviceId, online, latest, latestTs, metrics }));
    await waitFor(
      async () => {
        const [sa, sb] = await Promise.all([a.devicesSnapshot(), b.devicesSnapshot()]);
        return view(sa).length === 2 && JSON.stringify(view(sa)) === JSON.stringify(view(sb));
      },
      'the same /devices snapshot on both nodes',
      10_000,
    );
    const shown = view(await b.devicesSnapshot());
    for (const id of [mqId, wsId]) {
      expect(shown.find((d) => d.deviceId === id)).toMatchObject({
        online: true,
        latest: { t: N, h: 50 },
        latestTs: base + N * 10,
      });
    }

    op.close();
    ws.close();
    await device.endAsync();
  });

  it('a device registered at node A connects at node B; its token revoked at B, node A closes it at once', async () => {
    const id = uniqueName('reg');
    const admin = async (n: GatewayNode, method: string, path: string) =>
      fetch(n.url + path, {
        method,
        headers: { authorization: `Bearer ${await n.adminToken()}`, 'content-type': 'application/json' },
        body: method === 'POST' && path === AuthPath.devices ? JSON.stringify({ deviceId: id }) : undefined,
      });
    const reg = await admin(a, 'POST', AuthPath.devices);
    const { token } = (await reg.json()) as { token: string };
    expect(reg.status).toBe(201);
    const atB = await WsDevice.connect(b.url, '', { token });
    expect(await atB.send({ deviceId: id, seq: 1, metrics: { t: 1 } })).toMatchObject({ type: 'ack' });
    atB.close();
    const atA = await WsDevice.connect(a.url, '', { token });
    const closed = new Promise<number>((resolve) => atA.ws.once('close', (code) => resolve(code)));
    expect((await admin(b, 'DELETE', deviceTokenPath(id))).status).toBe(200);
    expect(await closed).toBe(1008);
    for (const n of [a, b])
      expect(await wsUpgradeStatus(n.url, INGEST_PATH, { authorization: `Bearer ${token}` })).toBe(401);
  });

  it('a user added at node A logs in at node B; disabled at B, node A cuts its socket at once', async () => {
    const username = uniqueName('user');
    const asAdmin = async (n: GatewayNode, method: string, path: string, body: unknown) =>
      fetch(n.url + path, {
        method,
        headers: { authorization: `Bearer ${await n.adminToken()}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    const added = await asAdmin(a, 'POST', AuthPath.users, { username, role: 'viewer', password: 'cluster-pass-1' });
    expect(added.status).toBe(201);
    const atB = await login(b.url, username, 'cluster-pass-1');
    expect(atB.status).toBe(200);
    const op = await new Operator(a.url, { token: atB.body.accessToken as string }).connected();
    const cut = new Promise<ErrorBody>((resolve) => op.socket.once(AUTH_EXPIRED_EVENT, resolve));
    expect((await asAdmin(b, 'PATCH', userPath(username), { disabled: true })).status).toBe(200);
    expect(await cut).toEqual({ code: 'UNAUTHORIZED', message: 'this user is disabled' });
    await waitFor(() => !op.socket.connected, 'node A to disconnect the socket');
    for (const n of [a, b]) expect((await login(n.url, username, 'cluster-pass-1')).status).toBe(401);
  });

  it('acknowledges MQTT readings only once stored: a node killed with them in its write buffer loses none', async () => {
    // This node buffers for a minute: whatever the broker gives it is only in memory when it is killed.
    const c = await startNode(cluster, uniqueName('c'), { WRITE_FLUSH_MS: '60000', WRITE_BATCH: '100000' });
    const N = 90;
    const id = uniqueName('held');
    const device = await mqtt.connectAsync(serviceUrls().mqtt, { clientId: id, reconnectPeriod: 0 });
    const base = Date.now() - 10_000;
    await Promise.all(
      range(N).map((seq) =>
        device.publishAsync(telemetryTopic(id), JSON.stringify({ ts: base + seq, seq, metrics: { v: seq } }), {
          qos: 1,
        }),
      ),
    );
    let held = 0;
    await waitFor(
      async () => (held = (await c.metrics()).get('fieldline_mqtt_pending_acks') ?? 0) > 0,
      'node C to hold acknowledgements',
      10_000,
    );
    expect((await c.metrics()).get('fieldline_store_written_total')).toBe(0);
    const takeovers = async () =>
      ((await a.metrics()).get('fieldline_mqtt_session_takeovers_total') ?? 0) +
      ((await b.metrics()).get('fieldline_mqtt_session_takeovers_total') ?? 0);
    const before = await takeovers();
    await c.kill('SIGKILL');

    await waitFor(async () => (await takeovers()) > before, 'a peer to take over the session of node C', 30_000);
    const stored = await settled(() => storedSeqs(cluster, id));
    expect(sorted(stored.map(([, seq]) => seq))).toEqual(range(N));
    expect(held).toBeGreaterThan(0);
    await device.endAsync();
  });

  it('SIGKILL of node A while the simulator publishes at QoS 1: node B takes over; nothing lost, nothing stored twice', async () => {
    const prefix = `${uniqueName('sim')}-`;
    const sim = new Simulator({
      protocol: 'mqtt',
      mqttUrl: serviceUrls().mqtt,
      devices: 20,
      rate: 20,
      qos: 1,
      duration: 12,
      idPrefix: prefix,
    });
    const acked = new Set<string>();
    sim.on('ack', (e) => {
      if (e.seq !== null) acked.add(`${e.deviceId}:${e.seq}`);
    });
    const takeoversBefore = (await b.metrics()).get('fieldline_mqtt_session_takeovers_total') ?? 0;
    await sim.start();
    await sleep(4000);
    const acceptedByA = (await a.metrics()).get('fieldline_readings_accepted_total{transport="mqtt"}') ?? 0;
    expect(await a.kill('SIGKILL')).toBe('SIGKILL');
    await sim.done;
    await sim.stop();
    const s = sim.stats();

    const stored = await settled(() => storedSeqs(cluster, prefix), 3000, 90_000);
    const keys = stored.map(([d, seq]) => `${d}:${seq}`);
    const unique = new Set(keys);
    const lost = [...acked].filter((k) => !unique.has(k));
    const mb = await b.metrics();
    const takeovers = (mb.get('fieldline_mqtt_session_takeovers_total') ?? 0) - takeoversBefore;
    const figures = {
      sent: s.sent,
      acked: acked.size,
      stored: unique.size,
      lost: lost.length,
      storedTwice: keys.length - unique.size,
      takeovers,
      // Ingested more than once (stored once): at least what A took before the kill and B took again.
      redeliveredAtLeast:
        acceptedByA + (mb.get('fieldline_readings_accepted_total{transport="mqtt"}') ?? 0) - unique.size,
    };
    console.log(`SIGKILL test: ${JSON.stringify(figures)}`);
    expect(s.acked).toBe(s.sent);
    expect(lost).toEqual([]);
    expect(keys.length).toBe(unique.size);
    expect(unique.size).toBe(acked.size);
    expect(takeovers).toBeGreaterThanOrEqual(1);
    const health = await fetch(`${b.url}/health`);
    expect(health.status).toBe(200);
  });

  it('a node that joins later shows the shared presence; SIGTERM of a node while devices send loses nothing', async () => {
    const d = await startNode(cluster, uniqueName('d'));
    // The latest values of every device, as node B and the new node D show them.
    const view = async (n: GatewayNode) =>
      (await n.devicesSnapshot()).map(({ deviceId, latest, latestTs, metrics }) => ({
        deviceId,
        latest: Object.fromEntries(Object.entries(latest).sort(([x], [y]) => (x < y ? -1 : 1))),
        latestTs,
        metrics,
      }));
    await waitFor(
      async () => JSON.stringify(await view(b)) === JSON.stringify(await view(d)),
      'node D to show what node B shows',
      10_000,
    ).catch(async (err: Error) => {
      const [vb, vd] = [await view(b), await view(d)];
      const diff = vb.filter((x, i) => JSON.stringify(x) !== JSON.stringify(vd[i])).slice(0, 3);
      const other = diff.map((x) => vd.find((y) => y.deviceId === x.deviceId));
      throw new Error(
        `${err.message}: B ${vb.length} D ${vd.length}\n${JSON.stringify(diff)}\n${JSON.stringify(other)}`,
      );
    });
    expect((await view(d)).length).toBeGreaterThan(20);

    const prefix = `${uniqueName('term')}-`;
    const sim = new Simulator({
      protocol: 'mqtt',
      mqttUrl: serviceUrls().mqtt,
      devices: 10,
      rate: 20,
      qos: 1,
      duration: 8,
      idPrefix: prefix,
    });
    const acked = new Set<string>();
    sim.on('ack', (e) => {
      if (e.seq !== null) acked.add(`${e.deviceId}:${e.seq}`);
    });
    const takeovers = async () => (await b.metrics()).get('fieldline_mqtt_session_takeovers_total') ?? 0;
    const before = await takeovers();
    await sim.start();
    await sleep(3000);
    expect(await d.kill('SIGTERM')).toBe(0);
    await sim.done;
    await sim.stop();
    const stored = await settled(() => storedSeqs(cluster, prefix), 3000, 90_000);
    const keys = new Set(stored.map(([dev, seq]) => `${dev}:${seq}`));
    expect([...acked].filter((k) => !keys.has(k))).toEqual([]);
    expect(keys.size).toBe(stored.length);
    // D stored and acknowledged what it had, then ended its session: nothing was left for a peer to take over.
    await sleep(7000);
    expect(await takeovers()).toBe(before);
    expect(d.output()).toMatch(/left the broker: everything received is stored and acknowledged/);
  });
});
