import { SignJWT } from 'jose';
import { ErrorCode, type FieldlineError, JWT_AUDIENCE, JWT_ISSUER } from '@fieldline/contracts';
import type { AuthConfig } from '../config/auth.config';
import { OperatorAuth } from './operator-auth.service';
import { hashPassword } from './password';

const SECRET = 'unit-test-secret-0123456789abcdefghij';

async function codeOf(p: Promise<unknown>): Promise<[string, string]> {
  try {
    await p;
  } catch (err) {
    return [(err as FieldlineError).code, (err as FieldlineError).message];
  }
  return ['none', ''];
}

describe('OperatorAuth', () => {
  let now = Date.UTC(2026, 10, 25, 12);
  let auth: OperatorAuth;
  beforeAll(async () => {
    const config: AuthConfig = {
      jwtSecret: SECRET,
      jwtTtlS: 3600,
      metricsToken: null,
      operators: [
        { username: 'admin', role: 'admin', password: 'admin-password' },
        { username: 'vera', role: 'viewer', passwordHash: await hashPassword('vera-password', { ln: 10, r: 8, p: 1 }) },
      ],
    };
    auth = await OperatorAuth.create(config, () => now);
  });

  it('logs in with the right password and issues a token that verifies', async () => {
    const res = await auth.login('vera', 'vera-password');
    expect(res).toMatchObject({ tokenType: 'Bearer', expiresIn: 3600, username: 'vera', role: 'viewer' });
    expect(await auth.verify(res.accessToken)).toEqual({
      username: 'vera',
      role: 'viewer',
      expiresAt: now + 3_600_000,
    });
    expect((await auth.login('admin', 'admin-password')).role).toBe('admin');
  });

  it('refuses a wrong password and an unknown user with the same answer', async () => {
    expect(await codeOf(auth.login('vera', 'nope'))).toEqual([ErrorCode.UNAUTHORIZED, 'invalid username or password']);
    expect(await codeOf(auth.login('nobody', 'nope'))).toEqual([
      ErrorCode.UNAUTHORIZED,
      'invalid username or password',
    ]);
    expect((await codeOf(auth.login(5, 'x')))[0]).toBe(ErrorCode.INVALID_REQUEST);
  });

  it('limits failed logins per client and name', async () => {
    for (let i = 0; i < 10; i++)
      expect((await codeOf(auth.login('vera', 'nope', '10.0.0.9')))[0]).toBe(ErrorCode.UNAUTHORIZED);
    expect((await codeOf(auth.login('vera', 'vera-password', '10.0.0.9')))[0]).toBe(ErrorCode.RATE_LIMITED);
    expect((await auth.login('vera', 'vera-password', '10.0.0.10')).role).toBe('viewer');
  });

  it('refuses an expired token with its own message, and accepts 5 s of clock skew', async () => {
    const token = await auth.sign('vera', 'viewer', 60);
    now += 64_000;
    expect((await auth.verify(token)).username).toBe('vera');
    now += 2_000;
    expect(await codeOf(auth.verify(token))).toEqual([ErrorCode.UNAUTHORIZED, 'token expired; log in again']);
  });

  it('refuses tokens without exp, with other algorithms, issuers or audiences', async () => {
    const key = new TextEncoder().encode(SECRET);
    const iat = Math.floor(now / 1000);
    const base = () => new SignJWT({ role: 'admin' }).setSubject('admin').setIssuedAt(iat);
    const tokens = [
      await base().setProtectedHeader({ alg: 'HS256' }).setIssuer(JWT_ISSUER).setAudience(JWT_AUDIENCE).sign(key),
      await base()
        .setProtectedHeader({ alg: 'HS384' })
        .setIssuer(JWT_ISSUER)
        .setAudience(JWT_AUDIENCE)
        .setExpirationTime(iat + 60)
        .sign(key),
      await base()
        .setProtectedHeader({ alg: 'HS256' })
        .setIssuer('x')
        .setAudience(JWT_AUDIENCE)
        .setExpirationTime(iat + 60)
        .sign(key),
      await base()
        .setProtectedHeader({ alg: 'HS256' })
        .setIssuer(JWT_ISSUER)
        .setAudience('x')
        .setExpirationTime(iat + 60)
        .sign(key),
      'a.b.c',
      'x'.repeat(5000),
    ];
    for (const t of tokens) expect((await codeOf(auth.verify(t)))[0]).toBe(ErrorCode.UNAUTHORIZED);
  });
});
