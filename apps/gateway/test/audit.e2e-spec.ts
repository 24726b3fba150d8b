/*
 * The audit log seen from outside, against a real gateway over HTTP: logins (also refused ones of unknown names),
 * unlocks and every device registry change are recorded with who, when, from where and what; GET /api/audit is for
 * admins only, filters and pages; entries survive a restart on the same DATA_DIR.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AUDIT_PATH,
  AuditAction,
  AuditPageSchema,
  type AuditRecord,
  AuthPath,
  deviceMetaPath,
  deviceTokenPath,
  ErrorCode,
} from '@fieldline/contracts';
import { schemaValidator } from './openapi.check';
import { login, startGateway, TEST_ADMIN_PASSWORD, TEST_VIEWER, type TestGateway } from './support';

describe('audit log (GET /api/audit) against a running gateway', () => {
  let dir: string;
  let gw: TestGateway | undefined;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'fieldline-audit-e2e-'));
    // The test client's own address is a trusted proxy here, so that X-Forwarded-For is honoured.
    gw = await startGateway({ TRUST_PROXY_HEADER: 'x-forwarded-for', TRUSTED_PROXIES: '127.0.0.1/32' }, dir);
  });
  afterAll(async () => {
    await gw?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const call = async (method: string, path: string, opts: { body?: object; token?: string; xff?: string } = {}) => {
    const res = await fetch(gw!.url + path, {
      method,
      headers: {
        authorization: `Bearer ${opts.token ?? (await gw!.adminToken())}`,
        'content-type': 'application/json',
        ...(opts.xff ? { 'x-forwarded-for': opts.xff } : {}),
      },
      ...(opts.body ? { body: JSON.stringify(opts.body) } : {}),
    });
    return { status: res.status, body: (await res.json()) as any };
  };
  const audit = async (query = ''): Promise<AuditRecord[]> => {
    const res = await call('GET', `${AUDIT_PATH}${query}`);
    expect(res.status).toBe(200);
    return AuditPageSchema.parse(res.body).entries;
  };

  it('records refused and successful logins with the claimed name, bounded and escaped, and the client address', async () => {
    const forged = `nobody\n${'x'.repeat(300)}`;
    const refused = await fetch(gw!.url + AuthPath.login, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-forwarded-for': '203.0.113.9' },
      body: JSON.stringify({ username: forged, password: 'wrong' }),
    });
    expect(refused.status).toBe(400);
    expect((await login(gw!.url, 'ghost', 'whatever')).status).toBe(401);
    expect((await login(gw!.url, 'admin', 'not-the-password')).status).toBe(401);
    expect((await login(gw!.url, TEST_VIEWER.username, TEST_VIEWER.password)).status).toBe(200);

    const logins = await audit(`?action=${AuditAction.login}`);
    const guess = logins.find((e) => e.actor?.startsWith('nobody'));
    expect(guess).toMatchObject({ ok: false, from: '203.0.113.9', details: { code: ErrorCode.INVALID_REQUEST } });
    expect(guess!.actor!.startsWith('nobody\\u000axxx')).toBe(true);
    expect(guess!.actor!.length).toBeLessThanOrEqual(128);
    expect(logins.find((e) => e.actor === 'ghost')).toMatchObject({
      ok: false,
      details: { code: ErrorCode.UNAUTHORIZED },
    });
    expect(logins.find((e) => e.actor === 'admin' && !e.ok)).toMatchObject({ from: '127.0.0.1' });
    expect(logins.find((e) => e.actor === TEST_VIEWER.username)).toMatchObject({
      ok: true,
      details: { role: 'viewer' },
    });
    // Newest first.
    const at = logins.map((e) => e.at);
    expect(at).toEqual([...at].sort((a, b) => b - a));
  });

  it('records every device registry change, done or refused, with the admin who made it', async () => {
    const xff = { xff: '198.51.100.4' };
    expect((await call('POST', AuthPath.devices, { body: { deviceId: 'aud-1', name: 'Pump' }, ...xff })).status).toBe(
      201,
    );
    expect((await call('POST', AuthPath.devices, { body: { deviceId: 'aud-1' } })).status).toBe(409);
    expect((await call('PUT', deviceMetaPath('aud-1'), { body: { site: 'north' } })).status).toBe(200);
    expect((await call('PUT', deviceMetaPath('aud-1'), { body: { site: 7 } })).status).toBe(400);
    expect((await call('POST', deviceTokenPath('aud-1'))).status).toBe(200);
    expect((await call('DELETE', deviceTokenPath('aud-1'))).status).toBe(200);
    expect((await call('DELETE', deviceTokenPath('aud-none'))).status).toBe(404);

    const entries = await audit('?target=aud-1');
    const summary = entries.map((e) => [e.action, e.ok, e.actor, e.details?.code ?? null]).reverse();
    expect(summary).toEqual([
      [AuditAction.deviceRegister, true, 'admin', null],
      [AuditAction.deviceRegister, false, 'admin', ErrorCode.CONFLICT],
      [AuditAction.deviceMeta, true, 'admin', null],
      [AuditAction.deviceMeta, false, 'admin', ErrorCode.INVALID_REQUEST],
      [AuditAction.tokenRotate, true, 'admin', null],
      [AuditAction.tokenRevoke, true, 'admin', null],
    ]);
    expect(entries.at(-1)).toMatchObject({ from: '198.51.100.4', details: { name: 'Pump' } });
    expect(await audit('?target=aud-none')).toMatchObject([
      { action: AuditAction.tokenRevoke, ok: false, details: { code: ErrorCode.NOT_FOUND } },
    ]);
    // An action prefix selects a subject.
    const tokens = await audit('?action=token.&target=aud-1');
    expect(tokens.map((e) => e.action)).toEqual([AuditAction.tokenRevoke, AuditAction.tokenRotate]);
    expect((await audit('?ok=false&target=aud-1')).every((e) => !e.ok)).toBe(true);
  });

  it('records an unlock of a login delay', async () => {
    expect((await call('POST', AuthPath.unlock, { body: { username: 'admin' } })).status).toBe(200);
    expect(await audit(`?action=${AuditAction.unlock}`)).toMatchObject([
      { actor: 'admin', target: 'admin', ok: true, details: { failures: expect.any(Number) } },
    ]);
  });

  it('pages newest first by cursor; answers match the OpenAPI document', async () => {
    const doc = (await (await fetch(gw!.url + '/api/openapi.json')).json()) as Record<string, unknown>;
    const validate = schemaValidator(doc);
    const all = await audit('?limit=500');
    expect(all.length).toBeGreaterThan(5);
    const ids: string[] = [];
    let path = `${AUDIT_PATH}?limit=2`;
    for (;;) {
      const res = await call('GET', path);
      expect(validate('AuditPage', res.body)).toEqual([]);
      ids.push(...res.body.entries.map((e: AuditRecord) => e.id));
      if (!res.body.nextCursor) break;
      path = `${AUDIT_PATH}?limit=2&cursor=${encodeURIComponent(res.body.nextCursor)}`;
    }
    expect(ids).toEqual(all.map((e) => e.id));
    const from = all[2].at;
    expect(await audit(`?from=${from}&limit=500`)).toEqual(all.filter((e) => e.at >= from));
    expect(await audit(`?to=${new Date(from).toISOString()}&limit=500`)).toEqual(all.filter((e) => e.at < from));
  });

  it('refuses bad filters with INVALID_REQUEST naming the parameter', async () => {
    for (const [query, param] of [
      ['?limit=0', 'limit'],
      ['?limit=abc', 'limit'],
      ['?ok=yes', 'ok'],
      ['?from=yesterday', 'from'],
      ['?cursor=zzz', 'cursor'],
      [`?actor=${'a'.repeat(200)}`, 'actor'],
    ]) {
      const res = await call('GET', AUDIT_PATH + query);
      expect([query, res.status, res.body.code, res.body.details?.param]).toEqual([
        query,
        400,
        ErrorCode.INVALID_REQUEST,
        param,
      ]);
    }
  });

  it('is for admins only: a viewer gets 403, no token 401', async () => {
    const viewer = await call('GET', AUDIT_PATH, { token: await gw!.operatorToken('viewer') });
    expect([viewer.status, viewer.body.code]).toEqual([403, ErrorCode.FORBIDDEN]);
    expect((await fetch(gw!.url + AUDIT_PATH)).status).toBe(401);
  });

  it('counts its entries on /metrics', async () => {
    const text = await (await fetch(`${gw!.url}/metrics`)).text();
    const recorded = /^fieldline_audit_entries_total\{outcome="recorded"\} (\d+)$/m.exec(text);
    expect(Number(recorded?.[1])).toBeGreaterThanOrEqual((await audit('?limit=500')).length);
    expect(text).toMatch(/^fieldline_audit_entries_total\{outcome="dropped"\} 0$/m);
  });

  it('keeps its entries across a restart on the same DATA_DIR', async () => {
    const before = await audit('?limit=500');
    await gw!.stop();
    gw = await startGateway({}, dir);
    expect((await login(gw.url, 'admin', TEST_ADMIN_PASSWORD)).status).toBe(200);
    const after = await audit('?limit=500');
    expect(after.slice(-before.length)).toEqual(before);
    expect(after.length).toBeGreaterThan(before.length);
  });
});
