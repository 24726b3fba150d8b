/*
 * One "node" of the state contract's migration race, run as its own process: opens the store named by DATABASE_URL
 * or STATE_FILE, waits until FIELDLINE_MIGRATE_AT (epoch ms) so that every process starts together, then applies the
 * project's migrations plus a slow one (it holds its transaction for 400 ms), and prints what it applied as JSON.
 */
import { type Kysely, sql } from 'kysely';
import { errorMessage } from '@fieldline/contracts';
import { PostgresStateStore } from './postgres.state-store';
import { SqliteStateStore } from './sqlite.state-store';
import { MIGRATIONS } from './state.migrations';

export const SLOW_MIGRATION = '9999_contract_slow';

async function main(): Promise<void> {
  const url = process.env.DATABASE_URL;
  const store = url ? PostgresStateStore.open(url) : SqliteStateStore.open(process.env.STATE_FILE ?? '');
  const at = Number(process.env.FIELDLINE_MIGRATE_AT ?? 0);
  if (at > Date.now()) await new Promise((r) => setTimeout(r, at - Date.now()));
  const applied = await store.migrate({
    ...MIGRATIONS,
    [SLOW_MIGRATION]: {
      async up(db: Kysely<unknown>): Promise<void> {
        await sql`create table contract_slow (id integer primary key)`.execute(db);
        await new Promise((r) => setTimeout(r, 400));
      },
    },
  });
  console.log(JSON.stringify(applied));
  await store.close();
}

if (require.main === module)
  main().catch((err: unknown) => {
    console.error(errorMessage(err));
    process.exit(1);
  });
