import { createConnection } from 'node:net';
import WebSocket from 'ws';
import { ErrorCode, errorsTopic, LIMITS, telemetryTopic } from '@fieldline/contracts';
import { MqttDevice, Operator, postReadings, startGateway, type TestGateway, waitFor, WsDevice } from './support';

/** Bad messages every transport must refuse with the same code. */
const manyMetrics = Object.fromEntries(Array.from({ length: LIMITS.maxMetrics + 1 }, (_, i) => [`m${i}`, i]));
const bigBatch = { readings: Array.from({ length: LIMITS.maxBatch + 1 }, (_, i) => ({ seq: i, metrics: { t: i } })) };
const oversized = JSON.stringify({ seq: 1, metrics: { t: 1 }, tags: { pad: 'x'.repeat(100) } }).padEnd(
  LIMITS.maxMessageBytes + 10,
  ' ',
);
const COMMON: [string, string | Buffer, ErrorCode][] = [
  ['malformed JSON', '{"seq": 1, "metrics": {', ErrorCode.MALFORMED_JSON],
  ['bytes that are not UTF-8 JSON', Buffer.from([0xff, 0xfe, 0x00, 0x7b]), ErrorCode.MALFORMED_JSON],
  ['an empty payload', '', ErrorCode.MALFORMED_JSON],
  ['a JSON array', '[{"metrics":{"t":1}}]', ErrorCode.INVALID_MESSAGE],
  ['a JSON number', '42', ErrorCode.INVALID_MESSAGE],
  ['a string metric value', '{"seq":1,"metrics":{"t":"21.5"}}', ErrorCode.INVALID_METRIC_VALUE],
  ['Infinity as a metric value', '{"seq":1,"metrics":{"t":1e999}}', ErrorCode.INVALID_METRIC_VALUE],
  ['a null metric value', '{"seq":1,"metrics":{"t":null}}', ErrorCode.INVALID_METRIC_VALUE],
  ['an invalid metric name', '{"seq":1,"metrics":{"bad name":1}}', ErrorCode.INVALID_METRIC_NAME],
  ['no metrics', '{"seq":1}', ErrorCode.NO_METRICS],
  ['too many metrics', JSON.stringify({ seq: 1, metrics: manyMetrics }), ErrorCode.TOO_MANY_METRICS],
  ['a timestamp in seconds', '{"seq":1,"ts":1764072000,"metrics":{"t":1}}', ErrorCode.INVALID_TIMESTAMP],
  ['an unparseable timestamp', '{"seq":1,"ts":"last tuesday","metrics":{"t":1}}', ErrorCode.INVALID_TIMESTAMP],
  ['a negative seq', '{"seq":-5,"metrics":{"t":1}}', ErrorCode.INVALID_SEQ],
  ['tags that are not strings', '{"seq":1,"metrics":{"t":1},"tags":{"site":3}}', ErrorCode.INVALID_TAGS],
  [
    'a payload id that differs from the channel',
    '{"deviceId":"someone-else","seq":1,"metrics":{"t":1}}',
    ErrorCode.DEVICE_ID_MISMATCH,
  ],
  ['a batch over the limit', JSON.stringify(bigBatch), ErrorCode.BATCH_TOO_LARGE],
  ['an empty batch', '{"readings":[]}', ErrorCode.EMPTY_BATCH],
  ['a message over the size limit', oversized, ErrorCode.MESSAGE_TOO_LARGE],
];

describe('bad input is answered with its code while a neighbour on the same transport keeps flowing', () => {
  let gw: TestGateway;
  let op: Operator;
  beforeAll(async () => {
    gw = await startGateway();
    op = await new Operator(gw.url).connected();
    for (const id of ['good-mqtt', 'good-ws', 'good-http', 'bad-mqtt', 'bad-ws', 'bad-http']) await op.subscribe(id);
  });
  afterAll(async () => {
    op.close();
    await gw.stop();
  });

  const counter = async (transport: string, code: string) => {
    const text = await (await fetch(`${gw.url}/metrics`)).text();
    const m = new RegExp(`fieldline_rejected_total\\{transport="${transport}",code="${code}"\\} (\\d+)`).exec(text);
    return m ? Number(m[1]) : 0;
  };

  it('MQTT: each bad message gets its code on devices/<id>/errors; nothing else is lost', async () => {
    const good = await MqttDevice.connect(gw.mqttUrl!, 'good-mqtt');
    const bad = await MqttDevice.connect(gw.mqttUrl!, 'bad-mqtt');
    let seq = 0;
    for (const [name, payload, code] of COMMON) {
      const before = bad.errors.length;
      await bad.publish(telemetryTopic('bad-mqtt'), payload);
      await good.publish(telemetryTopic('good-mqtt'), { seq: ++seq, metrics: { t: seq } });
      await waitFor(() => bad.errors.length > before, `error for ${name}`);
      expect([name, bad.errors[before].code]).toEqual([name, code]);
      expect(typeof bad.errors[before].message).toBe('string');
    }
    // The bad device's connection survived all of it and still delivers.
    await bad.publish(telemetryTopic('bad-mqtt'), { seq: 1000, metrics: { t: 1 } });
    // A batch with one bad reading: the good ones are kept, the bad one is answered.
    await bad.publish(telemetryTopic('bad-mqtt'), {
      readings: [
        { seq: 1001, metrics: { t: 1 } },
        { seq: 1002, metrics: { t: 'x' } },
      ],
    });
    await waitFor(() => bad.errors.some((e) => e.seq === 1002), 'partial batch error');
    expect(bad.errors.find((e) => e.seq === 1002)!.code).toBe(ErrorCode.INVALID_METRIC_VALUE);

    // A device id that breaks the rule in the topic itself.
    const errs: string[] = [];
    bad.client.on('message', (t, p) => t === errorsTopic('bad id!') && errs.push(JSON.parse(p.toString()).code));
    await bad.client.subscribeAsync(errorsTopic('bad id!'));
    await bad.publish('devices/bad id!/telemetry', { metrics: { t: 1 } });
    await waitFor(() => errs.length === 1, 'error for a bad topic id');
    expect(errs).toEqual([ErrorCode.INVALID_DEVICE_ID]);

    await waitFor(() => op.of('good-mqtt').length === COMMON.length, 'every good reading');
    expect(op.of('good-mqtt').map((r) => r.seq)).toEqual(Array.from({ length: COMMON.length }, (_, i) => i + 1));
    await waitFor(() => op.of('bad-mqtt').length === 2, 'the bad device’s valid readings');
    expect(op.of('bad-mqtt').map((r) => r.seq)).toEqual([1000, 1001]);
    expect(await counter('mqtt', ErrorCode.MALFORMED_JSON)).toBe(3);
    await good.close();
    await bad.close();
  });

  it('MQTT: a packet far over the limit closes only that client', async () => {
    const good = await MqttDevice.connect(gw.mqttUrl!, 'good-mqtt-2');
    await op.subscribe('good-mqtt-2');
    // A raw CONNECT then a PUBLISH header announcing 1 MB: the broker must not buffer it.
    const sock = createConnection(gw.mqttPort!, '127.0.0.1');
    const closed = new Promise<void>((resolve) => sock.on('close', () => resolve()));
    sock.on('error', () => {});
    const connect = Buffer.from([
      0x10, 0x10, 0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x04, 0x02, 0x00, 0x3c, 0x00, 0x04, 0x68, 0x75, 0x67, 0x65,
    ]);
    sock.write(connect);
    // Remaining length 1,048,576 as a variable byte integer: 0x80 0x80 0x40.
    sock.write(Buffer.from([0x30, 0x80, 0x80, 0x40]));
    await closed;
    await good.publish(telemetryTopic('good-mqtt-2'), { seq: 1, metrics: { t: 1 } });
    await waitFor(() => op.of('good-mqtt-2').length === 1, 'neighbour reading');
    await good.close();
  });

  it('WebSocket: each bad frame gets an error frame with its code; the connection stays open', async () => {
    const good = await WsDevice.connect(gw.url, '?deviceId=good-ws');
    const bad = await WsDevice.connect(gw.url, '?deviceId=bad-ws');
    let seq = 0;
    for (const [name, payload, code] of COMMON) {
      if (code === ErrorCode.MESSAGE_TOO_LARGE) continue; // closes with 1009, below
      const reply = await bad.send(payload);
      expect([name, reply.type, reply.type === 'error' && reply.code]).toEqual([name, 'error', code]);
      expect(await good.send({ seq: ++seq, metrics: { t: seq } })).toMatchObject({ type: 'ack', seq });
    }
    const reply = await bad.send('{"seq":77,"metrics":{"t":"x"}}');
    expect(reply).toMatchObject({ type: 'error', seq: 77, code: ErrorCode.INVALID_METRIC_VALUE });
    expect(
      await bad.send({
        readings: [
          { seq: 1, metrics: { t: 1 } },
          { seq: 2, metrics: {} },
        ],
      }),
    ).toMatchObject({
      type: 'ack',
      seqs: [1],
      accepted: 1,
      errors: [{ index: 1, seq: 2, code: ErrorCode.NO_METRICS }],
    });
    expect(bad.ws.readyState).toBe(WebSocket.OPEN);

    // An oversized frame closes that device's connection with 1009, and only that one.
    const code = await new Promise<number>((resolve) => {
      bad.ws.once('close', (c) => resolve(c));
      bad.ws.send(oversized);
    });
    expect(code).toBe(1009);
    expect(await good.send({ seq: ++seq, metrics: { t: seq } })).toMatchObject({ type: 'ack', seq });
    await waitFor(() => op.of('good-ws').length === seq, 'every good reading');
    good.close();
  });

  it('WebSocket: unknown paths and bad device ids are refused at the upgrade', async () => {
    const status = (path: string) =>
      new Promise<number>((resolve, reject) => {
        const ws = new WebSocket(gw.url.replace('http', 'ws') + path);
        ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
        ws.on('open', () => reject(new Error(`${path} was accepted`)));
        ws.on('error', () => {});
      });
    expect(await status('/nowhere')).toBe(404);
    expect(await status('/ingest?deviceId=bad%20id')).toBe(400);
  });

  it('HTTP: each bad body gets its status and code; the neighbour keeps flowing', async () => {
    let seq = 0;
    for (const [name, payload, code] of COMMON) {
      const res = await fetch(`${gw.url}/api/devices/bad-http/readings`, { method: 'POST', body: payload });
      const body = (await res.json()) as { code: string; message: string };
      expect([name, res.status, body.code]).toEqual([name, code === ErrorCode.MESSAGE_TOO_LARGE ? 413 : 400, code]);
      expect(typeof body.message).toBe('string');
      expect((await postReadings(gw.url, 'good-http', { seq: ++seq, metrics: { t: seq } })).status).toBe(202);
    }
    expect(await postReadings(gw.url, 'bad id', { metrics: { t: 1 } })).toMatchObject({
      status: 400,
      body: { code: ErrorCode.INVALID_DEVICE_ID },
    });
    expect(
      await postReadings(gw.url, 'bad-http', {
        readings: [
          { seq: 1, metrics: { t: 1 } },
          { seq: 2, metrics: { t: 'x' } },
        ],
      }),
    ).toEqual({
      status: 202,
      body: {
        accepted: 1,
        rejected: 1,
        errors: [expect.objectContaining({ index: 1, seq: 2, code: ErrorCode.INVALID_METRIC_VALUE })],
      },
    });
    const unknown = await fetch(`${gw.url}/api/nothing-here`);
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toMatchObject({ code: ErrorCode.NOT_FOUND });
    await waitFor(() => op.of('good-http').length === seq, 'every good reading');
    expect(await counter('http', ErrorCode.MALFORMED_JSON)).toBe(3);
  });
});
