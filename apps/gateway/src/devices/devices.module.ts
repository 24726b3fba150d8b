import { Inject, Injectable, Module, type OnModuleDestroy } from '@nestjs/common';
import { CONFIG, type GatewayConfig } from '../config/config';
import { StorageModule } from '../storage/storage.module';
import { TELEMETRY_STORE, type TelemetryStore } from '../storage/store';
import { DevicesController } from './devices.controller';
import { DevicesGateway } from './devices.gateway';
import { PresenceService } from './presence.service';

@Injectable()
class PresenceLifecycle implements OnModuleDestroy {
  constructor(@Inject(PresenceService) private readonly presence: PresenceService) {}
  onModuleDestroy(): void {
    this.presence.stop();
  }
}

@Module({
  imports: [StorageModule],
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
    PresenceLifecycle,
    DevicesGateway,
  ],
  exports: [PresenceService],
})
export class DevicesModule {}
