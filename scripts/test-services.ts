/*
 * Throwaway InfluxDB 1.x, Mosquitto 2, Redis 7 and PostgreSQL for the service suites, each on free loopback ports
 * with its own temp dir, never the system's instances (a system Mosquitto on 1883, Redis on 6379 and PostgreSQL on
 * 5432 are left alone).
 *
 *   tsx scripts/test-services.ts            start all four, print their URLs as `export` lines, stop on Ctrl-C
 *   tsx scripts/test-services.ts --install  only install the missing packages (apt-get, as root)
 *
 * The jest `services` project calls {@link startTestServices} in its global setup (apps/gateway/test/services).
 * Fault tests start a server of their own that they stop and restart with {@link startRestartable}.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import {
  accessSync,
  chmodSync,
  chownSync,
  closeSync,
  constants,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { errorMessage } from '../libs/contracts/src/runtime';

/** The services and the apt package that brings each. */
const PACKAGES = [
  { bin: 'influxd', pkg: 'influxdb' },
  { bin: 'mosquitto', pkg: 'mosquitto' },
  { bin: 'redis-server', pkg: 'redis-server' },
  { bin: 'postgres', pkg: 'postgresql' },
] as const;

export type ServiceName = 'influxdb' | 'mosquitto' | 'redis' | 'postgres';

const ALL: ServiceName[] = ['influxdb', 'mosquitto', 'redis', 'postgres'];

export interface TestServices {
  /** `http://127.0.0.1:<port>` (no database: each suite picks its own). */
  influxUrl?: string;
  /** `mqtt://127.0.0.1:<port>`, anonymous, no persistence. */
  mqttUrl?: string;
  /** `redis://127.0.0.1:<port>`. */
  redisUrl?: string;
  /** `postgres://fieldline@127.0.0.1:<port>/postgres` (trust auth; each suite creates its own database). */
  postgresUrl?: string;
  /** Root of the services' temp dirs (configs, data, logs). */
  dir: string;
  /** Milliseconds from the call to all services answering. */
  startMs: number;
  /** Stops every service and removes the temp dir. Safe to call twice. */
  stop(): Promise<void>;
}

export interface StartOptions {
  /** Which services; default all four. */
  only?: ServiceName[];
  /** apt-get install missing packages (needs root). Default true. */
  install?: boolean;
  log?: (msg: string) => void;
}

/** Thrown when a service cannot be installed or started; the message says which and why. */
export class ServiceError extends Error {
  override name = 'ServiceError';
}

/** The newest PostgreSQL's bin dir (Debian keeps each major under /usr/lib/postgresql/<major>/bin), or null. */
function postgresBinDir(): string | null {
  let majors: string[];
  try {
    majors = readdirSync('/usr/lib/postgresql').filter((d) => /^\d+$/.test(d));
  } catch {
    return null;
  }
  for (const m of majors.sort((a, b) => Number(b) - Number(a))) {
    const dir = join('/usr/lib/postgresql', m, 'bin');
    if (['postgres', 'initdb'].every((b) => isExecutable(join(dir, b)))) return dir;
  }
  return null;
}

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Full path of an executable on PATH or in the sbin dirs (mosquitto lives in /usr/sbin), PostgreSQL's in its
 * versioned dir, or null.
 */
function which(bin: string): string | null {
  const pgDir = bin === 'postgres' || bin === 'initdb' ? postgresBinDir() : null;
  for (const dir of [...(pgDir ? [pgDir] : []), ...(process.env.PATH ?? '/usr/bin').split(':'), '/usr/sbin', '/sbin']) {
    try {
      accessSync(join(dir, bin), constants.X_OK);
      return join(dir, bin);
    } catch {
      // not here
    }
  }
  return null;
}

/** Installs the apt packages of the services whose binary is missing. Throws {@link ServiceError} when it cannot. */
export function ensureInstalled(names: ServiceName[] = ALL, log = console.log): void {
  const wanted = PACKAGES.filter((p) => names.includes(serviceOf(p.bin)));
  const missing = wanted.filter((p) => which(p.bin) === null).map((p) => p.pkg);
  if (missing.length === 0) return;
  if (process.getuid?.() !== 0 || which('apt-get') === null) {
    throw new ServiceError(
      `missing ${missing.join(', ')}; install with: sudo apt-get install -y ${missing.join(' ')} (not root here)`,
    );
  }
  log(`test services: apt-get install -y ${missing.join(' ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  try {
    execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
    execFileSync('apt-get', ['install', '-y', '-qq', ...missing], { stdio: 'inherit', env });
  } catch (err) {
    throw new ServiceError(`apt-get install ${missing.join(' ')} failed: ${errorMessage(err)}`);
  }
  const still = wanted.filter((p) => which(p.bin) === null).map((p) => p.bin);
  if (still.length) throw new ServiceError(`installed, but ${still.join(', ')} not found on PATH`);
}

function serviceOf(bin: string): ServiceName {
  return bin === 'influxd' ? 'influxdb' : bin === 'mosquitto' ? 'mosquitto' : bin === 'postgres' ? 'postgres' : 'redis';
}

/** A port nobody listens on right now (bound and released by the kernel's choice). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until(what: string, check: () => Promise<boolean>, child: ChildProcess, logFile: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new ServiceError(`${what} exited at start (${child.exitCode ?? child.signalCode}):\n${tail(logFile)}`);
    }
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) throw new ServiceError(`${what} did not answer within 30 s:\n${tail(logFile)}`);
    await sleep(25);
  }
}

function tail(file: string): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-15).join('\n');
  } catch {
    return '(no log)';
  }
}

/** Sends `send` on a TCP connection and resolves true when the answer starts with `expect`. */
function tcpProbe(port: number, send: Buffer | string, expect: (data: Buffer) => boolean): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = createConnection({ port, host: '127.0.0.1' });
    const done = (ok: boolean): void => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(1000, () => done(false));
    sock.once('error', () => done(false));
    sock.once('connect', () => sock.write(send));
    sock.once('data', (d) => done(expect(d)));
  });
}

/** MQTT 3.1.1 CONNECT (clean session, client id "probe"): a broker answers CONNACK (0x20). */
const MQTT_CONNECT = Buffer.from([
  0x10, 0x11, 0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x04, 0x02, 0x00, 0x0a, 0x00, 0x05, 0x70, 0x72, 0x6f, 0x62, 0x65,
]);

interface Running {
  name: string;
  child: ChildProcess;
  /** What stops it promptly (PostgreSQL's SIGTERM waits for every client to leave; SIGINT does not). */
  stopSignal?: NodeJS.Signals;
}

function launch(
  name: string,
  bin: string,
  args: string[],
  logFile: string,
  user?: { uid: number; gid: number },
): Running {
  const fd = openSync(logFile, 'a');
  const child = spawn(which(bin) ?? bin, args, { stdio: ['ignore', fd, fd], ...user });
  closeSync(fd);
  child.on('error', () => undefined); // reported through exitCode in `until`
  return { name, child };
}

async function startInflux(
  dir: string,
  ports?: { http: number; rpc: number },
): Promise<{ url: string; proc: Running; ports: { http: number; rpc: number } }> {
  const [http, rpc] = ports ? [ports.http, ports.rpc] : [await freePort(), await freePort()];
  const conf = join(dir, 'influxdb.conf');
  mkdirSync(join(dir, 'influxdb'), { recursive: true });
  const d = join(dir, 'influxdb');
  writeFileSync(
    conf,
    `reporting-enabled = false
bind-address = "127.0.0.1:${rpc}"
[meta]
  dir = "${d}/meta"
[data]
  dir = "${d}/data"
  wal-dir = "${d}/wal"
  query-log-enabled = false
[monitor]
  store-enabled = false
[subscriber]
  enabled = false
[http]
  bind-address = "127.0.0.1:${http}"
  log-enabled = false
[logging]
  level = "warn"
  suppress-logo = true
[ifql]
  enabled = false
`,
  );
  const log = join(dir, 'influxdb.log');
  const proc = launch('influxdb', 'influxd', ['run', '-config', conf], log);
  const url = `http://127.0.0.1:${http}`;
  await until('influxd', async () => (await fetch(`${url}/ping`)).status === 204, proc.child, log);
  return { url, proc, ports: { http, rpc } };
}

async function startMosquitto(
  dir: string,
  fixedPort?: number,
  extraConf: string[] = [],
): Promise<{ url: string; proc: Running; port: number }> {
  const port = fixedPort ?? (await freePort());
  const conf = join(dir, 'mosquitto.conf');
  const log = join(dir, 'mosquitto.log');
  writeFileSync(
    conf,
    [
      `listener ${port} 127.0.0.1`,
      'allow_anonymous true',
      'persistence false',
      // A dead gateway node's session keeps its share of messages until a peer drains it: queue, never drop.
      'max_queued_messages 0',
      `log_dest file ${log}`,
      'log_type error',
      'log_type warning',
      ...(process.getuid?.() === 0 ? ['user root'] : []),
      ...extraConf,
      '',
    ].join('\n'),
  );
  const proc = launch('mosquitto', 'mosquitto', ['-c', conf], log);
  await until('mosquitto', () => tcpProbe(port, MQTT_CONNECT, (b) => b[0] === 0x20), proc.child, log);
  return { url: `mqtt://127.0.0.1:${port}`, proc, port };
}

async function startRedis(dir: string, again?: number): Promise<{ url: string; proc: Running; port: number }> {
  const port = again ?? (await freePort());
  const d = join(dir, 'redis');
  mkdirSync(d, { recursive: true });
  const log = join(dir, 'redis.log');
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', d];
  const proc = launch('redis', 'redis-server', [...args, '--logfile', log, '--loglevel', 'warning'], log);
  await until(
    'redis-server',
    () => tcpProbe(port, 'PING\r\n', (b) => b.toString().startsWith('+PONG')),
    proc.child,
    log,
  );
  return { url: `redis://127.0.0.1:${port}`, proc, port };
}

/**
 * PostgreSQL refuses to run as root: as root, initdb and postgres run as the `postgres` OS user (Debian's package
 * creates it), spawned with its uid so that the child is postgres itself and a kill reaches it.
 */
function postgresUser(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  try {
    const [uid, gid] = ['-u', '-g'].map((f) =>
      Number(execFileSync('id', [f, 'postgres'], { encoding: 'utf8' }).trim()),
    );
    return { uid, gid };
  } catch {
    throw new ServiceError('running as root, but there is no postgres OS user to run PostgreSQL as');
  }
}

async function startPostgres(dir: string, again?: number): Promise<{ url: string; proc: Running; port: number }> {
  const port = again ?? (await freePort());
  const d = join(dir, 'postgres');
  mkdirSync(d, { recursive: true });
  const user = postgresUser();
  if (user) {
    // mkdtemp made the services' dir 0700 for root: postgres must pass through it to reach its own.
    chmodSync(dir, 0o711);
    chownSync(d, user.uid, user.gid);
  }
  const log = join(dir, 'postgres.log');
  if (again === undefined) writeFileSync(log, '');
  if (user) chownSync(log, user.uid, user.gid);
  // A restart (fault tests) keeps its data: initdb only the first time.
  if (again === undefined)
    try {
      execFileSync(
        which('initdb') ?? 'initdb',
        ['-D', join(d, 'data'), '-A', 'trust', '-U', 'fieldline', '-E', 'UTF8', '--no-sync'],
        {
          stdio: ['ignore', 'pipe', 'pipe'],
          cwd: d,
          ...user,
        },
      );
    } catch (err) {
      const e = err as { stderr?: Buffer };
      throw new ServiceError(`initdb failed: ${errorMessage(err)}\n${e.stderr?.toString() ?? ''}`);
    }
  const settings = {
    listen_addresses: '127.0.0.1',
    unix_socket_directories: d,
    fsync: 'off',
    synchronous_commit: 'off',
    full_page_writes: 'off',
    max_connections: '200',
  };
  const args = [
    '-D',
    join(d, 'data'),
    '-p',
    String(port),
    ...Object.entries(settings).flatMap(([k, v]) => ['-c', `${k}=${v}`]),
  ];
  const proc: Running = { ...launch('postgres', 'postgres', args, log, user), stopSignal: 'SIGINT' };
  const url = `postgres://fieldline@127.0.0.1:${port}/postgres`;
  await until(
    'postgres',
    async () => {
      const c = new Client({ connectionString: url, connectionTimeoutMillis: 1000 });
      try {
        await c.connect();
        await c.query('select 1');
        return true;
      } finally {
        await c.end().catch(() => undefined);
      }
    },
    proc.child,
    log,
  );
  return { url, proc, port };
}

async function stopAll(procs: Running[]): Promise<void> {
  await Promise.all(
    procs.map(
      ({ child, stopSignal }) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          const kill = setTimeout(() => child.kill('SIGKILL'), 5000);
          child.once('exit', () => {
            clearTimeout(kill);
            resolve();
          });
          child.kill(stopSignal ?? 'SIGTERM');
        }),
    ),
  );
}

/** Installs what is missing (unless told not to), then starts the services. */
export async function startTestServices(opts: StartOptions = {}): Promise<TestServices> {
  const names = opts.only ?? ALL;
  const log = opts.log ?? console.log;
  if (opts.install !== false) ensureInstalled(names, log);
  else {
    const missing = PACKAGES.filter((p) => names.includes(serviceOf(p.bin)) && which(p.bin) === null);
    if (missing.length) throw new ServiceError(`missing ${missing.map((p) => p.pkg).join(', ')}`);
  }
  const started = performance.now();
  const dir = mkdtempSync(join(tmpdir(), 'fieldline-services-'));
  const procs: Running[] = [];
  // A crashed test run must not leave servers behind: kill them synchronously when this process exits.
  const onExit = (): void => procs.forEach((p) => p.child.kill('SIGKILL'));
  process.once('exit', onExit);
  const out: Omit<TestServices, 'stop' | 'startMs'> = { dir };
  try {
    const tasks: Promise<void>[] = [];
    if (names.includes('influxdb'))
      tasks.push(startInflux(dir).then(({ url, proc }) => void ((out.influxUrl = url), procs.push(proc))));
    if (names.includes('mosquitto'))
      tasks.push(startMosquitto(dir).then(({ url, proc }) => void ((out.mqttUrl = url), procs.push(proc))));
    if (names.includes('redis'))
      tasks.push(startRedis(dir).then(({ url, proc }) => void ((out.redisUrl = url), procs.push(proc))));
    if (names.includes('postgres'))
      tasks.push(startPostgres(dir).then(({ url, proc }) => void ((out.postgresUrl = url), procs.push(proc))));
    const results = await Promise.allSettled(tasks);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  } catch (err) {
    await stopAll(procs);
    process.off('exit', onExit);
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  let stopping: Promise<void> | null = null;
  return {
    ...out,
    startMs: Math.round(performance.now() - started),
    stop: () =>
      (stopping ??= stopAll(procs).then(() => {
        process.off('exit', onExit);
        rmSync(dir, { recursive: true, force: true });
      })),
  };
}

/** One server of its own that a fault test stops and starts again, on the same port and with the same data dir. */
export interface RestartableService {
  readonly url: string;
  /** Its temp dir (config, data, log). */
  readonly dir: string;
  readonly running: boolean;
  /** Pid of the running process (null when stopped). */
  readonly pid: number | null;
  /** SIGTERM (default, waits for the exit; SIGKILL after 10 s) or SIGKILL. */
  stop(signal?: 'SIGTERM' | 'SIGKILL'): Promise<void>;
  /** Starts it again on the same port and data; resolves once it answers. */
  start(): Promise<void>;
  /** Stops it and removes its dir. Safe to call twice. */
  remove(): Promise<void>;
}

/**
 * Starts a dedicated InfluxDB, Mosquitto, PostgreSQL or Redis (not the suites' shared ones) for a test that stops and
 * restarts it. `mosquittoConf`: extra lines for the Mosquitto config. PostgreSQL keeps its data across restarts;
 * Redis, started as the suites start it (no persistence), comes back empty.
 */
export async function startRestartable(
  name: 'influxdb' | 'mosquitto' | 'postgres' | 'redis',
  opts: { mosquittoConf?: string[] } = {},
): Promise<RestartableService> {
  const dir = mkdtempSync(join(tmpdir(), `fieldline-${name}-`));
  let proc: Running | null = null;
  const onExit = (): void => void proc?.child.kill('SIGKILL');
  process.once('exit', onExit);
  let launch: () => Promise<string>;
  if (name === 'influxdb') {
    let ports: { http: number; rpc: number } | undefined;
    launch = async () => {
      const r = await startInflux(dir, ports);
      ports = r.ports;
      proc = r.proc;
      return r.url;
    };
  } else {
    // Again on the port of the first start, so that the URL the test handed out stays right.
    const starts = {
      postgres: (p?: number) => startPostgres(dir, p),
      redis: (p?: number) => startRedis(dir, p),
      mosquitto: (p?: number) => startMosquitto(dir, p, opts.mosquittoConf),
    };
    let port: number | undefined;
    launch = async () => {
      const r = await starts[name](port);
      port = r.port;
      proc = r.proc;
      return r.url;
    };
  }
  let url: string;
  try {
    url = await launch();
  } catch (err) {
    await stopAll(proc ? [proc] : []);
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const stop = async (signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM'): Promise<void> => {
    const p = proc;
    proc = null;
    if (!p) return;
    if (signal === 'SIGKILL') p.child.kill('SIGKILL');
    await stopAll([p]);
  };
  let removed: Promise<void> | null = null;
  return {
    url,
    dir,
    get running() {
      return proc !== null;
    },
    get pid() {
      return proc?.child.pid ?? null;
    },
    stop,
    start: async () => {
      if (proc) return;
      await launch();
    },
    remove: () =>
      (removed ??= stop('SIGKILL').then(() => {
        process.off('exit', onExit);
        rmSync(dir, { recursive: true, force: true });
      })),
  };
}

async function cli(): Promise<void> {
  if (process.argv.includes('--install')) {
    ensureInstalled();
    return;
  }
  const s = await startTestServices();
  console.log(`# started in ${s.startMs} ms (temp dir ${s.dir}); Ctrl-C stops them`);
  console.log(`export INFLUX_URL=${s.influxUrl}/fieldline`);
  console.log(`export MQTT_URL=${s.mqttUrl}`);
  console.log(`export REDIS_URL=${s.redisUrl}`);
  console.log(`export DATABASE_URL=${s.postgresUrl}`);
  const stop = (): void => void s.stop().then(() => process.exit(0));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  setInterval(() => undefined, 1 << 30);
}

if (require.main === module) {
  cli().catch((err: unknown) => {
    console.error(`test services: ${errorMessage(err)}`);
    process.exit(1);
  });
}
