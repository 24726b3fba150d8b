import { Global, Module } from '@nestjs/common';
import { logger } from '../common/logger';
import { CONFIG, type GatewayConfig } from '../config/config';
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
      inject: [CONFIG],
      useFactory: (config: GatewayConfig) => openStateStore(config.state, config.storage.dataDir, logger('StateStore')),
    },
    { provide: AUDIT_SINK, useValue: NO_AUDIT },
  ],
  exports: [STATE_STORE, AUDIT_SINK],
})
export class StateModule {}
