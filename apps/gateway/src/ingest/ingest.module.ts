import { Module } from '@nestjs/common';
import { AlarmService } from '../alarms/alarm.service';
import { AlarmsModule } from '../alarms/alarms.module';
import { DEVICE_LIMITER } from '../auth/auth.module';
import { DeviceAuth } from '../auth/device-auth.service';
import { logger } from '../common/logger';
import type { TokenBucketLimiter } from '../common/rate-limiter';
import { CONFIG, type GatewayConfig } from '../config/config';
import { DevicesModule } from '../devices/devices.module';
import { PresenceService } from '../devices/presence.service';
import { LiveFanout } from '../live/live.fanout';
import { LiveModule } from '../live/live.module';
import { MetricsRegistry } from '../metrics/metrics';
import { StorageModule } from '../storage/storage.module';
import { WriteBuffer } from '../storage/write-buffer';
import { DeviceEvents } from './device-events';
import type { DeviceTransport } from './device-transport';
import { DeviceTransports } from './device-transports';
import { HttpIngestController } from './http-ingest.controller';
import { HttpIngestTransport } from './http-ingest.transport';
import { registerIngestMetrics } from './ingest.metrics';
import { IngestPipeline } from './ingest.pipeline';
import { IngestStats } from './ingest.stats';
import { LineProtocolController } from './line-protocol.controller';
import { MqttClientTransport } from './mqtt-client.transport';
import { MqttBrokerTransport } from './mqtt.transport';
import { WsHeartbeat } from './ws.heartbeat';
import { WsIngestTransport } from './ws.transport';

/**
 * Devices in: the ingest pipeline and the device transports of the configured mode (the embedded broker, or a
 * client of the external broker; WebSocket and HTTP ingest always). Started and stopped by lifecycle.ts.
 */
@Module({
  imports: [StorageModule, LiveModule, DevicesModule, AlarmsModule],
  controllers: [HttpIngestController, LineProtocolController],
  providers: [
    {
      provide: IngestPipeline,
      inject: [WriteBuffer, LiveFanout, PresenceService, DEVICE_LIMITER, AlarmService],
      useFactory: (
        buffer: WriteBuffer,
        live: LiveFanout,
        presence: PresenceService,
        limiter: TokenBucketLimiter | null,
        alarms: AlarmService,
      ) => new IngestPipeline(buffer, live, presence, new IngestStats(), limiter, alarms),
    },
    {
      provide: DeviceTransports,
      inject: [IngestPipeline, PresenceService, DeviceAuth, CONFIG, MetricsRegistry],
      useFactory: (
        pipeline: IngestPipeline,
        presence: PresenceService,
        devices: DeviceAuth,
        config: GatewayConfig,
        metrics: MetricsRegistry,
      ) => {
        const { url, port } = config.mqtt;
        const events = new DeviceEvents();
        const mqtt =
          url === null
            ? new MqttBrokerTransport(
                pipeline,
                presence,
                logger('MQTT'),
                devices,
                {
                  port: port ?? 0,
                  host: config.server.host,
                },
                { connections: config.devices.mqttConnections, session: config.mqtt.device },
                events,
              )
            : new MqttClientTransport(
                pipeline,
                presence,
                { ...config.mqtt, url, nodeId: config.cluster.nodeId },
                logger('MQTT'),
                events,
              );
        // A connection that stops answering pings is cut; a device whose last connection closed is offline at once.
        const heartbeat = new WsHeartbeat(config.devices.wsPingIntervalMs, (deviceId) =>
          presence.markOffline(deviceId),
        );
        const ws = new WsIngestTransport(
          pipeline,
          logger('WsIngest'),
          devices,
          config.server,
          heartbeat,
          undefined,
          {
            connections: config.devices.wsConnections,
            replyBufferBytes: config.devices.wsReplyBufferBytes,
          },
          events,
        );
        const all: DeviceTransport[] = [mqtt, ws, new HttpIngestTransport(pipeline)];
        registerIngestMetrics(metrics, pipeline.stats, mqtt, ws);
        return new DeviceTransports(all, events);
      },
    },
  ],
  exports: [IngestPipeline, DeviceTransports],
})
export class IngestModule {}
