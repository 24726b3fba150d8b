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
  UserAuditAction,
} from '@fieldline/contracts';
import { type AuthConfig, DEFAULT_LOGIN_POLICY, type OperatorAccount } from '../config/auth.config';
import { TokenBucketLimiter } from '../common/rate-limiter';
import type { AuditSink } from '../state/audit.sink';
import { SqliteStateStore } from '../state/sqlite.state-store';
import type { OperatorBus } from './operator-bus';
import { OperatorStore, type SessionOrigin, type StoredUser } from './operator.store';
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
  userAgent?: string;
}

/** How often expired sessions are deleted from the store. */
const PRUNE_EVERY_MS = 3_600_000;

/** Default lifetime of a refresh token (REFRESH_TTL), seconds. */
export const DEFAULT_REFRESH_TTL_S = 30 * 86_400;

/** What {@link OperatorAuth} keeps of a user: enough to check an access token without a round trip. */
interface CachedUser {
  role: OperatorRole;
  hash: string;
  disabled: boolean;
  /** Access tokens issued before this epoch ms are refused (the last password change; 0: none yet). */
  notBefore: number;
}

const cachedOf = (u: StoredUser): CachedUser => ({
  role: u.role,
  hash: u.passwordHash,
  disabled: u.disabledAt !== null,
  notBefore: u.passwordChangedAt > u.createdAt ? u.passwordChangedAt : 0,
});

/** Where OperatorAuth keeps users and sessions, and whom it tells of changes. */
export interface OperatorDeps {
  /** Absent: a private in-memory SQLite store (unit tests, tools). */
  store?: OperatorStore;
  bus?: OperatorBus | null;
  audit?: AuditSink;
}

/**
 * Creates the users the configuration names (ADMIN_PASSWORD, ADMIN_PASSWORD_HASH, USERS, USERS_FILE) that the store
 * does not have yet. The configured password counts only then: a user already in the store keeps the password and
 * role it has there, so a password changed at run time is not undone by the next restart. Answers the names created.
 */
export async function bootstrapOperators(
  store: OperatorStore,
  accounts: readonly OperatorAccount[],
  audit?: AuditSink,
): Promise<string[]> {
  const created: string[] = [];
  for (const o of accounts) {
    if (await store.find(o.username)) continue;
    const passwordHash = o.passwordHash ?? (await hashPassword(o.password ?? ''));
    if (!(await store.create({ username: o.username, role: o.role, passwordHash }))) continue;
    created.push(o.username);
    await audit?.record({ actor: null, action: UserAuditAction.bootstrap, target: o.username, ok: true });
  }
  return created;
}

/** A successful login, with the known-client cookie to hand the browser. */
export interface LoginResult {
  session: LoginResponse;
  knownClient: string;
}

/**
 * Operators: users from the state store (scrypt hashes; the configured ones are its bootstrap), login, HS256 access
 * JWTs with issuer, audience and expiry checked, and refresh tokens (operator.store.ts). A token is only as good as
 * its user: a user removed, disabled or given another role, or whose password changed since the token was issued,
 * loses access at the next check even while the token has not expired; so does a token of a session that was
 * logged out. Those checks read a copy of the users kept here: no database round trip per request, and peers
 * refresh their copy when the {@link OperatorBus} tells them of a change.
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

  /** Lifetime of a refresh token, seconds. */
  readonly refreshTtlS: number;
  readonly store: OperatorStore;
  private readonly bus: OperatorBus | null;
  private readonly audit: AuditSink | undefined;
  /** Sessions (refresh-token families) ended while their access tokens may live on: id → epoch ms to forget it. */
  private readonly endedSessions = new Map<string, number>();
  private readonly listeners = new Set<(username: string) => void>();

  private constructor(
    private readonly users: Map<string, CachedUser>,
    private readonly dummyHash: string,
    config: AuthConfig,
    private readonly now: () => number,
    deps: Required<Pick<OperatorDeps, 'store'>> & OperatorDeps,
  ) {
    this.key = new TextEncoder().encode(config.jwtSecret);
    this.ttlS = config.jwtTtlS;
    this.refreshTtlS = config.refreshTtlS ?? DEFAULT_REFRESH_TTL_S;
    this.store = deps.store;
    this.bus = deps.bus ?? null;
    this.audit = deps.audit;
    const policy = config.login ?? DEFAULT_LOGIN_POLICY;
    this.failures = new FailureDelays(policy, now, (user) => users.has(user));
    this.addresses = new TokenBucketLimiter(policy.addressRate, policy.addressBurst, now);
    this.knownClients = new KnownClients(config.jwtSecret, policy.clientCookieTtlS, now);
    this.hashes = new HashQueue(policy.hashConcurrency, policy.hashQueue);
    this.totp = new TotpVerifier(config.totpSecrets ?? new Map(), now);
  }

  /**
   * Creates the configured users missing from the store ({@link bootstrapOperators}), reads every user, and listens
   * to the bus for changes made on other nodes.
   */
  static async create(
    config: AuthConfig,
    now: () => number = Date.now,
    deps: OperatorDeps = {},
  ): Promise<OperatorAuth> {
    let store = deps.store;
    if (!store) {
      const memory = SqliteStateStore.open(':memory:');
      await memory.migrate();
      store = new OperatorStore(memory, now);
    }
    await bootstrapOperators(store, config.operators, deps.audit);
    const users = new Map<string, CachedUser>();
    for (const u of await store.list()) users.set(u.username, cachedOf(u));
    // Unknown user names are checked against this, so that they take as long as known ones.
    const dummyHash = await hashPassword(randomBytes(16).toString('hex'));
    const auth = new OperatorAuth(users, dummyHash, config, now, { ...deps, store });
    await auth.bus?.subscribe((change) => void auth.apply(change.username, change.session, false));
    // Expired sessions are of no use, not even to detect reuse (an expired token is refused anyway): forget them.
    await store.pruneSessions(now());
    setInterval(() => void store.pruneSessions(now()).catch(() => undefined), PRUNE_EVERY_MS).unref();
    return auth;
  }

  /** Calls `listener` with the user name whenever a user changes (here or on another node): sockets re-check. */
  onChange(listener: (username: string) => void): void {
    this.listeners.add(listener);
  }

  /** Does this user log in with a one-time code too? */
  hasTotp(username: string): boolean {
    return this.totp.has(username);
  }

  /**
   * A user changed in the store (or a session of theirs ended): re-reads it, tells the listeners and, when the
   * change was made here, the other nodes. A peer that misses the message keeps its copy until its next restart or
   * change of that user; a disabled user's refresh tokens are revoked in the store regardless.
   */
  async changed(username: string, endedSession?: string): Promise<void> {
    await this.apply(username, endedSession, true);
  }

  private async apply(username: string, endedSession: string | undefined, local: boolean): Promise<void> {
    if (endedSession !== undefined) {
      const until = this.now() + (this.ttlS + CLOCK_TOLERANCE_S) * 1000;
      this.endedSessions.set(endedSession, until);
      for (const [id, at] of this.endedSessions) if (at < this.now()) this.endedSessions.delete(id);
    }
    const user = await this.store.find(username).catch(() => undefined);
    if (user === null) this.users.delete(username);
    else if (user !== undefined) this.users.set(username, cachedOf(user));
    if (local) await this.bus?.publish({ username, session: endedSession });
    for (const l of this.listeners) l(username);
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
    if (!user || !ok || user.disabled || (this.totp.has(username) && !this.totp.verify(username, totp))) {
      this.failures.failed(key);
      this.refused.login++;
      throw new FieldlineError(ErrorCode.UNAUTHORIZED, 'invalid username or password');
    }
    this.failures.clear(key);
    if (lane === 'other') this.addresses.refund(address);
    return {
      session: await this.openSession(username, { address, userAgent: origin.userAgent }),
      knownClient: this.knownClients.issue(username),
    };
  }

  /** A new session (refresh-token family) for a user whose credentials were checked. */
  async openSession(username: string, origin: SessionOrigin): Promise<LoginResponse> {
    const stored = await this.store.find(username);
    if (!stored || stored.disabledAt !== null)
      throw new FieldlineError(ErrorCode.UNAUTHORIZED, 'invalid username or password');
    const refresh = await this.store.openSession(stored, this.refreshTtlS * 1000, origin);
    return this.sessionOf(stored, refresh.token, refresh.familyId);
  }

  /**
   * Trades a refresh token for a new access token and the next refresh token. A token that was traded before
   * ends its whole session (a thief and the real client cannot both go on), recorded in the audit log.
   */
  async refresh(token: unknown, origin: SessionOrigin = {}): Promise<LoginResponse> {
    if (typeof token !== 'string' || token.length < 1 || token.length > 256)
      throw new FieldlineError(ErrorCode.INVALID_REQUEST, 'body must be {"refreshToken": string}');
    const res = await this.store.rotate(token, this.refreshTtlS * 1000, origin);
    if (res.kind === 'reused') {
      if (res.user) await this.changed(res.user.username, res.familyId);
      await this.audit?.record({
        actor: res.user?.username ?? null,
        action: UserAuditAction.refreshReuse,
        target: res.user?.username,
        from: origin.address ?? undefined,
        ok: false,
        details: { session: res.familyId },
      });
    }
    if (res.kind !== 'rotated')
      throw new FieldlineError(ErrorCode.UNAUTHORIZED, 'the refresh token is not valid; log in again');
    return this.sessionOf(res.user, res.refresh.token, res.refresh.familyId);
  }

  /** Ends the session of a refresh token: it and its access tokens stop working. False: no such session. */
  async logout(token: unknown): Promise<string | null> {
    if (typeof token !== 'string' || token.length < 1 || token.length > 256)
      throw new FieldlineError(ErrorCode.INVALID_REQUEST, 'body must be {"refreshToken": string}');
    const ended = await this.store.revoke(token);
    if (!ended) return null;
    await this.changed(ended.user.username, ended.familyId);
    return ended.user.username;
  }

  /** Checks a password of a user without the login throttles (the caller is signed in already): a password change. */
  async checkPassword(username: string, password: string): Promise<boolean> {
    const user = this.users.get(username);
    return this.hashes.run('known', username, () => verifyPassword(password, user?.hash ?? this.dummyHash));
  }

  private async sessionOf(user: StoredUser, refreshToken: string, sessionId: string): Promise<LoginResponse> {
    const accessToken = await this.sign(user.username, user.role, this.ttlS, sessionId);
    return {
      accessToken,
      tokenType: 'Bearer',
      expiresIn: this.ttlS,
      username: user.username,
      role: user.role,
      refreshToken,
      refreshExpiresIn: this.refreshTtlS,
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

  /** Signs a token for a user; `sessionId` ties it to a session, so that it ends with a logout. */
  sign(username: string, role: OperatorRole, ttlS = this.ttlS, sessionId?: string): Promise<string> {
    const iat = Math.floor(this.now() / 1000);
    // `iat` counts seconds; `iatMs` tells a token issued just before a password change from one just after.
    const claims = { role, iatMs: this.now(), ...(sessionId === undefined ? {} : { sid: sessionId }) };
    return new SignJWT(claims)
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
    if (user.disabled) throw new FieldlineError(ErrorCode.UNAUTHORIZED, 'this user is disabled');
    const sid = payload.sid;
    const issuedAt = typeof payload.iatMs === 'number' ? payload.iatMs : payload.iat! * 1000 + 999;
    if (issuedAt < user.notBefore || (typeof sid === 'string' && this.endedSessions.has(sid)))
      throw new FieldlineError(ErrorCode.UNAUTHORIZED, 'this session has ended; log in again');
    return { username: payload.sub!, role, expiresAt: payload.exp! * 1000 };
  }
}
