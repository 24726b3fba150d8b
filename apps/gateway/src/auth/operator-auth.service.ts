import { randomBytes } from 'node:crypto';
import { errors, jwtVerify, SignJWT } from 'jose';
import {
  ErrorCode,
  FieldlineError,
  JWT_AUDIENCE,
  JWT_ISSUER,
  type LoginResponse,
  OPERATOR_ROLES,
  type OperatorRole,
} from '@fieldline/contracts';
import type { AuthConfig } from '../config/auth.config';
import { hashPassword, verifyPassword } from './password';
import { TokenBucketLimiter } from '../common/rate-limiter';

/** What a verified operator token says. */
export interface OperatorClaims {
  username: string;
  role: OperatorRole;
  /** Epoch ms. */
  expiresAt: number;
}

/** The only algorithm accepted: a token with any other `alg` (including `none`) is refused before its signature. */
const ALGORITHM = 'HS256';
const MAX_TOKEN_LENGTH = 4096;
/** Allowed clock skew between gateway nodes, seconds. */
const CLOCK_TOLERANCE_S = 5;

/** Failed logins per client address and user name: 10 at once, then one every 6 s. */
const LOGIN_FAILURE_BURST = 10;
const LOGIN_FAILURE_RATE = 1 / 6;

/**
 * Operators: users from configuration (scrypt hashes), login, and HS256 JWTs with issuer, audience and expiry
 * checked. A token is only as good as its user: a user removed from the configuration (or given another role) loses
 * access at the next check even while an older token has not expired.
 */
export class OperatorAuth {
  private readonly key: Uint8Array;
  private readonly failures = new TokenBucketLimiter(LOGIN_FAILURE_RATE, LOGIN_FAILURE_BURST);
  /** Refusals counted for /metrics. */
  readonly refused = { login: 0, rest: 0, socket: 0 };

  private constructor(
    private readonly users: Map<string, { role: OperatorRole; hash: string }>,
    private readonly dummyHash: string,
    secret: string,
    readonly ttlS: number,
    private readonly now: () => number,
  ) {
    this.key = new TextEncoder().encode(secret);
  }

  /** Hashes the passwords given in plain text (ADMIN_PASSWORD) once, at start. */
  static async create(config: AuthConfig, now: () => number = Date.now): Promise<OperatorAuth> {
    const users = new Map<string, { role: OperatorRole; hash: string }>();
    for (const o of config.operators) {
      const hash = o.passwordHash ?? (await hashPassword(o.password ?? ''));
      users.set(o.username, { role: o.role, hash });
    }
    // Unknown user names are checked against this, so that they take as long as known ones.
    const dummyHash = await hashPassword(randomBytes(16).toString('hex'));
    return new OperatorAuth(users, dummyHash, config.jwtSecret, config.jwtTtlS, now);
  }

  /** Checks a user name and password; answers a token, UNAUTHORIZED, or RATE_LIMITED after repeated failures. */
  async login(username: unknown, password: unknown, client = ''): Promise<LoginResponse> {
    if (typeof username !== 'string' || typeof password !== 'string' || username.length > 64 || password.length > 1024)
      throw new FieldlineError(ErrorCode.INVALID_REQUEST, 'body must be {"username": string, "password": string}');
    const key = `${client}|${username}`;
    const wait = this.failures.wait(key);
    if (wait > 0) {
      this.refused.login++;
      throw new FieldlineError(ErrorCode.RATE_LIMITED, 'too many failed logins; retry later', { retryAfterMs: wait });
    }
    const user = this.users.get(username);
    const ok = await verifyPassword(password, user?.hash ?? this.dummyHash);
    if (!user || !ok) {
      this.failures.take(key);
      this.refused.login++;
      throw new FieldlineError(ErrorCode.UNAUTHORIZED, 'invalid username or password');
    }
    const accessToken = await this.sign(username, user.role);
    return { accessToken, tokenType: 'Bearer', expiresIn: this.ttlS, username, role: user.role };
  }

  /** Signs a token for a configured user. */
  sign(username: string, role: OperatorRole, ttlS = this.ttlS): Promise<string> {
    const iat = Math.floor(this.now() / 1000);
    return new SignJWT({ role })
      .setProtectedHeader({ alg: ALGORITHM, typ: 'JWT' })
      .setSubject(username)
      .setIssuer(JWT_ISSUER)
      .setAudience(JWT_AUDIENCE)
      .setIssuedAt(iat)
      .setExpirationTime(iat + ttlS)
      .sign(this.key);
  }

  /** Verifies a token; throws UNAUTHORIZED (with a reason a client may show) when it is not good. */
  async verify(token: unknown): Promise<OperatorClaims> {
    if (typeof token !== 'string' || token === '')
      throw new FieldlineError(
        ErrorCode.UNAUTHORIZED,
        'an operator token is required (log in at POST /api/auth/login)',
      );
    if (token.length > MAX_TOKEN_LENGTH) throw new FieldlineError(ErrorCode.UNAUTHORIZED, 'invalid token');
    let payload;
    try {
      ({ payload } = await jwtVerify(token, this.key, {
        algorithms: [ALGORITHM],
        issuer: JWT_ISSUER,
        audience: JWT_AUDIENCE,
        requiredClaims: ['exp', 'iat', 'sub'],
        clockTolerance: CLOCK_TOLERANCE_S,
        currentDate: new Date(this.now()),
      }));
    } catch (err) {
      if (err instanceof errors.JWTExpired)
        throw new FieldlineError(ErrorCode.UNAUTHORIZED, 'token expired; log in again');
      throw new FieldlineError(ErrorCode.UNAUTHORIZED, 'invalid token');
    }
    const role = payload.role as OperatorRole;
    const user = typeof payload.sub === 'string' ? this.users.get(payload.sub) : undefined;
    if (!user || !OPERATOR_ROLES.includes(role) || user.role !== role)
      throw new FieldlineError(ErrorCode.UNAUTHORIZED, 'invalid token');
    return { username: payload.sub!, role, expiresAt: payload.exp! * 1000 };
  }
}
