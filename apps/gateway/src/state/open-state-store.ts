import { join } from 'node:path';
import type { StateConfig } from '../config/state.config';
import { PostgresStateStore } from './postgres.state-store';
import { SqliteStateStore } from './sqlite.state-store';
import type { StateStore } from './state.store';

interface Log {
  log(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
}

/** Opens the configured engine and applies pending migrations; a store that cannot be reached stops the start. */
export async function openStateStore(config: StateConfig, dataDir: string, log: Log): Promise<StateStore> {
  let store: StateStore;
  if (config.databaseUrl) {
    const pg = PostgresStateStore.open(config.databaseUrl, {
      onIdleError: (err) => log.warn(`state store: idle PostgreSQL connection failed: ${err.message}`),
    });
    try {
      await pg.connect();
    } catch (err) {
      await pg.close();
      throw err;
    }
    store = pg;
  } else {
    store = SqliteStateStore.open(config.stateFile ?? join(dataDir, 'state.sqlite'));
  }
  try {
    const applied = await store.migrate();
    log.log(`state store: ${store.engine} at ${store.location}`, { migrationsApplied: applied });
  } catch (err) {
    await store.close();
    throw err;
  }
  return store;
}
