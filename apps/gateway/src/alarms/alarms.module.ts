import { Module } from '@nestjs/common';
import { logger } from '../common/logger';
import { CONFIG, type GatewayConfig } from '../config/config';
import { MetricsRegistry, observeCounter, observeGauge } from '../metrics/metrics';
import { STATE_STORE, type StateStore } from '../state/state.store';
import { WebhookOutbox } from './alarm.outbox';
import { AlarmService } from './alarm.service';
import { AlarmsController } from './alarms.controller';
import { AlertsGateway } from './alerts.gateway';

/**
 * Alarms: rules and instances in the state store, evaluation fed by the ingest pipeline (ingest calls
 * {@link AlarmService.observe}), `/api/rules`, `/api/alarms` and the `/alerts` namespace. The service loads its state
 * and starts its ticker as it is built, and stores its last changes when the app closes (before the state store).
 */
@Module({
  controllers: [AlarmsController],
  providers: [
    {
      provide: AlarmService,
      inject: [STATE_STORE, CONFIG, MetricsRegistry],
      useFactory: async (state: StateStore, config: GatewayConfig, metrics: MetricsRegistry) => {
        const service = new AlarmService(state, config.alarms, logger('Alarms'));
        const { webhookUrl, webhookSecret, tickMs } = config.alarms;
        if (webhookUrl !== null) {
          const outbox = new WebhookOutbox(state, { url: webhookUrl, secret: webhookSecret, tickMs }, logger('Alarms'));
          service.outbox = outbox;
          service.onNotice = () => outbox.poke();
          observeCounter(metrics, {
            name: 'fieldline_alarm_notifications_total',
            help: 'Webhook notice attempts, by result (delivered: the receiver answered 2xx).',
            labels: ['result'],
            read: () => [
              [{ result: 'delivered' }, outbox.delivered],
              [{ result: 'failed' }, outbox.failures],
            ],
          });
        }
        await service.start();
        observeGauge(metrics, {
          name: 'fieldline_alarms_open',
          help: 'Raised alarms not yet cleared (active or acknowledged), by severity.',
          labels: ['severity'],
          read: () => [...service.openBySeverity()].map(([severity, n]) => [{ severity }, n] as const),
        });
        observeCounter(metrics, {
          name: 'fieldline_alarm_readings_late_total',
          help: 'Readings not evaluated by alarm rules: older than ALARM_LATENESS or than the last one evaluated.',
          read: () => service.evaluator.late,
        });
        observeCounter(metrics, {
          name: 'fieldline_alarm_store_errors_total',
          help: 'Alarm changes the state store failed to write.',
          read: () => service.writeErrors,
        });
        return service;
      },
    },
    AlertsGateway,
  ],
  exports: [AlarmService],
})
export class AlarmsModule {}
