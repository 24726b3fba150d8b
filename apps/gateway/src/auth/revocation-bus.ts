import { errorMessage } from '@fieldline/contracts';
import { logger } from '../common/logger';
import type { RedisConnections } from '../common/redis.connections';

/**
 * Tells the other nodes that a device's token changed, so that they drop their cached token checks and close its
 * connections. Losing a message is tolerable: the database holds the truth and a cached check expires on its own.
 */
export interface RevocationBus {
  publish(deviceId: string): Promise<void>;
  subscribe(listener: (deviceId: string) => void): Promise<void>;
  close(): Promise<void>;
}

const log = logger('DeviceRegistry');

/**
 * Redis pub/sub on `<prefix>:registry:revoked`, the channel the Redis registry published on, so nodes of the
 * previous version hear this one during a rolling upgrade and the other way round.
 */
export class RedisRevocationBus implements RevocationBus {
  /** `<prefix>:registry:revoked`. */
  readonly channel: string;
  private readonly listeners = new Set<(deviceId: string) => void>();
  private readonly onMessage = (deviceId: string): void => {
    for (const l of this.listeners) l(deviceId);
  };
  private subscribed: Promise<void> | null = null;

  /** `channel`: another one for other news (auth/operator-bus.ts); the default is the registry's. */
  constructor(
    private readonly redis: RedisConnections,
    channel?: string,
  ) {
    this.channel = channel ?? redis.key('registry', 'revoked');
  }

  async publish(deviceId: string): Promise<void> {
    try {
      await this.redis.pub.publish(this.channel, deviceId);
    } catch (err) {
      // The change is committed; peers' cached checks of the old token expire within their cache time.
      log.warn(`could not tell other nodes that ${deviceId}'s token changed: ${errorMessage(err)}`);
    }
  }

  subscribe(listener: (deviceId: string) => void): Promise<void> {
    this.listeners.add(listener);
    this.subscribed ??= this.redis.sub.subscribe(this.channel, this.onMessage);
    return this.subscribed;
  }

  async close(): Promise<void> {
    if (this.subscribed) await this.redis.sub.unsubscribe(this.channel, this.onMessage).catch(() => undefined);
  }
}
