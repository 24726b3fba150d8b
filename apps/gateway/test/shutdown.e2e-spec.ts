import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { login, postReadings, startGateway, TEST_ADMIN_PASSWORD, testAuthEnv, waitFor } from './support';

const MAIN = resolve(__dirname, '../../../dist/apps/gateway/src/main.js');

describe('shutdown', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'fieldline-shutdown-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('the built gateway flushes buffered readings on SIGTERM and exits 0', async () => {
    expect(existsSync(MAIN)).toBe(true); // `npm test` builds first
    const child = spawn(process.execPath, [MAIN], {
      env: {
        ...process.env,
        PORT: '0',
        MQTT_PORT: '0',
        HOST: '127.0.0.1',
        DATA_DIR: dir,
        SIM_DEVICES: '0',
        WRITE_FLUSH_MS: '60000',
        ...(await testAuthEnv()),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    await waitFor(
      () => /http:\/\/localhost:\d+|http:\/\/127\.0\.0\.1:\d+/.test(out),
      'the gateway to print its URL',
      15_000,
    );
    const url = `http://127.0.0.1:${/:(\d+)\/api\/devices/.exec(out)![1]}`;
    const readings = Array.from({ length: 250 }, (_, i) => ({
      ts: Date.now() - 10_000 + i,
      seq: i + 1,
      metrics: { t: i },
    }));
    const admin = (await login(url, 'admin', TEST_ADMIN_PASSWORD)).body.accessToken;
    const registered = await fetch(`${url}/api/devices`, {
      method: 'POST',
      headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
      body: JSON.stringify({ deviceId: 'term-1' }),
    });
    const { token } = (await registered.json()) as { token: string };
    expect((await postReadings(url, 'term-1', { readings }, token)).status).toBe(202);
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);

    const gw = await startGateway({}, dir);
    try {
      const { body } = await gw.get('/api/devices/term-1/readings?bucket=raw&from=0&maxPoints=1000');
      expect(body.series[0].points).toHaveLength(250);
      // Presence survives a restart: the device is known, offline, with its last values.
      expect((await gw.get('/api/devices/term-1')).body).toMatchObject({ online: false, latest: { t: 249 } });
      // So does the device registry: the token issued by the first run still works.
      expect((await postReadings(gw.url, 'term-1', { metrics: { t: 1 } }, token)).status).toBe(202);
    } finally {
      await gw.close();
    }
  }, 40_000);

  it('close() refuses new readings, then flushes everything accepted', async () => {
    const gw = await startGateway({ WRITE_FLUSH_MS: '60000' }, dir);
    expect((await gw.post('close-1', { seq: 1, metrics: { t: 1 } })).status).toBe(202);
    await gw.close();
    const again = await startGateway({}, dir);
    try {
      const { body } = await again.get('/api/devices/close-1/readings?bucket=raw&from=0');
      expect(body.series[0].points).toHaveLength(1);
    } finally {
      await again.close();
    }
  });
});
