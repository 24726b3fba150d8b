import { SignJWT } from 'jose';
import { ErrorCode, type FieldlineError, JWT_AUDIENCE, JWT_ISSUER } from '@fieldline/contracts';
import { type AuthConfig, DEFAULT_LOGIN_POLICY, type LoginPolicy } from '../config/auth.config';
import { OperatorAuth } from './operator-auth.service';
import { hashPassword } from './password';
import { hotp } from './totp';

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

  it('limits failed logins per name across clients, with a delay that a later attempt may wait out', async () => {
    // The failure of the test above counts for vera too now (per name, not per client and name): start clean.
    auth.unlock('vera');
    for (let i = 0; i < 10; i++)
      expect((await codeOf(auth.login('vera', 'nope', '10.0.0.9')))[0]).toBe(ErrorCode.UNAUTHORIZED);
    expect((await codeOf(auth.login('vera', 'vera-password', '10.0.0.9')))[0]).toBe(ErrorCode.RATE_LIMITED);
    // Another address is no way around it (it was under the old per-address rule)...
    expect((await codeOf(auth.login('vera', 'vera-password', '10.0.0.10')))[0]).toBe(ErrorCode.RATE_LIMITED);
    // ...but the delay is one, not a lock: after 1 s the real user gets in from anywhere.
    now += 1000;
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

describe('OperatorAuth: guessing and floods', () => {
  let now = Date.UTC(2026, 11, 2, 12);
  const cheap = { ln: 10, r: 8, p: 1 };
  const make = async (login: Partial<LoginPolicy> = {}, jwtSecret = SECRET) =>
    OperatorAuth.create(
      {
        jwtSecret,
        jwtTtlS: 3600,
        metricsToken: null,
        operators: [{ username: 'admin', role: 'admin', passwordHash: await hashPassword('admin-password', cheap) }],
        login: { ...DEFAULT_LOGIN_POLICY, ...login },
      },
      () => now,
    );
  const codes = async (attempts: Promise<unknown>[]) => {
    const out: Record<string, number> = {};
    for (const [code] of await Promise.all(attempts.map(codeOf))) out[code] = (out[code] ?? 0) + 1;
    return out;
  };

  it('25 concurrent guesses for one name: only the budget (10) is evaluated, the rest refused before hashing', async () => {
    const auth = await make();
    const guesses = Array.from({ length: 25 }, (_, i) => auth.login('admin', `guess-${i}`, `10.0.${i}.1`));
    expect(await codes(guesses)).toEqual({ [ErrorCode.UNAUTHORIZED]: 10, [ErrorCode.RATE_LIMITED]: 15 });
    expect(auth.throttled.user).toBe(15);
  });

  it('unknown names are throttled exactly like known ones, and the delay doubles up to its cap', async () => {
    const auth = await make({ freeFailures: 2, delayMs: 1000, maxDelayMs: 4000 });
    const retryAfter = async (name: string) => {
      const err = await auth.login(name, 'wrong', '10.1.0.1').then(
        () => null,
        (e: FieldlineError) => e,
      );
      return err ? [err.code, err.details?.retryAfterMs] : [];
    };
    for (const name of ['admin', 'ghost']) {
      expect(await retryAfter(name)).toEqual([ErrorCode.UNAUTHORIZED, undefined]);
      expect(await retryAfter(name)).toEqual([ErrorCode.UNAUTHORIZED, undefined]);
      expect(await retryAfter(name)).toEqual([ErrorCode.RATE_LIMITED, 1000]);
      const waits = [];
      for (let i = 0; i < 4; i++) {
        now += (waits.at(-1) as number | undefined) ?? 1000;
        expect((await retryAfter(name))[0]).toBe(ErrorCode.UNAUTHORIZED);
        waits.push((await retryAfter(name))[1]);
      }
      expect(waits).toEqual([2000, 4000, 4000, 4000]);
    }
  });

  it('the known-client cookie of an earlier login lets the real user in while the name is delayed', async () => {
    const auth = await make();
    const { knownClient } = await auth.authenticate('admin', 'admin-password', { address: '10.2.0.1' });
    await codes(Array.from({ length: 30 }, (_, i) => auth.login('admin', `guess-${i}`, `10.3.${i}.1`)));
    expect((await codeOf(auth.login('admin', 'admin-password', '10.2.0.1')))[0]).toBe(ErrorCode.RATE_LIMITED);
    const ok = await auth.authenticate('admin', 'admin-password', { address: '10.2.0.1', knownClient });
    expect(ok.session.role).toBe('admin');
    // A forged, altered or foreign cookie is no cookie: the name's delay applies.
    const other = await make({}, SECRET.replace('unit', 'else'));
    const foreign = (await other.authenticate('admin', 'admin-password')).knownClient;
    for (const bad of [foreign, knownClient.slice(0, -2) + 'AA', 'a.b.c.d', 'x'.repeat(300)])
      expect((await codeOf(auth.authenticate('admin', 'admin-password', { knownClient: bad })))[0]).toBe(
        ErrorCode.RATE_LIMITED,
      );
    // The cookie has a budget of its own: guessing with it is throttled too.
    const guesses = Array.from({ length: 12 }, () => auth.authenticate('admin', 'nope', { knownClient }));
    expect(await codes(guesses)).toEqual({ [ErrorCode.UNAUTHORIZED]: 10, [ErrorCode.RATE_LIMITED]: 2 });
    // An admin unlock clears the name (10 evaluated guesses) and its known clients (10).
    expect(auth.unlock('admin')).toBe(20);
    expect((await auth.login('admin', 'admin-password', '10.3.0.1')).role).toBe('admin');
  });

  it('limits failures per address beside the name; a success gives its token back', async () => {
    const auth = await make({ addressBurst: 3, addressRate: 0.001 });
    expect((await codeOf(auth.login('admin', 'admin-password', '10.4.0.1')))[0]).toBe('none');
    for (const name of ['a', 'b', 'c'])
      expect((await codeOf(auth.login(name, 'x', '10.4.0.1')))[0]).toBe('UNAUTHORIZED');
    expect((await codeOf(auth.login('d', 'x', '10.4.0.1')))[0]).toBe(ErrorCode.RATE_LIMITED);
    expect(auth.throttled.address).toBe(1);
    expect((await codeOf(auth.login('d', 'x', '10.4.0.2')))[0]).toBe(ErrorCode.UNAUTHORIZED);
  });

  it('a full hashing queue refuses at once and charges nothing', async () => {
    const auth = await make({ hashConcurrency: 1, hashQueue: 2 });
    const flood = Array.from({ length: 8 }, (_, i) => auth.login('admin', 'wrong', `10.5.${i}.1`));
    expect(await codes(flood)).toEqual({ [ErrorCode.UNAUTHORIZED]: 3, [ErrorCode.RATE_LIMITED]: 5 });
    expect(auth.throttled.queue).toBe(5);
    // Only the three evaluated count against the name: seven more fit in its budget of ten.
    for (let i = 0; i < 7; i++)
      expect((await codeOf(auth.login('admin', 'wrong', '10.6.0.1')))[0]).toBe('UNAUTHORIZED');
    expect((await codeOf(auth.login('admin', 'wrong', '10.6.0.1')))[0]).toBe(ErrorCode.RATE_LIMITED);
  });

  it('with a TOTP secret, a missing, wrong or replayed code answers like a wrong password and counts', async () => {
    const secret = Buffer.from('12345678901234567890');
    const auth = await OperatorAuth.create(
      {
        jwtSecret: SECRET,
        jwtTtlS: 3600,
        metricsToken: null,
        operators: [{ username: 'admin', role: 'admin', passwordHash: await hashPassword('admin-password', cheap) }],
        login: { ...DEFAULT_LOGIN_POLICY, freeFailures: 4 },
        totpSecrets: new Map([['admin', secret]]),
      },
      () => now,
    );
    const code = hotp(secret, Math.floor(now / 30_000));
    const unauthorized = [ErrorCode.UNAUTHORIZED, 'invalid username or password'];
    expect(await codeOf(auth.authenticate('admin', 'admin-password'))).toEqual(unauthorized);
    expect(await codeOf(auth.authenticate('admin', 'admin-password', {}, '000000'))).toEqual(unauthorized);
    expect(await codeOf(auth.authenticate('admin', 'wrong', {}, code))).toEqual(unauthorized);
    expect((await codeOf(auth.authenticate('admin', 'admin-password', {}, 7)))[0]).toBe(ErrorCode.INVALID_REQUEST);
    expect((await auth.authenticate('admin', 'admin-password', {}, code)).session.role).toBe('admin');
    expect(await codeOf(auth.authenticate('admin', 'admin-password', {}, code))).toEqual(unauthorized);
    for (let i = 0; i < 3; i++) await codeOf(auth.authenticate('admin', 'admin-password', {}, '000000'));
    expect((await codeOf(auth.authenticate('admin', 'admin-password', {}, code)))[0]).toBe(ErrorCode.RATE_LIMITED);
  });
});
