import { Inject, Injectable, Logger, Module, type OnModuleDestroy } from '@nestjs/common';
import { DEVICE_LIMITER } from '../auth/auth.module';
import { DeviceAuth } from '../auth/device-auth.service';
import type { TokenBucketLimiter } from '../auth/rate-limiter';
import { CONFIG, type GatewayConfig } from '../config/config';
import { DevicesModule } from '../devices/devices.module';
import { PresenceService } from '../devices/presence.service';
import { LiveFanout } from '../live/live.fanout';
import { LiveModule } from '../live/live.module';
import { StorageModule } from '../storage/storage.module';
import { WriteBuffer } from '../storage/write-buffer';
import { HttpIngestController } from './http-ingest.controller';
import { IngestPipeline } from './ingest.pipeline';
import { IngestStats } from './ingest.stats';
import { LineProtocolController } from './line-protocol.controller';
import { MqttClientTransport } from './mqtt-client.transport';
import { MqttBrokerTransport } from './mqtt.transport';
import { WsHeartbeat } from './ws.heartbeat';
import { WsIngestTransport } from './ws.transport';

/** Stops the transports first on shutdown, so nothing new enters the pipeline while buffers flush. */
@Injectable()
class IngestLifecycle implements OnModuleDestroy {
  constructor(
    @Inject(IngestPipeline) private readonly pipeline: IngestPipeline,
    @Inject(MqttBrokerTransport) private readonly mqtt: MqttBrokerTransport,
    @Inject(WsIngestTransport) private readonly ws: WsIngestTransport,
    @Inject(MqttClientTransport) private readonly mqttClient: MqttClientTransport | null,
  ) {}

  async onModuleDestroy(): Promise<void> {
    // The external broker's messages are stored and acknowledged before the pipeline refuses input (an
    // unacknowledged one stays with the broker; a refused one would be answered and lost).
    await this.mqttClient?.close();
    this.pipeline.close();
    await Promise.all([this.mqtt.close(), this.ws.close()]);
  }
}

@Module({
  imports: [StorageModule, LiveModule, DevicesModule],
  controllers: [HttpIngestController, LineProtocolController],
  providers: [
    { provide: IngestStats, useFactory: () => new IngestStats() },
    {
      provide: IngestPipeline,
      inject: [WriteBuffer, LiveFanout, PresenceService, IngestStats, DEVICE_LIMITER],
      useFactory: (
        buffer: WriteBuffer,
        live: LiveFanout,
        presence: PresenceService,
        stats: IngestStats,
        limiter: TokenBucketLimiter | null,
      ) => new IngestPipeline(buffer, live, presence, stats, limiter),
    },
    {
      provide: MqttBrokerTransport,
      inject: [IngestPipeline, PresenceService, DeviceAuth],
      useFactory: (pipeline: IngestPipeline, presence: PresenceService, devices: DeviceAuth) =>
        new MqttBrokerTransport(pipeline, presence, new Logger('MQTT'), devices),
    },
    {
      // Production mode (MQTT_URL): this node is a client of an external broker; started by createGateway.
      provide: MqttClientTransport,
      inject: [IngestPipeline, PresenceService, WriteBuffer, CONFIG],
      useFactory: (pipeline: IngestPipeline, presence: PresenceService, buffer: WriteBuffer, config: GatewayConfig) =>
        config.mqttUrl === null
          ? null
          : new MqttClientTransport(
              pipeline,
              presence,
              buffer,
              {
                url: config.mqttUrl,
                username: config.mqttUsername,
                password: config.mqttPassword,
                nodeId: config.nodeId,
                sessionExpiryS: config.mqttSessionExpiryS,
              },
              new Logger('MQTT'),
            ),
    },
    {
      provide: WsIngestTransport,
      inject: [IngestPipeline, DeviceAuth, CONFIG, PresenceService],
      useFactory: (pipeline: IngestPipeline, devices: DeviceAuth, config: GatewayConfig, presence: PresenceService) => {
        const ws = new WsIngestTransport(pipeline, new Logger('WsIngest'), devices, config.corsOrigins);
        // A connection that stops answering pings is cut; a device whose last connection closed is offline at once.
        ws.heartbeat = new WsHeartbeat(config.wsPingIntervalMs, (deviceId) => presence.markOffline(deviceId));
        return ws;
      },
    },
    IngestLifecycle,
  ],
  exports: [IngestPipeline, MqttBrokerTransport, MqttClientTransport, WsIngestTransport],
})
export class IngestModule {}
