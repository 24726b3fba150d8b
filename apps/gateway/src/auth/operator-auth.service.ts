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
import { type AuthConfig, DEFAULT_LOGIN_POLICY } from '../config/auth.config';
import { TokenBucketLimiter } from '../common/rate-limiter';
import { type HashLane, HashQueue, HashQueueFull } from './hash-queue';
import { FailureDelays, KnownClients } from './login-throttle';
import { hashPassword, verifyPassword } from './password';
import { TotpVerifier } from './totp';

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

/** Where a login comes from: the client address (common/client-address.ts) and its known-client cookie, if any. */
export interface LoginOrigin {
  address?: string;
  knownClient?: string;
}

/** A successful login, with the known-client cookie to hand the browser. */
export interface LoginResult {
  session: LoginResponse;
  knownClient: string;
}

/**
 * Operators: users from configuration (scrypt hashes), login, and HS256 JWTs with issuer, audience and expiry
 * checked. A token is only as good as its user: a user removed from the configuration (or given another role) loses
 * access at the next check even while an older token has not expired.
 */
export class OperatorAuth {
  private readonly key: Uint8Array;
  /** Failed logins per user name (`u:<name>`, across addresses) and per known-client cookie (`c:<id>`). */
  private readonly failures: FailureDelays;
  /** Failed logins per client address, beside the per-name delay. */
  private readonly addresses: TokenBucketLimiter;
  private readonly knownClients: KnownClients;
  private readonly totp: TotpVerifier;
  readonly hashes: HashQueue;
  /** Lifetime of an operator token, seconds. */
  readonly ttlS: number;
  /** Refusals counted for /metrics. */
  readonly refused = { login: 0, rest: 0, socket: 0 };
  /** Logins refused before their password was hashed, by reason (for /metrics). */
  readonly throttled = { user: 0, address: 0, queue: 0 };

  private constructor(
    private readonly users: Map<string, { role: OperatorRole; hash: string }>,
    private readonly dummyHash: string,
    config: AuthConfig,
    private readonly now: () => number,
  ) {
    this.key = new TextEncoder().encode(config.jwtSecret);
    this.ttlS = config.jwtTtlS;
    const policy = config.login ?? DEFAULT_LOGIN_POLICY;
    this.failures = new FailureDelays(policy, now, (user) => users.has(user));
    this.addresses = new TokenBucketLimiter(policy.addressRate, policy.addressBurst, now);
    this.knownClients = new KnownClients(config.jwtSecret, policy.clientCookieTtlS, now);
    this.hashes = new HashQueue(policy.hashConcurrency, policy.hashQueue);
    this.totp = new TotpVerifier(config.totpSecrets ?? new Map(), now);
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
    return new OperatorAuth(users, dummyHash, config, now);
  }

  /** Checks a user name and password; answers a token, UNAUTHORIZED, or RATE_LIMITED after repeated failures. */
  async login(username: unknown, password: unknown, client = ''): Promise<LoginResponse> {
    return (await this.authenticate(username, password, { address: client })).session;
  }

  /**
   * {@link login} with its known-client cookie and, for users with a TOTP secret, the one-time code. Unknown user
   * names take the same path and the same hash work as known ones, so neither the answer, its time nor its throttling
   * tells them apart.
   */
  async authenticate(
    username: unknown,
    password: unknown,
    origin: LoginOrigin = {},
    totp?: unknown,
  ): Promise<LoginResult> {
    if (typeof username !== 'string' || typeof password !== 'string' || username.length > 64 || password.length > 1024)
      throw new FieldlineError(ErrorCode.INVALID_REQUEST, 'body must be {"username": string, "password": string}');
    if (totp !== undefined && (typeof totp !== 'string' || totp.length > 16))
      throw new FieldlineError(ErrorCode.INVALID_REQUEST, '"totp" must be the 6-digit one-time code');
    const address = origin.address ?? '';
    const cookieId = this.knownClients.idFor(origin.knownClient, username);
    // A known client answers for its own failures only: guesses from elsewhere do not delay it.
    const key = cookieId !== null ? `c:${cookieId}` : `u:${username}`;
    const lane: HashLane = cookieId !== null ? 'known' : 'other';
    const userWait = this.failures.wait(key);
    const addressWait = lane === 'other' ? this.addresses.wait(address) : 0;
    if (userWait > 0 || addressWait > 0) {
      this.refused.login++;
      this.throttled[userWait > 0 ? 'user' : 'address']++;
      throw new FieldlineError(ErrorCode.RATE_LIMITED, 'too many failed logins; retry later', {
        retryAfterMs: Math.max(userWait, addressWait),
      });
    }
    this.failures.charge(key, username);
    if (lane === 'other') this.addresses.take(address);
    const user = this.users.get(username);
    let ok: boolean;
    try {
      ok = await this.hashes.run(lane, lane === 'known' ? username : address, () =>
        verifyPassword(password, user?.hash ?? this.dummyHash),
      );
    } catch (err) {
      this.failures.refund(key);
      if (lane === 'other') this.addresses.refund(address);
      if (err instanceof HashQueueFull) {
        this.refused.login++;
        this.throttled.queue++;
      }
      throw err;
    }
    // A missing or wrong one-time code answers like a wrong password, so that it tells nothing about the password.
    if (!user || !ok || (this.totp.has(username) && !this.totp.verify(username, totp))) {
      this.failures.failed(key);
      this.refused.login++;
      throw new FieldlineError(ErrorCode.UNAUTHORIZED, 'invalid username or password');
    }
    this.failures.clear(key);
    if (lane === 'other') this.addresses.refund(address);
    const accessToken = await this.sign(username, user.role);
    return {
      session: { accessToken, tokenType: 'Bearer', expiresIn: this.ttlS, username, role: user.role },
      knownClient: this.knownClients.issue(username),
    };
  }

  /** Lifetime of the known-client cookie, seconds. */
  get knownClientMaxAgeS(): number {
    return this.knownClients.maxAgeS;
  }

  /** Admin unlock: forgets the failed logins of `username` (its name and its known clients); answers how many. */
  unlock(username: string): number {
    return this.failures.clearUser(username);
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
