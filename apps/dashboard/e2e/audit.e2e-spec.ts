import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { AUDIT_PATH, AuthPath } from '@fieldline/contracts';
import { startGateway, TEST_ADMIN_PASSWORD, TEST_VIEWER, type TestGateway } from '../../gateway/test/support';
import { ARTIFACTS, ensureDashboardBuilt, launchChromium, openPage } from './support';

jest.setTimeout(120_000);

/**
 * The audit page in Chromium: what an admin does through the gateway (a refused and a successful login in the
 * browser, a device registration over REST) shows up there, filters apply; a viewer has no link to it and cannot
 * open it.
 */
describe('dashboard audit page in Chromium', () => {
  let gw: TestGateway;
  let browser: Browser;

  beforeAll(async () => {
    ensureDashboardBuilt();
    gw = await startGateway();
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
    await gw?.stop();
  });

  const signIn = async (username: string, password: string, url = `${gw.url}/`) => {
    const { page, errors } = await openPage(browser, url, null);
    await page.waitForURL(/\/login/);
    await page.fill('input[name="username"]', username);
    await page.fill('input[name="password"]', password);
    await page.click('button[type="submit"]');
    return { page, errors };
  };

  it('shows an admin the refused and successful logins and a device registration, and filters them', async () => {
    const { page, errors } = await signIn('admin', 'not-the-password');
    await page.waitForSelector('[data-login="error"]');
    await page.fill('input[name="password"]', TEST_ADMIN_PASSWORD);
    await page.click('button[type="submit"]');
    await page.waitForSelector('[data-nav="audit"]');
    const token = await page.evaluate(() => localStorage.getItem('fieldline.token'));
    const res = await fetch(gw.url + AuthPath.devices, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ deviceId: 'audit-pump-1', name: 'Pump' }),
    });
    expect(res.status).toBe(201);

    await page.click('[data-nav="audit"]');
    await page.waitForURL(`${gw.url}/audit`);
    await page.waitForSelector('[data-audit="entry"][data-action="device.register"]');
    const rows = await page.$$eval('[data-audit="entry"]', (els) =>
      els.map((e) => ({
        action: e.getAttribute('data-action'),
        ok: e.getAttribute('data-ok'),
        actor: e.querySelector('.actor')?.textContent?.trim(),
        target: e.querySelector('.target')?.textContent?.trim(),
        from: e.querySelector('.from')?.textContent?.trim(),
      })),
    );
    // Newest first: the registration, the login that succeeded, the one refused; then the start-up's creation of
    // the configured operators (no actor, no address), in either order.
    expect(rows.slice(0, 3)).toEqual([
      { action: 'device.register', ok: 'true', actor: 'admin', target: 'audit-pump-1', from: '127.0.0.1' },
      { action: 'auth.login', ok: 'true', actor: 'admin', target: '', from: '127.0.0.1' },
      { action: 'auth.login', ok: 'false', actor: 'admin', target: '', from: '127.0.0.1' },
    ]);
    expect(
      rows
        .slice(3)
        .map((r) => `${r.action} ${r.target}`)
        .sort(),
    ).toEqual(['user.bootstrap admin', 'user.bootstrap viewer']);
    expect(await page.textContent('[data-audit="entry"][data-ok="false"]')).toContain('Refused');

    await page.fill('input[name="action"]', 'device.');
    await page.click('[data-audit="apply"]');
    await page.waitForFunction(() => document.querySelectorAll('[data-audit="entry"]').length === 1);
    expect(await page.textContent('[data-audit="entry"]')).toContain('audit-pump-1');

    await page.click('[data-audit="clear"]');
    await page.selectOption('select[name="ok"]', 'false');
    await page.click('[data-audit="apply"]');
    await page.waitForFunction(() => document.querySelectorAll('[data-audit="entry"]').length === 1);
    expect(await page.getAttribute('[data-audit="entry"]', 'data-action')).toBe('auth.login');
    await page.screenshot({ path: join(ARTIFACTS, 'audit.png') });
    // Only the refused login shows up as a browser error (the 401 of the wrong password).
    expect(errors.filter((e) => !/401/.test(e))).toEqual([]);
    await page.context().close();
  });

  it('a viewer has no Audit link and cannot open the page', async () => {
    const { page } = await signIn(TEST_VIEWER.username, TEST_VIEWER.password);
    await page.waitForSelector('[data-session="user"]');
    expect(await page.$('[data-nav="audit"]')).toBeNull();
    await page.goto(`${gw.url}/audit`);
    await page.waitForURL(`${gw.url}/`);
    expect(await page.$('fl-audit')).toBeNull();
    // The gateway refuses the data as well.
    const token = await page.evaluate(() => localStorage.getItem('fieldline.token'));
    const res = await fetch(gw.url + AUDIT_PATH, { headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(403);
    await page.context().close();
  });
});
