import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import { Aedes } from 'aedes';
import { connect as mqttConnect } from 'mqtt';
import { WebSocketServer, type WebSocket } from 'ws';
import {
  type ErrorBody,
  errorsTopic,
  type FieldlineError,
  INGEST_PATH,
  type IngestReply,
  type IngestResponse,
  parseMessage,
  parseTopic,
  type Reading,
} from '@fieldline/contracts';
import { Simulator } from './simulator';

/** Validates like the gateway would, with the shared contracts: the simulator must produce valid readings. */
function validate(payload: Buffer, deviceId: string) {
  return parseMessage(payload.toString('utf8'), payload.length, { deviceId, receivedAt: Date.now() });
}

function listen(server: NetServer | HttpServer): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
}

function until(check: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const poll = (): void => {
      if (check()) resolve();
      else if (Date.now() > deadline) reject(new Error('timed out waiting'));
      else setTimeout(poll, 10);
    };
    poll();
  });
}

jest.setTimeout(20_000);

describe('over MQTT (in-process aedes broker)', () => {
  let broker: Aedes;
  let server: NetServer;
  let url: string;
  const sockets = new Set<Socket>();
  /** Telemetry the "gateway" accepted, and status payloads in order. */
  let telemetry: { topic: string; clientId: string; readings: Reading[] }[];
  let statuses: string[];

  beforeEach(async () => {
    telemetry = [];
    statuses = [];
    broker = await Aedes.createBroker({
      // The gateway's own approach: validate inside authorizePublish, answer refusals on the device's errors topic.
      authorizePublish: (client, packet, done) => {
        const t = parseTopic(packet.topic);
        if (client && t?.kind === 'telemetry') {
          let errors: ErrorBody[];
          try {
            const parsed = validate(packet.payload as Buffer, t.deviceId);
            if (parsed.readings.length)
              telemetry.push({ topic: packet.topic, clientId: client.id, readings: parsed.readings });
            errors = parsed.errors;
          } catch (err) {
            errors = [(err as FieldlineError).toBody()];
          }
          for (const e of errors) {
            broker.publish(
              {
                cmd: 'publish',
                topic: errorsTopic(t.deviceId),
                payload: Buffer.from(JSON.stringify(e)),
                qos: 0,
                retain: false,
                dup: false,
              },
              () => {},
            );
          }
        }
        done(null);
      },
    });
    broker.on('publish', (packet) => {
      if (packet.topic.endsWith('/status')) statuses.push(`${packet.topic}=${packet.payload.toString()}`);
    });
    server = createNetServer((socket) => {
      sockets.add(socket);
      socket.once('close', () => sockets.delete(socket));
      broker.handle(socket);
    });
    url = `mqtt://127.0.0.1:${await listen(server)}`;
  });

  afterEach(async () => {
    await new Promise<void>((resolve) => broker.close(() => resolve()));
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('publishes valid readings on each device topic, counts PUBACKs, says online then offline', async () => {
    const sim = new Simulator({ mqttUrl: url, protocol: 'mqtt', ids: ['mq-1', 'mq-2'], rate: 20, duration: 0.5 });
    const acks: number[] = [];
    sim.on('ack', (e) => acks.push(e.latencyMs));
    await sim.start();
    expect(sim.stats().connected).toBe(2);
    await sim.done;
    await sim.stop();

    const s = sim.stats();
    expect(s.sent).toBe(20);
    expect(s.acked).toBe(20);
    expect(s.refused).toBe(0);
    expect(acks).toHaveLength(20);
    expect(telemetry).toHaveLength(20);
    for (const id of ['mq-1', 'mq-2']) {
      const mine = telemetry.filter((m) => m.topic === `devices/${id}/telemetry`);
      expect(mine.every((m) => m.clientId === id)).toBe(true);
      expect(mine.flatMap((m) => m.readings.map((r) => r.seq))).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
      expect(mine[0].readings[0].metrics).toEqual({
        temperature: expect.any(Number),
        humidity: expect.any(Number),
        battery: expect.any(Number),
      });
      expect(statuses.filter((x) => x.startsWith(`devices/${id}/status=`))).toEqual([
        `devices/${id}/status=online`,
        `devices/${id}/status=offline`,
      ]);
    }

    // Retained: a late subscriber learns both devices are offline.
    const probe = mqttConnect(url, { clientId: 'probe' });
    const retained = new Map<string, string>();
    probe.on('message', (topic, payload, packet) => packet.retain && retained.set(topic, payload.toString()));
    await probe.subscribeAsync('devices/+/status');
    await until(() => retained.size === 2);
    await probe.endAsync();
    expect(Object.fromEntries(retained)).toEqual({
      'devices/mq-1/status': 'offline',
      'devices/mq-2/status': 'offline',
    });
  });

  it('counts refusals from the errors topic', async () => {
    const sim = new Simulator({ mqttUrl: url, protocol: 'mqtt', ids: ['mq-bad'], rate: 0 });
    const refused: string[] = [];
    sim.on('refused', (e) => refused.push(e.code));
    await sim.start();
    await sim.sendRaw('mq-bad', '{"metrics":');
    await sim.sendRaw('mq-bad', JSON.stringify({ seq: 4, metrics: { t: 'hot' } }));
    await until(() => refused.length === 2);
    await sim.stop();
    expect(refused).toEqual(['MALFORMED_JSON', 'INVALID_METRIC_VALUE']);
    expect(sim.stats()).toMatchObject({ sent: 2, refused: 2, errors: { MALFORMED_JSON: 1, INVALID_METRIC_VALUE: 1 } });
  });

  it('acks at QoS 0 when written, and sends batches', async () => {
    const sim = new Simulator({
      mqttUrl: url,
      protocol: 'mqtt',
      ids: ['mq-q0'],
      rate: 40,
      duration: 0.5,
      qos: 0,
      batch: 4,
    });
    await sim.start();
    await sim.done;
    await sim.stop();
    await until(() => telemetry.reduce((n, m) => n + m.readings.length, 0) === 20);
    expect(sim.stats()).toMatchObject({ sent: 20, acked: 20 });
    expect(telemetry.map((m) => m.readings.length)).toEqual([4, 4, 4, 4, 4]);
  });

  it('leaves its last will when the connection dies, and reconnects', async () => {
    const sim = new Simulator({ mqttUrl: url, protocol: 'mqtt', ids: ['mq-will'], rate: 10 });
    await sim.start();
    await until(() => statuses.includes('devices/mq-will/status=online'));
    for (const s of sockets) s.destroy();
    await until(() => statuses.includes('devices/mq-will/status=offline'));
    await until(() => statuses.filter((x) => x === 'devices/mq-will/status=online').length === 2, 5000);
    await sim.stop();
    expect(sim.stats().perDevice[0].connects).toBe(2);
  });

  it('keeps trying with backoff while the broker is down, then resends what the broker never acknowledged', async () => {
    const port = Number(new URL(url).port);
    const sim = new Simulator({
      mqttUrl: url,
      protocol: 'mqtt',
      ids: ['mq-back'],
      rate: 20,
      reconnect: { baseMs: 20, capMs: 200 },
    });
    await sim.start();
    await until(() => telemetry.length >= 3);
    // The broker goes away with the device connected, and stays away for a while.
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      for (const s of sockets) s.destroy();
    });
    await new Promise((r) => setTimeout(r, 600));
    expect(sim.stats().connected).toBe(0);
    expect(sim.stats().errors.CONNECT_FAILED).toBeGreaterThanOrEqual(2);
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', () => resolve()));
    await until(() => sim.stats().reconnects === 1, 5000);
    await new Promise((r) => setTimeout(r, 200));
    await sim.stop();
    const s = sim.stats();
    expect(s).toMatchObject({ failed: 0, dropped: 0, pending: 0, buffered: 0, reconnects: 1 });
    expect(sim.ackedSeqs()['mq-back']).toEqual([[1, s.perDevice[0].seq]]);
    // Every seq reached the broker; what was in flight when it went away came again.
    const seen = new Set(telemetry.flatMap((m) => m.readings.map((r) => r.seq)));
    expect(seen.size).toBe(s.perDevice[0].seq);
  });
});

describe('over WebSocket', () => {
  let http: HttpServer;
  let wss: WebSocketServer;
  let url: string;
  let frames: { deviceId: string; readings: Reading[] }[];
  let upgrades: { deviceId: string | null; token: string | null; auth: string | undefined }[];
  /** Set to make the server drop a connection without answering this frame. */
  let dropOnFrame: number | null;
  let framesSeen: number;

  beforeEach(async () => {
    frames = [];
    upgrades = [];
    dropOnFrame = null;
    framesSeen = 0;
    http = createHttpServer();
    wss = new WebSocketServer({ server: http, path: INGEST_PATH });
    wss.on('connection', (ws: WebSocket, req: IncomingMessage) => {
      const q = new URL(req.url!, 'http://x').searchParams;
      const deviceId = q.get('deviceId')!;
      upgrades.push({ deviceId, token: q.get('token'), auth: req.headers.authorization });
      ws.on('message', (data: Buffer) => {
        if (++framesSeen === dropOnFrame) return ws.terminate();
        ws.send(JSON.stringify(reply(data, deviceId)));
      });
    });
    url = `http://127.0.0.1:${await listen(http)}`;
  });

  afterEach(async () => {
    for (const c of wss.clients) c.terminate();
    await new Promise<void>((resolve) => wss.close(() => resolve()));
    await new Promise<void>((resolve) => http.close(() => resolve()));
  });

  function reply(data: Buffer, deviceId: string): IngestReply {
    try {
      const parsed = validate(data, deviceId);
      if (parsed.readings.length) frames.push({ deviceId, readings: parsed.readings });
      if (!parsed.readings.length) {
        const e = parsed.errors[0];
        return { type: 'error', seq: e.seq ?? null, code: e.code, message: e.message };
      }
      const seqs = parsed.readings.map((r) => r.seq!);
      return parsed.batch
        ? {
            type: 'ack',
            seq: seqs[seqs.length - 1],
            seqs,
            accepted: seqs.length,
            ...(parsed.errors.length ? { errors: parsed.errors } : {}),
          }
        : { type: 'ack', seq: seqs[0], accepted: 1 };
    } catch (err) {
      const e = err as FieldlineError;
      return { type: 'error', seq: null, code: e.code, message: e.message };
    }
  }

  it('connects to /ingest?deviceId=<id> with the token, sends readings, counts acks', async () => {
    const sim = new Simulator({
      url,
      protocol: 'ws',
      ids: ['ws-1', 'ws-2'],
      rate: 20,
      duration: 0.5,
      tokens: { 'ws-1': 's3cret' },
    });
    await sim.start();
    await sim.done;
    await sim.stop();
    expect(upgrades).toEqual(
      expect.arrayContaining([
        { deviceId: 'ws-1', token: 's3cret', auth: 'Bearer s3cret' },
        { deviceId: 'ws-2', token: null, auth: undefined },
      ]),
    );
    expect(sim.stats()).toMatchObject({ sent: 20, acked: 20, refused: 0, pending: 0, errors: {} });
    for (const id of ['ws-1', 'ws-2']) {
      expect(frames.filter((f) => f.deviceId === id).flatMap((f) => f.readings.map((r) => r.seq))).toEqual([
        1, 2, 3, 4, 5, 6, 7, 8, 9, 10,
      ]);
    }
  });

  it('counts refused frames by code and resolves raw sends with the reply', async () => {
    const sim = new Simulator({ url, protocol: 'ws', ids: ['ws-raw'], rate: 0 });
    await sim.start();
    const bad = await sim.sendRaw('ws-raw', 'not json at all');
    expect(bad.body).toMatchObject({ type: 'error', code: 'MALFORMED_JSON' });
    const mismatch = await sim.sendRaw('ws-raw', JSON.stringify({ deviceId: 'other', seq: 1, metrics: { t: 1 } }));
    expect(mismatch.body).toMatchObject({ type: 'error', code: 'DEVICE_ID_MISMATCH', seq: 1 });
    const batch = await sim.sendRaw(
      'ws-raw',
      JSON.stringify({
        readings: [
          { seq: 7, metrics: { t: 1 } },
          { seq: 8, metrics: {} },
        ],
      }),
    );
    expect(batch.outcome).toMatchObject({ accepted: 1, refused: 1, codes: { NO_METRICS: 1 } });
    await sim.stop();
    expect(sim.stats()).toMatchObject({
      sent: 3,
      acked: 1,
      refused: 3,
      errors: { MALFORMED_JSON: 1, DEVICE_ID_MISMATCH: 1, NO_METRICS: 1 },
    });
  });

  it('reconnects after the socket drops and resends the unanswered frame with its seq', async () => {
    dropOnFrame = 5;
    const sim = new Simulator({ url, protocol: 'ws', ids: ['ws-drop'], rate: 20, duration: 1 });
    await sim.start();
    await sim.done;
    await sim.stop();
    const s = sim.stats();
    expect(upgrades.length).toBe(2);
    expect(s.perDevice[0].connects).toBe(2);
    expect(s.sent).toBe(20);
    expect(s.acked).toBe(20);
    expect(s.resent).toBeGreaterThanOrEqual(1);
    expect(s.errors.NO_REPLY).toBe(1);
    // The dropped frame came again, so the gateway saw every seq.
    expect(new Set(frames.flatMap((f) => f.readings.map((r) => r.seq))).size).toBe(20);
  });
});

describe('over HTTP', () => {
  let http: HttpServer;
  let url: string;
  let posts: { path: string; auth: string | undefined; readings: Reading[] }[];

  beforeEach(async () => {
    posts = [];
    http = createHttpServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const m = /^\/api\/devices\/([^/]+)\/readings$/.exec(req.url ?? '');
        if (req.method === 'GET' && req.url === '/health') return void res.writeHead(200).end('{"status":"ok"}');
        if (req.method !== 'POST' || !m) return void res.writeHead(404).end();
        const send = (status: number, body: unknown): void =>
          void res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
        try {
          const parsed = validate(Buffer.concat(chunks), decodeURIComponent(m[1]));
          if (!parsed.readings.length) {
            const e = parsed.errors[0];
            return send(400, { code: e.code, message: e.message, details: { errors: parsed.errors } });
          }
          posts.push({ path: req.url!, auth: req.headers.authorization, readings: parsed.readings });
          const answer: IngestResponse = {
            accepted: parsed.readings.length,
            rejected: parsed.errors.length,
            errors: parsed.errors,
          };
          send(202, answer);
        } catch (err) {
          send(400, (err as FieldlineError).toBody());
        }
      });
    });
    url = `http://127.0.0.1:${await listen(http)}`;
  });

  afterEach(async () => {
    http.closeAllConnections();
    await new Promise<void>((resolve) => http.close(() => resolve()));
  });

  it('posts readings to /api/devices/<id>/readings and counts 202 answers', async () => {
    const sim = new Simulator({
      url,
      protocol: 'http',
      ids: ['h-1', 'h-2'],
      rate: 20,
      duration: 0.5,
      tokens: { 'h-2': 'tok' },
    });
    await sim.start();
    await sim.done;
    await sim.stop();
    expect(sim.stats()).toMatchObject({ sent: 20, acked: 20, refused: 0, pending: 0 });
    expect(posts.filter((p) => p.path === '/api/devices/h-1/readings')).toHaveLength(10);
    expect(posts.filter((p) => p.path === '/api/devices/h-2/readings').every((p) => p.auth === 'Bearer tok')).toBe(
      true,
    );
  });

  it('counts 4xx answers as refusals by code', async () => {
    const sim = new Simulator({ url, protocol: 'http', ids: ['h-bad'], rate: 0 });
    await sim.start();
    const answer = await sim.sendRaw('h-bad', '{"seq": -1, "metrics": {"t": 1}}');
    expect(answer).toMatchObject({ status: 400, body: { code: 'INVALID_SEQ' } });
    await sim.stop();
    expect(sim.stats()).toMatchObject({ sent: 1, acked: 0, refused: 1, errors: { INVALID_SEQ: 1 } });
  });

  it('reports devices as not connected when nothing listens', async () => {
    http.closeAllConnections();
    await new Promise<void>((resolve) => http.close(() => resolve()));
    const sim = new Simulator({ url, protocol: 'http', ids: ['h-none'], rate: 10, connectTimeoutMs: 300 });
    await sim.start();
    expect(sim.stats().connected).toBe(0);
    await sim.stop();
    expect(sim.stats().errors.CONNECT_FAILED).toBeGreaterThanOrEqual(1);
    http = createHttpServer();
    await listen(http);
  });
});
