import type { Browser, Page } from 'playwright-core';
import { startGateway, TEST_ADMIN_PASSWORD, type TestGateway } from '../../gateway/test/support';
import { ensureDashboardBuilt, launchChromium, openPage } from './support';

jest.setTimeout(180_000);

/** Short access tokens: the admin's page must outlive several of them by refreshing. */
const JWT_TTL_S = 12;

async function signIn(page: Page, username: string, password: string): Promise<void> {
  await page.waitForURL(/\/login/);
  await page.fill('input[name="username"]', username);
  await page.fill('input[name="password"]', password);
  await page.click('button[type="submit"]');
}

/** Users managed from the dashboard: an admin adds a colleague, who signs in; disabled, the colleague is cut off. */
describe('dashboard users page in Chromium', () => {
  let gw: TestGateway;
  let browser: Browser;

  beforeAll(async () => {
    ensureDashboardBuilt();
    gw = await startGateway({ JWT_TTL: `${JWT_TTL_S}s` });
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
    await gw?.stop();
  });

  it('admin adds a user, the user signs in, admin disables them: their open dashboard is cut and login refused', async () => {
    const admin = (await openPage(browser, `${gw.url}/users`, null)).page;
    await signIn(admin, 'admin', TEST_ADMIN_PASSWORD);
    await admin.waitForURL(`${gw.url}/users`);
    await admin.waitForSelector('[data-user="admin"]');
    const signedInAt = Date.now();

    await admin.fill('input[name="new-username"]', 'olga');
    await admin.selectOption('select[name="new-role"]', 'operator');
    await admin.fill('input[name="new-password"]', 'olga-browser-pw');
    await admin.click('form.add button[type="submit"]');
    await admin.waitForSelector('[data-user="olga"]');
    expect(await admin.inputValue('[data-user="olga"] [data-users="role"]')).toBe('operator');

    const { page: olga } = await openPage(browser, `${gw.url}/`, null);
    await signIn(olga, 'olga', 'olga-browser-pw');
    await olga.waitForURL(`${gw.url}/`);
    await olga.waitForSelector('.conn[data-state="connected"]');
    expect(await olga.getAttribute('[data-session="user"]', 'title')).toBe('operator');
    // Not an admin: no Users link, and /users sends her back to the fleet view.
    expect(await olga.$('[data-nav="users"]')).toBeNull();

    // The admin's access token has expired by now, more than once: the page refreshed it and works on.
    await new Promise((r) => setTimeout(r, Math.max(0, signedInAt + (JWT_TTL_S + 2) * 1000 - Date.now())));
    expect(admin.url()).toBe(`${gw.url}/users`);
    await admin.click('[data-user="olga"] [data-users="toggle"]');
    await admin.waitForSelector('[data-user="olga"] [data-state="disabled"]');
    expect(await admin.$('[data-users="error"]')).toBeNull();

    // Her open dashboard is told at once (auth_expired), its refresh is refused, and it goes to the login page.
    await olga.waitForURL(/\/login\?reason=expired/, { timeout: 10_000 });
    expect(await olga.evaluate(() => localStorage.getItem('fieldline.refresh'))).toBeNull();
    await olga.fill('input[name="username"]', 'olga');
    await olga.fill('input[name="password"]', 'olga-browser-pw');
    await olga.click('button[type="submit"]');
    await olga.waitForSelector('[data-login="error"]');
    expect(await olga.textContent('[data-login="error"]')).toContain('Wrong user name or password');

    // Enabled again, with a password the gateway makes, shown to the admin once.
    await admin.click('[data-user="olga"] [data-users="toggle"]');
    await admin.waitForSelector('[data-user="olga"] [data-state="enabled"]');
    await admin.click('[data-user="olga"] [data-users="reset"]');
    await admin.waitForSelector('[data-users="password"] code');
    const password = (await admin.textContent('[data-users="password"] code'))!;
    await olga.fill('input[name="password"]', password);
    await olga.click('button[type="submit"]');
    await olga.waitForURL(`${gw.url}/`);
    await admin.screenshot({ path: 'test-artifacts/dashboard/users.png' });
    await admin.context().close();
    await olga.context().close();
  });

  it('a user changes their own password in the dialog and stays signed in', async () => {
    const { page } = await openPage(browser, `${gw.url}/`, null);
    await signIn(page, 'admin', TEST_ADMIN_PASSWORD);
    await page.waitForURL(`${gw.url}/`);
    await page.click('[data-session="password"]');
    await page.fill('input[name="pw-current"]', 'wrong-password');
    await page.fill('input[name="pw-new"]', 'admin-new-browser-pw');
    await page.fill('input[name="pw-confirm"]', 'admin-new-browser-pw');
    await page.click('dialog button[type="submit"]');
    await page.waitForSelector('[data-password="error"]');
    expect(await page.textContent('[data-password="error"]')).toContain('current password is wrong');
    await page.fill('input[name="pw-current"]', TEST_ADMIN_PASSWORD);
    await page.click('dialog button[type="submit"]');
    await page.waitForSelector('[data-password="done"]');
    await page.waitForSelector('.conn[data-state="connected"]');
    expect(page.url()).toBe(`${gw.url}/`);
    const res = await fetch(`${gw.url}/api/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'admin', password: 'admin-new-browser-pw' }),
    });
    expect(res.status).toBe(200);
    await page.context().close();
  });
});
