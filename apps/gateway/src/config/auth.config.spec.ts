import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from './config';
import { ConfigError } from './config-error';
import { DEFAULT_LOGIN_POLICY, loadAuthConfig } from './auth.config';

const SECRET = 's'.repeat(32);
const HASH = '$scrypt$ln=10,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAA$' + 'A'.repeat(43);

function variableOf(env: Record<string, string>): string | undefined {
  try {
    loadAuthConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err.variable;
    throw err;
  }
  return undefined;
}

describe('auth configuration', () => {
  it('refuses to start without a JWT secret or without any operator, naming the variable', () => {
    expect(variableOf({ ADMIN_PASSWORD: 'long-enough' })).toBe('JWT_SECRET');
    expect(variableOf({ JWT_SECRET: 'short', ADMIN_PASSWORD: 'long-enough' })).toBe('JWT_SECRET');
    expect(variableOf({ JWT_SECRET: SECRET })).toBe('ADMIN_PASSWORD');
    expect(variableOf({ JWT_SECRET: SECRET, ADMIN_PASSWORD: 'short' })).toBe('ADMIN_PASSWORD');
    expect(variableOf({ JWT_SECRET: SECRET, ADMIN_PASSWORD: 'long-enough', JWT_TTL: '1y' })).toBe('JWT_TTL');
    expect(variableOf({ JWT_SECRET: SECRET, ADMIN_PASSWORD: 'long-enough', ADMIN_PASSWORD_HASH: HASH })).toBe(
      'ADMIN_PASSWORD_HASH',
    );
    expect(variableOf({ JWT_SECRET: SECRET, ADMIN_PASSWORD_HASH: 'plain' })).toBe('ADMIN_PASSWORD_HASH');
    expect(variableOf({ JWT_SECRET: SECRET, ADMIN_PASSWORD: 'long-enough', METRICS_TOKEN: 'short' })).toBe(
      'METRICS_TOKEN',
    );
    expect(() => loadConfig({})).toThrow(/JWT_SECRET/);
  });

  it('takes the admin password, pre-hashed users from USERS and USERS_FILE, and defaults', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fieldline-users-'));
    try {
      const file = join(dir, 'users');
      writeFileSync(file, `# operators\n\nalice:viewer:${HASH}\nbob:admin:${HASH}\n`);
      const c = loadAuthConfig({
        JWT_SECRET: SECRET,
        ADMIN_PASSWORD: 'long-enough',
        USERS: `carol:viewer:${HASH}`,
        USERS_FILE: file,
      });
      expect(c.jwtTtlS).toBe(8 * 3600);
      expect(c.metricsToken).toBeNull();
      expect(c.operators.map((o) => [o.username, o.role])).toEqual([
        ['admin', 'admin'],
        ['carol', 'viewer'],
        ['alice', 'viewer'],
        ['bob', 'admin'],
      ]);
      expect(loadAuthConfig({ JWT_SECRET: SECRET, USERS_FILE: file, JWT_TTL: '15m' }).jwtTtlS).toBe(900);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it.each([
    ['alice:viewer', 'USERS'],
    [`alice:root:${HASH}`, 'USERS'],
    [`bad name:viewer:${HASH}`, 'USERS'],
    ['alice:viewer:plaintext', 'USERS'],
    [`alice:viewer:${HASH} alice:admin:${HASH}`, 'USERS'],
  ])('refuses USERS=%p', (users, variable) => {
    expect(variableOf({ JWT_SECRET: SECRET, ADMIN_PASSWORD: 'long-enough', USERS: users })).toBe(variable);
  });

  it('names USERS_FILE when it cannot be read', () => {
    expect(variableOf({ JWT_SECRET: SECRET, USERS_FILE: '/nonexistent/users' })).toBe('USERS_FILE');
  });

  it('reads the device rate limit', () => {
    const base = { JWT_SECRET: SECRET, ADMIN_PASSWORD: 'long-enough' };
    expect(loadConfig(base).devices).toMatchObject({ rate: 100, burst: 1000 });
    expect(loadConfig({ ...base, DEVICE_RATE: '0.5', DEVICE_BURST: '10' }).devices).toMatchObject({
      rate: 0.5,
      burst: 10,
    });
    expect(() => loadConfig({ ...base, DEVICE_RATE: '-1' })).toThrow(/DEVICE_RATE/);
    expect(() => loadConfig({ ...base, DEVICE_BURST: '0' })).toThrow(/DEVICE_BURST/);
  });

  it('reads the login budgets, with defaults', () => {
    const base = { JWT_SECRET: SECRET, ADMIN_PASSWORD: 'long-enough' };
    expect(loadAuthConfig(base).login).toEqual(DEFAULT_LOGIN_POLICY);
    expect(
      loadAuthConfig({
        ...base,
        LOGIN_FREE_FAILURES: '5',
        LOGIN_DELAY: '2s',
        LOGIN_DELAY_MAX: '1h',
        LOGIN_ADDRESS_BURST: '100',
        LOGIN_ADDRESS_RATE: '2',
        LOGIN_HASH_CONCURRENCY: '1',
        LOGIN_HASH_QUEUE: '0',
        LOGIN_CLIENT_COOKIE_TTL: '7d',
      }).login,
    ).toEqual({
      freeFailures: 5,
      delayMs: 2000,
      maxDelayMs: 3_600_000,
      addressBurst: 100,
      addressRate: 2,
      hashConcurrency: 1,
      hashQueue: 0,
      clientCookieTtlS: 7 * 86_400,
    });
    for (const [variable, value] of [
      ['LOGIN_FREE_FAILURES', '0'],
      ['LOGIN_DELAY', '2h'],
      ['LOGIN_DELAY_MAX', '500ms'],
      ['LOGIN_ADDRESS_RATE', '0'],
      ['LOGIN_HASH_CONCURRENCY', '65'],
      ['LOGIN_CLIENT_COOKIE_TTL', '1s'],
    ])
      expect(variableOf({ ...base, [variable]: value })).toBe(variable);
  });

  it('reads TOTP secrets of configured users only', () => {
    const base = { JWT_SECRET: SECRET, ADMIN_PASSWORD: 'long-enough', USERS: `carol:viewer:${HASH}` };
    const secret = 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ';
    expect(loadAuthConfig(base).totpSecrets).toEqual(new Map());
    expect(
      loadAuthConfig({ ...base, TOTP_SECRETS: `admin:${secret} carol:${secret.toLowerCase()}` }).totpSecrets,
    ).toEqual(
      new Map([
        ['admin', Buffer.from('12345678901234567890')],
        ['carol', Buffer.from('12345678901234567890')],
      ]),
    );
    for (const bad of [
      `bob:${secret}`,
      'admin:GEZDGNBV',
      `admin:${secret}1`,
      secret,
      `admin:${secret} admin:${secret}`,
    ])
      expect(variableOf({ ...base, TOTP_SECRETS: bad })).toBe('TOTP_SECRETS');
  });
});
