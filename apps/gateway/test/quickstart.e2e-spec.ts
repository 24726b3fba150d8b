import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { io, type Socket } from 'socket.io-client';
import WebSocket from 'ws';
import { INGEST_PATH, Namespace } from '@fieldline/contracts';
import { login, startGateway, TEST_ADMIN_PASSWORD, testAuthEnv, waitFor } from './support';

const ROOT = resolve(__dirname, '../../..');
const START = join(ROOT, 'scripts', 'start.js');
const MAIN = join(ROOT, 'dist', 'apps', 'gateway', 'src', 'main.js');

/**
 * From the signal to the last process gone. A bound, not a speed goal: the processes must end by themselves (the
 * bug this guards against left the gateway running for `ws`'s 30 s close timeout, and the simulator after it).
 */
const EXIT_BOUND_MS = 10_000;

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // A zombie (exited, not yet reaped by its parent) counts as gone.
  try {
    return !/^State:\s+Z/m.test(execFileSync('cat', [`/proc/${pid}/status`], { encoding: 'utf8' }));
  } catch {
    return false;
  }
};

const childrenOf = (pid: number): number[] => {
  try {
    return execFileSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' })
      .split('\n')
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
};

/** `npm start` (scripts/start.js) on ephemeral ports, with simulated devices, plus the clients that held it up. */
async function quickStart(dir: string): Promise<{
  start: ChildProcess;
  out: () => string;
  url: string;
  pids: number[];
  clients: { operator: Socket; ws: WebSocket };
}> {
  const start = spawn(process.execPath, [START], {
    env: {
      ...process.env,
      PORT: '0',
      MQTT_PORT: '0',
      HOST: '127.0.0.1',
      DATA_DIR: dir,
      SIM_DEVICES: '3',
      SIM_RATE: '20',
      ...(await testAuthEnv()),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
    // Its own process group, so that the test can send the group a SIGINT as a terminal's Ctrl-C does.
    detached: true,
  });
  let out = '';
  start.stdout.on('data', (d: Buffer) => (out += d.toString()));
  start.stderr.on('data', (d: Buffer) => (out += d.toString()));
  await waitFor(() => /started 3 simulated devices/.test(out), 'quick start to start its simulated devices', 20_000);
  const url = `http://127.0.0.1:${/:(\d+)\/api\/devices/.exec(out)![1]}`;
  const admin = (await login(url, 'admin', TEST_ADMIN_PASSWORD)).body.accessToken;
  // The simulated devices send: wait until the store has some of their readings.
  await waitFor(
    async () => {
      const res = await fetch(`${url}/api/devices/sim-001`, { headers: { authorization: `Bearer ${admin}` } });
      return res.ok && ((await res.json()) as { online: boolean }).online;
    },
    'a simulated device to be online',
    10_000,
  );
  // What made the gateway linger: an operator and a WebSocket device whose network is gone (they never answer the
  // close frame).
  const operator = io(url + Namespace.devices, {
    auth: { token: admin },
    transports: ['websocket'],
    reconnection: false,
  });
  await new Promise<void>((r) => operator.once('connect', () => r()));
  const res = await fetch(`${url}/api/devices`, {
    method: 'POST',
    headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
    body: JSON.stringify({ deviceId: 'qs-ws' }),
  });
  const { token } = (await res.json()) as { token: string };
  const ws = new WebSocket(url.replace('http', 'ws') + INGEST_PATH, { headers: { authorization: `Bearer ${token}` } });
  await new Promise<void>((r, j) => ws.once('open', () => r()).once('error', j));
  ws.on('error', () => {});
  for (const s of [(ws as any)._socket, (operator.io.engine.transport as any).ws._socket]) s.pause();
  const gateway = childrenOf(start.pid!);
  const pids = [start.pid!, ...gateway, ...gateway.flatMap(childrenOf)];
  expect(pids).toHaveLength(3); // start.js, the gateway, the simulator
  return { start, out: () => out, url, pids, clients: { operator, ws } };
}

/** Readings the gateway accepted over MQTT so far (`/metrics`). */
async function acceptedMqtt(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return Number(/^fieldline_readings_accepted_total\{transport="mqtt"\} (\d+)$/m.exec(text)![1]);
}

/** Readings stored for these devices, read by a gateway started on the same data dir. */
async function storedOf(dir: string, deviceIds: string[]): Promise<number> {
  const gw = await startGateway({}, dir);
  try {
    let n = 0;
    for (const id of deviceIds) {
      const { body } = await gw.get(`/api/devices/${id}/readings?bucket=raw&from=0&maxPoints=10000`);
      // One series per metric: count the readings of one of them.
      if (body.series.length) n += body.series[0].points.length;
    }
    return n;
  } finally {
    await gw.close();
  }
}

describe('quick start (npm start)', () => {
  let dir: string;
  beforeAll(() => expect(existsSync(MAIN)).toBe(true)); // `npm test` builds first
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'fieldline-quickstart-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  for (const how of ['SIGTERM to start.js', 'Ctrl-C (SIGINT to the process group)'] as const) {
    it(`${how}: start.js, the gateway and the simulator all exit, with the data flushed`, async () => {
      const qs = await quickStart(dir);
      let accepted = 0;
      try {
        accepted = await acceptedMqtt(qs.url);
        expect(accepted).toBeGreaterThan(0);
        const t0 = Date.now();
        const exited = new Promise<number | null>((r) => qs.start.once('exit', (code) => r(code)));
        if (how === 'SIGTERM to start.js') qs.start.kill('SIGTERM');
        else process.kill(-qs.start.pid!, 'SIGINT');
        await waitFor(() => qs.pids.every((pid) => !alive(pid)), 'every quick start process to exit', EXIT_BOUND_MS);
        expect(Date.now() - t0).toBeLessThan(EXIT_BOUND_MS);
        expect(await exited).toBe(0);
        expect(qs.out()).not.toMatch(/shutdown failed|did not finish|simulator exited/);
      } finally {
        for (const pid of qs.pids) if (alive(pid)) process.kill(pid, 'SIGKILL');
        qs.clients.operator.close();
        qs.clients.ws.terminate();
      }
      // Every reading accepted before the signal was stored (and those accepted during the drain too).
      expect(await storedOf(dir, ['sim-001', 'sim-002', 'sim-003'])).toBeGreaterThanOrEqual(accepted);
    }, 60_000);
  }
});
