import { Module } from '@nestjs/common';
import { CONFIG, type GatewayConfig } from '../config/config';
import { MetricsRegistry, observeCounter, observeGauge } from '../metrics/metrics';
import { StorageModule } from '../storage/storage.module';
import { TELEMETRY_STORE, type TelemetryStore } from '../storage/store';
import { WriteBuffer } from '../storage/write-buffer';
import { LiveFanout } from './live.fanout';
import { SubscriptionService } from './subscription.service';
import { TelemetryChannel } from './telemetry.channel';
import { TelemetryGateway } from './telemetry.gateway';

/** Operators out: live readings to device rooms on `/telemetry`, subscribe with gap-free backfill. */
@Module({
  imports: [StorageModule],
  providers: [
    { provide: TelemetryChannel, useFactory: () => new TelemetryChannel() },
    {
      provide: LiveFanout,
      inject: [CONFIG, TelemetryChannel, MetricsRegistry],
      useFactory: (config: GatewayConfig, channel: TelemetryChannel, metrics: MetricsRegistry) => {
        const live = new LiveFanout(config.live.tickMs, channel.readings);
        observeCounter(metrics, {
          name: 'fieldline_live_events_total',
          help: 'Socket.IO readings events emitted to device rooms.',
          read: () => live.events,
        });
        observeCounter(metrics, {
          name: 'fieldline_live_readings_total',
          help: 'Readings handed to device rooms.',
          read: () => live.delivered,
        });
        observeGauge(metrics, {
          name: 'fieldline_operator_sockets',
          help: 'Operator sockets on /telemetry.',
          read: () => channel.stats().sockets,
        });
        observeGauge(metrics, {
          name: 'fieldline_device_rooms',
          help: 'Device rooms with at least one operator.',
          read: () => channel.stats().rooms,
        });
        return live;
      },
    },
    {
      provide: SubscriptionService,
      inject: [LiveFanout, WriteBuffer, TELEMETRY_STORE],
      useFactory: (live: LiveFanout, buffer: WriteBuffer, store: TelemetryStore) =>
        new SubscriptionService(live, buffer, store),
    },
    TelemetryGateway,
  ],
  exports: [LiveFanout, TelemetryChannel],
})
export class LiveModule {}
