import { z } from 'zod';
import { type Env, parseSection, refuse, text, url } from './env';

/** Where entity state (device registry, later users, rules, alarms, commands, audit) lives. */
export interface StateConfig {
  /** PostgreSQL (`postgres://` or `postgresql://`); null: the embedded SQLite file. */
  databaseUrl: string | null;
  /** The SQLite file when `databaseUrl` is null; null: `DATA_DIR/state.sqlite`. */
  stateFile: string | null;
}

const schema = z
  .object({
    DATABASE_URL: url(['postgres:', 'postgresql:']),
    STATE_FILE: text(null),
    // Only whether it is set: the cluster section checks its value.
    REDIS_URL: text(null),
  })
  .transform((e, ctx): StateConfig => {
    // Several nodes must share the registry, or a device registered at one node is refused at the others.
    if (e.REDIS_URL !== null && e.DATABASE_URL === null)
      return refuse(
        ctx,
        'DATABASE_URL',
        'REDIS_URL is set (several gateway nodes) but DATABASE_URL is not: each node would keep its own SQLite ' +
          'state, so a device registered at one node would be refused at the others; set DATABASE_URL to a ' +
          'PostgreSQL database or unset REDIS_URL to run one node',
      );
    return { databaseUrl: e.DATABASE_URL, stateFile: e.STATE_FILE };
  });

/** `DATABASE_URL`, `STATE_FILE` (and whether `REDIS_URL` is set: several nodes need `DATABASE_URL`). */
export const loadStateConfig = (env: Env): StateConfig => parseSection(schema, env);
