import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { ErrorCode, LineProtocolPath } from '@fieldline/contracts';
import { IngestPipeline } from '../src/ingest/ingest.pipeline';
import { points, storedPoints } from './interop/tools';
import { type Operator, sleep, startGateway, type TestGateway, waitFor } from './support';

const BRIDGE_TOKEN = 'bridge-test-token-0123456789';
const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex');
const ns = (ms: number): string => `${ms}000000`;

interface Answer {
  status: number;
  body: any;
  retryAfter: string | null;
  headers: Headers;
}

// InfluxDB's write API as Telegraf and the client libraries use it (issue 11, item 3), spoken over plain HTTP
// (fetch): auth variants, precisions, answers and error bodies, and that what is answered 204 is in the store and
// the device's room. The interop suite (interop/influx.e2e-spec.ts) does the same with the real clients.
describe('InfluxDB line-protocol ingest', () => {
  let gw: TestGateway;
  let op: Operator;
  beforeAll(async () => {
    gw = await startGateway({
      // A small budget (200 readings/s, burst 50) so that the rate-limit case needs no large batch or long wait.
      DEVICE_RATE: '200',
      DEVICE_BURST: '50',
      LINE_PROTOCOL_BRIDGES: `telegraf:${sha256(BRIDGE_TOKEN)}:tg-*,plant-1`,
    });
    op = await gw.operator();
  });
  afterAll(async () => {
    op.close();
    await gw.stop();
  });

  const write = async (
    path: string,
    body: string | Buffer,
    headers: Record<string, string> = {},
    query = '',
  ): Promise<Answer> => {
    const res = await fetch(`${gw.url}${path}${query}`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain; charset=utf-8', ...headers },
      body,
    });
    const text = await res.text();
    return {
      status: res.status,
      body: text ? JSON.parse(text) : undefined,
      retryAfter: res.headers.get('retry-after'),
      headers: res.headers,
    };
  };
  const stored = (deviceId: string, metric: string, n: number) => storedPoints(gw, deviceId, metric, n);
  const basic = (user: string, pass: string) => ({
    authorization: `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`,
  });

  it('POST /write with Basic auth: 204 once stored; fields become <measurement>_<field> metrics, tags stay', async () => {
    await op.subscribe('lp-1');
    const token = await gw.deviceToken('lp-1');
    const t = Date.now() - 10_000;
    const body = [
      `cpu,device_id=lp-1,cpu=cpu0 usage_idle=97.5,usage_user=1.5 ${ns(t)}`,
      `cpu,device_id=lp-1,cpu=cpu0 usage_idle=96,usage_user=2i ${ns(t + 1000)}`,
      `mem,device_id=lp-1 used_percent=41.25,swapped=f ${ns(t + 1000)}`,
    ].join('\n');
    const res = await write(LineProtocolPath.write, body, basic('lp-1', token), '?db=telegraf&rp=autogen');
    expect([res.status, res.body]).toEqual([204, undefined]);
    await waitFor(() => op.of('lp-1').length === 3, 'the three lines in the room');
    expect(op.of('lp-1')).toEqual([
      { deviceId: 'lp-1', ts: t, metrics: { cpu_usage_idle: 97.5, cpu_usage_user: 1.5 }, tags: { cpu: 'cpu0' } },
      { deviceId: 'lp-1', ts: t + 1000, metrics: { cpu_usage_idle: 96, cpu_usage_user: 2 }, tags: { cpu: 'cpu0' } },
      { deviceId: 'lp-1', ts: t + 1000, metrics: { mem_used_percent: 41.25, mem_swapped: 0 } },
    ]);
    expect(await stored('lp-1', 'cpu_usage_idle', 2)).toEqual([
      { ts: t, value: 97.5 },
      { ts: t + 1000, value: 96 },
    ]);
    expect(await points(gw, 'lp-1', 'mem_used_percent')).toEqual([{ ts: t + 1000, value: 41.25 }]);
  });

  it('v1 u/p query auth with precision=s; v2 with Authorization: Token and precision=ms; Bearer too', async () => {
    const token = await gw.deviceToken('lp-2');
    const s = Math.floor(Date.now() / 1000) - 100;
    const v1 = await write(LineProtocolPath.write, `t v=1 ${s}`, {}, `?db=x&u=lp-2&p=${token}&precision=s`);
    expect(v1.status).toBe(204);
    const ms = Date.now() - 50_000;
    const v2 = await write(
      LineProtocolPath.writeV2,
      `t v=2 ${ms}`,
      { authorization: `Token ${token}` },
      '?org=acme&bucket=plant&precision=ms',
    );
    expect(v2.status).toBe(204);
    const us = (Date.now() - 40_000) * 1000;
    const v2us = await write(
      LineProtocolPath.writeV2,
      `t v=3 ${us}`,
      { authorization: `Bearer ${token}` },
      '?precision=us',
    );
    expect(v2us.status).toBe(204);
    expect(await stored('lp-2', 't_v', 3)).toEqual([
      { ts: s * 1000, value: 1 },
      { ts: ms, value: 2 },
      { ts: us / 1000, value: 3 },
    ]);
  });

  it('a line without a timestamp gets the time of receipt', async () => {
    const token = await gw.deviceToken('lp-3');
    const before = Date.now();
    expect((await write(LineProtocolPath.write, 'env temp=21.5', basic('lp-3', token))).status).toBe(204);
    const after = Date.now();
    const [p] = await stored('lp-3', 'env_temp', 1);
    expect(p.value).toBe(21.5);
    expect(p.ts).toBeGreaterThanOrEqual(before);
    expect(p.ts).toBeLessThanOrEqual(after);
  });

  it('400 {"error"} names each bad line after keeping the good ones; strings are refused by name', async () => {
    const token = await gw.deviceToken('lp-4');
    const t = Date.now() - 5000;
    const body = [`m v=1 ${ns(t)}`, `m v=oops ${ns(t + 1)}`, `m state="open" ${ns(t + 2)}`, `m v=4 ${ns(t + 3)}`].join(
      '\n',
    );
    const res = await write(LineProtocolPath.write, body, basic('lp-4', token));
    expect(res.status).toBe(400);
    expect(res.body.error).toBe(
      'partial write: line 2: field v: invalid number oops ("m v=oops ' +
        ns(t + 1) +
        '"); line 3: field state is a string; Fieldline stores numbers (integers, floats, booleans as 1/0), not ' +
        'strings dropped=2',
    );
    // The good lines were kept.
    expect(await stored('lp-4', 'm_v', 2)).toEqual([
      { ts: t, value: 1 },
      { ts: t + 3, value: 4 },
    ]);
  });

  it('400 names a line that differs from an earlier one only in its tags at one time (Telegraf percpu)', async () => {
    const token = await gw.deviceToken('lp-10');
    const t = Date.now() - 4000;
    const res = await write(
      LineProtocolPath.write,
      `cpu,cpu=cpu-total usage_idle=90 ${ns(t)}\ncpu,cpu=cpu0 usage_idle=80 ${ns(t)}\nmem used=1 ${ns(t)}`,
      basic('lp-10', token),
    );
    expect(res.status).toBe(400);
    expect(res.body).toEqual({
      error:
        `partial write: line 2: cpu of lp-10 at ${t} is in line 1 already, with other tags; a point is keyed by ` +
        'device, metric and time, not by tags (see docs/line-protocol.md) dropped=1',
      code: ErrorCode.CONFLICT,
    });
    expect(await stored('lp-10', 'cpu_usage_idle', 1)).toEqual([{ ts: t, value: 90 }]);
    expect(await stored('lp-10', 'mem_used', 1)).toEqual([{ ts: t, value: 1 }]);
  });

  it('401 without a token or with an unknown one (WWW-Authenticate), 403 for another device', async () => {
    const none = await write(LineProtocolPath.write, 'm v=1');
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toMatch(/^Token /);
    expect(none.body).toEqual({
      error: 'authorization failed: send the device or bridge token as Authorization: Token <token> (or Basic, or u/p)',
      code: ErrorCode.UNAUTHORIZED,
    });
    const wrong = await write(LineProtocolPath.writeV2, 'm v=1', { authorization: 'Token fld_nope' });
    expect([wrong.status, wrong.body]).toEqual([
      401,
      { error: 'authorization failed: unknown token', code: ErrorCode.UNAUTHORIZED },
    ]);
    const token = await gw.deviceToken('lp-5');
    const other = await write(LineProtocolPath.write, 'm,device_id=lp-6 v=1', basic('lp-5', token));
    expect(other.status).toBe(403);
    expect(other.body).toEqual({
      error: 'partial write: line 1: this token belongs to device lp-5; it may not write for lp-6 dropped=1',
      code: ErrorCode.FORBIDDEN,
    });
  });

  it('a bridge token writes for the devices it is allowed (prefix or exact), 403 for the others', async () => {
    await op.subscribe('tg-host-1');
    const t = Date.now() - 3000;
    const auth = { authorization: `Token ${BRIDGE_TOKEN}` };
    const ok = await write(
      LineProtocolPath.writeV2,
      `cpu,device_id=tg-host-1 v=1 ${ns(t)}\ncpu,device_id=plant-1 v=2 ${ns(t)}`,
      auth,
    );
    expect(ok.status).toBe(204);
    await waitFor(() => op.of('tg-host-1').length === 1, 'the bridge line in the room');
    expect(await stored('plant-1', 'cpu_v', 1)).toEqual([{ ts: t, value: 2 }]);
    const refused = await write(LineProtocolPath.writeV2, `cpu,device_id=plant-2 v=1 ${ns(t)}`, auth);
    expect(refused.status).toBe(403);
    expect(refused.body.error).toContain('line 1: bridge telegraf may not write for device plant-2');
  });

  it('429 with Retry-After refuses the whole batch; the resend stores every line once', async () => {
    const tokenA = BRIDGE_TOKEN;
    const t = Date.now() - 20_000;
    const batch = (dev: string, n: number, from: number) =>
      Array.from({ length: n }, (_, i) => `m,device_id=${dev} v=${from + i} ${ns(t + from + i)}`);
    // tg-rl-b spends three times its burst (50): that passes once from a full bucket, then it owes 100 (0.5 s).
    expect((await write(LineProtocolPath.write, batch('tg-rl-b', 150, 0).join('\n'), basic('x', tokenA))).status).toBe(
      204,
    );
    // A batch for tg-rl-a (within budget) and tg-rl-b (over): refused whole, nothing of tg-rl-a is stored.
    const mixed = [...batch('tg-rl-a', 5, 0), ...batch('tg-rl-b', 5, 150)].join('\n');
    const refused = await write(LineProtocolPath.write, mixed, basic('x', tokenA));
    expect(refused.status).toBe(429);
    expect(Number(refused.retryAfter)).toBeGreaterThanOrEqual(1);
    expect(refused.body.code).toBe(ErrorCode.RATE_LIMITED);
    expect(refused.body.error).toMatch(/^device tg-rl-b is over its limit of 200 readings\/s \(burst 50\); retry in/);
    await sleep(300);
    expect(await points(gw, 'tg-rl-a', 'm_v')).toEqual([]);
    // What Telegraf does: wait Retry-After, send the same batch again.
    await sleep(Number(refused.retryAfter) * 1000);
    expect((await write(LineProtocolPath.write, mixed, basic('x', tokenA))).status).toBe(204);
    expect((await stored('tg-rl-a', 'm_v', 5)).map((p) => p.value)).toEqual([0, 1, 2, 3, 4]);
    expect((await stored('tg-rl-b', 'm_v', 155)).map((p) => p.value)).toEqual(Array.from({ length: 155 }, (_, i) => i));
  });

  it('Content-Encoding: gzip is inflated; 413 for a body above the limit before and after inflating', async () => {
    const token = await gw.deviceToken('lp-7');
    const t = Date.now() - 7000;
    const gz = gzipSync(`g v=1 ${ns(t)}\ng v=2 ${ns(t + 1)}\n`);
    expect(
      (await write(LineProtocolPath.write, gz, { ...basic('lp-7', token), 'content-encoding': 'gzip' })).status,
    ).toBe(204);
    expect((await stored('lp-7', 'g_v', 2)).map((p) => p.value)).toEqual([1, 2]);
    const big = await write(LineProtocolPath.write, Buffer.alloc(9 * 1024 * 1024, 'a'), basic('lp-7', token));
    expect(big.status).toBe(413);
    expect(big.body).toEqual({
      error: 'request body too large: at most 8388608 bytes (after gunzip); send smaller batches',
      code: ErrorCode.MESSAGE_TOO_LARGE,
    });
    // 100 KB of gzip that inflates to 100 MB: refused at 8 MB inflated.
    const bomb = gzipSync(Buffer.alloc(100 * 1024 * 1024), { level: 9 });
    expect(bomb.length).toBeLessThan(200 * 1024);
    const res = await write(LineProtocolPath.write, bomb, { ...basic('lp-7', token), 'content-encoding': 'gzip' });
    expect(res.status).toBe(413);
    const bad = await write(LineProtocolPath.write, Buffer.from('not gzip'), {
      ...basic('lp-7', token),
      'content-encoding': 'gzip',
    });
    expect(bad.status).toBe(400);
    expect(bad.body.error).toMatch(/^unreadable body: /);
  });

  it('400 for an unknown precision, an unknown Content-Encoding and a JSON body', async () => {
    const auth = basic('lp-8', await gw.deviceToken('lp-8'));
    const p = await write(LineProtocolPath.write, 'm v=1', auth, '?precision=d');
    expect([p.status, p.body.error]).toEqual([400, 'invalid precision "d": one of ns, u, ms, s, m, h']);
    const p2 = await write(LineProtocolPath.writeV2, 'm v=1', auth, '?precision=h');
    expect([p2.status, p2.body.error]).toEqual([400, 'invalid precision "h": one of ns, us, ms, s']);
    const enc = await write(LineProtocolPath.write, 'm v=1', { ...auth, 'content-encoding': 'br' });
    expect([enc.status, enc.body.error]).toEqual([400, 'unsupported Content-Encoding br: gzip or none']);
    const json = await write(LineProtocolPath.write, '{"v":1}', { ...auth, 'content-type': 'application/json' });
    expect([json.status, json.body.error]).toEqual([400, 'send line protocol as text/plain, not as JSON']);
  });

  it('GET and HEAD /ping answer 204; /query answers CREATE DATABASE and SHOW, refuses the rest', async () => {
    for (const method of ['GET', 'HEAD']) {
      const res = await fetch(gw.url + LineProtocolPath.ping, { method });
      expect(res.status).toBe(204);
      expect(res.headers.get('x-influxdb-version')).toMatch(/^1\.8/);
    }
    // Telegraf's form: q in a urlencoded body.
    const create = await fetch(gw.url + LineProtocolPath.query, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ q: 'CREATE DATABASE "telegraf"' }).toString(),
    });
    expect([create.status, await create.json()]).toEqual([200, { results: [{ statement_id: 0 }] }]);
    const show = await fetch(`${gw.url}${LineProtocolPath.query}?q=${encodeURIComponent('SHOW DATABASES')}`);
    expect(show.status).toBe(200);
    const select = await fetch(`${gw.url}${LineProtocolPath.query}?q=${encodeURIComponent('SELECT * FROM cpu')}`, {
      method: 'POST',
    });
    expect(select.status).toBe(400);
    expect(((await select.json()) as { error: string }).error).toMatch(/^Fieldline takes writes only/);
  });

  it('counts what it refuses in /metrics with the other HTTP refusals', async () => {
    const res = await fetch(gw.url + '/metrics');
    const text = await res.text();
    const count = (code: string) =>
      Number(new RegExp(`fieldline_rejected_total\\{transport="http",code="${code}"\\} (\\d+)`).exec(text)?.[1] ?? 0);
    expect(count(ErrorCode.UNAUTHORIZED)).toBeGreaterThanOrEqual(2);
    expect(count(ErrorCode.RATE_LIMITED)).toBeGreaterThanOrEqual(10);
  });

  // Last: it leaves the pipeline closed, as the first step of a shutdown does.
  it('503 with Retry-After while shutting down; nothing is stored', async () => {
    const token = await gw.deviceToken('lp-9');
    gw.app.get(IngestPipeline).close();
    const res = await write(LineProtocolPath.write, `m v=1 ${ns(Date.now() - 1)}`, basic('lp-9', token));
    expect([res.status, res.retryAfter, res.body]).toEqual([
      503,
      '1',
      { error: 'the gateway is shutting down; retry later', code: ErrorCode.SHUTTING_DOWN },
    ]);
    await sleep(300);
    expect(await points(gw, 'lp-9', 'm_v')).toEqual([]);
  });
});
