import { telemetryTopic } from '@fieldline/contracts';
import { startGateway, type TestGateway, waitFor } from './support';

describe('a reading over each protocol reaches its room and the history API', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startGateway();
  });
  afterAll(async () => {
    await gw.stop();
  });

  const history = async (deviceId: string) => {
    const { status, body } = await gw.get(`/api/devices/${deviceId}/readings?bucket=raw&from=0`);
    expect(status).toBe(200);
    return body as { series: { metric: string; points: { ts: number; value: number }[] }[] };
  };

  it('MQTT: published reading is delivered live and stored', async () => {
    const op = await gw.operator();
    expect(await op.subscribe('mqtt-1')).toMatchObject({ ok: true, deviceId: 'mqtt-1', backfill: [] });
    const dev = await gw.mqttDevice('mqtt-1');
    const ts = Date.now() - 1000;
    await dev.publish(telemetryTopic('mqtt-1'), { ts, seq: 1, metrics: { temperature: 21.5, humidity: 40 } });
    await waitFor(() => op.of('mqtt-1').length === 1, 'live reading');
    expect(op.received[0]).toEqual({ deviceId: 'mqtt-1', ts, seq: 1, metrics: { temperature: 21.5, humidity: 40 } });
    await waitFor(async () => (await history('mqtt-1')).series.length === 2, 'stored reading');
    const h = await history('mqtt-1');
    expect(h.series.find((s) => s.metric === 'temperature')!.points).toEqual([{ ts, value: 21.5 }]);
    expect(dev.errors).toEqual([]);
    await dev.close();
    op.close();
  });

  it('WebSocket: every frame is acked by seq, delivered live and stored', async () => {
    const op = await gw.operator();
    await op.subscribe('ws-1');
    const dev = await gw.wsDevice('ws-1');
    const ts = Date.now();
    expect(await dev.send({ ts, seq: 10, metrics: { t: 1 } })).toEqual({ type: 'ack', seq: 10, accepted: 1 });
    expect(
      await dev.send({
        readings: [
          { ts: ts + 1, seq: 11, metrics: { t: 2 } },
          { ts: ts + 2, seq: 12, metrics: { t: 3 } },
        ],
      }),
    ).toEqual({
      type: 'ack',
      seq: 12,
      seqs: [11, 12],
      accepted: 2,
    });
    await waitFor(() => op.of('ws-1').length === 3, 'live readings');
    expect(op.of('ws-1').map((r) => r.seq)).toEqual([10, 11, 12]);
    await waitFor(async () => (await history('ws-1')).series[0]?.points.length === 3, 'stored readings');
    dev.close();
    op.close();
  });

  it('WebSocket is bound to the token’s device: a reading may name it, or leave it out', async () => {
    const op = await gw.operator();
    await op.subscribe('ws-2');
    const dev = await gw.wsDevice('ws-2');
    expect(await dev.send({ deviceId: 'ws-2', seq: 1, metrics: { t: 1 } })).toMatchObject({ type: 'ack', seq: 1 });
    expect(await dev.send({ seq: 2, metrics: { t: 2 } })).toMatchObject({ type: 'ack', seq: 2 });
    await waitFor(() => op.of('ws-2').length === 2, 'live readings');
    dev.close();
    op.close();
  });

  it('HTTP: single and batch readings answer 202 with counts, are delivered live and stored', async () => {
    const op = await gw.operator();
    await op.subscribe('http-1');
    const ts = Date.now();
    expect(await gw.post('http-1', { ts, seq: 1, metrics: { t: 1 } })).toEqual({
      status: 202,
      body: { accepted: 1, rejected: 0, errors: [] },
    });
    const batch = { readings: [2, 3, 4].map((seq) => ({ ts: ts + seq, seq, metrics: { t: seq } })) };
    expect(await gw.post('http-1', batch)).toEqual({
      status: 202,
      body: { accepted: 3, rejected: 0, errors: [] },
    });
    await waitFor(() => op.of('http-1').length === 4, 'live readings');
    await waitFor(async () => (await history('http-1')).series[0]?.points.length === 4, 'stored readings');
    op.close();
  });

  it('a client in room A never receives room B readings, and unsubscribe stops delivery', async () => {
    const a = await gw.operator();
    const b = await gw.operator();
    await a.subscribe('room-a');
    await b.subscribe('room-b');
    for (let i = 1; i <= 5; i++) {
      await gw.post('room-a', { seq: i, metrics: { t: i } });
      await gw.post('room-b', { seq: i, metrics: { t: -i } });
    }
    await waitFor(() => a.received.length === 5 && b.received.length === 5, 'both rooms');
    expect(a.received.every((r) => r.deviceId === 'room-a')).toBe(true);
    expect(b.received.every((r) => r.deviceId === 'room-b')).toBe(true);

    expect(await a.socket.timeout(2000).emitWithAck('unsubscribe', { deviceId: 'room-a' })).toEqual({
      ok: true,
      deviceId: 'room-a',
    });
    await gw.post('room-a', { seq: 6, metrics: { t: 6 } });
    await gw.post('room-b', { seq: 6, metrics: { t: -6 } });
    await waitFor(() => b.received.length === 6, 'room b still flowing');
    expect(a.received).toHaveLength(5);
    a.close();
    b.close();
  });

  it('coalesces a burst into few events but delivers every reading in order', async () => {
    const op = await gw.operator();
    let events = 0;
    op.socket.on('readings', () => events++);
    await op.subscribe('burst-1');
    const readings = Array.from({ length: 400 }, (_, i) => ({ seq: i + 1, metrics: { t: i } }));
    await gw.post('burst-1', { readings });
    await waitFor(() => op.of('burst-1').length === 400, 'all burst readings');
    expect(op.of('burst-1').map((r) => r.seq)).toEqual(readings.map((r) => r.seq));
    expect(events).toBeLessThan(10);
    op.close();
  });

  it('lists devices with online state, last seen and latest values', async () => {
    await gw.post('list-1', { metrics: { temperature: 20, battery: 99 } });
    await gw.post('list-1', { metrics: { temperature: 21 } });
    const { body } = await gw.get('/api/devices');
    const d = (body as any[]).find((x) => x.deviceId === 'list-1');
    expect(d).toMatchObject({
      online: true,
      latest: { temperature: 21, battery: 99 },
      metrics: ['battery', 'temperature'],
    });
    expect(Math.abs(d.lastSeen - Date.now())).toBeLessThan(5000);
  });

  it('reports ready on /health and counts on /metrics', async () => {
    const { status, body } = await gw.get('/health');
    expect(status).toBe(200);
    expect(body).toMatchObject({ status: 'ok', checks: { http: true, broker: true, store: true, writes: true } });
    const metrics = await (await fetch(`${gw.url}/metrics`)).text();
    expect(metrics).toMatch(/fieldline_readings_accepted_total\{transport="http"\} [1-9]/);
    expect(metrics).toMatch(/fieldline_readings_accepted_total\{transport="mqtt"\} [1-9]/);
  });
});
