import { createClient, type RedisClientType } from 'redis';
import { errorMessage, redactUrl } from '@fieldline/contracts';
import type { Logger as AppLogger } from './logger';

/** What this part logs with: a subset of the gateway's one logger (`logger()`), so tests pass a stub. */
type Logger = Pick<AppLogger, 'warn' | 'error'>;

/**
 * The node's two Redis connections (several nodes, `REDIS_URL`): `pub` runs commands and publishes, `sub` holds the
 * subscriptions (a subscribed RESP2 connection runs nothing else). The Socket.IO Redis adapter and the shared
 * presence use both. Reconnects are node-redis's own, with jittered backoff.
 */
export class RedisConnections {
  private closed = false;

  private constructor(
    readonly pub: RedisClientType,
    readonly sub: RedisClientType,
    /** Prefix of every key and channel (`REDIS_KEY_PREFIX`). */
    readonly prefix: string,
  ) {}

  /** Connects both clients; rejects (naming REDIS_URL) when Redis does not answer within `timeoutMs`. */
  static async connect(url: string, prefix: string, log: Logger, timeoutMs = 10_000): Promise<RedisConnections> {
    const make = (role: string): RedisClientType => {
      const client = createClient({
        url,
        socket: {
          connectTimeout: 5000,
          reconnectStrategy: (retries: number) =>
            Math.round(Math.min(5000, 100 * 2 ** Math.min(retries, 6)) * (0.5 + Math.random() / 2)),
        },
      }) as RedisClientType;
      let last = 0;
      client.on('error', (err: Error) => {
        // node-redis reports every failed reconnect attempt: say it at most every 5 s.
        if (Date.now() - last < 5000) return;
        last = Date.now();
        log.warn(`redis (${role}): ${err.message}`);
      });
      return client;
    };
    const pub = make('commands');
    const sub = make('subscriptions');
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        Promise.all([pub.connect(), sub.connect()]),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
        }),
      ]);
    } catch (err) {
      for (const c of [pub, sub]) {
        try {
          c.destroy();
        } catch {
          // never connected: nothing to release
        }
      }
      throw new Error(`REDIS_URL: cannot connect to ${redactUrl(url, 'REDIS_URL')}: ${errorMessage(err)}`);
    } finally {
      clearTimeout(timer);
    }
    return new RedisConnections(pub, sub, prefix);
  }

  /** `<prefix>:<part>:<part>...` */
  key(...parts: string[]): string {
    return [this.prefix, ...parts].join(':');
  }

  get ready(): boolean {
    return !this.closed && this.pub.isReady && this.sub.isReady;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.allSettled([this.pub.close(), this.sub.close()]);
  }
}
