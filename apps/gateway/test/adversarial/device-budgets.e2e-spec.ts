import { request as httpRequest } from 'node:http';
import { connect as netConnect, type Socket } from 'node:net';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { randomBytes } from 'node:crypto';
import mqtt from 'mqtt';
import WebSocket from 'ws';
import { AuthPath, ConnackCode, ErrorCode, INGEST_PATH, telemetryTopic, WsCloseCode } from '@fieldline/contracts';
import { DeviceTransports } from '../../src/ingest/device-transports';
import { MqttBrokerTransport } from '../../src/ingest/mqtt.transport';
import { WsIngestTransport } from '../../src/ingest/ws.transport';
import { mqttConnectCode, type Operator, sleep, startGateway, type TestGateway, waitFor } from '../support';

/*
 * What one device credential may hold (docs/security.md#budgets-per-credential): each limit at its edge, one below served and
 * one above refused with the documented code, while a neighbour device on the same transport keeps every reading.
 * Each flood prints the gateway's event-loop lag and memory (one line, `[device-budgets]`).
 */

/** Runs `flood` and prints event-loop lag and memory while it ran. */
async function measured<T>(name: string, flood: () => Promise<T>): Promise<T> {
  const lag = monitorEventLoopDelay({ resolution: 10 });
  lag.enable();
  const before = process.memoryUsage();
  let peakRss = before.rss;
  let peakHeap = before.heapUsed;
  const sample = setInterval(() => {
    const m = process.memoryUsage();
    peakRss = Math.max(peakRss, m.rss);
    peakHeap = Math.max(peakHeap, m.heapUsed);
  }, 20);
  try {
    return await flood();
  } finally {
    clearInterval(sample);
    lag.disable();
    const mb = (n: number): string => (n / 1024 ** 2).toFixed(1);
    console.log(
      `[device-budgets] ${name}: event-loop lag p99 ${(lag.percentile(99) / 1e6).toFixed(1)} ms, max ${(lag.max / 1e6).toFixed(1)} ms; ` +
        `RSS ${mb(before.rss)} MB, peak +${mb(peakRss - before.rss)} MB; heap ${mb(before.heapUsed)} MB, peak +${mb(peakHeap - before.heapUsed)} MB`,
    );
  }
}

const seqsOf = (op: Operator, id: string): number[] => op.of(id).map((r) => r.seq!);
const oneTo = (n: number): number[] => Array.from({ length: n }, (_, i) => i + 1);

/** An MQTT connection of `deviceId` with its own client id (a persistent session unless `clean`). */
async function mqttClient(gw: TestGateway, deviceId: string, clientId: string, opts: mqtt.IClientOptions = {}) {
  return mqtt.connectAsync(gw.mqttUrl!, {
    clientId,
    username: deviceId,
    password: await gw.deviceToken(deviceId),
    reconnectPeriod: 0,
    ...opts,
  });
}

/** Like {@link mqttClient}, but not awaited: listeners attached before CONNACK see what the session had queued. */
async function mqttSession(gw: TestGateway, deviceId: string, clientId: string) {
  const client = mqtt.connect(gw.mqttUrl!, {
    clientId,
    username: deviceId,
    password: await gw.deviceToken(deviceId),
    reconnectPeriod: 0,
    clean: false,
  });
  const got: string[] = [];
  client.on('message', (_t, p) => got.push(p.toString()));
  const present = await new Promise<boolean>((resolve, reject) => {
    client.once('connect', (connack) => resolve(connack.sessionPresent));
    client.once('error', reject);
  });
  return { client, got, present };
}

/** The return codes of the SUBACK to a SUBSCRIBE of `topics` at QoS 1 (mqtt.js rejects when one is 0x80). */
function suback(c: mqtt.MqttClient, topics: string[]): Promise<number[]> {
  return new Promise((resolve) => {
    const on = (p: mqtt.Packet): void => {
      if (p.cmd !== 'suback') return;
      c.off('packetreceive', on);
      resolve((p as unknown as { granted: number[] }).granted);
    };
    c.on('packetreceive', on);
    c.subscribe(topics, { qos: 1 }, () => undefined);
  });
}

/** A neighbour that publishes readings 1..n over MQTT while `during` runs. */
async function mqttNeighbour(gw: TestGateway, op: Operator, id: string, n: number, during: () => Promise<void>) {
  await op.subscribe(id);
  const device = await gw.mqttDevice(id);
  const sending = (async () => {
    for (let seq = 1; seq <= n; seq++) {
      await device.publish(telemetryTopic(id), { seq, metrics: { t: seq } });
      await sleep(5);
    }
  })();
  await during();
  await sending;
  await waitFor(() => op.of(id).length >= n, `${n} readings of ${id}`, 15_000);
  expect(seqsOf(op, id)).toEqual(oneTo(n));
  await device.close();
}

describe('device budgets: MQTT (embedded broker)', () => {
  let gw: TestGateway;
  let op: Operator;

  beforeAll(async () => {
    gw = await startGateway({
      DEVICE_MQTT_CONNECTIONS: '3',
      MQTT_MAX_SUBSCRIPTIONS: '10',
      MQTT_MAX_SUBSCRIBE_TOPICS: '3',
      MQTT_QUEUE_MESSAGES: '5',
      MQTT_QUEUE_BYTES: '64k',
      MQTT_DEVICE_SESSION_EXPIRY: '3',
      MQTT_MAX_SESSIONS: '2',
    });
    op = await gw.operator();
  });
  afterAll(async () => {
    op.close();
    await gw.stop();
  });

  const broker = (): MqttBrokerTransport =>
    gw.app.get(DeviceTransports).all.find((t) => t instanceof MqttBrokerTransport) as MqttBrokerTransport;

  it('connections per device: the third is served, the fourth refused with SERVER_UNAVAILABLE (3)', async () => {
    const held: mqtt.MqttClient[] = [];
    await mqttNeighbour(gw, op, 'mq-conn-n', 20, async () => {
      await measured('MQTT connections per device', async () => {
        for (let i = 0; i < 3; i++) held.push(await mqttClient(gw, 'mq-conn', `c${i}`, { clean: true }));
        const password = await gw.deviceToken('mq-conn');
        const refused = await Promise.all(
          Array.from({ length: 20 }, (_, i) =>
            mqttConnectCode(gw.mqttUrl!, { clientId: `x${i}`, username: 'mq-conn', password }),
          ),
        );
        expect(refused).toEqual(Array.from({ length: 20 }, () => ConnackCode.SERVER_UNAVAILABLE));
        // Taking over one of its own sessions is not a new connection.
        held.push(await mqttClient(gw, 'mq-conn', 'c0', { clean: true }));
      });
    });
    await Promise.all(held.map((c) => c.endAsync(true)));
    // Once one is closed, another is served again.
    const password = await gw.deviceToken('mq-conn');
    await waitFor(
      async () => (await mqttConnectCode(gw.mqttUrl!, { clientId: 'again', username: 'mq-conn', password })) === 0,
      'a connection served again',
    );
  });

  it('filters per SUBSCRIBE and per session: the excess gets 0x80 in SUBACK', async () => {
    const c = await mqttClient(gw, 'mq-subs', 'subs', { clean: true });
    const f = (i: number): string => `devices/mq-subs/commands/f${i}`;
    const granted = (topics: string[]): Promise<number[]> => suback(c, topics);
    expect(await granted([f(1), f(2), f(3)])).toEqual([1, 1, 1]);
    expect(await granted([f(4), f(5), f(6), f(7)])).toEqual([1, 1, 1, 128]);
    // Filters it holds already are not new: resubscribing them is always granted.
    expect(await granted([f(1), f(2), f(3), f(4), f(5), f(8)])).toEqual([1, 1, 1, 1, 1, 1]);
    expect(await granted([f(9), f(10), f(11)])).toEqual([1, 1, 1]); // 10 in all
    expect(await granted([f(7)])).toEqual([128]);
    expect(await granted([f(12), f(13)])).toEqual([128, 128]);
    await c.unsubscribeAsync([f(9)]);
    expect(await granted([f(7)])).toEqual([1]);
    await c.endAsync();
  });

  it('a SUBSCRIBE of 1,800 filters (as many as fit in a packet) does not stall the event loop; 3 are granted', async () => {
    const c = await mqttClient(gw, 'mq-bigsub', 'big', { clean: false });
    const topics = Array.from({ length: 1800 }, (_, i) => `devices/mq-bigsub/commands/${i}`);
    await mqttNeighbour(gw, op, 'mq-bigsub-n', 20, async () => {
      const granted = await measured('MQTT SUBSCRIBE of 1,800 filters', () => suback(c, topics));
      expect(granted.filter((q) => q === 1)).toHaveLength(3);
      expect(granted.filter((q) => q === 128)).toHaveLength(1797);
    });
    await c.endAsync();
  });

  it('offline queue: 5 messages kept for a persistent session, newer ones dropped; 64 KiB of payload at most', async () => {
    // What the device publishes to its own telemetry is also delivered to its own subscriptions (refused as a
    // reading or not): the flood the red team used.
    const topic = telemetryTopic('mq-queue');
    const first = await mqttSession(gw, 'mq-queue', 'q');
    await first.client.subscribeAsync(topic, { qos: 1 });
    await first.client.endAsync();
    const pub = await mqttClient(gw, 'mq-queue', 'pub', { clean: true });
    const dropped = broker().sessions.dropped;
    await mqttNeighbour(gw, op, 'mq-queue-n', 20, async () => {
      await measured('MQTT offline queue, 400 messages of 1 KiB', async () => {
        for (let i = 1; i <= 400; i++) await pub.publishAsync(topic, `${i}:`.padEnd(1024, 'x'), { qos: 1 });
      });
    });
    expect(broker().sessions.dropped - dropped).toBe(395);
    const back = await mqttSession(gw, 'mq-queue', 'q');
    expect(back.present).toBe(true);
    await waitFor(() => back.got.length >= 5, 'the queued messages');
    await sleep(200);
    expect(back.got.map((m) => Number(m.split(':')[0]))).toEqual([1, 2, 3, 4, 5]);
    await back.client.endAsync();
    // Bytes: payloads of 60 KiB, so one fits in 64 KiB (session q was emptied above; session qb is new).
    const second = await mqttSession(gw, 'mq-queue', 'qb');
    await second.client.subscribeAsync(topic, { qos: 1 });
    await second.client.endAsync();
    await sleep(100);
    const before = broker().sessions.dropped;
    await measured('MQTT offline queue, 30 messages of 60 KiB', async () => {
      for (let i = 1; i <= 30; i++) await pub.publishAsync(topic, `${i}:`.padEnd(60 * 1024, 'x'), { qos: 1 });
    });
    expect(broker().sessions.dropped - before).toBe(29 + 29);
    const kept = await mqttSession(gw, 'mq-queue', 'qb');
    await waitFor(() => kept.got.length >= 1, 'the one queued message');
    await sleep(200);
    expect(kept.got.map((m) => Number(m.split(':')[0]))).toEqual([1]);
    await kept.client.endAsync();
    await pub.endAsync();
  });

  it('persistent sessions per device: the second is kept, a third drops the oldest one without a client', async () => {
    await mqttNeighbour(gw, op, 'mq-sess-n', 10, async () => {
      for (const id of ['s1', 's2', 's3']) {
        const s = await mqttSession(gw, 'mq-sess', id);
        expect(s.present).toBe(false);
        await s.client.subscribeAsync(telemetryTopic('mq-sess'), { qos: 1 });
        await s.client.endAsync();
      }
      const s2 = await mqttSession(gw, 'mq-sess', 's2');
      expect(s2.present).toBe(true);
      await s2.client.endAsync();
      const s1 = await mqttSession(gw, 'mq-sess', 's1');
      expect(s1.present).toBe(false);
      await s1.client.endAsync();
    });
  });

  it('session expiry: a persistent session is kept for 3 s after its client left, then dropped', async () => {
    const topic = telemetryTopic('mq-exp');
    const pub = await mqttClient(gw, 'mq-exp', 'pub', { clean: true });
    const first = await mqttSession(gw, 'mq-exp', 'e');
    await first.client.subscribeAsync(topic, { qos: 1 });
    await first.client.endAsync();
    // Back within the expiry: the session and what was queued for it are there.
    await pub.publishAsync(topic, 'kept', { qos: 1 });
    await sleep(300);
    const second = await mqttSession(gw, 'mq-exp', 'e');
    expect(second.present).toBe(true);
    await waitFor(() => second.got.length === 1, 'the queued message');
    expect(second.got).toEqual(['kept']);
    await second.client.endAsync();
    // Away longer than the expiry: the session is gone, so nothing published meanwhile is kept for it.
    const expired = broker().sessions.expired;
    await sleep(3300);
    expect(broker().sessions.expired).toBeGreaterThan(expired);
    await pub.publishAsync(topic, 'lost', { qos: 1 });
    const third = await mqttSession(gw, 'mq-exp', 'e');
    expect(third.present).toBe(false);
    await sleep(300);
    expect(third.got).toEqual([]);
    await third.client.endAsync();
    await pub.endAsync();
  }, 20_000);
});

/** A raw WebSocket client (over net) that completes the upgrade and then never reads. */
async function nonReadingWs(url: string, token: string): Promise<{ socket: Socket; send: (text: string) => void }> {
  const { hostname, port } = new URL(url);
  const socket = netConnect(Number(port), hostname);
  await new Promise<void>((r) => socket.once('connect', () => r()));
  socket.write(
    `GET ${INGEST_PATH} HTTP/1.1\r\nHost: ${hostname}:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n` +
      `Authorization: Bearer ${token}\r\n\r\n`,
  );
  const head = await new Promise<string>((r) => socket.once('data', (d: Buffer) => r(d.toString('latin1'))));
  expect(head.startsWith('HTTP/1.1 101')).toBe(true);
  socket.pause();
  const send = (text: string): void => {
    const payload = Buffer.from(text);
    const len = payload.length;
    const header = len < 126 ? Buffer.from([0x81, 0x80 | len]) : Buffer.from([0x81, 0x80 | 126, len >> 8, len & 0xff]);
    // A zero mask: the payload goes as it is.
    socket.write(Buffer.concat([header, Buffer.alloc(4), payload]));
  };
  return { socket, send };
}

/** Status and JSON body of a refused WebSocket upgrade to `/ingest`. */
function refusedUpgrade(url: string, token: string): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url.replace(/^http/, 'ws') + INGEST_PATH, {
      headers: { authorization: `Bearer ${token}` },
    });
    ws.on('unexpected-response', (_req, res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
    });
    ws.on('open', () => {
      ws.close();
      reject(new Error('the upgrade was accepted'));
    });
    ws.on('error', () => undefined);
  });
}

describe('device budgets: WebSocket ingest', () => {
  let gw: TestGateway;
  let op: Operator;

  beforeAll(async () => {
    // No reading rate limit: refused batches then get their full error reply (each about 56 KB), not RATE_LIMITED.
    gw = await startGateway({ DEVICE_WS_CONNECTIONS: '3', WS_REPLY_BUFFER_BYTES: '64k', DEVICE_RATE: '0' });
    op = await gw.operator();
  });
  afterAll(async () => {
    op.close();
    await gw.stop();
  });

  const wsTransport = (): WsIngestTransport =>
    gw.app.get(DeviceTransports).all.find((t) => t instanceof WsIngestTransport) as WsIngestTransport;

  /** A neighbour that sends readings 1..n over WebSocket while `during` runs; every one is acked and reaches `op`. */
  async function wsNeighbour(id: string, n: number, during: () => Promise<void>): Promise<void> {
    await op.subscribe(id);
    const device = await gw.wsDevice(id);
    const sending = (async () => {
      for (let seq = 1; seq <= n; seq++) {
        expect(await device.send({ seq, metrics: { t: seq } })).toMatchObject({ type: 'ack', seq });
        await sleep(5);
      }
    })();
    await during();
    await sending;
    await waitFor(() => op.of(id).length >= n, `${n} readings of ${id}`, 15_000);
    expect(seqsOf(op, id)).toEqual(oneTo(n));
    device.close();
  }

  it('connections per device: the third is served, the fourth answered 429 RATE_LIMITED', async () => {
    const token = await gw.deviceToken('ws-conn');
    const held: WebSocket[] = [];
    await wsNeighbour('ws-conn-n', 20, async () => {
      await measured('WebSocket connections per device', async () => {
        for (let i = 0; i < 3; i++) {
          const ws = new WebSocket(gw.url.replace(/^http/, 'ws') + INGEST_PATH, {
            headers: { authorization: `Bearer ${token}` },
          });
          await new Promise((r) => ws.once('open', r));
          held.push(ws);
        }
        const refused = await Promise.all(Array.from({ length: 20 }, () => refusedUpgrade(gw.url, token)));
        for (const r of refused) {
          expect(r.status).toBe(429);
          expect(r.body).toMatchObject({
            code: ErrorCode.RATE_LIMITED,
            message: expect.stringContaining('DEVICE_WS_CONNECTIONS'),
          });
        }
      });
    });
    held[0].close();
    await waitFor(
      () =>
        gw.wsDevice('ws-conn').then(
          (d) => (d.close(), true),
          () => false,
        ),
      'a connection served again',
    );
    for (const ws of held) ws.close();
  });

  it('a device that never reads its replies is closed with 4008 past 64 KiB; the gateway holds no more', async () => {
    const { socket, send } = await nonReadingWs(gw.url, await gw.deviceToken('ws-deaf'));
    socket.on('error', () => undefined);
    // Each frame is refused reading by reading: its error reply (about 56 KB) is larger than the frame (7.5 KB).
    const frame = JSON.stringify({ readings: Array.from({ length: 500 }, () => ({ metrics: {} })) });
    const closes = wsTransport().backlogCloses;
    let sent = 0;
    await wsNeighbour('ws-deaf-n', 20, () =>
      measured('WebSocket device that never reads (error replies)', async () => {
        while (wsTransport().backlogCloses === closes && sent < 2000 && !socket.destroyed) {
          send(frame);
          sent++;
          await sleep(2);
        }
      }),
    );
    expect(wsTransport().backlogCloses).toBe(closes + 1);
    console.log(
      `[device-budgets] the deaf device was closed after ${sent} frames (${((sent * frame.length) / 1024 ** 2).toFixed(1)} MB sent)`,
    );
    // Reading now, it finds its replies and then the close frame with 4008, or the connection cut.
    const ended = new Promise<Buffer>((resolve) => {
      const chunks: Buffer[] = [];
      socket.on('data', (d: Buffer) => chunks.push(d));
      socket.on('close', () => resolve(Buffer.concat(chunks)));
      socket.on('error', () => undefined);
    });
    socket.resume();
    const tail = (await ended).subarray(-64);
    const closeFrame = tail.indexOf(Buffer.from([0x88]));
    if (closeFrame >= 0 && tail.length >= closeFrame + 4)
      expect(tail.readUInt16BE(closeFrame + 2)).toBe(WsCloseCode.repliesWaiting);
  }, 30_000);
});

/** Sends `head` on a raw socket from `localAddress`, then `trickle` one byte every `everyMs`; resolves on close. */
function rawHttp(
  port: number,
  head: string,
  opts: { trickle?: string; everyMs?: number; localAddress?: string } = {},
): {
  closed: Promise<{ afterMs: number; answer: string }>;
  answered: Promise<{ afterMs: number; answer: string }>;
  socket: Socket;
} {
  const t0 = Date.now();
  const socket = netConnect({
    port,
    host: '127.0.0.1',
    ...(opts.localAddress ? { localAddress: opts.localAddress } : {}),
  });
  let answer = '';
  let timer: NodeJS.Timeout | null = null;
  let first: (a: { afterMs: number; answer: string }) => void = () => undefined;
  const answered = new Promise<{ afterMs: number; answer: string }>((r) => (first = r));
  socket.on('data', (d: Buffer) => {
    answer += d.toString();
    first({ afterMs: Date.now() - t0, answer });
  });
  socket.on('error', () => undefined);
  socket.once('connect', () => {
    if (head) socket.write(head);
    let i = 0;
    const trickle = opts.trickle ?? '';
    if (trickle)
      timer = setInterval(() => {
        if (!socket.destroyed) socket.write(trickle[i++ % trickle.length]);
      }, opts.everyMs ?? 200);
  });
  const closed = new Promise<{ afterMs: number; answer: string }>((r) =>
    socket.once('close', () => {
      if (timer) clearInterval(timer);
      r({ afterMs: Date.now() - t0, answer });
    }),
  );
  return { closed, answered, socket };
}

/** POSTs a reading over HTTP from a given local address (the neighbour, seen by the gateway as another address). */
function postFrom(localAddress: string, port: number, deviceId: string, token: string, body: object): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: '127.0.0.1',
        port,
        localAddress,
        method: 'POST',
        path: `/api/devices/${deviceId}/readings`,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', connection: 'close' },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

describe('device budgets: slow requests before authentication (HTTP)', () => {
  let gw: TestGateway;
  let op: Operator;
  let port: number;

  beforeAll(async () => {
    gw = await startGateway({
      HTTP_HEADERS_TIMEOUT_MS: '1000',
      HTTP_REQUEST_TIMEOUT_MS: '2000',
      HTTP_CONNECTIONS_PER_ADDRESS: '8',
      // A proxy carries many clients: it is not capped (its clients' limits are the proxy's).
      TRUST_PROXY_HEADER: 'x-forwarded-for',
      TRUSTED_PROXIES: '127.0.0.4/32',
    });
    port = gw.httpPort;
    op = await gw.operator();
  });
  afterAll(async () => {
    op.close();
    await gw.stop();
  });

  /** A neighbour device posting readings 1..n from 127.0.0.2 while `during` runs. */
  async function httpNeighbour(id: string, n: number, during: () => Promise<void>): Promise<void> {
    await op.subscribe(id);
    const token = await gw.deviceToken(id);
    const sending = (async () => {
      for (let seq = 1; seq <= n; seq++) {
        expect(await postFrom('127.0.0.2', port, id, token, { seq, metrics: { t: seq } })).toBe(202);
        await sleep(20);
      }
    })();
    await during();
    await sending;
    await waitFor(() => op.of(id).length >= n, `${n} readings of ${id}`, 15_000);
    expect(seqsOf(op, id)).toEqual(oneTo(n));
  }

  it('slowloris: headers trickled byte by byte are cut after HTTP_HEADERS_TIMEOUT_MS (408)', async () => {
    await httpNeighbour('http-slow-n', 20, async () => {
      const clients = await measured('slowloris, 6 connections trickling headers', async () =>
        Promise.all(
          Array.from(
            { length: 6 },
            () =>
              rawHttp(port, 'GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n', { trickle: 'X-a: b\r\n', everyMs: 100 })
                .closed,
          ),
        ),
      );
      for (const c of clients) {
        expect(c.answer).toMatch(/^HTTP\/1\.1 408/);
        expect(c.afterMs).toBeLessThan(4000);
      }
    });
  });

  it('a body trickled after the headers is cut after HTTP_REQUEST_TIMEOUT_MS (408)', async () => {
    const c = await rawHttp(
      port,
      `POST ${AuthPath.login} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 4000\r\n\r\n`,
      { trickle: ' ', everyMs: 100 },
    ).closed;
    expect(c.answer).toMatch(/^HTTP\/1\.1 408/);
    expect(c.afterMs).toBeGreaterThanOrEqual(1500);
    expect(c.afterMs).toBeLessThan(5000);
  });

  it('connections per address: the eighth is served, the ninth answered 503 at once', async () => {
    await httpNeighbour('http-conn-n', 20, async () => {
      // The attacker's address; the test's own requests come from 127.0.0.1, the neighbour from 127.0.0.2.
      const localAddress = '127.0.0.3';
      const idle = Array.from({ length: 7 }, () => rawHttp(port, '', { localAddress }));
      await sleep(100);
      const eighth = rawHttp(port, 'GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n', {
        localAddress,
      });
      expect((await eighth.closed).answer).toMatch(/^HTTP\/1\.1 200/);
      const held = rawHttp(port, '', { localAddress }); // the eighth again, held open
      await sleep(100);
      const over = await measured('connections per address, 50 over the cap', () =>
        Promise.all(
          Array.from(
            { length: 50 },
            () => rawHttp(port, 'GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n', { localAddress }).closed,
          ),
        ),
      );
      for (const ninth of over) {
        expect(ninth.answer).toMatch(/^HTTP\/1\.1 503/);
        expect(JSON.parse(ninth.answer.split('\r\n\r\n')[1])).toMatchObject({ code: ErrorCode.RATE_LIMITED });
        expect(ninth.afterMs).toBeLessThan(1000);
      }
      for (const c of [...idle, held]) c.socket.destroy();
    });
  });

  it('a trusted proxy is not capped per address', async () => {
    const localAddress = '127.0.0.4';
    const idle = Array.from({ length: 20 }, () => rawHttp(port, '', { localAddress }));
    await sleep(100);
    const served = await rawHttp(port, 'GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n', {
      localAddress,
    }).closed;
    expect(served.answer).toMatch(/^HTTP\/1\.1 200/);
    for (const c of idle) c.socket.destroy();
  });

  it('an operator route with a body but no token is answered 401 before the body is read', async () => {
    const big = await rawHttp(
      port,
      `POST ${AuthPath.devices} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 12000\r\n\r\n{"deviceId":`,
    ).closed;
    expect(big.answer).toMatch(/^HTTP\/1\.1 401/);
    expect(big.answer).toMatch(/connection: close/i);
    expect(big.afterMs).toBeLessThan(1000);
    // Login reads its body, but one larger than 16 KiB is refused from its Content-Length before it arrives.
    const login = await rawHttp(
      port,
      `POST ${AuthPath.login} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\n\r\n`,
    ).answered;
    expect(login.answer).toMatch(/^HTTP\/1\.1 413/);
    expect(login.afterMs).toBeLessThan(1000);
    // Device ingest: the token is checked before the body.
    const ingest = await rawHttp(
      port,
      `POST /api/devices/x/readings HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 60000\r\n\r\n`,
    ).answered;
    expect(ingest.answer).toMatch(/^HTTP\/1\.1 401/);
    expect(ingest.afterMs).toBeLessThan(1000);
  });
});
