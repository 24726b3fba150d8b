import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Transaction } from 'kysely';
import type { StateSchema } from '../state/state.schema';
import type { StateStore } from '../state/state.store';
import { DeviceAuth } from './device-auth.service';
import { hashDeviceToken } from './device-registry';
import { describeDeviceRegistryContract } from './device-registry.contract';
import { importLegacyRegistries } from './device-registry.import';
import { StateDeviceRegistry } from './state.device-registry';

/*
 * The device registry in the state store, over one engine: the DeviceRegistry contract, then what only it keeps
 * (times, tags, metric metadata), the one-time import, and the token cache in front of it.
 */

export interface StateFixture {
  /** A new instance on the fixture's database, migrated. */
  open(): Promise<StateStore>;
  cleanup(): Promise<void>;
}

export function describeStateDeviceRegistry(name: string, make: () => Promise<StateFixture>): void {
  describeDeviceRegistryContract(`state (${name})`, async () => {
    const f = await make();
    const stores = [await f.open()];
    return {
      registry: new StateDeviceRegistry(stores[0]),
      reopen: async () => {
        stores.push(await f.open());
        return new StateDeviceRegistry(stores[stores.length - 1]);
      },
      cleanup: async () => {
        for (const s of stores) await s.close();
        await f.cleanup();
      },
    };
  });

  describe(`StateDeviceRegistry (${name})`, () => {
    let f: StateFixture;
    let store: StateStore;
    let clock: number;
    let registry: StateDeviceRegistry;
    beforeEach(async () => {
      f = await make();
      store = await f.open();
      clock = 1_750_000_000_000;
      registry = new StateDeviceRegistry(store, null, () => clock);
    });
    afterEach(async () => {
      await store.close();
      await f.cleanup();
    });

    it("runs a change's extra writes (its audit entry) in its transaction, only when it changed something", async () => {
      const ran: string[] = [];
      const inTrx = (what: string) => async (trx: Transaction<StateSchema>) => {
        await trx.insertInto('state_imports').values({ name: what, imported_at: clock, count: 0 }).execute();
        ran.push(what);
      };
      const rec = { deviceId: 'p1', createdAt: 1, tokenIssuedAt: 1, tokenHash: 'h1' };
      expect(await registry.create(rec, inTrx('create'))).toBe(true);
      expect(await registry.create({ ...rec, tokenHash: 'h9' }, inTrx('taken'))).toBe(false);
      expect(await registry.setToken('nobody', null, null, inTrx('unknown'))).toBeUndefined();
      expect(await registry.setMeta('nobody', { site: 'x' }, inTrx('unknown meta'))).toBeUndefined();
      expect(await registry.setToken('p1', 'h2', clock, inTrx('rotate'))).toMatchObject({ tokenHash: 'h2' });
      expect(await registry.setMeta('p1', { site: 'north' }, inTrx('meta'))).toMatchObject({ site: 'north' });
      expect(ran).toEqual(['create', 'rotate', 'meta']);
      // A failing extra write rolls the change back.
      let message = '';
      try {
        await registry.setToken('p1', 'h3', clock, inTrx('meta'));
      } catch (err) {
        message = String(err);
      }
      expect(message).toMatch(/unique|duplicate/i);
      expect(await registry.deviceOfToken('h2')).toBe('p1');
      expect(await registry.deviceOfToken('h3')).toBeNull();
      const names = await store.db.selectFrom('state_imports').select('name').orderBy('name').execute();
      expect(names.map((r) => r.name)).toEqual(['create', 'meta', 'rotate']);
    });

    it('keeps rotation and revocation times, tags and metric metadata', async () => {
      await registry.create({ deviceId: 'p1', name: 'Pump', createdAt: 1, tokenIssuedAt: 1, tokenHash: 'h1' });
      clock += 1000;
      await registry.setToken('p1', 'h2', clock);
      const rotatedAt = clock;
      clock += 1000;
      await registry.setToken('p1', null, null);
      expect(await registry.setTags('p1', { site: 'north', model: 'X-2', tags: { line: '3', 'floor ü': 'A' } })).toBe(
        true,
      );
      expect(await registry.setTags('nobody', { site: null, model: null, tags: {} })).toBe(false);
      expect(await registry.details('p1')).toEqual({
        deviceId: 'p1',
        name: 'Pump',
        createdAt: 1,
        tokenIssuedAt: null,
        rotatedAt,
        revokedAt: clock,
        site: 'north',
        model: 'X-2',
        tags: { line: '3', 'floor ü': 'A' },
      });
      const t = { metric: 't', unit: '°C', displayName: 'Temperature', precision: 1, min: -40, max: 85.5 };
      const h = { metric: 'h', unit: '%', displayName: null, precision: 0, min: 0, max: 100 };
      expect(await registry.setMetrics('p1', [t, h])).toBe(true);
      expect(await registry.metrics('p1')).toEqual([h, t]);
      expect(await registry.setMetrics('p1', [t])).toBe(true);
      expect(await registry.metrics('p1')).toEqual([t]);
      expect(await registry.setMetrics('nobody', [t])).toBe(false);
    });

    it('imports devices.json once, keeping devices already in the store, and says how many', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'fieldline-import-'));
      try {
        const file = join(dir, 'devices.json');
        const old = [
          { deviceId: 'a', name: 'A', createdAt: 10, tokenIssuedAt: 11, tokenHash: hashDeviceToken('tok-a') },
          { deviceId: 'b', createdAt: 20, tokenIssuedAt: null, tokenHash: null },
          { deviceId: 'c', createdAt: 30, tokenIssuedAt: 31, tokenHash: 'h-old-c' },
        ];
        writeFileSync(file, JSON.stringify({ version: 1, devices: old }));
        await registry.create({ deviceId: 'c', createdAt: 5, tokenIssuedAt: 5, tokenHash: 'h-new-c' });
        const lines: string[] = [];
        const log = { log: (m: string) => lines.push(m) };
        expect(await importLegacyRegistries(registry, { file, redis: null }, log)).toEqual({
          'devices.json': { imported: 2, skipped: 1 },
        });
        expect(lines).toEqual([
          'device registry: imported 2 devices from devices.json into the state store (1 were there already and kept)',
        ]);
        expect(await registry.list()).toEqual([
          old[0],
          old[1],
          { deviceId: 'c', createdAt: 5, tokenIssuedAt: 5, tokenHash: 'h-new-c' },
        ]);
        expect(await new DeviceAuth(registry).verify('tok-a')).toBe('a');
        // The next start (another node, or this one after a revocation) does not import again.
        await registry.setToken('a', null, null);
        expect(await importLegacyRegistries(registry, { file, redis: null }, log)).toEqual({ 'devices.json': null });
        expect(lines).toHaveLength(1);
        expect(await registry.deviceOfToken(hashDeviceToken('tok-a'))).toBeNull();
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it('checks a token with one database lookup per cache period, and keeps accepting it while the database is down', async () => {
      let lookups = 0;
      const counted = new StateDeviceRegistry(store, null, () => clock);
      const deviceOfToken = counted.deviceOfToken.bind(counted);
      counted.deviceOfToken = (h: string) => {
        lookups++;
        return deviceOfToken(h);
      };
      const auth = new DeviceAuth(counted, 10_000, () => clock);
      const { token } = await auth.register('fast', undefined);
      for (let i = 0; i < 1000; i++) expect(await auth.verify(token)).toBe('fast');
      expect(lookups).toBe(1);
      clock += 10_001;
      expect(await auth.verify(token)).toBe('fast');
      expect(lookups).toBe(2);
      await store.close();
      clock += 60_000;
      expect(await auth.verify(token)).toBe('fast');
      // (Not `.rejects.toThrow()`: the driver's error may come from another jest module sandbox.)
      const outcome = await auth.verify('fld_never_seen').then(
        () => 'resolved',
        () => 'rejected',
      );
      expect(outcome).toBe('rejected');
      expect(lookups).toBe(4);
    });
  });
}
