/**
 * Small runtime helpers that the gateway, the simulator and the tests share: one back-off, one way to read an
 * error's message, one redaction of credentials. Framework-free like the rest of contracts.
 */

/**
 * "Full jitter": a uniform draw in [0, min(max, initial·2^attempt)). Peers that lost their server together (a broker
 * restart) come back spread over the whole window instead of in waves.
 */
export function backoffMs(
  attempt: number,
  initialMs = 500,
  maxMs = 30_000,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(maxMs, initialMs * 2 ** Math.min(attempt, 30));
  return Math.floor(random() * ceiling);
}

/** Reconnect timing. */
export interface ReconnectOptions {
  /** First backoff ceiling, ms. Default 500. */
  baseMs?: number;
  /** Largest backoff ceiling, ms. Default 30 000. */
  capMs?: number;
  /** A connection that lasted this long resets the backoff, ms. Default 5 000. */
  stableMs?: number;
  /** Least delay, ms (a floor under the jitter). Default 0. */
  floorMs?: number;
  /** Source of jitter (tests). Default Math.random. */
  random?: () => number;
}

/**
 * Exponential backoff with full jitter. The attempt counter grows with each failed or short-lived connection and is
 * reset only by a connection that stayed up `stableMs`: a server that accepts and drops at once is not hammered.
 */
export class Backoff {
  private attempt = 0;
  private upSince: number | null = null;
  private readonly baseMs: number;
  private readonly capMs: number;
  private readonly stableMs: number;
  private readonly floorMs: number;
  private readonly random: () => number;

  constructor(o: ReconnectOptions = {}) {
    this.baseMs = o.baseMs ?? 500;
    this.capMs = Math.max(this.baseMs, o.capMs ?? 30_000);
    this.stableMs = o.stableMs ?? 5000;
    this.floorMs = o.floorMs ?? 0;
    this.random = o.random ?? Math.random;
  }

  /** Attempts since the last stable connection. */
  get attempts(): number {
    return this.attempt;
  }

  /** The delay before the next attempt. */
  next(): number {
    return Math.max(this.floorMs, backoffMs(this.attempt++, this.baseMs, this.capMs, this.random));
  }

  /** Starts over (a success that needs no stability window, such as a write that went through). */
  reset(): void {
    this.attempt = 0;
  }

  up(now = performance.now()): void {
    this.upSince = now;
  }

  down(now = performance.now()): void {
    if (this.upSince !== null && now - this.upSince >= this.stableMs) this.attempt = 0;
    this.upSince = null;
  }
}

/** The message of anything thrown: an Error's message, else its string form. */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** A URL fit for a log line: its password replaced by `***`; `fallback` (the variable's name) if it does not parse. */
export function redactUrl(url: string, fallback = 'URL'): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return fallback;
  }
}
