import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import type { Simulator } from '../../../devices-sim/src';
import { startGateway, type TestGateway } from '../../gateway/test/support';
import {
  ARTIFACTS,
  chartRawTimestamps,
  deviceTokens,
  ensureDashboardBuilt,
  launchChromium,
  openPage,
  operatorToken,
  postHistory,
  seedStore,
  simulatedHistory,
  sleep,
  startSimulator,
  storedTimestamps,
  trackConnections,
} from './support';

jest.setTimeout(180_000);

const IDS = Array.from({ length: 8 }, (_, i) => `sim-${String(i + 1).padStart(3, '0')}`);
// DEVICE_RATE=0: the hour of history is posted in one burst, above the per-device rate limit.
const GATEWAY_ENV = { DEVICE_OFFLINE_AFTER_MS: '5000', PRESENCE_TICK_MS: '250', DEVICE_RATE: '0' };

/** No reading twice and none missing: the chart's raw points are exactly the store's readings over the same span. */
async function expectNoGapNoDuplicate(gw: TestGateway, token: string | null, page: Page, deviceId: string) {
  const shown = await chartRawTimestamps(page, 'temperature');
  expect(shown.length).toBeGreaterThan(10);
  expect(new Set(shown).size).toBe(shown.length);
  await sleep(500); // the newest readings reach the browser before the write buffer flushes them to the store
  // QoS 1 resends can store a reading twice; the dashboard shows it once.
  const stored = [...new Set(await storedTimestamps(gw, token, deviceId, 'temperature', shown[0], shown.at(-1)! + 1))];
  expect(shown).toEqual(stored.sort((a, b) => a - b));
  return shown;
}

describe('dashboard in Chromium', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'fieldline-browser-'));
  let gw: TestGateway;
  let sim: Simulator;
  let browser: Browser;
  let page: Page;
  let errors: string[];
  let token: string | null;
  let connections: { cut(): number };

  beforeAll(async () => {
    ensureDashboardBuilt();
    gw = await startGateway(GATEWAY_ENV, dataDir);
    connections = trackConnections(gw);
    token = await operatorToken(gw);
    // An hour of history up to now, so that sparklines and charts show more than the seconds the suite runs; the
    // simulated devices carry on from there.
    const now = Date.now();
    await postHistory(gw, await deviceTokens(gw, IDS), simulatedHistory(IDS, now - 3_600_000, now, 2000));
    sim = await startSimulator(gw, { ids: IDS, rate: 4, qos: 1 });
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
    await sim?.stop();
    await gw?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('fleet view: every device online with its latest values and a live sparkline', async () => {
    ({ page, errors } = await openPage(browser, gw.url + '/', token));
    await page.waitForSelector(`[data-device="${IDS.at(-1)}"][data-online="true"]`);
    await page.waitForFunction((n) => document.querySelectorAll('[data-online="true"]').length === n, IDS.length);
    expect(await page.textContent('[data-count="online"]')).toContain(`${IDS.length} online`);
    expect(await page.textContent('[data-count="offline"]')).toContain('0 offline');
    // Sparklines draw history and then live readings.
    await page.waitForFunction(
      (n) => [...document.querySelectorAll('fl-sparkline path')].filter((p) => p.getAttribute('d')).length === n,
      IDS.length,
    );
    const chips = await page.textContent(`[data-device="sim-001"] .values`);
    expect(chips).toMatch(/temperature\s+-?\d/);

    await page.fill('input[type="search"]', '003');
    await page.waitForFunction(() => document.querySelectorAll('[data-device]').length === 1);
    expect(await page.getAttribute('[data-device]', 'data-device')).toBe('sim-003');
    await page.fill('input[type="search"]', '');
    await page.waitForFunction((n) => document.querySelectorAll('[data-device]').length === n, IDS.length);
    await sleep(1500); // a few more live points on the sparklines
    await page.screenshot({ path: join(ARTIFACTS, 'fleet.png') });
  });

  it('device view: one chart per metric, history then live points', async () => {
    await page.click('[data-device="sim-001"]');
    await page.waitForURL('**/devices/sim-001');
    await page.waitForSelector('fl-chart[data-points]');
    const metrics = await page.$$eval('article[data-metric]', (els) => els.map((e) => e.getAttribute('data-metric')));
    expect(metrics).toEqual(['battery', 'humidity', 'temperature']);
    const points = () =>
      page.$eval('[data-metric="temperature"] fl-chart', (e) => Number(e.getAttribute('data-points')));
    const before = await points();
    await page.waitForFunction(
      (n) => Number(document.querySelector('[data-metric="temperature"] fl-chart')?.getAttribute('data-points')) >= n,
      before + 8,
    );
    expect(await page.$$eval('fl-latest-table tbody tr', (rows) => rows.length)).toBeGreaterThan(3);
    await sleep(1000);
    await page.screenshot({ path: join(ARTIFACTS, 'device.png') });
    await expectNoGapNoDuplicate(gw, token, page, 'sim-001');
  });

  it('range 1 h: aggregated history with a min/max band, and live points after it', async () => {
    await page.click('[data-range="1h"]');
    await page.waitForURL('**/devices/sim-001?range=1h');
    await page.waitForFunction(
      (from) =>
        Number(document.querySelector('[data-metric="temperature"] fl-chart')?.getAttribute('data-first')) < from,
      Date.now() - 3_000_000,
    );
    expect(await page.textContent('.summary')).toMatch(/s buckets: mean, min–max band/);
    await page.waitForFunction(() => document.querySelectorAll('fl-latest-table tbody tr').length >= 3);
    await sleep(1000);
    await page.setViewportSize({ width: 1280, height: 1060 }); // down to the table of latest readings
    await page.screenshot({ path: join(ARTIFACTS, 'device-1h.png') });
    await page.setViewportSize({ width: 1280, height: 800 });
    await page.click('[data-range="5m"]');
    await page.waitForURL('**/devices/sim-001?range=5m');
    await page.waitForFunction(
      () => Number(document.querySelector('[data-metric="temperature"] fl-chart')?.getAttribute('data-points')) > 0,
    );
    await sleep(1500);
  });

  it('pause holds the chart still; resume catches up with nothing missing', async () => {
    const drawn = () => page.$eval('[data-metric="temperature"] fl-chart', (e) => Number(e.getAttribute('data-last')));
    await page.click('button.pause');
    // The paused frame draws a snapshot taken at the pause, which may hold points the throttled live frame had not.
    await page.waitForSelector('[data-metric="temperature"] fl-chart[data-frozen="true"]');
    const frozen = await drawn();
    await sleep(1500);
    expect(await drawn()).toBe(frozen);
    await page.click('button.pause');
    await page.waitForFunction(
      (t) => Number(document.querySelector('[data-metric="temperature"] fl-chart')?.getAttribute('data-last')) > t,
      frozen,
    );
  });

  it('a dropped connection: banner, reconnect, missed readings filled in, no gap and no duplicate', async () => {
    const before = await chartRawTimestamps(page, 'temperature');
    expect(connections.cut()).toBeGreaterThan(0);
    await page.waitForSelector('[data-banner="recovered"]', { timeout: 30_000 });
    await sleep(1500);
    const after = await expectNoGapNoDuplicate(gw, token, page, 'sim-001');
    expect(after.length).toBeGreaterThan(before.length);
    expect(after.slice(0, before.length)).toEqual(before);
  });

  it('a gateway restart: banner while it is away, then the same series continues without a gap', async () => {
    const port = gw.httpPort;
    const mqttPort = gw.mqttPort!;
    const before = await chartRawTimestamps(page, 'temperature');
    await gw.close();
    await page.waitForSelector('[data-banner="reconnecting"]', { timeout: 30_000 });
    await page.screenshot({ path: join(ARTIFACTS, 'device-reconnecting.png') });
    await sleep(2000); // the devices keep measuring and buffer their readings meanwhile
    gw = await startGateway({ ...GATEWAY_ENV, PORT: String(port), MQTT_PORT: String(mqttPort) }, dataDir);
    await page.waitForSelector('[data-banner="recovered"]', { timeout: 30_000 });
    // Wait until the devices have sent what they buffered while the gateway was away.
    const deadline = Date.now() + 30_000;
    while ((sim.stats().buffered > 0 || sim.stats().pending > 0) && Date.now() < deadline) await sleep(200);
    await sleep(1500);
    const after = await expectNoGapNoDuplicate(gw, token, page, 'sim-001');
    expect(after.slice(0, before.length)).toEqual(before);
    // From the last reading drawn before the restart on (earlier, the seam between the posted history, one point per
    // 2 s, and the simulator's first reading is no concern of this test).
    const across = after.slice(before.length - 1);
    expect(across.length).toBeGreaterThan(20); // the 2 s away and the seconds since, at 4 readings/s
    const steps = across.slice(1).map((t, i) => t - across[i]);
    expect(Math.max(...steps)).toBeLessThan(2000); // 4 readings/s: no hole where the gateway was down
    expect(errors.filter((e) => !/WebSocket|ERR_CONNECTION|Failed to load resource/.test(e))).toEqual([]);
  });
});

describe('fleet view with 1,000 devices', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'fieldline-browser-fleet-'));
  let gw: TestGateway;
  let browser: Browser;

  beforeAll(async () => {
    ensureDashboardBuilt();
    // Devices known from the store show up (offline, with their last values) as soon as the gateway starts.
    const now = Date.now();
    await seedStore(
      dataDir,
      Array.from({ length: 1000 }, (_, i) => ({
        deviceId: `site-${String(i).padStart(4, '0')}`,
        ts: now - 60_000 - i * 1000,
        seq: 1,
        metrics: { temperature: 20 + (i % 7), humidity: 40 + (i % 13) },
      })),
    );
    gw = await startGateway({}, dataDir);
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
    await gw?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('renders only the rows in view, counts all, filters and scrolls to the last', async () => {
    const { page } = await openPage(browser, gw.url + '/', await operatorToken(gw));
    await page.waitForSelector('[data-device="site-0000"]');
    expect(await page.textContent('[data-count="offline"]')).toContain('1000 offline');
    const rendered = await page.$$eval('[data-device]', (els) => els.length);
    expect(rendered).toBeGreaterThan(5);
    expect(rendered).toBeLessThan(80);
    await page.$eval('cdk-virtual-scroll-viewport', (el) => el.scrollTo({ top: el.scrollHeight }));
    await page.waitForSelector('[data-device="site-0999"]');
    await page.fill('input[type="search"]', '0999');
    await page.waitForFunction(() => document.querySelectorAll('[data-device]').length === 1);
    await page.fill('input[type="search"]', '');
    await page.screenshot({ path: join(ARTIFACTS, 'fleet-1000.png') });
  });
});
