import { monitorEventLoopDelay } from 'node:perf_hooks';
import { AuthPath, ErrorCode, KNOWN_CLIENT_COOKIE, KNOWN_CLIENT_COOKIE_SECURE } from '@fieldline/contracts';
import { hotp } from '../../src/auth/totp';
import { startGateway, TEST_ADMIN_PASSWORD, type TestGateway, waitFor } from '../support';

/**
 * Password guessing and login floods against a real gateway (docs/security.md#login-against-guessing-and-floods). Attackers' addresses are
 * simulated with X-Forwarded-For, which the gateway believes only from a trusted proxy (here: the test, on loopback).
 */

interface Answer {
  status: number;
  code?: string;
  retryAfter: number;
  cookie?: string;
  ms: number;
}

/** One login: `from` goes in X-Forwarded-For, `cookie` is a known-client cookie value. */
async function attempt(
  url: string,
  username: string,
  password: string,
  opts: { from?: string; cookie?: string } = {},
): Promise<Answer> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (opts.from) headers['x-forwarded-for'] = opts.from;
  if (opts.cookie) headers.cookie = `${KNOWN_CLIENT_COOKIE}=${opts.cookie}`;
  const t0 = performance.now();
  const res = await fetch(url + AuthPath.login, {
    method: 'POST',
    headers,
    body: JSON.stringify({ username, password }),
  });
  const body = (await res.json()) as { code?: string };
  const setCookie = res.headers.getSetCookie().find((c) => c.startsWith(`${KNOWN_CLIENT_COOKIE}=`));
  return {
    status: res.status,
    code: body.code,
    retryAfter: Number(res.headers.get('retry-after') ?? 0),
    cookie: setCookie?.slice(KNOWN_CLIENT_COOKIE.length + 1).split(';')[0],
    ms: performance.now() - t0,
  };
}

const tally = (answers: Answer[]): Record<number, number> => {
  const out: Record<number, number> = {};
  for (const a of answers) out[a.status] = (out[a.status] ?? 0) + 1;
  return out;
};

async function metric(gw: TestGateway, name: string): Promise<number> {
  const text = await (await fetch(`${gw.url}/metrics`)).text();
  const m = new RegExp(`^${name.replace(/[{}]/g, '\\$&')} (\\d+)$`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Starts watching the event loop (the gateway runs in this process) and memory; `stop()` words what it saw. */
function floodStats(): { stop(): string } {
  const lag = monitorEventLoopDelay({ resolution: 10 });
  lag.enable();
  const rss0 = process.memoryUsage().rss;
  return {
    stop() {
      lag.disable();
      const mem = process.memoryUsage();
      const mb = (n: number) => (n / 2 ** 20).toFixed(0);
      return (
        `event-loop lag p99 ${(lag.percentile(99) / 1e6).toFixed(1)} ms max ${(lag.max / 1e6).toFixed(1)} ms; ` +
        `RSS ${mb(mem.rss)} MB (+${mb(mem.rss - rss0)}), heap ${mb(mem.heapUsed)} MB`
      );
    },
  };
}

const TRUSTED = { TRUST_PROXY_HEADER: 'x-forwarded-for', TRUSTED_PROXIES: '127.0.0.1/32,::1/128' };

describe('password guessing: budgets per user name across addresses, a delay rather than a lock', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startGateway({ ...TRUSTED, LOGIN_ADDRESS_BURST: '3' });
  });
  afterAll(async () => {
    await gw.stop();
  });

  it('25 concurrent guesses for admin from 25 addresses: 10 evaluated; admin still gets in', async () => {
    // The real admin has logged in from this browser before: it holds a known-client cookie.
    const first = await attempt(gw.url, 'admin', TEST_ADMIN_PASSWORD, { from: '192.0.2.10' });
    expect(first.status).toBe(200);
    expect(first.cookie).toMatch(/^[\w-]+\.\d+\.[\w-]+\.[\w-]+$/);
    const hashes0 = await metric(gw, 'fieldline_login_hashes_total');

    const stats = floodStats();
    const burst = await Promise.all(
      Array.from({ length: 25 }, (_, i) => attempt(gw.url, 'admin', `guess-${i}`, { from: `203.0.113.${i + 1}` })),
    );
    const seen = stats.stop();
    expect(tally(burst)).toEqual({ 401: 10, 429: 15 });
    expect(
      burst.filter((a) => a.status === 429).every((a) => a.code === ErrorCode.RATE_LIMITED && a.retryAfter >= 1),
    ).toBe(true);
    expect((await metric(gw, 'fieldline_login_hashes_total')) - hashes0).toBe(10);

    // A second address guessing the same name is limited too; so is the real password without the cookie.
    expect(await attempt(gw.url, 'admin', 'guess-x', { from: '198.51.100.7' })).toMatchObject({
      status: 429,
      code: ErrorCode.RATE_LIMITED,
    });
    expect((await attempt(gw.url, 'admin', TEST_ADMIN_PASSWORD, { from: '198.51.100.8' })).status).toBe(429);
    expect((await metric(gw, 'fieldline_login_hashes_total')) - hashes0).toBe(10);

    // The real admin with its cookie is not delayed by others' guesses...
    expect(
      (await attempt(gw.url, 'admin', TEST_ADMIN_PASSWORD, { from: '192.0.2.10', cookie: first.cookie })).status,
    ).toBe(200);
    // ...and without it gets in from another address once the delay (1 s after the 10th failure) is over.
    const limited = await attempt(gw.url, 'admin', TEST_ADMIN_PASSWORD, { from: '192.0.2.11' });
    expect(limited).toMatchObject({ status: 429, retryAfter: 1 });
    await new Promise((r) => setTimeout(r, 1100));
    expect((await attempt(gw.url, 'admin', TEST_ADMIN_PASSWORD, { from: '192.0.2.11' })).status).toBe(200);
    console.log(
      `login burst: 25 concurrent guesses → ${tally(burst)[401]} evaluated, ${tally(burst)[429]} refused before ` +
        `hashing; admin in with cookie at once, without after ${limited.retryAfter} s; ${seen}`,
    );
  }, 30_000);

  it('the delay doubles per failure; an admin unlock clears it (admin only)', async () => {
    const guesses = await Promise.all(
      Array.from({ length: 12 }, (_, i) => attempt(gw.url, 'viewer', `guess-${i}`, { from: `203.0.114.${i + 1}` })),
    );
    expect(tally(guesses)).toEqual({ 401: 10, 429: 2 });
    await new Promise((r) => setTimeout(r, 1100));
    expect((await attempt(gw.url, 'viewer', 'guess-11', { from: '203.0.114.99' })).status).toBe(401);
    expect(await attempt(gw.url, 'viewer', 'guess-12', { from: '203.0.114.98' })).toMatchObject({
      status: 429,
      retryAfter: 2,
    });

    const unlock = (token: string, body: unknown) =>
      fetch(gw.url + AuthPath.unlock, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      }).then(async (r) => ({ status: r.status, body: (await r.json()) as Record<string, unknown> }));
    const adminToken = await gw.adminToken();
    expect(await unlock(adminToken, { username: 'viewer' })).toEqual({
      status: 200,
      body: { username: 'viewer', failures: 11 },
    });
    expect((await attempt(gw.url, 'viewer', 'viewer-test-password', { from: '203.0.114.97' })).status).toBe(200);
    expect((await unlock(await gw.operatorToken('viewer'), { username: 'viewer' })).status).toBe(403);
    expect(await unlock(adminToken, { username: 7 })).toMatchObject({
      status: 400,
      body: { code: ErrorCode.INVALID_REQUEST },
    });
  });

  it('the known-client cookie is HttpOnly, SameSite=Strict, only for the login path, and Secure behind TLS', async () => {
    const login = (headers: Record<string, string>) =>
      fetch(gw.url + AuthPath.login, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify({ username: 'viewer', password: 'viewer-test-password' }),
      }).then((r) => r.headers.getSetCookie());
    const [plain] = await login({ 'x-forwarded-for': '203.0.116.1' });
    expect(plain).toMatch(new RegExp(`^${KNOWN_CLIENT_COOKIE}=[^;]+; Max-Age=2592000; Path=/api/auth/login; Expires=`));
    expect(plain).toMatch(/; HttpOnly; SameSite=Strict$/);
    const [tls] = await login({ 'x-forwarded-for': '203.0.116.1', 'x-forwarded-proto': 'https' });
    expect(tls).toMatch(new RegExp(`^${KNOWN_CLIENT_COOKIE_SECURE}=[^;]+;.*; HttpOnly; Secure; SameSite=Strict$`));
    // Sent back under its secure name, it is recognised: guesses elsewhere do not delay it.
    await Promise.all(Array.from({ length: 11 }, (_, i) => attempt(gw.url, 'viewer', 'x', { from: `203.0.117.${i}` })));
    const value = tls.split(';')[0].split('=')[1];
    const back = await fetch(gw.url + AuthPath.login, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-forwarded-for': '203.0.116.1',
        cookie: `${KNOWN_CLIENT_COOKIE_SECURE}=${value}`,
      },
      body: JSON.stringify({ username: 'viewer', password: 'viewer-test-password' }),
    });
    expect(back.status).toBe(200);
    expect((await attempt(gw.url, 'viewer', 'viewer-test-password', { from: '203.0.116.1' })).status).toBe(429);
  });

  it('an address has a failure budget of its own, across user names', async () => {
    const answers: number[] = [];
    for (const name of ['n1', 'n2', 'n3', 'n4'])
      answers.push((await attempt(gw.url, name, 'x', { from: '203.0.115.1' })).status);
    expect(answers).toEqual([401, 401, 401, 429]);
    expect((await attempt(gw.url, 'n5', 'x', { from: '203.0.115.2' })).status).toBe(401);
  });
});

describe('X-Forwarded-For from a client is not believed when no proxy is trusted', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startGateway({ LOGIN_ADDRESS_BURST: '3' });
  });
  afterAll(async () => {
    await gw.stop();
  });

  it('a new spoofed address per guess does not reset the per-address budget', async () => {
    const answers: number[] = [];
    for (let i = 1; i <= 5; i++)
      answers.push((await attempt(gw.url, `spoof-${i}`, 'x', { from: `198.18.0.${i}` })).status);
    expect(answers).toEqual([401, 401, 401, 429, 429]);
  });
});

describe('TOTP second factor (TOTP_SECRETS)', () => {
  let gw: TestGateway;
  const secret = Buffer.from('fieldline-totp-test-secret');
  beforeAll(async () => {
    // base32 of the secret above, as an authenticator app would be given it.
    gw = await startGateway({ TOTP_SECRETS: 'admin:MZUWK3DENRUW4ZJNORXXI4BNORSXG5BNONSWG4TFOQ' });
  });
  afterAll(async () => {
    await gw.stop();
  });

  it('admin needs the current code, once; without it the answer is that of a wrong password', async () => {
    const withCode = (totp?: string) =>
      fetch(gw.url + AuthPath.login, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username: 'admin', password: TEST_ADMIN_PASSWORD, ...(totp ? { totp } : {}) }),
      }).then(async (r) => ({ status: r.status, body: (await r.json()) as { code?: string; message?: string } }));
    const wrong = { status: 401, body: { code: ErrorCode.UNAUTHORIZED, message: 'invalid username or password' } };
    expect(await withCode()).toMatchObject(wrong);
    expect(await withCode('000000')).toMatchObject(wrong);
    const code = hotp(secret, Math.floor(Date.now() / 30_000));
    expect((await withCode(code)).status).toBe(200);
    expect(await withCode(code)).toMatchObject(wrong);
    // Users without a secret log in as before.
    expect((await gw.get(AuthPath.me)).status).toBe(200);
  });
});

describe('a flood of bad logins from other addresses does not starve a real operator', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startGateway({ ...TRUSTED });
  });
  afterAll(async () => {
    await gw.stop();
  });

  it('200 concurrent bad logins: the known operator is served first; the ratio is printed', async () => {
    const admin = (from: string, cookie?: string) => attempt(gw.url, 'admin', TEST_ADMIN_PASSWORD, { from, cookie });
    const { cookie } = await admin('192.0.2.50');
    await gw.deviceToken('login-neighbour');
    // An operator logs in at some moment, not right after the previous login: a random pause before each.
    const pause = () => new Promise((r) => setTimeout(r, 20 + Math.random() * 100));
    const alone: number[] = [];
    for (let i = 0; i < 7; i++) {
      await pause();
      const a = await admin('192.0.2.50', cookie);
      expect(a.status).toBe(200);
      alone.push(a.ms);
    }

    const stats = floodStats();
    let evaluatedBefore = -1;
    let evaluated = 0;
    const flood = Array.from({ length: 200 }, (_, i) =>
      attempt(gw.url, `made-up-${i}`, 'wrong', { from: `100.64.${i >> 8}.${i & 255}` }).then((a) => {
        if (a.status === 401) evaluated++;
        return a;
      }),
    );
    await waitFor(async () => (await metric(gw, 'fieldline_login_hash_queue{lane="other"}')) >= 30, 'a full queue');
    // A neighbour on the same transport: a device posting readings over HTTP through the flood.
    const neighbour = Array.from({ length: 20 }, (_, seq) => gw.post('login-neighbour', { seq, metrics: { t: seq } }));
    const during: number[] = [];
    for (let i = 0; i < 7; i++) {
      await pause();
      const a = await admin('192.0.2.50', cookie);
      if (i === 0) evaluatedBefore = evaluated;
      expect(a.status).toBe(200);
      during.push(a.ms);
    }
    const firstTime = await admin('192.0.2.51');
    const answers = await Promise.all(flood);
    const readings = await Promise.all(neighbour);
    const seen = stats.stop();

    expect(readings.map((r) => r.status)).toEqual(Array(20).fill(202));
    const t = tally(answers);
    expect((t[401] ?? 0) + (t[429] ?? 0)).toBe(200);
    // The first known-client login was answered while most of the evaluated flood still waited behind it.
    expect(evaluatedBefore).toBeLessThan(10);
    expect(evaluated).toBeGreaterThan(30);
    const ratio = median(during) / median(alone);
    console.log(
      `login flood: 200 concurrent bad logins from 200 addresses → ${t[401]} evaluated, ${t[429]} refused at once ` +
        `(RATE_LIMITED); known operator median ${median(alone).toFixed(0)} ms alone, ${median(during).toFixed(0)} ms ` +
        `during (ratio ${ratio.toFixed(2)}×); first-time operator during the flood: ${firstTime.status} in ` +
        `${firstTime.ms.toFixed(0)} ms; neighbour device 20/20 readings; ${seen}`,
    );
  }, 30_000);
});
