import mqtt from 'mqtt';
import { ErrorCode, errorsTopic, telemetryTopic } from '@fieldline/contracts';
import { mqttConnectCode, type Operator, startGateway, type TestGateway, waitFor } from '../support';
import { mqttHostPort, points, PYTHON, run, script, Spawned } from './tools';

// Clients nobody here wrote, as a device maker or an operator would use them (issue 11): mosquitto_pub/_sub, MQTT.js
// with its default client id, Eclipse Paho (Python), curl, python3-websockets, python-socketio. Each checks the
// documented answers: CONNACK codes, PUBACKs, the errors topic, WebSocket acks and errors, HTTP status and body, and
// that readings reach the device's room and the history API.
describe('interop: standard clients as they come', () => {
  let gw: TestGateway;
  let op: Operator;
  beforeAll(async () => {
    gw = await startGateway();
    op = await gw.operator();
  });
  afterAll(async () => {
    op.close();
    await gw.stop();
  });

  const mosq = async (deviceId: string): Promise<string[]> => [
    '-h',
    mqttHostPort(gw)[0],
    '-p',
    mqttHostPort(gw)[1],
    '-u',
    deviceId,
    '-P',
    await gw.deviceToken(deviceId),
  ];

  it('mosquitto_pub with its default client id reaches the room and the store; a refusal lands on the errors topic', async () => {
    await op.subscribe('mosq-1');
    const ts = Date.now() - 5000;
    const pub = await run('mosquitto_pub', [
      ...(await mosq('mosq-1')),
      '-q',
      '1',
      '-t',
      telemetryTopic('mosq-1'),
      '-m',
      JSON.stringify({ ts, seq: 1, metrics: { temperature: 20.5 } }),
    ]);
    expect(pub).toMatchObject({ code: 0, stderr: '' });
    await waitFor(() => op.of('mosq-1').length === 1, 'mosquitto_pub reading in the room');
    expect(op.of('mosq-1')[0]).toEqual({ deviceId: 'mosq-1', ts, seq: 1, metrics: { temperature: 20.5 } });
    await waitFor(async () => (await points(gw, 'mosq-1', 'temperature')).length === 1, 'stored');
    expect(await points(gw, 'mosq-1', 'temperature')).toEqual([{ ts, value: 20.5 }]);

    // mosquitto_sub (its own default id) on the device's errors topic sees the answer to a refused reading.
    const sub = new Spawned('mosquitto_sub', [...(await mosq('mosq-1')), '-t', errorsTopic('mosq-1'), '-C', '1']);
    await new Promise((r) => setTimeout(r, 500));
    const bad = await run('mosquitto_pub', [
      ...(await mosq('mosq-1')),
      '-q',
      '1',
      '-t',
      telemetryTopic('mosq-1'),
      '-m',
      '{"seq": 2, "metrics": {"temperature": "warm"}}',
    ]);
    expect(bad.code).toBe(0);
    expect(await sub.exited).toBe(0);
    expect(JSON.parse(sub.lines[0])).toMatchObject({ code: ErrorCode.INVALID_METRIC_VALUE, seq: 2 });

    // A wrong token: mosquitto_pub is told why (CONNACK 5, "not authorized") and exits non-zero.
    const refused = await run('mosquitto_pub', [
      ...mqttHostPort(gw).flatMap((v, i) => [i === 0 ? '-h' : '-p', v]),
      '-u',
      'mosq-1',
      '-P',
      'fld_wrong',
      '-t',
      telemetryTopic('mosq-1'),
      '-m',
      '{}',
    ]);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr.toLowerCase()).toContain('not authori');
  });

  it('MQTT.js mqtt.connect(url, {username, password}) with its default client id reaches the room and the store', async () => {
    await op.subscribe('mqttjs-1');
    const client = await mqtt.connectAsync(gw.mqttUrl!, {
      username: 'mqttjs-1',
      password: await gw.deviceToken('mqttjs-1'),
      reconnectPeriod: 0,
    });
    expect(client.options.clientId).toMatch(/^mqttjs_/);
    const ts = Date.now() - 4000;
    await client.publishAsync(telemetryTopic('mqttjs-1'), JSON.stringify({ ts, seq: 1, metrics: { rpm: 1200 } }), {
      qos: 1,
    });
    await waitFor(() => op.of('mqttjs-1').length === 1, 'MQTT.js reading in the room');
    await waitFor(async () => (await points(gw, 'mqttjs-1', 'rpm')).length === 1, 'stored');
    expect(await points(gw, 'mqttjs-1', 'rpm')).toEqual([{ ts, value: 1200 }]);
    await client.endAsync();
  });

  it('Paho (Python): broker-assigned id, QoS 0 and 1, errors topic, last will on a drop, reconnect', async () => {
    await op.subscribe('paho-1');
    const status = new Spawned('mosquitto_sub', [...(await mosq('paho-1')), '-t', 'devices/paho-1/status']);
    await new Promise((r) => setTimeout(r, 300));
    const ts = Date.now() - 3000;
    const paho = await run(
      PYTHON,
      [script('paho_device.py'), ...mqttHostPort(gw), 'paho-1', await gw.deviceToken('paho-1'), String(ts)],
      {
        timeoutMs: 25_000,
      },
    );
    expect(paho.stderr).toBe('');
    expect(paho.code).toBe(0);
    const seen = JSON.parse(paho.stdout) as {
      connack: number[];
      errors: { code: string }[];
      qos1_acked: boolean;
      reconnected_qos1_acked: boolean;
    };
    expect(seen.connack).toEqual([0, 0]);
    expect(seen.qos1_acked).toBe(true);
    expect(seen.reconnected_qos1_acked).toBe(true);
    expect(seen.errors).toEqual([expect.objectContaining({ code: ErrorCode.INVALID_METRIC_VALUE })]);
    await waitFor(() => op.of('paho-1').length === 3, 'three Paho readings in the room');
    expect(op.of('paho-1').map((r) => r.metrics)).toEqual([{ q0: 1 }, { q1: 2 }, { q1: 3 }]);
    await waitFor(async () => (await points(gw, 'paho-1', 'q1')).length === 2, 'stored');
    expect(await points(gw, 'paho-1', 'q0')).toEqual([{ ts, value: 1 }]);
    expect(await points(gw, 'paho-1', 'q1')).toEqual([
      { ts: ts + 1, value: 2 },
      { ts: ts + 2, value: 3 },
    ]);
    // The status topic saw the device's `online` and then its last will, published by the broker on the drop.
    await waitFor(() => status.lines.includes('offline'), 'the last will');
    expect(status.lines.slice(0, 2)).toEqual(['online', 'offline']);
    await status.stop();
  });

  it('two devices with the same client id both stay connected; neither takes over nor inherits the other’s session', async () => {
    const [a, b] = ['same-a', 'same-b'];
    await op.subscribe(a);
    await op.subscribe(b);
    /** Connects with client id `sensor`; resolves with the client and the CONNACK's session-present flag. */
    const connect = async (deviceId: string, clean: boolean) => {
      const c = mqtt.connect(gw.mqttUrl!, {
        clientId: 'sensor',
        clean,
        username: deviceId,
        password: await gw.deviceToken(deviceId),
        reconnectPeriod: 0,
      });
      const sessionPresent = await new Promise<boolean>((resolve, reject) => {
        c.once('connect', (connack) => resolve(connack.sessionPresent));
        c.once('error', reject);
      });
      return { c, sessionPresent };
    };
    // A leaves a persistent session with a subscription behind.
    const a1 = await connect(a, false);
    expect(a1.sessionPresent).toBe(false);
    await a1.c.subscribeAsync(errorsTopic(a), { qos: 1 });
    await a1.c.endAsync();
    // B, same client id, persistent session: A's session is not its own, so it finds none.
    const b1 = await connect(b, false);
    expect(b1.sessionPresent).toBe(false);
    let bClosed = false;
    b1.c.on('close', () => (bClosed = true));
    // A comes back with the same id while B is connected: B is not taken over, and A finds its own session.
    const a2 = await connect(a, false);
    expect(a2.sessionPresent).toBe(true);
    const ts = Date.now() - 2000;
    await a2.c.publishAsync(telemetryTopic(a), JSON.stringify({ ts, seq: 1, metrics: { x: 1 } }), { qos: 1 });
    await b1.c.publishAsync(telemetryTopic(b), JSON.stringify({ ts, seq: 1, metrics: { x: 2 } }), { qos: 1 });
    await waitFor(() => op.of(a).length === 1 && op.of(b).length === 1, 'both readings');
    expect(bClosed).toBe(false);
    expect(a2.c.connected && b1.c.connected).toBe(true);
    // B can neither publish as A nor read A's topics, whatever its client id.
    await expect(b1.c.subscribeAsync(errorsTopic(a), { qos: 0 })).rejects.toThrow(/Subscribe error/);
    await a2.c.endAsync();
    await b1.c.endAsync();
    expect(await mqttConnectCode(gw.mqttUrl!, { clientId: 'sensor', username: b, password: 'fld_wrong' })).toBe(5);
  });
  it('curl: HTTP ingest answers 202 with the counts, 400 with the code', async () => {
    await op.subscribe('curl-1');
    const token = await gw.deviceToken('curl-1');
    const ts = Date.now() - 1000;
    const curl = (body: string) =>
      run('curl', [
        '-s',
        '-w',
        '\\n%{http_code}',
        '-X',
        'POST',
        '-H',
        `Authorization: Bearer ${token}`,
        '-H',
        'Content-Type: application/json',
        '--data-binary',
        body,
        `${gw.url}/api/devices/curl-1/readings`,
      ]);
    const ok = await curl(JSON.stringify({ ts, seq: 1, metrics: { flow: 3.5 } }));
    const [okBody, okStatus] = ok.stdout.split('\n');
    expect([okStatus, JSON.parse(okBody)]).toEqual(['202', { accepted: 1, rejected: 0, errors: [] }]);
    const bad = await curl('{"metrics": {"flow": "fast"}}');
    const [badBody, badStatus] = bad.stdout.split('\n');
    expect(badStatus).toBe('400');
    expect(JSON.parse(badBody)).toMatchObject({ code: ErrorCode.INVALID_METRIC_VALUE });
    await waitFor(() => op.of('curl-1').length === 1, 'curl reading in the room');
    await waitFor(async () => (await points(gw, 'curl-1', 'flow')).length === 1, 'stored');
    expect(await points(gw, 'curl-1', 'flow')).toEqual([{ ts, value: 3.5 }]);
  });

  it('python3-websockets on /ingest: an ack by seq, then an error naming the code', async () => {
    await op.subscribe('pyws-1');
    const ts = Date.now() - 1000;
    const py = await run(PYTHON, [
      script('ws_device.py'),
      `${gw.url.replace('http', 'ws')}/ingest`,
      await gw.deviceToken('pyws-1'),
      String(ts),
    ]);
    expect(py.stderr).toBe('');
    const replies = JSON.parse(py.stdout) as object[];
    expect(replies[0]).toEqual({ type: 'ack', seq: 7, accepted: 1 });
    expect(replies[1]).toMatchObject({ type: 'error', seq: 8, code: ErrorCode.INVALID_METRIC_VALUE });
    await waitFor(async () => (await points(gw, 'pyws-1', 'py_ws')).length === 1, 'stored');
    expect(await points(gw, 'pyws-1', 'py_ws')).toEqual([{ ts, value: 1.5 }]);
  });

  it('python-socketio operator joins a device room and receives a mosquitto_pub reading', async () => {
    const sio = new Spawned(PYTHON, [
      script('sio_operator.py'),
      gw.url,
      await gw.operatorToken(),
      'pysio-1',
      '1',
      '15',
    ]);
    await waitFor(() => sio.lines.length >= 1 || !sio.running, 'subscribe ack', 10_000);
    expect(JSON.parse(sio.lines[0])).toEqual({ ack: expect.objectContaining({ ok: true, deviceId: 'pysio-1' }) });
    const ts = Date.now() - 1000;
    const pub = await run('mosquitto_pub', [
      ...(await mosq('pysio-1')),
      '-q',
      '1',
      '-t',
      telemetryTopic('pysio-1'),
      '-m',
      JSON.stringify({ ts, seq: 1, metrics: { level: 7 } }),
    ]);
    expect(pub.code).toBe(0);
    expect(await sio.exited).toBe(0);
    expect(sio.stderr).toBe('');
    expect(JSON.parse(sio.lines[1])).toEqual({ reading: { deviceId: 'pysio-1', ts, seq: 1, metrics: { level: 7 } } });
  });
});
