import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { LoginPolicy } from '../config/auth.config';

/** A key's failures are forgotten after this long without one, so an old attack does not stay on a name for ever. */
const FORGET_AFTER_MS = 24 * 3_600_000;
/** Keys held at most; past it the oldest that {@link FailureDelays} may evict go first. */
const MAX_KEYS = 100_000;

interface Failures {
  count: number;
  /** Time of the last failure (or charge), ms. */
  at: number;
  user: string;
}

/**
 * Failed logins by key (a user name, a known-client cookie): the first `freeFailures` cost nothing, each one after
 * doubles a delay before the next attempt, from `delayMs` up to `maxDelayMs`. A delay rather than a lock: whoever
 * guesses, the name is open again after the delay, and a success or an admin unlock clears it. An attempt is charged
 * before its password is hashed, so concurrent attempts see each other.
 */
export class FailureDelays {
  private readonly keys = new Map<string, Failures>();

  constructor(
    private readonly policy: LoginPolicy,
    private readonly now: () => number,
    /** Keys that are never evicted to make room (those of configured users), so a flood of names cannot reset them. */
    private readonly pinned: (user: string) => boolean = () => false,
  ) {}

  /** Milliseconds until `key` may try again (0: now). */
  wait(key: string): number {
    const f = this.current(key);
    if (!f || f.count < this.policy.freeFailures) return 0;
    const delay = Math.min(this.policy.maxDelayMs, this.policy.delayMs * 2 ** (f.count - this.policy.freeFailures));
    return Math.max(0, f.at + delay - this.now());
  }

  /** Counts an attempt as failed until it is known to be right ({@link clear}) or was never evaluated ({@link refund}). */
  charge(key: string, user: string): void {
    const f = this.current(key) ?? { count: 0, at: 0, user };
    f.count++;
    f.at = this.now();
    this.keys.delete(key);
    this.keys.set(key, f);
    if (this.keys.size > MAX_KEYS) this.evict();
  }

  /** The attempt failed: the delay runs from now, not from when it was charged (it may have waited for a hash). */
  failed(key: string): void {
    const f = this.keys.get(key);
    if (f) f.at = this.now();
  }

  /** The attempt was refused before it was evaluated: it does not count. */
  refund(key: string): void {
    const f = this.keys.get(key);
    if (f && --f.count <= 0) this.keys.delete(key);
  }

  /** Forgets `key` (a success); answers the failures forgotten. */
  clear(key: string): number {
    const n = this.keys.get(key)?.count ?? 0;
    this.keys.delete(key);
    return n;
  }

  /** Forgets every key of `user` (admin unlock); answers the failures forgotten. */
  clearUser(user: string): number {
    let sum = 0;
    for (const [key, f] of this.keys)
      if (f.user === user) {
        sum += f.count;
        this.keys.delete(key);
      }
    return sum;
  }

  get size(): number {
    return this.keys.size;
  }

  private current(key: string): Failures | undefined {
    const f = this.keys.get(key);
    if (f && this.now() - f.at > FORGET_AFTER_MS) {
      this.keys.delete(key);
      return undefined;
    }
    return f;
  }

  private evict(): void {
    for (const [key, f] of this.keys)
      if (!this.pinned(f.user)) {
        this.keys.delete(key);
        return;
      }
  }
}

const b64url = (b: Buffer): string => b.toString('base64url');

/**
 * Known-client cookies (OWASP "device cookies"): a successful login as a user hands the browser a signed cookie
 * naming that user. A later login for the same user that brings it is throttled by the cookie's own failures, not by
 * the user name's, so guesses from elsewhere cannot keep the real operator out; and it waits in the known lane of the
 * hash queue. The cookie proves only an earlier success, never the password: the password is still checked.
 */
export class KnownClients {
  private readonly key: Buffer;

  constructor(
    secret: string,
    private readonly ttlS: number,
    private readonly now: () => number,
  ) {
    // A key of its own, derived from the JWT secret, so that a cookie can never pass for a token or the reverse.
    this.key = createHmac('sha256', secret).update('fieldline known-client cookie v1').digest();
  }

  /** A fresh cookie value for `user`. */
  issue(user: string): string {
    const body = `${b64url(Buffer.from(user))}.${Math.floor(this.now() / 1000) + this.ttlS}.${b64url(randomBytes(12))}`;
    return `${body}.${this.sign(body)}`;
  }

  /** The cookie's id when `value` is a valid, unexpired cookie for `user`; else null. */
  idFor(value: string | undefined, user: string): string | null {
    if (!value || value.length > 256) return null;
    const parts = value.split('.');
    if (parts.length !== 4) return null;
    const [name, exp, id, sig] = parts;
    const expected = Buffer.from(this.sign(`${name}.${exp}.${id}`));
    const given = Buffer.from(sig);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null;
    if (Buffer.from(name, 'base64url').toString() !== user || Number(exp) * 1000 <= this.now()) return null;
    return id;
  }

  get maxAgeS(): number {
    return this.ttlS;
  }

  private sign(body: string): string {
    return b64url(createHmac('sha256', this.key).update(body).digest());
  }
}

/** The value of cookie `name` in a `Cookie` header. */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}
