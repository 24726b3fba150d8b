import type { Browser } from 'playwright-core';
import {
  signTestToken,
  startGateway,
  TEST_ADMIN_PASSWORD,
  TEST_VIEWER,
  type TestGateway,
} from '../../gateway/test/support';
import { ensureDashboardBuilt, launchChromium, openPage } from './support';

jest.setTimeout(120_000);

/** Operators sign in through the login page; the dashboard keeps them out of its views without a live token. */
describe('dashboard login in Chromium', () => {
  let gw: TestGateway;
  let browser: Browser;

  beforeAll(async () => {
    ensureDashboardBuilt();
    gw = await startGateway();
    await gw.post('login-dev-1', { metrics: { temperature: 21.5 } });
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
    await gw?.stop();
  });

  it('sends a signed-out visitor to the login page, signs in and comes back to the page asked for', async () => {
    const { page, errors } = await openPage(browser, `${gw.url}/devices/login-dev-1`, null);
    await page.waitForURL(/\/login\?returnUrl=%2Fdevices%2Flogin-dev-1$/);
    await page.fill('input[name="username"]', 'admin');
    await page.fill('input[name="password"]', 'not-the-password');
    await page.click('button[type="submit"]');
    await page.waitForSelector('[data-login="error"]');
    expect(await page.textContent('[data-login="error"]')).toContain('Wrong user name or password');

    await page.fill('input[name="password"]', TEST_ADMIN_PASSWORD);
    await page.click('button[type="submit"]');
    await page.waitForURL(`${gw.url}/devices/login-dev-1`);
    expect(await page.textContent('[data-session="user"]')).toBe('admin');
    // Signed in, the sockets connect with the token: the connection state says Live.
    await page.waitForSelector('.conn[data-state="connected"]');

    await page.click('[data-session="sign-out"]');
    await page.waitForURL(/\/login\?reason=signedOut/);
    expect(await page.evaluate(() => localStorage.getItem('fieldline.token'))).toBeNull();
    expect(await page.textContent('[data-login="notice"]')).toContain('signed out');
    // Only the refused login shows up as a browser error (the 401 of the wrong password).
    expect(errors.filter((e) => !/401/.test(e))).toEqual([]);
    await page.context().close();
  });

  it('a viewer signs in at the fleet view and sees the devices', async () => {
    const { page } = await openPage(browser, `${gw.url}/`, null);
    await page.waitForURL(/\/login$/);
    await page.fill('input[name="username"]', TEST_VIEWER.username);
    await page.fill('input[name="password"]', TEST_VIEWER.password);
    await page.press('input[name="password"]', 'Enter');
    await page.waitForURL(`${gw.url}/`);
    await page.waitForSelector('[data-device="login-dev-1"]');
    expect(await page.getAttribute('[data-session="user"]', 'title')).toBe('viewer');
    await page.context().close();
  });

  it('an expired token leads to the login page with a word on why', async () => {
    const expired = await signTestToken({
      iat: Math.floor(Date.now() / 1000) - 7200,
      exp: Math.floor(Date.now() / 1000) - 60,
    });
    const { page } = await openPage(browser, `${gw.url}/`, expired);
    await page.waitForURL(/\/login\?reason=expired$/);
    expect(await page.textContent('[data-login="notice"]')).toContain('session has ended');
    await page.context().close();
  });

  it('a token that expires while the page is open ends the session there and then', async () => {
    const shortLived = await signTestToken({}, { expiresInS: 3 });
    const { page } = await openPage(browser, `${gw.url}/`, shortLived);
    await page.waitForSelector('[data-session="user"]');
    await page.waitForURL(/\/login\?reason=expired$/, { timeout: 15_000 });
    await page.context().close();
  });
});
