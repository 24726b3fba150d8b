import { createConnection } from 'node:net';
import { ErrorCode, TelemetryEvent } from '@fieldline/contracts';
import { startGateway, type TestGateway, waitFor } from './support';

/*
 * Input hygiene (security round two): peer-supplied paths, times, metric names and values are treated as data,
 * answered with documented codes, and never reach a store error or a second handler.
 */

/** Everything the gateway answers to a raw upgrade request for `path`, until it closes or goes quiet. */
function rawUpgrade(url: string, path: string): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host: hostname, port: Number(port) });
    let got = '';
    const done = (): void => {
      clearTimeout(quiet);
      socket.destroy();
      resolve(got);
    };
    let quiet = setTimeout(done, 1500);
    socket.on('data', (chunk: Buffer) => {
      got += chunk.toString('latin1');
      clearTimeout(quiet);
      quiet = setTimeout(done, 500);
    });
    socket.on('close', done);
    socket.on('error', (err) => (got ? done() : reject(err)));
    socket.write(
      [
        `GET ${path} HTTP/1.1`,
        `Host: ${hostname}:${port}`,
        'Upgrade: websocket',
        'Connection: Upgrade',
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==',
        'Sec-WebSocket-Version: 13',
        '',
        '',
      ].join('\r\n'),
    );
  });
}

const statusLines = (answer: string): string[] => answer.match(/HTTP\/1\.1 \d{3}/g) ?? [];

describe('input hygiene', () => {
  let gw: TestGateway;

  beforeAll(async () => {
    gw = await startGateway();
  });

  afterAll(async () => {
    await gw.stop();
  });

  it('gives an upgrade one owner: a path under /socket.io/ is never also taken by /ingest', async () => {
    const token = await gw.deviceToken('hy-up');
    const answer = await rawUpgrade(gw.url, `/socket.io/../ingest?token=${token}`);
    expect(statusLines(answer)).toHaveLength(1);
    expect(statusLines(answer)[0]).not.toBe('HTTP/1.1 101');
    const dotted = await rawUpgrade(gw.url, `/ingest/../ingest?token=${token}`);
    expect(statusLines(dotted)).toEqual(['HTTP/1.1 404']);
    // The real endpoint still opens.
    expect(statusLines(await rawUpgrade(gw.url, `/ingest?token=${token}`))).toEqual(['HTTP/1.1 101']);
  });

  it.each([
    ['from before the epoch', 'from=-1'],
    ['from past what a store holds', 'from=99999999999999999999'],
    ['an extended-year ISO time', 'to=%2B275760-09-13T00:00:00Z'],
    ['a time Date.parse would guess', 'from=1.5'],
  ])('answers history with %s by 400 INVALID_REQUEST, never a store error', async (_name, query) => {
    await gw.post('hy-h', { metrics: { t: 1 } });
    const res = await gw.get(`/api/devices/hy-h/readings?${query}`);
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ code: ErrorCode.INVALID_REQUEST });
  });

  it('refuses a since beyond what a store holds with INVALID_REQUEST and keeps the socket usable', async () => {
    const op = await gw.operator();
    for (const since of [-1, 1e20]) {
      expect(await op.subscribe('hy-s', since)).toMatchObject({
        ok: false,
        error: { code: ErrorCode.INVALID_REQUEST },
      });
    }
    expect(await op.subscribe('hy-s', Date.now() - 60_000)).toMatchObject({ ok: true });
    op.close();
  });

  it('treats metrics named like Object.prototype members as any other name, live, latest and stored', async () => {
    // (`__proto__` is refused as INVALID_METRIC_NAME by design: see the bad-input corpus.)
    const names = ['constructor', 'toString', 'valueOf', 'hasOwnProperty'];
    const body = `{"seq":1,"metrics":{${names.map((n, i) => `"${n}":${i + 1}`).join(',')}}}`;
    const op = await gw.operator();
    await op.subscribe('hy-p');
    expect((await gw.post('hy-p', body)).status).toBe(202);
    await waitFor(() => op.of('hy-p').length === 1, 'the live reading');
    expect(Object.keys(op.of('hy-p')[0].metrics).sort()).toEqual([...names].sort());
    const device = await gw.get('/api/devices/hy-p');
    expect(device.status).toBe(200);
    expect(Object.entries(device.body.latest as Record<string, number>).sort()).toEqual(
      names.map((n, i) => [n, i + 1]).sort(),
    );
    await waitFor(async () => {
      const h = await gw.get('/api/devices/hy-p/readings?bucket=raw');
      return h.status === 200 && (h.body.series as unknown[]).length === names.length;
    }, 'every metric in the store');
    op.close();
  });

  it('averages accepted values near the largest double to a number, not null', async () => {
    const at = Date.now() - 60_000;
    const readings = [0, 1].map((i) => ({ seq: i + 1, ts: at + i, metrics: { big: 1e308 } }));
    expect((await gw.post('hy-m', { readings })).status).toBe(202);
    let value: unknown;
    await waitFor(async () => {
      const h = await gw.get(`/api/devices/hy-m/readings?metric=big&from=${at - 1000}&to=${at + 1000}&bucket=1h`);
      value = h.body?.series?.[0]?.points?.[0]?.value;
      return value !== undefined;
    }, 'the stored readings');
    expect(value).toBe(1e308);
  });

  it('still serves the ordinary subscribe after the hostile ones', async () => {
    const op = await gw.operator();
    await op.subscribe('hy-ok');
    await gw.post('hy-ok', { metrics: { t: 1 } });
    await waitFor(() => op.of('hy-ok').length === 1, 'a reading');
    expect(op.socket.listeners(TelemetryEvent.readings)).toHaveLength(1);
    op.close();
  });
});

describe('METRICS_TOKEN', () => {
  const token = 'scrape-token-0123456789abcdef';
  let gw: TestGateway;

  beforeAll(async () => {
    gw = await startGateway({ METRICS_TOKEN: token });
  });

  afterAll(async () => {
    await gw.stop();
  });

  it('lets the token or an operator scrape /metrics, and nothing else', async () => {
    const scrape = (bearer?: string): Promise<number> =>
      fetch(`${gw.url}/metrics`, bearer ? { headers: { authorization: `Bearer ${bearer}` } } : {}).then((r) => {
        void r.body?.cancel();
        return r.status;
      });
    expect(await scrape()).toBe(401);
    expect(await scrape(token.slice(0, -1))).toBe(401);
    expect(await scrape(`${token}x`)).toBe(401);
    expect(await scrape(token)).toBe(200);
    expect(await scrape(await gw.operatorToken())).toBe(200);
  });
});
