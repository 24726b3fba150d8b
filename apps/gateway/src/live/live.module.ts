import { Module } from '@nestjs/common';
import { ConcurrencyGate } from '../common/concurrency-gate';
import { SocketBudget } from '../common/socket-budget';
import { CONFIG, type GatewayConfig } from '../config/config';
import { MetricsRegistry, observeCounter, observeGauge } from '../metrics/metrics';
import { StorageModule } from '../storage/storage.module';
import { TELEMETRY_STORE, type TelemetryStore } from '../storage/store';
import { WriteBuffer } from '../storage/write-buffer';
import { LiveFanout } from './live.fanout';
import { SubscriptionService } from './subscription.service';
import { TelemetryChannel } from './telemetry.channel';
import { TelemetryGateway } from './telemetry.gateway';

/**
 * Operators out: live readings to device rooms on `/telemetry`, subscribe with gap-free backfill, and what one operator
 * may consume doing so ({@link SocketBudget} on every namespace, wired in gateway.ts; {@link BACKFILL_GATE}).
 */
/** The {@link ConcurrencyGate} of `since` backfills (per operator, per node). */
export const BACKFILL_GATE = Symbol('BACKFILL_GATE');

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
      provide: SocketBudget,
      inject: [CONFIG, MetricsRegistry],
      useFactory: (config: GatewayConfig, metrics: MetricsRegistry) => {
        const budget = new SocketBudget(config.live.operators);
        observeCounter(metrics, {
          name: 'fieldline_operator_refused_total',
          help: 'Operator sockets and Socket.IO requests refused RATE_LIMITED, by limit.',
          labels: ['limit'],
          read: () => Object.entries(budget.refused).map(([limit, n]) => [{ limit }, n] as const),
        });
        observeCounter(metrics, {
          name: 'fieldline_operator_flood_disconnects_total',
          help: 'Operator sockets disconnected for sending on after being refused.',
          read: () => budget.disconnected,
        });
        return budget;
      },
    },
    {
      provide: BACKFILL_GATE,
      inject: [CONFIG, MetricsRegistry],
      useFactory: (config: GatewayConfig, metrics: MetricsRegistry) => {
        const o = config.live.operators;
        const gate = new ConcurrencyGate(
          {
            perKey: o.operatorBackfills,
            perKeyQueue: o.operatorBackfillQueue,
            total: o.nodeBackfills,
            totalQueue: o.nodeBackfillQueue,
          },
          { what: 'backfills', perKey: 'operator-backfills', total: 'node-backfills' },
        );
        observeGauge(metrics, {
          name: 'fieldline_backfills',
          help: 'Subscribe backfills running and waiting for their turn.',
          labels: ['state'],
          read: () => {
            const s = gate.stats();
            return [
              [{ state: 'running' }, s.running],
              [{ state: 'waiting' }, s.waiting],
            ] as const;
          },
        });
        observeCounter(metrics, {
          name: 'fieldline_backfills_refused_total',
          help: 'Subscribe backfills refused RATE_LIMITED because the queues were full.',
          read: () => gate.refused,
        });
        return gate;
      },
    },
    {
      provide: SubscriptionService,
      inject: [CONFIG, LiveFanout, WriteBuffer, TELEMETRY_STORE, BACKFILL_GATE],
      useFactory: (
        config: GatewayConfig,
        live: LiveFanout,
        buffer: WriteBuffer,
        store: TelemetryStore,
        gate: ConcurrencyGate,
      ) => new SubscriptionService(live, buffer, store, gate, config.live.operators.backfillMaxBytes),
    },
    TelemetryGateway,
  ],
  exports: [LiveFanout, TelemetryChannel, SocketBudget],
})
export class LiveModule {}
