import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import WebSocket from 'ws';
import { INGEST_PATH, type Reading } from '@fieldline/contracts';
import { startGateway, type TestGateway } from '../../gateway/test/support';
import {
  ARTIFACTS,
  deviceTokens,
  ensureDashboardBuilt,
  launchChromium,
  openPage,
  operatorToken,
  seedStore,
  sleep,
} from './support';

jest.setTimeout(900_000);

const DAY = 86_400_000;
const METRICS = ['pressure', 'flow', 'temperature', 'vibration'];
const WEEK_DEVICE = 'bench-7d';
const FAST_DEVICE = 'bench-10hz';

/** A plausible signal per metric: a daily cycle plus noise. */
function values(ts: number, i: number): Record<string, number> {
  const day = Math.sin((2 * Math.PI * (ts % DAY)) / DAY);
  const noise = Math.sin(i * 12.9898) * 43758.5453;
  const n = noise - Math.floor(noise) - 0.5;
  return {
    pressure: 1013 + 6 * day + 2 * n,
    flow: 40 + 15 * day + 6 * n,
    temperature: 21 + 4 * day + n,
    vibration: 0.3 + 0.1 * Math.abs(day) + 0.2 * n * n,
  };
}

function* readings(deviceId: string, from: number, to: number, everyMs: number): Generator<Reading> {
  let seq = 0;
  for (let ts = from; ts < to; ts += everyMs) yield { deviceId, ts, seq: ++seq, metrics: values(ts, seq) };
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const round = (x: number): number => Math.round(x * 10) / 10;

/** Resolves (in the page) once all four charts show a window that starts before `firstBefore`. */
const chartsShowing = (firstBefore: number): boolean => {
  const charts = [...document.querySelectorAll('fl-chart')];
  return (
    charts.length === 4 &&
    charts.every(
      (c) => Number(c.getAttribute('data-first')) <= firstBefore && Number(c.getAttribute('data-points')) > 50,
    )
  );
};

describe('dashboard benchmark', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'fieldline-bench-'));
  const figures: Record<string, unknown> = {};
  let gw: TestGateway;
  let browser: Browser;
  let token: string | null;
  let now: number;

  beforeAll(async () => {
    ensureDashboardBuilt();
    now = Date.now();
    const t0 = performance.now();
    const week = await seedStore(dataDir, readings(WEEK_DEVICE, now - 7 * DAY, now, 1000));
    await seedStore(dataDir, readings(FAST_DEVICE, now - 5 * 60_000, now, 100));
    figures['seeded'] = {
      device: WEEK_DEVICE,
      readings: week,
      metrics: METRICS.length,
      seconds: round((performance.now() - t0) / 1000),
    };
    gw = await startGateway({}, dataDir);
    token = await operatorToken(gw);
    browser = await launchChromium();
  });

  afterAll(async () => {
    writeFileSync(join(ARTIFACTS, 'bench.json'), JSON.stringify(figures, null, 2) + '\n');
    console.log(`dashboard benchmark (${ARTIFACTS}/bench.json)\n${JSON.stringify(figures, null, 2)}`);
    await browser?.close();
    await gw?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('renders a 7-day history of one device at 1 Hz, aggregated by the server', async () => {
    const weekAgo = now - 6.9 * DAY;
    // Cold: a fresh page straight onto the 7-day range; the store's first query also pays DuckDB's checkpoint.
    const { page } = await openPage(browser, `${gw.url}/devices/${WEEK_DEVICE}?range=7d`, token);
    await page.waitForFunction(chartsShowing, weekAgo, { polling: 'raf', timeout: 120_000 });
    const cold = await page.evaluate(() => performance.now());

    // Warm: switch from the live 5-minute view to 7 days, five times.
    const switches: number[] = [];
    const requests: { ms: number; bytes: number }[] = [];
    for (let i = 0; i < 5; i++) {
      await page.click('[data-range="5m"]');
      await page.waitForFunction(chartsShowing, Date.now() + DAY, { polling: 'raf' });
      await sleep(300);
      switches.push(await timeSwitch(page, weekAgo));
      requests.push(await lastHistoryRequest(page));
    }
    await page.screenshot({ path: join(ARTIFACTS, 'device-7d.png') });
    const points = await page.$$eval('fl-chart', (els) => els.map((e) => Number(e.getAttribute('data-points'))));
    const summary = await page.textContent('.summary');

    // The same request from Node: what the gateway and the store take, without the browser.
    const server: number[] = [];
    const url = await page.evaluate(() => {
      const entries = performance.getEntriesByType('resource').filter((e) => e.name.includes('/readings?'));
      return entries[entries.length - 1].name;
    });
    for (let i = 0; i < 5; i++) {
      const t0 = performance.now();
      const res = await fetch(url, { headers: token === null ? {} : { authorization: `Bearer ${token}` } });
      await res.arrayBuffer();
      server.push(performance.now() - t0);
    }
    figures['sevenDays'] = {
      coldPageLoadMs: round(cold),
      rangeSwitchMs: {
        median: round(median(switches)),
        min: round(Math.min(...switches)),
        max: round(Math.max(...switches)),
      },
      historyRequestInBrowserMs: round(median(requests.map((r) => r.ms))),
      historyResponseBytes: requests[0].bytes,
      historyRequestFromNodeMs: round(median(server)),
      pointsPerChart: points,
      summary,
    };
    expect(points.every((n) => n > 100)).toBe(true);
  });

  it('keeps up with 4 metrics at 10 readings/s on the device view', async () => {
    // The ceiling on this machine: the same page with nothing arriving (the 7-day device has no live readings).
    const idle = await openPage(browser, `${gw.url}/devices/${WEEK_DEVICE}?range=5m`, token);
    await sleep(3000);
    figures['idleDeviceView'] = await measureFrames(idle.page, 10_000);
    await idle.page.close();

    const tokens = await deviceTokens(gw, [FAST_DEVICE]);
    const sender = await startSender(gw, FAST_DEVICE, 10, tokens?.[FAST_DEVICE]);
    try {
      const { page } = await openPage(browser, `${gw.url}/devices/${FAST_DEVICE}?range=5m`, token);
      await page.waitForFunction(chartsShowing, Date.now(), { polling: 'raf', timeout: 60_000 });
      await sleep(3000);
      figures['tenHz5m'] = { ...(await measureFrames(page, 10_000)), sent: sender.sent() };
      await page.click('[data-range="1h"]');
      await page.waitForFunction(chartsShowing, Date.now() - 1000, { polling: 'raf', timeout: 60_000 });
      await sleep(3000);
      figures['tenHz1h'] = { ...(await measureFrames(page, 10_000)), sent: sender.sent() };
    } finally {
      await sender.stop();
    }
  });
});

async function timeSwitch(page: Page, firstBefore: number): Promise<number> {
  return page.evaluate(async (before) => {
    const t0 = performance.now();
    (document.querySelector('[data-range="7d"]') as HTMLElement).click();
    await new Promise<void>((resolve) => {
      const check = (): void => {
        const charts = [...document.querySelectorAll('fl-chart')];
        const done =
          charts.length === 4 &&
          charts.every(
            (c) => Number(c.getAttribute('data-first')) <= before && Number(c.getAttribute('data-points')) > 50,
          );
        if (done) resolve();
        else requestAnimationFrame(check);
      };
      requestAnimationFrame(check);
    });
    // The frame after the draw is the one that puts it on screen.
    await new Promise((r) => requestAnimationFrame(r));
    return performance.now() - t0;
  }, firstBefore);
}

async function lastHistoryRequest(page: Page): Promise<{ ms: number; bytes: number }> {
  return page.evaluate(() => {
    const entries = performance
      .getEntriesByType('resource')
      .filter((e) => e.name.includes('/readings?')) as PerformanceResourceTiming[];
    const e = entries[entries.length - 1];
    return { ms: e.responseEnd - e.startTime, bytes: e.encodedBodySize };
  });
}

/** Frames per second counted with requestAnimationFrame, long tasks, chart draws and main-thread busy time. */
async function measureFrames(page: Page, ms: number): Promise<Record<string, number>> {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Performance.enable');
  const busy = async (): Promise<number> => {
    const { metrics } = await cdp.send('Performance.getMetrics');
    return metrics.find((m) => m.name === 'TaskDuration')?.value ?? 0;
  };
  const busy0 = await busy();
  const result = await page.evaluate(async (duration) => {
    const hooks = (globalThis as unknown as { __fieldline: { draws: number } }).__fieldline;
    const draws0 = hooks.draws;
    const gaps: number[] = [];
    let longTasks = 0;
    const observer = new PerformanceObserver((list) => (longTasks += list.getEntries().length));
    observer.observe({ type: 'longtask' });
    const t0 = performance.now();
    let frames = 0;
    let last = t0;
    await new Promise<void>((resolve) => {
      const tick = (t: number): void => {
        frames++;
        gaps.push(t - last);
        last = t;
        if (t - t0 < duration) requestAnimationFrame(tick);
        else resolve();
      };
      requestAnimationFrame(tick);
    });
    observer.disconnect();
    const elapsed = performance.now() - t0;
    gaps.sort((a, b) => a - b);
    return {
      fps: (frames / elapsed) * 1000,
      worstFrameMs: gaps[gaps.length - 1],
      p99FrameMs: gaps[Math.floor(gaps.length * 0.99)],
      longTasks,
      chartDrawsPerSecond: ((hooks.draws - draws0) / elapsed) * 1000,
      elapsedMs: elapsed,
    };
  }, ms);
  const busyMs = ((await busy()) - busy0) * 1000;
  await cdp.detach();
  return {
    fps: round(result.fps),
    worstFrameMs: round(result.worstFrameMs),
    p99FrameMs: round(result.p99FrameMs),
    longTasks: result.longTasks,
    chartDrawsPerSecond: round(result.chartDrawsPerSecond),
    mainThreadBusyPercent: round((busyMs / result.elapsedMs) * 100),
  };
}

/** A device sending `rate` readings/s of the four metrics over WebSocket ingest. */
async function startSender(
  gw: TestGateway,
  deviceId: string,
  rate: number,
  token: string | undefined,
): Promise<{ sent(): number; stop(): Promise<void> }> {
  const ws = new WebSocket(`${gw.url.replace(/^http/, 'ws')}${INGEST_PATH}?deviceId=${deviceId}`, {
    headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
  });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  const start = Date.now();
  let seq = 1_000_000;
  let sent = 0;
  const timer = setInterval(() => {
    const owed = Math.floor(((Date.now() - start) * rate) / 1000) - sent;
    const now = Date.now();
    const batch = Array.from({ length: owed }, (_, i) => {
      const ts = now - (owed - 1 - i) * Math.floor(1000 / rate);
      return { ts, seq: ++seq, metrics: values(ts, seq) };
    });
    if (batch.length === 0) return;
    ws.send(JSON.stringify(batch.length === 1 ? batch[0] : { readings: batch }));
    sent += batch.length;
  }, 20);
  return {
    sent: () => sent,
    stop: async () => {
      clearInterval(timer);
      ws.close();
      await new Promise((r) => ws.once('close', r));
    },
  };
}
