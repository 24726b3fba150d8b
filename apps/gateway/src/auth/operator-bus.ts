import type { RedisConnections } from '../common/redis.connections';
import { RedisRevocationBus } from './revocation-bus';

/** News of a user: it changed in the store (role, disabled, password, removed) and maybe one of its sessions ended. */
export interface OperatorChange {
  username: string;
  /** A session (refresh-token family) that ended: its access tokens are refused from now on. */
  session?: string;
}

/**
 * Tells the other nodes that a user changed, so that they re-read it and cut its sockets that are no longer good.
 * Like the device {@link RevocationBus}, losing a message is tolerable for refresh tokens (the store holds them) but
 * leaves a peer's copy of the user stale until that user's next change there; docs/state.md says so.
 */
export interface OperatorBus {
  publish(change: OperatorChange): Promise<void>;
  subscribe(listener: (change: OperatorChange) => void): Promise<void>;
  close(): Promise<void>;
}

/** Redis pub/sub on `<prefix>:operators:changed`, JSON messages; the device bus's plumbing on its own channel. */
export class RedisOperatorBus implements OperatorBus {
  private readonly bus: RedisRevocationBus;

  constructor(redis: RedisConnections) {
    this.bus = new RedisRevocationBus(redis, redis.key('operators', 'changed'));
  }

  get channel(): string {
    return this.bus.channel;
  }

  publish(change: OperatorChange): Promise<void> {
    return this.bus.publish(JSON.stringify(change));
  }

  subscribe(listener: (change: OperatorChange) => void): Promise<void> {
    return this.bus.subscribe((message) => {
      let change: unknown;
      try {
        change = JSON.parse(message);
      } catch {
        return;
      }
      const c = change as Partial<OperatorChange> | null;
      if (typeof c?.username !== 'string') return;
      listener({ username: c.username, session: typeof c.session === 'string' ? c.session : undefined });
    });
  }

  close(): Promise<void> {
    return this.bus.close();
  }
}
