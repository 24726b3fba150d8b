import type { RedisConnections } from '../common/redis.connections';
import type { DeviceRecord, DeviceRegistry } from './device-registry';
import { RedisRevocationBus } from './revocation-bus';

/*
 * The device registry shared by several nodes (REDIS_URL). Three hashes:
 *   <prefix>:registry:devices   device id → JSON {deviceId, name?, createdAt, tokenIssuedAt}
 *   <prefix>:registry:tokens    token hash → device id (the lookup of every token check)
 *   <prefix>:registry:current   device id → its token hash
 * Changes are Lua scripts, so a token and its index never disagree. A rotation or revocation is published on
 * <prefix>:registry:revoked; every node then drops its cached token checks and closes the device's connections.
 */

/** KEYS devices, tokens, current; ARGV id, record JSON, token hash. */
const CREATE = `
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
redis.call('HSET', KEYS[2], ARGV[3], ARGV[1])
redis.call('HSET', KEYS[3], ARGV[1], ARGV[3])
return 1
`;

/** KEYS devices, tokens, current; ARGV id, record JSON, new token hash or '' (revoke), channel. */
const SET_TOKEN = `
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
local old = redis.call('HGET', KEYS[3], ARGV[1])
if old then redis.call('HDEL', KEYS[2], old) end
if ARGV[3] == '' then
  redis.call('HDEL', KEYS[3], ARGV[1])
else
  redis.call('HSET', KEYS[2], ARGV[3], ARGV[1])
  redis.call('HSET', KEYS[3], ARGV[1], ARGV[3])
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('PUBLISH', ARGV[4], ARGV[1])
return 1
`;

type Stored = Omit<DeviceRecord, 'tokenHash'>;

export class RedisDeviceRegistry implements DeviceRegistry {
  private readonly keys: string[];
  private readonly channel: string;
  private readonly bus: RedisRevocationBus;

  constructor(private readonly redis: RedisConnections) {
    this.keys = ['devices', 'tokens', 'current'].map((k) => redis.key('registry', k));
    this.bus = new RedisRevocationBus(redis);
    this.channel = this.bus.channel;
  }

  async create(record: DeviceRecord): Promise<boolean> {
    const { tokenHash, ...stored } = record;
    if (tokenHash === null) throw new Error('a new device needs a token');
    const n = await this.redis.pub.eval(CREATE, {
      keys: this.keys,
      arguments: [record.deviceId, JSON.stringify(stored), tokenHash],
    });
    return n === 1;
  }

  async setToken(
    deviceId: string,
    tokenHash: string | null,
    issuedAt: number | null,
  ): Promise<DeviceRecord | undefined> {
    const current = await this.get(deviceId);
    if (!current) return undefined;
    const stored: Stored = { ...strip(current), tokenIssuedAt: issuedAt };
    const n = await this.redis.pub.eval(SET_TOKEN, {
      keys: this.keys,
      arguments: [deviceId, JSON.stringify(stored), tokenHash ?? '', this.channel],
    });
    return n === 1 ? { ...stored, tokenHash } : undefined;
  }

  async get(deviceId: string): Promise<DeviceRecord | undefined> {
    const [json, hash] = await Promise.all([
      this.redis.pub.hGet(this.keys[0], deviceId),
      this.redis.pub.hGet(this.keys[2], deviceId),
    ]);
    if (json == null) return undefined;
    return { ...(JSON.parse(String(json)) as Stored), tokenHash: hash == null ? null : String(hash) };
  }

  async list(): Promise<DeviceRecord[]> {
    const [all, current] = await Promise.all([
      this.redis.pub.hGetAll(this.keys[0]),
      this.redis.pub.hGetAll(this.keys[2]),
    ]);
    return Object.entries(all)
      .map(([id, json]) => ({ ...(JSON.parse(String(json)) as Stored), tokenHash: current[id] ?? null }))
      .sort((a, b) => a.deviceId.localeCompare(b.deviceId));
  }

  async deviceOfToken(tokenHash: string): Promise<string | null> {
    const id = await this.redis.pub.hGet(this.keys[1], tokenHash);
    return id == null ? null : String(id);
  }

  /** Revocations made on any node. */
  onRemoteRevocation(listener: (deviceId: string) => void): Promise<void> {
    return this.bus.subscribe(listener);
  }

  close(): Promise<void> {
    return this.bus.close();
  }
}

function strip(r: DeviceRecord): Stored {
  const { tokenHash: _tokenHash, ...rest } = r;
  return rest;
}
