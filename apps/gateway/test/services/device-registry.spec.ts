import { RedisDeviceRegistry } from '../../src/auth/redis.device-registry';
import { describeDeviceRegistryContract } from '../../src/auth/device-registry.contract';
import { RedisConnections } from '../../src/common/redis.connections';
import { describeWithServices, serviceUrls, uniqueName } from './services';

const log = { warn: () => undefined, error: () => undefined };

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
      const nodeA = new RedisDeviceRegistry(a);
      const nodeB = new RedisDeviceRegistry(b);
      const heard: string[] = [];
      await nodeB.onRemoteRevocation((id) => heard.push(id));
      await nodeA.create({ deviceId: 'd', createdAt: 1, tokenIssuedAt: 1, tokenHash: 'h1' });
      await nodeA.setToken('d', null, null);
      for (let i = 0; i < 100 && heard.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
      expect(heard).toEqual(['d']);
      expect(await nodeB.deviceOfToken('h1')).toBeNull();
      await nodeA.close();
      await nodeB.close();
    } finally {
      const keys = await a.pub.keys(`${prefix}:*`);
      if (keys.length) await a.pub.del(keys);
      await a.close();
      await b.close();
    }
  });
});
