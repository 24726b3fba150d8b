import { Global, Module } from '@nestjs/common';
import { logger } from '../common/logger';
import { CONFIG, type GatewayConfig } from '../config/config';
import { MetricsRegistry, observeCounter } from '../metrics/metrics';
import { AuditLog } from './audit.log';
import { openStateStore } from './open-state-store';
import { STATE_STORE, type StateStore } from './state.store';

/** Nest injection token of the audit log (an `AuditSink`; here the {@link AuditLog} of the state store). */
export const AUDIT_SINK = Symbol('AUDIT_SINK');

/**
 * The state store, opened and migrated as it is built (a store that cannot be reached or migrated stops the start);
 * closed by the lifecycle. Global: the registry now, users, rules, alarms, commands and audit next.
 */
@Global()
@Module({
  providers: [
    {
      provide: STATE_STORE,
      inject: [CONFIG, MetricsRegistry],
      useFactory: async (config: GatewayConfig, metrics: MetricsRegistry) => {
        const store = await openStateStore(config.state, config.storage.dataDir, logger('StateStore'));
        observeCounter(metrics, {
          name: 'fieldline_state_query_errors_total',
          help: 'State store queries that failed, by reason: the database unreachable (unavailable, answered STATE_UNAVAILABLE) or anything else (error).',
          labels: ['reason'],
          read: () => [
            [{ reason: 'unavailable' }, store.stats.unavailable],
            [{ reason: 'error' }, store.stats.queryErrors - store.stats.unavailable],
          ],
        });
        return store;
      },
    },
    {
      provide: AUDIT_SINK,
      inject: [CONFIG, STATE_STORE],
      useFactory: (config: GatewayConfig, state: StateStore) => {
        const audit = new AuditLog(state, { retentionMs: config.audit.retentionMs, log: logger('Audit') });
        audit.start();
        return audit;
      },
    },
  ],
  exports: [STATE_STORE, AUDIT_SINK],
})
export class StateModule {}
