import { describeAlarmStoreContract } from '../../src/alarms/alarm-store.contract';
import { PostgresStateStore } from '../../src/state/postgres.state-store';
import { describeWithServices, newDatabase } from './services';

describeWithServices('alarms over PostgreSQL', () => {
  const drops: (() => Promise<void>)[] = [];
  afterAll(() => Promise.all(drops.map((d) => d())));

  describeAlarmStoreContract('postgres', async () => {
    const db = await newDatabase('fl_alarms');
    drops.push(() => db.drop());
    const store = PostgresStateStore.open(db.url);
    await store.connect();
    await store.migrate();
    return store;
  });
});
