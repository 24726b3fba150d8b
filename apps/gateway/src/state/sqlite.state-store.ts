import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import {
  CompiledQuery,
  type DatabaseConnection,
  type Dialect,
  type Driver,
  Kysely,
  SqliteAdapter,
  SqliteDriver,
  SqliteIntrospector,
  SqliteQueryCompiler,
} from 'kysely';
import { guardDialect, type StateStats } from './state.errors';
import { KyselyStateStore } from './state.store';
import type { StateSchema } from './state.schema';

/** How long a writer waits for another process's write lock before SQLITE_BUSY. */
const BUSY_TIMEOUT_MS = 30_000;

/**
 * Kysely's SQLite dialect, changed in two places. Transactions begin IMMEDIATE: they take the write lock at once,
 * so two processes on one file queue on the busy timeout instead of one failing when its read lock cannot be
 * upgraded. And DDL counts as transactional (it is, in SQLite): the Migrator then runs in such a transaction,
 * which is its lock across processes; its own SQLite lock is a no-op that only holds within one process.
 */
class ImmediateSqliteDriver extends SqliteDriver {
  override async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('begin immediate'));
  }
}

class TransactionalDdlSqliteAdapter extends SqliteAdapter {
  override get supportsTransactionalDdl(): boolean {
    return true;
  }
}

function dialect(database: Database.Database): Dialect {
  return {
    createAdapter: () => new TransactionalDdlSqliteAdapter(),
    createDriver: (): Driver => new ImmediateSqliteDriver({ database }),
    createIntrospector: (db) => new SqliteIntrospector(db),
    createQueryCompiler: () => new SqliteQueryCompiler(),
  };
}

/** The embedded state store: one SQLite file (default DATA_DIR/state.sqlite) in WAL mode. */
export class SqliteStateStore extends KyselyStateStore {
  readonly engine = 'sqlite';

  private constructor(
    readonly location: string,
    private readonly database: Database.Database,
    stats: StateStats,
  ) {
    super(new Kysely<StateSchema>({ dialect: guardDialect(dialect(database), stats, location) }), stats);
  }

  static open(file: string): SqliteStateStore {
    mkdirSync(dirname(file), { recursive: true });
    const database = new Database(file, { timeout: BUSY_TIMEOUT_MS });
    // WAL: readers never wait for the writer. synchronous=FULL: a committed admin change survives a power cut;
    // the state store sees few writes, so the fsync per commit costs nothing that matters.
    database.pragma('journal_mode = WAL');
    database.pragma('synchronous = FULL');
    database.pragma('foreign_keys = ON');
    return new SqliteStateStore(file, database, { queryErrors: 0, unavailable: 0 });
  }

  /**
   * A consistent copy of the database in `file` (which must not exist), taken while the gateway runs: SQLite's
   * online backup copies pages between writes, so other queries of this store go on meanwhile.
   */
  async backup(file: string): Promise<void> {
    await this.database.backup(file);
  }
}
