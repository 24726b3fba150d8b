import type { RedisConnections } from '../common/redis.connections';
import type { PresenceDelta, PresenceService, PresenceSync } from './presence.service';
import type { Logger as AppLogger } from '../common/logger';

/*
 * Presence shared across nodes through Redis (several nodes, REDIS_URL).
 *
 * - State: one hash per device, `<prefix>:device:<id>`, fields `lastSeen`, `offlineAt` (gateway clock, ms) and per
 *   metric `t:<metric>` (device ts) / `v:<metric>` (value); the set `<prefix>:devices` lists the ids. A node that
 *   starts loads it, so its `/devices` snapshot is the cluster's.
 * - Changes: each node batches what it saw during a presence tick into one delta list; one Lua script merges it into
 *   the hashes (newest wins, field by field) and publishes it on `<prefix>:presence` in the same step. Every other node
 *   applies it to its own view (PresenceService.apply) and tells its own `/devices` clients. Readings never cost a
 *   Redis call: a node talks to Redis once per tick, whatever the rate.
 * - Online/offline is derived, not stored: online while lastSeen is recent and later than offlineAt. Every node
 *   computes it from the same merged fields, so their snapshots agree (to within one tick).
 */

/** Merge + publish, atomically. KEYS[1] the device set, KEYS[i+1] the hash of delta i; ARGV[1] deltas as JSON
 * (numbers as strings: Lua numbers would round them), ARGV[2] the channel, ARGV[3] the message. */
const MERGE = `
local deltas = cjson.decode(ARGV[1])
for i, d in ipairs(deltas) do
  local key = KEYS[i + 1]
  redis.call('SADD', KEYS[1], d[1])
  for f, v in pairs({ lastSeen = d[2], offlineAt = d[3] }) do
    if v ~= cjson.null then
      local cur = redis.call('HGET', key, f)
      if not cur or tonumber(v) > tonumber(cur) then redis.call('HSET', key, f, v) end
    end
  end
  for _, m in ipairs(d[4]) do
    local cur = redis.call('HGET', key, 't:' .. m[1])
    if not cur or tonumber(m[2]) > tonumber(cur) then
      redis.call('HSET', key, 't:' .. m[1], m[2], 'v:' .. m[1], m[3])
    end
  end
end
redis.call('PUBLISH', ARGV[2], ARGV[3])
return #deltas
`;

type WireDelta = [string, string | null, string | null, [string, string, string][]];

/** What this part logs with: a subset of the gateway's one logger (`logger()`), so tests pass a stub. */
type Logger = Pick<AppLogger, 'warn'>;

/** What the sync feeds: the node's presence (applies other nodes' changes; ticks its own out before leaving). */
export type PresenceTarget = Pick<PresenceService, 'apply' | 'tick'>;

/** Most deltas kept for retry while Redis is unreachable (newest per device wins, so this bounds devices). */
const MAX_RETRY_DEVICES = 100_000;

export class RedisPresenceSync implements PresenceSync {
  private readonly channel: string;
  private readonly devicesKey: string;
  /** Deltas whose merge failed (Redis down), sent again with the next tick's. */
  private retry = new Map<string, PresenceDelta>();
  private inFlight: Promise<void> | null = null;
  private closed = false;
  /** Set by {@link start}: until then changes are only collected (merged into `retry`). */
  private presence: PresenceTarget | null = null;
  private readonly onMessage = (message: string): void => this.receive(message);

  constructor(
    private readonly redis: RedisConnections,
    private readonly nodeId: string,
    private readonly log: Logger,
  ) {
    this.channel = redis.key('presence');
    this.devicesKey = redis.key('devices');
  }

  /**
   * Subscribes, then loads the shared state into `presence` (in that order, so nothing published meanwhile is
   * missed); from then on this node's changes go out and other nodes' come in.
   */
  async start(presence: PresenceTarget): Promise<void> {
    await this.redis.sub.subscribe(this.channel, this.onMessage);
    const ids = await this.redis.pub.sMembers(this.devicesKey);
    const hashes = await Promise.all(ids.map((id) => this.redis.pub.hGetAll(this.deviceKey(id))));
    const deltas: PresenceDelta[] = [];
    ids.forEach((id, i) => {
      const delta = fromHash(id, hashes[i]);
      if (delta) deltas.push(delta);
    });
    presence.apply(deltas);
    this.presence = presence;
    this.publish([]); // what changed here before the shared state was loaded
  }

  publish(deltas: PresenceDelta[]): void {
    if (this.closed) return;
    for (const d of deltas) this.retry.set(d.deviceId, mergeDelta(this.retry.get(d.deviceId), d));
    // One merge at a time: a slow Redis makes batches larger, not more numerous.
    if (this.presence === null || this.inFlight !== null || this.retry.size === 0) return;
    const batch = this.retry;
    this.retry = new Map();
    const wire: WireDelta[] = [...batch.values()].map(toWire);
    const json = JSON.stringify(wire);
    this.inFlight = this.redis.pub
      .eval(MERGE, {
        keys: [this.devicesKey, ...wire.map((d) => this.deviceKey(d[0]))],
        arguments: [json, this.channel, `${this.nodeId}\n${json}`],
      })
      .then(
        () => undefined,
        (err: Error) => {
          this.log.warn(`shared presence: merge of ${batch.size} devices failed, retried next tick: ${err.message}`);
          for (const d of batch.values()) {
            if (this.retry.size >= MAX_RETRY_DEVICES && !this.retry.has(d.deviceId)) continue;
            this.retry.set(d.deviceId, mergeDelta(d, this.retry.get(d.deviceId)));
          }
        },
      )
      .finally(() => (this.inFlight = null));
  }

  async stop(): Promise<void> {
    if (this.closed) return;
    // What this node saw last goes out before it leaves.
    this.presence?.tick();
    this.closed = true;
    await this.inFlight;
    await this.redis.sub.unsubscribe(this.channel, this.onMessage).catch(() => undefined);
  }

  private deviceKey(id: string): string {
    return this.redis.key('device', id);
  }

  private receive(message: string): void {
    const cut = message.indexOf('\n');
    if (cut < 0 || message.slice(0, cut) === this.nodeId) return;
    let wire: WireDelta[];
    try {
      wire = JSON.parse(message.slice(cut + 1)) as WireDelta[];
    } catch {
      this.log.warn('shared presence: unreadable message ignored');
      return;
    }
    this.presence?.apply(wire.map(fromWire));
  }
}

function toWire(d: PresenceDelta): WireDelta {
  return [
    d.deviceId,
    d.lastSeen === null ? null : String(d.lastSeen),
    d.offlineAt === null ? null : String(d.offlineAt),
    d.metrics.map(([name, ts, value]) => [name, String(ts), String(value)]),
  ];
}

function fromWire(w: WireDelta): PresenceDelta {
  return {
    deviceId: w[0],
    lastSeen: w[1] === null ? null : Number(w[1]),
    offlineAt: w[2] === null ? null : Number(w[2]),
    metrics: w[3].map(([name, ts, value]) => [name, Number(ts), Number(value)]),
  };
}

function fromHash(deviceId: string, h: Record<string, string>): PresenceDelta | null {
  if (h['lastSeen'] === undefined) return null;
  const metrics: [string, number, number][] = [];
  for (const field in h) {
    if (!field.startsWith('t:')) continue;
    const name = field.slice(2);
    const value = h[`v:${name}`];
    if (value !== undefined) metrics.push([name, Number(h[field]), Number(value)]);
  }
  return {
    deviceId,
    lastSeen: Number(h['lastSeen']),
    offlineAt: h['offlineAt'] === undefined ? null : Number(h['offlineAt']),
    metrics,
  };
}

/** Newest wins, field by field (`b` newer on ties). */
function mergeDelta(a: PresenceDelta | undefined, b: PresenceDelta | undefined): PresenceDelta {
  if (!a) return b!;
  if (!b) return a;
  const max = (x: number | null, y: number | null): number | null => (x === null ? y : y === null ? x : Math.max(x, y));
  const metrics = new Map<string, [string, number, number]>();
  for (const m of [...a.metrics, ...b.metrics]) {
    const cur = metrics.get(m[0]);
    if (!cur || m[1] >= cur[1]) metrics.set(m[0], m);
  }
  return {
    deviceId: a.deviceId,
    lastSeen: max(a.lastSeen, b.lastSeen),
    offlineAt: max(a.offlineAt, b.offlineAt),
    metrics: [...metrics.values()],
  };
}
