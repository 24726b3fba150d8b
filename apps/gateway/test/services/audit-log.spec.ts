import { describeAuditLog } from '../../src/state/audit.log.contract';
import { PostgresStateStore } from '../../src/state/postgres.state-store';
import { describeWithServices, newDatabase } from './services';

describeWithServices('AuditLog on PostgreSQL', () => {
  describeAuditLog('postgres', async () => {
    const db = await newDatabase('fl_audit');
    return {
      open: async () => {
        const store = PostgresStateStore.open(db.url);
        await store.migrate();
        return store;
      },
      cleanup: () => db.drop(),
    };
  });
});
