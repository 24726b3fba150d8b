import { errorMessage } from '@fieldline/contracts';
import { type Kysely, type Migration, Migrator, sql, type Transaction } from 'kysely';
import { MIGRATION_LOCK_TABLE, MIGRATION_TABLE, MIGRATIONS } from './state.migrations';
import type { StateStats } from './state.errors';
import type { StateSchema } from './state.schema';

export type StateEngine = 'sqlite' | 'postgres';

/**
 * Durable entity state (device registry now; users, rules, alarms, commands, audit next), one interface over two
 * engines: a SQLite file under DATA_DIR ({@link SqliteStateStore}) and PostgreSQL at DATABASE_URL
 * ({@link PostgresStateStore}). Repositories (e.g. the device registry) are written once against {@link db}, a
 * Kysely handle typed by {@link StateSchema}: the engines differ only in how they connect and lock.
 */
export interface StateStore {
  readonly engine: StateEngine;
  /** The file, or the URL without its password: for logs. */
  readonly location: string;
  readonly db: Kysely<StateSchema>;
  /** Query errors so far, and how many of them found the database unreachable (for /metrics). */
  readonly stats: Readonly<StateStats>;
  /**
   * Applies the pending migrations under a lock that serialises nodes starting together (SQLite: the write lock
   * of `BEGIN IMMEDIATE`; PostgreSQL: an advisory lock), each in a transaction. Resolves the names applied now.
   * `migrations`: the project's list; the contract suite adds a slow one to widen the race it tests.
   */
  migrate(migrations?: Record<string, Migration>): Promise<string[]>;
  /** Runs `fn` in one transaction (SQLite: `BEGIN IMMEDIATE`, so writers queue instead of failing on upgrade). */
  transaction<T>(fn: (trx: Transaction<StateSchema>) => Promise<T>): Promise<T>;
  /** One round trip; rejects while the database is unreachable. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** More writes to make in a transaction of a change (e.g. its audit entry), so that they commit with it or not at all. */
export type InTransaction = (trx: Transaction<StateSchema>) => Promise<void>;

/** Nest injection token of the {@link StateStore}. */
export const STATE_STORE = Symbol('STATE_STORE');

/** A migration failed; the store's schema is as it was before that migration (it ran in a transaction). */
export class StateMigrationError extends Error {
  override name = 'StateMigrationError';
}

/** What both engines share: migrations, transactions, close. */
export abstract class KyselyStateStore implements StateStore {
  abstract readonly engine: StateEngine;
  abstract readonly location: string;
  private closed: Promise<void> | null = null;

  protected constructor(
    readonly db: Kysely<StateSchema>,
    readonly stats: StateStats,
  ) {}

  async migrate(migrations: Record<string, Migration> = MIGRATIONS): Promise<string[]> {
    const migrator = new Migrator({
      db: this.db,
      provider: { getMigrations: () => Promise.resolve(migrations) },
      migrationTableName: MIGRATION_TABLE,
      migrationLockTableName: MIGRATION_LOCK_TABLE,
    });
    const { error, results = [] } = await migrator.migrateToLatest();
    if (error !== undefined) {
      const failed = results.find((r) => r.status === 'Error')?.migrationName;
      const why = errorMessage(error);
      throw new StateMigrationError(`state store (${this.location}): migration ${failed ?? '(setup)'} failed: ${why}`);
    }
    return results.filter((r) => r.status === 'Success').map((r) => r.migrationName);
  }

  transaction<T>(fn: (trx: Transaction<StateSchema>) => Promise<T>): Promise<T> {
    return this.db.transaction().execute(fn);
  }

  async ping(): Promise<void> {
    await sql`select 1`.execute(this.db);
  }

  close(): Promise<void> {
    return (this.closed ??= this.db.destroy());
  }
}
