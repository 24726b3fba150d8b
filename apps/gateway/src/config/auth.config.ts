import { readFileSync } from 'node:fs';
import { OPERATOR_ROLES, type OperatorRole, errorMessage } from '@fieldline/contracts';
import { z } from 'zod';
import {
  checked,
  decimal,
  duration,
  type Env,
  integer,
  parseSection,
  type Refusal,
  refuse,
  required,
  withDefault,
} from './env';
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
  /** Lifetime of a refresh token, seconds (REFRESH_TTL); unset: 30 days. */
  refreshTtlS?: number;
  operators: OperatorAccount[];
  /** When set, `/metrics` wants `Authorization: Bearer <token>` (or an operator JWT); unset: `/metrics` is open. */
  metricsToken: string | null;
  /** How logins are throttled; unset: {@link DEFAULT_LOGIN_POLICY}. */
  login?: LoginPolicy;
  /** TOTP secrets (RFC 6238) of the users that must give a one-time code as well (TOTP_SECRETS). */
  totpSecrets?: ReadonlyMap<string, Buffer>;
}

/** Budgets of password guessing (docs/security.md#login-against-guessing-and-floods). */
export interface LoginPolicy {
  /** Failed logins per user name (and per known-client cookie) before each further one doubles a delay. */
  freeFailures: number;
  /** The first delay, ms; it doubles with every failure past {@link freeFailures}. */
  delayMs: number;
  /** The delay stops doubling here, ms. */
  maxDelayMs: number;
  /** Failed logins an address may have at once (attempts in flight count)... */
  addressBurst: number;
  /** ...and per second after that. */
  addressRate: number;
  /** Password hashes computed at once (on libuv's pool of 4 threads, which fs and dns share). */
  hashConcurrency: number;
  /** Logins waiting for a hash, per queue (known clients, others); beyond, RATE_LIMITED at once. */
  hashQueue: number;
  /** Lifetime of the known-client cookie a successful login sets, seconds. */
  clientCookieTtlS: number;
}

export const DEFAULT_LOGIN_POLICY: LoginPolicy = {
  freeFailures: 10,
  delayMs: 1000,
  maxDelayMs: 15 * 60_000,
  addressBurst: 30,
  addressRate: 0.5,
  hashConcurrency: 2,
  hashQueue: 64,
  clientCookieTtlS: 30 * 86_400,
};

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

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
/** Shortest TOTP secret taken: 26 base32 characters, 130 bits (RFC 4226 wants at least 128). */
export const MIN_TOTP_SECRET_LENGTH = 26;

/** Decodes RFC 4648 base32 (what authenticator apps show; case, spaces and `=` padding ignored); null if it is not. */
export function base32(text: string): Buffer | null {
  const t = text.toUpperCase().replace(/[\s=]/g, '');
  let bits = 0;
  let value = 0;
  const out: number[] = [];
  for (const ch of t) {
    const v = BASE32.indexOf(ch);
    if (v < 0) return null;
    value = (value << 5) | v;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

/** `username:BASE32SECRET` entries separated by white space (TOTP_SECRETS). */
function parseTotpSecrets(text: string): Map<string, Buffer> | Refusal {
  const out = new Map<string, Buffer>();
  for (const entry of text.split(/\s+/).filter(Boolean)) {
    const colon = entry.indexOf(':');
    const username = entry.slice(0, colon);
    const secret = colon > 0 ? base32(entry.slice(colon + 1)) : null;
    if (colon <= 0 || !USERNAME_PATTERN.test(username))
      return { refused: `"${entry.split(':')[0]}": expected username:BASE32SECRET` };
    if (!secret || entry.length - colon - 1 < MIN_TOTP_SECRET_LENGTH)
      return {
        refused: `the secret of ${username} must be at least ${MIN_TOTP_SECRET_LENGTH} base32 characters (A-Z, 2-7)`,
      };
    if (out.has(username)) return { refused: `user "${username}" is given twice` };
    out.set(username, secret);
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
    REFRESH_TTL: duration(30 * 86_400_000, 60_000, 400 * 86_400_000, 'a duration between 1m and 400d such as 30d'),
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
    TOTP_SECRETS: withDefault(new Map<string, Buffer>(), checked(parseTotpSecrets)),
    LOGIN_FREE_FAILURES: integer(DEFAULT_LOGIN_POLICY.freeFailures, 1, 1000),
    LOGIN_DELAY: duration(DEFAULT_LOGIN_POLICY.delayMs, 10, 3_600_000, 'a duration between 10ms and 1h'),
    LOGIN_DELAY_MAX: duration(DEFAULT_LOGIN_POLICY.maxDelayMs, 10, 86_400_000, 'a duration between 10ms and 1d'),
    LOGIN_ADDRESS_BURST: integer(DEFAULT_LOGIN_POLICY.addressBurst, 1, 1_000_000),
    LOGIN_ADDRESS_RATE: decimal(DEFAULT_LOGIN_POLICY.addressRate, 0.001, 10_000),
    LOGIN_HASH_CONCURRENCY: integer(DEFAULT_LOGIN_POLICY.hashConcurrency, 1, 64),
    LOGIN_HASH_QUEUE: integer(DEFAULT_LOGIN_POLICY.hashQueue, 0, 100_000),
    LOGIN_CLIENT_COOKIE_TTL: duration(
      DEFAULT_LOGIN_POLICY.clientCookieTtlS * 1000,
      60_000,
      400 * 86_400_000,
      'a duration between 1m and 400d',
    ),
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
    for (const username of e.TOTP_SECRETS.keys())
      if (!seen.has(username)) return refuse(ctx, 'TOTP_SECRETS', `user "${username}" is not configured`);
    if (e.LOGIN_DELAY_MAX < e.LOGIN_DELAY)
      return refuse(ctx, 'LOGIN_DELAY_MAX', `must be at least LOGIN_DELAY (${e.LOGIN_DELAY} ms)`);
    if (operators.length === 0)
      return refuse(
        ctx,
        'ADMIN_PASSWORD',
        'no operator is configured: set ADMIN_PASSWORD (user admin), ADMIN_PASSWORD_HASH, USERS or USERS_FILE',
      );
    return {
      jwtSecret: e.JWT_SECRET,
      jwtTtlS: Math.round(e.JWT_TTL / 1000),
      refreshTtlS: Math.round(e.REFRESH_TTL / 1000),
      operators,
      metricsToken: e.METRICS_TOKEN,
      login: {
        freeFailures: e.LOGIN_FREE_FAILURES,
        delayMs: e.LOGIN_DELAY,
        maxDelayMs: e.LOGIN_DELAY_MAX,
        addressBurst: e.LOGIN_ADDRESS_BURST,
        addressRate: e.LOGIN_ADDRESS_RATE,
        hashConcurrency: e.LOGIN_HASH_CONCURRENCY,
        hashQueue: e.LOGIN_HASH_QUEUE,
        clientCookieTtlS: Math.round(e.LOGIN_CLIENT_COOKIE_TTL / 1000),
      },
      totpSecrets: e.TOTP_SECRETS,
    };
  });

/**
 * `JWT_SECRET`, `JWT_TTL`, `REFRESH_TTL`, `ADMIN_PASSWORD`, `ADMIN_PASSWORD_HASH`, `USERS`, `USERS_FILE`, `METRICS_TOKEN`,
 * `TOTP_SECRETS` and the `LOGIN_*` budgets.
 */
export const loadAuthConfig = (env: Env): AuthConfig => parseSection(schema, env);
