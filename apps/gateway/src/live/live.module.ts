import { Inject, Injectable, Module, type OnModuleDestroy } from '@nestjs/common';
import { CONFIG, type GatewayConfig } from '../config/config';
import { StorageModule } from '../storage/storage.module';
import { TELEMETRY_STORE, type TelemetryStore } from '../storage/store';
import { WriteBuffer } from '../storage/write-buffer';
import { LiveFanout } from './live.fanout';
import { SubscriptionService } from './subscription.service';
import { TelemetryGateway } from './telemetry.gateway';

@Injectable()
class LiveLifecycle implements OnModuleDestroy {
  constructor(@Inject(LiveFanout) private readonly live: LiveFanout) {}
  onModuleDestroy(): void {
    // Hand out what is pending before the sockets close.
    this.live.close();
  }
}

@Module({
  imports: [StorageModule],
  providers: [
    { provide: LiveFanout, inject: [CONFIG], useFactory: (config: GatewayConfig) => new LiveFanout(config.liveTickMs) },
    {
      provide: SubscriptionService,
      inject: [LiveFanout, WriteBuffer, TELEMETRY_STORE],
      useFactory: (live: LiveFanout, buffer: WriteBuffer, store: TelemetryStore) =>
        new SubscriptionService(live, buffer, store),
    },
    LiveLifecycle,
    TelemetryGateway,
  ],
  exports: [LiveFanout, TelemetryGateway],
})
export class LiveModule {}
