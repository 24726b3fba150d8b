import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ErrorCode, exportPath, LIMITS, type Reading, telemetryTopic } from '@fieldline/contracts';
import { parseCsv } from '../src/export/csv.testing';
import { TELEMETRY_STORE, type TelemetryStore } from '../src/storage/store';
import { run } from './interop/tools';
import { startGateway, type TestGateway, waitFor } from './support';

/*
 * GET /api/devices/:id/export against a running gateway: readings go in over HTTP and MQTT, come out as CSV and NDJSON
 * through curl and fetch. See docs/export.md.
 */

const DEV = 'exp-1';
const HTTP_READINGS = 3000;
const MQTT_READINGS = 5;
/** Start of the data: whole minute, two hours ago (inside the accepted timestamp window). */
const T = Math.floor((Date.now() - 2 * 3_600_000) / 60_000) * 60_000;
const RANGE = `from=${T}&to=${T + 3_600_000}`;
/** Tag values a naive CSV writer breaks on. */
const AWKWARD = { site: 'Hall 3, "north"', note: 'line one\nline two' };

describe('history export', () => {
  let gw: TestGateway;
  let viewer: string;
  let url: (query: string, id?: string) => string;
  const auth = (): Record<string, string> => ({ authorization: `Bearer ${viewer}` });

  beforeAll(async () => {
    gw = await startGateway({ DEVICE_RATE: '0' });
    viewer = await gw.operatorToken('viewer');
    url = (query, id = DEV) => `${gw.url}${exportPath(id)}?${query}`;
    const sent: Reading[] = [];
    for (let i = 0; i < HTTP_READINGS; i++) {
      const r: Reading = { deviceId: DEV, ts: T + i * 1000, seq: i, metrics: { temp: i / 10 } };
      if (i % 60 === 0) r.metrics.hum = 40 + i / 60;
      if (i === 7) r.tags = AWKWARD;
      sent.push(r);
    }
    for (let i = 0; i < sent.length; i += LIMITS.maxBatch) {
      const { status } = await gw.post(DEV, { readings: sent.slice(i, i + LIMITS.maxBatch) });
      expect(status).toBe(202);
    }
    const dev = await gw.mqttDevice(DEV);
    for (let i = 0; i < MQTT_READINGS; i++) {
      const seq = HTTP_READINGS + i;
      await dev.publish(telemetryTopic(DEV), { ts: T + seq * 1000, seq, metrics: { temp: -i } });
    }
    await dev.close();
    await waitFor(
      async () => {
        const res = await fetch(url(`${RANGE}&format=ndjson`), { headers: auth() });
        return (await res.text()).split('\n').length - 1 === HTTP_READINGS + MQTT_READINGS;
      },
      'every reading stored',
      15_000,
    );
  });
  afterAll(() => gw.stop());

  const curl = (args: string[]) => run('curl', ['-sS', '-H', `Authorization: Bearer ${viewer}`, ...args]);
  /** curl -i: status line and headers, then the body. */
  async function curlFull(target: string, headers: string[] = []) {
    const r = await curl(['-i', ...headers.flatMap((h) => ['-H', h]), target]);
    expect(r.code).toBe(0);
    const cut = r.stdout.indexOf('\r\n\r\n');
    const head = r.stdout.slice(0, cut).split('\r\n');
    const header = (name: string) =>
      head.find((l) => l.toLowerCase().startsWith(name.toLowerCase() + ':'))?.replace(/^[^:]+:\s*/, '');
    return { status: Number(head[0].split(' ')[1]), header, body: r.stdout.slice(cut + 4) };
  }
  const ndjson = (text: string): any[] =>
    text
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l));

  describe('raw', () => {
    it('curl: CSV with header ts,<metrics>, one record per reading in time order', async () => {
      const res = await curlFull(url(`${RANGE}&format=csv`));
      expect(res.status).toBe(200);
      expect(res.header('content-type')).toBe('text/csv; charset=utf-8');
      expect(res.header('cache-control')).toBe('no-store');
      const rows = parseCsv(res.body);
      expect(rows[0]).toEqual(['ts', 'hum', 'temp']);
      expect(rows).toHaveLength(1 + HTTP_READINGS + MQTT_READINGS);
      expect(rows[1]).toEqual([new Date(T).toISOString(), '40', '0']);
      expect(rows[2]).toEqual([new Date(T + 1000).toISOString(), '', '0.1']);
      expect(rows.at(-1)).toEqual([new Date(T + (HTTP_READINGS + MQTT_READINGS - 1) * 1000).toISOString(), '', '-4']);
    });

    it('curl: include=seq,tags adds seq and the tags, quoted, read back intact', async () => {
      const res = await curlFull(url(`${RANGE}&include=seq,tags`));
      const rows = parseCsv(res.body);
      expect(rows[0]).toEqual(['ts', 'seq', 'hum', 'temp', 'tags']);
      expect(rows).toHaveLength(1 + HTTP_READINGS + MQTT_READINGS);
      expect(rows[1]).toEqual([new Date(T).toISOString(), '0', '40', '0', '']);
      expect(rows[2]).toEqual([new Date(T + 1000).toISOString(), '1', '', '0.1', '']);
      expect(rows[8][1]).toBe('7');
      expect(JSON.parse(rows[8][4])).toEqual(AWKWARD);
      // The MQTT readings come last, in order.
      expect(rows.slice(-MQTT_READINGS).map((r) => [r[1], r[3]])).toEqual(
        [0, 1, 2, 3, 4].map((i) => [String(HTTP_READINGS + i), String(-i)]),
      );
      expect(rows.slice(1).map((r) => Number(r[1]))).toEqual(
        Array.from({ length: HTTP_READINGS + MQTT_READINGS }, (_, i) => i),
      );
    });

    it('fetch: the same bytes as curl; NDJSON lines in the shape devices send', async () => {
      const viaCurl = await curl([url(`${RANGE}&format=csv`)]);
      const res = await fetch(url(`${RANGE}&format=csv`), { headers: auth() });
      expect(res.status).toBe(200);
      expect(await res.text()).toBe(viaCurl.stdout);
      const nd = await fetch(url(`${RANGE}&format=ndjson`), { headers: auth() });
      expect(nd.headers.get('content-type')).toBe('application/x-ndjson; charset=utf-8');
      const lines = ndjson(await nd.text());
      expect(lines).toHaveLength(HTTP_READINGS + MQTT_READINGS);
      expect(lines[0]).toEqual({ deviceId: DEV, ts: T, seq: 0, metrics: { hum: 40, temp: 0 } });
      expect(lines[7]).toEqual({ deviceId: DEV, ts: T + 7000, seq: 7, metrics: { temp: 0.7 }, tags: AWKWARD });
    });

    it('from is included, to excluded; metric= keeps one column', async () => {
      const res = await fetch(url(`from=${T + 100_000}&to=${T + 200_000}&metric=hum&include=seq`), {
        headers: auth(),
      });
      const rows = parseCsv(await res.text());
      expect(rows[0]).toEqual(['ts', 'seq', 'hum']);
      // hum is sent once a minute: at 120 s and 180 s in [100 s, 200 s).
      expect(rows.slice(1).map((r) => [r[1], r[2]])).toEqual([
        ['120', '42'],
        ['180', '43'],
      ]);
      const iso = await fetch(url(`from=${new Date(T + 100_000).toISOString()}&to=${T + 200_000}&format=ndjson`), {
        headers: auth(),
      });
      expect(ndjson(await iso.text()).map((l) => l.seq)).toEqual(Array.from({ length: 100 }, (_, i) => 100 + i));
    });

    it('an empty range is the header alone, or an empty NDJSON body', async () => {
      const range = `from=${T - 7_200_000}&to=${T - 3_600_000}`;
      expect(await (await fetch(url(range), { headers: auth() })).text()).toBe('ts,hum,temp\r\n');
      const nd = await fetch(url(`${range}&format=ndjson`), { headers: auth() });
      expect(nd.status).toBe(200);
      expect(await nd.text()).toBe('');
    });
  });

  it('aggregated: one row per bucket with the chosen aggregation; NDJSON adds min, max, count', async () => {
    const q = `from=${T}&to=${T + 180_000}&bucket=1m&agg=count`;
    const rows = parseCsv(await (await fetch(url(q), { headers: auth() })).text());
    expect(rows).toEqual([
      ['ts', 'hum', 'temp'],
      ...[0, 1, 2].map((m) => [new Date(T + m * 60_000).toISOString(), '1', '60']),
    ]);
    const nd = ndjson(
      await (await fetch(url(`${q.replace('count', 'max')}&format=ndjson`), { headers: auth() })).text(),
    );
    expect(nd[1]).toEqual({
      ts: T + 60_000,
      metrics: { hum: { value: 41, min: 41, max: 41, count: 1 }, temp: { value: 11.9, min: 6, max: 11.9, count: 60 } },
    });
  });

  it('Accept picks the format when format= is absent; format= wins over Accept', async () => {
    const accept = async (value: string, query = RANGE) =>
      (await curlFull(url(query), [`Accept: ${value}`])).header('content-type');
    expect(await accept('application/x-ndjson')).toBe('application/x-ndjson; charset=utf-8');
    expect(await accept('text/csv')).toBe('text/csv; charset=utf-8');
    expect(await accept('application/x-ndjson;q=0.4, text/csv;q=0.8')).toBe('text/csv; charset=utf-8');
    expect(await accept('text/html,*/*;q=0.8')).toBe('text/csv; charset=utf-8');
    expect(await accept('text/csv', `${RANGE}&format=ndjson`)).toBe('application/x-ndjson; charset=utf-8');
    const res = await fetch(url(RANGE), { headers: { ...auth(), accept: 'application/x-ndjson' } });
    expect(ndjson(await res.text())).toHaveLength(HTTP_READINGS + MQTT_READINGS);
  });

  it('Content-Disposition names the file; curl -OJ saves it under that name', async () => {
    const to = T + 3_600_000;
    const stamp = (ms: number) =>
      new Date(ms)
        .toISOString()
        .replace(/[-:]/g, '')
        .replace(/\.\d+Z$/, 'Z');
    const expected = `${DEV}_${stamp(T)}_${stamp(to)}_raw.csv`;
    const res = await fetch(url(RANGE), { headers: auth() });
    expect(res.headers.get('content-disposition')).toBe(`attachment; filename="${expected}"`);
    await res.arrayBuffer();
    const agg = await fetch(url(`${RANGE}&bucket=5m&agg=max&format=ndjson&metric=temp`), { headers: auth() });
    expect(agg.headers.get('content-disposition')).toBe(
      `attachment; filename="${DEV}_temp_${stamp(T)}_${stamp(to)}_5m-max.ndjson"`,
    );
    await agg.arrayBuffer();
    const dir = mkdtempSync(join(tmpdir(), 'fieldline-export-'));
    try {
      const r = await curl(['-OJ', '--output-dir', dir, url(RANGE)]);
      expect(r.code).toBe(0);
      expect(readdirSync(dir)).toEqual([expected]);
      expect(parseCsv(readFileSync(join(dir, expected), 'utf8'))).toHaveLength(1 + HTTP_READINGS + MQTT_READINGS);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  describe('refusals', () => {
    const refusal = async (target: string, headers: Record<string, string> = auth()) => {
      const res = await fetch(target, { headers });
      expect(res.headers.get('content-type')).toMatch(/^application\/json/);
      expect(res.headers.get('content-disposition')).toBeNull();
      return { status: res.status, body: (await res.json()) as { code: string; details?: { param?: string } } };
    };

    it('401 without an operator token, or with a device token; every operator role may export', async () => {
      expect(await refusal(url(RANGE), {})).toMatchObject({ status: 401, body: { code: ErrorCode.UNAUTHORIZED } });
      const r = await run('curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code}', url(RANGE)]);
      expect(r.stdout).toBe('401');
      const device = { authorization: `Bearer ${await gw.deviceToken(DEV)}` };
      expect(await refusal(url(RANGE), device)).toMatchObject({ status: 401, body: { code: ErrorCode.UNAUTHORIZED } });
      for (const token of [viewer, await gw.adminToken()]) {
        const res = await fetch(url(`${RANGE}&format=ndjson`), { headers: { authorization: `Bearer ${token}` } });
        expect(res.status).toBe(200);
        await res.arrayBuffer();
      }
    });

    it('403 from a browser origin that is not allowed', async () => {
      expect(await refusal(url(RANGE), { ...auth(), origin: 'https://evil.example' })).toMatchObject({
        status: 403,
        body: { code: ErrorCode.FORBIDDEN },
      });
    });

    it('404 for a device never seen, also with metric=', async () => {
      for (const q of [RANGE, `${RANGE}&metric=temp`])
        expect(await refusal(url(q, 'nobody-here'))).toMatchObject({
          status: 404,
          body: { code: ErrorCode.NOT_FOUND },
        });
    });

    it('400 with the code and the parameter at fault', async () => {
      expect(await refusal(url(RANGE, 'bad%20id'))).toMatchObject({
        status: 400,
        body: { code: ErrorCode.INVALID_DEVICE_ID },
      });
      const cases: [string, string][] = [
        ['format=xlsx', 'format'],
        [`${RANGE}&include=seq,colour`, 'include'],
        [`${RANGE}&include=seq&include=tags`, 'include'],
        [`${RANGE}&bucket=1m&include=seq`, 'include'],
        [`from=${T + 1000}&to=${T}`, 'from'],
        ['from=yesterday', 'from'],
        [`${RANGE}&bucket=fortnight`, 'bucket'],
        [`from=${T - 30 * 86_400_000}&to=${T}&bucket=1s`, 'bucket'],
        [`${RANGE}&agg=median`, 'agg'],
        [`${RANGE}&metric=9lives`, 'metric'],
        [`${RANGE}&bucket=1d&tz=Mars/Olympus`, 'tz'],
      ];
      for (const [q, param] of cases)
        expect({ q, ...(await refusal(url(q))) }).toMatchObject({
          q,
          status: 400,
          body: { code: ErrorCode.INVALID_REQUEST, details: { param } },
        });
    });
  });

  describe('store failures', () => {
    let store: TelemetryStore;
    let spy: jest.SpyInstance | undefined;
    beforeAll(() => {
      store = gw.app.get<TelemetryStore>(TELEMETRY_STORE);
    });
    afterEach(() => spy?.mockRestore());
    /** The store answers `good` pages, then fails. */
    const failAfter = (good: number) => {
      const real = store.since.bind(store);
      let calls = 0;
      spy = jest.spyOn(store, 'since').mockImplementation((...args) => {
        if (++calls > good) return Promise.reject(new Error('disk on fire'));
        return real(...args);
      });
    };

    it('before the first chunk: 503 STORE_UNAVAILABLE as JSON, no file', async () => {
      failAfter(0);
      const res = await fetch(url(RANGE), { headers: auth() });
      expect(res.status).toBe(503);
      expect(res.headers.get('content-type')).toMatch(/^application\/json/);
      expect(res.headers.get('content-disposition')).toBeNull();
      expect(await res.json()).toMatchObject({ code: ErrorCode.STORE_UNAVAILABLE });
    });

    it('HEAD answers with the headers without reading the store', async () => {
      failAfter(0);
      const head = await curl(['-I', url(RANGE)]);
      expect(head.stdout).toMatch(/^HTTP\/1\.1 200/);
      expect(head.stdout).toMatch(/content-disposition: attachment; filename="exp-1_\w+_\w+_raw\.csv"/i);
      expect(spy).not.toHaveBeenCalled();
    });

    it('mid-stream: the transfer is cut, which curl (exit 18) and fetch (body rejects) both report', async () => {
      failAfter(1);
      const r = await curl(['-o', '/dev/null', '-w', '%{http_code}', url(RANGE)]);
      expect(r.stdout).toBe('200');
      expect(r.code).toBe(18); // CURLE_PARTIAL_FILE: "transfer closed with outstanding read data remaining"
      spy!.mockRestore();
      failAfter(1);
      const res = await fetch(url(RANGE), { headers: auth() });
      expect(res.status).toBe(200);
      const reader = res.body!.getReader();
      let received = 0;
      const read = async (): Promise<void> => {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) return;
          received += value.length;
        }
      };
      await expect(read()).rejects.toThrow();
      expect(received).toBeGreaterThan(0);
      spy!.mockRestore();
      // The gateway is fine afterwards.
      const again = await fetch(url(`${RANGE}&format=ndjson`), { headers: auth() });
      expect(ndjson(await again.text())).toHaveLength(HTTP_READINGS + MQTT_READINGS);
    });
  });
});
