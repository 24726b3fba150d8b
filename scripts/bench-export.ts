/*
 * Memory of a streamed history export: does a month of 1 Hz data leave the gateway without sitting in its memory?
 *
 *   npx nest build gateway && npx tsx scripts/bench-export.ts [--points 2592000]
 *
 * Loads `points` readings (default one month of 1 Hz, one metric, one device) into a DuckDB file through the store's
 * own write path, starts the built gateway on that DATA_DIR, then streams the CSV export of the first tenth and of the
 * whole range over HTTP with curl (its output counted and dropped). While each runs, the gateway's RSS is read from
 * /proc every 100 ms and its V8 heap is reported by the gateway itself every 100 ms (a preloaded sampler, over IPC).
 * Prints figures; asserts nothing.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { exportPath, type Reading } from '@fieldline/contracts';
import { DuckDbStore } from '../apps/gateway/src/storage/duckdb.store';
import { freePort } from './test-services';

const arg = (name: string, def: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : def;
};
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const MB = 1024 * 1024;
const mb = (bytes: number): string => (bytes / MB).toFixed(0);

const DEVICE = 'bench-1';
/** 2026-11-01T00:00:00Z: November has 30 days, 2 592 000 seconds. */
const T0 = Date.UTC(2026, 10, 1);
const WRITE_BATCH = 50_000;

/** Preloaded into the gateway: reports its own memory every 100 ms without keeping it alive. */
const SAMPLER = `
const t = setInterval(() => {
  const m = process.memoryUsage();
  process.send && process.send({ heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external });
}, 100);
t.unref();
process.channel && process.channel.unref();
`;

async function load(path: string, points: number): Promise<void> {
  const store = new DuckDbStore({ path });
  await store.init();
  const started = performance.now();
  for (let i = 0; i < points; i += WRITE_BATCH) {
    const batch: Reading[] = [];
    for (let k = i; k < Math.min(points, i + WRITE_BATCH); k++)
      batch.push({ deviceId: DEVICE, ts: T0 + k * 1000, seq: k, metrics: { temp: 20 + Math.sin(k / 600) * 5 } });
    await store.write(batch);
  }
  await store.close();
  const s = (performance.now() - started) / 1000;
  console.log(`loaded ${points} points through DuckDbStore.write in ${s.toFixed(1)} s (${Math.round(points / s)}/s)`);
}

const rssOf = (pid: number): number => {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : NaN;
};

/** Memory samples of the gateway while `during` runs: RSS from /proc, heap from the gateway's own reports. */
async function sampled<T>(
  child: ChildProcess,
  during: () => Promise<T>,
): Promise<{ result: T; rssPeak: number; heapPeak: number }> {
  let rssPeak = 0;
  let heapPeak = 0;
  const onHeap = (m: { heapUsed: number }): void => void (heapPeak = Math.max(heapPeak, m.heapUsed));
  child.on('message', onHeap);
  const timer = setInterval(() => (rssPeak = Math.max(rssPeak, rssOf(child.pid!))), 100);
  try {
    const result = await during();
    return { result, rssPeak: Math.max(rssPeak, rssOf(child.pid!)), heapPeak };
  } finally {
    clearInterval(timer);
    child.off('message', onHeap);
  }
}

/** The gateway's RSS and heap at rest: the last of a second of samples. */
async function atRest(child: ChildProcess): Promise<{ rss: number; heap: number }> {
  let heap = NaN;
  const onHeap = (m: { heapUsed: number }): void => void (heap = m.heapUsed);
  child.on('message', onHeap);
  await sleep(1000);
  child.off('message', onHeap);
  return { rss: rssOf(child.pid!), heap };
}

/** curl streams the export; its output is counted here and dropped. */
function curlExport(url: string, token: string): Promise<{ bytes: number; lines: number; seconds: number }> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const curl = spawn('curl', ['-sS', '--fail', '-H', `Authorization: Bearer ${token}`, url], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let bytes = 0;
    let lines = 0;
    curl.stdout.on('data', (d: Buffer) => {
      bytes += d.length;
      for (let i = d.indexOf(10); i >= 0; i = d.indexOf(10, i + 1)) lines++;
    });
    curl.once('error', reject);
    curl.once('exit', (code) =>
      code === 0
        ? resolve({ bytes, lines, seconds: (performance.now() - started) / 1000 })
        : reject(new Error(`curl exited ${code}`)),
    );
  });
}

async function main(): Promise<void> {
  const points = arg('points', 30 * 86_400);
  const dir = mkdtempSync(join(tmpdir(), 'fieldline-bench-export-'));
  const sampler = join(dir, 'sampler.cjs');
  writeFileSync(sampler, SAMPLER);
  await load(join(dir, 'fieldline.duckdb'), points);

  const port = await freePort();
  const password = 'bench-password';
  const child = spawn(
    process.execPath,
    ['--require', sampler, resolve(__dirname, '../dist/apps/gateway/src/main.js')],
    {
      env: {
        ...process.env,
        PORT: String(port),
        MQTT_PORT: String(await freePort()),
        HOST: '127.0.0.1',
        DATA_DIR: dir,
        LOG_LEVEL: 'warn',
        JWT_SECRET: 'bench-secret-0123456789abcdefghijklmnopqrstuvwxyz',
        ADMIN_PASSWORD: password,
        SIM_DEVICES: '0',
      },
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    },
  );
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const base = `http://127.0.0.1:${port}`;
  try {
    for (let i = 0; ; i++) {
      if (child.exitCode !== null || i > 1200) throw new Error(`gateway did not start:\n${out}`);
      if ((await fetch(`${base}/health`).catch(() => null))?.status === 200) break;
      await sleep(50);
    }
    const login = await fetch(`${base}/api/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'admin', password }),
    });
    const { accessToken } = (await login.json()) as { accessToken: string };
    const url = (n: number): string => `${base}${exportPath(DEVICE)}?format=csv&from=${T0}&to=${T0 + n * 1000}`;
    // The first queries after opening pay DuckDB's checkpoint and the gateway's warm-up: keep them out of the figures.
    await curlExport(url(3600), accessToken);

    console.log(`node ${process.version}, gateway pid ${child.pid}, RSS sampled every 100 ms`);
    console.log(
      'points     rows       MB out   s      rows/s    RSS before  peak  after (MB)   heap before  peak (MB)',
    );
    for (const n of [Math.round(points / 10), points]) {
      const before = await atRest(child);
      const { result, rssPeak, heapPeak } = await sampled(child, () => curlExport(url(n), accessToken));
      const after = await atRest(child);
      const rows = result.lines - 1;
      console.log(
        [
          String(n).padEnd(10),
          String(rows).padEnd(10),
          (result.bytes / MB).toFixed(1).padEnd(8),
          result.seconds.toFixed(1).padEnd(6),
          String(Math.round(rows / result.seconds)).padEnd(9),
          `${mb(before.rss).padStart(10)}  ${mb(rssPeak).padStart(4)}  ${mb(after.rss).padStart(5)}`,
          `${mb(before.heap).padStart(17)}  ${mb(heapPeak).padStart(4)}`,
        ].join(' '),
      );
      if (rows !== n) console.log(`  (expected ${n} rows)`);
    }
  } finally {
    child.kill('SIGTERM');
    if (child.exitCode === null) await new Promise((r) => child.once('exit', r));
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
