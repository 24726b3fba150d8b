import { Kysely, PostgresDialect } from 'kysely';
import { Pool, types } from 'pg';
import { errorMessage, redactUrl } from '@fieldline/contracts';
import { guardDialect } from './state.errors';
import { KyselyStateStore } from './state.store';
import type { StateSchema } from './state.schema';

const INT8_OID = 20;

/** Times are `bigint` columns; pg returns those as strings unless told otherwise (epoch ms fit a double). */
const pgTypes = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary'): unknown =>
    oid === INT8_OID && format !== 'binary'
      ? (v: string) => Number(v)
      : (types.getTypeParser as (o: number, f: string) => unknown)(
          oid,
          format ?? 'text',
        )) as typeof types.getTypeParser,
};

export interface PostgresOptions {
  /** Connections of this node at most. */
  poolMax?: number;
  /** A pooled connection that failed while idle (server restart): logged, the pool opens a new one when needed. */
  onIdleError?: (err: Error) => void;
}

/** The state store of several nodes: PostgreSQL at DATABASE_URL, through a pool of `pg` connections. */
export class PostgresStateStore extends KyselyStateStore {
  readonly engine = 'postgres';

  private constructor(
    readonly location: string,
    pool: Pool,
  ) {
    const stats = { queryErrors: 0, unavailable: 0 };
    super(new Kysely<StateSchema>({ dialect: guardDialect(new PostgresDialect({ pool }), stats, location) }), stats);
  }

  static open(url: string, opts: PostgresOptions = {}): PostgresStateStore {
    const pool = new Pool({
      connectionString: url,
      max: opts.poolMax ?? 10,
      connectionTimeoutMillis: 5000,
      types: pgTypes,
    });
    pool.on('error', (err) => opts.onIdleError?.(err));
    const location = redactUrl(url, 'DATABASE_URL');
    return new PostgresStateStore(location, pool);
  }

  /** The first contact, with an error that names the variable. */
  async connect(): Promise<void> {
    try {
      await this.ping();
    } catch (err) {
      throw new Error(`DATABASE_URL: cannot connect to ${this.location}: ${errorMessage(err)}`);
    }
  }
}
