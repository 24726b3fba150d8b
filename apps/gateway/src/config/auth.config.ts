import { readFileSync } from 'node:fs';
import { OPERATOR_ROLES, type OperatorRole, errorMessage } from '@fieldline/contracts';
import { z } from 'zod';
import { checked, duration, type Env, parseSection, type Refusal, refuse, required, withDefault } from './env';
import { parsePasswordHash } from './password-hash';

/** An operator account from configuration. `password` (ADMIN_PASSWORD only) is hashed at start and then dropped. */
export interface OperatorAccount {
  username: string;
  role: OperatorRole;
  passwordHash?: string;
  password?: string;
}

/** Operator authentication settings (docs/security.md, docs/configuration.md). */
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

/**
 * Parses user entries `username:role:hash`, one per line (USERS_FILE) or separated by whitespace (USERS); `#` starts
 * a comment line in a file.
 */
export function parseUsers(text: string, separator: RegExp): OperatorAccount[] | Refusal {
  const out: OperatorAccount[] = [];
  const entries = text.split(separator);
  for (let i = 0; i < entries.length; i++) {
    const entry = entries[i].trim();
    if (entry === '' || entry.startsWith('#')) continue;
    const where = separator.source === '\\r?\\n' ? `line ${i + 1}` : `entry ${i + 1}`;
    const first = entry.indexOf(':');
    const second = entry.indexOf(':', first + 1);
    if (first < 0 || second < 0) return { refused: `${where}: expected username:role:hash` };
    const username = entry.slice(0, first);
    const role = entry.slice(first + 1, second);
    const passwordHash = entry.slice(second + 1);
    if (!USERNAME_PATTERN.test(username))
      return { refused: `${where}: username must be 1–64 characters of A-Z a-z 0-9 _ . @ -` };
    if (!(OPERATOR_ROLES as readonly string[]).includes(role))
      return { refused: `${where}: role must be ${OPERATOR_ROLES.join(' or ')}, got "${role}"` };
    const parsed = parsePasswordHash(passwordHash);
    if (typeof parsed === 'string') return { refused: `${where}: the hash ${parsed}` };
    out.push({ username, role: role as OperatorRole, passwordHash });
  }
  return out;
}

/** At least `min` characters, else `must be at least <min> characters long`. */
const atLeast = (min: number) => z.string().min(min, { error: `must be at least ${min} characters long` });

const schema = z
  .object({
    JWT_SECRET: required(
      `is required: the key that signs operator tokens, at least ${MIN_JWT_SECRET_LENGTH} characters ` +
        '(e.g. `openssl rand -base64 48`); `npm start` generates one for a demo run',
      atLeast(MIN_JWT_SECRET_LENGTH),
    ),
    JWT_TTL: duration(8 * 3_600_000, 10_000, 7 * 86_400_000, 'a duration between 10s and 7d such as 15m or 8h'),
    ADMIN_PASSWORD: withDefault(null, atLeast(MIN_PASSWORD_LENGTH)),
    ADMIN_PASSWORD_HASH: withDefault(
      null,
      checked((hash) => {
        const parsed = parsePasswordHash(hash);
        return typeof parsed === 'string' ? { refused: parsed } : hash;
      }),
    ),
    USERS: withDefault(
      [],
      checked((users) => parseUsers(users, /\s+/)),
    ),
    USERS_FILE: withDefault(
      null,
      checked((file) => {
        let users: string;
        try {
          users = readFileSync(file, 'utf8');
        } catch (err) {
          return { refused: `cannot read ${file}: ${errorMessage(err)}` };
        }
        return parseUsers(users, /\r?\n/);
      }),
    ),
    METRICS_TOKEN: withDefault(null, atLeast(16)),
  })
  .transform((e, ctx): AuthConfig => {
    if (e.ADMIN_PASSWORD !== null && e.ADMIN_PASSWORD_HASH !== null)
      return refuse(ctx, 'ADMIN_PASSWORD_HASH', 'set either ADMIN_PASSWORD or ADMIN_PASSWORD_HASH, not both');
    const operators: OperatorAccount[] = [];
    if (e.ADMIN_PASSWORD !== null) operators.push({ username: 'admin', role: 'admin', password: e.ADMIN_PASSWORD });
    if (e.ADMIN_PASSWORD_HASH !== null)
      operators.push({ username: 'admin', role: 'admin', passwordHash: e.ADMIN_PASSWORD_HASH });
    operators.push(...e.USERS, ...(e.USERS_FILE ?? []));
    const seen = new Set<string>();
    for (const o of operators) {
      if (seen.has(o.username))
        return refuse(ctx, e.USERS_FILE !== null ? 'USERS_FILE' : 'USERS', `user "${o.username}" is defined twice`);
      seen.add(o.username);
    }
    if (operators.length === 0)
      return refuse(
        ctx,
        'ADMIN_PASSWORD',
        'no operator is configured: set ADMIN_PASSWORD (user admin), ADMIN_PASSWORD_HASH, USERS or USERS_FILE',
      );
    return {
      jwtSecret: e.JWT_SECRET,
      jwtTtlS: Math.round(e.JWT_TTL / 1000),
      operators,
      metricsToken: e.METRICS_TOKEN,
    };
  });

/** `JWT_SECRET`, `JWT_TTL`, `ADMIN_PASSWORD`, `ADMIN_PASSWORD_HASH`, `USERS`, `USERS_FILE`, `METRICS_TOKEN`. */
export const loadAuthConfig = (env: Env): AuthConfig => parseSection(schema, env);
