/*
 * Applies the state store's pending migrations without starting the gateway (the gateway also does this at start):
 *   DATABASE_URL=postgres://… tsx apps/gateway/src/state/migrate.cli.ts     or DATA_DIR=… / STATE_FILE=… for SQLite
 * Prints the names applied as one JSON array.
 */
import { errorMessage } from '@fieldline/contracts';
import { loadStateConfig } from '../config/state.config';
import { openStateStore } from './open-state-store';

async function main(): Promise<void> {
  const dataDir = process.env.DATA_DIR?.trim() || './data';
  const store = await openStateStore(loadStateConfig({ ...process.env, REDIS_URL: undefined }), dataDir, {
    log: (_m, fields) => console.log(JSON.stringify(fields?.migrationsApplied ?? [])),
    warn: (m) => console.error(m),
  });
  await store.close();
}

main().catch((err: unknown) => {
  console.error(`migrate: ${errorMessage(err)}`);
  process.exit(1);
});
