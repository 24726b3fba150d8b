import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { InfluxDB } from 'influx';
import { ErrorCode, LineProtocolPath } from '@fieldline/contracts';
import { type Operator, startGateway, type TestGateway, waitFor } from '../support';
import { points, run, storedPoints } from './tools';

/** Debian's influxdb-client (the 1.x `influx` shell): it pings, then writes line protocol to /write. */
const INFLUX_CLI = '/usr/bin/influx';
const ns = (ms: number): string => `${ms}000000`;

// Clients of InfluxDB's write API nobody here wrote (issue 11, item 3): the `influx` CLI, the npm `influx` library
// and curl with a gzip'd body, pointed at the gateway as at an InfluxDB. Each checks the documented answers (204,
// 400 naming the line, 401, 403, 413, 429 with Retry-After) and that the readings reach the store and the room.
describe('interop: InfluxDB clients write line protocol', () => {
  let gw: TestGateway;
  let op: Operator;
  let dir: string;
  beforeAll(async () => {
    // A small per-device budget (200/s, burst 50) so that the 429 case needs neither a large batch nor a long wait.
    // Configured for Telegraf: the device is its `host` tag.
    gw = await startGateway({ DEVICE_RATE: '200', DEVICE_BURST: '50', LINE_PROTOCOL_DEVICE_TAG: 'host' });
    op = await gw.operator();
    dir = mkdtempSync(join(tmpdir(), 'fieldline-lp-interop-'));
  });
  afterAll(async () => {
    op.close();
    await gw.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const stored = (deviceId: string, metric: string, n: number) => storedPoints(gw, deviceId, metric, n);

  describe('the influx CLI (influxdb-client)', () => {
    const cli = async (deviceId: string, password: string, statement: string, extra: string[] = []) =>
      run(INFLUX_CLI, [
        '-host',
        '127.0.0.1',
        '-port',
        String(gw.httpPort),
        '-username',
        deviceId,
        '-password',
        password,
        ...extra,
        '-execute',
        statement,
      ]);

    it('INSERT reaches the room and the store (ns by default, -precision s)', async () => {
      await op.subscribe('cli-1');
      const token = await gw.deviceToken('cli-1');
      const t = Date.now() - 30_000;
      const a = await cli('cli-1', token, `INSERT cpu,cpu=cpu0 usage_idle=97.5,cores=4i ${ns(t)}`);
      expect(a).toMatchObject({ code: 0, stderr: '' });
      const s = Math.floor(Date.now() / 1000) - 10;
      const b = await cli('cli-1', token, `INSERT cpu,cpu=cpu0 usage_idle=90 ${s}`, ['-precision', 's']);
      expect(b).toMatchObject({ code: 0, stderr: '' });
      await waitFor(() => op.of('cli-1').length === 2, 'both INSERTs in the room');
      expect(op.of('cli-1')[0]).toEqual({
        deviceId: 'cli-1',
        ts: t,
        metrics: { cpu_usage_idle: 97.5, cpu_cores: 4 },
        tags: { cpu: 'cpu0' },
      });
      expect(await stored('cli-1', 'cpu_usage_idle', 2)).toEqual([
        { ts: t, value: 97.5 },
        { ts: s * 1000, value: 90 },
      ]);
    });

    it('is told why a line is refused (400), a token is wrong (401) or the device is not its own (403)', async () => {
      const token = await gw.deviceToken('cli-2');
      const str = await cli('cli-2', token, 'INSERT valve state="open"');
      // The shell prints the answer's body after ERR: (and exits 0, as it does against InfluxDB).
      expect(str.stdout + str.stderr).toContain(
        'ERR: {"error":"partial write: line 1: field state is a string; Fieldline stores numbers',
      );
      const wrong = await cli('cli-2', 'fld_wrong', 'INSERT valve open=1');
      expect(wrong.stdout + wrong.stderr).toContain('ERR: {"error":"authorization failed: unknown token"');
      const other = await cli('cli-2', token, 'INSERT valve,host=cli-3 open=1');
      expect(other.stdout + other.stderr).toContain(
        'ERR: {"error":"partial write: line 1: this token belongs to device cli-2; it may not write for cli-3',
      );
      expect(await points(gw, 'cli-2', 'valve_open')).toEqual([]);
    });
  });

  describe('the npm influx library', () => {
    const client = async (deviceId: string, password?: string) =>
      new InfluxDB({
        host: '127.0.0.1',
        port: gw.httpPort,
        database: 'telegraf',
        username: deviceId,
        password: password ?? (await gw.deviceToken(deviceId)),
      });

    it('ping() sees an InfluxDB 1.x; writePoints() reaches the room and the store', async () => {
      await op.subscribe('lib-1');
      const influx = await client('lib-1');
      const [host] = await influx.ping(5000);
      expect(host).toMatchObject({ online: true, version: expect.stringMatching(/^1\.8/) });
      const t = Date.now() - 20_000;
      await influx.writePoints([
        { measurement: 'env', tags: { room: 'r1' }, fields: { temp: 21.5, open: true }, timestamp: new Date(t) },
        { measurement: 'env', tags: { room: 'r1' }, fields: { temp: 21.75, open: false }, timestamp: new Date(t + 1) },
      ]);
      await influx.writePoints([{ measurement: 'env', fields: { temp: 22 }, timestamp: t + 2 }], { precision: 'ms' });
      await waitFor(() => op.of('lib-1').length === 3, 'the points in the room');
      expect(op.of('lib-1')[0]).toEqual({
        deviceId: 'lib-1',
        ts: t,
        metrics: { env_temp: 21.5, env_open: 1 },
        tags: { room: 'r1' },
      });
      expect(await stored('lib-1', 'env_temp', 3)).toEqual([
        { ts: t, value: 21.5 },
        { ts: t + 1, value: 21.75 },
        { ts: t + 2, value: 22 },
      ]);
      // Telegraf's start-up statement through the library's own query call.
      await influx.createDatabase('telegraf');
    });

    it('rejects with the answer: 400 naming the line, 401, and 429 with Retry-After for an over-budget device', async () => {
      const influx = await client('lib-2');
      const t = Date.now() - 10_000;
      await expect(
        influx.writePoints([
          { measurement: 'm', fields: { v: 1 }, timestamp: new Date(t) },
          { measurement: 'm', fields: { label: 'x' }, timestamp: new Date(t + 1) },
        ]),
      ).rejects.toThrow(/400 Bad Request error occurred: .*line 2: field label is a string/);
      expect(await stored('lib-2', 'm_v', 1)).toEqual([{ ts: t, value: 1 }]);
      await expect(
        (await client('lib-2', 'fld_wrong')).writePoints([{ measurement: 'm', fields: { v: 1 } }]),
      ).rejects.toThrow(/401 Unauthorized error occurred: .*authorization failed: unknown token/);
      // Three times the burst passes once from a full bucket; the next batch waits.
      const many = Array.from({ length: 150 }, (_, i) => ({
        measurement: 'm',
        fields: { n: i },
        timestamp: new Date(t + 10 + i),
      }));
      await influx.writePoints(many);
      const err = await influx.writePoints([{ measurement: 'm', fields: { n: 999 } }]).then(
        () => null,
        (e: { res?: { statusCode?: number; headers?: Record<string, string> }; message: string }) => e,
      );
      expect(err?.res?.statusCode).toBe(429);
      expect(Number(err?.res?.headers?.['retry-after'])).toBeGreaterThanOrEqual(1);
      expect(err?.message).toContain(ErrorCode.RATE_LIMITED);
    });
  });

  describe('curl with a gzip body', () => {
    const curl = async (body: Buffer, auth: string, path: string, extra: string[] = []) => {
      const file = join(dir, `body-${Math.random().toString(36).slice(2)}.gz`);
      writeFileSync(file, body);
      const res = await run('curl', [
        '-s',
        '-i',
        '-X',
        'POST',
        '-H',
        'Content-Encoding: gzip',
        '-H',
        'Content-Type: text/plain; charset=utf-8',
        '-H',
        `Authorization: ${auth}`,
        ...extra,
        '--data-binary',
        `@${file}`,
        `${gw.url}${path}`,
      ]);
      // -i: status line and headers, a blank line, the body; first a `100 Continue` for a large body.
      const parts = res.stdout.split('\r\n\r\n');
      while (/^HTTP\/[\d.]+ 100 /.test(parts[0])) parts.shift();
      const [head, ...rest] = parts;
      const status = Number(/^HTTP\/[\d.]+ (\d+)/.exec(head)?.[1]);
      const retryAfter = /^retry-after: *(\S+)/im.exec(head)?.[1] ?? null;
      const text = rest.join('\r\n\r\n');
      return { status, retryAfter, body: text ? JSON.parse(text) : undefined, code: res.code };
    };

    it('a Telegraf-shaped batch (gzip, ns precision, 5,000 lines, host tag) is stored and fanned out', async () => {
      await op.subscribe('curl-lp-1');
      const token = await gw.deviceToken('curl-lp-1');
      // 1,000 gathers of 10 s (2.8 h, ending before now), each as Telegraf's cpu (totalcpu, percpu = false), mem,
      // system, disk and net inputs write it: five lines with one timestamp.
      const t = Date.now() - 3 * 3_600_000;
      const lines: string[] = [];
      for (let k = 0; k < 1000; k++) {
        const ts = ns(t + k * 10_000);
        lines.push(
          `cpu,cpu=cpu-total,host=curl-lp-1 usage_idle=${90 + (k % 10)},usage_user=${k % 7}.5 ${ts}`,
          `mem,host=curl-lp-1 used_percent=${40 + (k % 5)},available=${1000 + k}i ${ts}`,
          `system,host=curl-lp-1 load1=0.${k % 10},n_cpus=4i ${ts}`,
          `disk,device=sda1,fstype=ext4,host=curl-lp-1,mode=rw,path=/ used_percent=40.5,free=${5000 - k}i ${ts}`,
          `net,host=curl-lp-1,interface=eth0 bytes_recv=${k * 1500}i,bytes_sent=${k * 900}i ${ts}`,
        );
      }
      // The budget is 50 readings at once: a 5,000-line batch passes whole from a full bucket.
      const res = await curl(gzipSync(lines.join('\n')), `Token ${token}`, `${LineProtocolPath.writeV2}?precision=ns`);
      expect(res).toMatchObject({ code: 0, status: 204 });
      await waitFor(() => op.of('curl-lp-1').length === 5000, 'the batch in the room');
      expect(op.of('curl-lp-1').slice(0, 2)).toEqual([
        {
          deviceId: 'curl-lp-1',
          ts: t,
          metrics: { cpu_usage_idle: 90, cpu_usage_user: 0.5 },
          tags: { cpu: 'cpu-total' },
        },
        { deviceId: 'curl-lp-1', ts: t, metrics: { mem_used_percent: 40, mem_available: 1000 } },
      ]);
      const metrics = ['cpu_usage_idle', 'mem_available', 'system_n_cpus', 'disk_free', 'net_bytes_recv'];
      const counts = async (): Promise<number[]> => {
        const { status, body } = await gw.get(`/api/devices/curl-lp-1/readings?from=${t - 1000}&bucket=1d&agg=count`);
        if (status !== 200) throw new Error(`history: ${status}`);
        const series = body.series as { metric: string; points: { value: number }[] }[];
        return metrics.map((m) => series.find((s) => s.metric === m)?.points.reduce((n, p) => n + p.value, 0) ?? 0);
      };
      await waitFor(async () => (await counts()).every((n) => n === 1000), 'the 5,000 readings in the store');
      // The next batch is over the budget: 429, Retry-After, nothing stored.
      const next = await curl(
        gzipSync(`cpu,host=curl-lp-1 usage_idle=1 ${ns(t + 5000)}`),
        `Token ${token}`,
        LineProtocolPath.writeV2,
      );
      expect(next.status).toBe(429);
      expect(Number(next.retryAfter)).toBeGreaterThanOrEqual(1);
      expect(next.body).toMatchObject({ code: ErrorCode.RATE_LIMITED });
    });

    it('400 names the bad line; 401 for a wrong token', async () => {
      const token = await gw.deviceToken('curl-lp-2');
      const t = Date.now() - 1000;
      const bad = await curl(
        gzipSync(`m v=1 ${ns(t)}\nm v=1.5.5 ${ns(t + 1)}\n`),
        `Token ${token}`,
        LineProtocolPath.write,
      );
      expect(bad.status).toBe(400);
      expect(bad.body.error).toMatch(/^partial write: line 2: field v: invalid number 1\.5\.5 /);
      expect(await stored('curl-lp-2', 'm_v', 1)).toEqual([{ ts: t, value: 1 }]);
      const wrong = await curl(gzipSync('m v=1'), 'Token fld_wrong', LineProtocolPath.write);
      expect([wrong.status, wrong.body.code]).toEqual([401, ErrorCode.UNAUTHORIZED]);
    });

    it('a gzip bomb (1 MB that inflates to 1 GB) gets 413 without the gateway holding what it inflates', async () => {
      const token = await gw.deviceToken('curl-lp-3');
      // Concatenated gzip members are one valid gzip stream: 1,024 copies of 1 MB of zeros.
      const member = gzipSync(Buffer.alloc(1024 * 1024), { level: 9 });
      const bomb = Buffer.concat(Array.from({ length: 1024 }, () => member));
      expect(bomb.length).toBeLessThan(2 * 1024 * 1024);
      const rss0 = process.memoryUsage().rss;
      const res = await curl(bomb, `Token ${token}`, LineProtocolPath.write);
      expect(res.status).toBe(413);
      expect(res.body).toEqual({
        error: 'request body too large: at most 8388608 bytes (after gunzip); send smaller batches',
        code: ErrorCode.MESSAGE_TOO_LARGE,
      });
      // Inflating it whole would take a gigabyte; the limit stops it at 8 MB.
      expect(process.memoryUsage().rss - rss0).toBeLessThan(256 * 1024 * 1024);
    });
  });
});
