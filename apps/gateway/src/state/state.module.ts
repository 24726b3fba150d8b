import { Global, Module } from '@nestjs/common';
import { logger } from '../common/logger';
import { CONFIG, type GatewayConfig } from '../config/config';
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
      inject: [CONFIG],
      useFactory: (config: GatewayConfig) => openStateStore(config.state, config.storage.dataDir, logger('StateStore')),
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
