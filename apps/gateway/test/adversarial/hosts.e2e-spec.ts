import { type IncomingHttpHeaders, request as httpRequest, type OutgoingHttpHeaders } from 'node:http';
import { createConnection } from 'node:net';
import { hostname } from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { AuthPath, ErrorCode, INGEST_PATH, telemetryTopic } from '@fieldline/contracts';
import { startGateway, TEST_ADMIN_PASSWORD, type TestGateway, waitFor } from '../support';

/*
 * DNS rebinding (security round two): a page on the attacker's domain, re-pointed at the gateway's address, is
 * same-origin with it in the browser, so its requests carry `Host: evil.example` and `Origin: http://evil.example`,
 * which agree. The gateway answers only to host names it is configured for (PUBLIC_URL, ALLOWED_HOSTS; IP addresses
 * and localhost), and refuses every other one with 421 HOST_NOT_ALLOWED before any route, body parser, login
 * limiter or upgrade handler runs.
 */

interface Answer {
  status: number;
  body: any;
  headers: IncomingHttpHeaders;
}

/** One HTTP request to the gateway's port with exactly these headers (Host included). */
function send(url: string, method: string, path: string, headers: OutgoingHttpHeaders, body?: string): Promise<Answer> {
  const { port } = new URL(url);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, method, path, headers, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: parse(text), headers: res.headers }));
    });
    // A WebSocket upgrade that is accepted: 101, the socket is ours to close.
    req.on('upgrade', (res, socket) => {
      socket.destroy();
      resolve({ status: res.statusCode ?? 0, body: null, headers: res.headers });
    });
    req.on('error', reject);
    req.end(body);
  });
}

const parse = (text: string): unknown => {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
};

const UPGRADE = {
  connection: 'Upgrade',
  upgrade: 'websocket',
  'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
  'sec-websocket-version': '13',
};

/** The requests a rebound page would make, each as the browser would send it under `host`. */
function requests(host: string, deviceToken: string) {
  const origin = { host, origin: `http://${host}` };
  const loginBody = JSON.stringify({ username: 'admin', password: TEST_ADMIN_PASSWORD });
  return {
    login: (url: string) =>
      send(url, 'POST', AuthPath.login, { ...origin, 'content-type': 'application/json' }, loginBody),
    ingest: (url: string) => send(url, 'GET', `${INGEST_PATH}?token=${deviceToken}`, { ...origin, ...UPGRADE }),
    socketIoPolling: (url: string) => send(url, 'GET', '/socket.io/?EIO=4&transport=polling', origin),
    socketIoUpgrade: (url: string) =>
      send(url, 'GET', '/socket.io/?EIO=4&transport=websocket', { ...origin, ...UPGRADE }),
    health: (url: string) => send(url, 'GET', '/health', origin),
  };
}

const mb = (n: number): number => Math.round(n / 1048576);

describe('DNS rebinding: a Host the gateway does not answer to is refused before anything else', () => {
  let gw: TestGateway;
  let port: string;
  let token: string;

  beforeAll(async () => {
    gw = await startGateway(); // quick-start defaults: no PUBLIC_URL, no ALLOWED_HOSTS
    port = new URL(gw.url).port;
    token = await gw.deviceToken('rebind-dev');
  });

  afterAll(async () => {
    await gw.stop();
  });

  it.each(['login', 'ingest', 'socketIoPolling', 'socketIoUpgrade', 'health'] as const)(
    'refuses %s under evil.example with 421 HOST_NOT_ALLOWED, valid credentials or not',
    async (what) => {
      const answer = await requests(`evil.example:${port}`, token)[what](gw.url);
      expect(answer.status).toBe(421);
      expect(answer.body).toEqual({
        code: ErrorCode.HOST_NOT_ALLOWED,
        message: expect.stringContaining('evil.example'),
      });
      expect(answer.headers['content-type']).toBe('application/json; charset=utf-8');
      // Plain requests carry their X-Request-Id like every other HTTP answer.
      if (what === 'login' || what === 'socketIoPolling' || what === 'health')
        expect(answer.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    },
  );

  it.each([
    ['localhost', 'localhost'],
    ['127.0.0.1', '127.0.0.1'],
    ['[::1]', '[::1]'],
    ['this machine', hostname()],
  ])('serves the same requests under %s', async (_name, name) => {
    const r = requests(`${name}:${port}`, token);
    expect((await r.login(gw.url)).status).toBe(200);
    expect((await r.ingest(gw.url)).status).toBe(101);
    const polling = await r.socketIoPolling(gw.url);
    expect(polling.status).toBe(200);
    expect(String(polling.body)).toMatch(/^0\{"sid":/);
    expect((await r.socketIoUpgrade(gw.url)).status).toBe(101);
    expect((await r.health(gw.url)).status).toBe(200);
  });

  it('answers a refused request before its body and closes the connection (a 10 MB upload is never read)', async () => {
    const socket = createConnection({ host: '127.0.0.1', port: Number(port) });
    let answer = '';
    socket.on('data', (c: Buffer) => (answer += c.toString('latin1')));
    const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
    socket.write(
      `POST ${AuthPath.login} HTTP/1.1\r\nHost: evil.example:${port}\r\nContent-Type: application/json\r\n` +
        `Content-Length: 10000000\r\n\r\n{"username":`,
    );
    await closed;
    expect(answer).toMatch(/^HTTP\/1\.1 421 /);
    expect(answer).toMatch(/\r\nconnection: close\r\n/i);
    expect(answer).toContain(ErrorCode.HOST_NOT_ALLOWED);
  });

  it('still checks Origin under an allowed Host: a foreign page is refused 403 on REST and /ingest', async () => {
    const headers = { host: `localhost:${port}`, origin: 'http://evil.example' };
    const rest = await send(gw.url, 'GET', '/health', headers);
    expect(rest).toMatchObject({ status: 403, body: { code: ErrorCode.FORBIDDEN } });
    const ws = await send(gw.url, 'GET', `${INGEST_PATH}?token=${token}`, { ...headers, ...UPGRADE });
    expect(ws).toMatchObject({ status: 403, body: { code: ErrorCode.FORBIDDEN } });
  });

  it('lets a refused login reach no limiter: 40 wrong passwords under evil.example leave admin able to log in', async () => {
    const wrong = JSON.stringify({ username: 'admin', password: 'guess' });
    const headers = { host: `evil.example:${port}`, 'content-type': 'application/json' };
    const answers = await Promise.all(
      Array.from({ length: 40 }, () => send(gw.url, 'POST', AuthPath.login, headers, wrong)),
    );
    expect(answers.every((a) => a.status === 421)).toBe(true);
    // Had they reached the login, the failed-login limit (10 per user name and address) would answer 429 now.
    const guess = await send(gw.url, 'POST', AuthPath.login, { ...headers, host: `127.0.0.1:${port}` }, wrong);
    expect(guess.status).toBe(401);
    const real = await requests(`127.0.0.1:${port}`, token).login(gw.url);
    expect(real.status).toBe(200);
  });

  it('refuses a flood of rebinding requests while a neighbour on MQTT and one on WebSocket keep every reading', async () => {
    const N = 300;
    const FLOOD = 2000;
    const op = await gw.operator();
    const mqttDev = await gw.mqttDevice('rebind-mqtt');
    const wsDev = await gw.wsDevice('rebind-ws');
    await op.subscribe('rebind-mqtt');
    await op.subscribe('rebind-ws');
    const refusedBefore = await refusedCount(gw.url);

    const base = process.memoryUsage();
    const lag = monitorEventLoopDelay({ resolution: 10 });
    lag.enable();
    let peakRss = 0;
    let peakHeap = 0;
    const sampler = setInterval(() => {
      const m = process.memoryUsage();
      peakRss = Math.max(peakRss, m.rss);
      peakHeap = Math.max(peakHeap, m.heapUsed);
    }, 20);
    const r = requests(`evil.example:${port}`, token);
    const kinds = [r.login, r.ingest, r.socketIoPolling, r.socketIoUpgrade];
    const flood = (async () => {
      const statuses = new Map<number, number>();
      for (let i = 0; i < FLOOD; i += 50) {
        const batch = await Promise.all(Array.from({ length: 50 }, (_, j) => kinds[(i + j) % kinds.length](gw.url)));
        for (const a of batch) statuses.set(a.status, (statuses.get(a.status) ?? 0) + 1);
      }
      return statuses;
    })();
    const t0 = Date.now();
    const neighbours = (async () => {
      for (let seq = 1; seq <= N; seq++) {
        await mqttDev.publish(telemetryTopic('rebind-mqtt'), { ts: t0 + seq, seq, metrics: { v: seq } });
        expect(await wsDev.send({ ts: t0 + seq, seq, metrics: { v: seq } })).toMatchObject({ type: 'ack', seq });
      }
    })();
    const [statuses] = await Promise.all([flood, neighbours]);
    clearInterval(sampler);
    lag.disable();

    expect(Object.fromEntries(statuses)).toEqual({ 421: FLOOD });
    await waitFor(
      () => op.of('rebind-mqtt').length === N && op.of('rebind-ws').length === N,
      'every neighbour reading',
    );
    expect(mqttDev.errors).toEqual([]);
    expect((await refusedCount(gw.url)) - refusedBefore).toBe(FLOOD);
    console.log(
      `rebinding flood: ${FLOOD} requests refused 421; neighbours ${op.of('rebind-mqtt').length}/${N} MQTT + ` +
        `${op.of('rebind-ws').length}/${N} WebSocket readings, lost 0; rss ${mb(base.rss)} → peak ${mb(peakRss)} MB, ` +
        `heap ${mb(base.heapUsed)} → peak ${mb(peakHeap)} MB (gateway and clients in one process); ` +
        `event-loop lag p99 ${(lag.percentile(99) / 1e6).toFixed(1)} ms, max ${(lag.max / 1e6).toFixed(1)} ms`,
    );
    op.close();
    wsDev.close();
    await mqttDev.close();
  }, 120_000);
});

/** The sum of `fieldline_host_refused_total` over its channels, from /metrics. */
async function refusedCount(url: string): Promise<number> {
  const metrics = await (await fetch(`${url}/metrics`)).text();
  let n = 0;
  for (const m of metrics.matchAll(/^fieldline_host_refused_total\{[^}]*\} (\d+)$/gm)) n += Number(m[1]);
  return n;
}

describe('PUBLIC_URL and ALLOWED_HOSTS', () => {
  it('answers to PUBLIC_URL behind a proxy (its Origin too) and to nothing else by name', async () => {
    const gw = await startGateway({ PUBLIC_URL: 'https://fieldline.example.com', ALLOWED_HOSTS: 'gw-1.internal' });
    try {
      const public_ = { host: 'fieldline.example.com', origin: 'https://fieldline.example.com' };
      expect((await send(gw.url, 'GET', '/health', public_)).status).toBe(200);
      // A proxy that forwards its upstream's name as Host and sets no X-Forwarded-Host.
      const proxied = { host: 'gw-1.internal:3000', origin: 'https://fieldline.example.com' };
      expect((await send(gw.url, 'GET', '/health', proxied)).status).toBe(200);
      const forwarded = { host: 'gw-1.internal', 'x-forwarded-host': 'evil.example', origin: 'http://evil.example' };
      expect((await send(gw.url, 'GET', '/health', forwarded)).status).toBe(403);
      // The defaults (this machine's name) no longer apply once the names are configured; IP addresses still do.
      expect((await send(gw.url, 'GET', '/health', { host: hostname() })).status).toBe(421);
      expect((await send(gw.url, 'GET', '/health', { host: 'evil.example' })).status).toBe(421);
      expect((await send(gw.url, 'GET', '/health', { host: '127.0.0.1' })).status).toBe(200);
    } finally {
      await gw.stop();
    }
  });

  it('turns the check off with ALLOWED_HOSTS=* (a proxy in front checks Host)', async () => {
    const gw = await startGateway({ ALLOWED_HOSTS: '*' });
    try {
      expect((await send(gw.url, 'GET', '/health', { host: 'evil.example' })).status).toBe(200);
    } finally {
      await gw.stop();
    }
  });
});
