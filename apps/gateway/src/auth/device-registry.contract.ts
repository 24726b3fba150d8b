import type { DeviceRecord, DeviceRegistry } from './device-registry';

/*
 * The behaviour every DeviceRegistry promises, run against each implementation (file, Redis).
 */

export interface RegistryFixture {
  registry: DeviceRegistry;
  /** A second instance on the same storage: another process, or another node. */
  reopen(): Promise<DeviceRegistry>;
  cleanup(): Promise<void>;
}

const record = (deviceId: string, tokenHash: string | null, over: Partial<DeviceRecord> = {}): DeviceRecord => ({
  deviceId,
  createdAt: 1_700_000_000_000,
  tokenIssuedAt: 1_700_000_000_000,
  tokenHash,
  ...over,
});

export function describeDeviceRegistryContract(name: string, make: () => Promise<RegistryFixture>): void {
  describe(`DeviceRegistry contract: ${name}`, () => {
    let f: RegistryFixture;
    beforeEach(async () => {
      f = await make();
    });
    afterEach(async () => {
      await f.registry.close();
      await f.cleanup();
    });

    it('creates a device once and finds it by id and by token hash', async () => {
      expect(await f.registry.create(record('a', 'h-a', { name: 'Pump A' }))).toBe(true);
      expect(await f.registry.create(record('a', 'h-other'))).toBe(false);
      expect(await f.registry.get('a')).toEqual(record('a', 'h-a', { name: 'Pump A' }));
      expect(await f.registry.get('nobody')).toBeUndefined();
      expect(await f.registry.deviceOfToken('h-a')).toBe('a');
      expect(await f.registry.deviceOfToken('h-other')).toBeNull();
    });

    it('replaces and revokes a token: the old hash stops resolving at once', async () => {
      await f.registry.create(record('b', 'h-b1'));
      expect(await f.registry.setToken('b', 'h-b2', 1_800_000_000_000)).toEqual(
        record('b', 'h-b2', { tokenIssuedAt: 1_800_000_000_000 }),
      );
      expect(await f.registry.deviceOfToken('h-b1')).toBeNull();
      expect(await f.registry.deviceOfToken('h-b2')).toBe('b');
      expect(await f.registry.setToken('b', null, null)).toEqual(record('b', null, { tokenIssuedAt: null }));
      expect(await f.registry.deviceOfToken('h-b2')).toBeNull();
      expect(await f.registry.setToken('nobody', 'h-x', 1)).toBeUndefined();
      expect(await f.registry.deviceOfToken('h-x')).toBeNull();
    });

    it('lists devices by id and keeps them for the next instance', async () => {
      await f.registry.create(record('z', 'h-z'));
      await f.registry.create(record('m', 'h-m'));
      await f.registry.setToken('m', 'h-m2', 5);
      expect((await f.registry.list()).map((d) => [d.deviceId, d.tokenHash])).toEqual([
        ['m', 'h-m2'],
        ['z', 'h-z'],
      ]);
      const again = await f.reopen();
      try {
        expect(await again.deviceOfToken('h-m2')).toBe('m');
        expect(await again.get('z')).toEqual(record('z', 'h-z'));
      } finally {
        await again.close();
      }
    });
  });
}
