import { readFileSync } from 'node:fs';
import { OPERATOR_ROLES, type OperatorRole, parseDuration, errorMessage } from '@fieldline/contracts';
import { ConfigError } from '../config/config';
import { parsePasswordHash } from './password';

/** An operator account from configuration. `password` (ADMIN_PASSWORD only) is hashed at start and then dropped. */
export interface OperatorAccount {
  username: string;
  role: OperatorRole;
  passwordHash?: string;
  password?: string;
}

/** Operator authentication settings (see README, "Security"). */
export interface AuthConfig {
  /** HS256 key of operator JWTs; at least {@link MIN_JWT_SECRET_LENGTH} characters. */
  jwtSecret: string;
  /** Lifetime of an operator token, seconds. */
  jwtTtlS: number;
  operators: OperatorAccount[];
  /** When set, `/metrics` wants `Authorization: Bearer <token>` (or an operator JWT); unset: `/metrics` is open. */
  metricsToken: string | null;
}

export const MIN_JWT_SECRET_LENGTH = 32;
export const MIN_PASSWORD_LENGTH = 8;
export const USERNAME_PATTERN = /^[A-Za-z0-9_.@-]{1,64}$/;

type Env = Record<string, string | undefined>;

/**
 * Parses user entries `username:role:hash`, one per line (USERS_FILE) or separated by whitespace (USERS); `#` starts
 * a comment line in a file.
 */
export function parseUsers(text: string, variable: string, separator: RegExp): OperatorAccount[] {
  const out: OperatorAccount[] = [];
  const entries = text.split(separator);
  entries.forEach((raw, i) => {
    const entry = raw.trim();
    if (entry === '' || entry.startsWith('#')) return;
    const where = separator.source === '\\r?\\n' ? `line ${i + 1}` : `entry ${i + 1}`;
    const first = entry.indexOf(':');
    const second = entry.indexOf(':', first + 1);
    if (first < 0 || second < 0) throw new ConfigError(variable, `${where}: expected username:role:hash`);
    const username = entry.slice(0, first);
    const role = entry.slice(first + 1, second);
    const passwordHash = entry.slice(second + 1);
    if (!USERNAME_PATTERN.test(username))
      throw new ConfigError(variable, `${where}: username must be 1–64 characters of A-Z a-z 0-9 _ . @ -`);
    if (!(OPERATOR_ROLES as readonly string[]).includes(role))
      throw new ConfigError(variable, `${where}: role must be ${OPERATOR_ROLES.join(' or ')}, got "${role}"`);
    const parsed = parsePasswordHash(passwordHash);
    if (typeof parsed === 'string') throw new ConfigError(variable, `${where}: the hash ${parsed}`);
    out.push({ username, role: role as OperatorRole, passwordHash });
  });
  return out;
}

/** Reads and validates operator auth settings; throws {@link ConfigError} naming the variable. */
export function loadAuthConfig(env: Env): AuthConfig {
  const jwtSecret = env.JWT_SECRET ?? '';
  if (jwtSecret === '')
    throw new ConfigError(
      'JWT_SECRET',
      `is required: the key that signs operator tokens, at least ${MIN_JWT_SECRET_LENGTH} characters ` +
        '(e.g. `openssl rand -base64 48`); `npm start` generates one for a demo run',
    );
  if (jwtSecret.length < MIN_JWT_SECRET_LENGTH)
    throw new ConfigError('JWT_SECRET', `must be at least ${MIN_JWT_SECRET_LENGTH} characters long`);

  const ttlText = env.JWT_TTL ?? '';
  const jwtTtlMs = ttlText === '' ? 8 * 3_600_000 : parseDuration(ttlText);
  if (jwtTtlMs === null || jwtTtlMs < 10_000 || jwtTtlMs > 7 * 86_400_000)
    throw new ConfigError('JWT_TTL', `must be a duration between 10s and 7d such as 15m or 8h, got "${ttlText}"`);

  const operators: OperatorAccount[] = [];
  const adminPassword = env.ADMIN_PASSWORD ?? '';
  const adminHash = env.ADMIN_PASSWORD_HASH ?? '';
  if (adminPassword !== '' && adminHash !== '')
    throw new ConfigError('ADMIN_PASSWORD_HASH', 'set either ADMIN_PASSWORD or ADMIN_PASSWORD_HASH, not both');
  if (adminPassword !== '') {
    if (adminPassword.length < MIN_PASSWORD_LENGTH)
      throw new ConfigError('ADMIN_PASSWORD', `must be at least ${MIN_PASSWORD_LENGTH} characters long`);
    operators.push({ username: 'admin', role: 'admin', password: adminPassword });
  } else if (adminHash !== '') {
    const parsed = parsePasswordHash(adminHash);
    if (typeof parsed === 'string') throw new ConfigError('ADMIN_PASSWORD_HASH', parsed);
    operators.push({ username: 'admin', role: 'admin', passwordHash: adminHash });
  }
  if (env.USERS) operators.push(...parseUsers(env.USERS, 'USERS', /\s+/));
  if (env.USERS_FILE) {
    let text: string;
    try {
      text = readFileSync(env.USERS_FILE, 'utf8');
    } catch (err) {
      throw new ConfigError('USERS_FILE', `cannot read ${env.USERS_FILE}: ${errorMessage(err)}`);
    }
    operators.push(...parseUsers(text, 'USERS_FILE', /\r?\n/));
  }
  const seen = new Set<string>();
  for (const o of operators) {
    if (seen.has(o.username))
      throw new ConfigError(env.USERS_FILE ? 'USERS_FILE' : 'USERS', `user "${o.username}" is defined twice`);
    seen.add(o.username);
  }
  if (operators.length === 0)
    throw new ConfigError(
      'ADMIN_PASSWORD',
      'no operator is configured: set ADMIN_PASSWORD (user admin), ADMIN_PASSWORD_HASH, USERS or USERS_FILE',
    );

  const metricsToken = env.METRICS_TOKEN ? env.METRICS_TOKEN : null;
  if (metricsToken !== null && metricsToken.length < 16)
    throw new ConfigError('METRICS_TOKEN', 'must be at least 16 characters long');

  return { jwtSecret, jwtTtlS: Math.round(jwtTtlMs / 1000), operators, metricsToken };
}
