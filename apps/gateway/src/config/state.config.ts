import { z } from 'zod';
import { ConfigError } from './config';

/** Where entity state (device registry, later users, rules, alarms, commands, audit) lives. */
export interface StateConfig {
  /** PostgreSQL (`postgres://` or `postgresql://`); null: the embedded SQLite file. */
  databaseUrl: string | null;
  /** The SQLite file when `databaseUrl` is null; null: `DATA_DIR/state.sqlite`. */
  stateFile: string | null;
}

const blankAsUnset = (v: unknown): unknown => (typeof v === 'string' && v.trim() === '' ? undefined : v);

const schema = z.object({
  DATABASE_URL: z.preprocess(
    blankAsUnset,
    z.url({ protocol: /^postgres(ql)?$/, error: 'must be a postgres:// or postgresql:// URL' }).optional(),
  ),
  STATE_FILE: z.preprocess(blankAsUnset, z.string().optional()),
});

/**
 * `DATABASE_URL` and `STATE_FILE`. Several nodes (`REDIS_URL`) need `DATABASE_URL`: with a SQLite file each node
 * would keep a registry of its own, and a device registered at one node would be refused at the others.
 */
export function loadStateConfig(env: Record<string, string | undefined>): StateConfig {
  const parsed = schema.safeParse(env);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const variable = String(issue.path[0]);
    throw new ConfigError(variable, `${issue.message}, got "${String(env[variable]).replace(/\/\/[^@/]*@/, '//…@')}"`);
  }
  const { DATABASE_URL: databaseUrl = null, STATE_FILE: stateFile = null } = parsed.data;
  if ((env.REDIS_URL ?? '').trim() !== '' && databaseUrl === null)
    throw new ConfigError(
      'DATABASE_URL',
      'REDIS_URL is set (several gateway nodes) but DATABASE_URL is not: each node would keep its own SQLite ' +
        'state, so a device registered at one node would be refused at the others; set DATABASE_URL to a ' +
        'PostgreSQL database or unset REDIS_URL to run one node',
    );
  return { databaseUrl, stateFile };
}
