import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AUTH_EXPIRED_EVENT,
  AuthPath,
  type ErrorBody,
  ErrorCode,
  type LoginResponse,
  userPasswordPath,
  userPath,
} from '@fieldline/contracts';
import { login, Operator, startGateway, TEST_ADMIN_PASSWORD, type TestGateway, waitFor } from './support';

jest.setTimeout(60_000);

/** A JSON request; answers status and parsed body (null when there is none). */
async function call(
  gw: TestGateway,
  method: string,
  path: string,
  token: string | null,
  body?: unknown,
): Promise<{ status: number; body: any }> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (token !== null) headers.authorization = `Bearer ${token}`;
  const res = await fetch(gw.url + path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text === '' ? null : JSON.parse(text) };
}

/** An operator socket that records whether and why the gateway cut it. */
async function watchedSocket(gw: TestGateway, token: string) {
  const op = await new Operator(gw.url, { token }).connected();
  const seen: { expired: ErrorBody | null; disconnected: boolean } = { expired: null, disconnected: false };
  op.socket.on(AUTH_EXPIRED_EVENT, (e: ErrorBody) => (seen.expired = e));
  op.socket.on('disconnect', () => (seen.disconnected = true));
  return { op, seen };
}

describe('operators managed at run time', () => {
  let gw: TestGateway;
  let admin: string;
  beforeAll(async () => {
    gw = await startGateway();
    admin = await gw.adminToken();
  });
  afterAll(() => gw.stop());

  const session = async (username: string, password: string): Promise<LoginResponse> => {
    const r = await login(gw.url, username, password);
    expect(r.status).toBe(200);
    return r.body as LoginResponse;
  };

  it('lists the configured users (bootstrapped into the store) to admins only', async () => {
    const list = await call(gw, 'GET', AuthPath.users, admin);
    expect(list.status).toBe(200);
    expect(list.body.map((u: { username: string; role: string }) => [u.username, u.role])).toEqual([
      ['admin', 'admin'],
      ['viewer', 'viewer'],
    ]);
    expect(JSON.stringify(list.body)).not.toContain('scrypt');
    const viewer = await call(gw, 'GET', AuthPath.users, await gw.operatorToken('viewer'));
    expect([viewer.status, viewer.body.code]).toEqual([403, ErrorCode.FORBIDDEN]);
    expect((await call(gw, 'GET', AuthPath.users, null)).status).toBe(401);
  });

  it('adds a user who logs in with its role; bad input and a taken name are refused clearly', async () => {
    const created = await call(gw, 'POST', AuthPath.users, admin, {
      username: 'olga',
      role: 'operator',
      password: 'olga-password-1',
    });
    expect(created.status).toBe(201);
    expect(created.body).toEqual({ user: expect.objectContaining({ username: 'olga', role: 'operator' }) });
    const s = await session('olga', 'olga-password-1');
    expect(s).toMatchObject({ username: 'olga', role: 'operator', tokenType: 'Bearer' });
    expect(typeof s.refreshToken).toBe('string');
    expect((await call(gw, 'GET', AuthPath.me, s.accessToken)).body).toMatchObject({ role: 'operator' });
    for (const body of [
      { username: 'no spaces', role: 'viewer' },
      { username: 'pete', role: 'root' },
      { username: 'pete', role: 'viewer', password: 'short' },
    ])
      expect((await call(gw, 'POST', AuthPath.users, admin, body)).body.code).toBe(ErrorCode.INVALID_REQUEST);
    const again = await call(gw, 'POST', AuthPath.users, admin, { username: 'olga', role: 'viewer' });
    expect([again.status, again.body.code]).toEqual([409, ErrorCode.CONFLICT]);
    // Without a password the gateway makes one and shows it once.
    const gen = await call(gw, 'POST', AuthPath.users, admin, { username: 'pete', role: 'viewer' });
    expect(gen.body.password).toMatch(/^[A-Za-z0-9_-]{24}$/);
    expect((await session('pete', gen.body.password as string)).role).toBe('viewer');
  });

  it('refresh rotates; a spent refresh token ends the whole session, its access tokens too', async () => {
    const first = await session('olga', 'olga-password-1');
    const second = await call(gw, 'POST', AuthPath.refresh, null, { refreshToken: first.refreshToken });
    expect(second.status).toBe(200);
    expect(second.body.refreshToken).not.toBe(first.refreshToken);
    expect((await call(gw, 'GET', AuthPath.me, second.body.accessToken)).status).toBe(200);
    const replay = await call(gw, 'POST', AuthPath.refresh, null, { refreshToken: first.refreshToken });
    expect([replay.status, replay.body.code]).toEqual([401, ErrorCode.UNAUTHORIZED]);
    expect((await call(gw, 'POST', AuthPath.refresh, null, { refreshToken: second.body.refreshToken })).status).toBe(
      401,
    );
    const me = await call(gw, 'GET', AuthPath.me, second.body.accessToken);
    expect([me.status, me.body.message]).toEqual([401, 'this session has ended; log in again']);
    expect((await call(gw, 'POST', AuthPath.refresh, null, { refreshToken: 5 })).body.code).toBe(
      ErrorCode.INVALID_REQUEST,
    );
  });

  it('logout ends the session: its refresh token and access token stop working, other sessions stay', async () => {
    const a = await session('olga', 'olga-password-1');
    const b = await session('olga', 'olga-password-1');
    expect((await call(gw, 'POST', AuthPath.logout, null, { refreshToken: a.refreshToken })).status).toBe(204);
    expect((await call(gw, 'GET', AuthPath.me, a.accessToken)).status).toBe(401);
    expect((await call(gw, 'POST', AuthPath.refresh, null, { refreshToken: a.refreshToken })).status).toBe(401);
    expect((await call(gw, 'GET', AuthPath.me, b.accessToken)).status).toBe(200);
  });

  it('disabling a user cuts its open sockets at once and refuses its login, refresh and tokens', async () => {
    const s = await session('olga', 'olga-password-1');
    const { seen } = await watchedSocket(gw, s.accessToken);
    const other = await watchedSocket(gw, await gw.operatorToken('viewer'));
    const res = await call(gw, 'PATCH', userPath('olga'), admin, { disabled: true });
    expect([res.status, typeof res.body.disabledAt]).toEqual([200, 'number']);
    await waitFor(() => seen.disconnected, 'the disabled user to be cut');
    expect(seen.expired).toEqual({ code: ErrorCode.UNAUTHORIZED, message: 'this user is disabled' });
    expect(other.seen.disconnected).toBe(false);
    other.op.close();
    expect((await login(gw.url, 'olga', 'olga-password-1')).status).toBe(401);
    expect((await call(gw, 'POST', AuthPath.refresh, null, { refreshToken: s.refreshToken })).status).toBe(401);
    expect((await call(gw, 'GET', AuthPath.me, s.accessToken)).status).toBe(401);
    expect((await call(gw, 'PATCH', userPath('olga'), admin, { disabled: false })).body.disabledAt).toBeNull();
    expect((await session('olga', 'olga-password-1')).role).toBe('operator');
  });

  it('a new role takes effect at once: old tokens are refused, sockets cut, a refresh carries the new role', async () => {
    const s = await session('olga', 'olga-password-1');
    const { seen } = await watchedSocket(gw, s.accessToken);
    expect((await call(gw, 'PATCH', userPath('olga'), admin, { role: 'viewer' })).body.role).toBe('viewer');
    await waitFor(() => seen.disconnected, 'the socket with the old role to be cut');
    expect((await call(gw, 'GET', AuthPath.me, s.accessToken)).status).toBe(401);
    const next = await call(gw, 'POST', AuthPath.refresh, null, { refreshToken: s.refreshToken });
    expect(next.body.role).toBe('viewer');
    (await new Operator(gw.url, { token: next.body.accessToken as string }).connected()).close();
  });

  it('an admin resets a password: the old one and every session stop working', async () => {
    const s = await session('olga', 'olga-password-1');
    const { seen } = await watchedSocket(gw, s.accessToken);
    const reset = await call(gw, 'POST', userPasswordPath('olga'), admin, {});
    expect(reset.status).toBe(200);
    const password = reset.body.password as string;
    await waitFor(() => seen.disconnected, 'the reset user to be cut');
    expect((await login(gw.url, 'olga', 'olga-password-1')).status).toBe(401);
    expect((await call(gw, 'POST', AuthPath.refresh, null, { refreshToken: s.refreshToken })).status).toBe(401);
    expect((await session('olga', password)).username).toBe('olga');
    const given = await call(gw, 'POST', userPasswordPath('olga'), admin, { password: 'olga-password-2' });
    expect(given.body.password).toBeUndefined();
    expect((await call(gw, 'POST', userPasswordPath('nobody'), admin, {})).body.code).toBe(ErrorCode.NOT_FOUND);
  });

  it('a user changes their own password with the current one; every other session ends', async () => {
    const elsewhere = await session('olga', 'olga-password-2');
    const here = await session('olga', 'olga-password-2');
    const body = { currentPassword: 'wrong-password', newPassword: 'olga-password-3' };
    const wrong = await call(gw, 'POST', AuthPath.password, here.accessToken, body);
    expect([wrong.status, wrong.body.code]).toEqual([403, ErrorCode.FORBIDDEN]);
    const ok = await call(gw, 'POST', AuthPath.password, here.accessToken, {
      currentPassword: 'olga-password-2',
      newPassword: 'olga-password-3',
    });
    expect(ok.status).toBe(200);
    expect((await call(gw, 'GET', AuthPath.me, ok.body.accessToken)).status).toBe(200);
    const refreshed = await call(gw, 'POST', AuthPath.refresh, null, { refreshToken: elsewhere.refreshToken });
    expect(refreshed.status).toBe(401);
    expect((await login(gw.url, 'olga', 'olga-password-2')).status).toBe(401);
    expect((await login(gw.url, 'olga', 'olga-password-3')).status).toBe(200);
  });

  it('keeps one enabled admin; removes users', async () => {
    for (const [method, path, body] of [
      ['PATCH', userPath('admin'), { disabled: true }],
      ['PATCH', userPath('admin'), { role: 'operator' }],
      ['DELETE', userPath('admin'), undefined],
    ] as const)
      expect((await call(gw, method, path, admin, body)).body.code).toBe(ErrorCode.CONFLICT);
    expect((await call(gw, 'DELETE', userPath('pete'), admin)).status).toBe(204);
    expect((await call(gw, 'DELETE', userPath('pete'), admin)).status).toBe(404);
    expect((await login(gw.url, 'pete', 'anything-at-all')).status).toBe(401);
  });
});

describe('ADMIN_PASSWORD is the bootstrap only', () => {
  it('creates admin on a fresh store; after a password change there, a restart does not undo it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fieldline-ops-'));
    try {
      let gw = await startGateway({}, dir);
      const s = (await login(gw.url, 'admin', TEST_ADMIN_PASSWORD)).body as LoginResponse;
      const changed = await call(gw, 'POST', AuthPath.password, s.accessToken, {
        currentPassword: TEST_ADMIN_PASSWORD,
        newPassword: 'admin-changed-password',
      });
      expect(changed.status).toBe(200);
      await gw.stop();
      gw = await startGateway({}, dir);
      expect((await login(gw.url, 'admin', TEST_ADMIN_PASSWORD)).status).toBe(401);
      expect((await login(gw.url, 'admin', 'admin-changed-password')).status).toBe(200);
      await gw.stop();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
