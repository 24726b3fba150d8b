import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeDeviceRegistryContract } from './device-registry.contract';
import { FileDeviceRegistry } from './file.device-registry';

describeDeviceRegistryContract('file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fieldline-registry-'));
  const file = join(dir, 'devices.json');
  return Promise.resolve({
    registry: new FileDeviceRegistry(file),
    reopen: () => Promise.resolve(new FileDeviceRegistry(file)),
    cleanup: () => Promise.resolve(rmSync(dir, { recursive: true, force: true })),
  });
});

describe('FileDeviceRegistry', () => {
  it('refuses a file that is not a registry', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fieldline-registry-'));
    try {
      writeFileSync(join(dir, 'devices.json'), '{"version":2}');
      expect(() => new FileDeviceRegistry(join(dir, 'devices.json'))).toThrow(/not a device registry/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
