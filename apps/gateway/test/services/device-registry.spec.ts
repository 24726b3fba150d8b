import type { DeviceRegistry } from '../../src/auth/device-registry';
import { RedisDeviceRegistry } from '../../src/auth/redis.device-registry';
import { describeDeviceRegistryContract } from '../../src/auth/device-registry.contract';
import { importLegacyRegistries } from '../../src/auth/device-registry.import';
import { RedisRevocationBus } from '../../src/auth/revocation-bus';
import { StateDeviceRegistry } from '../../src/auth/state.device-registry';
import { describeStateDeviceRegistry } from '../../src/auth/state.device-registry.contract';
import { RedisConnections } from '../../src/common/redis.connections';
import { PostgresStateStore } from '../../src/state/postgres.state-store';
import { describeWithServices, newDatabase, serviceUrls, uniqueName } from './services';

const log = { warn: () => undefined, error: () => undefined };

/** Node A registers and revokes a device; node B is told, and no longer finds the token. */
async function revokedOnOneHeardOnTheOther(nodeA: DeviceRegistry, nodeB: DeviceRegistry): Promise<void> {
  const heard: string[] = [];
  await nodeB.onRemoteRevocation?.((id) => heard.push(id));
  await nodeA.create({ deviceId: 'd', createdAt: 1, tokenIssuedAt: 1, tokenHash: 'h1' });
  expect(await nodeB.deviceOfToken('h1')).toBe('d');
  await nodeA.setToken('d', null, null);
  for (let i = 0; i < 100 && heard.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
  expect(heard).toEqual(['d']);
  expect(await nodeB.deviceOfToken('h1')).toBeNull();
  await nodeA.close();
  await nodeB.close();
}

describeWithServices('RedisDeviceRegistry', () => {
  describeDeviceRegistryContract('redis', async () => {
    const prefix = uniqueName('fl_registry');
    const conns = [await RedisConnections.connect(serviceUrls().redis, prefix, log)];
    return {
      registry: new RedisDeviceRegistry(conns[0]),
      reopen: async () => {
        const c = await RedisConnections.connect(serviceUrls().redis, prefix, log);
        conns.push(c);
        return new RedisDeviceRegistry(c);
      },
      cleanup: async () => {
        const keys = await conns[0].pub.keys(`${prefix}:*`);
        if (keys.length) await conns[0].pub.del(keys);
        for (const c of conns) await c.close();
      },
    };
  });

  it('tells every node when a device token is revoked on any node', async () => {
    const prefix = uniqueName('fl_registry');
    const a = await RedisConnections.connect(serviceUrls().redis, prefix, log);
    const b = await RedisConnections.connect(serviceUrls().redis, prefix, log);
    try {
      await revokedOnOneHeardOnTheOther(new RedisDeviceRegistry(a), new RedisDeviceRegistry(b));
    } finally {
      const keys = await a.pub.keys(`${prefix}:*`);
      if (keys.length) await a.pub.del(keys);
      await a.close();
      await b.close();
    }
  });
});

describeWithServices('StateDeviceRegistry on PostgreSQL', () => {
  describeStateDeviceRegistry('postgres', async () => {
    const db = await newDatabase();
    return {
      open: async () => {
        const store = PostgresStateStore.open(db.url);
        await store.migrate();
        return store;
      },
      cleanup: () => db.drop(),
    };
  });

  it('two nodes share one registry; a revocation on one reaches the other through Redis', async () => {
    const db = await newDatabase();
    const prefix = uniqueName('fl_registry');
    const [ra, rb] = await Promise.all([0, 1].map(() => RedisConnections.connect(serviceUrls().redis, prefix, log)));
    const [sa, sb] = [PostgresStateStore.open(db.url), PostgresStateStore.open(db.url)];
    try {
      await Promise.all([sa.migrate(), sb.migrate()]);
      await revokedOnOneHeardOnTheOther(
        new StateDeviceRegistry(sa, new RedisRevocationBus(ra)),
        new StateDeviceRegistry(sb, new RedisRevocationBus(rb)),
      );
    } finally {
      await Promise.all([sa.close(), sb.close(), ra.close(), rb.close()]);
      await db.drop();
    }
  });

  it('imports the Redis registry of the previous version once, even with two nodes starting together', async () => {
    const db = await newDatabase();
    const prefix = uniqueName('fl_registry');
    const redis = await RedisConnections.connect(serviceUrls().redis, prefix, log);
    const stores = [PostgresStateStore.open(db.url), PostgresStateStore.open(db.url)];
    try {
      const old = new RedisDeviceRegistry(redis);
      for (let i = 0; i < 50; i++)
        await old.create({ deviceId: `r${i}`, createdAt: i, tokenIssuedAt: i, tokenHash: `h${i}` });
      await old.setToken('r7', null, null);
      await Promise.all(stores.map((s) => s.migrate()));
      const lines: string[] = [];
      const results = await Promise.all(
        stores.map((s) =>
          importLegacyRegistries(
            new StateDeviceRegistry(s),
            { file: '/nonexistent/devices.json', redis },
            { log: (m) => lines.push(m) },
          ),
        ),
      );
      const name = `redis:${prefix}`;
      expect(results.map((r) => r[name]).sort((a, b) => (a === null ? 1 : b === null ? -1 : 0))).toEqual([
        { imported: 50, skipped: 0 },
        null,
      ]);
      expect(lines).toEqual([`device registry: imported 50 devices from ${name} into the state store`]);
      const registry = new StateDeviceRegistry(stores[1]);
      expect(await registry.list()).toEqual(await old.list());
      expect(await registry.deviceOfToken('h3')).toBe('r3');
      expect(await registry.deviceOfToken('h7')).toBeNull();
    } finally {
      const keys = await redis.pub.keys(`${prefix}:*`);
      if (keys.length) await redis.pub.del(keys);
      await Promise.all([...stores.map((s) => s.close()), redis.close()]);
      await db.drop();
    }
  });
});
