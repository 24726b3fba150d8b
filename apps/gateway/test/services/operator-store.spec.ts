import { describeOperatorStore } from '../../src/auth/operator.store.contract';
import { PostgresStateStore } from '../../src/state/postgres.state-store';
import { describeWithServices, newDatabase } from './services';

describeWithServices('OperatorStore on PostgreSQL', () => {
  describeOperatorStore('postgres', async () => {
    const db = await newDatabase();
    return {
      open: async () => {
        const store = PostgresStateStore.open(db.url);
        await store.connect();
        await store.migrate();
        return store;
      },
      cleanup: () => db.drop(),
    };
  });
});
