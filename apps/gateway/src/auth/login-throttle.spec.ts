import { DEFAULT_LOGIN_POLICY } from '../config/auth.config';
import { cookieValue, FailureDelays, KnownClients } from './login-throttle';

describe('FailureDelays', () => {
  let now = 1_000_000;
  const policy = { ...DEFAULT_LOGIN_POLICY, freeFailures: 3, delayMs: 1000, maxDelayMs: 60_000 };

  it('is free for the budget, then doubles from the failure on, capped; success clears', () => {
    const d = new FailureDelays(policy, () => now);
    for (let i = 0; i < 3; i++) {
      expect(d.wait('u:a')).toBe(0);
      d.charge('u:a', 'a');
    }
    expect(d.wait('u:a')).toBe(1000);
    now += 5000;
    d.failed('u:a');
    expect(d.wait('u:a')).toBe(1000);
    const waits: number[] = [];
    for (let i = 0; i < 8; i++) {
      now += d.wait('u:a');
      d.charge('u:a', 'a');
      waits.push(d.wait('u:a'));
    }
    expect(waits).toEqual([2000, 4000, 8000, 16_000, 32_000, 60_000, 60_000, 60_000]);
    expect(d.wait('u:b')).toBe(0);
    expect(d.clear('u:a')).toBe(11);
    expect(d.wait('u:a')).toBe(0);
  });

  it('refunds attempts never evaluated, forgets after a day, and unlocks every key of a user', () => {
    const d = new FailureDelays(policy, () => now);
    for (let i = 0; i < 3; i++) d.charge('u:a', 'a');
    d.refund('u:a');
    expect(d.wait('u:a')).toBe(0);
    d.charge('u:a', 'a');
    expect(d.wait('u:a')).toBeGreaterThan(0);
    now += 24 * 3_600_000 + 1;
    expect(d.wait('u:a')).toBe(0);
    for (let i = 0; i < 3; i++) d.charge('u:a', 'a');
    d.charge('c:1', 'a');
    d.charge('c:2', 'b');
    expect(d.clearUser('a')).toBe(4);
    expect(d.size).toBe(1);
  });

  it('keeps configured users when a flood of made-up names fills it', () => {
    const d = new FailureDelays(
      policy,
      () => now,
      (user) => user === 'admin',
    );
    for (let i = 0; i < 3; i++) d.charge('u:admin', 'admin');
    for (let i = 0; i < 100_001; i++) d.charge(`u:x${i}`, `x${i}`);
    expect(d.size).toBe(100_000);
    expect(d.wait('u:admin')).toBeGreaterThan(0);
    expect(d.wait('u:x0')).toBe(0);
  });
});

describe('KnownClients', () => {
  let now = Date.UTC(2026, 11, 2);
  const clients = new KnownClients('secret-0123456789abcdefghijklmnopqrstuv', 3600, () => now);

  it('accepts its own cookie for its user until it expires, nothing else', () => {
    const c = clients.issue('admin');
    expect(clients.idFor(c, 'admin')).toMatch(/^[A-Za-z0-9_-]{16}$/);
    expect(clients.issue('admin')).not.toBe(c);
    expect(clients.idFor(c, 'viewer')).toBeNull();
    const [name, exp, id, sig] = c.split('.');
    expect(clients.idFor([name, Number(exp) + 999, id, sig].join('.'), 'admin')).toBeNull();
    expect(clients.idFor([Buffer.from('viewer').toString('base64url'), exp, id, sig].join('.'), 'viewer')).toBeNull();
    const other = new KnownClients('another-secret-0123456789abcdefghijklmno', 3600, () => now);
    expect(other.idFor(c, 'admin')).toBeNull();
    expect(clients.idFor(undefined, 'admin')).toBeNull();
    expect(clients.idFor('', 'admin')).toBeNull();
    now += 3_600_000;
    expect(clients.idFor(c, 'admin')).toBeNull();
  });

  it('cookieValue finds one cookie among several', () => {
    expect(cookieValue('a=1; fieldline_client=x.y; b=2', 'fieldline_client')).toBe('x.y');
    expect(cookieValue('xfieldline_client=1', 'fieldline_client')).toBeUndefined();
    expect(cookieValue(undefined, 'a')).toBeUndefined();
  });
});
