import { Inject, Injectable, Logger, Module, type OnModuleDestroy } from '@nestjs/common';
import type { RedisConnections } from '../common/redis.connections';
import { REDIS, RedisModule } from '../common/redis.module';
import { CONFIG, type GatewayConfig } from '../config/config';
import { StorageModule } from '../storage/storage.module';
import { TELEMETRY_STORE, type TelemetryStore } from '../storage/store';
import { DevicesController } from './devices.controller';
import { DevicesGateway } from './devices.gateway';
import { RedisPresenceSync } from './presence.redis';
import { PresenceService } from './presence.service';

/** Shares presence across nodes (REDIS_URL); null with one node. */
const PRESENCE_SYNC = Symbol('PRESENCE_SYNC');

@Injectable()
class PresenceLifecycle implements OnModuleDestroy {
  constructor(
    @Inject(PresenceService) private readonly presence: PresenceService,
    @Inject(PRESENCE_SYNC) private readonly sync: RedisPresenceSync | null,
  ) {}
  async onModuleDestroy(): Promise<void> {
    await this.sync?.stop();
    this.presence.stop();
  }
}

@Module({
  imports: [StorageModule, RedisModule],
  controllers: [DevicesController],
  providers: [
    {
      provide: PresenceService,
      inject: [CONFIG, TELEMETRY_STORE],
      useFactory: async (config: GatewayConfig, store: TelemetryStore) => {
        const presence = new PresenceService(config.offlineAfterMs, config.presenceTickMs);
        // Devices known from earlier runs show up (offline, with their last values) before they send again.
        presence.seed(await store.devices());
        presence.start();
        return presence;
      },
    },
    {
      provide: PRESENCE_SYNC,
      inject: [CONFIG, PresenceService, REDIS],
      useFactory: async (config: GatewayConfig, presence: PresenceService, redis: RedisConnections | null) => {
        if (redis === null) return null;
        const log = new Logger('Presence');
        const sync = new RedisPresenceSync(redis, config.nodeId, presence, { warn: (m) => log.warn(m) });
        // The shared state is loaded before the node serves its first /devices snapshot.
        await sync.start();
        return sync;
      },
    },
    PresenceLifecycle,
    DevicesGateway,
  ],
  exports: [PresenceService],
})
export class DevicesModule {}
