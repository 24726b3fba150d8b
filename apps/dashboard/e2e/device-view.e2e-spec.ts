import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import type { Simulator } from '../../../devices-sim/src';
import { startGateway, type TestGateway } from '../../gateway/test/support';
import {
  ARTIFACTS,
  deviceTokens,
  ensureDashboardBuilt,
  launchChromium,
  openPage,
  operatorToken,
  postHistory,
  simulatedHistory,
  sleep,
  startSimulator,
} from './support';

jest.setTimeout(180_000);

const ID = 'sim-001';
const GATEWAY_ENV = { DEVICE_OFFLINE_AFTER_MS: '5000', PRESENCE_TICK_MS: '250', DEVICE_RATE: '0' };
/** Longer than the device view's resize debounce and a history request on a loaded machine. */
const SETTLE_MS = 1500;

const chartAttr = (page: Page, attr: string): Promise<number> =>
  page.$eval(`[data-metric="temperature"] fl-chart`, (e, a) => Number(e.getAttribute(`data-${a}`)), attr);

/** `yyyy-MM-ddTHH:mm:ss` in the browser's time zone, as its datetime-local fields take it. */
const localInput = (page: Page, ts: number): Promise<string> =>
  page.evaluate((t) => {
    const d = new Date(t);
    const p = (n: number) => String(n).padStart(2, '0');
    return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
  }, ts);

/** The store's raw readings of `[from, to)`, all metrics, as rows `ts → {metric: value}`. */
async function storedRows(gw: TestGateway, token: string | null, from: number, to: number) {
  const q = new URLSearchParams({ from: String(from), to: String(to), bucket: 'raw', maxPoints: '10000' });
  const res = await fetch(`${gw.url}/api/devices/${ID}/readings?${q}`, {
    headers: token === null ? {} : { authorization: `Bearer ${token}` },
  });
  const body = (await res.json()) as { series: { metric: string; points: { ts: number; value: number }[] }[] };
  const rows = new Map<number, Record<string, number>>();
  for (const s of body.series) for (const p of s.points) rows.set(p.ts, { ...rows.get(p.ts), [s.metric]: p.value });
  return [...rows].sort(([a], [b]) => a - b);
}

describe('device view in Chromium: phone width, resize, custom ranges, download', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'fieldline-browser-device-'));
  let gw: TestGateway;
  let sim: Simulator;
  let browser: Browser;
  let page: Page;
  let errors: string[];
  let token: string | null;
  /** `maxPoints` of every history request the page sends. */
  const historyRequests: number[] = [];
  const exportRequests: URL[] = [];

  beforeAll(async () => {
    ensureDashboardBuilt();
    gw = await startGateway(GATEWAY_ENV, dataDir);
    token = await operatorToken(gw);
    const now = Date.now();
    await postHistory(gw, await deviceTokens(gw, [ID]), simulatedHistory([ID], now - 3_600_000, now, 2000));
    sim = await startSimulator(gw, { ids: [ID], rate: 4, qos: 1 });
    browser = await launchChromium();
    ({ page, errors } = await openPage(browser, gw.url + '/', token, { width: 420, height: 800 }));
    page.on('request', (req) => {
      const url = new URL(req.url());
      if (url.pathname === `/api/devices/${ID}/readings`)
        historyRequests.push(Number(url.searchParams.get('maxPoints')));
      if (url.pathname === `/api/devices/${ID}/export`) exportRequests.push(url);
    });
  });

  afterAll(async () => {
    writeFileSync(join(ARTIFACTS, 'device-view.json'), JSON.stringify({ historyMaxPoints: historyRequests }) + '\n');
    await browser?.close();
    await sim?.stop();
    await gw?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('at 420 px the charts fit the screen: no horizontal scroll', async () => {
    await page.goto(`${gw.url}/devices/${ID}?range=1h`);
    await page.waitForFunction(() => document.querySelectorAll('fl-chart[data-points]').length === 3);
    await sleep(SETTLE_MS); // anything the layout settling would refetch has been asked for by now
    expect(historyRequests).toHaveLength(1);
    const layout = await page.evaluate(() => {
      const main = document.querySelector('main')!;
      const boxes = [...document.querySelectorAll('fl-chart canvas, .card, .toolbar, .bar')].map((e) => {
        const r = e.getBoundingClientRect();
        return { what: e.tagName + '.' + e.className, left: r.left, right: r.right, width: r.width };
      });
      return {
        document: document.documentElement.scrollWidth,
        main: main.scrollWidth,
        mainClient: main.clientWidth,
        boxes,
      };
    });
    expect(layout.document).toBeLessThanOrEqual(420);
    expect(layout.main).toBeLessThanOrEqual(layout.mainClient); // nor inside the scrolling view
    expect(layout.boxes.length).toBeGreaterThan(6);
    for (const b of layout.boxes) {
      expect({ ...b, inside: b.left >= 0 && b.right <= 420 }).toEqual({ ...b, inside: true });
    }
    const canvases = layout.boxes.filter((b) => b.what.startsWith('CANVAS'));
    expect(canvases).toHaveLength(3);
    for (const c of canvases) expect(c.width).toBeGreaterThan(300); // the charts use the width there is
    expect(await page.textContent('.summary')).toMatch(/15 s buckets/);
    await page.screenshot({ path: join(ARTIFACTS, 'device-420.png') });
  });

  it('resizing refetches history once, at the new point count, and not when the count stays', async () => {
    const before = historyRequests.length;
    const narrow = historyRequests.at(-1)!;
    // Dragging the window wider: several sizes in quick succession, one refetch once it settles.
    for (const width of [520, 700, 900, 1100, 1280]) {
      await page.setViewportSize({ width, height: 800 });
      await sleep(40);
    }
    await page.waitForFunction(() => /10 s buckets/.test(document.querySelector('.summary')?.textContent ?? ''));
    await sleep(SETTLE_MS);
    expect(historyRequests).toHaveLength(before + 1);
    const wide = historyRequests.at(-1)!;
    expect(wide).toBeGreaterThan(narrow);
    expect(await page.$$eval('fl-chart[data-points]', (els) => els.length)).toBe(3);

    // Ten pixels narrower: the same 10 s buckets, so the same points; nothing is fetched.
    await page.setViewportSize({ width: 1270, height: 800 });
    await sleep(SETTLE_MS);
    expect(historyRequests).toHaveLength(before + 1);
    await page.setViewportSize({ width: 1280, height: 800 });
    await sleep(SETTLE_MS);
    expect(historyRequests).toHaveLength(before + 1);
  });

  it('a custom range that follows now slides with live data; a fixed one stays where it is', async () => {
    await page.click('[data-range="custom"]');
    await page.fill('.custom input[type="datetime-local"] >> nth=0', await localInput(page, Date.now() - 3 * 60_000));
    await page.check('input[name="follow"]');
    // The form re-renders on the next change detection (zoneless): wait for it rather than read it at once.
    await page.waitForFunction(
      () => (document.querySelectorAll('.custom input[type="datetime-local"]')[1] as HTMLInputElement)?.disabled,
    );
    await page.click('.custom button[type="submit"]');
    await page.waitForURL(/range=custom.*follow=1/);
    await page.waitForFunction(
      () => Number(document.querySelector('[data-metric="temperature"] fl-chart')?.getAttribute('data-min')) > 0,
    );
    const [min1, max1, last1] = [
      await chartAttr(page, 'min'),
      await chartAttr(page, 'max'),
      await chartAttr(page, 'last'),
    ];
    expect(max1 - min1).toBeGreaterThan(3 * 60_000 - 2000);
    expect(max1 - min1).toBeLessThan(3 * 60_000 + 2000);
    await sleep(2500);
    const [min2, max2, last2] = [
      await chartAttr(page, 'min'),
      await chartAttr(page, 'max'),
      await chartAttr(page, 'last'),
    ];
    expect(min2 - min1).toBeGreaterThan(1500); // the window moved on
    expect(max2 - min2).toBe(max1 - min1); // at the same length
    expect(last2).toBeGreaterThan(last1); // and live readings keep coming in
    expect(await page.isDisabled('button.pause')).toBe(false);

    const from = Math.floor((Date.now() - 50 * 60_000) / 1000) * 1000;
    const to = from + 10 * 60_000;
    await page.click('[data-range="custom"]');
    await page.uncheck('input[name="follow"]');
    await page.fill('.custom input[type="datetime-local"] >> nth=0', await localInput(page, from));
    await page.fill('.custom input[type="datetime-local"] >> nth=1', await localInput(page, to));
    await page.click('.custom button[type="submit"]');
    await page.waitForURL((url) => url.searchParams.get('from') === String(from) && !url.searchParams.has('follow'));
    await page.waitForFunction(
      (f) => Number(document.querySelector('[data-metric="temperature"] fl-chart')?.getAttribute('data-min')) === f,
      from,
    );
    const held = [await chartAttr(page, 'max'), await chartAttr(page, 'last'), await chartAttr(page, 'points')];
    expect(held[0]).toBe(to);
    expect(held[1]).toBeLessThan(to);
    await sleep(2000);
    expect([await chartAttr(page, 'min'), await chartAttr(page, 'max'), await chartAttr(page, 'last')]).toEqual([
      from,
      to,
      held[1],
    ]);
    expect(await chartAttr(page, 'points')).toBe(held[2]);
    expect(await page.isDisabled('button.pause')).toBe(true);
    await page.screenshot({ path: join(ARTIFACTS, 'device-custom.png') });
  });

  it('the download button saves the range shown as CSV (and NDJSON) with the store’s readings', async () => {
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('[data-download="csv"]')]);
    const asked = exportRequests.at(-1)!;
    const from = Number(asked.searchParams.get('from'));
    const to = Number(asked.searchParams.get('to'));
    expect([from, to - from, asked.searchParams.get('format')]).toEqual([
      Number(new URL(page.url()).searchParams.get('from')),
      10 * 60_000,
      'csv',
    ]);
    expect(download.suggestedFilename()).toMatch(new RegExp(`^${ID}_\\d{8}T\\d{6}Z_\\d{8}T\\d{6}Z_raw\\.csv$`));
    const [header, ...lines] = readFileSync(await download.path())
      .toString('utf8')
      .trimEnd()
      .split('\r\n');
    expect(header).toBe('ts,battery,humidity,temperature');
    const stored = await storedRows(gw, token, from, to);
    expect(stored.length).toBeGreaterThan(250); // 10 minutes of the posted history, one reading per 2 s
    expect(lines).toEqual(
      stored.map(([ts, m]) =>
        [new Date(ts).toISOString(), ...['battery', 'humidity', 'temperature'].map((k) => String(m[k]))].join(','),
      ),
    );

    const [nd] = await Promise.all([page.waitForEvent('download'), page.click('[data-download="ndjson"]')]);
    expect(nd.suggestedFilename()).toMatch(/_raw\.ndjson$/);
    const objects = readFileSync(await nd.path())
      .toString('utf8')
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as { ts: number | string; metrics: Record<string, number> });
    expect(objects).toHaveLength(stored.length);
    expect(new Date(objects[0].ts).getTime()).toBe(stored[0][0]);
    expect(objects[0].metrics).toEqual(stored[0][1]);
    expect(errors.filter((e) => !/WebSocket|ERR_CONNECTION|Failed to load resource/.test(e))).toEqual([]);
  });
});
