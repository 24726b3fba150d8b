import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import type { Server as HttpServer } from 'node:http';
import type { Socket as NetSocket } from 'node:net';
import { join, resolve } from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import { LIMITS, type Reading } from '@fieldline/contracts';
import { SensorModel, Simulator, type SimulatorOptions } from '../../../devices-sim/src';
import { DuckDbStore } from '../../gateway/src/storage/duckdb.store';
import type { TestGateway } from '../../gateway/test/support';

export const ROOT = resolve(__dirname, '../../..');
/** Screenshots and figures of a run (gitignored); representative screenshots are copied to docs/screenshots. */
export const ARTIFACTS = join(ROOT, 'test-artifacts', 'dashboard');
export const CHROMIUM = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';

/** The gateway serves `dist/dashboard/browser`: `npm test` builds it first; a bare `jest` run builds it here. */
export function ensureDashboardBuilt(): void {
  if (existsSync(join(ROOT, 'dist', 'dashboard', 'browser', 'index.html'))) return;
  execFileSync('npm', ['run', '--silent', 'build:dashboard'], { cwd: ROOT, stdio: 'inherit' });
}

export function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`no Chromium at ${CHROMIUM}: apt-get install chromium (or set CHROMIUM_PATH)`);
  }
  mkdirSync(ARTIFACTS, { recursive: true });
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--no-first-run',
    ],
  });
}

/**
 * Test gateways speak operator and device auth once it is in (login, device tokens); before that they have no such
 * helpers and no token is needed. The browser suite runs either way.
 */
interface AuthHelpers {
  operatorToken?: () => Promise<string>;
  deviceToken?: (deviceId: string) => Promise<string>;
}

export async function operatorToken(gw: TestGateway): Promise<string | null> {
  const auth = gw as unknown as AuthHelpers;
  return auth.operatorToken ? auth.operatorToken() : null;
}

export async function deviceTokens(gw: TestGateway, ids: string[]): Promise<Record<string, string> | undefined> {
  const auth = gw as unknown as AuthHelpers;
  if (!auth.deviceToken) return undefined;
  const out: Record<string, string> = {};
  for (const id of ids) out[id] = await auth.deviceToken(id);
  return out;
}

/**
 * Writes readings straight into the embedded store of `dataDir` (before the gateway opens it): history for the
 * charts, and devices that the fleet view lists from the moment the gateway starts.
 */
export async function seedStore(dataDir: string, readings: Iterable<Reading>, batch = 50_000): Promise<number> {
  const store = new DuckDbStore({ path: join(dataDir, 'fieldline.duckdb') });
  await store.init();
  let n = 0;
  let chunk: Reading[] = [];
  try {
    for (const r of readings) {
      chunk.push(r);
      if (chunk.length === batch) {
        await store.write(chunk);
        n += chunk.length;
        chunk = [];
      }
    }
    if (chunk.length) await store.write(chunk);
    return n + chunk.length;
  } finally {
    await store.close();
  }
}

/** Posts readings through the gateway's HTTP ingest, 500 per request, with each device's token when auth is on. */
export async function postHistory(
  gw: TestGateway,
  tokens: Record<string, string> | undefined,
  readings: Iterable<Reading>,
): Promise<number> {
  const byDevice = new Map<string, Reading[]>();
  for (const r of readings) byDevice.set(r.deviceId, [...(byDevice.get(r.deviceId) ?? []), r]);
  let n = 0;
  for (const [deviceId, list] of byDevice) {
    for (let i = 0; i < list.length; i += LIMITS.maxBatch) {
      const token = tokens?.[deviceId];
      const res = await fetch(`${gw.url}/api/devices/${deviceId}/readings`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
        body: JSON.stringify({ readings: list.slice(i, i + LIMITS.maxBatch) }),
      });
      if (res.status !== 202) throw new Error(`ingest ${deviceId}: ${res.status} ${await res.text()}`);
      n += Math.min(LIMITS.maxBatch, list.length - i);
    }
  }
  return n;
}

/** What the simulator's devices measured over `[from, to)`, every `everyMs` (same sensor models as the simulator). */
export function* simulatedHistory(ids: string[], from: number, to: number, everyMs: number): Generator<Reading> {
  for (const id of ids) {
    const model = new SensorModel(id, { seed: 1 });
    for (let ts = from; ts < to; ts += everyMs) yield { deviceId: id, ts, metrics: { ...model.sample(ts) } };
  }
}

/** Simulated devices speaking MQTT to the gateway, like real ones. */
export async function startSimulator(
  gw: TestGateway,
  options: SimulatorOptions & { ids: string[] },
): Promise<Simulator> {
  const sim = new Simulator({
    url: gw.url,
    mqttUrl: gw.mqttUrl ?? undefined,
    protocol: 'mqtt',
    tokens: await deviceTokens(gw, options.ids),
    ...options,
  });
  await sim.start();
  return sim;
}

/** A page on the gateway's origin, with the operator token in place and browser errors collected. */
export async function openPage(
  browser: Browser,
  url: string,
  token: string | null,
  viewport = { width: 1280, height: 800 },
): Promise<{ page: Page; errors: string[] }> {
  const context = await browser.newContext({ viewport, deviceScaleFactor: 1 });
  if (token !== null) await context.addInitScript((t) => localStorage.setItem('fieldline.token', t), token);
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(err.message));
  page.on('console', (msg) => {
    if (msg.type() === 'error') errors.push(msg.text());
  });
  await page.goto(url);
  return { page, errors };
}

/** Every TCP connection of the gateway's HTTP server from now on, so that a test can cut them (a network blip). */
export function trackConnections(gw: TestGateway): { cut(): number } {
  const sockets = new Set<NetSocket>();
  const server = gw.app.getHttpServer() as HttpServer;
  server.on('connection', (s: NetSocket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  return {
    cut: () => {
      const n = sockets.size;
      for (const s of sockets) s.destroy();
      return n;
    },
  };
}

/** The raw (not aggregated) timestamps the device view's chart holds for a metric. */
export function chartRawTimestamps(page: Page, metric: string): Promise<number[]> {
  return page.evaluate(
    (m) =>
      (
        globalThis as unknown as { __fieldline: { feed: { rawTimestamps(metric: string): number[] } } }
      ).__fieldline.feed.rawTimestamps(m),
    metric,
  );
}

/** Raw readings of a device in the store, `from <= ts < to`, straight from the REST API. */
export async function storedTimestamps(
  gw: TestGateway,
  token: string | null,
  deviceId: string,
  metric: string,
  from: number,
  to: number,
): Promise<number[]> {
  const q = new URLSearchParams({ metric, from: String(from), to: String(to), bucket: 'raw', maxPoints: '10000' });
  const res = await fetch(`${gw.url}/api/devices/${deviceId}/readings?${q}`, {
    headers: token === null ? {} : { authorization: `Bearer ${token}` },
  });
  if (!res.ok) throw new Error(`history: ${res.status} ${await res.text()}`);
  const body = (await res.json()) as { series: { metric: string; points: { ts: number }[] }[] };
  return (body.series.find((s) => s.metric === metric)?.points ?? []).map((p) => p.ts);
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
