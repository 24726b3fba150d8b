import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ErrorCode, type FieldlineError } from '@fieldline/contracts';
import { DeviceAuth } from './device-auth.service';
import { FileDeviceRegistry } from './file.device-registry';

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    return (err as FieldlineError).code;
  }
  return 'none';
}

describe('DeviceAuth over the file registry', () => {
  let dir: string;
  let file: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'fieldline-registry-'));
    file = join(dir, 'devices.json');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('registers, verifies, rotates and revokes; persists only hashes, atomically', async () => {
    const registry = new FileDeviceRegistry(file);
    const auth = new DeviceAuth(registry, 0);
    const revoked: string[] = [];
    auth.onRevoked((id) => revoked.push(id));
    const { token, ...reg } = await auth.register('pump-1', 'Pump');
    expect(reg).toEqual({
      deviceId: 'pump-1',
      name: 'Pump',
      createdAt: expect.any(Number),
      tokenIssuedAt: expect.any(Number),
    });
    expect(await auth.verify(token)).toBe('pump-1');
    expect(await auth.verify('fld_other')).toBeNull();
    expect(await auth.verify(undefined)).toBeNull();
    expect(await auth.verify('x'.repeat(1000))).toBeNull();
    expect(await codeOf(auth.register('pump-1', undefined))).toBe(ErrorCode.CONFLICT);
    expect(await codeOf(auth.register('bad id', undefined))).toBe(ErrorCode.INVALID_DEVICE_ID);

    const text = readFileSync(file, 'utf8');
    expect(text).not.toContain(token);
    expect(statSync(file).mode & 0o777).toBe(0o600);

    const rotated = await auth.rotate('pump-1');
    expect(await auth.verify(token)).toBeNull();
    expect(await auth.verify(rotated.token)).toBe('pump-1');
    await auth.revoke('pump-1');
    expect(await auth.verify(rotated.token)).toBeNull();
    expect(revoked).toEqual(['pump-1', 'pump-1']);
    expect(await codeOf(auth.rotate('nobody'))).toBe(ErrorCode.NOT_FOUND);

    // A new process reads the same registry back.
    const again = new DeviceAuth(new FileDeviceRegistry(file), 0);
    expect(await again.get('pump-1')).toMatchObject({ deviceId: 'pump-1', tokenIssuedAt: null });
    const third = await again.rotate('pump-1');
    expect(await new DeviceAuth(new FileDeviceRegistry(file)).verify(third.token)).toBe('pump-1');
    await registry.close();
  });

  it('caches lookups by token hash and forgets a revoked device at once', async () => {
    const registry = new FileDeviceRegistry(file);
    let lookups = 0;
    const deviceOfToken = registry.deviceOfToken.bind(registry);
    registry.deviceOfToken = (h: string) => {
      lookups++;
      return deviceOfToken(h);
    };
    const auth = new DeviceAuth(registry, 60_000);
    const { token } = await auth.register('d1', undefined);
    for (let i = 0; i < 5; i++) expect(await auth.verify(token)).toBe('d1');
    expect(lookups).toBe(1);
    await auth.revoke('d1');
    expect(await auth.verify(token)).toBeNull();
    expect(lookups).toBe(2);
  });
});
