import { Global, Inject, Injectable, Logger, Module, type OnApplicationShutdown } from '@nestjs/common';
import { CONFIG, type GatewayConfig } from '../config/config';
import { RedisConnections } from './redis.connections';

/** Nest injection token of the node's {@link RedisConnections}, or null with one node (no REDIS_URL). */
export const REDIS = Symbol('REDIS');

/** Closes the connections last: Socket.IO (the adapter) and shared presence are done with them by then. */
@Injectable()
class RedisLifecycle implements OnApplicationShutdown {
  constructor(@Inject(REDIS) private readonly redis: RedisConnections | null) {}
  async onApplicationShutdown(): Promise<void> {
    await this.redis?.close();
  }
}

@Global()
@Module({
  providers: [
    {
      provide: REDIS,
      inject: [CONFIG],
      useFactory: ({ cluster }: GatewayConfig): Promise<RedisConnections | null> | null => {
        if (cluster.redisUrl === null) return null;
        const log = new Logger('Redis');
        return RedisConnections.connect(cluster.redisUrl, cluster.redisPrefix, {
          warn: (m) => log.warn(m),
          error: (m) => log.error(m),
        });
      },
    },
    RedisLifecycle,
  ],
  exports: [REDIS],
})
export class RedisModule {}
