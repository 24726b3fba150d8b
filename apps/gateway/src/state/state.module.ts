import { Global, Module } from '@nestjs/common';
import { logger } from '../common/logger';
import { CONFIG, type GatewayConfig } from '../config/config';
import { MetricsRegistry, observeCounter } from '../metrics/metrics';
import { openStateStore } from './open-state-store';
import { STATE_STORE } from './state.store';

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
  ],
  exports: [STATE_STORE],
})
export class StateModule {}
