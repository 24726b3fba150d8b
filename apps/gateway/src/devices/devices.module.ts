import { join } from 'node:path';
import { Module } from '@nestjs/common';
import type { RedisConnections } from '../common/redis.connections';
import { REDIS, RedisModule } from '../common/redis.module';
import { CONFIG, type GatewayConfig } from '../config/config';
import { StorageModule } from '../storage/storage.module';
import { ConcurrencyGate } from '../common/concurrency-gate';
import { logger } from '../common/logger';
import { MetricsRegistry, observeCounter, observeGauge } from '../metrics/metrics';
import { DevicesChannel } from './devices.channel';
import { DevicesController, QUERY_GATE } from './devices.controller';
import { DevicesGateway } from './devices.gateway';
import { PresenceFile } from './presence.file';
import { RedisPresenceSync } from './presence.redis';
import { PresenceSaver } from './presence.saver';
import { PresenceService } from './presence.service';

/** Shares presence across nodes (REDIS_URL); null with one node. */
export const PRESENCE_SYNC = Symbol('PRESENCE_SYNC');

@Module({
  imports: [StorageModule, RedisModule],
  controllers: [DevicesController],
  providers: [
    {
      // Where last-seen times are kept across restarts (DATA_DIR/presence.json).
      provide: PresenceFile,
      inject: [CONFIG],
      useFactory: (config: GatewayConfig) =>
        new PresenceFile(join(config.storage.dataDir, 'presence.json'), logger('Presence')),
    },
    { provide: DevicesChannel, useFactory: () => new DevicesChannel() },
    {
      provide: PresenceService,
      inject: [CONFIG, DevicesChannel, MetricsRegistry, PRESENCE_SYNC],
      useFactory: (
        config: GatewayConfig,
        channel: DevicesChannel,
        metrics: MetricsRegistry,
        sync: RedisPresenceSync | null,
      ) => {
        const { offlineAfterMs, presenceTickMs } = config.devices;
        const presence = new PresenceService(offlineAfterMs, presenceTickMs, channel, Date.now, sync);
        observeGauge(metrics, { name: 'fieldline_devices', help: 'Known devices.', read: () => presence.size });
        observeGauge(metrics, {
          name: 'fieldline_devices_online',
          help: 'Devices online.',
          read: () => presence.onlineCount,
        });
        return presence;
      },
    },
    {
      provide: PRESENCE_SYNC,
      inject: [CONFIG, REDIS],
      useFactory: (config: GatewayConfig, redis: RedisConnections | null) =>
        redis === null ? null : new RedisPresenceSync(redis, config.cluster.nodeId, logger('Presence')),
    },
    {
      provide: PresenceSaver,
      inject: [PresenceService, PresenceFile],
      useFactory: (presence: PresenceService, file: PresenceFile) =>
        new PresenceSaver(presence, file, logger('Presence')),
    },
    {
      provide: QUERY_GATE,
      inject: [CONFIG, MetricsRegistry],
      useFactory: (config: GatewayConfig, metrics: MetricsRegistry) => {
        const o = config.live.operators;
        // Per operator only: the store runs reads one at a time anyway, and /health has its own connection.
        const gate = new ConcurrencyGate(
          { perKey: o.operatorQueries, perKeyQueue: o.operatorQueryQueue, total: Infinity, totalQueue: Infinity },
          { what: 'history queries', perKey: 'operator-queries', total: 'node-queries' },
        );
        observeCounter(metrics, {
          name: 'fieldline_history_queries_refused_total',
          help: 'REST history queries and exports refused RATE_LIMITED because the operator queue was full.',
          read: () => gate.refused,
        });
        return gate;
      },
    },
    DevicesGateway,
  ],
  exports: [PresenceService, PresenceFile, PresenceSaver, PRESENCE_SYNC, QUERY_GATE, DevicesChannel],
})
export class DevicesModule {}
