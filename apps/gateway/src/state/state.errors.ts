import { ErrorCode, FieldlineError } from '@fieldline/contracts';
import type { DatabaseConnection, Dialect, Driver, QueryCompiler, TransactionSettings } from 'kysely';

/** Counters of one state store, read by /metrics. */
export interface StateStats {
  /** Queries that failed, for any reason (a constraint, a lost connection). */
  queryErrors: number;
  /** Of those, the ones that found the database unreachable (answered STATE_UNAVAILABLE). */
  unavailable: number;
}

/** Node socket errors and PostgreSQL's "the server is going away / not there" SQLSTATEs (class 08, 57P01–57P03). */
const NET_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'EAI_AGAIN',
]);
const PG_GONE = /^(08|57P0[123])/;
/** SQLite: the file is locked past the busy timeout, or the disk cannot be read or written. */
const SQLITE_GONE = /^SQLITE_(BUSY|LOCKED|IOERR|FULL|CANTOPEN|READONLY)/;
/** pg's own messages for a connection that is gone or could not be made (it sets no code on them). */
const PG_MESSAGES = /Connection terminated|timeout exceeded when trying to connect|not queryable|connection error/i;

/** Whether `err` says the database cannot be reached (as opposed to a bad query or a constraint). */
export function isStateUnavailable(err: unknown): boolean {
  if (err instanceof FieldlineError) return err.code === ErrorCode.STATE_UNAVAILABLE;
  const e = err as { code?: unknown; message?: unknown } | null;
  const code = typeof e?.code === 'string' ? e.code : '';
  if (NET_CODES.has(code) || PG_GONE.test(code) || SQLITE_GONE.test(code)) return true;
  return typeof e?.message === 'string' && PG_MESSAGES.test(e.message);
}

function guard(err: unknown, stats: StateStats, location: string): unknown {
  stats.queryErrors++;
  if (!isStateUnavailable(err)) return err;
  stats.unavailable++;
  if (err instanceof FieldlineError) return err;
  // The driver's message may name hosts and paths: logged by whoever catches it, not sent.
  return new FieldlineError(
    ErrorCode.STATE_UNAVAILABLE,
    `the state store (${location}) cannot be reached; nothing was changed, retry later`,
  );
}

class GuardedConnection implements DatabaseConnection {
  constructor(
    readonly inner: DatabaseConnection,
    private readonly onError: (err: unknown) => unknown,
  ) {}

  async executeQuery<R>(...args: Parameters<DatabaseConnection['executeQuery']>) {
    try {
      return await this.inner.executeQuery<R>(...args);
    } catch (err) {
      throw this.onError(err);
    }
  }

  streamQuery<R>(...args: Parameters<DatabaseConnection['streamQuery']>) {
    return this.inner.streamQuery<R>(...args);
  }
}

const innerOf = (c: DatabaseConnection): DatabaseConnection => (c instanceof GuardedConnection ? c.inner : c);

/**
 * Every query of the store goes through here, so that a database that is down is told apart in one place: its
 * errors become {@link ErrorCode.STATE_UNAVAILABLE} (HTTP 503) for callers, and are counted. Transactions still begin
 * and end on the driver's own connection objects; only their queries pass the guard.
 */
class GuardedDriver implements Driver {
  constructor(
    private readonly inner: Driver,
    private readonly onError: (err: unknown) => unknown,
  ) {}

  init(): Promise<void> {
    return this.inner.init();
  }

  async acquireConnection(): Promise<DatabaseConnection> {
    try {
      return new GuardedConnection(await this.inner.acquireConnection(), this.onError);
    } catch (err) {
      throw this.onError(err);
    }
  }

  beginTransaction(c: DatabaseConnection, settings: TransactionSettings): Promise<void> {
    return this.inner.beginTransaction(c, settings);
  }

  commitTransaction(c: DatabaseConnection): Promise<void> {
    return this.inner.commitTransaction(c);
  }

  rollbackTransaction(c: DatabaseConnection): Promise<void> {
    return this.inner.rollbackTransaction(c);
  }

  async savepoint(c: DatabaseConnection, name: string, compile: QueryCompiler['compileQuery']): Promise<void> {
    await this.inner.savepoint?.(c, name, compile);
  }

  async rollbackToSavepoint(c: DatabaseConnection, name: string, compile: QueryCompiler['compileQuery']) {
    await this.inner.rollbackToSavepoint?.(c, name, compile);
  }

  async releaseSavepoint(c: DatabaseConnection, name: string, compile: QueryCompiler['compileQuery']) {
    await this.inner.releaseSavepoint?.(c, name, compile);
  }

  releaseConnection(c: DatabaseConnection): Promise<void> {
    return this.inner.releaseConnection(innerOf(c));
  }

  destroy(): Promise<void> {
    return this.inner.destroy();
  }
}

/** `dialect` with its driver behind the guard: unreachable-database errors counted in `stats` and answered 503. */
export function guardDialect(dialect: Dialect, stats: StateStats, location: string): Dialect {
  return {
    createAdapter: () => dialect.createAdapter(),
    createDriver: () => new GuardedDriver(dialect.createDriver(), (err) => guard(err, stats, location)),
    createIntrospector: (db) => dialect.createIntrospector(db),
    createQueryCompiler: () => dialect.createQueryCompiler(),
  };
}
