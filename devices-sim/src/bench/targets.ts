import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { type Credentials, GatewayCredentials, NO_CREDENTIALS } from './auth';
import { Backoff } from '@fieldline/contracts';
import { type Child, freePort, httpGet, type Probe, repoRoot, sleep, startChild, waitUntil } from './procs';

/** What a system under test reports about readings it handled (whatever it counts). */
export interface TargetCounters {
  /** Readings accepted (gateway: validated and buffered; relay: received). */
  accepted?: number;
  /** Readings written to the store (gateway only). */
  stored?: number;
  /** Readings handed to operator rooms. */
  delivered?: number;
  /** Readings or messages refused. */
  rejected?: number;
  /** Readings waiting for the store (gateway only). */
  pending?: number;
}

export type TargetKind = 'gateway' | 'aedes' | 'mosquitto' | 'relay';

/** A process the harness sends load to: the gateway, or a baseline. */
export interface Target {
  kind: TargetKind;
  /** Short label in tables: `gateway`, `aedes`, `mosquitto`, `relay`. */
  label: string;
  pid: number;
  mqttUrl: string;
  /** HTTP base for WebSocket ingest and Socket.IO (gateway, relay); null for bare brokers. */
  httpUrl: string | null;
  credentials: Credentials;
  /** Event-loop delay and GC of a Node target (gateway, aedes, relay); null for Mosquitto. */
  probe: Probe | null;
  /** Null while the process runs; once it has exited, how (code or signal) and the last lines of its output. */
  exited(): string | null;
  counters(): Promise<TargetCounters>;
  stop(): Promise<void>;
}

function tcpReady(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = netConnect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

const nodeArgs = ['--max-old-space-size=4096'];

/** What a target's process decides for itself; the rest of a {@link Target} comes from its child process. */
interface TargetParts {
  httpUrl?: string;
  credentials?: Credentials;
  counters?: () => Promise<TargetCounters>;
  /** Default: SIGTERM with 5 s to exit. */
  stop?: () => Promise<void>;
}

function childTarget(kind: TargetKind, child: Child, mqttPort: number, o: TargetParts = {}): Target {
  return {
    kind,
    label: kind,
    pid: child.pid,
    probe: child.probe,
    exited: () => child.exited(),
    mqttUrl: `mqtt://127.0.0.1:${mqttPort}`,
    httpUrl: o.httpUrl ?? null,
    credentials: o.credentials ?? NO_CREDENTIALS,
    counters: o.counters ?? (() => Promise.resolve({})),
    stop: o.stop ?? (() => child.stop(5000)),
  };
}

/** Parses Prometheus text into sums per metric name (over all label sets). */
export function parsePrometheus(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const v = Number(m[3]);
    if (Number.isFinite(v)) out.set(m[1], (out.get(m[1]) ?? 0) + v);
  }
  return out;
}

export interface GatewayOptions {
  /** DATA_DIR; a fresh temporary directory (removed at stop) when absent. */
  dataDir?: string;
  /** Directory for `--cpu-prof` output; no profiling when absent. */
  profileDir?: string;
  /** Extra environment (e.g. LIVE_TICK_MS). */
  env?: Record<string, string>;
  startTimeoutMs?: number;
}

export type GatewayTarget = Target & { dataDir: string; credentials: GatewayCredentials };

/** Starts the built gateway (dist) as its own process in embedded mode on free loopback ports. */
export async function startGateway(o: GatewayOptions = {}): Promise<GatewayTarget> {
  const root = repoRoot();
  const main = join(root, 'dist', 'apps', 'gateway', 'src', 'main.js');
  const dataDir = o.dataDir ?? mkdtempSync(join(tmpdir(), 'fieldline-bench-'));
  const port = await freePort();
  const mqttPort = await freePort();
  const credentials = new GatewayCredentials();
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PORT: String(port),
    MQTT_PORT: String(mqttPort),
    HOST: '127.0.0.1',
    DATA_DIR: dataDir,
    SIM_DEVICES: '0',
    LOG_LEVEL: 'warn',
    ...credentials.gatewayEnv(),
    ...o.env,
  };
  // The bench measures embedded mode: production-mode variables from the caller's shell must not leak in.
  for (const v of [
    'MQTT_URL',
    'INFLUX_URL',
    'REDIS_URL',
    'DATABASE_URL',
    'STATE_FILE',
    ...GatewayCredentials.CLEARED_ENV,
  ])
    delete env[v];
  const args = [...nodeArgs];
  if (o.profileDir) {
    mkdirSync(o.profileDir, { recursive: true });
    args.push('--cpu-prof', '--cpu-prof-dir', o.profileDir);
  }
  args.push(main);
  const child = startChild('gateway', process.execPath, args, env, root, true);
  const httpUrl = `http://127.0.0.1:${port}`;
  await waitUntil(
    'the gateway to answer /health',
    async () => (await httpGet(`${httpUrl}/health`, 5000)).status === 200,
    o.startTimeoutMs ?? 120_000,
    child,
  );
  const target = childTarget('gateway', child, mqttPort, {
    httpUrl,
    counters: async () => {
      const res = await retry(async () => httpGet(`${httpUrl}/metrics`, 30_000, await credentials.headers(httpUrl)));
      const m = parsePrometheus(res.text);
      return {
        accepted: m.get('fieldline_readings_accepted_total') ?? 0,
        stored: m.get('fieldline_store_written_total') ?? 0,
        delivered: m.get('fieldline_live_readings_total') ?? 0,
        rejected: m.get('fieldline_rejected_total') ?? 0,
        pending: m.get('fieldline_write_buffer_pending') ?? 0,
      };
    },
    stop: async () => {
      // A graceful stop flushes the write buffer, and lets --cpu-prof write its profile.
      await child.stop(60_000);
      if (!o.dataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  });
  return { ...target, dataDir, credentials };
}

/** A busy target may drop a connection now and then: try a request three times before giving up. */
async function retry<T>(fn: () => Promise<T>, attempts = 3): Promise<T> {
  // The floor gives a target that is busy collecting garbage a moment, whatever the jitter draws.
  const backoff = new Backoff({ baseMs: 500, floorMs: 250 });
  for (let i = 1; ; i++) {
    try {
      return await fn();
    } catch (err) {
      if (i >= attempts) throw err;
      await sleep(backoff.next());
    }
  }
}

function benchScript(name: string): string {
  return join(__dirname, `${name}.js`);
}

/** The bare embedded broker: aedes, default options, in its own Node process (`broker.ts`). */
export async function startAedes(): Promise<Target> {
  const port = await freePort();
  const child = startChild(
    'aedes',
    process.execPath,
    [...nodeArgs, benchScript('broker')],
    { ...process.env, BENCH_MQTT_PORT: String(port) },
    repoRoot(),
    true,
  );
  await waitUntil('the aedes broker', () => tcpReady(port), 30_000, child);
  return childTarget('aedes', child, port);
}

/** True when a `mosquitto` binary is on the PATH. */
export function mosquittoAvailable(): boolean {
  return (process.env.PATH ?? '').split(delimiter).some((dir) => dir !== '' && existsSync(join(dir, 'mosquitto')));
}

/** Our own Mosquitto on a free loopback port with a throwaway config (the system one on 1883 is left alone). */
export async function startMosquitto(): Promise<Target> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'fieldline-bench-mosquitto-'));
  const conf = join(dir, 'mosquitto.conf');
  const lines = [`listener ${port} 127.0.0.1`, 'allow_anonymous true', 'persistence false', 'log_type error'];
  if (process.getuid?.() === 0) lines.push('user root');
  writeFileSync(conf, lines.join('\n') + '\n');
  const child = startChild('mosquitto', 'mosquitto', ['-c', conf], process.env, dir);
  await waitUntil('mosquitto', () => tcpReady(port), 10_000, child);
  return childTarget('mosquitto', child, port, {
    stop: async () => {
      await child.stop(5000);
      rmSync(dir, { recursive: true, force: true });
    },
  });
}

/** The bare relay (`relay.ts`): aedes + WebSocket ingest → Socket.IO rooms, no validation, no storage. */
export async function startRelay(tickMs: number): Promise<Target> {
  const port = await freePort();
  const mqttPort = await freePort();
  const child = startChild(
    'relay',
    process.execPath,
    [...nodeArgs, benchScript('relay')],
    { ...process.env, BENCH_HTTP_PORT: String(port), BENCH_MQTT_PORT: String(mqttPort), BENCH_TICK_MS: String(tickMs) },
    repoRoot(),
    true,
  );
  const httpUrl = `http://127.0.0.1:${port}`;
  await waitUntil(
    'the relay',
    async () => (await httpGet(`${httpUrl}/metrics`, 5000)).status === 200 && (await tcpReady(mqttPort)),
    30_000,
    child,
  );
  return childTarget('relay', child, mqttPort, {
    httpUrl,
    counters: async () => JSON.parse((await retry(() => httpGet(`${httpUrl}/metrics`))).text) as TargetCounters,
  });
}
