import { Inject, Injectable, Logger, Module, type OnModuleDestroy } from '@nestjs/common';
import { DevicesModule } from '../devices/devices.module';
import { PresenceService } from '../devices/presence.service';
import { LiveFanout } from '../live/live.fanout';
import { LiveModule } from '../live/live.module';
import { StorageModule } from '../storage/storage.module';
import { WriteBuffer } from '../storage/write-buffer';
import { HttpIngestController } from './http-ingest.controller';
import { IngestPipeline } from './ingest.pipeline';
import { IngestStats } from './ingest.stats';
import { MqttBrokerTransport } from './mqtt.transport';
import { WsIngestTransport } from './ws.transport';

/** Stops the transports first on shutdown, so nothing new enters the pipeline while buffers flush. */
@Injectable()
class IngestLifecycle implements OnModuleDestroy {
  constructor(
    @Inject(IngestPipeline) private readonly pipeline: IngestPipeline,
    @Inject(MqttBrokerTransport) private readonly mqtt: MqttBrokerTransport,
    @Inject(WsIngestTransport) private readonly ws: WsIngestTransport,
  ) {}

  async onModuleDestroy(): Promise<void> {
    this.pipeline.close();
    await Promise.all([this.mqtt.close(), this.ws.close()]);
  }
}

@Module({
  imports: [StorageModule, LiveModule, DevicesModule],
  controllers: [HttpIngestController],
  providers: [
    { provide: IngestStats, useFactory: () => new IngestStats() },
    {
      provide: IngestPipeline,
      inject: [WriteBuffer, LiveFanout, PresenceService, IngestStats],
      useFactory: (buffer: WriteBuffer, live: LiveFanout, presence: PresenceService, stats: IngestStats) =>
        new IngestPipeline(buffer, live, presence, stats),
    },
    {
      provide: MqttBrokerTransport,
      inject: [IngestPipeline, PresenceService],
      useFactory: (pipeline: IngestPipeline, presence: PresenceService) =>
        new MqttBrokerTransport(pipeline, presence, new Logger('MQTT')),
    },
    {
      provide: WsIngestTransport,
      inject: [IngestPipeline],
      useFactory: (pipeline: IngestPipeline) => new WsIngestTransport(pipeline, new Logger('WsIngest')),
    },
    IngestLifecycle,
  ],
  exports: [IngestPipeline, MqttBrokerTransport, WsIngestTransport],
})
export class IngestModule {}
