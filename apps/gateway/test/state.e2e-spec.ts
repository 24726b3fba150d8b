/*
 * The state store seen from outside: an embedded gateway restarted on its DATA_DIR keeps every registration, token
 * state and metric metadata (DATA_DIR/state.sqlite), and imports the devices.json of an earlier version once.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deviceMetaPath, deviceTokenPath } from '@fieldline/contracts';
import { hashDeviceToken } from '../src/auth/device-registry';
import { postReadings, startGateway, type TestGateway } from './support';

describe('state store: an embedded gateway restarted on its DATA_DIR', () => {
  let dir: string;
  let gw: TestGateway | undefined;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'fieldline-state-e2e-'));
  });
  afterAll(async () => {
    await gw?.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  const admin = async (method: string, path: string, body?: object) => {
    const res = await fetch(gw!.url + path, {
      method,
      headers: { authorization: `Bearer ${await gw!.adminToken()}`, 'content-type': 'application/json' },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  const reading = (seq: number) => ({ ts: Date.now(), seq, metrics: { t: seq } });

  it('imports devices.json once and keeps registrations, revocations and metadata across restarts', async () => {
    const oldToken = 'fld_an-old-token-issued-by-the-file-registry-0001';
    const revokedLater = 'fld_an-old-token-issued-by-the-file-registry-0002';
    writeFileSync(
      join(dir, 'devices.json'),
      JSON.stringify({
        version: 1,
        devices: [
          { deviceId: 'old-1', name: 'Old 1', createdAt: 1, tokenIssuedAt: 1, tokenHash: hashDeviceToken(oldToken) },
          { deviceId: 'old-2', createdAt: 2, tokenIssuedAt: 2, tokenHash: hashDeviceToken(revokedLater) },
        ],
      }),
    );
    gw = await startGateway({}, dir);
    expect(existsSync(join(dir, 'state.sqlite'))).toBe(true);
    expect((await postReadings(gw.url, 'old-1', reading(1), oldToken)).status).toBe(202);
    expect((await postReadings(gw.url, 'old-2', reading(1), revokedLater)).status).toBe(202);
    expect((await admin('DELETE', deviceTokenPath('old-2'))).status).toBe(200);
    const fresh = await gw.deviceToken('new-1');
    const meta = {
      site: 'north',
      metrics: [{ metric: 't', unit: 'K', displayName: null, precision: 2, min: 0, max: 400 }],
    };
    expect((await admin('PUT', deviceMetaPath('new-1'), meta)).status).toBe(200);
    await gw.stop();

    gw = await startGateway({}, dir);
    expect((await postReadings(gw.url, 'old-1', reading(2), oldToken)).status).toBe(202);
    expect((await postReadings(gw.url, 'new-1', reading(1), fresh)).status).toBe(202);
    // devices.json still holds old-2's token: a second import would let it in again.
    expect((await postReadings(gw.url, 'old-2', reading(2), revokedLater)).status).toBe(401);
    expect((await admin('GET', deviceMetaPath('new-1'))).body).toMatchObject(meta);
  });
});
