import { monitorEventLoopDelay } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Socket } from 'socket.io-client';
import {
  ErrorCode,
  Namespace,
  RATE_LIMITED_EVENT,
  type ErrorBody,
  type Reading,
  readingsPath,
  type SubscribeAck,
  TelemetryEvent,
} from '@fieldline/contracts';
import { hashPassword } from '../../src/auth/password';
import { connectResult, login, Operator, sleep, startGateway, type TestGateway, testUsers, waitFor } from '../support';

/*
 * Operator budgets (security round two, issue 15: "a viewer can take a node out of the load balancer"). One viewer
 * login may hold only so many sockets, send only so many Socket.IO requests a second (per socket and across its
 * sockets), and run only so many `since` backfills at once (per operator and per node, with bounded queues); a backfill
 * answer is cut to BACKFILL_MAX_BYTES; /health has its own store connection. Each limit is tested at its edge, and a
 * flood of 400 subscribe + since from one viewer must leave /health at 200 and a neighbour operator with every reading.
 */

jest.setTimeout(120_000);

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
/** Heap after full collections: what is still held, not garbage the collector has not reached yet. */
async function settledHeap(): Promise<number> {
  for (let i = 0; i < 3; i++) {
    gc();
    await sleep(20);
  }
  return process.memoryUsage().heapUsed;
}

const PASSWORD = 'budget-test-password';
// prettier-ignore
const USERS = ['sockets', 'srate', 'orate', 'strikes', 'bfop', 'n1', 'n2', 'n3', 'n4', 'n5', 'bytes', 'flood', 'dash',
  'slow', 'hist', 'hist2'];

/** `USERS` with the test viewer and one viewer per name above (cheap scrypt: the tests log in often). */
async function usersEnv(): Promise<string> {
  const hash = await hashPassword(PASSWORD, { ln: 10, r: 8, p: 1 });
  return [await testUsers(), ...USERS.map((u) => `${u}:viewer:${hash}`)].join(' ');
}

async function tokenOf(gw: TestGateway, username: string): Promise<string> {
  const { status, body } = await login(gw.url, username, PASSWORD);
  if (status !== 200) throw new Error(`login ${username}: ${status} ${JSON.stringify(body)}`);
  return body.accessToken as string;
}

async function connect(gw: TestGateway, token: string, ns: string = Namespace.telemetry): Promise<Socket> {
  const r = await connectResult(gw.url, ns, { token });
  if (!r.connected) throw new Error(`connect ${ns}: ${JSON.stringify(r.error)}`);
  return r.socket;
}

const subscribe = (s: Socket, deviceId: string, since?: number, timeoutMs = 60_000): Promise<SubscribeAck> =>
  s
    .timeout(timeoutMs)
    .emitWithAck(
      TelemetryEvent.subscribe,
      since === undefined ? { deviceId } : { deviceId, since },
    ) as Promise<SubscribeAck>;

const errorOf = (ack: SubscribeAck): ErrorBody | null => (ack.ok ? null : ack.error);

/** `n` readings of `deviceId` (ts = t0 + i, seq = i) with `metrics` metrics each, stored over HTTP (bodies < 64 KB). */
async function fill(gw: TestGateway, deviceId: string, n: number, metrics: number, t0: number): Promise<void> {
  const bodies: string[] = [];
  let batch: string[] = [];
  let bytes = 0;
  for (let i = 0; i < n; i++) {
    const m: Record<string, number> = {};
    for (let k = 0; k < metrics; k++) m[`m${k}`] = i + k / 10;
    const r = JSON.stringify({ deviceId, ts: t0 + i, seq: i, metrics: m } satisfies Reading);
    if (batch.length === 500 || bytes + r.length > 60_000) {
      bodies.push(`{"readings":[${batch.join(',')}]}`);
      batch = [];
      bytes = 0;
    }
    batch.push(r);
    bytes += r.length + 1;
  }
  bodies.push(`{"readings":[${batch.join(',')}]}`);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < bodies.length) {
      const res = await gw.post(deviceId, bodies[next++]);
      if (res.status !== 202 || res.body.rejected !== 0)
        throw new Error(`post ${deviceId}: ${res.status} ${JSON.stringify(res.body)}`);
    }
  };
  await Promise.all(Array.from({ length: 4 }, worker));
}

const percentile = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] : NaN;
};
const mb = (n: number): number => Math.round(n / 104_857.6) / 10;

describe('operator budgets at their edges', () => {
  let gw: TestGateway;
  const opened: Socket[] = [];
  const open = async (user: string, ns: string = Namespace.telemetry): Promise<Socket> => {
    const s = await connect(gw, await tokenOf(gw, user), ns);
    opened.push(s);
    return s;
  };
  const t0 = Date.UTC(2026, 0, 1);

  beforeAll(async () => {
    gw = await startGateway({
      USERS: await usersEnv(),
      DEVICE_RATE: '0',
      OPERATOR_SOCKETS: '3',
      OPERATOR_SOCKET_RATE: '1',
      OPERATOR_SOCKET_BURST: '5',
      OPERATOR_RATE: '1',
      OPERATOR_BURST: '8',
      OPERATOR_STRIKES: '3',
      OPERATOR_BACKFILLS: '2',
      OPERATOR_BACKFILL_QUEUE: '1',
      NODE_BACKFILLS: '3',
      NODE_BACKFILL_QUEUE: '1',
      BACKFILL_MAX_BYTES: '64k',
      OPERATOR_QUERIES: '1',
      OPERATOR_QUERY_QUEUE: '1',
    });
    // Backfills of this device read 10,000 readings of 16 metrics: slow enough that those sent together overlap.
    await fill(gw, 'heavy', 10_000, 16, t0);
  });

  afterAll(async () => {
    opened.forEach((s) => s.disconnect());
    await gw.stop();
  });

  it('OPERATOR_SOCKETS: the 3rd socket of an operator connects, the 4th is refused RATE_LIMITED', async () => {
    const token = await tokenOf(gw, 'sockets');
    const mine = [
      await connect(gw, token, Namespace.telemetry),
      await connect(gw, token, Namespace.devices),
      await connect(gw, token, Namespace.telemetry),
    ];
    opened.push(...mine);
    const fourth = await connectResult(gw.url, Namespace.devices, { token });
    expect(fourth.connected).toBe(false);
    const data = !fourth.connected ? fourth.error.data : undefined;
    expect(data).toMatchObject({ code: ErrorCode.RATE_LIMITED, details: { limit: 'sockets', max: 3 } });
    // Another operator is not affected; and a socket closed frees its place.
    opened.push(await open('srate'));
    mine[0].disconnect();
    await waitFor(async () => (await connectResult(gw.url, Namespace.telemetry, { token })).connected, 'a free place');
  });

  it('OPERATOR_SOCKET_BURST: the 5th request of a socket is served, the 6th refused with retryAfterMs', async () => {
    const s = await open('srate');
    const acks = await Promise.all(Array.from({ length: 6 }, (_, i) => subscribe(s, `sr-${i}`)));
    expect(acks.slice(0, 5).every((a) => a.ok)).toBe(true);
    expect(errorOf(acks[5])).toMatchObject({ code: ErrorCode.RATE_LIMITED, details: { limit: 'socket-rate' } });
    expect(errorOf(acks[5])!.details!.retryAfterMs).toBeGreaterThan(0);
    expect(s.connected).toBe(true);
  });

  it('OPERATOR_BURST: across two sockets the 8th request of an operator is served, the 9th refused', async () => {
    const a = await open('orate');
    const b = await open('orate');
    const first = await Promise.all(Array.from({ length: 5 }, (_, i) => subscribe(a, `or-a${i}`)));
    const second = await Promise.all(Array.from({ length: 4 }, (_, i) => subscribe(b, `or-b${i}`)));
    expect(first.every((x) => x.ok)).toBe(true);
    expect(second.slice(0, 3).every((x) => x.ok)).toBe(true);
    expect(errorOf(second[3])).toMatchObject({ code: ErrorCode.RATE_LIMITED, details: { limit: 'operator-rate' } });
  });

  it('OPERATOR_STRIKES: 3 requests refused in a row are answered, the 4th disconnects with a reason', async () => {
    const s = await open('strikes');
    const told: ErrorBody[] = [];
    s.on(RATE_LIMITED_EVENT, (e: ErrorBody) => told.push(e));
    const gone = new Promise<string>((resolve) => s.once('disconnect', (reason) => resolve(reason)));
    const served = await Promise.all(Array.from({ length: 5 }, (_, i) => subscribe(s, `st-${i}`)));
    expect(served.every((a) => a.ok)).toBe(true);
    const refused = await Promise.all(Array.from({ length: 3 }, (_, i) => subscribe(s, `st-x${i}`)));
    expect(refused.map((a) => errorOf(a)?.code)).toEqual(Array(3).fill(ErrorCode.RATE_LIMITED));
    expect(s.connected).toBe(true);
    s.emit(TelemetryEvent.subscribe, { deviceId: 'st-last' });
    expect(await gone).toBe('io server disconnect');
    expect(told).toHaveLength(1);
    expect(told[0]).toMatchObject({ code: ErrorCode.RATE_LIMITED });
    expect(told[0].message).toMatch(/disconnected/);
  });

  it('OPERATOR_BACKFILLS + OPERATOR_BACKFILL_QUEUE: 2 run, the 3rd waits and is served, the 4th is refused', async () => {
    const s = await open('bfop');
    const acks = await Promise.all(Array.from({ length: 4 }, () => subscribe(s, 'heavy', t0 - 1)));
    expect(acks.slice(0, 3).map((a) => a.ok)).toEqual([true, true, true]);
    expect(errorOf(acks[3])).toMatchObject({
      code: ErrorCode.RATE_LIMITED,
      details: { limit: 'operator-backfills', max: 2 },
    });
  });

  it('NODE_BACKFILLS + NODE_BACKFILL_QUEUE: of 5 operators, 3 run, 1 waits and is served, 1 is refused', async () => {
    const sockets = await Promise.all(['n1', 'n2', 'n3', 'n4', 'n5'].map((u) => open(u)));
    const acks = await Promise.all(sockets.map((s) => subscribe(s, 'heavy', t0 - 1)));
    expect(acks.filter((a) => a.ok)).toHaveLength(4);
    const refused = acks.filter((a) => !a.ok).map(errorOf);
    expect(refused).toHaveLength(1);
    expect(refused[0]).toMatchObject({ code: ErrorCode.RATE_LIMITED, details: { limit: 'node-backfills', max: 3 } });
  });

  it('OPERATOR_QUERIES + OPERATOR_QUERY_QUEUE: of 3 history queries and exports, 1 runs, 1 waits, 1 gets 429', async () => {
    const token = await tokenOf(gw, 'hist');
    const other = await tokenOf(gw, 'hist2');
    const from = new Date(t0 - 1).toISOString();
    const to = new Date(t0 + 20_000).toISOString();
    const history = `${readingsPath('heavy')}?from=${from}&to=${to}&bucket=raw&maxPoints=10000`;
    const exported = `/api/devices/heavy/export?from=${from}&to=${to}&format=ndjson`;
    const get = async (path: string, t: string): Promise<{ status: number; body: string }> => {
      const res = await fetch(gw.url + path, { headers: { authorization: `Bearer ${t}` } });
      return { status: res.status, body: await res.text() };
    };
    const [a, b, c, neighbour] = await Promise.all([
      get(history, token),
      get(exported, token),
      get(history, token),
      get(history, other),
    ]);
    const statuses = [a, b, c].map((r) => r.status).sort();
    expect(statuses).toEqual([200, 200, 429]);
    const refused = JSON.parse([a, b, c].find((r) => r.status === 429)!.body);
    expect(refused).toMatchObject({ code: ErrorCode.RATE_LIMITED, details: { limit: 'operator-queries', max: 1 } });
    // Another operator's query is not counted against this one.
    expect(neighbour.status).toBe(200);
  });

  it('BACKFILL_MAX_BYTES: an answer is cut to the newest readings that fit, a smaller one is whole', async () => {
    await fill(gw, 'bytes-dev', 2000, 1, t0);
    const s = await open('bytes');
    const cut = await subscribe(s, 'bytes-dev', t0 - 1);
    if (!cut.ok) throw new Error(JSON.stringify(cut.error));
    expect(cut.truncated).toBe(true);
    expect(Buffer.byteLength(JSON.stringify(cut.backfill))).toBeLessThanOrEqual(64 * 1024);
    expect(cut.backfill.length).toBeGreaterThan(100);
    expect(cut.backfill[cut.backfill.length - 1].seq).toBe(1999);
    // One reading fewer than the cut answer held: everything after `since` fits, nothing is left out.
    const n = cut.backfill.length - 1;
    const whole = await subscribe(s, 'bytes-dev', t0 + 1999 - n);
    if (!whole.ok) throw new Error(JSON.stringify(whole.error));
    expect(whole.truncated).toBe(false);
    expect(whole.backfill).toHaveLength(n);
    // And the cut answer held as many as fit: one more would not have.
    const more = await subscribe(s, 'bytes-dev', t0 + 1999 - cut.backfill.length - 1);
    expect(more.ok && more.truncated).toBe(true);
  });
});

describe('a flood of 400 subscribe + since from one viewer (default budgets)', () => {
  let gw: TestGateway;
  const t0 = Date.UTC(2026, 0, 2);

  beforeAll(async () => {
    gw = await startGateway({ USERS: await usersEnv(), DEVICE_RATE: '0' });
    // 4 devices of 10,000 readings of 8 metrics: every backfill is a full one (~2.5 MB of JSON).
    for (let d = 0; d < 4; d++) await fill(gw, `flood-${d}`, 10_000, 8, t0);
  });

  afterAll(async () => {
    await gw.stop();
  });

  it('/health stays 200 and a neighbour operator receives every reading', async () => {
    const neighbour = await new Operator(gw.url, { token: await gw.adminToken() }).connected();
    expect((await neighbour.subscribe('neighbour-dev')).ok).toBe(true);
    const device = await gw.wsDevice('neighbour-dev');
    const flooderToken = await tokenOf(gw, 'flood');
    const sockets = await Promise.all(Array.from({ length: 20 }, () => connect(gw, flooderToken)));

    const lag = monitorEventLoopDelay({ resolution: 10 });
    const settled0 = await settledHeap();
    const m0 = process.memoryUsage();
    let peakRss = m0.rss;
    let peakHeap = m0.heapUsed;
    const memory = setInterval(() => {
      const m = process.memoryUsage();
      peakRss = Math.max(peakRss, m.rss);
      peakHeap = Math.max(peakHeap, m.heapUsed);
    }, 50);
    const health: { status: number; ms: number }[] = [];
    let polling = true;
    const poller = (async () => {
      while (polling) {
        const started = performance.now();
        const res = await fetch(gw.url + '/health');
        await res.arrayBuffer();
        health.push({ status: res.status, ms: performance.now() - started });
        await sleep(50);
      }
    })();
    let sent = 0;
    let sending = true;
    const sender = (async () => {
      while (sending) {
        await device.send({ deviceId: 'neighbour-dev', ts: Date.now(), seq: sent, metrics: { v: sent } });
        sent++;
        await sleep(20);
      }
    })();
    lag.enable();

    const started = performance.now();
    // Only the outcome of each ack is kept: the test's own copies of 2.5 MB backfills would swamp the figures.
    const acks = await Promise.all(
      sockets.flatMap((s, i) =>
        Array.from({ length: 20 }, (_, j) =>
          subscribe(s, `flood-${(i + j) % 4}`, t0 - 1).then((a) => (a.ok ? { ok: true as const } : a)),
        ),
      ),
    );
    const floodMs = performance.now() - started;
    sending = false;
    await sender;
    await waitFor(() => neighbour.of('neighbour-dev').length >= sent, 'the neighbour to receive every reading');
    polling = false;
    await poller;
    lag.disable();
    clearInterval(memory);
    const settled1 = await settledHeap();

    const served = acks.filter((a) => a.ok).length;
    const refused = acks.filter((a) => !a.ok && a.error.code === ErrorCode.RATE_LIMITED).length;
    const ms = health.map((h) => h.ms);
    const figure = {
      requests: acks.length,
      served,
      refusedRateLimited: refused,
      floodMs: Math.round(floodMs),
      health: {
        polls: health.length,
        non200: health.filter((h) => h.status !== 200).length,
        p50Ms: Math.round(percentile(ms, 50)),
        p99Ms: Math.round(percentile(ms, 99)),
        maxMs: Math.round(Math.max(...ms)),
      },
      neighbour: {
        sent,
        received: neighbour.of('neighbour-dev').length,
        lost: sent - neighbour.of('neighbour-dev').length,
      },
      rssMB: { before: mb(m0.rss), peak: mb(peakRss), growth: mb(peakRss - m0.rss) },
      heapMB: { before: mb(m0.heapUsed), peak: mb(peakHeap), growth: mb(peakHeap - m0.heapUsed) },
      // Peaks are mostly garbage (each full backfill is ~30 MB of short-lived objects on both sides); after GC:
      heapAfterGcMB: { before: mb(settled0), after: mb(settled1), retained: mb(settled1 - settled0) },
      eventLoopLagMs: { p99: Math.round(lag.percentile(99) / 1e6), max: Math.round(lag.max / 1e6) },
    };
    console.log(`FLOOD operator-budgets ${JSON.stringify(figure)}`);

    sockets.forEach((s) => s.disconnect());
    neighbour.close();
    device.close();
    expect(served + refused).toBe(400);
    expect(refused).toBeGreaterThan(0);
    expect(health.length).toBeGreaterThan(0);
    expect(health.filter((h) => h.status !== 200)).toEqual([]);
    expect(neighbour.of('neighbour-dev').map((r) => r.seq)).toEqual(Array.from({ length: sent }, (_, i) => i));
  });

  it('a client that stops reading gets its later backfills refused, not held in memory', async () => {
    const s = await connect(gw, await tokenOf(gw, 'slow'));
    // The TCP socket under socket.io-client's WebSocket: paused, the kernel buffers fill and the gateway cannot write.
    const tcp = (s.io.engine.transport as unknown as { ws: { _socket: { pause(): void; resume(): void } } }).ws._socket;
    tcp.pause();
    const rss0 = process.memoryUsage().rss;
    const acks = Array.from({ length: 8 }, () => subscribe(s, 'flood-0', t0 - 1));
    const admin = await gw.adminToken();
    const inFlight = async (): Promise<number> => {
      const text = await (await fetch(gw.url + '/metrics', { headers: { authorization: `Bearer ${admin}` } })).text();
      return [...text.matchAll(/^fieldline_backfills\{state="\w+"\} (\d+)$/gm)].reduce((n, m) => n + Number(m[1]), 0);
    };
    await sleep(200);
    await waitFor(async () => (await inFlight()) === 0, 'every backfill answered', 60_000);
    const rssPeak = process.memoryUsage().rss;
    tcp.resume();
    const outcomes = (await Promise.all(acks)).map((a) => (a.ok ? 'ok' : String(a.error.details?.limit)));
    console.log(`FLOOD operator-budgets-unread ${JSON.stringify({ outcomes, rssGrowthMB: mb(rssPeak - rss0) })}`);
    expect(outcomes.filter((o) => o === 'unread').length).toBeGreaterThan(0);
    expect(outcomes.every((o) => o === 'ok' || o === 'unread')).toBe(true);
    s.disconnect();
  });

  it('the dashboard on reconnect (2 sockets, 40 subscribes with since at once) stays within the defaults', async () => {
    const token = await tokenOf(gw, 'dash');
    const devices = await connect(gw, token, Namespace.devices);
    const telemetry = await connect(gw, token);
    const acks = await Promise.all(
      Array.from({ length: 40 }, (_, i) => subscribe(telemetry, `flood-${i % 4}`, t0 + 9_000)),
    );
    expect(acks.map((a) => (a.ok ? a.backfill.length : a.error.code))).toEqual(Array(40).fill(999));
    devices.disconnect();
    telemetry.disconnect();
  });
});
