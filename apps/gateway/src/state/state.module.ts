import { Global, Module } from '@nestjs/common';
import { logger } from '../common/logger';
import { CONFIG, type GatewayConfig } from '../config/config';
import { MetricsRegistry, observeCounter } from '../metrics/metrics';
import { openStateStore } from './open-state-store';
import type { AuditSink } from './audit.sink';
import { STATE_STORE } from './state.store';

/** Nest injection token of the {@link AuditSink}; until the audit log provides one, records go nowhere. */
export const AUDIT_SINK = Symbol('AUDIT_SINK');
const NO_AUDIT: AuditSink = { record: () => Promise.resolve() };

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
    { provide: AUDIT_SINK, useValue: NO_AUDIT },
  ],
  exports: [STATE_STORE, AUDIT_SINK],
})
export class StateModule {}
