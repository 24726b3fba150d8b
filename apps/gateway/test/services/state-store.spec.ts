import { PostgresStateStore } from '../../src/state/postgres.state-store';
import { describeStateStoreContract } from '../../src/state/state-store.contract';
import { describeWithServices, newDatabase } from './services';

describeWithServices('PostgresStateStore', () => {
  describeStateStoreContract('postgres', async () => {
    const db = await newDatabase();
    return {
      open: () => PostgresStateStore.open(db.url),
      env: { DATABASE_URL: db.url },
      cleanup: () => db.drop(),
    };
  });

  it('names DATABASE_URL, without the password, when PostgreSQL does not answer', async () => {
    const store = PostgresStateStore.open('postgres://u:secret@127.0.0.1:1/nothing');
    try {
      await expect(store.connect()).rejects.toThrow(
        /^DATABASE_URL: cannot connect to postgres:\/\/u:\*\*\*@127\.0\.0\.1:1\//,
      );
    } finally {
      await store.close();
    }
  });
});
