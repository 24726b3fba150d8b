import { Global, Module } from '@nestjs/common';
import { logger } from '../common/logger';
import { CONFIG, type GatewayConfig } from '../config/config';
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
      inject: [CONFIG],
      useFactory: (config: GatewayConfig) => openStateStore(config.state, config.storage.dataDir, logger('StateStore')),
    },
  ],
  exports: [STATE_STORE],
})
export class StateModule {}
