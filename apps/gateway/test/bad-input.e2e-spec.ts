import { createConnection } from 'node:net';
import type mqtt from 'mqtt';
import { io, type Socket } from 'socket.io-client';
import WebSocket from 'ws';
import {
  ErrorCode,
  errorsTopic,
  LIMITS,
  Namespace,
  statusTopic,
  TelemetryEvent,
  telemetryTopic,
} from '@fieldline/contracts';
import {
  connectResult,
  mqttConnectCode,
  postReadings,
  signTestToken,
  startGateway,
  type TestGateway,
  waitFor,
  wsUpgradeStatus,
} from './support';

/*
 * The bad-input corpus: every entry is sent by a misbehaving client and must be answered with its code on the
 * channel it came from, while a well-behaved neighbour on the same transport keeps flowing and loses nothing.
 * The corpus sizes are printed at the end of the run (and quoted in docs/device-protocol.md).
 */

type Case = [name: string, payload: string | Buffer, code: ErrorCode];

const manyMetrics = Object.fromEntries(Array.from({ length: LIMITS.maxMetrics + 1 }, (_, i) => [`m${i}`, i]));
const manyTags = Object.fromEntries(Array.from({ length: LIMITS.maxTags + 1 }, (_, i) => [`k${i}`, 'v']));
const bigBatch = { readings: Array.from({ length: LIMITS.maxBatch + 1 }, (_, i) => ({ seq: i, metrics: { t: i } })) };
const oversized = JSON.stringify({ seq: 1, metrics: { t: 1 }, tags: { pad: 'x'.repeat(100) } }).padEnd(
  LIMITS.maxMessageBytes + 10,
  ' ',
);
const deep = '['.repeat(5000) + ']'.repeat(5000);

/** Payloads every device transport refuses with the same code (MQTT errors topic, WebSocket error frame, HTTP). */
const PAYLOADS: Case[] = [
  ['malformed JSON', '{"seq": 1, "metrics": {', ErrorCode.MALFORMED_JSON],
  ['bytes that are not UTF-8 JSON', Buffer.from([0xff, 0xfe, 0x00, 0x7b]), ErrorCode.MALFORMED_JSON],
  ['an empty payload', '', ErrorCode.MALFORMED_JSON],
  ['JSON followed by garbage', '{"seq":1,"metrics":{"t":1}} trailing', ErrorCode.MALFORMED_JSON],
  ['a NaN literal', '{"seq":1,"metrics":{"t":NaN}}', ErrorCode.MALFORMED_JSON],
  ['single-quoted JSON', "{'seq':1,'metrics':{'t':1}}", ErrorCode.MALFORMED_JSON],
  ['a JSON array', '[{"metrics":{"t":1}}]', ErrorCode.INVALID_MESSAGE],
  ['a JSON number', '42', ErrorCode.INVALID_MESSAGE],
  ['a JSON string', '"21.5"', ErrorCode.INVALID_MESSAGE],
  ['JSON null', 'null', ErrorCode.INVALID_MESSAGE],
  ['deeply nested arrays', deep, ErrorCode.INVALID_MESSAGE],
  ['readings that is not an array', '{"readings":{"0":{"metrics":{"t":1}}}}', ErrorCode.INVALID_MESSAGE],
  ['a batch entry that is not an object', '{"readings":[42]}', ErrorCode.INVALID_READING],
  ['a string metric value', '{"seq":1,"metrics":{"t":"21.5"}}', ErrorCode.INVALID_METRIC_VALUE],
  ['Infinity as a metric value', '{"seq":1,"metrics":{"t":1e999}}', ErrorCode.INVALID_METRIC_VALUE],
  ['a null metric value', '{"seq":1,"metrics":{"t":null}}', ErrorCode.INVALID_METRIC_VALUE],
  ['a boolean metric value', '{"seq":1,"metrics":{"t":true}}', ErrorCode.INVALID_METRIC_VALUE],
  ['an object metric value', '{"seq":1,"metrics":{"t":{"value":1}}}', ErrorCode.INVALID_METRIC_VALUE],
  ['an invalid metric name', '{"seq":1,"metrics":{"bad name":1}}', ErrorCode.INVALID_METRIC_NAME],
  ['a metric name over 64 characters', `{"seq":1,"metrics":{"${'m'.repeat(65)}":1}}`, ErrorCode.INVALID_METRIC_NAME],
  ['a __proto__ metric name', '{"seq":1,"metrics":{"__proto__":1,"t":1}}', ErrorCode.INVALID_METRIC_NAME],
  ['no metrics', '{"seq":1}', ErrorCode.NO_METRICS],
  ['empty metrics', '{"seq":1,"metrics":{}}', ErrorCode.NO_METRICS],
  ['metrics as an array', '{"seq":1,"metrics":[1,2]}', ErrorCode.NO_METRICS],
  ['too many metrics', JSON.stringify({ seq: 1, metrics: manyMetrics }), ErrorCode.TOO_MANY_METRICS],
  ['a timestamp in seconds', '{"seq":1,"ts":1764072000,"metrics":{"t":1}}', ErrorCode.INVALID_TIMESTAMP],
  ['a timestamp before 2000', '{"seq":1,"ts":946684799999,"metrics":{"t":1}}', ErrorCode.INVALID_TIMESTAMP],
  ['a timestamp in 2100', '{"seq":1,"ts":4102444800000,"metrics":{"t":1}}', ErrorCode.INVALID_TIMESTAMP],
  ['an unparseable timestamp', '{"seq":1,"ts":"last tuesday","metrics":{"t":1}}', ErrorCode.INVALID_TIMESTAMP],
  ['a date-time without a zone', '{"seq":1,"ts":"2026-11-25T10:00:00","metrics":{"t":1}}', ErrorCode.INVALID_TIMESTAMP],
  ['a boolean timestamp', '{"seq":1,"ts":true,"metrics":{"t":1}}', ErrorCode.INVALID_TIMESTAMP],
  ['a negative seq', '{"seq":-5,"metrics":{"t":1}}', ErrorCode.INVALID_SEQ],
  ['a fractional seq', '{"seq":1.5,"metrics":{"t":1}}', ErrorCode.INVALID_SEQ],
  ['a string seq', '{"seq":"1","metrics":{"t":1}}', ErrorCode.INVALID_SEQ],
  ['a seq beyond 2^53', '{"seq":9007199254740993,"metrics":{"t":1}}', ErrorCode.INVALID_SEQ],
  ['tags that are not strings', '{"seq":1,"metrics":{"t":1},"tags":{"site":3}}', ErrorCode.INVALID_TAGS],
  ['too many tags', JSON.stringify({ seq: 1, metrics: { t: 1 }, tags: manyTags }), ErrorCode.INVALID_TAGS],
  [
    'a tag value over 128 characters',
    JSON.stringify({ seq: 1, metrics: { t: 1 }, tags: { k: 'v'.repeat(129) } }),
    ErrorCode.INVALID_TAGS,
  ],
  [
    'an invalid device id in the payload',
    '{"deviceId":"bad id!","seq":1,"metrics":{"t":1}}',
    ErrorCode.INVALID_DEVICE_ID,
  ],
  [
    'a payload id of another device',
    '{"deviceId":"someone-else","seq":1,"metrics":{"t":1}}',
    ErrorCode.DEVICE_ID_MISMATCH,
  ],
  ['a batch over the limit', JSON.stringify(bigBatch), ErrorCode.BATCH_TOO_LARGE],
  ['an empty batch', '{"readings":[]}', ErrorCode.EMPTY_BATCH],
  ['a message over the size limit', oversized, ErrorCode.MESSAGE_TOO_LARGE],
];

const sizes: Record<string, number> = {};

describe('bad input is answered with its code while a neighbour on the same transport keeps flowing', () => {
  let gw: TestGateway;
  let watcher: Awaited<ReturnType<TestGateway['operator']>>;
  beforeAll(async () => {
    gw = await startGateway();
    watcher = await gw.operator();
    for (const id of ['good-mqtt', 'good-ws', 'good-http', 'bad-mqtt', 'bad-ws', 'bad-http', 'victim'])
      await watcher.subscribe(id);
  });
  afterAll(async () => {
    watcher.close();
    await gw.stop();
    console.log(`bad-input corpus: ${JSON.stringify(sizes)}, total ${Object.values(sizes).reduce((a, b) => a + b, 0)}`);
  });

  const counter = async (transport: string, code: string) => {
    const text = await (await fetch(`${gw.url}/metrics`)).text();
    const m = new RegExp(`fieldline_rejected_total\\{transport="${transport}",code="${code}"\\} (\\d+)`).exec(text);
    return m ? Number(m[1]) : 0;
  };

  it('MQTT: each bad publish gets its code on devices/<own id>/errors; nothing else is lost', async () => {
    const good = await gw.mqttDevice('good-mqtt');
    const bad = await gw.mqttDevice('bad-mqtt');
    const TOPICS: [string, string, string, ErrorCode][] = [
      ['another device’s telemetry topic', telemetryTopic('victim'), '{"metrics":{"t":1}}', ErrorCode.FORBIDDEN],
      ['another device’s status topic', statusTopic('victim'), 'offline', ErrorCode.FORBIDDEN],
      ['a topic with an invalid device id', 'devices/bad id!/telemetry', '{"metrics":{"t":1}}', ErrorCode.FORBIDDEN],
      ['its own errors topic', errorsTopic('bad-mqtt'), '{"code":"X"}', ErrorCode.INVALID_TOPIC],
      ['an unknown topic of its own', 'devices/bad-mqtt/other', '{"metrics":{"t":1}}', ErrorCode.INVALID_TOPIC],
      ['a topic outside devices/', 'sensors/bad-mqtt/telemetry', '{"metrics":{"t":1}}', ErrorCode.INVALID_TOPIC],
      ['a $SYS topic', '$SYS/broker/uptime', '1', ErrorCode.INVALID_TOPIC],
    ];
    const cases: [string, string, string | Buffer, ErrorCode][] = [
      ...PAYLOADS.map(([name, payload, code]): [string, string, string | Buffer, ErrorCode] => [
        name,
        telemetryTopic('bad-mqtt'),
        payload,
        code,
      ]),
      ...TOPICS,
    ];
    let seq = 0;
    for (const [name, topic, payload, code] of cases) {
      const before = bad.errors.length;
      await bad.publish(topic, payload);
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

    await waitFor(() => watcher.of('good-mqtt').length === cases.length, 'every good reading');
    expect(watcher.of('good-mqtt').map((r) => r.seq)).toEqual(Array.from({ length: cases.length }, (_, i) => i + 1));
    await waitFor(() => watcher.of('bad-mqtt').length === 2, 'the bad device’s valid readings');
    expect(watcher.of('bad-mqtt').map((r) => r.seq)).toEqual([1000, 1001]);
    expect(watcher.of('victim')).toEqual([]);
    expect(await counter('mqtt', ErrorCode.MALFORMED_JSON)).toBe(6);
    expect(await counter('mqtt', ErrorCode.FORBIDDEN)).toBe(3);
    sizes.mqtt = (sizes.mqtt ?? 0) + cases.length;
    await good.close();
    await bad.close();
  });

  it('MQTT: a CONNECT with bad credentials gets its return code; connected devices keep flowing', async () => {
    const good = await gw.mqttDevice('good-mqtt-c');
    await watcher.subscribe('good-mqtt-c');
    const a = await gw.deviceToken('conn-a');
    const b = await gw.deviceToken('conn-b');
    const will = (topic: string): mqtt.IClientOptions['will'] => ({
      topic,
      payload: Buffer.from('offline'),
      qos: 0,
      retain: true,
    });
    const CONNECTS: [string, mqtt.IClientOptions, number][] = [
      ['no credentials', { clientId: 'conn-a' }, 5],
      ['no password', { clientId: 'conn-a', username: 'conn-a' }, 5],
      ['a wrong password', { clientId: 'conn-a', username: 'conn-a', password: 'fld_wrong' }, 5],
      ['an empty password', { clientId: 'conn-a', username: 'conn-a', password: '' }, 5],
      ['another device’s token', { clientId: 'conn-a', username: 'conn-a', password: b }, 5],
      ['its token under another name', { clientId: 'conn-b', username: 'conn-b', password: a }, 5],
      ['an invalid user name', { clientId: 'x', username: 'bad id', password: a }, 5],
      ['an operator token as password', { clientId: 'conn-a', username: 'conn-a', password: await gw.adminToken() }, 5],
      [
        'a last will on another device’s status',
        { clientId: 'conn-a', username: 'conn-a', password: a, will: will(statusTopic('conn-b')) },
        5,
      ],
      [
        'a last will on a foreign topic',
        { clientId: 'conn-a', username: 'conn-a', password: a, will: will('alerts/all') },
        5,
      ],
    ];
    let seq = 0;
    for (const [name, opts, code] of CONNECTS) {
      expect([name, await mqttConnectCode(gw.mqttUrl!, opts)]).toEqual([name, code]);
      await good.publish(telemetryTopic('good-mqtt-c'), { seq: ++seq, metrics: { t: seq } });
    }
    // What is accepted, for contrast: its own credentials, a client id suffix, a will on its own status, and any
    // client id at all (issue 11: it is scoped to the device, so even another device's id names no other session).
    expect(await mqttConnectCode(gw.mqttUrl!, { clientId: 'conn-a', username: 'conn-a', password: a })).toBe(0);
    expect(await mqttConnectCode(gw.mqttUrl!, { clientId: 'conn-a:2', username: 'conn-a', password: a })).toBe(0);
    expect(await mqttConnectCode(gw.mqttUrl!, { clientId: 'conn-b', username: 'conn-a', password: a })).toBe(0);
    expect(
      await mqttConnectCode(gw.mqttUrl!, {
        clientId: 'conn-a',
        username: 'conn-a',
        password: a,
        will: will(statusTopic('conn-a')),
      }),
    ).toBe(0);
    await waitFor(() => watcher.of('good-mqtt-c').length === CONNECTS.length, 'every good reading');
    expect(await counter('mqtt', ErrorCode.UNAUTHORIZED)).toBe(10);
    sizes.mqtt = (sizes.mqtt ?? 0) + CONNECTS.length;
    await good.close();
  });

  it('MQTT: a packet far over the limit closes only that client', async () => {
    const good = await gw.mqttDevice('good-mqtt-2');
    await watcher.subscribe('good-mqtt-2');
    const token = await gw.deviceToken('huge');
    // A raw CONNECT (client id, user name and password "huge"/token) then a PUBLISH header announcing 1 MB.
    const str = (s: string) => {
      const b = Buffer.from(s);
      return Buffer.concat([Buffer.from([b.length >> 8, b.length & 0xff]), b]);
    };
    const body = Buffer.concat([
      str('MQTT'),
      Buffer.from([0x04, 0xc2, 0x00, 0x3c]),
      str('huge'),
      str('huge'),
      str(token),
    ]);
    const sock = createConnection(gw.mqttPort!, '127.0.0.1');
    const closed = new Promise<void>((resolve) => sock.on('close', () => resolve()));
    const connack = new Promise<Buffer>((resolve) => sock.once('data', (d: Buffer) => resolve(d)));
    sock.on('error', () => {});
    sock.write(Buffer.concat([Buffer.from([0x10, body.length]), body]));
    expect([...(await connack)]).toEqual([0x20, 0x02, 0x00, 0x00]); // CONNACK accepted
    // Remaining length 1,048,576 as a variable byte integer: 0x80 0x80 0x40.
    sock.write(Buffer.from([0x30, 0x80, 0x80, 0x40]));
    await closed;
    await good.publish(telemetryTopic('good-mqtt-2'), { seq: 1, metrics: { t: 1 } });
    await waitFor(() => watcher.of('good-mqtt-2').length === 1, 'neighbour reading');
    sizes.mqtt = (sizes.mqtt ?? 0) + 1;
    await good.close();
  });

  it('WebSocket: each bad frame gets an error frame with its code; the connection stays open', async () => {
    const good = await gw.wsDevice('good-ws');
    const bad = await gw.wsDevice('bad-ws');
    let seq = 0;
    let n = 0;
    for (const [name, payload, code] of PAYLOADS) {
      if (code === ErrorCode.MESSAGE_TOO_LARGE) continue; // closes with 1009, below
      const reply = await bad.send(payload);
      expect([name, reply.type, reply.type === 'error' && reply.code]).toEqual([name, 'error', code]);
      expect(await good.send({ seq: ++seq, metrics: { t: seq } })).toMatchObject({ type: 'ack', seq });
      n++;
    }
    // The same payloads as binary frames are answered alike.
    for (const [name, payload, code] of PAYLOADS.slice(0, 3)) {
      const n0 = bad.replies.length;
      bad.ws.send(Buffer.from(payload), { binary: true });
      await waitFor(() => bad.replies.length > n0, `binary ${name}`);
      expect([name, bad.replies[n0]]).toMatchObject([name, { type: 'error', code }]);
      n++;
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
    n++;
    expect(await good.send({ seq: ++seq, metrics: { t: seq } })).toMatchObject({ type: 'ack', seq });
    await waitFor(() => watcher.of('good-ws').length === seq, 'every good reading');
    sizes.ws = (sizes.ws ?? 0) + n;
    good.close();
  });

  it('WebSocket: bad upgrades get their HTTP status; open connections keep flowing', async () => {
    const good = await gw.wsDevice('good-ws-2');
    await watcher.subscribe('good-ws-2');
    const token = await gw.deviceToken('up-a');
    const UPGRADES: [string, string, Record<string, string>, number][] = [
      ['an unknown path', '/nowhere', {}, 404],
      ['no token', '/ingest', {}, 401],
      ['no token but a device id', '/ingest?deviceId=up-a', {}, 401],
      ['a wrong token', '/ingest?token=fld_wrong', {}, 401],
      ['a wrong bearer token', '/ingest', { authorization: 'Bearer fld_wrong' }, 401],
      ['a token that is too long', `/ingest?token=${'x'.repeat(300)}`, {}, 401],
      ['an operator token', `/ingest?token=${await gw.operatorToken()}`, {}, 401],
      ['basic auth', '/ingest', { authorization: `Basic ${Buffer.from(`up-a:${token}`).toString('base64')}` }, 401],
      ['another device id than the token’s', `/ingest?deviceId=up-b&token=${token}`, {}, 403],
      ['an invalid device id', `/ingest?deviceId=bad%20id&token=${token}`, {}, 400],
      ['a foreign browser origin', `/ingest?token=${token}`, { origin: 'https://evil.example' }, 403],
      ['the "null" origin', `/ingest?token=${token}`, { origin: 'null' }, 403],
    ];
    let seq = 0;
    for (const [name, path, headers, status] of UPGRADES) {
      expect([name, await wsUpgradeStatus(gw.url, path, headers)]).toEqual([name, status]);
      expect(await good.send({ seq: ++seq, metrics: { t: seq } })).toMatchObject({ type: 'ack', seq });
    }
    expect(await wsUpgradeStatus(gw.url, `/ingest?deviceId=up-a&token=${token}`)).toBe(101);
    await waitFor(() => watcher.of('good-ws-2').length === seq, 'every good reading');
    sizes.ws = (sizes.ws ?? 0) + UPGRADES.length;
    good.close();
  });

  it('HTTP: each bad body gets its status and code; the neighbour keeps flowing', async () => {
    const token = await gw.deviceToken('bad-http');
    let seq = 0;
    for (const [name, payload, code] of PAYLOADS) {
      const res = await fetch(`${gw.url}/api/devices/bad-http/readings`, {
        method: 'POST',
        body: payload,
        headers: { authorization: `Bearer ${token}` },
      });
      const body = (await res.json()) as { code: string; message: string };
      expect([name, res.status, body.code]).toEqual([name, code === ErrorCode.MESSAGE_TOO_LARGE ? 413 : 400, code]);
      expect(typeof body.message).toBe('string');
      expect((await gw.post('good-http', { seq: ++seq, metrics: { t: seq } })).status).toBe(202);
    }
    expect(
      await gw.post('bad-http', {
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
    await waitFor(() => watcher.of('good-http').length === seq, 'every good reading');
    expect(await counter('http', ErrorCode.MALFORMED_JSON)).toBe(6);
    sizes.http = (sizes.http ?? 0) + PAYLOADS.length;
  });

  it('HTTP: bad requests get their status and code; the neighbour keeps flowing', async () => {
    const token = await gw.deviceToken('req-a');
    const reading = JSON.stringify({ metrics: { t: 1 } });
    const REQUESTS: [string, string, RequestInit, number, ErrorCode][] = [
      ['no token', '/api/devices/req-a/readings', { method: 'POST', body: reading }, 401, ErrorCode.UNAUTHORIZED],
      [
        'a wrong token',
        '/api/devices/req-a/readings',
        { method: 'POST', body: reading, headers: { authorization: 'Bearer fld_wrong' } },
        401,
        ErrorCode.UNAUTHORIZED,
      ],
      [
        'a token without "Bearer"',
        '/api/devices/req-a/readings',
        { method: 'POST', body: reading, headers: { authorization: token } },
        401,
        ErrorCode.UNAUTHORIZED,
      ],
      [
        'an operator token',
        '/api/devices/req-a/readings',
        { method: 'POST', body: reading, headers: { authorization: `Bearer ${await gw.adminToken()}` } },
        401,
        ErrorCode.UNAUTHORIZED,
      ],
      [
        'another device’s path',
        '/api/devices/req-b/readings',
        { method: 'POST', body: reading, headers: { authorization: `Bearer ${token}` } },
        403,
        ErrorCode.FORBIDDEN,
      ],
      [
        'an invalid device id in the path',
        '/api/devices/bad%20id/readings',
        { method: 'POST', body: reading, headers: { authorization: `Bearer ${token}` } },
        400,
        ErrorCode.INVALID_DEVICE_ID,
      ],
      [
        'a foreign browser origin',
        '/api/devices/req-a/readings',
        {
          method: 'POST',
          body: reading,
          headers: { authorization: `Bearer ${token}`, origin: 'https://evil.example' },
        },
        403,
        ErrorCode.FORBIDDEN,
      ],
      ['an unknown path', '/api/nothing-here', {}, 404, ErrorCode.NOT_FOUND],
      [
        'a wrong method',
        '/api/devices/req-a/readings',
        { method: 'PUT', body: reading, headers: { authorization: `Bearer ${token}` } },
        404,
        ErrorCode.NOT_FOUND,
      ],
      ['a login without a body', '/api/auth/login', { method: 'POST' }, 400, ErrorCode.INVALID_REQUEST],
      [
        'a login with malformed JSON',
        '/api/auth/login',
        { method: 'POST', body: '{"username":', headers: { 'content-type': 'application/json' } },
        400,
        ErrorCode.MALFORMED_JSON,
      ],
      [
        'a login body over 16 KiB',
        '/api/auth/login',
        {
          method: 'POST',
          body: JSON.stringify({ username: 'x'.repeat(20_000) }),
          headers: { 'content-type': 'application/json' },
        },
        413,
        ErrorCode.MESSAGE_TOO_LARGE,
      ],
      [
        'history with a bad bucket',
        '/api/devices/req-a/readings?bucket=often',
        { headers: { authorization: `Bearer ${await gw.operatorToken()}` } },
        400,
        ErrorCode.INVALID_REQUEST,
      ],
    ];
    let seq = 0;
    for (const [name, path, init, status, code] of REQUESTS) {
      const res = await fetch(gw.url + path, init);
      const body = (await res.json()) as { code: string };
      expect([name, res.status, body.code]).toEqual([name, status, code]);
      expect((await gw.post('good-http', { seq: 1000 + ++seq, metrics: { t: seq } })).status).toBe(202);
    }
    await waitFor(() => watcher.of('good-http').filter((r) => r.seq! > 1000).length === seq, 'every good reading');
    expect(await postReadings(gw.url, 'req-a', reading, token)).toMatchObject({ status: 202 });
    sizes.http = (sizes.http ?? 0) + REQUESTS.length;
  });

  it('Socket.IO: each bad event is answered with its code; another operator keeps receiving everything', async () => {
    const good = await gw.operator();
    await good.subscribe('sio-feed');
    const bad = io(gw.url + Namespace.telemetry, {
      transports: ['websocket'],
      reconnection: false,
      auth: { token: await gw.operatorToken() },
    });
    await new Promise<void>((resolve) => bad.once('connect', () => resolve()));
    const ask = (s: Socket, event: string, ...args: unknown[]) => s.timeout(5000).emitWithAck(event, ...args);
    const EVENTS: [string, string, unknown[], ErrorCode][] = [
      ['subscribe with null', TelemetryEvent.subscribe, [null], ErrorCode.INVALID_DEVICE_ID],
      ['subscribe without a payload', TelemetryEvent.subscribe, [], ErrorCode.INVALID_DEVICE_ID],
      ['subscribe with a string', TelemetryEvent.subscribe, ['sio-feed'], ErrorCode.INVALID_DEVICE_ID],
      ['subscribe with an array', TelemetryEvent.subscribe, [['sio-feed']], ErrorCode.INVALID_DEVICE_ID],
      ['subscribe with a number id', TelemetryEvent.subscribe, [{ deviceId: 5 }], ErrorCode.INVALID_DEVICE_ID],
      ['subscribe with a bad id', TelemetryEvent.subscribe, [{ deviceId: 'bad id' }], ErrorCode.INVALID_DEVICE_ID],
      [
        'subscribe with a 65-character id',
        TelemetryEvent.subscribe,
        [{ deviceId: 'x'.repeat(65) }],
        ErrorCode.INVALID_DEVICE_ID,
      ],
      [
        'subscribe with since as text',
        TelemetryEvent.subscribe,
        [{ deviceId: 'ok-1', since: 'yesterday' }],
        ErrorCode.INVALID_REQUEST,
      ],
      [
        'subscribe with since as an object',
        TelemetryEvent.subscribe,
        [{ deviceId: 'ok-1', since: {} }],
        ErrorCode.INVALID_REQUEST,
      ],
      [
        'subscribe with since as a boolean',
        TelemetryEvent.subscribe,
        [{ deviceId: 'ok-1', since: true }],
        ErrorCode.INVALID_REQUEST,
      ],
      ['unsubscribe with null', TelemetryEvent.unsubscribe, [null], ErrorCode.INVALID_DEVICE_ID],
      ['unsubscribe with a bad id', TelemetryEvent.unsubscribe, [{ deviceId: 'bad id' }], ErrorCode.INVALID_DEVICE_ID],
      ['an unknown event', 'delete_everything', [{}], ErrorCode.NOT_FOUND],
      [
        'a server event sent by a client',
        TelemetryEvent.readings,
        [{ deviceId: 'sio-feed', readings: [] }],
        ErrorCode.NOT_FOUND,
      ],
    ];
    let seq = 0;
    for (const [name, event, args, code] of EVENTS) {
      const ack = await ask(bad, event, ...args);
      expect([name, ack]).toMatchObject([name, { ok: false, error: { code } }]);
      expect((await gw.post('sio-feed', { seq: ++seq, metrics: { t: seq } })).status).toBe(202);
    }
    // /devices takes no requests at all.
    const devices = io(gw.url + Namespace.devices, {
      transports: ['websocket'],
      reconnection: false,
      auth: { token: await gw.operatorToken() },
    });
    expect(await ask(devices, TelemetryEvent.subscribe, { deviceId: 'sio-feed' })).toMatchObject({
      ok: false,
      error: { code: ErrorCode.NOT_FOUND },
    });
    devices.disconnect();
    // More rooms than a socket may join.
    const many = Array.from({ length: LIMITS.maxSubscriptionsPerSocket }, (_, i) =>
      ask(bad, TelemetryEvent.subscribe, { deviceId: `room-${i}` }),
    );
    expect((await Promise.all(many)).every((a) => a.ok)).toBe(true);
    expect(await ask(bad, TelemetryEvent.subscribe, { deviceId: 'one-too-many' })).toMatchObject({
      ok: false,
      error: { code: ErrorCode.RATE_LIMITED },
    });
    expect(bad.connected).toBe(true);
    // Connecting without a token, or with a forged one.
    for (const auth of [{}, { token: await signTestToken({}, { secret: 'x'.repeat(40) }) }]) {
      const r = await connectResult(gw.url, Namespace.telemetry, auth);
      expect(r).toMatchObject({ connected: false, error: { data: { code: ErrorCode.UNAUTHORIZED } } });
    }
    // An event over the size limit closes that socket only.
    const closed = new Promise<string>((resolve) => bad.once('disconnect', (reason) => resolve(reason)));
    bad.emit(TelemetryEvent.subscribe, { deviceId: 'sio-feed', pad: 'x'.repeat(LIMITS.maxMessageBytes + 10) });
    expect(await closed).toMatch(/transport (close|error)/);
    expect((await gw.post('sio-feed', { seq: ++seq, metrics: { t: seq } })).status).toBe(202);
    await waitFor(() => good.of('sio-feed').length === seq, 'every reading at the good operator');
    expect(good.of('sio-feed').map((r) => r.seq)).toEqual(Array.from({ length: seq }, (_, i) => i + 1));
    sizes.socketio = EVENTS.length + 5;
    good.close();
  });
});
