import { join } from 'node:path';
import {
  Inject,
  Injectable,
  Logger,
  Module,
  type OnApplicationShutdown,
  type OnModuleDestroy,
  type OnModuleInit,
} from '@nestjs/common';
import type { RedisConnections } from '../common/redis.connections';
import { REDIS, RedisModule } from '../common/redis.module';
import { CONFIG, type GatewayConfig } from '../config/config';
import { StorageModule } from '../storage/storage.module';
import { TELEMETRY_STORE, type TelemetryStore } from '../storage/store';
import { DevicesController } from './devices.controller';
import { DevicesGateway } from './devices.gateway';
import { PresenceFile } from './presence.file';
import { RedisPresenceSync } from './presence.redis';
import { PresenceService } from './presence.service';
import { errorMessage } from '@fieldline/contracts';

/** Shares presence across nodes (REDIS_URL); null with one node. */
const PRESENCE_SYNC = Symbol('PRESENCE_SYNC');
/** Where last-seen times are kept across restarts (DATA_DIR/presence.json). */
const PRESENCE_FILE = Symbol('PRESENCE_FILE');
/** Last-seen times are saved this often when they changed (a crash loses at most this much of them), and at shutdown. */
const PRESENCE_SAVE_MS = 10_000;

@Injectable()
class PresenceLifecycle implements OnModuleInit, OnModuleDestroy, OnApplicationShutdown {
  private timer: NodeJS.Timeout | null = null;
  private saved = -1;
  private readonly log = new Logger('Presence');

  constructor(
    @Inject(PresenceService) private readonly presence: PresenceService,
    @Inject(PRESENCE_SYNC) private readonly sync: RedisPresenceSync | null,
    @Inject(PRESENCE_FILE) private readonly file: PresenceFile,
  ) {}

  onModuleInit(): void {
    this.timer = setInterval(() => this.save(), PRESENCE_SAVE_MS);
    this.timer.unref();
  }

  async onModuleDestroy(): Promise<void> {
    await this.sync?.stop();
    this.presence.stop();
  }

  /** After the transports closed and the buffers flushed: the last readings' times are in. */
  onApplicationShutdown(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.save();
  }

  private save(): void {
    const changes = this.presence.changes;
    if (changes === this.saved) return;
    try {
      this.file.save(this.presence.lastSeenTimes());
      this.saved = changes;
    } catch (err) {
      this.log.warn(`cannot save last-seen times: ${errorMessage(err)}`);
    }
  }
}

@Module({
  imports: [StorageModule, RedisModule],
  controllers: [DevicesController],
  providers: [
    {
      provide: PRESENCE_FILE,
      inject: [CONFIG],
      useFactory: (config: GatewayConfig) => {
        const log = new Logger('Presence');
        return new PresenceFile(join(config.dataDir, 'presence.json'), { warn: (m) => log.warn(m) });
      },
    },
    {
      provide: PresenceService,
      inject: [CONFIG, TELEMETRY_STORE, PRESENCE_FILE],
      useFactory: async (config: GatewayConfig, store: TelemetryStore, file: PresenceFile) => {
        const presence = new PresenceService(config.offlineAfterMs, config.presenceTickMs);
        // Devices known from earlier runs show up (offline, with their last values and last-seen time) before they
        // send again.
        presence.seed(await store.devices());
        presence.restoreLastSeen(file.load());
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
