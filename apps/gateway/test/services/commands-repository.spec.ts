import { describeCommandsRepositoryContract } from '../../src/commands/commands.repository.contract';
import { PostgresStateStore } from '../../src/state/postgres.state-store';
import { describeWithServices, newDatabase } from './services';

describeWithServices('commands on PostgreSQL', () => {
  let drop: (() => Promise<void>) | undefined;
  afterAll(() => drop?.());
  describeCommandsRepositoryContract('postgres', async () => {
    const db = await newDatabase('fl_commands');
    drop = db.drop;
    return PostgresStateStore.open(db.url);
  });
});
