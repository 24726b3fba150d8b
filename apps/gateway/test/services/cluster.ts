/*
 * Gateway nodes as separate processes (the built `dist/apps/gateway/src/main.js`, as in production) on the service
 * suites' InfluxDB, Mosquitto and Redis. Credentials come from support.ts, so auth changes land in one place.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { InfluxDB } from 'influx';
import { AuthPath, Namespace, DevicesEvent, type DeviceSummary } from '@fieldline/contracts';
import { io, type Socket } from 'socket.io-client';
import { login, Operator, TEST_ADMIN_PASSWORD, testAuthEnv, waitFor, WsDevice } from '../support';
import { databaseUrl, ensureDatabase, serviceUrls, uniqueName } from './services';

export const MAIN = resolve(__dirname, '../../../../dist/apps/gateway/src/main.js');

/** One deployment: its own InfluxDB and PostgreSQL databases and Redis key prefix on the shared test services. */
export interface Cluster {
  database: string;
  redisPrefix: string;
  /** Environment every node of the cluster shares. */
  env: Record<string, string>;
  influx: InfluxDB;
}

export function newCluster(over: Record<string, string> = {}): Cluster {
  const urls = serviceUrls();
  const database = uniqueName('fl_cluster');
  const redisPrefix = uniqueName('flc');
  const u = new URL(urls.influx);
  return {
    database,
    redisPrefix,
    influx: new InfluxDB({ host: u.hostname, port: Number(u.port), database }),
    env: {
      MQTT_URL: urls.mqtt,
      INFLUX_URL: `${urls.influx}/${database}`,
      REDIS_URL: urls.redis,
      REDIS_KEY_PREFIX: redisPrefix,
      DATABASE_URL: databaseUrl(database),
      PRESENCE_TICK_MS: '100',
      // The simulator sends faster than a device's default limit.
      DEVICE_RATE: '0',
      ...over,
    },
  };
}

export interface GatewayNode {
  nodeId: string;
  url: string;
  child: ChildProcess;
  /** Everything the process printed. */
  output(): string;
  /** Resolves with the exit code (or signal) once the process is gone. */
  exited: Promise<number | string>;
  kill(signal: NodeJS.Signals): Promise<number | string>;
  adminToken(): Promise<string>;
  operator(): Promise<Operator>;
  /** A WebSocket ingest device registered on this node. */
  wsDevice(deviceId: string): Promise<WsDevice>;
  /** `name{labels}` → value from /metrics. */
  metrics(): Promise<Map<string, number>>;
  /** The first `snapshot` of `/devices`. */
  devicesSnapshot(): Promise<DeviceSummary[]>;
}

const running = new Set<GatewayNode>();

/** Starts `node dist/.../main.js` with the cluster's environment and `NODE_ID`; resolves once it serves HTTP. */
export async function startNode(
  cluster: Cluster,
  nodeId: string,
  env: Record<string, string> = {},
): Promise<GatewayNode> {
  if (!existsSync(MAIN)) throw new Error(`${MAIN} missing: npm test builds first (npm run build)`);
  const stateDb = { ...cluster.env, ...env }.DATABASE_URL;
  if (stateDb) await ensureDatabase(stateDb);
  const dataDir = mkdtempSync(join(tmpdir(), `fieldline-node-${nodeId}-`));
  const child = spawn(process.execPath, [MAIN], {
    env: {
      ...process.env,
      ...(await testAuthEnv()),
      PORT: '0',
      HOST: '127.0.0.1',
      DATA_DIR: dataDir,
      SIM_DEVICES: '0',
      LOG_LEVEL: 'log',
      NODE_ID: nodeId,
      ...cluster.env,
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | string>((r) =>
    child.once('exit', (code, signal) => {
      rmSync(dataDir, { recursive: true, force: true });
      r(code ?? signal ?? -1);
    }),
  );
  const port = await new Promise<string>((resolvePort, reject) => {
    const timer = setInterval(() => {
      const m = /http:\/\/[^:\s]+:(\d+)\/api\/devices/.exec(out);
      if (m) {
        clearInterval(timer);
        resolvePort(m[1]);
      } else if (child.exitCode !== null) {
        clearInterval(timer);
        reject(new Error(`node ${nodeId} exited at start:\n${out.slice(-3000)}`));
      }
    }, 20);
    setTimeout(() => {
      clearInterval(timer);
      reject(new Error(`node ${nodeId} did not start within 60 s:\n${out.slice(-3000)}`));
    }, 60_000).unref();
  });
  const url = `http://127.0.0.1:${port}`;
  let token: Promise<string> | null = null;
  const adminToken = (): Promise<string> =>
    (token ??= login(url, 'admin', TEST_ADMIN_PASSWORD).then(({ status, body }) => {
      if (status !== 200) throw new Error(`login at ${nodeId}: ${status} ${JSON.stringify(body)}`);
      return body.accessToken as string;
    }));
  const node: GatewayNode = {
    nodeId,
    url,
    child,
    output: () => out,
    exited,
    kill: (signal) => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
    adminToken,
    operator: async () => new Operator(url, { token: await adminToken() }).connected(),
    wsDevice: async (deviceId) => {
      const res = await fetch(url + AuthPath.devices, {
        method: 'POST',
        headers: { authorization: `Bearer ${await adminToken()}`, 'content-type': 'application/json' },
        body: JSON.stringify({ deviceId }),
      });
      const body = (await res.json()) as { token?: string };
      if (!res.ok || !body.token) throw new Error(`registering ${deviceId} at ${nodeId}: ${res.status}`);
      return WsDevice.connect(url, '', { token: body.token });
    },
    metrics: async () => {
      const res = await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${await adminToken()}` } });
      const text = await res.text();
      const m = new Map<string, number>();
      for (const line of text.split('\n')) {
        const hit = /^([a-z_]+(?:\{[^}]*\})?) (\S+)$/.exec(line);
        if (hit) m.set(hit[1], Number(hit[2]));
      }
      return m;
    },
    devicesSnapshot: async () => {
      const socket: Socket = io(url + Namespace.devices, {
        transports: ['websocket'],
        reconnection: false,
        auth: { token: await adminToken() },
      });
      try {
        return await new Promise<DeviceSummary[]>((res, rej) => {
          socket.once(DevicesEvent.snapshot, res);
          socket.once('connect_error', rej);
        });
      } finally {
        socket.disconnect();
      }
    },
  };
  running.add(node);
  void exited.then(() => running.delete(node));
  return node;
}

/** Kills every node still running (afterAll safety net). */
export async function killAll(): Promise<void> {
  await Promise.all([...running].map((n) => n.kill('SIGKILL')));
}

/** `[deviceId, seq]` of every reading stored for devices whose id starts with `prefix`, one entry per point. */
export async function storedSeqs(cluster: Cluster, prefix: string): Promise<[string, number][]> {
  const q = `SELECT "@seq" FROM "${cluster.database}"."fieldline"."readings" WHERE "device_id" =~ /^${prefix.replace(/[.-]/g, '\\$&')}/ GROUP BY "device_id"`;
  const res = (await cluster.influx.queryRaw(q, { precision: 'ms' })) as {
    results: { series?: { tags: { device_id: string }; values: [number, number | null][] }[] }[];
  };
  const out: [string, number][] = [];
  for (const s of res.results[0].series ?? []) for (const v of s.values) out.push([s.tags.device_id, v[1] ?? -1]);
  return out;
}

/** Waits until what `read` returns stops changing for `quietMs` (writes still settling), then returns it. */
export async function settled<T>(read: () => Promise<T>, quietMs = 2000, maxMs = 60_000): Promise<T> {
  let last = JSON.stringify(await read());
  let since = Date.now();
  const until = Date.now() + maxMs;
  for (;;) {
    await new Promise((r) => setTimeout(r, 250));
    const value = await read();
    const now = JSON.stringify(value);
    if (now !== last) {
      last = now;
      since = Date.now();
    } else if (Date.now() - since >= quietMs || Date.now() > until) return value;
  }
}

export { waitFor };
